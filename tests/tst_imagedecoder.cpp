// Image decoding: orientation, scaled JPEG decoding, decompression bombs, the pixel
// formats photos come in, and the bad files a library always has. Every test image is
// made here: with QImageWriter where Qt can write the format, byte by byte where it cannot
// (EXIF, CMYK JPEG, grey+alpha PNG, animated GIF, WebP header, bomb header).
#include "media/filepath.h"
#include "media/imagedecoder.h"

#include <QBuffer>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QImageReader>
#include <QImageWriter>
#include <QTemporaryDir>
#include <QtEndian>
#include <QtTest>

#include <array>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace unisearch::media;

namespace {

QByteArray encode(const QImage &image, const char *format, int quality = -1)
{
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    QImageWriter writer(&buffer, format);
    writer.setQuality(quality);
    if (!writer.write(image))
        qFatal("cannot write test image: %s", qPrintable(writer.errorString()));
    return bytes;
}

bool near(const QColor &actual, const QColor &expected, int tolerance = 12)
{
    return qAbs(actual.red() - expected.red()) <= tolerance && qAbs(actual.green() - expected.green()) <= tolerance
           && qAbs(actual.blue() - expected.blue()) <= tolerance;
}

QString describe(const QColor &c)
{
    return QStringLiteral("(%1,%2,%3,%4)").arg(c.red()).arg(c.green()).arg(c.blue()).arg(c.alpha());
}

#define QVERIFY_COLOR(actual, expected)                                                                    \
    QVERIFY2(near((actual), (expected)),                                                                   \
             qPrintable(QStringLiteral("got %1, want %2").arg(describe(actual), describe(expected))))

void appendBe16(QByteArray &out, int v)
{
    out.append(char((v >> 8) & 0xFF));
    out.append(char(v & 0xFF));
}

void appendBe32(QByteArray &out, quint32 v)
{
    appendBe16(out, int(v >> 16));
    appendBe16(out, int(v & 0xFFFF));
}

// --- PNG by hand ---------------------------------------------------------------------

quint32 crc32(const QByteArray &data)
{
    static const auto table = [] {
        std::array<quint32, 256> t{};
        for (quint32 n = 0; n < 256; ++n) {
            quint32 c = n;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }();
    quint32 c = 0xFFFFFFFFu;
    for (const char byte : data)
        c = table[(c ^ quint8(byte)) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

QByteArray pngChunk(const char *type, const QByteArray &data)
{
    QByteArray chunk;
    appendBe32(chunk, quint32(data.size()));
    const QByteArray body = QByteArray(type, 4) + data;
    chunk += body;
    appendBe32(chunk, crc32(body));
    return chunk;
}

// A PNG from raw scanlines (each already prefixed with its filter byte).
QByteArray makePng(quint32 width, quint32 height, int bitDepth, int colorType, const QByteArray &scanlines)
{
    QByteArray ihdr;
    appendBe32(ihdr, width);
    appendBe32(ihdr, height);
    ihdr.append(char(bitDepth));
    ihdr.append(char(colorType));
    ihdr.append(3, '\0');  // compression, filter, interlace
    const QByteArray zlib = qCompress(scanlines).mid(4);  // qCompress prefixes the length
    return QByteArray("\x89PNG\r\n\x1a\n", 8) + pngChunk("IHDR", ihdr) + pngChunk("IDAT", zlib)
           + pngChunk("IEND", {});
}

// --- JPEG by hand --------------------------------------------------------------------

// EXIF APP1 segment holding only an Orientation tag (big-endian TIFF), inserted after SOI.
QByteArray withExifOrientation(const QByteArray &jpeg, int orientation)
{
    QByteArray tiff("MM\x00\x2A", 4);
    appendBe32(tiff, 8);        // offset of IFD0
    appendBe16(tiff, 1);        // one entry
    appendBe16(tiff, 0x0112);   // Orientation
    appendBe16(tiff, 3);        // SHORT
    appendBe32(tiff, 1);        // count
    appendBe16(tiff, orientation);
    appendBe16(tiff, 0);        // value padding
    appendBe32(tiff, 0);        // no next IFD
    const QByteArray payload = QByteArray("Exif\0\0", 6) + tiff;
    QByteArray app1("\xFF\xE1", 2);
    appendBe16(app1, int(payload.size() + 2));
    app1 += payload;
    Q_ASSERT(jpeg.startsWith("\xFF\xD8"));
    return jpeg.left(2) + app1 + jpeg.mid(2);
}

// A baseline JPEG in Adobe CMYK (four components, inverted as Photoshop stores them),
// 8 pixels high, one flat 8×8 block per given colour from left to right. Qt cannot write
// CMYK before 6.8 (Format_CMYK8888), so this builds one: only DC coefficients (flat
// blocks), quantiser 8 so the DC value is the sample minus 128 exactly, the standard DC
// Huffman table and an AC table whose only code is end-of-block.
QByteArray cmykJpeg(const QList<std::array<int, 4>> &blocksCmyk)
{
    QByteArray out("\xFF\xD8", 2);
    out += QByteArray("\xFF\xEE\x00\x0E" "Adobe" "\x00\x64\x00\x00\x00\x00\x00", 16);  // transform 0: CMYK
    out += QByteArray("\xFF\xDB\x00\x43\x00", 5) + QByteArray(64, '\x08');
    QByteArray sof("\xFF\xC0\x00\x14\x08", 5);
    appendBe16(sof, 8);
    appendBe16(sof, int(8 * blocksCmyk.size()));
    sof += QByteArray("\x04\x01\x11\x00\x02\x11\x00\x03\x11\x00\x04\x11\x00", 13);
    out += sof;
    const char dcBits[16] = {0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    out += QByteArray("\xFF\xC4\x00\x1F\x00", 5) + QByteArray(dcBits, 16)
           + QByteArray("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B", 12);
    out += QByteArray("\xFF\xC4\x00\x14\x10\x01", 6) + QByteArray(15, '\0') + QByteArray(1, '\0');
    out += QByteArray("\xFF\xDA\x00\x0E\x04\x01\x00\x02\x00\x03\x00\x04\x00\x00\x3F\x00", 16);

    // DC Huffman codes (code, length) for categories 0..11 of the standard luminance table.
    static const int dcCode[12][2] = {{0b00, 2},     {0b010, 3},     {0b011, 3},       {0b100, 3},
                                      {0b101, 3},    {0b110, 3},     {0b1110, 4},      {0b11110, 5},
                                      {0b111110, 6}, {0b1111110, 7}, {0b11111110, 8}, {0b111111110, 9}};
    QByteArray data;
    quint32 acc = 0;
    int nbits = 0;
    auto put = [&](quint32 bits, int count) {
        for (int i = count - 1; i >= 0; --i) {
            acc = (acc << 1) | ((bits >> i) & 1);
            if (++nbits == 8) {
                data.append(char(acc));
                if (acc == 0xFF)
                    data.append('\0');  // byte stuffing
                acc = 0;
                nbits = 0;
            }
        }
    };
    std::array<int, 4> predictor{};
    for (const auto &cmyk : blocksCmyk) {
        for (int k = 0; k < 4; ++k) {
            const int dc = (255 - cmyk[k]) - 128;  // Adobe stores CMYK inverted
            const int diff = dc - predictor[k];
            predictor[k] = dc;
            int magnitude = qAbs(diff), category = 0;
            while (magnitude) {
                ++category;
                magnitude >>= 1;
            }
            put(quint32(dcCode[category][0]), dcCode[category][1]);
            if (category)
                put(quint32(diff >= 0 ? diff : diff + (1 << category) - 1), category);
            put(0, 1);  // AC: end of block
        }
    }
    if (nbits)
        put(0x7F, 8 - nbits);  // pad with ones
    out += data;
    out += QByteArray("\xFF\xD9", 2);
    return out;
}

// --- GIF by hand ---------------------------------------------------------------------

// A 4×4 animated GIF (looping, two frames: red, then green). Qt reads GIFs but cannot
// write them. The LZW stream sends a clear code before every pixel, so the code width
// stays at 3 bits and no dictionary is needed.
QByteArray twoFrameGif()
{
    QByteArray gif("GIF89a\x04\x00\x04\x00\x91\x00\x00", 13);
    gif += QByteArray("\xFF\x00\x00" "\x00\xFF\x00" "\x00\x00\xFF" "\xFF\xFF\xFF", 12);
    gif += QByteArray("\x21\xFF\x0B" "NETSCAPE2.0" "\x03\x01\x00\x00\x00", 19);
    for (int colour : {0, 1}) {
        gif += QByteArray("\x21\xF9\x04\x00\x0A\x00\x00\x00", 8);              // 0.1 s per frame
        gif += QByteArray("\x2C\x00\x00\x00\x00\x04\x00\x04\x00\x00", 10);     // full-frame descriptor
        QByteArray lzw;
        quint32 acc = 0;
        int nbits = 0;
        auto put = [&](int code) {  // GIF packs codes least significant bit first
            acc |= quint32(code) << nbits;
            nbits += 3;
            while (nbits >= 8) {
                lzw.append(char(acc & 0xFF));
                acc >>= 8;
                nbits -= 8;
            }
        };
        for (int i = 0; i < 16; ++i) {
            put(4);  // clear
            put(colour);
        }
        put(5);  // end of information
        if (nbits)
            lzw.append(char(acc & 0xFF));
        gif.append('\x02');  // LZW minimum code size
        gif.append(char(lzw.size()));
        gif += lzw;
        gif.append('\0');
    }
    gif.append(';');
    return gif;
}

// Whether this process reads files regardless of their mode (root).
bool ignoresPermissions(const QString &path)
{
    const int fd = ::open(encodeFileName(path).constData(), O_RDONLY);
    if (fd < 0)
        return false;
    ::close(fd);
    return true;
}

} // namespace

class TestImageDecoder : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_tmp;

    QString write(const QString &name, const QByteArray &bytes)
    {
        const QString path = m_tmp.filePath(name);
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size())
            qFatal("cannot write %s", qPrintable(path));
        return path;
    }

    // 64×32 landscape, a red 16×16 square in the top-left corner, blue elsewhere.
    static QImage cornerImage()
    {
        QImage image(64, 32, QImage::Format_RGB32);
        image.fill(Qt::blue);
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x)
                image.setPixel(x, y, qRgb(255, 0, 0));
        return image;
    }

private slots:
    void initTestCase() { QVERIFY(m_tmp.isValid()); }

    void exifOrientation()
    {
        const QByteArray plain = encode(cornerImage(), "jpeg", 95);
        const QString path = write(QStringLiteral("rotated.jpg"), withExifOrientation(plain, 6));

        // Without the tag: as stored.
        const DecodedImage upright = decodeImageData(plain, {0});
        QVERIFY2(upright.ok(), qPrintable(upright.error));
        QCOMPARE(upright.image.size(), QSize(64, 32));
        QVERIFY_COLOR(upright.image.pixelColor(8, 8), QColor(Qt::red));

        // Orientation 6 = rotate 90° clockwise to display: the top-left corner moves to the
        // top-right, and the image turns portrait.
        DecodeParams full;
        full.targetSize = 0;
        const DecodedImage rotated = decodeImage(path, full);
        QVERIFY2(rotated.ok(), qPrintable(rotated.error));
        QCOMPARE(rotated.image.size(), QSize(32, 64));
        QCOMPARE(rotated.originalSize, QSize(32, 64));
        QVERIFY_COLOR(rotated.image.pixelColor(24, 8), QColor(Qt::red));
        QVERIFY_COLOR(rotated.image.pixelColor(8, 8), QColor(Qt::blue));
        QVERIFY_COLOR(rotated.image.pixelColor(8, 56), QColor(Qt::blue));

        // Scaled and rotated together: the scale applies to the stored image (short side
        // 32 -> 16 at 4/8), the rotation after it; originalSize stays the full size.
        DecodeParams small;
        small.targetSize = 16;
        const DecodedImage both = decodeImage(path, small);
        QVERIFY2(both.ok(), qPrintable(both.error));
        QCOMPARE(both.image.size(), QSize(16, 32));
        QCOMPARE(both.originalSize, QSize(32, 64));
        QVERIFY_COLOR(both.image.pixelColor(12, 4), QColor(Qt::red));

        const QImage thumb = thumbnail(path, 20);
        QCOMPARE(thumb.size(), QSize(10, 20));  // portrait, long side 20
        QCOMPARE(thumb.format(), QImage::Format_RGB32);
        QVERIFY_COLOR(thumb.pixelColor(8, 2), QColor(Qt::red));
    }

    void scaledDecodingOfLargeJpeg()
    {
        // A 12 MP photo-like image: four coloured quadrants with a gradient and texture.
        QImage image(4000, 3000, QImage::Format_RGB32);
        for (int y = 0; y < image.height(); ++y) {
            auto *line = reinterpret_cast<QRgb *>(image.scanLine(y));
            for (int x = 0; x < image.width(); ++x) {
                const int texture = ((x * 13) ^ (y * 7)) & 15;
                const bool right = x >= 2000, bottom = y >= 1500;
                const int r = right ? 200 : 30, g = bottom ? 190 : 40, b = (right != bottom) ? 180 : 20;
                line[x] = qRgb(r + texture, g + texture, b + texture);
            }
        }
        const QString path = write(QStringLiteral("large.jpg"), encode(image, "jpeg", 90));

        QElapsedTimer timer;
        timer.start();
        DecodeParams fullSize;
        fullSize.targetSize = 0;
        const DecodedImage full = decodeImage(path, fullSize);
        const qint64 fullMs = timer.restart();
        const DecodedImage scaled = decodeImage(path);  // targetSize 384
        const qint64 scaledMs = timer.elapsed();
        qInfo("4000x3000 JPEG: full decode %lld ms, scaled decode to %dx%d %lld ms", fullMs, scaled.image.width(),
              scaled.image.height(), scaledMs);

        QVERIFY2(full.ok(), qPrintable(full.error));
        QCOMPARE(full.image.size(), QSize(4000, 3000));
        QVERIFY2(scaled.ok(), qPrintable(scaled.error));
        QCOMPARE(scaled.originalSize, QSize(4000, 3000));
        const int shortSide = qMin(scaled.image.width(), scaled.image.height());
        QVERIFY(shortSide >= 384);   // the model's preprocessing still downsamples
        QVERIFY(shortSide < 3000);
        QVERIFY(shortSide <= 2 * 384); // and decoding did shrink it substantially
        QCOMPARE(scaled.image.width() * 3, scaled.image.height() * 4);  // aspect kept
        const int w = scaled.image.width(), h = scaled.image.height();
        QVERIFY_COLOR(scaled.image.pixelColor(w / 4, h / 4), QColor(37, 47, 27));
        QVERIFY_COLOR(scaled.image.pixelColor(3 * w / 4, 3 * h / 4), QColor(207, 197, 27));
        QVERIFY_COLOR(scaled.image.pixelColor(3 * w / 4, h / 4), QColor(207, 47, 187));
    }

    void decompressionBomb()
    {
        // A valid PNG header claiming 100000×100000 (10 gigapixels), followed by a few
        // bytes of image data: refused from the header, before anything is allocated.
        QByteArray ihdr;
        appendBe32(ihdr, 100000);
        appendBe32(ihdr, 100000);
        ihdr += QByteArray("\x08\x02\x00\x00\x00", 5);
        const QByteArray bomb = QByteArray("\x89PNG\r\n\x1a\n", 8) + pngChunk("IHDR", ihdr)
                                + pngChunk("IDAT", qCompress(QByteArray(1000, '\0')).mid(4)) + pngChunk("IEND", {});
        const QString path = write(QStringLiteral("bomb.png"), bomb);

        QElapsedTimer timer;
        timer.start();
        const DecodedImage result = decodeImage(path);
        QVERIFY(!result.ok());
        QVERIFY(timer.elapsed() < 1000);
        QCOMPARE(result.error, QStringLiteral("image is 100000\u00d7100000 (10000 MP), above the 200 MP limit"));
        QCOMPARE(result.originalSize, QSize(100000, 100000));

        // The limit is a parameter: a small image over a small limit is refused the same way.
        DecodeParams strict;
        strict.maxPixels = 1000;
        const DecodedImage refused = decodeImageData(encode(cornerImage(), "png"), strict);
        QVERIFY(!refused.ok());
        QCOMPARE(refused.error, QStringLiteral("image is 64\u00d732 (2048 pixels), above the 1000 pixels limit"));
        // And an image under the limit is fine.
        strict.maxPixels = 64 * 32;
        QVERIFY(decodeImageData(encode(cornerImage(), "png"), strict).ok());
    }

    void gifScreenWiderThanQtReports()
    {
        // For a GIF whose logical screen is 16384 or more pixels wide, Qt's reader reports
        // the first frame's width as the image's, then decodes onto the whole screen: a
        // 4x4 frame on a 20000x100 screen passed the header check as 4x100 and came back
        // as 2 MP over a 1 MP limit (found by fuzz_imagedecoder).
        QByteArray gif = twoFrameGif();
        qToLittleEndian<quint16>(20000, gif.data() + 6);
        qToLittleEndian<quint16>(100, gif.data() + 8);
        DecodeParams params;
        params.maxPixels = 1'000'000;
        const DecodedImage result = decodeImageData(gif, params);
        QVERIFY2(!result.ok(), qPrintable(QStringLiteral("decoded %1x%2").arg(result.image.width()).arg(result.image.height())));
        QVERIFY2(result.error.contains(QStringLiteral("above the")), qPrintable(result.error));
    }

    void cmykJpeg()
    {
        // Cyan block, then magenta block (C, M, Y, K in 0..255).
        const QByteArray jpeg = ::cmykJpeg({{255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 0, 128}});
        const DecodedImage result = decodeImageData(jpeg);
        QVERIFY2(result.ok(), qPrintable(result.error));
        QCOMPARE(result.format, QByteArray("jpeg"));
        QCOMPARE(result.image.size(), QSize(24, 8));
        QVERIFY_COLOR(result.image.pixelColor(3, 3), QColor(0, 255, 255));
        QVERIFY_COLOR(result.image.pixelColor(11, 3), QColor(255, 0, 255));
        QVERIFY_COLOR(result.image.pixelColor(19, 3), QColor(127, 127, 127));  // K 50 %
    }

    void sixteenBitPng()
    {
        QImage image(8, 8, QImage::Format_RGBA64);
        image.fill(QColor::fromRgba64(0x1234, 0xABCD, 0xFEDC, 0x8000));
        const DecodedImage result = decodeImageData(encode(image, "png"));
        QVERIFY2(result.ok(), qPrintable(result.error));
        QCOMPARE(result.image.depth(), 64);  // kept at 16 bits per channel
        const QRgba64 pixel = result.image.pixelColor(2, 2).rgba64();
        QCOMPARE(pixel.red(), quint16(0x1234));  // precision beyond 8 bits survived
        QCOMPARE(pixel.green(), quint16(0xABCD));
        QCOMPARE(pixel.alpha(), quint16(0x8000));

        QImage grey16(8, 8, QImage::Format_Grayscale16);
        grey16.fill(QColor::fromRgba64(0x4321, 0x4321, 0x4321));
        const DecodedImage g = decodeImageData(encode(grey16, "png"));
        QVERIFY2(g.ok(), qPrintable(g.error));
        QCOMPARE(g.image.format(), QImage::Format_Grayscale16);
    }

    void palettedPng()
    {
        QImage image(16, 4, QImage::Format_Indexed8);
        image.setColorTable({qRgb(255, 0, 0), qRgb(0, 128, 0), qRgb(0, 0, 255)});
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 16; ++x)
                image.setPixel(x, y, x < 8 ? 0 : 2);
        const DecodedImage result = decodeImageData(encode(image, "png"));
        QVERIFY2(result.ok(), qPrintable(result.error));
        QCOMPARE(result.image.format(), QImage::Format_Indexed8);
        QCOMPARE(result.image.pixelColor(2, 2), QColor(255, 0, 0));
        QCOMPARE(result.image.pixelColor(12, 2), QColor(0, 0, 255));
    }

