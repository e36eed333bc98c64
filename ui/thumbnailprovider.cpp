#include "ui/thumbnailprovider.h"

#include "engine/thumbnail.h"

#include <QMetaObject>
#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

namespace unisearch::ui {

ThumbnailProvider::ThumbnailProvider(const QString &cacheDir, QObject *parent)
    : QObject(parent), m_disk(std::make_shared<engine::ThumbnailCache>(cacheDir))
{
    // Two decoders: enough to fill a screen quickly without starving the search thread.
    m_pool.setMaxThreadCount(2);
    m_memory.setMaxCost(96 * 1024 * 1024);  // bytes of pixels
}

ThumbnailProvider::~ThumbnailProvider()
{
    m_pool.clear();
    m_pool.waitForDone();
}

QString ThumbnailProvider::key(const QString &path, std::int64_t timeMs, QSize size)
{
    return QStringLiteral("%1|%2|%3x%4").arg(path).arg(timeMs).arg(size.width()).arg(size.height());
}

QImage ThumbnailProvider::request(const QString &path, catalog::ItemType type, std::int64_t timeMs, QSize size)
{
    const QString k = key(path, timeMs, size);
    if (const QImage *cached = m_memory.object(k))
        return *cached;
    if (m_pending.contains(k) || m_failed.contains(k))
        return {};
    m_pending.insert(k);
    std::shared_ptr<engine::ThumbnailCache> disk = m_disk;
    QPointer<ThumbnailProvider> self(this);
    // Newest first: while the view scrolls fast, what is on screen now is decoded before
    // the rows that scrolled past.
    m_pool.start([self, disk, k, path, type, timeMs, size] {
        QString error;
        const QImage image = disk->thumbnail(path, type, timeMs, size, &error);
        QMetaObject::invokeMethod(
            self.data(), [self, k, image, error] {
                if (!self || !self->m_pending.remove(k))
                    return;  // cancelled meanwhile
                if (image.isNull()) {
                    self->m_failed.insert(k);
                    emit self->thumbnailFailed(k, error);
                    return;
                }
                self->m_memory.insert(k, new QImage(image), int(qMin<qsizetype>(image.sizeInBytes(), INT_MAX)));
                emit self->thumbnailReady(k);
            },
            Qt::QueuedConnection);
    }, ++m_priority & 0x3fffffff);
    return {};
}

void ThumbnailProvider::cancelPending()
{
    m_pool.clear();
    m_pending.clear();
}

} // namespace unisearch::ui
