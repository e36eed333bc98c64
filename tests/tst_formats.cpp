// Photo formats beyond Qt's: HEIC and AVIF (libheif), JPEG XL (libjxl), camera RAW (LibRaw).
// The files are made here: heif-enc and cjxl (Debian's tools) encode a picture of four
// coloured quadrants, a rotated HEIC is written through libheif's API (heif-enc 1.15 copies a
// JPEG's EXIF orientation but writes no irot, checked with heif-info), and a linear-raw DNG
// by a small TIFF writer below. Each is decoded upright with its quadrants' colours,
// thumbnailed, indexed, found by search and similar, counted by status and asked about with
// the fixture VQA model; a corrupt HEIC and a truncated DNG give a clear reason while the
// rest of the folder is indexed.
#include "media/imagedecoder.h"
#include "media/mediatype.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"

#include <QDir>
#include <algorithm>
#include <QFile>
#include <QImage>
#include <QJsonDocument>
#include <QJsonArray>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtEndian>
#include <QtTest>

#ifdef UNISEARCH_HAVE_LIBHEIF
#include <libheif/heif.h>
#endif

#include <sys/resource.h>

using namespace unisearch;

namespace {

const QList<QColor> quadrantColours = {Qt::red, Qt::green, Qt::blue, Qt::yellow};  // TL, TR, BL, BR

QImage quadrants(int w, int h)
{
    QImage image(w, h, QImage::Format_RGB32);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            image.setPixelColor(x, y, quadrantColours[(y >= h / 2 ? 2 : 0) + (x >= w / 2 ? 1 : 0)]);
    return image;
}

// The mean colour of a quadrant's inner half (away from edges that lossy coding blurs).
QColor quadrantMean(const QImage &image, int q)
{
    const int w = image.width() / 2, h = image.height() / 2;
    const int x0 = (q % 2) * w + w / 4, y0 = (q / 2) * h + h / 4;
    double r = 0, g = 0, b = 0;
    int n = 0;
    for (int y = y0; y < y0 + h / 2; ++y)
        for (int x = x0; x < x0 + w / 2; ++x, ++n) {
            const QColor c = image.pixelColor(x, y);
            r += c.red(), g += c.green(), b += c.blue();
        }
    return n ? QColor(int(r / n), int(g / n), int(b / n)) : QColor();
}

// Every quadrant within 60 of its colour in each channel (lossy coding and a RAW's colour
// pipeline move them a little; a swapped, mirrored or rotated picture moves them by 255).
QString quadrantMismatch(const QImage &image)
{
    for (int q = 0; q < 4; ++q) {
        const QColor got = quadrantMean(image, q), want = quadrantColours[q];
        if (std::abs(got.red() - want.red()) > 60 || std::abs(got.green() - want.green()) > 60
            || std::abs(got.blue() - want.blue()) > 60)
            return QStringLiteral("quadrant %1 is %2, expected %3").arg(q).arg(got.name(), want.name());
    }
    return {};
}

bool runTool(const QString &program, const QStringList &args, QString *output)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(program, args);
    const bool ok = p.waitForFinished(120000) && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
    *output = QString::fromLocal8Bit(p.readAll());
    return ok;
}

struct TiffEntry {
    quint16 tag, type;
    quint32 count;
    QByteArray data;
};

QByteArray le16s(std::initializer_list<quint16> values)
{
    QByteArray b;
    for (quint16 v : values)
        b.append(char(v & 0xFF)).append(char(v >> 8));
    return b;
}

QByteArray le32s(std::initializer_list<qint32> values)
{
    QByteArray b;
    for (qint32 v : values)
        for (int i = 0; i < 4; ++i)
            b.append(char((quint32(v) >> (8 * i)) & 0xFF));
    return b;
}