    void greyAndAlpha()
    {
        QImage grey(8, 8, QImage::Format_Grayscale8);
        grey.fill(QColor(90, 90, 90));
        for (const char *format : {"png", "jpeg"}) {
            const DecodedImage result = decodeImageData(encode(grey, format));
            QVERIFY2(result.ok(), qPrintable(result.error));
            QCOMPARE(result.image.format(), QImage::Format_Grayscale8);
            QVERIFY_COLOR(result.image.pixelColor(4, 4), QColor(90, 90, 90));
        }

        // Grey + alpha (PNG colour type 4): Qt cannot write it, so build it.
        // Two pixels: grey 200 opaque, grey 50 fully transparent.
        const QByteArray scanline("\x00\xC8\xFF\x32\x00", 5);
        const DecodedImage ga = decodeImageData(makePng(2, 1, 8, 4, scanline));
        QVERIFY2(ga.ok(), qPrintable(ga.error));
        QVERIFY(ga.image.hasAlphaChannel());
        QCOMPARE(ga.image.pixelColor(0, 0), QColor(200, 200, 200, 255));
        QCOMPARE(ga.image.pixelColor(1, 0).alpha(), 0);

        QImage rgba(4, 4, QImage::Format_ARGB32);
        rgba.fill(QColor(10, 200, 30, 128));
        const DecodedImage a = decodeImageData(encode(rgba, "png"));
        QVERIFY2(a.ok(), qPrintable(a.error));
        QVERIFY(a.image.hasAlphaChannel());
        QCOMPARE(a.image.pixelColor(1, 1), QColor(10, 200, 30, 128));
    }

