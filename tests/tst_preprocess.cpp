// Image input side: QImage → RgbImage (PIL's convert("RGB")) → PIL-style bicubic resize →
// ToTensor → Normalize, against the reference pixels of the preprocess and
// retrieval-image fixtures.
#include "engine/modelimage.h"
#include "media/imageconvert.h"
#include "model/preprocess.h"
#include "support/fixtures.h"
#include "support/npy.h"

#include <QImage>
#include <QtTest>

#include <cmath>

using namespace unisearch;
using model::PreprocessError;
using model::PreprocessParams;
using model::RgbImage;

namespace {

PreprocessParams paramsOf(const nlohmann::json &caseJson)
{
    const auto &arch = caseJson.at("architecture");
    PreprocessParams p;
    p.size = arch.at("vision").at("image_size").get<int>();
    for (size_t c = 0; c < 3; ++c) {
        p.mean[c] = arch.at("normalize").at("mean")[c].get<float>();
        p.std[c] = arch.at("normalize").at("std")[c].get<float>();
    }
    return p;
}

struct Error {
    double maxAbs = 0;
    double meanAbs = 0;
};

Error compare(const float *actual, const std::vector<float> &expected)
{
    Error e;
    for (size_t i = 0; i < expected.size(); ++i) {
        const double d = std::abs(double(actual[i]) - double(expected[i]));
        e.maxAbs = std::max(e.maxAbs, d);
        e.meanAbs += d;
    }
    e.meanAbs /= double(std::max<size_t>(expected.size(), 1));
    return e;
}

QImage loadPng(const QString &path)
{
    QImage image(path);
    if (image.isNull())
        throw std::runtime_error("cannot load " + path.toStdString());
    return image;
}

} // namespace

class TestPreprocess : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void fixtureCases_data();
    void fixtureCases();
    void retrievalImagePixels();
    void alphaIsDropped();
    void greyAndPaletteExpand();
    void premultipliedFormats();
    void identityResize();
    void badInput();

private:
    nlohmann::json m_case;
    PreprocessParams m_params;
};

void TestPreprocess::initTestCase()
{
    m_case = test::readCase(QStringLiteral("preprocess"));
    QVERIFY(m_case.at("cases").size() >= 5);
    m_params = paramsOf(m_case);
    QCOMPARE(m_params.size, 32);
}

void TestPreprocess::fixtureCases_data()
{
    QTest::addColumn<int>("index");
    const auto &cases = m_case.at("cases");
    for (size_t i = 0; i < cases.size(); ++i) {
        const auto &c = cases[i];
        QTest::newRow(qPrintable(QStringLiteral("%1 %2 %3x%4")
                                     .arg(QString::fromStdString(c.at("image").get<std::string>()))
                                     .arg(QString::fromStdString(c.at("mode").get<std::string>()))
                                     .arg(c.at("size")[0].get<int>())
                                     .arg(c.at("size")[1].get<int>())))
            << int(i);
    }
}

