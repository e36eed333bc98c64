// Combined queries (engine/query.h):
// - the parser: separators, weights, quoting, paths with spaces, item:ID, and the errors a
//   person gets for an empty term, a bad weight, a missing file or a stray quote;
// - combineFeatures: normalize(Σ wᵢ · unit(featureᵢ)), and the error for terms that cancel out;
// - end to end through unisearch-cli with the fixture model: the ranking and scores of a
//   combined query equal the weighted sum computed from the features `embed text` and
//   `embed image` report, items named by positive image terms are left out, and parse
//   errors exit 2 on stderr.
#include "engine/query.h"
#include "model/bundle.h"
#include "support/catalogfixture.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/modelfixture.h"
#include "support/videogen.h"
#include "support/workspace.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <map>

using namespace unisearch;
using engine::ParsedQuery;
using engine::QueryTerm;

namespace {

void touch(const QString &path)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile f(path);
    QVERIFY2(f.open(QIODevice::WriteOnly), qPrintable(path));
}

std::vector<float> featureOf(const QJsonValue &v)
{
    std::vector<float> out;
    for (const QJsonValue &x : v.toArray())
        out.push_back(float(x.toDouble()));
    return out;
}

double dot(const std::vector<float> &a, const std::vector<float> &b)
{
    double s = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
        s += double(a[i]) * double(b[i]);
    return s;
}

} // namespace

class TestQuery : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    void plainQueryIsOneTextTerm_data();
    void plainQueryIsOneTextTerm();
    void termsWeightsAndSigns();
    void quotedTermIsText();
    void fileTerms();
    void itemTerms();
    void errorsNameTheProblem_data();
    void errorsNameTheProblem();
    void keywordTextHasThePositiveTextTerms();
    void combineIsTheNormalisedWeightedSum();
    void cancellingTermsAreAnError();

    void combinedRankingEqualsWeightedSum();
    void videoTermUsesItsVideoFeature();
    void cliReportsQueryErrors();

private:
    test::CliRun run(const QStringList &args);
    void indexLibrary();

    QTemporaryDir m_files;  // the parser's base directory
    QTemporaryDir m_shared;
    model::BundleInfo m_bundle;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_photos;
    bool m_indexed = false;
};

void TestQuery::initTestCase()
{
    QVERIFY(m_files.isValid());
    touch(m_files.filePath(QStringLiteral("beach.jpg")));
    touch(m_files.filePath(QStringLiteral("notes.txt")));
    touch(m_files.filePath(QStringLiteral("my photos/sea side.png")));
    QDir().mkpath(m_files.filePath(QStringLiteral("folder.d")));
}

void TestQuery::plainQueryIsOneTextTerm_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("words") << QStringLiteral("a dog on the beach");
    QTest::newRow("hyphen without spaces") << QStringLiteral("a t-shirt and a+b");
    QTest::newRow("weight-like prefix") << QStringLiteral("10:30 meeting");
    QTest::newRow("slash without a path") << QStringLiteral("AC/DC concert");
    QTest::newRow("stray quote") << QStringLiteral("my \"best dog");
    QTest::newRow("a dot, no such file") << QStringLiteral("St. Ives harbour");
    QTest::newRow("an existing file, not a picture") << QStringLiteral("notes.txt");
}

void TestQuery::plainQueryIsOneTextTerm()
{
    QFETCH(QString, text);
    QString error;
    const auto q = engine::parseQuery(text, m_files.path(), &error);
    QVERIFY2(q, qPrintable(error));
    QCOMPARE(q->terms.size(), 1);
    QCOMPARE(q->terms[0].kind, QueryTerm::Kind::Text);
    QCOMPARE(q->terms[0].weight, 1.0);
    QCOMPARE(q->terms[0].text, text);
    QVERIFY(!q->isCombined());
}

