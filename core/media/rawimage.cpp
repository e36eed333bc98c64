// Camera RAW through LibRaw (libraw_r, the thread-safe build): the camera's embedded
// preview when it is large enough for the model and for thumbnails, else a half-size
// demosaic (a quarter of the work of a full one, still more pixels than the model uses).
// The camera's flip is applied either way.
#include "media/formats_p.h"

#ifdef UNISEARCH_HAVE_LIBRAW
#include <libraw/libraw.h>

#include <QBuffer>
#include <QImageReader>
#include <QTransform>

#include <cstring>
#include <memory>
#endif

namespace unisearch::media::formats {

#ifdef UNISEARCH_HAVE_LIBRAW

namespace {

// LibRaw's flip (dcraw's convention): 3 = 180°, 5 = 90° counter-clockwise, 6 = 90° clockwise.
QImage applyFlip(QImage image, int flip)
{
    const int degrees = flip == 3 ? 180 : flip == 5 ? 270 : flip == 6 ? 90 : 0;
    return degrees ? image.transformed(QTransform().rotate(degrees)) : image;
}

// The embedded preview (JPEG or bitmap), upright; null when missing or unreadable.
QImage embeddedPreview(LibRaw &raw, const DecodeParams &params)
{
    const libraw_thumbnail_t &thumb = raw.imgdata.thumbnail;
    const int longEdge = qMax<int>(thumb.twidth, thumb.theight);
    const int shortEdge = qMin<int>(thumb.twidth, thumb.theight);
    if (longEdge < rawPreviewMinLongEdge || shortEdge < params.targetSize)
        return {};
    if (pixelLimitError(thumb.twidth, thumb.theight, params.maxPixels).size() || raw.unpack_thumb() != LIBRAW_SUCCESS)
        return {};
    QImage image;
    if (thumb.tformat == LIBRAW_THUMBNAIL_JPEG && thumb.thumb && thumb.tlength > 0) {
        QByteArray jpeg = QByteArray::fromRawData(thumb.thumb, qsizetype(thumb.tlength));
        QBuffer buffer(&jpeg);
        buffer.open(QIODevice::ReadOnly);
        QImageReader reader(&buffer, "jpeg");
        reader.setAutoTransform(false);  // the RAW's flip is the orientation
        const QSize size = reader.size();
        if (size.isValid() && pixelLimitError(size.width(), size.height(), params.maxPixels).isEmpty())
            image = reader.read();
    } else if (thumb.tformat == LIBRAW_THUMBNAIL_BITMAP && thumb.tcolors == 3
               && qint64(thumb.tlength) >= qint64(thumb.twidth) * thumb.theight * 3) {
        image = QImage(reinterpret_cast<const uchar *>(thumb.thumb), thumb.twidth, thumb.theight,
                       qsizetype(thumb.twidth) * 3, QImage::Format_RGB888)
                    .copy();
    }
    return image.isNull() ? image : applyFlip(std::move(image), raw.imgdata.sizes.flip);
}

// Half-size demosaic to 8-bit sRGB; LibRaw's memory image is already flipped.
QImage halfSizeDemosaic(LibRaw &raw, QString *error)
{
    raw.imgdata.params.half_size = 1;
    raw.imgdata.params.use_camera_wb = 1;
    raw.imgdata.params.output_bps = 8;
    int rc = raw.unpack();
    if (rc == LIBRAW_SUCCESS)
        rc = raw.dcraw_process();
    if (rc != LIBRAW_SUCCESS) {
        *error = QStringLiteral("truncated or corrupt camera RAW (%1)").arg(QString::fromUtf8(libraw_strerror(rc)));
        return {};
    }
    std::unique_ptr<libraw_processed_image_t, void (*)(libraw_processed_image_t *)> mem(
        raw.dcraw_make_mem_image(&rc), &LibRaw::dcraw_clear_mem);
    if (!mem || mem->type != LIBRAW_IMAGE_BITMAP || mem->colors != 3 || mem->bits != 8) {
        *error = QStringLiteral("cannot decode camera RAW (%1)").arg(QString::fromUtf8(libraw_strerror(rc)));
        return {};
    }
    return QImage(mem->data, mem->width, mem->height, qsizetype(mem->width) * 3, QImage::Format_RGB888).copy();
}

} // namespace

std::optional<DecodedImage> decodeRaw(const QByteArray &data, const DecodeParams &params, bool tiffFallback)
{
    DecodedImage result;
    result.format = "raw";
    auto raw = std::make_unique<LibRaw>(LIBRAW_OPTIONS_NONE);  // large: on the heap
    // Its default prints "unknown file: Unexpected end of file" on stderr; the error is ours to report.
    raw->set_dataerror_handler([](void *, const char *, const int) {}, nullptr);
    // LibRaw reads the buffer only; its API is not const-correct.
    const int rc = raw->open_buffer(const_cast<char *>(data.constData()), size_t(data.size()));
    if (rc != LIBRAW_SUCCESS) {
        if (tiffFallback)
            return std::nullopt;
        result.error = QStringLiteral("truncated or corrupt camera RAW (%1)").arg(QString::fromUtf8(libraw_strerror(rc)));
        return result;
    }
    // LibRaw also opens some plain TIFFs; a camera RAW names its camera or is a DNG.
    if (tiffFallback && raw->imgdata.idata.dng_version == 0 && raw->imgdata.idata.make[0] == 0)
        return std::nullopt;
    const libraw_image_sizes_t &sizes = raw->imgdata.sizes;
    const bool turned = sizes.flip == 5 || sizes.flip == 6;
    result.originalSize = turned ? QSize(sizes.height, sizes.width) : QSize(sizes.width, sizes.height);
    if (const QString tooBig = pixelLimitError(qMax(sizes.raw_width, sizes.width), qMax(sizes.raw_height, sizes.height),
                                               params.maxPixels);
        !tooBig.isEmpty()) {
        result.error = tooBig;
        return result;
    }
    result.image = embeddedPreview(*raw, params);
    if (result.image.isNull())
        result.image = halfSizeDemosaic(*raw, &result.error);
    return result;
}

#else

std::optional<DecodedImage> decodeRaw(const QByteArray &, const DecodeParams &, bool tiffFallback)
{
    if (tiffFallback)  // a DNG then goes to Qt's TIFF reader, which shows what it can
        return std::nullopt;
    return missingLibrary("raw", QStringLiteral("camera RAW"), QStringLiteral("LibRaw"), QStringLiteral("libraw-dev"));
}

#endif

} // namespace unisearch::media::formats