// One IFD placed at offset at: its entries, the next-IFD link (none), then the values that
// do not fit in an entry. Its size does not depend on the values.
QByteArray tiffIfd(const QList<TiffEntry> &entries, quint32 at)
{
    QByteArray ifd = le16s({quint16(entries.size())}), extra;
    const quint32 extraStart = at + 2 + 12 * quint32(entries.size()) + 4;
    for (const TiffEntry &e : entries) {
        ifd += le16s({e.tag, e.type}) + le32s({qint32(e.count)});
        if (e.data.size() <= 4) {
            ifd += e.data + QByteArray(4 - e.data.size(), '\0');
        } else {
            ifd += le32s({qint32(extraStart + quint32(extra.size()))});
            extra += e.data;
            if (extra.size() % 2)
                extra += '\0';
        }
    }
    return ifd + le32s({0}) + extra;
}

QByteArray samples(const QImage &image, bool sixteenBit)
{
    QByteArray pixels;
    for (int y = 0; y < image.height(); ++y)
        for (int x = 0; x < image.width(); ++x) {
            const QColor c = image.pixelColor(x, y);
            for (int v : {c.red(), c.green(), c.blue()}) {
                if (sixteenBit)
                    pixels += le16s({quint16(v ? 65535 : 0)});  // the quadrants are pure 0/255: linear = sRGB
                else
                    pixels.append(char(v));
            }
        }
    return pixels;
}

// A minimal linear-raw DNG (DNG 1.4, PhotometricInterpretation 34892): 16-bit linear sRGB
// samples, ColorMatrix1 the XYZ(D65)->linear-sRGB matrix, so LibRaw's pipeline maps the
// camera colours back to sRGB; with a preview, IFD 0 is that 8-bit RGB picture (as cameras
// write it) and the raw is its SubIFD. Hand-written: no Debian tool writes a DNG from pixels.
QByteArray linearDng(const QImage &image, const QImage &preview = {})
{
    const QByteArray raw = samples(image, true), small = preview.isNull() ? QByteArray() : samples(preview, false);
    QByteArray matrix;
    for (double v : {3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570})
        matrix += le32s({qint32(std::lround(v * 10000)), 10000});
    const QByteArray make("Unisearch\0", 10), model("Test DNG\0", 9), unique("Unisearch Test DNG\0", 19);
    auto imageEntries = [](const QImage &img, quint16 bits, quint16 photometric, quint32 type, quint32 stripAt,
                           qint32 stripSize) {
        return QList<TiffEntry>{{254, 4, 1, le32s({qint32(type)})}, {256, 4, 1, le32s({img.width()})},
                                {257, 4, 1, le32s({img.height()})}, {258, 3, 3, le16s({bits, bits, bits})},
                                {259, 3, 1, le16s({1})}, {262, 3, 1, le16s({photometric})},
                                {273, 4, 1, le32s({qint32(stripAt)})}, {277, 3, 1, le16s({3})},
                                {278, 4, 1, le32s({img.height()})}, {279, 4, 1, le32s({stripSize})},
                                {284, 3, 1, le16s({1})}};
    };
    const QList<TiffEntry> dngTags = {{271, 2, quint32(make.size()), make}, {272, 2, quint32(model.size()), model},
                                      {274, 3, 1, le16s({1})}, {50706, 1, 4, QByteArray("\x01\x04\x00\x00", 4)},
                                      {50708, 2, quint32(unique.size()), unique}, {50721, 10, 9, matrix},
                                      {50728, 5, 3, le32s({1, 1, 1, 1, 1, 1})}, {50778, 3, 1, le16s({21})}};
    auto sorted = [](QList<TiffEntry> e) {
        std::sort(e.begin(), e.end(), [](const TiffEntry &a, const TiffEntry &b) { return a.tag < b.tag; });
        return e;
    };
    // The raw's IFD; without a preview it is IFD 0 and carries the DNG tags itself.
    auto rawIfd = [&](quint32 rawAt) {
        QList<TiffEntry> e = imageEntries(image, 16, 34892, 0, rawAt, qint32(raw.size()));
        e.append({50717, 4, 1, le32s({65535})});
        return sorted(preview.isNull() ? e + dngTags : e);
    };
    if (preview.isNull()) {
        const quint32 rawAt = 8 + quint32(tiffIfd(rawIfd(0), 8).size());
        return QByteArray("II*\0\x08\0\0\0", 8) + tiffIfd(rawIfd(rawAt), 8) + raw;
    }
    // Sizes first (they do not depend on the offsets), then the placed IFDs.
    auto ifd0 = [&](quint32 subAt, quint32 previewAt) {
        QList<TiffEntry> e = imageEntries(preview, 8, 2, 1, previewAt, qint32(small.size())) + dngTags;
        e.append({330, 4, 1, le32s({qint32(subAt)})});
        return sorted(e);
    };
    const quint32 subAt = 8 + quint32(tiffIfd(ifd0(0, 0), 8).size());
    const quint32 previewAt = subAt + quint32(tiffIfd(rawIfd(0), subAt).size());
    const quint32 rawAt = previewAt + quint32(small.size());
    return QByteArray("II*\0\x08\0\0\0", 8) + tiffIfd(ifd0(subAt, previewAt), 8) + tiffIfd(rawIfd(rawAt), subAt) + small
           + raw;
}

