#include "engine/indexing/livephoto.h"

#include "catalog/catalog.h"
#include "media/motionphoto.h"
#include "util/log.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSet>
#include <QStandardPaths>

namespace unisearch::engine::indexing {

namespace {

bool isLivePhotoSuffix(const QString &suffix)
{
    return suffix == QLatin1String("heic") || suffix == QLatin1String("heif") || suffix == QLatin1String("jpg")
           || suffix == QLatin1String("jpeg");
}

bool isLiveVideoSuffix(const QString &suffix)
{
    return suffix == QLatin1String("mov") || suffix == QLatin1String("mp4");
}

// The folder and the name without its extension, lowercased: what a pair shares.
QString pairKey(const QFileInfo &info)
{
    return (info.path() + QLatin1Char('/') + info.completeBaseName()).toLower();
}

bool isPaired(const std::optional<std::int64_t> &itemId, const media::ScannedFile &video,
              const QHash<std::int64_t, catalog::LivePhoto> &pairs)
{
    if (!itemId || !pairs.contains(*itemId))
        return false;
    const catalog::LivePhoto &pair = pairs[*itemId];
    return pair.videoPath == video.path && pair.videoSize == video.size && pair.videoMtimeMs == video.mtimeMs;
}

// Where the videos copied out of motion photos wait for the video stage (removed once stored).
QString motionVideoDir()
{
    return QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + QStringLiteral("/motion-photos");
}

bool isMotionVideoPath(const QString &path)
{
    return path.startsWith(motionVideoDir() + QLatin1Char('/'));
}

// A new or changed JPEG with a video inside: the video copied out to the cache, queued as
// the photo's live video. A JPEG that was one and is no more loses its moments.
void planMotionPhotos(const KnownFiles &known, const QSet<QString> &siblingPhotos, std::vector<WorkItem> &work)
{
    const size_t count = work.size();
    for (size_t i = 0; i < count; ++i) {
        const WorkItem &photo = work[i];
        const QString suffix = QFileInfo(photo.path).suffix().toLower();
        if (photo.kind != media::MediaKind::Image || siblingPhotos.contains(photo.path)
            || (suffix != QLatin1String("jpg") && suffix != QLatin1String("jpeg")))
            continue;
        const bool wasMotion = photo.itemId && known.livePhotos.contains(*photo.itemId)
                               && isMotionVideoPath(known.livePhotos[*photo.itemId].videoPath);
        const std::optional<media::EmbeddedVideo> video = media::findMotionPhotoVideo(photo.path);
        const QString dst = QStringLiteral("%1/%2.mp4").arg(motionVideoDir(), QString::fromLatin1(
            QCryptographicHash::hash(photo.path.toUtf8(), QCryptographicHash::Sha1).toHex()));
        QString error;
        if (!video || !QDir().mkpath(motionVideoDir()) || !media::extractMotionPhotoVideo(photo.path, *video, dst, &error)) {
            if (!error.isEmpty())
                log::warning(logCategory, error);
            work[i].breakLivePhoto = wasMotion;
            continue;
        }
        WorkItem w;
        w.path = dst;
        w.size = video->length;
        w.mtimeMs = photo.mtimeMs;
        w.kind = w.nameKind = media::MediaKind::Video;
        w.mimeType = QStringLiteral("video/mp4");
        w.rootId = photo.rootId;
        w.livePhotoOf = photo.path;
        work.push_back(std::move(w));
    }
}

} // namespace

QHash<QString, QString> livePhotoSiblings(const media::ScanResult &scanned)
{
    QHash<QString, QString> photos;  // pair key → photo path
    for (const media::ScannedFile &f : scanned.files) {
        const QFileInfo info(f.path);
        if (f.kind == media::MediaKind::Image && isLivePhotoSuffix(info.suffix().toLower()))
            photos.insert(pairKey(info), f.path);
    }
    QHash<QString, QString> siblings;
    if (photos.isEmpty())
        return siblings;
    for (const media::ScannedFile &f : scanned.files) {
        const QFileInfo info(f.path);
        if (f.kind == media::MediaKind::Video && isLiveVideoSuffix(info.suffix().toLower()))
            if (const QString photo = photos.value(pairKey(info)); !photo.isEmpty())
                siblings.insert(f.path, photo);
    }
    return siblings;
}

void planLivePhotos(const media::ScanResult &scanned, const KnownFiles &known,
                    const std::unordered_set<std::int64_t> &withoutVector, const MakeWork &makeWork,
                    std::vector<WorkItem> &work)
{
    const QHash<QString, QString> photoOf = livePhotoSiblings(scanned);
    const QList<QString> siblingPhotos = photoOf.values();
    planMotionPhotos(known, QSet<QString>(siblingPhotos.cbegin(), siblingPhotos.cend()), work);
    if (photoOf.isEmpty() && known.livePhotos.isEmpty())
        return;
    QHash<QString, std::int64_t> idOf;
    for (const catalog::Item &it : known.items)
        idOf.insert(it.path, it.id);
    QHash<QString, const media::ScannedFile *> scannedByPath;
    for (const media::ScannedFile &f : scanned.files)
        scannedByPath.insert(f.path, &f);
    QSet<QString> queued;

    // Videos beside a photo: stored already (the pair holds) or to store under the photo.
    std::vector<WorkItem> kept;
    for (WorkItem &w : work) {
        const QString photo = photoOf.value(w.path);
        const media::ScannedFile *video = scannedByPath.value(w.path);
        if (!photo.isEmpty() && video) {
            const std::optional<std::int64_t> photoId =
                idOf.contains(photo) ? std::optional<std::int64_t>(idOf[photo]) : std::nullopt;
            if (isPaired(photoId, *video, known.livePhotos) && !withoutVector.count(*photoId))
                continue;
            w.livePhotoOf = photo;
        }
        queued.insert(w.path);
        kept.push_back(std::move(w));
    }
    work = std::move(kept);

    // A short video stored as a video of its own, now beside an indexed photo of its name.
    for (const catalog::Item &it : known.items) {
        const QString photo = photoOf.value(it.path);
        if (photo.isEmpty() || queued.contains(it.path) || it.type != catalog::ItemType::Video
            || it.status != catalog::ItemStatus::Indexed || it.durationS > maxLiveVideoSec)
            continue;
        const auto photoItem = known.items.constFind(idOf.value(photo, -1));
        if ((photoItem == known.items.cend() || photoItem->status != catalog::ItemStatus::Indexed)
            && !queued.contains(photo))
            continue;
        work.push_back(makeWork(*scannedByPath.value(it.path), it.id));
        work.back().livePhotoOf = photo;
        queued.insert(it.path);
    }

    // Pairs that no longer hold (the video deleted or renamed): the photo drops its segments.
    // A motion photo's pair holds while the photo is unchanged (a changed one is replanned).
    for (const catalog::LivePhoto &pair : known.livePhotos) {
        const QString photo = known.items.value(pair.itemId).path;
        if (photoOf.value(pair.videoPath) == photo || !scannedByPath.contains(photo) || isMotionVideoPath(pair.videoPath))
            continue;
        auto it = std::find_if(work.begin(), work.end(), [&](const WorkItem &w) { return w.path == photo; });
        if (it == work.end()) {
            work.push_back(makeWork(*scannedByPath.value(photo), pair.itemId));
            it = work.end() - 1;
        }
        it->breakLivePhoto = true;
    }
}

bool isLiveVideo(const Processed &p)
{
    return p.work && !p.work->livePhotoOf.isEmpty() && p.outcome == Outcome::Video && p.durationS > 0
           && (p.durationS <= maxLiveVideoSec || isMotionVideoPath(p.work->path));
}

std::vector<std::int64_t> liveSegmentsReplaced(const catalog::Catalog &catalog, const Processed &p)
{
    std::optional<std::int64_t> photoId;
    if (isLiveVideo(p)) {
        if (const auto photo = catalog.itemByPath(p.work->livePhotoOf))
            photoId = photo->id;
    } else if (p.work && p.work->breakLivePhoto) {
        photoId = p.work->itemId;
    }
    std::vector<std::int64_t> ids;
    if (photoId)
        for (const catalog::Segment &s : catalog.segments(*photoId))
            if (s.startMs != 0 || s.endMs != 0)
                ids.push_back(s.id);
    return ids;
}

bool storeLiveVideo(catalog::Catalog &catalog, const Processed &p, const QString &fingerprint,
                    std::vector<std::int64_t> &addIds, std::vector<float> &addVectors)
{
    // A video copied out of a motion photo is never an item of its own.
    const bool motion = isMotionVideoPath(p.work->path);
    if (motion)
        QFile::remove(p.work->path);
    if (!isLiveVideo(p))
        return motion;
    const std::optional<catalog::Item> photo = catalog.itemByPath(p.work->livePhotoOf);
    if (!photo || photo->type != catalog::ItemType::Image || photo->status != catalog::ItemStatus::Indexed)
        return motion;
    catalog.breakLivePhoto(photo->id);
    for (const StoredSegment &seg : p.segments) {
        if (seg.range.startMs == 0 && seg.range.endMs == 0)
            continue;  // the video-level vector: the photo's own vector stands for the item
        addIds.push_back(
            catalog.addSegmentWithVector(photo->id, seg.range.startMs, seg.range.endMs, fingerprint, seg.feature));
        addVectors.insert(addVectors.end(), seg.feature.begin(), seg.feature.end());
    }
    catalog.setLivePhoto({photo->id, p.work->path, p.work->size, p.work->mtimeMs});
    return true;
}

} // namespace unisearch::engine::indexing
