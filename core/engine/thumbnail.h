#pragma once
// Display thumbnails of library items, and their disk cache.
//
// A photo's thumbnail is decoded scaled (JPEG DCT scaling) with its EXIF orientation
// applied; a video's is the frame at a given moment (the matched moment of a search hit),
// decoded with FFmpeg and scaled during colour conversion. Neither blocks anything but the
// calling thread: the GUI calls these from a thread pool.
//
// The cache lives under the engine's cache dir (<cacheDir>/thumbnails/), one PNG per
// (path, mtime, size, time, edge) key, so a changed file or another moment gets a new
// entry and a stale one is never shown. Writing is atomic (QSaveFile); a damaged cache file
// is re-made. Thread-safe: any number of threads may read and write the cache.
#include "catalog/catalog.h"

#include <QImage>
#include <QSize>
#include <QString>

#include <cstdint>

namespace unisearch::engine {

// The item at path scaled to fit maxSize (never enlarged), upright. For a video, the frame
// nearest timeMs. Null with *error (a sentence) on failure.
QImage makeThumbnail(const QString &path, catalog::ItemType type, std::int64_t timeMs, QSize maxSize,
                     QString *error = nullptr);

class ThumbnailCache
{
public:
    // cacheDir: Engine::cacheDir(); the entries go to <cacheDir>/thumbnails.
    explicit ThumbnailCache(const QString &cacheDir);

    QString directory() const { return m_dir; }
    // The cache file of an item as it is on disk now (its mtime and size are part of the key).
    QString entryPath(const QString &path, std::int64_t timeMs, QSize maxSize) const;
    // The cached thumbnail, or makeThumbnail() and store it. Null with *error on failure.
    QImage thumbnail(const QString &path, catalog::ItemType type, std::int64_t timeMs, QSize maxSize,
                     QString *error = nullptr) const;

private:
    QString m_dir;
};

} // namespace unisearch::engine
