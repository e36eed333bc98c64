#pragma once
// What a file is, decided by its content: a JPEG named "notes.txt" is an image and a text
// file named "photo.jpg" is not. The file name counts only when the content is
// inconclusive (no known signature), and is reported separately so that a file that
// claims to be media but is not can be listed as an error rather than silently ignored.
#include <QByteArray>
#include <QString>

namespace unisearch::media {

enum class MediaKind { Other, Image, Video };

QString toString(MediaKind kind);  // "other", "image", "video"

struct MediaType {
    MediaKind kind = MediaKind::Other;      // by content (by name when content is inconclusive or unreadable)
    MediaKind nameKind = MediaKind::Other;  // what the extension alone claims
    QString mimeType;                       // the MIME type kind was derived from
    QString error;                          // the content could not be read (kind then comes from the name)
};

// How many leading bytes content detection looks at (what QMimeDatabase's magic rules need).
inline constexpr qsizetype mediaTypeHeadSize = 16384;

// Reads the first bytes of path (any file name, see filepath.h) and classifies it.
MediaType detectMediaType(const QString &path);
// Pure variant: classifies from a file name and the file's first bytes (an empty head
// means an empty file).
MediaType detectMediaType(const QString &fileName, const QByteArray &head);
// By name only (no I/O): for fast scans and as the fallback.
MediaType mediaTypeFromFileName(const QString &fileName);
// image/* -> Image, video/* -> Video (also through MIME inheritance), else Other.
MediaKind kindOfMimeType(const QString &mimeName);

} // namespace unisearch::media