bool writeFile(const QString &path, const QByteArray &data)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(data) == data.size();
}

#ifdef UNISEARCH_HAVE_LIBHEIF
// A HEIC whose stored pixels are the upright picture turned 90° counter-clockwise, with
// an irot (written by libheif for image_orientation 6, "rotate 90° clockwise to display").
QString writeRotatedHeic(const QImage &upright, const QString &path)
{
    const QImage stored = upright.transformed(QTransform().rotate(-90)).convertToFormat(QImage::Format_RGB888);
    heif_image *image = nullptr;
    heif_image_create(stored.width(), stored.height(), heif_colorspace_RGB, heif_chroma_interleaved_RGB, &image);
    heif_image_add_plane(image, heif_channel_interleaved, stored.width(), stored.height(), 8);
    int stride = 0;
    uint8_t *plane = heif_image_get_plane(image, heif_channel_interleaved, &stride);
    for (int y = 0; y < stored.height(); ++y)
        std::memcpy(plane + qsizetype(y) * stride, stored.constScanLine(y), size_t(stored.width()) * 3);
    heif_context *context = heif_context_alloc();
    heif_encoder *encoder = nullptr;
    heif_error error = heif_context_get_encoder_for_format(context, heif_compression_HEVC, &encoder);
    QString message;
    if (error.code == heif_error_Ok) {
        heif_encoder_set_lossy_quality(encoder, 90);
        heif_encoding_options *options = heif_encoding_options_alloc();
        options->image_orientation = heif_orientation_rotate_90_cw;
        error = heif_context_encode_image(context, image, encoder, options, nullptr);
        heif_encoding_options_free(options);
        heif_encoder_release(encoder);
        if (error.code == heif_error_Ok)
            error = heif_context_write_to_file(context, path.toLocal8Bit().constData());
    }
    if (error.code != heif_error_Ok)
        message = QString::fromUtf8(error.message);
    heif_image_release(image);
    heif_context_free(context);
    return message;
}
#endif

} // namespace

class TestFormats : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void decodesUprightWithItsColours_data();
    void decodesUprightWithItsColours();
    void detectedAsImages();
    void damagedFilesGiveAClearReason();
    void heifGridLargerThanDeclaredIsRefused();
    void indexedSearchedAndAskedThroughTheCli();

private:
    test::CliRun run(const QStringList &args);

    QTemporaryDir m_tmp;
    QString m_cli, m_data, m_photos;
    QImage m_picture;
};

