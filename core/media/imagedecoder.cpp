#include "media/imagedecoder.h"

#include "media/filepath.h"
#include "media/formats_p.h"
#include "media/mediatype.h"

#include <QBuffer>
#include <QFile>
#include <QImageReader>
#include <QMimeDatabase>
#include <QMimeType>
#include <QMutex>

#include <climits>

namespace unisearch::media {

namespace {

// Files up to this size are read into memory first: Qt's JPEG reader has a fast path for
// QBuffer, and the truncation check needs the bytes. Bigger files are decoded streaming.
constexpr qint64 inMemoryLimit = 256LL * 1024 * 1024;

QString megapixels(qint64 pixels)
{
    if (pixels < 10000)
        return QStringLiteral("%1 pixels").arg(pixels);
    const double mp = double(pixels) / 1e6;
    const int decimals = mp >= 10 ? 0 : mp >= 1 ? 1 : 2;
    return QString::number(mp, 'f', decimals) + QStringLiteral(" MP");
}

// Qt's allocation limit is process-wide (QImageReader::setAllocationLimit is static) and
// by default refuses images over 128 MB of pixels, i.e. an ordinary 40 MP photo decoded
// to 32 bits. Raise it to what maxPixels allows at 8 bytes per pixel (16-bit RGBA), never
// lower it: our own pre-check against maxPixels is the real guard.
void ensureAllocationLimit(qint64 maxPixels)
{
    static QMutex mutex;
    const qint64 neededMb = qMin<qint64>(INT_MAX, (maxPixels * 8 + (1 << 20) - 1) / (1 << 20) + 1);
    QMutexLocker lock(&mutex);
    const int current = QImageReader::allocationLimit();
    if (current != 0 && current < neededMb)
        QImageReader::setAllocationLimit(int(neededMb));
}

// The size to ask the JPEG reader for: the smallest M/8 scale (M = 1..7) whose short side
// is still at least targetSize, or an invalid size for "decode full size". Sizes are
// rounded down so Qt's choice, ceil(8 / factor), lands exactly on M (libjpeg then
// outputs ceil(side * M / 8), at most one pixel more, which Qt trims).
QSize jpegScaledSize(const QSize &full, int targetSize)
{
    if (targetSize <= 0 || !full.isValid())
        return {};
    const qint64 shortSide = qMin(full.width(), full.height());
    for (int m = 1; m < 8; ++m) {
        if (shortSide * m / 8 >= targetSize)
            return QSize(int(qint64(full.width()) * m / 8), int(qint64(full.height()) * m / 8));
    }
    return {};
}

// A complete JPEG has an EOI marker (FF D9) after its first scan. Inside entropy-coded
// data a 0xFF byte is always followed by 0x00 or a restart marker, so FF D9 found after
// the SOS is the end of the image (an embedded EXIF thumbnail's EOI comes before the SOS,
// inside its APP1 segment, which the walk skips by length).
bool jpegIsComplete(QByteArrayView data)
{
    qsizetype i = 2;  // after SOI
    while (i + 4 <= data.size()) {
        if (uchar(data[i]) != 0xFF)
            return false;  // not at a marker: corrupt header
        const uchar marker = uchar(data[i + 1]);
        if (marker == 0xFF) {  // fill byte
            ++i;
            continue;
        }
        if (marker == 0xDA)  // SOS: entropy-coded data follows
            return data.indexOf(QByteArrayView("\xFF\xD9", 2), i) >= 0;
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
            i += 2;
            continue;
        }
        const int length = (uchar(data[i + 2]) << 8) | uchar(data[i + 3]);
        i += 2 + length;
    }
    return false;  // the headers themselves are cut off
}

QString pluginHint(const QMimeType &mime)
{
    static const QStringList qtPlugins = {QStringLiteral("image/webp"), QStringLiteral("image/tiff"),
                                          QStringLiteral("image/x-tga"), QStringLiteral("image/x-icns"),
                                          QStringLiteral("image/vnd.wap.wbmp")};
    if (qtPlugins.contains(mime.name()))
        return QStringLiteral(" (install qt6-image-formats-plugins)");
    return QStringLiteral(" (other formats need the KDE image plugins, kimageformats)");
}

// Why Qt did not even recognise the data, from its content signature.
QString unrecognisedReason(QIODevice *device)
{
    const QByteArray head = device->peek(mediaTypeHeadSize);
    if (head.isEmpty())
        return QStringLiteral("empty file (0 bytes)");
    const QMimeType mime = QMimeDatabase().mimeTypeForData(head);
    if (mime.name().startsWith(QLatin1String("image/"))) {
        if (QImageReader::supportedMimeTypes().contains(mime.name().toLatin1()))
            return QStringLiteral("corrupt %1: its header is not valid").arg(mime.comment());
        return QStringLiteral("cannot decode %1 (%2): no Qt image plugin for this format is installed%3")
            .arg(mime.comment(), mime.name(), pluginHint(mime));
    }
    if (mime.isDefault())
        return QStringLiteral("not an image (unrecognised content)");
    return QStringLiteral("not an image (the content is %1, %2)").arg(mime.comment(), mime.name());
}

DecodedImage decodeDevice(QIODevice *device, const QByteArray *wholeFile, const DecodeParams &params)
{
    DecodedImage result;
    QImageReader reader(device);  // no file name: the format is decided by content alone
    reader.setAutoTransform(true);
    if (!reader.canRead()) {
        result.error = unrecognisedReason(device);
        return result;
    }
    result.format = reader.format();
    const QString formatName = QString::fromLatin1(result.format).toUpper();
    // Before reading the header, so libjpeg does not log about the missing end.
    if (result.format == "jpeg" && wholeFile && !jpegIsComplete(QByteArrayView(*wholeFile))) {
        result.error = QStringLiteral("truncated or corrupt JPEG: the file ends before the image data does");
        return result;
    }

    const QSize fileSize = reader.size();  // as stored, before orientation
    if (fileSize.isValid()) {
        const bool rotated = reader.transformation().testFlag(QImageIOHandler::TransformationRotate90);
        result.originalSize = rotated ? fileSize.transposed() : fileSize;
        const qint64 pixels = qint64(fileSize.width()) * fileSize.height();
        if (pixels > params.maxPixels) {
            result.error = QStringLiteral("image is %1, above the %2 limit")
                               .arg(describeImageSize(fileSize), megapixels(params.maxPixels));
            return result;
        }
    }
    ensureAllocationLimit(params.maxPixels);

    // The scaled size is in stored (unrotated) coordinates, which is how Qt applies it.
    if (result.format == "jpeg") {
        if (const QSize scaled = jpegScaledSize(fileSize, params.targetSize); scaled.isValid())
            reader.setScaledSize(scaled);
    }

    QImage image = reader.read();
    if (image.isNull()) {
        switch (reader.error()) {
        case QImageReader::InvalidDataError:
            result.error = QStringLiteral("truncated or corrupt %1 (%2)").arg(formatName, reader.errorString());
            break;
        case QImageReader::DeviceError:
            result.error = QStringLiteral("read error (%1)").arg(reader.errorString());
            break;
        default:
            result.error = QStringLiteral("cannot decode %1: %2").arg(formatName, reader.errorString());
            break;
        }
        return result;
    }
    if (!fileSize.isValid())
        result.originalSize = image.size();
    // Checked after decoding too, also when the header gave a size: the header may
    // understate it (Qt's GIF reader reports the first frame's width for a logical screen
    // 16384 or more pixels wide, then decodes onto the whole screen). Qt's allocation
    // limit, set above, bounded the memory taken meanwhile.
    if (qint64(image.width()) * image.height() > params.maxPixels) {
        result.originalSize = image.size();
        result.error = QStringLiteral("image is %1, above the %2 limit")
                           .arg(describeImageSize(image.size()), megapixels(params.maxPixels));
        return result;
    }
    result.image = std::move(image);
    return result;
}

} // namespace

