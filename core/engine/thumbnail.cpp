#include "engine/thumbnail.h"

#include "media/imagedecoder.h"
#include "media/videodecoder.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QImageReader>
#include <QSaveFile>

#include <algorithm>

namespace unisearch::engine {

namespace {

QImage fitInto(QImage image, QSize maxSize)
{
    if (image.width() > maxSize.width() || image.height() > maxSize.height())
        image = image.scaled(maxSize, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return image.convertToFormat(image.hasAlphaChannel() ? QImage::Format_ARGB32_Premultiplied
                                                         : QImage::Format_RGB32);
}

} // namespace

QImage makeThumbnail(const QString &path, catalog::ItemType type, std::int64_t timeMs, QSize maxSize,
                     QString *error)
{
    if (maxSize.width() <= 0 || maxSize.height() <= 0) {
        if (error)
            *error = QStringLiteral("invalid thumbnail size %1×%2").arg(maxSize.width()).arg(maxSize.height());
        return {};
    }
    if (type == catalog::ItemType::Image) {
        QImage image = media::thumbnail(path, std::max(maxSize.width(), maxSize.height()), error);
        return image.isNull() ? image : fitInto(std::move(image), maxSize);
    }
    media::DecodeOptions options;
    // Scaled during colour conversion: a 4K frame never exists at full size here.
    options.maxLongSide = std::max(maxSize.width(), maxSize.height());
    options.threads = 1;  // thumbnails run several at a time already
    options.limits.callBudgetSec = 10;
    media::VideoDecoder decoder(options);
    const auto info = decoder.open(path, error);
    if (!info)
        return {};
    const double t = std::max<double>(0, double(timeMs) / 1000.0);
    auto frame = decoder.frameAt(std::min(t, std::max(0.0, info->durationSec - 0.001)), error);
    if (!frame)
        return {};
    return fitInto(frame->image, maxSize);
}

ThumbnailCache::ThumbnailCache(const QString &cacheDir)
    : m_dir(QDir(cacheDir).absoluteFilePath(QStringLiteral("thumbnails")))
{
}

QString ThumbnailCache::entryPath(const QString &path, std::int64_t timeMs, QSize maxSize) const
{
    const QFileInfo info(path);
    const QString key = QStringLiteral("%1\n%2\n%3\n%4\n%5x%6")
                            .arg(info.absoluteFilePath())
                            .arg(info.lastModified().toMSecsSinceEpoch())
                            .arg(info.size())
                            .arg(timeMs)
                            .arg(maxSize.width())
                            .arg(maxSize.height());
    const QString hash = QString::fromLatin1(QCryptographicHash::hash(key.toUtf8(), QCryptographicHash::Sha1).toHex());
    // Two levels, so that a library of 100 000 items does not make one huge folder.
    return QStringLiteral("%1/%2/%3.png").arg(m_dir, hash.left(2), hash.mid(2));
}

QImage ThumbnailCache::thumbnail(const QString &path, catalog::ItemType type, std::int64_t timeMs, QSize maxSize,
                                 QString *error) const
{
    const QString entry = entryPath(path, timeMs, maxSize);
    if (QFileInfo::exists(entry)) {
        QImageReader reader(entry, "png");
        QImage cached = reader.read();
        if (!cached.isNull())
            return cached;
        QFile::remove(entry);  // damaged: make it again
    }
    QImage image = makeThumbnail(path, type, timeMs, maxSize, error);
    if (image.isNull())
        return image;
    // A cache that cannot be written (read-only home, full disk) only costs speed.
    if (QDir().mkpath(QFileInfo(entry).absolutePath())) {
        QSaveFile file(entry);
        if (file.open(QIODevice::WriteOnly) && image.save(&file, "png"))
            file.commit();
    }
    return image;
}

} // namespace unisearch::engine
