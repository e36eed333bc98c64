#pragma once
// Thumbnails for the views, loaded asynchronously: a request returns at once (a cached
// image, or nothing yet) and thumbnailReady() follows when the image is there. Decoding and
// the disk cache (engine/thumbnail.h, under the engine's cache dir) run on a small thread
// pool; a memory cache keeps the recent ones. Sizes are in device pixels: the caller
// multiplies by the device pixel ratio, so thumbnails stay sharp on high-DPI screens.
#include "catalog/catalog.h"

#include <QCache>
#include <QImage>
#include <QObject>
#include <QSet>
#include <QSize>
#include <QThreadPool>

#include <cstdint>
#include <memory>

namespace unisearch::engine {
class ThumbnailCache;
}

namespace unisearch::ui {

class ThumbnailProvider : public QObject
{
    Q_OBJECT
public:
    explicit ThumbnailProvider(const QString &cacheDir, QObject *parent = nullptr);
    ~ThumbnailProvider() override;

    static QString key(const QString &path, std::int64_t timeMs, QSize size);
    // The image when it is ready; else a null image, and the load is started (once).
    QImage request(const QString &path, catalog::ItemType type, std::int64_t timeMs, QSize size);
    // Forgets the queued loads (a new result list replaces the old one); running ones finish.
    void cancelPending();
    int pendingCount() const { return int(m_pending.size()); }

signals:
    void thumbnailReady(const QString &key);
    void thumbnailFailed(const QString &key, const QString &error);

private:
    std::shared_ptr<engine::ThumbnailCache> m_disk;
    QThreadPool m_pool;
    QCache<QString, QImage> m_memory;
    QSet<QString> m_pending;
    QSet<QString> m_failed;
    int m_priority = 0;
};

} // namespace unisearch::ui