namespace formats {

Family sniff(QByteArrayView head)
{
    const auto at = [head](qsizetype offset, QByteArrayView bytes) {
        return head.size() >= offset + bytes.size() && head.sliced(offset, bytes.size()) == bytes;
    };
    if (at(4, "ftyp") && head.size() >= 12) {
        static const QList<QByteArray> heif = {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1",
                                               "avif", "avis"};
        const QByteArray brand = head.sliced(8, 4).toByteArray();
        if (heif.contains(brand))
            return Family::Heif;
        if (brand == "crx ")
            return Family::Raw;  // Canon CR3
    }
    if (at(0, QByteArrayView("\xFF\x0A", 2)) || at(0, QByteArrayView("\0\0\0\x0CJXL \r\n\x87\n", 12)))
        return Family::Jxl;
    if (at(0, "FUJIFILMCCD-RAW") || at(0, "IIRO") || at(0, "IIRS") || at(0, "MMOR")
        || at(0, QByteArrayView("IIU\0", 4)))
        return Family::Raw;  // RAF, ORF, RW2
    if (at(0, QByteArrayView("II*\0", 4)) || at(0, QByteArrayView("MM\0*", 4)))
        return Family::Tiff;
    return Family::Other;
}

QString pixelLimitError(qint64 width, qint64 height, qint64 maxPixels)
{
    if (width <= 0 || height <= 0 || width * height <= maxPixels)
        return {};
    const QSize size(int(qMin<qint64>(width, INT_MAX)), int(qMin<qint64>(height, INT_MAX)));
    return QStringLiteral("image is %1, above the %2 limit").arg(describeImageSize(size), megapixels(maxPixels));
}

DecodedImage missingLibrary(const QByteArray &format, const QString &what, const QString &library,
                            const QString &package)
{
    DecodedImage result;
    result.format = format;
    result.error = QStringLiteral("cannot decode %1: Unisearch was built without %2 (install %3 and rebuild)")
                       .arg(what, library, package);
    return result;
}

} // namespace formats