void TestFormats::initTestCase()
{
    QVERIFY(m_tmp.isValid());
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    m_data = m_tmp.filePath(QStringLiteral("data"));
    m_photos = QFileInfo(m_tmp.path()).canonicalFilePath() + QStringLiteral("/photos");
    QVERIFY(QDir().mkpath(m_photos));
    m_picture = quadrants(128, 96);
    const QString png = m_tmp.filePath(QStringLiteral("source.png"));
    QVERIFY(m_picture.save(png));
    QString out;
    QVERIFY2(runTool(QStringLiteral("heif-enc"), {QStringLiteral("-q"), QStringLiteral("90"), png, QStringLiteral("-o"),
                                                  m_photos + QStringLiteral("/phone.heic")}, &out), qPrintable(out));
    QVERIFY2(runTool(QStringLiteral("heif-enc"), {QStringLiteral("-A"), QStringLiteral("-q"), QStringLiteral("90"), png,
                                                  QStringLiteral("-o"), m_photos + QStringLiteral("/web.avif")}, &out),
             qPrintable(out));
    QVERIFY2(runTool(QStringLiteral("cjxl"), {png, m_photos + QStringLiteral("/art.jxl"), QStringLiteral("-d"),
                                              QStringLiteral("1")}, &out), qPrintable(out));
    QVERIFY(writeFile(m_photos + QStringLiteral("/camera.dng"), linearDng(m_picture)));
    // A camera's DNG: a 512×384 preview in IFD 0, used instead of demosaicing the raw.
    QVERIFY(writeFile(m_tmp.filePath(QStringLiteral("preview.dng")), linearDng(m_picture, quadrants(512, 384))));
    // A burst: two pictures in one file, the first (the quadrants) primary, the second mirrored.
    const QString mirrored = m_tmp.filePath(QStringLiteral("mirrored.png"));
    QVERIFY(m_picture.mirrored(true, true).save(mirrored));
    QVERIFY2(runTool(QStringLiteral("heif-enc"), {QStringLiteral("-q"), QStringLiteral("90"), png, mirrored,
                                                  QStringLiteral("-o"), m_tmp.filePath(QStringLiteral("burst.heic"))},
                     &out),
             qPrintable(out));
    QVERIFY2(runTool(QStringLiteral("heif-info"), {m_tmp.filePath(QStringLiteral("burst.heic"))}, &out), qPrintable(out));
    QVERIFY2(out.count(QStringLiteral("image: ")) == 2, qPrintable(out));
#ifdef UNISEARCH_HAVE_LIBHEIF
    const QString rotated = writeRotatedHeic(m_picture, m_photos + QStringLiteral("/turned.heic"));
    QVERIFY2(rotated.isEmpty(), qPrintable(rotated));
    QVERIFY2(runTool(QStringLiteral("heif-info"), {m_photos + QStringLiteral("/turned.heic")}, &out), qPrintable(out));
    QVERIFY2(out.contains(QStringLiteral("96x128")) || out.contains(QStringLiteral("128x96")), qPrintable(out));
#else
    QFAIL("tst_formats needs libheif to write a HEIC with an irot (install libheif-dev)");
#endif
    QVERIFY(m_picture.save(m_photos + QStringLiteral("/plain.png")));
}

void TestFormats::decodesUprightWithItsColours_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QByteArray>("format");
    QTest::newRow("HEIC") << QStringLiteral("phone.heic") << QByteArray("heif");
    QTest::newRow("AVIF") << QStringLiteral("web.avif") << QByteArray("avif");
    QTest::newRow("JPEG XL") << QStringLiteral("art.jxl") << QByteArray("jxl");
    QTest::newRow("DNG") << QStringLiteral("camera.dng") << QByteArray("raw");
    QTest::newRow("HEIC with irot") << QStringLiteral("turned.heic") << QByteArray("heif");
    QTest::newRow("DNG with preview") << QStringLiteral("../preview.dng") << QByteArray("raw");
    QTest::newRow("HEIC burst") << QStringLiteral("../burst.heic") << QByteArray("heif");
}

