#include "catalog/catalog.h"

#include "catalog/catalog_p.h"

// Live photos: the live_photos rows (migration 5) that pair a photo item with the short
// video of the same name whose segments the photo's item holds (engine/indexing/livephoto.h).

namespace unisearch::catalog {

using detail::Statement;

namespace {

LivePhoto livePhotoRow(const Statement &s)
{
    LivePhoto p;
    p.itemId = s.int64(0);
    p.videoPath = s.text(1);
    p.videoSize = s.int64(2);
    p.videoMtimeMs = s.int64(3);
    return p;
}

} // namespace

void Catalog::setLivePhoto(const LivePhoto &pair)
{
    d->db.prepare("INSERT OR REPLACE INTO live_photos(item_id, video_path, video_size, video_mtime_ms)"
                  " VALUES (?, ?, ?, ?)",
                  pair.itemId, pair.videoPath, pair.videoSize, pair.videoMtimeMs)
        .run();
}

std::optional<LivePhoto> Catalog::livePhoto(std::int64_t itemId) const
{
    Statement s = d->db.prepare(
        "SELECT item_id, video_path, video_size, video_mtime_ms FROM live_photos WHERE item_id = ?", itemId);
    if (!s.step())
        return std::nullopt;
    return livePhotoRow(s);
}

QList<LivePhoto> Catalog::livePhotos() const
{
    QList<LivePhoto> out;
    Statement s = d->db.prepare("SELECT item_id, video_path, video_size, video_mtime_ms FROM live_photos"
                                " ORDER BY item_id");
    while (s.step())
        out.append(livePhotoRow(s));
    return out;
}

std::vector<std::int64_t> Catalog::breakLivePhoto(std::int64_t itemId)
{
    std::vector<std::int64_t> removed;
    // The video's segments are the photo's segments with a time range; (0, 0) is the photo.
    Statement s = d->db.prepare("SELECT id FROM segments WHERE item_id = ? AND NOT (start_ms = 0 AND end_ms = 0)",
                                itemId);
    while (s.step())
        removed.push_back(s.int64(0));
    d->db.prepare("DELETE FROM segments WHERE item_id = ? AND NOT (start_ms = 0 AND end_ms = 0)", itemId).run();
    d->db.prepare("DELETE FROM live_photos WHERE item_id = ?", itemId).run();
    return removed;
}

} // namespace unisearch::catalog