QString describeImageSize(const QSize &size)
{
    return QStringLiteral("%1\u00d7%2 (%3)")
        .arg(size.width())
        .arg(size.height())
        .arg(megapixels(qint64(size.width()) * size.height()));
}

DecodedImage decodeImageData(const QByteArray &data, const DecodeParams &params)
{
    if (data.isEmpty())
        return {{}, {}, {}, QStringLiteral("empty file (0 bytes)")};
    switch (formats::sniff(QByteArrayView(data).first(qMin<qsizetype>(data.size(), 64)))) {
    case formats::Family::Heif:
        return formats::decodeHeif(data, params);
    case formats::Family::Jxl:
        return formats::decodeJxl(data, params);
    case formats::Family::Raw:
        return *formats::decodeRaw(data, params, false);
    case formats::Family::Tiff:  // a DNG, CR2, NEF, ...; a plain TIFF goes on to Qt
        if (auto raw = formats::decodeRaw(data, params, true))
            return *raw;
        break;
    case formats::Family::Other:
        break;
    }
    QByteArray bytes = data;  // shared, not copied; QBuffer needs a non-const pointer
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::ReadOnly);
    return decodeDevice(&buffer, &bytes, params);
}

DecodedImage decodeImage(const QString &path, const DecodeParams &params)
{
    DecodedImage result;
    QFile file;
    QString error;
    if (!openForReading(file, path, &error)) {
        result.error = QStringLiteral("cannot open: %1").arg(error);
        return result;
    }
    const qint64 size = file.size();
    if (size == 0) {
        result.error = QStringLiteral("empty file (0 bytes)");
        return result;
    }
    if (size > inMemoryLimit) {
        // libheif, libjxl and LibRaw decode from memory; files this large are not photos.
        if (const auto family = formats::sniff(file.peek(64));
            family != formats::Family::Other && family != formats::Family::Tiff) {
            result.error = QStringLiteral("file of %1 MiB is above the %2 MiB limit for this format")
                               .arg(size >> 20)
                               .arg(inMemoryLimit >> 20);
            return result;
        }
        return decodeDevice(&file, nullptr, params);
    }
    QByteArray data = file.readAll();
    if (file.error() != QFileDevice::NoError) {
        result.error = QStringLiteral("read error (%1)").arg(file.errorString());
        return result;
    }
    if (data.size() != size) {
        result.error = QStringLiteral("the file changed while it was being read");
        return result;
    }
    return decodeImageData(data, params);
}

QImage thumbnail(const QString &path, int maxSide, QString *error)
{
    if (maxSide <= 0) {
        if (error)
            *error = QStringLiteral("invalid thumbnail size %1").arg(maxSide);
        return {};
    }
    DecodeParams params;
    params.targetSize = maxSide;  // short side >= maxSide: enough for any aspect ratio
    DecodedImage decoded = decodeImage(path, params);
    if (!decoded.ok()) {
        if (error)
            *error = decoded.error;
        return {};
    }
    QImage image = std::move(decoded.image);
    if (image.width() > maxSide || image.height() > maxSide)
        image = image.scaled(maxSide, maxSide, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return image.convertToFormat(image.hasAlphaChannel() ? QImage::Format_ARGB32_Premultiplied
                                                         : QImage::Format_RGB32);
}

} // namespace unisearch::media
