#include "catalog/catalog.h"

#include "catalog/catalog_p.h"
#include "catalog/rows_p.h"

// Catalog's roots (library folders) and items (one per file).

namespace unisearch::catalog {

using detail::cleanPath;
using detail::fromMs;
using detail::itemColumns;
using detail::nowMs;
using detail::readItem;
using detail::readItems;
using detail::Statement;
using detail::toMs;

// --- roots -------------------------------------------------------------------

std::int64_t Catalog::addRoot(const QString &path)
{
    const QString clean = cleanPath(path);
    d->db.prepare("INSERT INTO roots(path, added_at) VALUES (?, ?) ON CONFLICT(path) DO NOTHING", clean, nowMs())
        .run();
    return d->db.queryInt("SELECT id FROM roots WHERE path = ?", clean);
}

QList<Root> Catalog::roots() const
{
    Statement s = d->db.prepare("SELECT id, path, added_at, last_scan_at FROM roots ORDER BY path");
    QList<Root> roots;
    while (s.step())
        roots.append(Root{s.int64(0), s.text(1), fromMs(s.int64(2)), fromMs(s.optionalInt64(3))});
    return roots;
}

bool Catalog::removeRoot(std::int64_t id)
{
    d->db.prepare("DELETE FROM roots WHERE id = ?", id).run();
    return d->db.changes() > 0;
}

void Catalog::setRootScanned(std::int64_t id, const QDateTime &when)
{
    d->db.prepare("UPDATE roots SET last_scan_at = ? WHERE id = ?", toMs(when), id).run();
}

// --- items -------------------------------------------------------------------

std::int64_t Catalog::upsertItem(const Item &item)
{
    const std::int64_t now = nowMs();
    const QString path = cleanPath(item.path);
    Statement s = d->db.prepare(
        "INSERT INTO items(root_id, path, type, size, mtime_ms, content_hash, width, height, duration_s,"
        "                  status, error, added_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(path) DO UPDATE SET root_id = excluded.root_id, type = excluded.type,"
        "  size = excluded.size, mtime_ms = excluded.mtime_ms, content_hash = excluded.content_hash,"
        "  width = excluded.width, height = excluded.height, duration_s = excluded.duration_s,"
        "  status = excluded.status, error = excluded.error, updated_at = excluded.updated_at"
        " RETURNING id",
        item.rootId, path, toString(item.type), item.size, item.mtimeMs,
        item.contentHash.isEmpty() ? std::optional<QString>() : item.contentHash, item.width, item.height,
        item.durationS, toString(item.status), item.error.isEmpty() ? std::optional<QString>() : item.error, now,
        now);
    if (!s.step())
        throw CatalogError("upsertItem returned no id");
    const std::int64_t id = s.int64(0);
    s.run();
    return id;
}

std::optional<Item> Catalog::item(std::int64_t id) const
{
    Statement s = d->db.prepare(std::string("SELECT ") + itemColumns + " FROM items WHERE id = ?", id);
    if (!s.step())
        return std::nullopt;
    return readItem(s);
}

std::optional<Item> Catalog::itemByPath(const QString &path) const
{
    return detail::selectItemByPath(d->db, cleanPath(path));
}

QList<Item> Catalog::itemsByContentHash(const QString &hash) const
{
    if (hash.isEmpty())
        return {};
    Statement s = d->db.prepare(std::string("SELECT ") + itemColumns + " FROM items WHERE content_hash = ? ORDER BY id",
                                hash);
    return readItems(s);
}

QList<Item> Catalog::itemsInRoot(std::int64_t rootId) const
{
    Statement s = d->db.prepare(std::string("SELECT ") + itemColumns + " FROM items WHERE root_id = ? ORDER BY path",
                                rootId);
    return readItems(s);
}

void Catalog::moveItem(std::int64_t id, const QString &newPath, std::optional<std::int64_t> rootId)
{
    d->db.prepare("UPDATE items SET path = ?, root_id = ?, updated_at = ? WHERE id = ?", cleanPath(newPath), rootId,
                  nowMs(), id)
        .run();
    if (d->db.changes() == 0)
        throw CatalogError("moveItem: no item with id " + std::to_string(id));
}

void Catalog::setItemStatus(std::int64_t id, ItemStatus status, const QString &error)
{
    d->db.prepare("UPDATE items SET status = ?, error = ?, updated_at = ? WHERE id = ?", toString(status),
                  error.isEmpty() ? std::optional<QString>() : error, nowMs(), id)
        .run();
}

bool Catalog::removeItem(std::int64_t id)
{
    d->db.prepare("DELETE FROM items WHERE id = ?", id).run();
    return d->db.changes() > 0;
}

} // namespace unisearch::catalog
