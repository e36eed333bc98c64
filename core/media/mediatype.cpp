#include "media/mediatype.h"

#include "media/filepath.h"

#include <QFile>
#include <QMimeDatabase>
#include <QMimeType>

#include <optional>
#include <utility>

namespace unisearch::media {

namespace {

MediaKind kindOf(const QMimeType &mime)
{
    if (!mime.isValid())
        return MediaKind::Other;
    auto kindOfName = [](const QString &name) {
        if (name.startsWith(QLatin1String("image/")))
            return MediaKind::Image;
        if (name.startsWith(QLatin1String("video/")))
            return MediaKind::Video;
        return MediaKind::Other;
    };
    if (const MediaKind kind = kindOfName(mime.name()); kind != MediaKind::Other)
        return kind;
    // e.g. a vendor type declared as a subclass of an image type
    for (const QString &ancestor : mime.allAncestors()) {
        if (const MediaKind kind = kindOfName(ancestor); kind != MediaKind::Other)
            return kind;
    }
    return MediaKind::Other;
}

// The signatures of the formats that make up nearly every photo library, checked before
// QMimeDatabase's full magic rules (about 90 µs a file here, against nothing for this):
// a rescan of 100k photos then costs the reads, not the rule matching. Each entry agrees
// with shared-mime-info's own rule; anything else goes to QMimeDatabase, the authority.
std::optional<std::pair<MediaKind, QString>> sniffCommonMedia(const QByteArray &head)
{
    const auto at = [&head](qsizetype offset, QByteArrayView bytes) {
        return head.size() >= offset + bytes.size() && QByteArrayView(head).sliced(offset, bytes.size()) == bytes;
    };
    if (at(0, QByteArrayView("\xFF\xD8\xFF", 3)))
        return std::pair{MediaKind::Image, QStringLiteral("image/jpeg")};
    if (at(0, QByteArrayView("\x89PNG\r\n\x1A\n", 8)))
        return std::pair{MediaKind::Image, QStringLiteral("image/png")};
    if (at(0, "GIF87a") || at(0, "GIF89a"))
        return std::pair{MediaKind::Image, QStringLiteral("image/gif")};
    if (at(0, "RIFF") && at(8, "WEBP"))
        return std::pair{MediaKind::Image, QStringLiteral("image/webp")};
    if (at(0, QByteArrayView("\xFF\x0A", 2)) || at(0, QByteArrayView("\0\0\0\x0CJXL \r\n\x87\n", 12)))
        return std::pair{MediaKind::Image, QStringLiteral("image/jxl")};
    if (at(4, "ftyp") && head.size() >= 12) {  // ISO base media: the major brand says what
        const QByteArray brand = head.mid(8, 4);
        static const QList<QByteArray> heif = {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"};
        static const QList<QByteArray> mp4 = {"isom", "iso2", "mp41", "mp42", "avc1"};
        if (heif.contains(brand))
            return std::pair{MediaKind::Image, QStringLiteral("image/heif")};
        if (brand == "avif" || brand == "avis")
            return std::pair{MediaKind::Image, QStringLiteral("image/avif")};
        if (brand == "crx ")  // Canon CR3 (ISO base media too)
            return std::pair{MediaKind::Image, QStringLiteral("image/x-canon-cr3")};
        if (brand == "qt  ")
            return std::pair{MediaKind::Video, QStringLiteral("video/quicktime")};
        if (mp4.contains(brand))
            return std::pair{MediaKind::Video, QStringLiteral("video/mp4")};
    }
    return std::nullopt;
}

// Content that matched no signature, or only a container whose payload (audio or video)
// the first bytes do not settle: then the extension decides.
bool isInconclusive(const QMimeType &mime)
{
    // Ogg and Matroska hold video or only audio; shared-mime-info names a Matroska file by its
    // content only as application/x-matroska, which is neither (a plain .mkv was "not a video").
    return !mime.isValid() || mime.isDefault() || mime.name() == QLatin1String("application/ogg")
           || mime.name() == QLatin1String("application/x-matroska");
}

} // namespace

QString toString(MediaKind kind)
{
    switch (kind) {
    case MediaKind::Image:
        return QStringLiteral("image");
    case MediaKind::Video:
        return QStringLiteral("video");
    case MediaKind::Other:
        break;
    }
    return QStringLiteral("other");
}

MediaKind kindOfMimeType(const QString &mimeName)
{
    return kindOf(QMimeDatabase().mimeTypeForName(mimeName));
}

MediaType mediaTypeFromFileName(const QString &fileName)
{
    const QMimeType mime = QMimeDatabase().mimeTypeForFile(fileName, QMimeDatabase::MatchExtension);
    MediaType type;
    type.kind = type.nameKind = kindOf(mime);
    type.mimeType = mime.name();
    // Samsung's RAW, which shared-mime-info does not list (LibRaw reads it).
    if (type.kind == MediaKind::Other && fileName.endsWith(QLatin1String(".srw"), Qt::CaseInsensitive)) {
        type.kind = type.nameKind = MediaKind::Image;
        type.mimeType = QStringLiteral("image/x-samsung-srw");
    }
    return type;
}

MediaType detectMediaType(const QString &fileName, const QByteArray &head)
{
    MediaType type = mediaTypeFromFileName(fileName);
    if (const auto common = sniffCommonMedia(head)) {
        type.kind = common->first;
        type.mimeType = common->second;
        return type;
    }
    const QMimeType byContent = QMimeDatabase().mimeTypeForData(head);
    if (!isInconclusive(byContent)) {
        type.kind = kindOf(byContent);
        type.mimeType = byContent.name();
    }
    return type;
}

MediaType detectMediaType(const QString &path)
{
    QFile file;
    QString error;
    if (!openForReading(file, path, &error)) {
        MediaType type = mediaTypeFromFileName(path);
        type.error = error;
        return type;
    }
    const QByteArray head = file.read(mediaTypeHeadSize);
    if (file.error() != QFileDevice::NoError) {
        MediaType type = mediaTypeFromFileName(path);
        type.error = file.errorString();
        return type;
    }
    return detectMediaType(path, head);
}

} // namespace unisearch::media