    void animatedGifGivesFirstFrame()
    {
        const QString path = write(QStringLiteral("anim.gif"), twoFrameGif());
        QImageReader check(path);  // the test file really has two frames
        QCOMPARE(check.imageCount(), 2);
        QCOMPARE(check.read().pixelColor(1, 1), QColor(255, 0, 0));
        QCOMPARE(check.read().pixelColor(1, 1), QColor(0, 255, 0));

        const DecodedImage result = decodeImage(path);
        QVERIFY2(result.ok(), qPrintable(result.error));
        QCOMPARE(result.format, QByteArray("gif"));
        QCOMPARE(result.image.size(), QSize(4, 4));
        QCOMPARE(result.image.pixelColor(1, 1), QColor(255, 0, 0));
    }

    void badFiles()
    {
        const QByteArray jpeg = encode(cornerImage(), "jpeg", 90);

        const DecodedImage empty = decodeImage(write(QStringLiteral("empty.jpg"), {}));
        QVERIFY(!empty.ok());
        QCOMPARE(empty.error, QStringLiteral("empty file (0 bytes)"));

        // Cut inside the headers, and cut inside the compressed data of a textured photo
        // (which Qt alone would "decode", filling the missing half with grey).
        const DecodedImage truncated = decodeImage(write(QStringLiteral("half.jpg"), jpeg.left(jpeg.size() / 2)));
        QVERIFY(!truncated.ok());
        QVERIFY2(truncated.error.startsWith(QLatin1String("truncated or corrupt JPEG")), qPrintable(truncated.error));
        QImage texture(256, 256, QImage::Format_RGB32);
        for (int y = 0; y < texture.height(); ++y)
            for (int x = 0; x < texture.width(); ++x)
                texture.setPixel(x, y, qRgb((x * 37) & 255, (y * 91) & 255, (x * y) & 255));
        const QByteArray photo = encode(texture, "jpeg", 90);
        QVERIFY(decodeImageData(photo).ok());
        const DecodedImage cut = decodeImage(write(QStringLiteral("cut.jpg"), photo.left(photo.size() / 2)));
        QVERIFY(!cut.ok());
        QCOMPARE(cut.error, QStringLiteral("truncated or corrupt JPEG: the file ends before the image data does"));

        // An EXIF thumbnail carries its own end marker; it must not hide the truncation.
        const QByteArray withThumb = withExifOrientation(jpeg, 1).insert(2, QByteArray("\xFF\xE1\x00\x06\xFF\xD8\xFF\xD9", 8));
        QVERIFY(decodeImageData(withThumb).ok());
        QVERIFY(!decodeImageData(withThumb.left(withThumb.size() - 40)).ok());
        // Data after the end marker (camera trailers) is fine.
        QVERIFY(decodeImageData(jpeg + QByteArray(100, 'x')).ok());

        const DecodedImage text = decodeImage(write(QStringLiteral("notes.jpg"), "Dear diary, today I took no photos.\n"));
        QVERIFY(!text.ok());
        QVERIFY2(text.error.startsWith(QLatin1String("not an image (the content is")), qPrintable(text.error));
        QVERIFY(text.error.contains(QLatin1String("text/plain")));

        QByteArray noise(2048, Qt::Uninitialized);
        for (int i = 0; i < noise.size(); ++i)
            noise[i] = char((i * 7919 + 13) % 251);
        const DecodedImage junk = decodeImage(write(QStringLiteral("junk.png"), noise));
        QCOMPARE(junk.error, QStringLiteral("not an image (unrecognised content)"));

        // A PNG whose pixel data is garbage.
        QByteArray corruptPng = encode(cornerImage(), "png");
        for (qsizetype i = 60; i < corruptPng.size() - 20; ++i)
            corruptPng[i] = char(corruptPng[i] ^ 0x5A);
        const DecodedImage corrupt = decodeImageData(corruptPng);
        QVERIFY(!corrupt.ok());
        QVERIFY2(corrupt.error.startsWith(QLatin1String("truncated or corrupt PNG")), qPrintable(corrupt.error));

        const DecodedImage missing = decodeImage(m_tmp.filePath(QStringLiteral("absent.jpg")));
        QCOMPARE(missing.error, QStringLiteral("cannot open: file not found"));
        const DecodedImage directory = decodeImage(m_tmp.path());
        QCOMPARE(directory.error, QStringLiteral("cannot open: is a directory"));

        // WebP: Qt's WebP plugin is optional; without it the error says so.
        QByteArray webp("RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00", 20);
        webp += QByteArray(14, '\0');
        const DecodedImage w = decodeImageData(webp);
        QVERIFY(!w.ok());
        if (!QImageReader::supportedMimeTypes().contains("image/webp")) {
            QVERIFY2(w.error.contains(QLatin1String("image/webp")) && w.error.contains(QLatin1String("no Qt image plugin"))
                         && w.error.contains(QLatin1String("qt6-image-formats-plugins")),
                     qPrintable(w.error));
        }
    }

    void unreadableFile()
    {
        const QString path = write(QStringLiteral("private.jpg"), encode(cornerImage(), "jpeg"));
        QVERIFY(::chmod(encodeFileName(path).constData(), 0) == 0);
        const DecodedImage result = decodeImage(path);
        if (ignoresPermissions(path)) {
            // Running as root: mode 000 does not stop reading, so it decodes.
            QVERIFY2(result.ok(), qPrintable(result.error));
        } else {
            QVERIFY(!result.ok());
            QCOMPARE(result.error, QStringLiteral("cannot open: permission denied"));
        }
        QString error;
        const QImage thumb = thumbnail(path, 16, &error);
        QCOMPARE(thumb.isNull(), !result.ok());
        QCOMPARE(error, result.error);
    }
};

QTEST_GUILESS_MAIN(TestImageDecoder)
#include "tst_imagedecoder.moc"