void TestQuery::termsWeightsAndSigns()
{
    QString error;
    const auto q = engine::parseQuery(QStringLiteral("2:a dog on the beach - people + 0.5:sunset  -  1.5: rain"),
                                      m_files.path(), &error);
    QVERIFY2(q, qPrintable(error));
    QVERIFY(q->isCombined());
    QCOMPARE(q->terms.size(), 4);
    const QStringList texts{QStringLiteral("a dog on the beach"), QStringLiteral("people"), QStringLiteral("sunset"),
                            QStringLiteral("rain")};
    const QList<double> weights{2.0, -1.0, 0.5, -1.5};
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(q->terms[i].kind, QueryTerm::Kind::Text);
        QCOMPARE(q->terms[i].text, texts[i]);
        QCOMPARE(q->terms[i].weight, weights[i]);
    }
    // Two terms of weight 1 are combined too.
    QVERIFY(engine::parseQuery(QStringLiteral("cat + dog"), m_files.path())->isCombined());
}

void TestQuery::quotedTermIsText()
{
    QString error;
    const auto q =
        engine::parseQuery(QStringLiteral("\"C + + code\" - 3:\"beach.jpg\" + \"./nowhere.png\""), m_files.path(), &error);
    QVERIFY2(q, qPrintable(error));
    QCOMPARE(q->terms.size(), 3);
    QCOMPARE(q->terms[0].text, QStringLiteral("C + + code"));
    QCOMPARE(q->terms[1].kind, QueryTerm::Kind::Text);  // names a file, but quoted
    QCOMPARE(q->terms[1].text, QStringLiteral("beach.jpg"));
    QCOMPARE(q->terms[1].weight, -3.0);
    QCOMPARE(q->terms[2].kind, QueryTerm::Kind::Text);  // looks like a path, but quoted: no error
    // A whole quoted query is one text term, not combined.
    const auto plain = engine::parseQuery(QStringLiteral("\"a + b\""), m_files.path());
    QVERIFY(plain);
    QCOMPARE(plain->terms.size(), 1);
    QVERIFY(!plain->isCombined());
}

void TestQuery::fileTerms()
{
    QString error;
    // Relative to the base dir, with spaces in the path (separators need spaces on both sides).
    const auto q = engine::parseQuery(QStringLiteral("sunset + ./beach.jpg - my photos/sea side.png + beach.jpg"),
                                      m_files.path(), &error);
    QVERIFY2(q, qPrintable(error));
    QCOMPARE(q->terms.size(), 4);
    QCOMPARE(q->terms[0].kind, QueryTerm::Kind::Text);
    QCOMPARE(q->terms[1].kind, QueryTerm::Kind::File);
    QCOMPARE(q->terms[1].path, m_files.filePath(QStringLiteral("beach.jpg")));
    QCOMPARE(q->terms[2].kind, QueryTerm::Kind::File);
    QCOMPARE(q->terms[2].path, m_files.filePath(QStringLiteral("my photos/sea side.png")));
    QCOMPARE(q->terms[2].weight, -1.0);
    QCOMPARE(q->terms[3].kind, QueryTerm::Kind::File);  // a name with a dot that exists in the base dir
    // An absolute path alone is an image query.
    const auto single = engine::parseQuery(m_files.filePath(QStringLiteral("beach.jpg")), QString(), &error);
    QVERIFY2(single, qPrintable(error));
    QCOMPARE(single->terms[0].kind, QueryTerm::Kind::File);
    QVERIFY(single->isCombined());
    // ~/ is the home directory.
    const auto home = engine::parseQuery(QStringLiteral("dog + ~/no-such-unisearch-file.jpg"), m_files.path(), &error);
    QVERIFY(!home);
    QVERIFY2(error.contains(QDir::homePath()), qPrintable(error));
}

void TestQuery::itemTerms()
{
    QString error;
    const auto q = engine::parseQuery(QStringLiteral("item:42 - 0.5:item:7"), m_files.path(), &error);
    QVERIFY2(q, qPrintable(error));
    QCOMPARE(q->terms.size(), 2);
    QCOMPARE(q->terms[0].kind, QueryTerm::Kind::Item);
    QCOMPARE(q->terms[0].itemId, std::int64_t(42));
    QCOMPARE(q->terms[1].itemId, std::int64_t(7));
    QCOMPARE(q->terms[1].weight, -0.5);
    QCOMPARE(engine::describeQuery(*q), QStringLiteral("item:42 - 0.5:item:7"));
}

