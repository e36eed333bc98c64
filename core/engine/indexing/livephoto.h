#pragma once
// Live photos: a photo (HEIC, HEIF, JPEG) and a short video (MOV, MP4) of the same name in
// the same folder, as a phone writes them (IMG_1234.HEIC + IMG_1234.MOV), are one item.
// The photo is the item, with its vector as any photo's; the video's segments are stored as
// segments of the photo's item (with their time ranges), so a search finds the moment and
// the result shows the photo. The video file is no item of its own while the pair holds
// (catalog::LivePhoto records its path, size and mtime). A video longer than
// maxLiveVideoSec stays a video of its own; deleting either file breaks the pair on the
// next index: the photo loses the video's segments, a video left alone becomes a video.
// A motion photo (a JPEG with an MP4 inside, media/motionphoto.h) is the same: when the
// JPEG is new or changed, its video is copied out to the cache, goes through the video
// stage like a sibling and is removed once its segments are stored under the photo.
//
//   plan (planLivePhotos)  marks the videos beside a photo, drops those already stored,
//                          queues short video items that a photo now sits beside, and the
//                          photos whose video is gone
//   video stage            probes the duration as for any video (processVideo)
//   batch writer           storeLiveVideo(): the segments under the photo's item
//
// Private to core/engine.
#include "engine/indexing/plan.h"
#include "engine/indexing/record.h"

#include <QHash>
#include <QString>

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_set>
#include <vector>

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine::indexing {

// A paired video lasts at most this long (Apple's Live Photos last 3 s, Android's motion
// photos up to about 3 s; 10 s leaves room and keeps clips apart).
constexpr double maxLiveVideoSec = 10.0;

// The scanned videos that have a photo of the same name (case-insensitively) in their
// folder, by content: video path → photo path.
QHash<QString, QString> livePhotoSiblings(const media::ScanResult &scanned);

using MakeWork = std::function<WorkItem(const media::ScannedFile &, std::optional<std::int64_t>)>;

// Applies the pairs to the run's work list (see the top of this file).
void planLivePhotos(const media::ScanResult &scanned, const KnownFiles &known,
                    const std::unordered_set<std::int64_t> &withoutVector, const MakeWork &makeWork,
                    std::vector<WorkItem> &work);

// A processed video that becomes a live photo's moments (short, beside a photo).
bool isLiveVideo(const Processed &p);

// The segments the batch replaces in the store: a paired video's old ones under its photo,
// or those of a photo whose pair breaks. Read before the batch's transaction.
std::vector<std::int64_t> liveSegmentsReplaced(const catalog::Catalog &catalog, const Processed &p);

// In the batch's transaction: stores a live video's segments under its photo's item and
// records the pair. False when the photo is not an indexed image (the video is then
// written as a video of its own).
bool storeLiveVideo(catalog::Catalog &catalog, const Processed &p, const QString &fingerprint,
                    std::vector<std::int64_t> &addIds, std::vector<float> &addVectors);

} // namespace unisearch::engine::indexing
