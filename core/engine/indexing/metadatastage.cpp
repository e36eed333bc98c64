#include "engine/indexing/metadatastage.h"

#include "media/metadata.h"

#include <QFuture>
#include <QtConcurrent/QtConcurrentMap>

namespace unisearch::engine::indexing {

catalog::ItemMeta readItemMeta(const QString &path, catalog::ItemType type, std::int64_t mtimeMs)
{
    const media::CaptureMetadata m = type == catalog::ItemType::Video ? media::readVideoMetadata(path)
                                                                      : media::readPhotoMetadata(path);
    catalog::ItemMeta meta = catalog::fileTimeMeta(0, mtimeMs);
    if (m.takenLocalMs) {
        meta.takenLocalMs = *m.takenLocalMs;
        meta.takenOffsetMin = m.takenOffsetMin;
        meta.takenSource = m.source == media::CaptureSource::Video ? catalog::TakenSource::Video
                                                                   : catalog::TakenSource::Exif;
    }
    meta.gpsLat = m.gpsLat;
    meta.gpsLon = m.gpsLon;
    meta.make = m.make;
    meta.model = m.model;
    meta.orientation = m.orientation;
    meta.readerVersion = media::metadataReaderVersion;
    return meta;
}

void addMetadata(Processed &p)
{
    if (p.outcome == Outcome::Embedded)
        p.meta = readItemMeta(p.work->path, catalog::ItemType::Image, p.work->mtimeMs);
    else if (p.outcome == Outcome::Video)
        p.meta = readItemMeta(p.work->path, catalog::ItemType::Video, p.work->mtimeMs);
}

MetadataPassResult runMetadataPass(catalog::Catalog &catalog, const MetadataProgressFn &progress, int commitEvery)
{
    MetadataPassResult result;
    const int version = media::metadataReaderVersion;
    try {
        result.total = catalog.countItemsNeedingMeta(version);
        std::int64_t after = 0;
        while (result.total > 0) {
            const QList<catalog::MetaTask> tasks = catalog.itemsNeedingMeta(version, std::max(1, commitEvery), after);
            if (tasks.isEmpty())
                break;
            // The files are read on the global pool (headers only), the rows written in one transaction.
            const QList<catalog::ItemMeta> metas =
                QtConcurrent::blockingMapped(tasks, [](const catalog::MetaTask &t) {
                    catalog::ItemMeta meta = readItemMeta(t.path, t.type, t.mtimeMs);
                    meta.itemId = t.itemId;
                    return meta;
                });
            catalog.transaction([&] {
                for (const catalog::ItemMeta &meta : metas)
                    catalog.setItemMeta(meta);
            });
            for (const catalog::ItemMeta &meta : metas)
                result.withCaptureTime += meta.takenSource != catalog::TakenSource::File;
            result.done += metas.size();
            after = tasks.back().itemId;
            if (progress && !progress(result.done, result.total))
                break;
        }
    } catch (const std::exception &e) {
        result.ok = false;
        result.error = QStringLiteral("storing capture metadata: %1").arg(QString::fromUtf8(e.what()));
    }
    return result;
}

} // namespace unisearch::engine::indexing