void TestFormats::decodesUprightWithItsColours()
{
    QFETCH(QString, file);
    QFETCH(QByteArray, format);
    const QString path = m_photos + QLatin1Char('/') + file;
    const media::DecodedImage decoded = media::decodeImage(path);
    QVERIFY2(decoded.ok(), qPrintable(decoded.error));
    QCOMPARE(decoded.format, format);
    QCOMPARE(decoded.originalSize, m_picture.size());
    // (camera.dng, without a preview, is demosaiced; LibRaw's half size halves only a
    // colour-filter-array raw, and this linear DNG has three samples a pixel.)
    if (file == QLatin1String("../preview.dng"))  // the embedded preview, large enough
        QCOMPARE(decoded.image.size(), QSize(512, 384));
    // A RAW's image can differ in size from originalSize; its shape is the picture's.
    QVERIFY2(decoded.image.width() * m_picture.height() == decoded.image.height() * m_picture.width(),
             qPrintable(QStringLiteral("%1x%2").arg(decoded.image.width()).arg(decoded.image.height())));
    const QString colours = quadrantMismatch(decoded.image);
    QVERIFY2(colours.isEmpty(), qPrintable(colours));

    QString error;
    const QImage thumb = media::thumbnail(path, 48, &error);
    QVERIFY2(!thumb.isNull(), qPrintable(error));
    QCOMPARE(thumb.size(), QSize(48, 36));
    const QString thumbColours = quadrantMismatch(thumb);
    QVERIFY2(thumbColours.isEmpty(), qPrintable(thumbColours));
}

void TestFormats::detectedAsImages()
{
    for (const QString &file : {QStringLiteral("phone.heic"), QStringLiteral("web.avif"), QStringLiteral("art.jxl"),
                                QStringLiteral("camera.dng")}) {
        const media::MediaType type = media::detectMediaType(m_photos + QLatin1Char('/') + file);
        QVERIFY2(type.kind == media::MediaKind::Image, qPrintable(file + QStringLiteral(": ") + type.mimeType));
    }
    // By name alone (a fast scan): every extension of the issue is an image.
    for (const char *ext : {"heic", "heif", "hif", "avif", "jxl", "dng", "cr2", "cr3", "nef", "arw", "orf", "rw2",
                            "raf", "pef", "srw"}) {
        const media::MediaType type = media::mediaTypeFromFileName(QStringLiteral("x.") + QLatin1String(ext));
        QVERIFY2(type.kind == media::MediaKind::Image, ext);
    }
}

void TestFormats::damagedFilesGiveAClearReason()
{
    QFile heic(m_photos + QStringLiteral("/phone.heic"));
    QVERIFY(heic.open(QIODevice::ReadOnly));
    const QByteArray heicBytes = heic.readAll();
    const media::DecodedImage cut = media::decodeImageData(heicBytes.left(heicBytes.size() / 2));
    QVERIFY(!cut.ok());
    QVERIFY2(cut.error.contains(QStringLiteral("HEIF")), qPrintable(cut.error));
    QByteArray garbage = heicBytes.left(64) + QByteArray(4096, '\x5A');
    const media::DecodedImage bad = media::decodeImageData(garbage);
    QVERIFY(!bad.ok());
    QVERIFY2(bad.error.contains(QStringLiteral("HEIF")), qPrintable(bad.error));

    const QByteArray dng = linearDng(m_picture);
    const media::DecodedImage shortRaw = media::decodeImageData(dng.left(dng.size() / 2));
    QVERIFY(!shortRaw.ok());
    QVERIFY2(shortRaw.error.contains(QStringLiteral("RAW")), qPrintable(shortRaw.error));

    // The pixel limit is checked before decoding.
    media::DecodeParams tiny;
    tiny.maxPixels = 1000;
    for (const QString &file : {QStringLiteral("phone.heic"), QStringLiteral("art.jxl"), QStringLiteral("camera.dng")}) {
        const media::DecodedImage refused = media::decodeImage(m_photos + QLatin1Char('/') + file, tiny);
        QVERIFY2(!refused.ok() && refused.error.contains(QStringLiteral("above the")), qPrintable(file + refused.error));
    }
}

