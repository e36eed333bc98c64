#include "catalog/reader.h"

#include "catalog/database_p.h"
#include "catalog/rows_p.h"

#include <QDir>

#include <algorithm>

namespace unisearch::catalog {

using detail::Database;
using detail::Statement;

namespace {

// The smallest string greater than every path below dir: dir + '0' ('0' follows '/').
QString upperBoundBelow(const QString &dir)
{
    QString d = dir;
    if (d.endsWith(QLatin1Char('/')))
        d.chop(1);
    return d + QLatin1Char('0');
}

QString withSlash(const QString &dir)
{
    return dir.endsWith(QLatin1Char('/')) ? dir : dir + QLatin1Char('/');
}

// "1,2,3" of ids[begin, end): integers only, so no injection; one statement per chunk of
// ids instead of one per id.
std::string idList(std::span<const std::int64_t> ids, size_t begin, size_t end)
{
    std::string list;
    for (size_t i = begin; i < std::min(ids.size(), end); ++i) {
        if (!list.empty())
            list += ',';
        list += std::to_string(ids[i]);
    }
    return list;
}

// The instant (ms since the epoch) at which the machine's local clock shows wallMs: the
// filter's bounds for items that fall back to their file time.
std::int64_t localWallToUtc(std::int64_t wallMs)
{
    ItemMeta wall;  // no offset: the machine's zone
    wall.takenLocalMs = wallMs;
    return wall.takenUtcMs();
}

} // namespace

struct Reader::Private {
    Database db;
};

Reader::Reader(const QString &dataDir) : d(std::make_unique<Private>())
{
    d->db = Database::open(QDir(dataDir).filePath(QString::fromLatin1(Catalog::fileName)), false);
    d->db.setBusyTimeout(5000);
    d->db.exec("PRAGMA query_only = ON");
}

Reader::~Reader() = default;

std::unordered_map<std::int64_t, SegmentInfo> Reader::segments(std::span<const std::int64_t> ids)
{
    std::unordered_map<std::int64_t, SegmentInfo> out;
    constexpr size_t chunk = 500;
    for (size_t begin = 0; begin < ids.size(); begin += chunk) {
        const std::string list = idList(ids, begin, begin + chunk);
        Statement s = d->db.prepare(
            "SELECT s.id, s.item_id, s.start_ms, s.end_ms, i.path, i.type, i.status, i.mtime_ms, i.width, i.height,"
            " i.duration_s"
            " FROM segments s JOIN items i ON i.id = s.item_id WHERE s.id IN ("
            + list + ")");
        while (s.step()) {
            SegmentInfo info;
            info.segmentId = s.int64(0);
            info.itemId = s.int64(1);
            info.startMs = s.int64(2);
            info.endMs = s.int64(3);
            info.path = s.text(4);
            info.type = itemTypeFromString(s.text(5)).value_or(ItemType::Image);
            info.status = itemStatusFromString(s.text(6)).value_or(ItemStatus::Pending);
            info.mtimeMs = s.int64(7);
            info.width = static_cast<int>(s.int64(8));
            info.height = static_cast<int>(s.int64(9));
            info.durationS = s.real(10);
            out.emplace(info.segmentId, std::move(info));
        }
    }
    return out;
}

std::vector<std::int64_t> Reader::segmentIds(const SegmentFilter &filter)
{
    std::string sql = "SELECT s.id FROM segments s JOIN items i ON i.id = s.item_id";
    if (filter.fromMs || filter.toMs)  // capture time; the file time where item_meta has no row
        sql += " LEFT JOIN item_meta m ON m.item_id = i.id";
    sql += " WHERE 1";
    if (filter.type)
        sql += " AND i.type = ?";
    if (filter.fromMs)
        sql += " AND (CASE WHEN m.item_id IS NULL THEN i.mtime_ms >= ? ELSE m.taken_local_ms >= ? END)";
    if (filter.toMs)
        sql += " AND (CASE WHEN m.item_id IS NULL THEN i.mtime_ms < ? ELSE m.taken_local_ms < ? END)";
    if (!filter.folders.isEmpty()) {
        sql += " AND (";
        for (qsizetype i = 0; i < filter.folders.size(); ++i)
            sql += std::string(i ? " OR " : "") + "i.path = ? OR (i.path >= ? AND i.path < ?)";
        sql += ")";
    }
    Statement s = d->db.prepare(sql);
    int n = 0;
    if (filter.type)
        s.bind(++n, toString(*filter.type));
    for (const auto &bound : {filter.fromMs, filter.toMs}) {
        if (bound) {
            s.bind(++n, localWallToUtc(*bound));
            s.bind(++n, *bound);
        }
    }
    for (const QString &folder : filter.folders) {
        QString f = QDir::cleanPath(folder);
        s.bind(++n, f);
        s.bind(++n, withSlash(f));
        s.bind(++n, upperBoundBelow(f));
    }
    std::vector<std::int64_t> out;
    while (s.step())
        out.push_back(s.int64(0));
    std::sort(out.begin(), out.end());
    return out;
}

QList<Item> Reader::itemsUnder(const QString &dir)
{
    const QString clean = QDir::cleanPath(dir);
    Statement s = d->db.prepare(std::string("SELECT ") + detail::itemColumns
                                    + " FROM items WHERE path = ? OR (path >= ? AND path < ?) ORDER BY path",
                                clean, withSlash(clean), upperBoundBelow(clean));
    return detail::readItems(s);
}

std::optional<Item> Reader::itemByPath(const QString &path)
{
    return detail::selectItemByPath(d->db, QDir::cleanPath(path));
}

QList<Segment> Reader::segmentsOfItem(std::int64_t itemId)
{
    return detail::selectSegmentsOfItem(d->db, itemId);
}

std::vector<std::int64_t> Reader::segmentIdsOfItem(std::int64_t itemId)
{
    Statement s = d->db.prepare("SELECT id FROM segments WHERE item_id = ? ORDER BY id", itemId);
    std::vector<std::int64_t> out;
    while (s.step())
        out.push_back(s.int64(0));
    return out;
}

std::vector<std::int64_t> Reader::indexedItemsWithoutVector(const QString &modelFingerprint)
{
    Statement s = d->db.prepare(
        "SELECT i.id FROM items i WHERE i.status = 'indexed' AND NOT EXISTS ("
        " SELECT 1 FROM segments s JOIN vectors v ON v.segment_id = s.id AND v.model = ? WHERE s.item_id = i.id)"
        " ORDER BY i.id",
        modelFingerprint);
    std::vector<std::int64_t> out;
    while (s.step())
        out.push_back(s.int64(0));
    return out;
}

std::int64_t Reader::vectorCount(const QString &modelFingerprint)
{
    return d->db.queryInt("SELECT count(*) FROM vectors WHERE model = ?", modelFingerprint);
}

std::int64_t Reader::countItems(ItemType type, ItemStatus status)
{
    return d->db.queryInt("SELECT count(*) FROM items WHERE type = ? AND status = ?", toString(type),
                          toString(status));
}

std::int64_t Reader::lastJobId(const QString &kind)
{
    return d->db.queryInt("SELECT max(id) FROM jobs WHERE kind = ?", kind);
}

namespace detail {
std::unordered_map<std::int64_t, ItemMeta> itemMetas(Database &db, std::span<const std::int64_t> ids);  // metadata.cpp
}

std::unordered_map<std::int64_t, ItemMeta> Reader::itemMetas(std::span<const std::int64_t> itemIds)
{
    return detail::itemMetas(d->db, itemIds);
}

} // namespace unisearch::catalog
