// Text inside pictures (issue 16): Tesseract reads text the test renders with a font Debian
// ships (fonts-dejavu-core), a photo without text reads as nothing; through unisearch-cli with
// the fixture model, `search "invoice 4471"` puts the rendered invoice first among photos of
// other things and says why ("matchedText"), `index --no-ocr` skips the pass, and the pass
// resumes after a SIGKILL without reading done photos again; a video whose second half shows
// the invoice is found by it, a video without text is not a keyword hit.
#include "catalog/catalog.h"
#include "catalog/reader.h"
#include "media/ocr.h"
#include "support/catalogfixture.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/videogen.h"
#include "support/modelfixture.h"
#include "support/workspace.h"

#include <QDir>
#include <QFile>
#include <QFontDatabase>
#include <QImage>
#include <QJsonArray>
#include <QJsonObject>
#include <QPainter>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;

namespace {

using Run = unisearch::test::CliRun;

const QString kFontFile = QStringLiteral("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");

// Black text, 48 px DejaVu Sans, on white: one line per entry.
QImage renderText(const QStringList &lines, const QString &family, int width = 900)
{
    QImage img(width, 120 + 70 * int(lines.size()), QImage::Format_RGB32);
    img.fill(Qt::white);
    QPainter p(&img);
    QFont font(family);
    font.setPixelSize(48);
    p.setFont(font);
    p.setPen(Qt::black);
    for (qsizetype i = 0; i < lines.size(); ++i)
        p.drawText(40, 100 + 70 * int(i), lines[i]);
    return img;
}

} // namespace

class TestOcr : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void installedLanguagesAreListed();
    void unknownLanguageIsRefused();
    void readsRenderedText();
    void photoWithoutTextReadsNothing();
    void searchFindsTheInvoiceFirst();
    void noOcrSkipsThePass();
    void passResumesAfterKill();
    void videoTextIsFound();

private:
    Run run(const QStringList &args, const QString &faultPoint = {});
    void registerModel();
    void saveImage(const QImage &img, const QString &name);
    QString m_family;
    QString m_cli;
    QTemporaryDir m_shared;
    model::BundleInfo m_bundle;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_photos;
};

void TestOcr::initTestCase()
{
    const int id = QFontDatabase::addApplicationFont(kFontFile);
    QVERIFY2(id >= 0, qPrintable(kFontFile + QStringLiteral(" (fonts-dejavu-core) could not be loaded")));
    m_family = QFontDatabase::applicationFontFamilies(id).value(0);
    QVERIFY(!m_family.isEmpty());
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    m_bundle = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval", "fixture",
                                     m_shared.filePath(QStringLiteral("models")))
                   .bundle;
}

void TestOcr::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_photos, QStringLiteral("photos")));
}

void TestOcr::cleanup()
{
    m_tmp.reset();
}

Run TestOcr::run(const QStringList &args, const QString &faultPoint)
{
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp->path());
    if (!faultPoint.isEmpty())
        env.insert(QStringLiteral("UNISEARCH_FAULT_POINT"), faultPoint);
    return test::runProgram(m_cli, QStringList{QStringLiteral("--threads"), QStringLiteral("1")} + args, env, 300000);
}

void TestOcr::registerModel()
{
    QString error;
    QVERIFY2(test::registerActiveModel(m_data, m_bundle, QStringLiteral("fixture"), QStringLiteral("retrieval"), &error),
             qPrintable(error));
}

void TestOcr::saveImage(const QImage &img, const QString &name)
{
    const QString path = QDir(m_photos).filePath(name);
    QDir().mkpath(QFileInfo(path).absolutePath());
    QVERIFY2(img.save(path), qPrintable(path));
}

void TestOcr::installedLanguagesAreListed()
{
    const QStringList languages = media::installedOcrLanguages();
    QVERIFY2(languages.contains(QStringLiteral("eng")), qPrintable(languages.join(QLatin1Char(' '))));
    QVERIFY(!languages.contains(QStringLiteral("osd")));
}

void TestOcr::unknownLanguageIsRefused()
{
    media::OcrOptions options;
    options.languages = {QStringLiteral("xx-not-a-language")};
    QString error;
    QVERIFY(!media::OcrEngine::create(options, &error));
    QVERIFY2(error.contains(QStringLiteral("xx-not-a-language")) && error.contains(QStringLiteral("eng")),
             qPrintable(error));
}

void TestOcr::readsRenderedText()
{
    QString error;
    auto engine = media::OcrEngine::create({}, &error);
    QVERIFY2(engine, qPrintable(error));
    // Larger than the downscale edge, so the downscaled image is what is read.
    const QImage img = renderText({QStringLiteral("INVOICE 4471"), QStringLiteral("Total due: 312.50 EUR")}, m_family,
                                  2400);
    const std::optional<QString> text = engine->read(img, &error);
    QVERIFY2(text, qPrintable(error));
    QVERIFY2(text->contains(QStringLiteral("INVOICE")) && text->contains(QStringLiteral("4471"))
                 && text->contains(QStringLiteral("Total")),
             qPrintable(*text));
}