void TestPreprocess::fixtureCases()
{
    QFETCH(int, index);
    const auto &c = m_case.at("cases")[size_t(index)];
    const QString dir = test::caseDir(QStringLiteral("preprocess"));
    const QImage image = loadPng(dir + QLatin1Char('/') + QString::fromStdString(c.at("image").get<std::string>()));
    const int width = c.at("size")[0].get<int>();
    const int height = c.at("size")[1].get<int>();
    QCOMPARE(image.width(), width);
    QCOMPARE(image.height(), height);
    if (c.at("mode").get<std::string>() == "RGBA") {
        // The case only proves that alpha is dropped if some pixels are see-through.
        QVERIFY(image.hasAlphaChannel());
        int translucent = 0;
        for (int y = 0; y < image.height(); ++y)
            for (int x = 0; x < image.width(); ++x)
                translucent += qAlpha(image.pixel(x, y)) < 255 ? 1 : 0;
        qInfo("%s: %d of %d pixels translucent", c.at("image").get<std::string>().c_str(),
              translucent, image.width() * image.height());
        QVERIFY(translucent > 0);
    }

    const RgbImage rgb = engine::toModelImage(image);
    QCOMPARE(rgb.width, width);
    QCOMPARE(rgb.height, height);
    const std::vector<float> pixels = model::preprocess(rgb, m_params);

    const test::Npy expected = test::readNpy(dir + QLatin1Char('/') + QString::fromStdString(c.at("pixels").get<std::string>()));
    QCOMPARE(expected.shape, (std::vector<int64_t>{3, m_params.size, m_params.size}));
    QCOMPARE(pixels.size(), expected.f32.size());
    const Error e = compare(pixels.data(), expected.f32);
    qInfo("%s (%s, format %d): max abs %.3g, mean abs %.3g", c.at("image").get<std::string>().c_str(),
          c.at("mode").get<std::string>().c_str(), int(image.format()), e.maxAbs, e.meanAbs);
    if (width == m_params.size && height == m_params.size) {
        QVERIFY2(e.maxAbs <= 1e-6, qPrintable(QString::number(e.maxAbs)));
    } else {
        QVERIFY2(e.maxAbs <= 0.05, qPrintable(QString::number(e.maxAbs)));
        QVERIFY2(e.meanAbs <= 0.005, qPrintable(QString::number(e.meanAbs)));
    }
}

void TestPreprocess::retrievalImagePixels()
{
    const nlohmann::json retrieval = test::readCase(QStringLiteral("retrieval-image"));
    const QString dir = test::caseDir(QStringLiteral("retrieval-image"));
    const PreprocessParams params = paramsOf(retrieval);
    std::vector<RgbImage> images;
    std::vector<bool> needsResize;
    for (const auto &name : retrieval.at("images")) {
        const QImage image = loadPng(dir + QLatin1Char('/') + QString::fromStdString(name.get<std::string>()));
        images.push_back(engine::toModelImage(image));
        needsResize.push_back(image.width() != params.size || image.height() != params.size);
    }
    const test::Npy expected = test::readNpy(dir + QStringLiteral("/pixels.npy"));
    QCOMPARE(expected.shape, (std::vector<int64_t>{int64_t(images.size()), 3, params.size, params.size}));

    std::vector<float> batch(images.size() * model::preprocessedSize(params));
    model::preprocessBatch(images, params, batch.data());
    const size_t stride = model::preprocessedSize(params);
    for (size_t i = 0; i < images.size(); ++i) {
        const std::vector<float> one(expected.f32.begin() + std::ptrdiff_t(i * stride),
                                     expected.f32.begin() + std::ptrdiff_t((i + 1) * stride));
        const Error e = compare(batch.data() + i * stride, one);
        qInfo("retrieval-image %zu (%dx%d): max abs %.3g, mean abs %.3g", i, images[i].width,
              images[i].height, e.maxAbs, e.meanAbs);
        if (!needsResize[i]) {
            QVERIFY2(e.maxAbs <= 1e-6, qPrintable(QString::number(e.maxAbs)));
        } else {
            QVERIFY2(e.maxAbs <= 0.05, qPrintable(QString::number(e.maxAbs)));
            QVERIFY2(e.meanAbs <= 0.005, qPrintable(QString::number(e.meanAbs)));
        }
    }
}

void TestPreprocess::alphaIsDropped()
{
    // PIL's convert("RGB") keeps the stored colour of a transparent pixel.
    QImage image(2, 1, QImage::Format_ARGB32);
    image.setPixel(0, 0, qRgba(10, 20, 30, 0));
    image.setPixel(1, 0, qRgba(200, 100, 50, 128));
    const media::RgbImage rgb = media::toRgbImage(image);
    QCOMPARE(rgb.width, 2);
    QCOMPARE(rgb.height, 1);
    QCOMPARE(rgb.rgb, (std::vector<uint8_t>{10, 20, 30, 200, 100, 50}));

    QImage rgba8888(1, 1, QImage::Format_RGBA8888);
    rgba8888.setPixel(0, 0, qRgba(1, 2, 3, 0));
    QCOMPARE(media::toRgbImage(rgba8888).rgb, (std::vector<uint8_t>{1, 2, 3}));
}

