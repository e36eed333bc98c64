// HEIC/HEIF and AVIF through libheif: the primary image (of a burst or collection too),
// with its irot/imir/clap transforms applied by heif_decode_image (its default; EXIF
// orientation inside a HEIF is ignored, as the HEIF specification asks).
#include "media/formats_p.h"

#ifdef UNISEARCH_HAVE_LIBHEIF
#include <libheif/heif.h>

#include <QRegularExpression>

#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#endif

namespace unisearch::media::formats {

#ifdef UNISEARCH_HAVE_LIBHEIF

namespace {

struct HeifDeleter {
    void operator()(heif_context *c) const { heif_context_free(c); }
    void operator()(heif_image_handle *h) const { heif_image_handle_release(h); }
    void operator()(heif_image *i) const { heif_image_release(i); }
};
template <typename T>
using HeifPtr = std::unique_ptr<T, HeifDeleter>;

QString heifError(const heif_error &error)
{
    return QString::fromUtf8(error.message ? error.message : "unknown error").left(200);
}

QImage copyInterleaved(const heif_image *image, bool alpha)
{
    const int width = heif_image_get_width(image, heif_channel_interleaved);
    const int height = heif_image_get_height(image, heif_channel_interleaved);
    int stride = 0;
    const uint8_t *plane = heif_image_get_plane_readonly(image, heif_channel_interleaved, &stride);
    if (!plane || width <= 0 || height <= 0)
        return {};
    QImage out(width, height, alpha ? QImage::Format_RGBA8888 : QImage::Format_RGB888);
    if (out.isNull())
        return {};
    const qsizetype rowBytes = qsizetype(width) * (alpha ? 4 : 3);
    for (int y = 0; y < height; ++y)
        std::memcpy(out.scanLine(y), plane + qsizetype(y) * stride, size_t(rowBytes));
    return out;
}

// libheif 1.15 decodes a grid image (the tiled form phones write) at the size the grid's own
// descriptor gives, which it never compares with the declared (ispe) size: a 1 KB file
// declaring 48x32 had it allocate 2.3 GB for a 19789x19789 grid (found by fuzz_imagedecoder;
// tests/tst_formats heifGridLargerThanDeclaredIsRefused). Its one guard is a limit per side
// (heif_context_set_maximum_image_size_limit), checked before that allocation and reported
// with the grid's size. So a side limit that bounds the area too (the square root of
// maxPixels), or the declared longest side where that is shorter; a grid refused by it whose
// reported size is exactly the declared one (a long panorama) is decoded with its declared
// longest side as the limit, and any other is refused. Written by hand: libheif 1.15 has no
// other way to read a grid's size before decoding it.
int sideLimit(qint64 declaredLongest, qint64 maxPixels)
{
    const auto areaSide = static_cast<qint64>(std::sqrt(static_cast<double>(qMax<qint64>(1, maxPixels))));
    return int(qMin<qint64>(qMin(declaredLongest, areaSide) + 1, INT_MAX));
}

// The "WxH" of libheif's security-limit message ("Image size 19789x19789 exceeds ..."), or an
// invalid size when the message says none.
QSize refusedSize(const heif_error &error)
{
    if (error.subcode != heif_suberror_Security_limit_exceeded || !error.message)
        return {};
    static const QRegularExpression pattern(QStringLiteral("Image size (\\d{1,9})x(\\d{1,9}) exceeds"));
    const QRegularExpressionMatch m = pattern.match(QString::fromUtf8(error.message).left(200));
    return m.hasMatch() ? QSize(m.captured(1).toInt(), m.captured(2).toInt()) : QSize();
}

} // namespace

DecodedImage decodeHeif(const QByteArray &data, const DecodeParams &params)
{
    DecodedImage result;
    const bool avif = data.mid(8, 4) == "avif" || data.mid(8, 4) == "avis";
    result.format = avif ? "avif" : "heif";
    const QString name = avif ? QStringLiteral("AVIF") : QStringLiteral("HEIF");
    HeifPtr<heif_context> context(heif_context_alloc());
    heif_error error = heif_context_read_from_memory_without_copy(context.get(), data.constData(),
                                                                  size_t(data.size()), nullptr);
    if (error.code != heif_error_Ok) {
        result.error = QStringLiteral("truncated or corrupt %1 (%2)").arg(name, heifError(error));
        return result;
    }
    heif_image_handle *rawHandle = nullptr;
    error = heif_context_get_primary_image_handle(context.get(), &rawHandle);
    HeifPtr<heif_image_handle> handle(rawHandle);
    if (error.code != heif_error_Ok) {
        result.error = QStringLiteral("corrupt %1: no primary image (%2)").arg(name, heifError(error));
        return result;
    }
    // Stored (ispe) size: the pixels the decoder allocates; the handle's size is upright.
    const int storedW = heif_image_handle_get_ispe_width(handle.get());
    const int storedH = heif_image_handle_get_ispe_height(handle.get());
    result.originalSize = QSize(heif_image_handle_get_width(handle.get()), heif_image_handle_get_height(handle.get()));
    const qint64 w = qMax<qint64>(storedW, result.originalSize.width());
    const qint64 h = qMax<qint64>(storedH, result.originalSize.height());
    if (const QString tooBig = pixelLimitError(w, h, params.maxPixels); !tooBig.isEmpty()) {
        result.error = tooBig;
        return result;
    }
    if (storedW <= 0 || storedH <= 0) { // every image item must declare its size (ispe)
        result.error = QStringLiteral("corrupt %1: the image does not declare its size").arg(name);
        return result;
    }
    const bool alpha = heif_image_handle_has_alpha_channel(handle.get());
    const qint64 declaredLongest = qMax(w, h);
    heif_context_set_maximum_image_size_limit(context.get(), sideLimit(declaredLongest, params.maxPixels));
    heif_image *rawImage = nullptr;
    auto decode = [&] {
        return heif_decode_image(handle.get(), &rawImage, heif_colorspace_RGB,
                                 alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, nullptr);
    };
    error = decode();
    if (error.code != heif_error_Ok && error.subcode == heif_suberror_Security_limit_exceeded) {
        const QSize grid = refusedSize(error);
        if (grid != QSize(storedW, storedH)) {
            result.error = QStringLiteral("corrupt %1: its image grid is %2, not the %3 it declares")
                               .arg(name, grid.isValid() ? describeImageSize(grid) : QStringLiteral("larger"),
                                    describeImageSize(QSize(storedW, storedH)));
            return result;
        }
        heif_context_set_maximum_image_size_limit(context.get(), int(qMin<qint64>(declaredLongest + 1, INT_MAX)));
        error = decode();
    }
    HeifPtr<heif_image> image(rawImage);
    if (error.code != heif_error_Ok) {
        result.error = QStringLiteral("cannot decode %1 (%2)").arg(name, heifError(error));
        return result;
    }
    result.image = copyInterleaved(image.get(), alpha);
    if (result.image.isNull()) {
        result.error = QStringLiteral("cannot decode %1: the decoder gave no pixels").arg(name);
        return result;
    }
    result.originalSize = result.image.size();
    return result;
}

#else

DecodedImage decodeHeif(const QByteArray &data, const DecodeParams &)
{
    const bool avif = data.mid(8, 4) == "avif" || data.mid(8, 4) == "avis";
    return missingLibrary(avif ? "avif" : "heif", avif ? QStringLiteral("AVIF") : QStringLiteral("HEIF"),
                          QStringLiteral("libheif"), QStringLiteral("libheif-dev"));
}

#endif

} // namespace unisearch::media::formats