void TestOcr::photoWithoutTextReadsNothing()
{
    QString error;
    auto engine = media::OcrEngine::create({}, &error);
    QVERIFY2(engine, qPrintable(error));
    for (quint32 seed : {7u, 8u, 9u}) {
        const std::optional<QString> text = engine->read(test::randomImage(640, 480, seed, false), &error);
        QVERIFY2(text, qPrintable(error));
        QVERIFY2(text->isEmpty(), qPrintable(*text));
    }
}

void TestOcr::searchFindsTheInvoiceFirst()
{
    registerModel();
    saveImage(renderText({QStringLiteral("INVOICE 4471"), QStringLiteral("ACME Tools Ltd")}, m_family), "scan001.png");
    saveImage(renderText({QStringLiteral("Shopping list"), QStringLiteral("milk bread eggs")}, m_family), "scan002.png");
    for (int i = 0; i < 6; ++i)
        saveImage(test::randomImage(320, 240, 100 + quint32(i), false), QStringLiteral("photo%1.png").arg(i));
    const Run indexed = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")});
    VERIFY_RUN(indexed, 0);
    QCOMPARE(indexed.json().value(QStringLiteral("ocrRead")).toInt(), 8);

    const Run searched = run({QStringLiteral("search"), QStringLiteral("invoice 4471"), QStringLiteral("--json")});
    VERIFY_RUN(searched, 0);
    const QJsonArray results = searched.json().value(QStringLiteral("results")).toArray();
    QCOMPARE(results.size(), 8);
    const QJsonObject first = results.first().toObject();
    QCOMPARE(first.value(QStringLiteral("path")).toString(), QDir(m_photos).filePath(QStringLiteral("scan001.png")));
    QVERIFY2(first.value(QStringLiteral("matchedText")).toString().contains(QStringLiteral("4471")),
             qPrintable(searched.out));
    // Only the invoice matched a keyword: a photo without text has no keyword hit.
    for (qsizetype i = 1; i < results.size(); ++i)
        QVERIFY2(!results[i].toObject().contains(QStringLiteral("matchedText")), qPrintable(searched.out));
    // Re-ranked (the default on CUDA): the keyword ranking is fused after the re-rank.
    const Run reranked = run({QStringLiteral("search"), QStringLiteral("invoice 4471"), QStringLiteral("--rerank"),
                              QStringLiteral("--json")});
    VERIFY_RUN(reranked, 0);
    QCOMPARE(reranked.json().value(QStringLiteral("results")).toArray().first().toObject().value(QStringLiteral("path")),
             first.value(QStringLiteral("path")));
    // The text output says why it matched.
    const Run text = run({QStringLiteral("search"), QStringLiteral("invoice 4471")});
    VERIFY_RUN(text, 0);
    QVERIFY2(text.out.contains(QStringLiteral("matched: \"INVOICE 4471")), qPrintable(text.out));

    // The photos without text have no OCR text stored.
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    const auto item = opened.catalog->itemByPath(QDir(m_photos).filePath(QStringLiteral("photo0.png")));
    QVERIFY(item);
    QCOMPARE(opened.catalog->ocrText(item->id).value_or(QStringLiteral("?")), QString());
}

void TestOcr::noOcrSkipsThePass()
{
    registerModel();
    saveImage(renderText({QStringLiteral("INVOICE 4471")}, m_family), "scan001.png");
    saveImage(test::randomImage(320, 240, 5, false), "photo.png");
    const Run indexed = run({QStringLiteral("index"), m_photos, QStringLiteral("--no-ocr"), QStringLiteral("--json")});
    VERIFY_RUN(indexed, 0);
    QCOMPARE(indexed.json().value(QStringLiteral("ocrRead")).toInt(), 0);
    const Run searched = run({QStringLiteral("search"), QStringLiteral("invoice 4471"), QStringLiteral("--json")});
    VERIFY_RUN(searched, 0);
    for (const QJsonValue &v : searched.json().value(QStringLiteral("results")).toArray())
        QVERIFY2(!v.toObject().contains(QStringLiteral("matchedText")), qPrintable(searched.out));
    // The next index without the flag reads what was skipped.
    const Run again = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    QCOMPARE(again.json().value(QStringLiteral("ocrRead")).toInt(), 2);
}

