#pragma once
// Private to core/catalog: the mappings from a table's row to its type. The items and
// segments rows are read by both the writer (Catalog) and the read-only Reader, so the
// queries both of them run are here too.
#include "catalog/catalog.h"
#include "catalog/catalog_p.h"
#include "catalog/database_p.h"

#include <QList>
#include <QString>

#include <cstdint>
#include <optional>
#include <string>

namespace unisearch::catalog::detail {

// Item columns in the order readItem() expects.
inline constexpr const char *itemColumns =
    "id, root_id, path, type, size, mtime_ms, content_hash, width, height, duration_s, status, error";

inline Item readItem(const Statement &s)
{
    Item item;
    item.id = s.int64(0);
    item.rootId = s.optionalInt64(1);
    item.path = s.text(2);
    item.type = itemTypeFromString(s.text(3)).value_or(ItemType::Image);
    item.size = s.int64(4);
    item.mtimeMs = s.int64(5);
    item.contentHash = s.text(6);  // NULL reads as an empty string
    item.width = static_cast<int>(s.int64(7));
    item.height = static_cast<int>(s.int64(8));
    item.durationS = s.real(9);
    item.status = itemStatusFromString(s.text(10)).value_or(ItemStatus::Pending);
    item.error = s.text(11);
    return item;
}

inline QList<Item> readItems(Statement &s)
{
    QList<Item> items;
    while (s.step())
        items.append(readItem(s));
    return items;
}

// The item at exactly this path (the caller cleans it).
inline std::optional<Item> selectItemByPath(Database &db, const QString &path)
{
    Statement s = db.prepare(std::string("SELECT ") + itemColumns + " FROM items WHERE path = ?", path);
    if (!s.step())
        return std::nullopt;
    return readItem(s);
}

// An item's segments, by time.
inline QList<Segment> selectSegmentsOfItem(Database &db, std::int64_t itemId)
{
    Statement s = db.prepare(
        "SELECT id, item_id, start_ms, end_ms FROM segments WHERE item_id = ? ORDER BY start_ms, end_ms", itemId);
    QList<Segment> out;
    while (s.step())
        out.append(Segment{s.int64(0), s.int64(1), s.int64(2), s.int64(3)});
    return out;
}

inline constexpr const char *modelColumns = "id, name, fingerprint, task, architecture, path, active, imported_at";

inline ModelRecord readModel(const Statement &s)
{
    ModelRecord m;
    m.id = s.int64(0);
    m.name = s.text(1);
    m.fingerprint = s.text(2);
    m.task = s.text(3);
    m.architectureJson = s.text(4);
    m.path = s.text(5);
    m.active = s.int64(6) != 0;
    m.importedAt = fromMs(s.int64(7));
    return m;
}

inline constexpr const char *jobColumns = "id, kind, state, progress, params, error, created_at, updated_at";

inline Job readJob(const Statement &s)
{
    Job j;
    j.id = s.int64(0);
    j.kind = s.text(1);
    j.state = jobStateFromString(s.text(2)).value_or(JobState::Failed);
    j.progress = s.real(3);
    j.paramsJson = s.text(4);
    j.error = s.text(5);
    j.createdAt = fromMs(s.int64(6));
    j.updatedAt = fromMs(s.int64(7));
    return j;
}

} // namespace unisearch::catalog::detail