// A 966-byte HEIF whose image declares 48x32 (ispe) while its grid descriptor says
// 19789x19789: libheif 1.15 decodes a grid at the descriptor's size, and this file made it
// allocate 2.3 GB (found by fuzz_imagedecoder; the bytes are its finding, without the
// target's leading option byte). It is refused before libheif allocates anything large.
void TestFormats::heifGridLargerThanDeclaredIsRefused()
{
    const QByteArray file = QByteArray::fromHex(
        "0000001c6674797068656963000000006d696631686569636d696166000001ad6d657461000000000000002168646c720000"
        "00000000000070696374000000000000000000000000000000000e7069746d0000000000020000001069646174000000004d"
        "4d4d4d00000038696c6f630100000044400002000100000000000001d1000100000000000001f50002000100000000000000"
        "0100000000000000080000003869696e6600000000000200000015696e66650200000100010000687663310000000015696e"
        "666502000000000200006772696400000000d869707270000000b66970636f00000076687663430103700000000000000000"
        "001ef000fcfdf8f800000f03200001001840010c01ffff03700000030090000003000003001eba0240210001002a42010103"
        "700000030090000003000003001ea020810596eae4a6b9b8101030200000030020000003002122000100064401c173c08900"
        "0000146973706500000000000000400000004000000014697370650000000000000030000000200000001070006969780000"
        "00030808080000001a69706d610000000000000002000102810200020203840000001a69726566000000000000000e64696d"
        "67000200010001000001fd6d646174000001f12801af138095711f82afbffdd048717e894bb3bed0c2706ce5e86f56abffff"
        "ad7a3fc426d58a5ac0263344c19435e770d0172c4f66bf228f4439675a7115f4ff8b1965e6a05c98a3ae0515ae58d2ae97e4"
        "e60e8cbd9d4c3ab1153ee555e469d6d02a51b8e14db088d134ddfe8617ce26b2391f1fa93e3a3ec166d66bebcd20c4ccb0a1"
        "72ab338e4784b3ce9f4e5beb8c6e2a2a6bf67dd6abcaee0eb2315660e90fab7be1f78bcdb1c69a09ec69a8195a3ae538875c"
        "6cc1bc1d2a7237aa96f593790e84411e08fcc9f3efafb6f292e2219590e7909e49368fdbe682cd5a80bad951a478e5b8c5a8"
        "29d62771d959c131fc1b621beeecde34e39cfa686c38131598ec381fb0f7d45238598a77495d696fa5d54bb2b7a38c90b8bd"
        "3e2c2c8d735705b22db7fb656a8f77bda47c379e3408c6f532f35f1e4f73525fa9a3b8f5550a1b62817f5b9f5d71a11645c9"
        "89e71ffb7130c00c459bd9b9ca253f745928dc0d7e200e24f2c2bd461ac6a2063016b46ed3ac6a2f5bbca3570565fdd1fdad"
        "a31535de5139c51c6ed4fccba8fa1e76439d4da61cf1c484fa452a764503e9777cfc34262933562813276f9beffa7891f8a6"
        "58fa3db56181edf1bd347226a90ac15c139fd292592429091bff6dbf7017157fe5fddb72a7728230077f717617c0a9fba18f"
        "3e21f155ec8c0e12929c9c55aa098adf");
    QCOMPARE(file.size(), 966);
    rusage before{};
    ::getrusage(RUSAGE_SELF, &before);
    const media::DecodedImage refused = media::decodeImageData(file);
    rusage after{};
    ::getrusage(RUSAGE_SELF, &after);
    QVERIFY(!refused.ok());
    QVERIFY2(refused.error.contains(QStringLiteral("grid")) && refused.error.contains(QStringLiteral("19789"))
                 && refused.error.contains(QStringLiteral("48")),
             qPrintable(refused.error));
    const long grownMb = (after.ru_maxrss - before.ru_maxrss) / 1024; // ru_maxrss: KB on Linux
    QVERIFY2(grownMb < 100, qPrintable(QStringLiteral("peak memory grew by %1 MB").arg(grownMb)));
}

test::CliRun TestFormats::run(const QStringList &args)
{
    // The data directory goes on the command line (--data-dir), not in the environment.
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp.path());
    env.insert(QStringLiteral("XDG_DATA_HOME"), m_tmp.filePath(QStringLiteral("share")));
    env.remove(QStringLiteral("UNISEARCH_DATA_DIR"));
    return test::runProgram(m_cli, QStringList{QStringLiteral("--data-dir"), m_data} + args, env, 300000);
}