void TestOcr::passResumesAfterKill()
{
    registerModel();
    // 12 photos: the pass commits 8 per transaction, and the kill comes right after the first.
    for (int i = 0; i < 12; ++i)
        saveImage(renderText({QStringLiteral("RECEIPT %1").arg(5000 + i)}, m_family),
                  QStringLiteral("r%1.png").arg(i, 2, 10, QLatin1Char('0')));
    const Run killed = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")}, QStringLiteral("ocr.commit:1"));
    QCOMPARE(killed.exitCode, -1);  // SIGKILLed
    {
        catalog::OpenResult opened = catalog::Catalog::open(m_data);
        QVERIFY2(opened, qPrintable(opened.error));
        QCOMPARE(opened.catalog->countPendingOcr(QStringLiteral("eng")), qint64(4));
    }
    const Run resumed = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")});
    VERIFY_RUN(resumed, 0);
    const QJsonObject r = resumed.json();
    QCOMPARE(r.value(QStringLiteral("embedded")).toInt(), 0);
    QCOMPARE(r.value(QStringLiteral("ocrRead")).toInt(), 4);  // only the photos not done before
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    QCOMPARE(opened.catalog->countPendingOcr(QStringLiteral("eng")), qint64(0));
    // Every receipt is found by its own number.
    const Run searched = run({QStringLiteral("search"), QStringLiteral("receipt 5011"), QStringLiteral("--json")});
    VERIFY_RUN(searched, 0);
    const QJsonObject first = searched.json().value(QStringLiteral("results")).toArray().first().toObject();
    QCOMPARE(first.value(QStringLiteral("path")).toString(), QDir(m_photos).filePath(QStringLiteral("r11.png")));
}

void TestOcr::videoTextIsFound()
{
    QVERIFY2(!test::ffmpegProgram().isEmpty(), "ffmpeg is needed to make the test videos");
    registerModel();
    const QString png = m_tmp->filePath(QStringLiteral("card.png"));
    QVERIFY(renderText({QStringLiteral("INVOICE 4471")}, m_family, 1280).save(png));  // 1280x190
    // 3 s of testsrc, then 3 s of the card; and 6 s of colour bars.
    const QStringList encode{QStringLiteral("-pix_fmt"), QStringLiteral("yuv420p"), QStringLiteral("-c:v"),
                             QStringLiteral("mpeg4"), QStringLiteral("-q:v"), QStringLiteral("2")};
    QString made = test::runFfmpeg(
        QStringList{QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"),
                    QStringLiteral("testsrc=s=1280x720:r=10:d=3"), QStringLiteral("-loop"), QStringLiteral("1"),
                    QStringLiteral("-framerate"), QStringLiteral("10"), QStringLiteral("-t"), QStringLiteral("3"),
                    QStringLiteral("-i"), png, QStringLiteral("-filter_complex"),
                    QStringLiteral("[1:v]pad=1280:720:0:264:white,format=yuv420p,setsar=1[t];"
                                   "[0:v]format=yuv420p,setsar=1[a];[a][t]concat=n=2:v=1[v]"),
                    QStringLiteral("-map"), QStringLiteral("[v]")}
        + encode + QStringList{QDir(m_photos).filePath(QStringLiteral("clip.mp4"))});
    QVERIFY2(made.isEmpty(), qPrintable(made));
    made = test::runFfmpeg(QStringList{QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"),
                                       QStringLiteral("smptebars=s=1280x720:r=10:d=6")}
                           + encode + QStringList{QDir(m_photos).filePath(QStringLiteral("bars.mp4"))});
    QVERIFY2(made.isEmpty(), qPrintable(made));
    for (int i = 0; i < 4; ++i)
        saveImage(test::randomImage(320, 240, 200 + quint32(i), false), QStringLiteral("photo%1.png").arg(i));

    const Run indexed = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")});
    VERIFY_RUN(indexed, 0);
    QCOMPARE(indexed.json().value(QStringLiteral("ocrRead")).toInt(), 6);  // 4 photos, 2 videos
    const Run searched = run({QStringLiteral("search"), QStringLiteral("invoice 4471"), QStringLiteral("--json")});
    VERIFY_RUN(searched, 0);
    const QJsonArray results = searched.json().value(QStringLiteral("results")).toArray();
    QVERIFY2(!results.isEmpty(), qPrintable(searched.out));
    const QJsonObject first = results.first().toObject();
    QCOMPARE(first.value(QStringLiteral("path")).toString(), QDir(m_photos).filePath(QStringLiteral("clip.mp4")));
    QVERIFY2(first.value(QStringLiteral("matchedText")).toString().contains(QStringLiteral("4471")),
             qPrintable(searched.out));
    for (qsizetype i = 1; i < results.size(); ++i)
        QVERIFY2(!results[i].toObject().contains(QStringLiteral("matchedText")), qPrintable(searched.out));

    // The text of the card is stored once although the pass may read it in several frames.
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    const auto clip = opened.catalog->itemByPath(QDir(m_photos).filePath(QStringLiteral("clip.mp4")));
    QVERIFY(clip);
    const QString text = opened.catalog->ocrText(clip->id).value_or(QString());
    QCOMPARE(text.count(QStringLiteral("4471")), 1);
}

QTEST_MAIN(TestOcr)
#include "tst_ocr.moc"
