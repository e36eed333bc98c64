#include "media/motionphoto.h"

#include "media/filepath.h"
#include "util/error.h"

#include <QFile>
#include <QRegularExpression>
#include <QSaveFile>

#include <algorithm>

namespace unisearch::media {

namespace {

// The video's length from the XMP in head (attribute or element form), or -1.
// Hand-written (a regular expression over the packet's text) rather than through Exiv2:
// only two properties are needed, and the file's head is already in memory.
qint64 videoLengthFromXmp(const QByteArray &head)
{
    const QString text = QString::fromLatin1(head);
    static const QRegularExpression microVideo(QStringLiteral(R"(GCamera:MicroVideoOffset\s*(?:=\s*["']|>)\s*(\d{1,12}))"));
    if (const QRegularExpressionMatch m = microVideo.match(text); m.hasMatch())
        return m.captured(1).toLongLong();
    // Motion Photo 1.0: <Container:Item Item:Semantic="MotionPhoto" Item:Length="N" .../>.
    static const QRegularExpression item(QStringLiteral(R"(<Container:Item\b[^>]{0,2000}>)"));
    static const QRegularExpression length(QStringLiteral(R"(Item:Length\s*=\s*["'](\d{1,12}))"));
    for (auto it = item.globalMatch(text); it.hasNext();) {
        const QString element = it.next().captured(0);
        if (!element.contains(QLatin1String("MotionPhoto")))
            continue;
        if (const QRegularExpressionMatch m = length.match(element); m.hasMatch())
            return m.captured(1).toLongLong();
    }
    return -1;
}

} // namespace

std::optional<EmbeddedVideo> findMotionPhotoVideo(const QString &path, const MotionPhotoLimits &limits, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return util::fail(error, QStringLiteral("cannot read %1: %2").arg(displayPath(path), file.errorString()));
    const qint64 size = file.size();
    const qint64 length = videoLengthFromXmp(file.read(std::max<qint64>(0, limits.headBytes)));
    if (length < 0)
        return util::fail(error, QStringLiteral("%1 is no motion photo (no MicroVideoOffset or MotionPhoto item in "
                                                "its XMP)").arg(displayPath(path)));
    if (length < 8 || length >= size || length > limits.maxVideoBytes)
        return util::fail(error, QStringLiteral("%1: its XMP puts a video of %2 bytes in a file of %3 bytes (at most "
                                                "%4 are taken)").arg(displayPath(path)).arg(length).arg(size)
                                     .arg(limits.maxVideoBytes));
    EmbeddedVideo v{size - length, length};
    // An MP4 starts with a box whose type is "ftyp".
    if (!file.seek(v.offset + 4) || file.read(4) != QByteArrayLiteral("ftyp"))
        return util::fail(error, QStringLiteral("%1: no MP4 where its XMP puts the video").arg(displayPath(path)));
    return v;
}

bool extractMotionPhotoVideo(const QString &path, const EmbeddedVideo &video, const QString &dst, QString *error)
{
    QFile in(path);
    QSaveFile out(dst);
    if (!in.open(QIODevice::ReadOnly) || !in.seek(video.offset)) {
        util::fail(error, QStringLiteral("cannot read %1: %2").arg(displayPath(path), in.errorString()));
        return false;
    }
    if (!out.open(QIODevice::WriteOnly)) {
        util::fail(error, QStringLiteral("cannot write %1: %2").arg(displayPath(dst), out.errorString()));
        return false;
    }
    qint64 left = video.length;
    while (left > 0) {
        const QByteArray chunk = in.read(std::min<qint64>(left, 1 << 20));
        if (chunk.isEmpty() || out.write(chunk) != chunk.size()) {
            util::fail(error, QStringLiteral("cannot copy the video out of %1").arg(displayPath(path)));
            return false;
        }
        left -= chunk.size();
    }
    if (!out.commit()) {
        util::fail(error, QStringLiteral("cannot write %1: %2").arg(displayPath(dst), out.errorString()));
        return false;
    }
    return true;
}

} // namespace unisearch::media
