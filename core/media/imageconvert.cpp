#include "media/imageconvert.h"

#include <QImage>

#include <cstring>

namespace unisearch::media {

RgbImage toRgbImage(const QImage &image)
{
    RgbImage out;
    if (image.isNull())
        return out;
    const int w = image.width();
    const int h = image.height();
    out.width = w;
    out.height = h;
    out.rgb.resize(size_t(w) * size_t(h) * 3);
    uint8_t *dst = out.rgb.data();

    switch (image.format()) {
    case QImage::Format_RGB888:
        for (int y = 0; y < h; ++y, dst += size_t(w) * 3)
            std::memcpy(dst, image.constScanLine(y), size_t(w) * 3);
        return out;
    case QImage::Format_RGB32:
    case QImage::Format_ARGB32: // unpremultiplied: the stored RGB is the file's RGB
        for (int y = 0; y < h; ++y) {
            const auto *px = reinterpret_cast<const QRgb *>(image.constScanLine(y));
            for (int x = 0; x < w; ++x, dst += 3) {
                dst[0] = uint8_t(qRed(px[x]));
                dst[1] = uint8_t(qGreen(px[x]));
                dst[2] = uint8_t(qBlue(px[x]));
            }
        }
        return out;
    case QImage::Format_RGBX8888:
    case QImage::Format_RGBA8888:
        for (int y = 0; y < h; ++y) {
            const uchar *px = image.constScanLine(y);
            for (int x = 0; x < w; ++x, dst += 3, px += 4) {
                dst[0] = px[0];
                dst[1] = px[1];
                dst[2] = px[2];
            }
        }
        return out;
    case QImage::Format_Grayscale8:
        for (int y = 0; y < h; ++y) {
            const uchar *px = image.constScanLine(y);
            for (int x = 0; x < w; ++x, dst += 3)
                dst[0] = dst[1] = dst[2] = px[x];
        }
        return out;
    case QImage::Format_Indexed8: {
        // Colour tables hold unpremultiplied ARGB: take the palette's RGB, ignore alpha.
        const QList<QRgb> table = image.colorTable();
        for (int y = 0; y < h; ++y) {
            const uchar *px = image.constScanLine(y);
            for (int x = 0; x < w; ++x, dst += 3) {
                const QRgb c = px[x] < table.size() ? table[px[x]] : qRgb(0, 0, 0);
                dst[0] = uint8_t(qRed(c));
                dst[1] = uint8_t(qGreen(c));
                dst[2] = uint8_t(qBlue(c));
            }
        }
        return out;
    }
    default:
        break;
    }

    // Everything else (mono, 16-bit, float, premultiplied, BGR...) goes through Qt's own
    // conversion to an unpremultiplied 8-bit format, which never composites alpha away.
    const QImage converted = image.convertToFormat(QImage::Format_RGBA8888);
    if (converted.isNull())
        return RgbImage{};
    return toRgbImage(converted);
}

} // namespace unisearch::media
