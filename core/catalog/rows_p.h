#pragma once
// Private to core/catalog: the one mapping from an items row and a segments row to
// catalog::Item and catalog::Segment, shared by the writer (Catalog) and the read-only
// Reader, with the queries both of them run.
#include "catalog/catalog.h"
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

} // namespace unisearch::catalog::detail