void TestQuery::errorsNameTheProblem_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");  // a part of the message
    QTest::newRow("empty term") << QStringLiteral("dog +  + cat") << QStringLiteral("term 2 of the query is empty");
    QTest::newRow("leading sign") << QStringLiteral("- people") << QStringLiteral("term 1 of the query is empty");
    QTest::newRow("trailing sign") << QStringLiteral("dog -") << QStringLiteral("term 2 of the query is empty");
    QTest::newRow("zero weight") << QStringLiteral("0:dog + cat") << QStringLiteral("bad weight '0:'");
    QTest::newRow("negative weight") << QStringLiteral("dog + -2:cat") << QStringLiteral("bad weight '-2:'");
    QTest::newRow("huge weight") << QStringLiteral("1e9:dog + cat") << QStringLiteral("bad weight");
    QTest::newRow("malformed weight") << QStringLiteral("1.2.3:dog + cat") << QStringLiteral("bad weight '1.2.3:'");
    QTest::newRow("weight alone") << QStringLiteral("2: + cat") << QStringLiteral("no term after it");
    QTest::newRow("missing file") << QStringLiteral("dog + ./missing photo.jpg")
                                  << QStringLiteral("no such file: '%1/missing photo.jpg'");
    QTest::newRow("missing file alone") << QStringLiteral("photos/IMG_1.jpg") << QStringLiteral("no such file");
    QTest::newRow("a folder") << QStringLiteral("dog + ./folder.d") << QStringLiteral("is not a file");
    QTest::newRow("bad item") << QStringLiteral("dog + item:abc") << QStringLiteral("'item:abc' is not an item");
    QTest::newRow("unterminated quote") << QStringLiteral("\"dog + cat") << QStringLiteral("closing quote");
    QTest::newRow("empty quotes") << QStringLiteral("dog + \"  \"") << QStringLiteral("empty quoted term");
    QTest::newRow("empty") << QStringLiteral("   ") << QStringLiteral("the query is empty");
    QTest::newRow("too many terms") << QStringList(20, QStringLiteral("x")).join(QStringLiteral(" + "))
                                    << QStringLiteral("20 terms; at most 16");
}

void TestQuery::errorsNameTheProblem()
{
    QFETCH(QString, text);
    QFETCH(QString, expected);
    if (expected.contains(QLatin1String("%1")))
        expected = expected.arg(m_files.path());
    QString error;
    QVERIFY(!engine::parseQuery(text, m_files.path(), &error));
    QVERIFY2(error.contains(expected), qPrintable(error));
}

void TestQuery::keywordTextHasThePositiveTextTerms()
{
    const auto q = engine::parseQuery(QStringLiteral("2:red car - people + ./beach.jpg + \"night\""), m_files.path());
    QVERIFY(q);
    QCOMPARE(q->keywordText(), QStringLiteral("red car night"));
    QCOMPARE(engine::parseQuery(QStringLiteral("a dog"), m_files.path())->keywordText(), QStringLiteral("a dog"));
}

void TestQuery::combineIsTheNormalisedWeightedSum()
{
    // unit((3,4)) = (0.6, 0.8); 2·(0.6, 0.8) − (0, 1) = (1.2, 0.6) → (0.894, 0.447).
    QString error;
    const auto v = engine::combineFeatures({{2.0, {3.f, 4.f}}, {-1.0, {0.f, 5.f}}}, &error);
    QVERIFY2(v, qPrintable(error));
    QCOMPARE(v->size(), size_t(2));
    QVERIFY(std::abs((*v)[0] - 1.2 / std::sqrt(1.8)) < 1e-6);
    QVERIFY(std::abs((*v)[1] - 0.6 / std::sqrt(1.8)) < 1e-6);
    QVERIFY(!engine::combineFeatures({{1.0, {1.f, 0.f}}, {1.0, {1.f, 0.f, 0.f}}}, &error));
    QVERIFY(!engine::combineFeatures({{1.0, {0.f, 0.f}}}, &error));
}