void TestFormats::indexedSearchedAndAskedThroughTheCli()
{
    const QStringList formatFiles = {QStringLiteral("phone.heic"), QStringLiteral("web.avif"), QStringLiteral("art.jxl"),
                                     QStringLiteral("camera.dng"), QStringLiteral("turned.heic")};
    // Damaged files next to them.
    QFile heic(m_photos + QStringLiteral("/phone.heic"));
    QVERIFY(heic.open(QIODevice::ReadOnly));
    QVERIFY(writeFile(m_photos + QStringLiteral("/broken.heic"), heic.readAll().left(300)));
    const QByteArray dng = linearDng(m_picture);
    QVERIFY(writeFile(m_photos + QStringLiteral("/cut.dng"), dng.left(dng.size() / 2)));

    for (const QString &c : {QStringLiteral("retrieval-image"), QStringLiteral("vqa")}) {
        const test::CliRun imported = run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(c),
                                           QStringLiteral("--architecture"), test::caseArchitectureJson(c)});
        VERIFY_RUN(imported, 0);
    }
    const test::CliRun indexed = run({QStringLiteral("index"), m_photos, QStringLiteral("--no-ocr")});
    QVERIFY2(indexed.exitCode == 0 || indexed.exitCode == 1, qPrintable(indexed.err));
    const QString indexOutput = indexed.out + indexed.err;
    QVERIFY2(indexOutput.contains(QStringLiteral("broken.heic")) && indexOutput.contains(QStringLiteral("cut.dng")),
             qPrintable(indexOutput));

    const test::CliRun status = run({QStringLiteral("status"), QStringLiteral("--json")});
    VERIFY_RUN(status, 0);
    const QString statusText = QString::fromUtf8(QJsonDocument(status.json()).toJson());
    // Six pictures searchable (the five files and plain.png), two with a reason.
    const QJsonObject counts = status.json().value(QStringLiteral("counts")).toObject();
    QVERIFY2(counts.value(QStringLiteral("vectors")).toInt() == 6, qPrintable(statusText));
    QVERIFY2(counts.value(QStringLiteral("errors")).toInt() == 2, qPrintable(statusText));
    QStringList reasons;
    for (const QJsonValue &e : status.json().value(QStringLiteral("errors")).toArray())
        reasons << QFileInfo(e[QStringLiteral("path")].toString()).fileName() + QLatin1Char(' ')
                       + e[QStringLiteral("message")].toString();
    reasons.sort();
    QCOMPARE(reasons.size(), 2);
    QVERIFY2(reasons[0].startsWith(QStringLiteral("broken.heic truncated or corrupt HEIF")), qPrintable(reasons[0]));
    QVERIFY2(reasons[1].startsWith(QStringLiteral("cut.dng truncated or corrupt camera RAW")), qPrintable(reasons[1]));

    const test::CliRun searched = run({QStringLiteral("search"), QStringLiteral("a colourful picture"),
                                       QStringLiteral("--top"), QStringLiteral("50"), QStringLiteral("--json")});
    VERIFY_RUN(searched, 0);
    for (const QString &file : formatFiles)
        QVERIFY2(searched.out.contains(file), qPrintable(file + searched.out));
    const test::CliRun similar = run({QStringLiteral("similar"), m_photos + QStringLiteral("/phone.heic"),
                                      QStringLiteral("--top"), QStringLiteral("50"), QStringLiteral("--json")});
    VERIFY_RUN(similar, 0);
    QVERIFY2(similar.out.contains(QStringLiteral("turned.heic")), qPrintable(similar.out));

    for (const QString &file : formatFiles) {
        const test::CliRun asked = run({QStringLiteral("ask"), m_photos + QLatin1Char('/') + file,
                                        QStringLiteral("what color is it?")});
        VERIFY_RUN(asked, 0);
        QVERIFY(!asked.out.trimmed().isEmpty());
    }
}

QTEST_MAIN(TestFormats)
#include "tst_formats.moc"