void TestPreprocess::greyAndPaletteExpand()
{
    QImage grey(3, 2, QImage::Format_Grayscale8);
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x)
            grey.scanLine(y)[x] = uchar(y * 100 + x * 7);
    const media::RgbImage g = media::toRgbImage(grey);
    QCOMPARE(g.rgb.size(), size_t(18));
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x)
            for (int c = 0; c < 3; ++c)
                QCOMPARE(int(g.rgb[size_t((y * 3 + x) * 3 + c)]), y * 100 + x * 7);

    QImage indexed(2, 1, QImage::Format_Indexed8);
    indexed.setColorTable({qRgba(9, 8, 7, 0), qRgb(250, 128, 3)});
    indexed.setPixel(0, 0, 1);
    indexed.setPixel(1, 0, 0);
    QCOMPARE(media::toRgbImage(indexed).rgb, (std::vector<uint8_t>{250, 128, 3, 9, 8, 7}));

    // A format without a fast path (RGB16) still converts.
    QImage rgb16(1, 1, QImage::Format_RGB16);
    rgb16.fill(QColor(255, 0, 255));
    QCOMPARE(media::toRgbImage(rgb16).rgb, (std::vector<uint8_t>{255, 0, 255}));

    QCOMPARE(media::toRgbImage(QImage()).width, 0);
}

void TestPreprocess::premultipliedFormats()
{
    // Opaque pixels survive premultiplication exactly; that is all such a format can promise.
    QImage image(1, 1, QImage::Format_ARGB32_Premultiplied);
    image.setPixel(0, 0, qRgba(40, 50, 60, 255));
    QCOMPARE(media::toRgbImage(image).rgb, (std::vector<uint8_t>{40, 50, 60}));
}

void TestPreprocess::identityResize()
{
    RgbImage image;
    image.width = 5;
    image.height = 3;
    for (int i = 0; i < 45; ++i)
        image.rgb.push_back(uint8_t(i * 5));
    const RgbImage same = model::resizeBicubic(image, 5, 3);
    QCOMPARE(same.rgb, image.rgb);

    // A constant image stays constant through both passes, shrinking and enlarging.
    RgbImage flat;
    flat.width = 37;
    flat.height = 23;
    flat.rgb.assign(size_t(37 * 23 * 3), 77);
    for (auto [w, h] : {std::pair{16, 16}, std::pair{80, 50}, std::pair{37, 9}, std::pair{5, 23}}) {
        const RgbImage r = model::resizeBicubic(flat, w, h);
        QCOMPARE(r.width, w);
        QCOMPARE(r.height, h);
        QVERIFY(std::all_of(r.rgb.begin(), r.rgb.end(), [](uint8_t v) { return v == 77; }));
    }
}

void TestPreprocess::badInput()
{
    QVERIFY_THROWS_EXCEPTION(PreprocessError, model::preprocess(RgbImage{}, m_params));
    RgbImage wrong;
    wrong.width = 4;
    wrong.height = 4;
    wrong.rgb.resize(10);
    QVERIFY_THROWS_EXCEPTION(PreprocessError, model::preprocess(wrong, m_params));
    wrong.rgb.resize(48);
    PreprocessParams zero = m_params;
    zero.size = 0;
    QVERIFY_THROWS_EXCEPTION(PreprocessError, model::preprocess(wrong, zero));
    PreprocessParams badStd = m_params;
    badStd.std[1] = 0.0f;
    QVERIFY_THROWS_EXCEPTION(PreprocessError, model::preprocess(wrong, badStd));
    QVERIFY_THROWS_EXCEPTION(PreprocessError, model::resizeBicubic(wrong, 0, 3));
    // A 1×1 image blows up to the full size without trouble.
    RgbImage dot;
    dot.width = dot.height = 1;
    dot.rgb = {255, 0, 128};
    const std::vector<float> out = model::preprocess(dot, m_params);
    QCOMPARE(out.size(), model::preprocessedSize(m_params));
    QCOMPARE(out.front(), (1.0f - m_params.mean[0]) / m_params.std[0]);
}

QTEST_GUILESS_MAIN(TestPreprocess)
#include "tst_preprocess.moc"