void TestQuery::cancellingTermsAreAnError()
{
    QString error;
    QVERIFY(!engine::combineFeatures({{1.0, {0.3f, 0.4f}}, {-1.0, {3.f, 4.f}}}, &error));
    QVERIFY2(error.contains(QLatin1String("cancel out")), qPrintable(error));
}

// --- end to end ---------------------------------------------------------------------

test::CliRun TestQuery::run(const QStringList &args)
{
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp->path());
    env.insert(QStringLiteral("UNISEARCH_PROGRESS_MS"), QStringLiteral("0"));
    return test::runProgram(QStringLiteral(UNISEARCH_CLI_PATH),
                            QStringList{QStringLiteral("--threads"), QStringLiteral("1")} + args, env);
}

// The 3 fixture images and 5 random pictures in a folder with a space in its name,
// indexed with the fixture model (once for the end-to-end cases).
void TestQuery::indexLibrary()
{
    if (m_indexed)
        return;
    m_bundle = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval", "fixture",
                                     m_shared.filePath(QStringLiteral("models")))
                   .bundle;
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_photos, QStringLiteral("my photos")));
    {
        QString error;
        QVERIFY2(test::registerActiveModel(m_data, m_bundle, QStringLiteral("fixture"), QStringLiteral("retrieval"), &error),
                 qPrintable(error));
    }
    const QString dir = test::caseDir(QStringLiteral("retrieval-image"));
    for (int i = 0; i < 3; ++i)
        QVERIFY(QFile::copy(QStringLiteral("%1/img%2.png").arg(dir).arg(i), m_photos + QStringLiteral("/img %1.png").arg(i)));
    for (int i = 0; i < 5; ++i)
        QVERIFY(test::randomImage(32, 32, 2000 + quint32(i)).save(m_photos + QStringLiteral("/decoy %1.png").arg(i)));
    const test::CliRun indexed = run({QStringLiteral("index"), m_photos});
    VERIFY_RUN(indexed, 0);
    m_indexed = true;
}

