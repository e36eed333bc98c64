#include "catalog/catalog.h"
#include "catalog/reader.h"

#include "catalog/catalog_p.h"

#include <QDateTime>

#include <algorithm>
#include <string>

// Capture metadata: the item_meta rows (migration 4) that the metadata reader
// (media/metadata.h) writes during indexing, and the metadata-only pass over older catalogs.

namespace unisearch::catalog {

using detail::Database;
using detail::Statement;

QString toString(TakenSource source)
{
    switch (source) {
    case TakenSource::Exif:
        return QStringLiteral("exif");
    case TakenSource::Video:
        return QStringLiteral("video");
    case TakenSource::File:
        break;
    }
    return QStringLiteral("file");
}

std::optional<TakenSource> takenSourceFromString(const QString &s)
{
    if (s == QLatin1String("exif"))
        return TakenSource::Exif;
    if (s == QLatin1String("video"))
        return TakenSource::Video;
    if (s == QLatin1String("file"))
        return TakenSource::File;
    return std::nullopt;
}

QString ItemMeta::takenIso() const
{
    const QDateTime wall = QDateTime::fromMSecsSinceEpoch(takenLocalMs, Qt::UTC);
    QString iso = wall.toString(wall.time().msec() ? QStringLiteral("yyyy-MM-ddTHH:mm:ss.zzz")
                                                  : QStringLiteral("yyyy-MM-ddTHH:mm:ss"));
    if (!takenOffsetMin)
        return iso;
    const int off = *takenOffsetMin;
    if (off == 0)
        return iso + QLatin1Char('Z');
    const int a = std::abs(off);
    return iso + QString::asprintf("%c%02d:%02d", off < 0 ? '-' : '+', a / 60, a % 60);
}

std::int64_t ItemMeta::takenUtcMs() const
{
    if (takenOffsetMin)
        return takenLocalMs - std::int64_t(*takenOffsetMin) * 60000;
    const QDateTime wall = QDateTime::fromMSecsSinceEpoch(takenLocalMs, Qt::UTC);
    return QDateTime(wall.date(), wall.time(), Qt::LocalTime).toMSecsSinceEpoch();
}

ItemMeta fileTimeMeta(std::int64_t itemId, std::int64_t mtimeMs)
{
    const QDateTime local = QDateTime::fromMSecsSinceEpoch(mtimeMs, Qt::LocalTime);
    const int offsetS = local.offsetFromUtc();
    ItemMeta meta;
    meta.itemId = itemId;
    meta.takenLocalMs = mtimeMs + std::int64_t(offsetS) * 1000;
    meta.takenOffsetMin = offsetS / 60;
    meta.takenSource = TakenSource::File;
    return meta;
}

namespace detail {

namespace {

constexpr const char *metaColumns =
    "item_id, taken_local_ms, taken_offset_min, taken_source, gps_lat, gps_lon, make, model, orientation,"
    " reader_version";

ItemMeta readMeta(const Statement &s)
{
    ItemMeta m;
    m.itemId = s.int64(0);
    m.takenLocalMs = s.int64(1);
    if (!s.isNull(2))
        m.takenOffsetMin = static_cast<int>(s.int64(2));
    m.takenSource = takenSourceFromString(s.text(3)).value_or(TakenSource::File);
    if (!s.isNull(4) && !s.isNull(5)) {
        m.gpsLat = s.real(4);
        m.gpsLon = s.real(5);
    }
    m.make = s.text(6);
    m.model = s.text(7);
    if (!s.isNull(8))
        m.orientation = static_cast<int>(s.int64(8));
    m.readerVersion = static_cast<int>(s.int64(9));
    return m;
}

std::optional<QString> nonEmpty(const QString &s)
{
    return s.isEmpty() ? std::nullopt : std::optional<QString>(s);
}

} // namespace

// Reader::itemMetas (reader.cpp) reads through this on its own connection.
std::unordered_map<std::int64_t, ItemMeta> itemMetas(Database &db, std::span<const std::int64_t> ids)
{
    std::unordered_map<std::int64_t, ItemMeta> out;
    // Chunks of literal ids (integers only): one statement per chunk, as Reader::segments.
    constexpr size_t chunk = 500;
    for (size_t begin = 0; begin < ids.size(); begin += chunk) {
        std::string list;
        for (size_t i = begin; i < std::min(ids.size(), begin + chunk); ++i)
            list += (list.empty() ? "" : ",") + std::to_string(ids[i]);
        Statement s = db.prepare(std::string("SELECT ") + metaColumns + " FROM item_meta WHERE item_id IN (" + list
                                 + ")");
        while (s.step()) {
            ItemMeta m = readMeta(s);
            out.emplace(m.itemId, std::move(m));
        }
    }
    return out;
}

} // namespace detail

void Catalog::setItemMeta(const ItemMeta &m)
{
    d->db.prepare(std::string("INSERT OR REPLACE INTO item_meta(") + detail::metaColumns
                      + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  m.itemId, m.takenLocalMs, m.takenOffsetMin, toString(m.takenSource),
                  m.gpsLat && m.gpsLon ? m.gpsLat : std::nullopt, m.gpsLat && m.gpsLon ? m.gpsLon : std::nullopt,
                  detail::nonEmpty(m.make), detail::nonEmpty(m.model), m.orientation, m.readerVersion)
        .run();
}

std::optional<ItemMeta> Catalog::itemMeta(std::int64_t itemId) const
{
    Statement s = d->db.prepare(std::string("SELECT ") + detail::metaColumns + " FROM item_meta WHERE item_id = ?",
                                itemId);
    if (!s.step())
        return std::nullopt;
    return detail::readMeta(s);
}

QList<MetaTask> Catalog::itemsNeedingMeta(int readerVersion, int limit, std::int64_t afterId) const
{
    Statement s = d->db.prepare(
        "SELECT i.id, i.path, i.type, i.mtime_ms FROM items i LEFT JOIN item_meta m ON m.item_id = i.id"
        " WHERE i.status = 'indexed' AND i.id > ? AND (m.item_id IS NULL OR m.reader_version < ?)"
        " ORDER BY i.id LIMIT ?",
        afterId, readerVersion, std::max(0, limit));
    QList<MetaTask> tasks;
    while (s.step())
        tasks.append(MetaTask{s.int64(0), s.text(1), itemTypeFromString(s.text(2)).value_or(ItemType::Image),
                              s.int64(3)});
    return tasks;
}

std::int64_t Catalog::countItemsNeedingMeta(int readerVersion) const
{
    return d->db.queryInt("SELECT count(*) FROM items i LEFT JOIN item_meta m ON m.item_id = i.id"
                          " WHERE i.status = 'indexed' AND (m.item_id IS NULL OR m.reader_version < ?)",
                          readerVersion);
}

std::int64_t Catalog::countItemsWithCaptureTime() const
{
    return d->db.queryInt("SELECT count(*) FROM item_meta WHERE taken_source IN ('exif', 'video')");
}

} // namespace unisearch::catalog