void TestQuery::combinedRankingEqualsWeightedSum()
{
    indexLibrary();
    if (QTest::currentTestFailed())
        return;
    const QStringList files = QDir(m_photos).entryList(QDir::Files, QDir::Name);
    QCOMPARE(files.size(), 8);
    QStringList paths;
    for (const QString &f : files)
        paths.append(m_photos + QLatin1Char('/') + f);
    const test::CliRun images = run(QStringList{QStringLiteral("embed"), QStringLiteral("image")} + paths
                                    + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(images, 0);
    std::map<QString, std::vector<float>> imageFeature;
    for (const QJsonValue &item : images.json().value(QStringLiteral("items")).toArray())
        imageFeature[item.toObject().value(QStringLiteral("file")).toString()] =
            featureOf(item.toObject().value(QStringLiteral("feature")));
    QCOMPARE(imageFeature.size(), size_t(8));
    const QString dogs = QStringLiteral("a dog running on the beach");
    const QString bikes = QStringLiteral("two people riding bikes at sunset");
    const test::CliRun texts = run({QStringLiteral("embed"), QStringLiteral("text"), dogs, bikes, QStringLiteral("--json")});
    VERIFY_RUN(texts, 0);
    const QJsonArray textItems = texts.json().value(QStringLiteral("items")).toArray();
    QCOMPARE(textItems.size(), 2);
    const std::vector<float> dogFeature = featureOf(textItems[0].toObject().value(QStringLiteral("feature")));
    const std::vector<float> bikeFeature = featureOf(textItems[1].toObject().value(QStringLiteral("feature")));

    // "2:dogs - bikes + <img 0>": img 0 itself is left out of the results.
    const QString named = m_photos + QStringLiteral("/img 0.png");
    const auto expected = engine::combineFeatures({{2.0, dogFeature}, {-1.0, bikeFeature}, {1.0, imageFeature[named]}});
    QVERIFY(expected);
    const test::CliRun searched = run({QStringLiteral("search"), QStringLiteral("2:%1 - %2 + %3").arg(dogs, bikes, named),
                                       QStringLiteral("--no-rerank"), QStringLiteral("--json")});
    VERIFY_RUN(searched, 0);
    const QJsonObject doc = searched.json();
    QCOMPARE(doc.value(QStringLiteral("cleanedQuery")).toString(), QStringLiteral("2:%1 - %2 + %3").arg(dogs, bikes, named));
    const QJsonArray results = doc.value(QStringLiteral("results")).toArray();
    QCOMPARE(results.size(), 7);
    std::map<QString, double> got;
    for (const QJsonValue &r : results) {
        const QString path = r.toObject().value(QStringLiteral("path")).toString();
        QVERIFY2(path != named, "the image term's own file is left out");
        got[path] = r.toObject().value(QStringLiteral("score")).toDouble();
    }
    QCOMPARE(got.size(), size_t(7));
    for (const auto &[path, score] : got) {
        const double want = dot(*expected, imageFeature.at(path));
        QVERIFY2(std::abs(score - want) < 2e-3, qPrintable(QStringLiteral("%1: %2 vs %3").arg(path).arg(score).arg(want)));
    }
    // The order: every pair the weighted sum separates clearly comes back in that order.
    int clearPairs = 0;
    for (qsizetype i = 0; i < results.size(); ++i)
        for (qsizetype j = i + 1; j < results.size(); ++j) {
            const double a = dot(*expected, imageFeature.at(results[i].toObject().value(QStringLiteral("path")).toString()));
            const double b = dot(*expected, imageFeature.at(results[j].toObject().value(QStringLiteral("path")).toString()));
            if (std::abs(a - b) > 0.02) {
                ++clearPairs;
                QVERIFY2(a > b, qPrintable(QStringLiteral("rank %1 before rank %2: %3 < %4").arg(i + 1).arg(j + 1).arg(a).arg(b)));
            }
        }
    QVERIFY(clearPairs > 0);

    // item:ID uses the stored vector: "item:<img 1> - 0.5:dogs" equals the sum from the embedded features.
    const QString img1 = m_photos + QStringLiteral("/img 1.png");
    const test::CliRun plain = run({QStringLiteral("search"), bikes, QStringLiteral("--no-rerank"), QStringLiteral("--json")});
    VERIFY_RUN(plain, 0);
    qint64 img1Id = 0;
    for (const QJsonValue &r : plain.json().value(QStringLiteral("results")).toArray())
        if (r.toObject().value(QStringLiteral("path")).toString() == img1)
            img1Id = r.toObject().value(QStringLiteral("itemId")).toInteger();
    QVERIFY(img1Id > 0);
    const auto expected2 = engine::combineFeatures({{1.0, imageFeature[img1]}, {-0.5, dogFeature}});
    const test::CliRun byItem = run({QStringLiteral("search"), QStringLiteral("item:%1 - 0.5:%2").arg(img1Id).arg(dogs),
                                     QStringLiteral("--rerank"), QStringLiteral("--json")});
    VERIFY_RUN(byItem, 0);
    QVERIFY(!byItem.json().value(QStringLiteral("reranked")).toBool());  // no positive text: no re-rank
    const QJsonArray results2 = byItem.json().value(QStringLiteral("results")).toArray();
    QCOMPARE(results2.size(), 7);
    for (const QJsonValue &r : results2) {
        const QString path = r.toObject().value(QStringLiteral("path")).toString();
        QVERIFY(path != img1);
        const double want = dot(*expected2, imageFeature.at(path));
        QVERIFY2(std::abs(r.toObject().value(QStringLiteral("score")).toDouble() - want) < 2e-3, qPrintable(path));
    }
}

// A video outside the library is embedded now: its video-level feature from 8 sampled
// frames, the feature `embed frames VIDEO` reports.
void TestQuery::videoTermUsesItsVideoFeature()
{
    indexLibrary();
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(!test::ffmpegProgram().isEmpty(), "ffmpeg is needed to make the test video");
    const QString video = m_tmp->filePath(QStringLiteral("clips/red then blue.mp4"));
    QVERIFY(QDir().mkpath(QFileInfo(video).absolutePath()));
    const QString made = test::runFfmpeg(
        {QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"), QStringLiteral("color=c=red:s=64x48:r=10:d=2"),
         QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"), QStringLiteral("color=c=blue:s=64x48:r=10:d=2"),
         QStringLiteral("-filter_complex"), QStringLiteral("[0:v][1:v]concat=n=2:v=1[v]"), QStringLiteral("-map"),
         QStringLiteral("[v]"), QStringLiteral("-pix_fmt"), QStringLiteral("yuv420p"), QStringLiteral("-c:v"),
         QStringLiteral("mpeg4"), video});
    QVERIFY2(made.isEmpty(), qPrintable(made));
    const test::CliRun frames = run({QStringLiteral("embed"), QStringLiteral("frames"), video, QStringLiteral("--json")});
    VERIFY_RUN(frames, 0);
    const std::vector<float> videoFeature = featureOf(frames.json().value(QStringLiteral("feature")));
    const QString dogs = QStringLiteral("a dog running on the beach");
    const test::CliRun text = run({QStringLiteral("embed"), QStringLiteral("text"), dogs, QStringLiteral("--json")});
    VERIFY_RUN(text, 0);
    const std::vector<float> dogFeature =
        featureOf(text.json().value(QStringLiteral("items")).toArray().at(0).toObject().value(QStringLiteral("feature")));
    const auto expected = engine::combineFeatures({{1.0, videoFeature}, {-0.5, dogFeature}});
    QVERIFY(expected);

    const test::CliRun searched = run({QStringLiteral("search"), QStringLiteral("%1 - 0.5:%2").arg(video, dogs),
                                       QStringLiteral("--json")});
    VERIFY_RUN(searched, 0);
    const QJsonArray results = searched.json().value(QStringLiteral("results")).toArray();
    QCOMPARE(results.size(), 8);  // the video is not in the library: nothing left out
    QStringList paths;
    for (const QJsonValue &r : results)
        paths.append(r.toObject().value(QStringLiteral("path")).toString());
    const test::CliRun images = run(QStringList{QStringLiteral("embed"), QStringLiteral("image")} + paths
                                    + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(images, 0);
    const QJsonArray items = images.json().value(QStringLiteral("items")).toArray();
    QCOMPARE(items.size(), results.size());
    for (qsizetype i = 0; i < results.size(); ++i) {
        const double want = dot(*expected, featureOf(items[i].toObject().value(QStringLiteral("feature"))));
        const double score = results[i].toObject().value(QStringLiteral("score")).toDouble();
        QVERIFY2(std::abs(score - want) < 2e-3, qPrintable(QStringLiteral("%1: %2 vs %3").arg(paths[i]).arg(score).arg(want)));
    }
}

void TestQuery::cliReportsQueryErrors()
{
    indexLibrary();
    if (QTest::currentTestFailed())
        return;
    const test::CliRun missing = run({QStringLiteral("search"), QStringLiteral("dog + /no/such/dir/beach.jpg")});
    VERIFY_RUN(missing, 2);
    QVERIFY2(missing.err.contains(QLatin1String("no such file: '/no/such/dir/beach.jpg'")), qPrintable(missing.err));
    QVERIFY(missing.out.isEmpty());
    const test::CliRun weight = run({QStringLiteral("search"), QStringLiteral("0:dog + cat")});
    VERIFY_RUN(weight, 2);
    QVERIFY2(weight.err.contains(QLatin1String("bad weight")), qPrintable(weight.err));
    const test::CliRun cancel = run({QStringLiteral("search"), QStringLiteral("a red circle - a red circle")});
    VERIFY_RUN(cancel, 1);
    QVERIFY2(cancel.err.contains(QLatin1String("cancel out")), qPrintable(cancel.err));
    const test::CliRun unknown = run({QStringLiteral("search"), QStringLiteral("dog + item:999999")});
    VERIFY_RUN(unknown, 1);
    QVERIFY2(unknown.err.contains(QLatin1String("item:999999 is not in the library")), qPrintable(unknown.err));
}

QTEST_MAIN(TestQuery)
#include "tst_query.moc"
