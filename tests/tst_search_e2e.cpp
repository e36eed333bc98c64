// End to end through unisearch-cli, as a person or a script uses it, with the fixture
// model (../shared/fixtures/uniadapter/retrieval-image, imported with its architecture):
// - `search CAPTION` ranks the fixture images in the order of the caption's column of
//   sim_i2t (decoys may interleave: the relative order of pairs the reference separates clearly is checked), with the reference
//   similarities as scores; `similar` follows image_feat · image_featᵀ; `--rerank` gives
//   the reference ITM probabilities;
// - crash safety: the indexer is SIGKILLed at several points and restarted; nothing is
//   lost, duplicated or half-written; a deleted or damaged store file is rebuilt;
// - one indexer per data dir; `status` lists per-file errors; `--watch` picks up changes
//   and stops cleanly on SIGTERM.
#include "catalog/catalog.h"
#include "engine/vectorindex.h"
#include "index/vectorstore.h"
#include "media/filepath.h"
#include "model/architecture.h"
#include "model/bundle.h"
#include "support/catalogfixture.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/modelfixture.h"
#include "support/npy.h"
#include "support/workspace.h"

#include <QBuffer>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLockFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <numeric>

using namespace unisearch;

namespace {

using Run = unisearch::test::CliRun;

void saveImage(const QImage &img, const QString &path)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QVERIFY2(img.save(path), qPrintable(path));
}

} // namespace

class TestSearchE2E : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void searchFollowsTheReferenceSimilarities();
    void similarFollowsImageFeatures();
    void rerankGivesReferenceMatchProbabilities();
    void commandErrorsAreActionable();
    void killedIndexerLosesNothing();
    void storeFileIsRebuiltOnNextOpen();
    void secondIndexerGetsAClearMessage();
    void statusListsPerFileErrors();
    void watchIndexesChangesUntilSigterm();
    void captureTimeFromAndTo();

private:
    Run run(const QStringList &args, int timeoutMs = 180000);
    QProcess *startCli(const QStringList &args);
    void registerModel();
    void makeFixtureFolder();  // the 3 fixture images + 6 decoys in m_photos
    QString fixtureImage(int i) const { return m_photos + QStringLiteral("/img%1.png").arg(i); }
    // The positions of the fixture images in a results array (-1 when absent).
    std::vector<int> ranksOfFixtures(const QJsonArray &results) const;
    void checkCatalogConsistent(qint64 expectedItems, bool exactItems);

    QString m_cli;
    QTemporaryDir m_shared;
    model::BundleInfo m_bundle;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_photos;
};

void TestSearchE2E::initTestCase()
{
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    // Imported once with its architecture through the bundle API (what `model import
    // FILE --architecture JSON` does); each test registers it in a fresh catalog.
    m_bundle = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval", "fixture",
                                     m_shared.filePath(QStringLiteral("models")))
                   .bundle;
}

void TestSearchE2E::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_photos, QStringLiteral("photos")));
}

void TestSearchE2E::cleanup()
{
    m_tmp.reset();
}

void TestSearchE2E::registerModel()
{
    QString error;
    QVERIFY2(test::registerActiveModel(m_data, m_bundle, QStringLiteral("fixture"), QStringLiteral("retrieval"), &error),
             qPrintable(error));
}

QProcess *TestSearchE2E::startCli(const QStringList &args)
{
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp->path());
    env.insert(QStringLiteral("UNISEARCH_PROGRESS_MS"), QStringLiteral("0"));
    auto *p = new QProcess(this);
    p->setProcessEnvironment(env);
    p->start(m_cli, QStringList{QStringLiteral("--threads"), QStringLiteral("1")} + args);
    return p;
}

Run TestSearchE2E::run(const QStringList &args, int timeoutMs)
{
    std::unique_ptr<QProcess> p(startCli(args));
    Run r;
    if (!p->waitForFinished(timeoutMs)) {
        p->kill();
        p->waitForFinished();
        qWarning("unisearch-cli %s did not finish", qPrintable(args.join(QLatin1Char(' '))));
        return r;
    }
    r.exitCode = p->exitStatus() == QProcess::NormalExit ? p->exitCode() : -1;
    r.out = QString::fromUtf8(p->readAllStandardOutput());
    r.err = QString::fromUtf8(p->readAllStandardError());
    return r;
}

void TestSearchE2E::makeFixtureFolder()
{
    const QString dir = test::caseDir(QStringLiteral("retrieval-image"));
    for (int i = 0; i < 3; ++i)
        QVERIFY(QFile::copy(QStringLiteral("%1/img%2.png").arg(dir).arg(i), fixtureImage(i)));
    // Decoys: other pictures, some at the model's size, some larger, one a JPEG.
    for (int i = 0; i < 6; ++i)
        saveImage(test::randomImage(i < 3 ? 32 : 80, i < 3 ? 32 : 60, 1000 + quint32(i)),
                  QStringLiteral("%1/decoys/decoy%2.%3").arg(m_photos).arg(i).arg(i == 5 ? "jpg" : "png"));
}

std::vector<int> TestSearchE2E::ranksOfFixtures(const QJsonArray &results) const
{
    std::vector<int> ranks(3, -1);
    for (qsizetype r = 0; r < results.size(); ++r)
        for (int i = 0; i < 3; ++i)
            if (results[r].toObject().value(QStringLiteral("path")).toString() == fixtureImage(i))
                ranks[size_t(i)] = int(r);
    return ranks;
}

void TestSearchE2E::searchFollowsTheReferenceSimilarities()
{
    // This test imports through the CLI, as a person would (the others register the
    // bundle imported once in initTestCase, to save the import's time).
    const QString caseDir = test::caseDir(QStringLiteral("retrieval-image"));
    const nlohmann::json c = test::readCase(QStringLiteral("retrieval-image"));
    const Run imported = run({QStringLiteral("model"), QStringLiteral("import"),
                              QDir(caseDir).filePath(QString::fromStdString(c.at("weights").get<std::string>())),
                              QStringLiteral("--name"), QStringLiteral("fixture"), QStringLiteral("--task"),
                              QStringLiteral("retrieval"), QStringLiteral("--architecture"),
                              QStringLiteral("@") + caseDir + QStringLiteral("/case.json")});
    QVERIFY2(imported.exitCode == 0, qPrintable(imported.err));
    QCOMPARE(run({QStringLiteral("status"), QStringLiteral("--json")}).json().value(QStringLiteral("activeModel")).toString(),
             QStringLiteral("fixture"));
    makeFixtureFolder();
    const Run indexed = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")});
    QVERIFY2(indexed.exitCode == 0, qPrintable(indexed.err));
    QCOMPARE(indexed.json().value(QStringLiteral("embedded")).toInt(), 9);

    const test::Npy sim = test::readNpy(caseDir + QStringLiteral("/sim_i2t.npy"));
    QCOMPARE(sim.shape, (std::vector<int64_t>{3, 4}));
    const auto captions = c.at("captions");
    QCOMPARE(int(captions.size()), 4);
    for (int k = 0; k < 4; ++k) {
        const QString caption = QString::fromStdString(captions[size_t(k)].get<std::string>());
        const Run r = run({QStringLiteral("search"), caption, QStringLiteral("--top"), QStringLiteral("20"),
                           QStringLiteral("--json")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QJsonObject doc = r.json();
        QCOMPARE(doc.value(QStringLiteral("query")).toString(), caption);
        QCOMPARE(doc.value(QStringLiteral("reranked")).toBool(), false);
        const QJsonArray results = doc.value(QStringLiteral("results")).toArray();
        QCOMPARE(results.size(), 9);
        // Scores are non-increasing.
        for (qsizetype i = 1; i < results.size(); ++i)
            QVERIFY(results[i - 1].toObject().value(QStringLiteral("score")).toDouble()
                    >= results[i].toObject().value(QStringLiteral("score")).toDouble());
        const std::vector<int> ranks = ranksOfFixtures(results);
        // The order of every pair the reference separates by more than twice the score
        // tolerance below; closer pairs (0.0003 apart for caption 2) are near-ties.
        for (const auto &[above, below] : test::clearlyOrderedRows(sim, k, 2e-3))
            QVERIFY2(ranks[size_t(above)] < ranks[size_t(below)],
                     qPrintable(QStringLiteral("caption %1 '%2': img%3 should rank above img%4 (ranks %5 %6 %7)")
                                    .arg(k)
                                    .arg(caption)
                                    .arg(above)
                                    .arg(below)
                                    .arg(ranks[0])
                                    .arg(ranks[1])
                                    .arg(ranks[2])));
        // Where pre_caption leaves the caption as the reference tokenized it (all but the
        // last, whose ';' and '!' the clean-up removes), the scores are the reference's.
        const bool cleanupIsIdentity = doc.value(QStringLiteral("cleanedQuery")).toString() == caption.toLower();
        if (cleanupIsIdentity) {
            for (int i = 0; i < 3; ++i) {
                const double score = results[ranks[size_t(i)]].toObject().value(QStringLiteral("score")).toDouble();
                QVERIFY2(std::abs(score - sim.at({i, k})) < 1e-3,
                         qPrintable(QStringLiteral("caption %1 img%2: %3 vs %4").arg(k).arg(i).arg(score).arg(sim.at({i, k}))));
            }
        } else {
            QCOMPARE(k, 3);
        }
    }
}

void TestSearchE2E::similarFollowsImageFeatures()
{
    registerModel();
    makeFixtureFolder();
    QCOMPARE(run({QStringLiteral("index"), m_photos}).exitCode, 0);
    const test::Npy feat =
        test::readNpy(test::caseDir(QStringLiteral("retrieval-image")) + QStringLiteral("/image_feat.npy"));
    const int64_t dim = feat.shape[1];
    auto dot = [&](int a, int b) {
        double s = 0;
        for (int64_t k = 0; k < dim; ++k)
            s += double(feat.at({a, k})) * double(feat.at({b, k}));
        return s;
    };
    for (int i = 0; i < 3; ++i) {
        const Run r = run({QStringLiteral("similar"), fixtureImage(i), QStringLiteral("--top"), QStringLiteral("20"),
                           QStringLiteral("--json")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QJsonObject doc = r.json();
        QCOMPARE(doc.value(QStringLiteral("source")).toString(), QStringLiteral("catalog"));
        const QJsonArray results = doc.value(QStringLiteral("results")).toArray();
        QCOMPARE(results.size(), 8);  // everything but the file itself
        const std::vector<int> ranks = ranksOfFixtures(results);
        QCOMPARE(ranks[size_t(i)], -1);
        std::vector<int> others;
        for (int j = 0; j < 3; ++j)
            if (j != i)
                others.push_back(j);
        std::sort(others.begin(), others.end(), [&](int a, int b) { return dot(i, a) > dot(i, b); });
        QVERIFY2(ranks[size_t(others[0])] < ranks[size_t(others[1])],
                 qPrintable(QStringLiteral("similar img%1: img%2 (%3) before img%4 (%5)")
                                .arg(i)
                                .arg(others[0])
                                .arg(dot(i, others[0]))
                                .arg(others[1])
                                .arg(dot(i, others[1]))));
        for (const int j : others) {
            const double score = results[ranks[size_t(j)]].toObject().value(QStringLiteral("score")).toDouble();
            QVERIFY2(std::abs(score - dot(i, j)) < 2e-3, qPrintable(QStringLiteral("%1 vs %2").arg(score).arg(dot(i, j))));
        }
    }
    // A file outside the library: embedded on the fly; its copy inside ranks first.
    const QString outside = m_tmp->filePath(QStringLiteral("elsewhere/copy of img1.png"));
    QDir().mkpath(QFileInfo(outside).absolutePath());
    QVERIFY(QFile::copy(fixtureImage(1), outside));
    const Run r = run({QStringLiteral("similar"), outside, QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.json().value(QStringLiteral("source")).toString(), QStringLiteral("embedded"));
    const QJsonObject best = r.json().value(QStringLiteral("results")).toArray().at(0).toObject();
    QCOMPARE(best.value(QStringLiteral("path")).toString(), fixtureImage(1));
    QVERIFY(best.value(QStringLiteral("score")).toDouble() > 0.999);
}

void TestSearchE2E::rerankGivesReferenceMatchProbabilities()
{
    registerModel();
    makeFixtureFolder();
    QCOMPARE(run({QStringLiteral("index"), m_photos}).exitCode, 0);
    const test::Npy itm = test::readNpy(test::caseDir(QStringLiteral("retrieval-image")) + QStringLiteral("/itm_prob.npy"));
    const nlohmann::json c = test::readCase(QStringLiteral("retrieval-image"));
    for (int k = 0; k < 3; ++k) {  // the captions pre_caption leaves unchanged
        const QString caption = QString::fromStdString(c.at("captions")[size_t(k)].get<std::string>());
        // All 9 fixture images re-ranked (the CPU default depth is 8).
        const Run r = run({QStringLiteral("search"), caption, QStringLiteral("--rerank"), QStringLiteral("--rerank-top"),
                           QStringLiteral("16"), QStringLiteral("--json")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QJsonObject doc = r.json();
        QVERIFY(doc.value(QStringLiteral("reranked")).toBool());
        const QJsonArray results = doc.value(QStringLiteral("results")).toArray();
        QCOMPARE(results.size(), 9);
        double best = 0;
        for (qsizetype i = 0; i < results.size(); ++i) {
            const double p = results[i].toObject().value(QStringLiteral("itmProbability")).toDouble(-1);
            QVERIFY(p >= 0 && p <= 1);
            best = std::max(best, p);
            if (i > 0)  // re-ranked: by match probability
                QVERIFY(results[i - 1].toObject().value(QStringLiteral("itmProbability")).toDouble() >= p);
        }
        const std::vector<int> ranks = ranksOfFixtures(results);
        for (int i = 0; i < 3; ++i) {
            const double p = results[ranks[size_t(i)]].toObject().value(QStringLiteral("itmProbability")).toDouble();
            QVERIFY2(std::abs(p - itm.at({i, k})) < 1e-3, qPrintable(QStringLiteral("%1 vs %2").arg(p).arg(itm.at({i, k}))));
        }
        QCOMPARE(doc.value(QStringLiteral("noGoodMatch")).toBool(), best < 0.5);
        QCOMPARE(doc.value(QStringLiteral("bestItmProbability")).toDouble(), best);
    }
    // The cut-off decides "no good match".
    const Run strict = run({QStringLiteral("search"), QStringLiteral("a dog running on the beach"),
                            QStringLiteral("--rerank"), QStringLiteral("--threshold"), QStringLiteral("0.99"),
                            QStringLiteral("--json")});
    QVERIFY(strict.json().value(QStringLiteral("noGoodMatch")).toBool());
    const Run text = run({QStringLiteral("search"), QStringLiteral("a dog running on the beach"),
                          QStringLiteral("--rerank"), QStringLiteral("--threshold"), QStringLiteral("0.99")});
    QCOMPARE(text.exitCode, 0);
    QVERIFY2(text.out.startsWith(QStringLiteral("No good match")), qPrintable(text.out));
    const Run lenient = run({QStringLiteral("search"), QStringLiteral("a dog running on the beach"),
                             QStringLiteral("--rerank"), QStringLiteral("--threshold"), QStringLiteral("0.01"),
                             QStringLiteral("--json")});
    QVERIFY(!lenient.json().value(QStringLiteral("noGoodMatch")).toBool());
}

void TestSearchE2E::commandErrorsAreActionable()
{
    // No model yet.
    const Run noModel = run({QStringLiteral("search"), QStringLiteral("a dog")});
    QCOMPARE(noModel.exitCode, 1);
    QVERIFY2(noModel.err.contains(QStringLiteral("model import")), qPrintable(noModel.err));
    const Run indexNoModel = run({QStringLiteral("index"), m_photos});
    QCOMPARE(indexNoModel.exitCode, 1);
    QVERIFY2(indexNoModel.err.contains(QStringLiteral("model import")), qPrintable(indexNoModel.err));

    registerModel();
    const Run missing = run({QStringLiteral("index"), m_tmp->filePath(QStringLiteral("nope"))});
    QCOMPARE(missing.exitCode, 1);
    QVERIFY2(missing.err.contains(QStringLiteral("no such file or folder")), qPrintable(missing.err));
    QCOMPARE(run({QStringLiteral("index")}).exitCode, 2);
    QCOMPARE(run({QStringLiteral("search")}).exitCode, 2);
    QCOMPARE(run({QStringLiteral("search"), QStringLiteral("x"), QStringLiteral("--type"), QStringLiteral("gif")}).exitCode, 2);
    QCOMPARE(run({QStringLiteral("search"), QStringLiteral("x"), QStringLiteral("--top"), QStringLiteral("0")}).exitCode, 2);
    QCOMPARE(run({QStringLiteral("search"), QStringLiteral("x"), QStringLiteral("--from"), QStringLiteral("May")}).exitCode, 2);
    const Run punctuation = run({QStringLiteral("search"), QStringLiteral("!!! ...")});
    QCOMPARE(punctuation.exitCode, 1);
    QVERIFY2(punctuation.err.contains(QStringLiteral("no words")), qPrintable(punctuation.err));
    const Run noFile = run({QStringLiteral("similar"), m_tmp->filePath(QStringLiteral("nope.jpg"))});
    QCOMPARE(noFile.exitCode, 1);
    QVERIFY2(noFile.err.contains(QStringLiteral("nope.jpg")), qPrintable(noFile.err));
    // An empty library searches fine and says so.
    const Run empty = run({QStringLiteral("search"), QStringLiteral("a dog"), QStringLiteral("--json")});
    QCOMPARE(empty.exitCode, 0);
    QCOMPARE(empty.json().value(QStringLiteral("results")).toArray().size(), 0);
    QVERIFY(empty.err.contains(QStringLiteral("no indexed images yet")));
}

void TestSearchE2E::checkCatalogConsistent(qint64 expectedItems, bool exactItems)
{
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    catalog::Catalog &cat = *opened.catalog;
    const catalog::Counts c = cat.counts();
    if (exactItems)
        QCOMPARE(c.items, expectedItems);
    else
        QVERIFY(c.items <= expectedItems);
    // Every item has exactly one segment with one whole vector: nothing half-written.
    QCOMPARE(c.segments, c.items);
    QCOMPARE(c.vectors, c.items);
    const QString fp = QString::fromStdString(m_bundle.fingerprint);
    QSet<QString> paths;
    for (const catalog::Root &root : cat.roots()) {
        for (const catalog::Item &it : cat.itemsInRoot(root.id)) {
            QCOMPARE(catalog::toString(it.status), QStringLiteral("indexed"));
            QVERIFY(!paths.contains(it.path));
            paths.insert(it.path);
            const QList<catalog::Segment> segs = cat.segments(it.id);
            QCOMPARE(segs.size(), 1);
            const auto v = cat.vector(segs.constFirst().id, fp);
            QVERIFY(v);
            double n = 0;
            for (float x : *v)
                n += double(x) * double(x);
            QVERIFY(std::abs(std::sqrt(n) - 1.0) < 1e-2);
        }
    }
    QCOMPARE(qint64(paths.size()), c.items);
}

void TestSearchE2E::killedIndexerLosesNothing()
{
    registerModel();
    constexpr int files = 600;
    for (int i = 0; i < files; ++i)
        saveImage(test::randomImage(96, 72, quint32(i)),
                  QStringLiteral("%1/d%2/img%3.jpg").arg(m_photos).arg(i / 100).arg(i, 4, 10, QLatin1Char('0')));

    // Kill after 0 (scanning), then after some progress lines. A line is printed after
    // every committed batch (UNISEARCH_PROGRESS_MS=0), so kills land in various places:
    // while decoding, between model and commit, during a commit, before a store save.
    qint64 lastItems = 0;
    int kills = 0;
    for (const int afterLines : {0, 3, 20, 40, 60}) {
        std::unique_ptr<QProcess> p(startCli({QStringLiteral("index"), m_photos, QStringLiteral("--batch"),
                                              QStringLiteral("2")}));
        QVERIFY(p->waitForStarted());
        int lines = 0;
        QByteArray buffer;
        bool killed = false;
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 120000) {
            if (p->state() == QProcess::NotRunning)
                break;
            p->waitForReadyRead(50);
            buffer += p->readAllStandardError();
            qsizetype nl;
            while ((nl = buffer.indexOf('\n')) >= 0) {
                if (buffer.startsWith("indexing:") || (afterLines == 0 && buffer.startsWith("scanning")))
                    ++lines;
                buffer.remove(0, nl + 1);
            }
            if (lines > afterLines || (afterLines == 0 && lines > 0)) {
                ::kill(static_cast<pid_t>(p->processId()), SIGKILL);
                killed = true;
                break;
            }
        }
        p->waitForFinished(30000);
        if (killed) {
            QCOMPARE(p->exitStatus(), QProcess::CrashExit);
            ++kills;
        } else {
            qWarning("the indexer finished before %d progress lines", afterLines);
        }
        // What a kill leaves: only whole batches, never fewer items than before.
        checkCatalogConsistent(files, false);
        auto opened = catalog::Catalog::open(m_data);
        const qint64 items = opened.catalog->counts().items;
        QVERIFY(items >= lastItems);
        qInfo("killed after %d progress lines: %lld items committed", afterLines, static_cast<long long>(items));
        lastItems = items;
        if (!killed)
            break;
    }
    QVERIFY2(kills >= 3, "the indexer ran too fast to be killed at several points");

    // Restart: it finishes the rest, and nothing is lost or duplicated.
    const Run finish = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")});
    QVERIFY2(finish.exitCode == 0, qPrintable(finish.err));
    const QJsonObject r = finish.json();
    QCOMPARE(r.value(QStringLiteral("unchanged")).toInt(), int(lastItems));
    QCOMPARE(r.value(QStringLiteral("embedded")).toInt(), files - int(lastItems));
    QCOMPARE(r.value(QStringLiteral("storeSize")).toInt(), files);
    QCOMPARE(r.value(QStringLiteral("failed")).toInt(), 0);
    checkCatalogConsistent(files, true);

    // The store on disk is current (no rebuild needed) and as large as the catalog.
    auto opened = catalog::Catalog::open(m_data);
    engine::VectorIndex vi(*opened.catalog, m_data, QString::fromStdString(m_bundle.fingerprint),
                           m_bundle.architecture.embedDim);
    const engine::VectorIndexReport report = vi.open(false);
    QVERIFY(report.ok);
    QVERIFY2(!report.rebuilt, qPrintable(report.reason));
    QCOMPARE(qint64(vi.store().size()), qint64(files));
    // The interrupted jobs read as such.
    const Run status = run({QStringLiteral("status"), QStringLiteral("--json")});
    QCOMPARE(status.json().value(QStringLiteral("index")).toObject().value(QStringLiteral("vectors")).toInt(), files);
    QVERIFY(status.json().value(QStringLiteral("counts")).toObject().value(QStringLiteral("jobs")).toInt() >= kills + 1);
    QCOMPARE(status.json().value(QStringLiteral("index")).toObject().value(QStringLiteral("lastJob")).toObject()
                 .value(QStringLiteral("state")).toString(),
             QStringLiteral("done"));
}

void TestSearchE2E::storeFileIsRebuiltOnNextOpen()
{
    registerModel();
    makeFixtureFolder();
    QCOMPARE(run({QStringLiteral("index"), m_photos}).exitCode, 0);
    const QString file = engine::VectorIndex::storePath(m_data, QString::fromStdString(m_bundle.fingerprint));
    QVERIFY(QFileInfo::exists(file));
    const QString query = QStringLiteral("a red circle on a blue field");
    const Run before = run({QStringLiteral("search"), query, QStringLiteral("--json")});
    const QJsonArray expected = before.json().value(QStringLiteral("results")).toArray();
    QCOMPARE(expected.size(), 9);

    auto check = [&](const char *what) {
        const Run r = run({QStringLiteral("search"), query, QStringLiteral("--json")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QJsonArray results = r.json().value(QStringLiteral("results")).toArray();
        QCOMPARE(results.size(), expected.size());
        for (qsizetype i = 0; i < results.size(); ++i) {
            QCOMPARE(results[i].toObject().value(QStringLiteral("path")), expected[i].toObject().value(QStringLiteral("path")));
            // Rebuilt from the catalog's float16 copies: the same up to half precision.
            QVERIFY(std::abs(results[i].toObject().value(QStringLiteral("score")).toDouble()
                             - expected[i].toObject().value(QStringLiteral("score")).toDouble())
                    < 2e-3);
        }
        QVERIFY2(QFileInfo::exists(file), what);  // written back
        auto opened = catalog::Catalog::open(m_data);
        engine::VectorIndex vi(*opened.catalog, m_data, QString::fromStdString(m_bundle.fingerprint),
                               m_bundle.architecture.embedDim);
        const engine::VectorIndexReport report = vi.open(false);
        QVERIFY2(!report.rebuilt, what);
        QCOMPARE(vi.store().size(), size_t(9));
    };
    QVERIFY(QFile::remove(file));
    check("deleted");
    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadWrite));
        QVERIFY(f.seek(f.size() / 2));
        f.write(QByteArray(100, '\xa5'));
    }
    check("corrupted");
    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write("not a store at all");
    }
    check("overwritten");
}

void TestSearchE2E::secondIndexerGetsAClearMessage()
{
    registerModel();
    makeFixtureFolder();
    QLockFile held(m_data + QStringLiteral("/index.lock"));
    QVERIFY(held.tryLock());
    const Run r = run({QStringLiteral("index"), m_photos});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains(QStringLiteral("another Unisearch process is indexing this library (pid %1)")
                                .arg(QCoreApplication::applicationPid())),
             qPrintable(r.err));
    const Run status = run({QStringLiteral("status"), QStringLiteral("--json")});
    QCOMPARE(status.json().value(QStringLiteral("index")).toObject().value(QStringLiteral("indexerPid")).toInteger(),
             QCoreApplication::applicationPid());
    // Searching is not blocked by an indexer.
    QCOMPARE(run({QStringLiteral("search"), QStringLiteral("a dog")}).exitCode, 0);
    held.unlock();
    QCOMPARE(run({QStringLiteral("index"), m_photos}).exitCode, 0);
}

void TestSearchE2E::statusListsPerFileErrors()
{
    registerModel();
    makeFixtureFolder();
    QFile bad(m_photos + QStringLiteral("/broken.jpg"));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("\xff\xd8\xff\xe0 not really a jpeg");
    bad.close();
    QFile notImage(m_photos + QStringLiteral("/readme.png"));
    QVERIFY(notImage.open(QIODevice::WriteOnly));
    notImage.write("plain text\n");
    notImage.close();
    const Run indexed = run({QStringLiteral("index"), m_photos});
    QVERIFY2(indexed.exitCode == 0, qPrintable(indexed.err));  // per-file errors are not fatal
    QVERIFY2(indexed.out.contains(QStringLiteral("2 files could not be indexed")), qPrintable(indexed.out));

    const Run json = run({QStringLiteral("status"), QStringLiteral("--json")});
    QCOMPARE(json.exitCode, 0);
    const QJsonObject doc = json.json();
    const QJsonArray errors = doc.value(QStringLiteral("errors")).toArray();
    QCOMPARE(errors.size(), 2);
    QSet<QString> errorPaths;
    for (const QJsonValue &e : errors) {
        errorPaths.insert(e.toObject().value(QStringLiteral("path")).toString());
        QVERIFY(!e.toObject().value(QStringLiteral("message")).toString().isEmpty());
        QVERIFY(!e.toObject().value(QStringLiteral("stage")).toString().isEmpty());
    }
    QVERIFY(errorPaths.contains(m_photos + QStringLiteral("/broken.jpg")));
    QVERIFY(errorPaths.contains(m_photos + QStringLiteral("/readme.png")));
    const QJsonObject index = doc.value(QStringLiteral("index")).toObject();
    QCOMPARE(index.value(QStringLiteral("vectors")).toInt(), 9);
    QCOMPARE(index.value(QStringLiteral("indexedImages")).toInt(), 9);
    QCOMPARE(index.value(QStringLiteral("errorItems")).toInt(), 2);
    QCOMPARE(index.value(QStringLiteral("storeExists")).toBool(), true);
    QCOMPARE(index.value(QStringLiteral("lastJob")).toObject().value(QStringLiteral("state")).toString(),
             QStringLiteral("done"));
    QCOMPARE(doc.value(QStringLiteral("counts")).toObject().value(QStringLiteral("errors")).toInt(), 2);

    const Run text = run({QStringLiteral("status")});
    QVERIFY(text.out.contains(QStringLiteral("Files that could not be indexed:")));
    QVERIFY(text.out.contains(m_photos + QStringLiteral("/readme.png")));
}

void TestSearchE2E::watchIndexesChangesUntilSigterm()
{
    registerModel();
    makeFixtureFolder();
    std::unique_ptr<QProcess> p(startCli({QStringLiteral("index"), m_photos, QStringLiteral("--watch")}));
    QVERIFY(p->waitForStarted());
    QByteArray err;
    QElapsedTimer t;
    t.start();
    while (!err.contains("watching") && t.elapsed() < 60000 && p->state() == QProcess::Running) {
        p->waitForReadyRead(100);
        err += p->readAllStandardError();
    }
    QVERIFY2(err.contains("watching"), err.constData());

    auto itemCount = [&] {
        return run({QStringLiteral("status"), QStringLiteral("--json")})
            .json()
            .value(QStringLiteral("counts"))
            .toObject()
            .value(QStringLiteral("items"))
            .toInt();
    };
    QCOMPARE(itemCount(), 9);
    // A new photo in a new subfolder, and a deleted one.
    saveImage(test::randomImage(40, 40, 4242), m_photos + QStringLiteral("/later/new.png"));
    QVERIFY(QFile::remove(m_photos + QStringLiteral("/decoys/decoy0.png")));
    t.restart();
    int items = 0;
    bool sawNew = false;
    while (t.elapsed() < 60000) {
        QTest::qWait(500);
        err += p->readAllStandardError();
        items = itemCount();
        auto opened = catalog::Catalog::open(m_data);
        sawNew = opened.catalog->itemByPath(m_photos + QStringLiteral("/later/new.png")).has_value();
        if (sawNew && items == 9)
            break;
    }
    QVERIFY2(sawNew && items == 9, qPrintable(QStringLiteral("items %1; stderr:\n%2").arg(items).arg(QString::fromUtf8(err))));
    const Run found = run({QStringLiteral("search"), QStringLiteral("a photo"), QStringLiteral("--json")});
    for (const QJsonValue &v : found.json().value(QStringLiteral("results")).toArray())
        QVERIFY(!v.toObject().value(QStringLiteral("path")).toString().endsWith(QStringLiteral("decoy0.png")));

    p->terminate();  // SIGTERM
    QVERIFY(p->waitForFinished(30000));
    err += p->readAllStandardError();
    QCOMPARE(p->exitStatus(), QProcess::NormalExit);
    QCOMPARE(p->exitCode(), 0);
    QVERIFY2(err.contains("stopped watching"), err.constData());
    // The lock is released.
    QVERIFY(!QFileInfo::exists(m_data + QStringLiteral("/index.lock")));
}

// search --from/--to select by capture time (the EXIF date exiftool wrote, as the wall clock
// whatever its offset; the file time for a photo without one), both days inclusive; each
// result carries taken (ISO 8601, the offset when known) and takenSource.
void TestSearchE2E::captureTimeFromAndTo()
{
    registerModel();
    struct Photo {
        const char *name;
        const char *taken;   // EXIF DateTimeOriginal, empty: none
        const char *offset;  // OffsetTimeOriginal, empty: none
    };
    const Photo photos[] = {
        {"tokyo.jpg", "2024:01:02 00:30:00", "+09:00"},  // the 1st in UTC, the 2nd where taken
        {"late.jpg", "2024:01:03 23:30:00", ""},         // the last day, no offset
        {"after.jpg", "2024:01:04 00:00:00", "+01:00"},  // the day after
        {"before.jpg", "2024:01:01 23:59:59", ""},       // the day before
        {"plain.jpg", "", ""},                           // no EXIF: its file time
    };
    for (int i = 0; i < 5; ++i) {
        const QString path = m_photos + QLatin1Char('/') + QLatin1String(photos[i].name);
        saveImage(test::randomImage(40, 30, 500 + quint32(i)), path);
        QStringList args{QStringLiteral("-q"), QStringLiteral("-overwrite_original")};
        if (*photos[i].taken)
            args << QStringLiteral("-DateTimeOriginal=%1").arg(QLatin1String(photos[i].taken));
        if (*photos[i].offset)
            args << QStringLiteral("-OffsetTimeOriginal=%1").arg(QLatin1String(photos[i].offset));
        if (args.size() > 2) {
            QProcess exiftool;
            exiftool.start(QStringLiteral("exiftool"), args << path);
            QVERIFY2(exiftool.waitForFinished(60000) && exiftool.exitCode() == 0,
                     qPrintable(QStringLiteral("exiftool (Debian package libimage-exiftool-perl): ")
                                + exiftool.errorString() + QString::fromUtf8(exiftool.readAllStandardError())));
        }
    }
    // The photo without EXIF was modified at noon on 10 January here.
    QFile plain(m_photos + QStringLiteral("/plain.jpg"));
    QVERIFY(plain.open(QIODevice::ReadWrite));
    QVERIFY(plain.setFileTime(QDateTime(QDate(2024, 1, 10), QTime(12, 0), Qt::LocalTime),
                              QFileDevice::FileModificationTime));
    plain.close();
    const Run indexed = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")});
    QVERIFY2(indexed.exitCode == 0, qPrintable(indexed.err));

    const auto search = [&](const QStringList &extra) {
        return run(QStringList{QStringLiteral("search"), QStringLiteral("a photo"), QStringLiteral("--json")} + extra);
    };
    const auto byName = [](const Run &r) {
        QMap<QString, QJsonObject> out;
        for (const QJsonValue &v : r.json().value(QStringLiteral("results")).toArray())
            out.insert(QFileInfo(v.toObject().value(QStringLiteral("path")).toString()).fileName(), v.toObject());
        return out;
    };
    const Run window = search({QStringLiteral("--from"), QStringLiteral("2024-01-02"), QStringLiteral("--to"),
                               QStringLiteral("2024-01-03")});
    QVERIFY2(window.exitCode == 0, qPrintable(window.err));
    const auto inside = byName(window);
    QCOMPARE(inside.keys(), (QStringList{"late.jpg", "tokyo.jpg"}));
    QCOMPARE(inside["tokyo.jpg"].value(QStringLiteral("taken")).toString(), QStringLiteral("2024-01-02T00:30:00+09:00"));
    QCOMPARE(inside["tokyo.jpg"].value(QStringLiteral("takenSource")).toString(), QStringLiteral("exif"));
    QCOMPARE(inside["late.jpg"].value(QStringLiteral("taken")).toString(), QStringLiteral("2024-01-03T23:30:00"));

    // Every result says when it was taken; the photo without EXIF by its file time.
    const auto all = byName(search({}));
    QCOMPARE(all.size(), 5);
    QCOMPARE(all["after.jpg"].value(QStringLiteral("taken")).toString(), QStringLiteral("2024-01-04T00:00:00+01:00"));
    QCOMPARE(all["plain.jpg"].value(QStringLiteral("takenSource")).toString(), QStringLiteral("file"));
    QVERIFY2(all["plain.jpg"].value(QStringLiteral("taken")).toString().startsWith(QStringLiteral("2024-01-10T12:00:00")),
             qPrintable(all["plain.jpg"].value(QStringLiteral("taken")).toString()));
    const auto tenth = byName(search({QStringLiteral("--from"), QStringLiteral("2024-01-10"), QStringLiteral("--to"),
                                      QStringLiteral("2024-01-10")}));
    QCOMPARE(tenth.keys(), (QStringList{"plain.jpg"}));
    // A date and time: to the minute, inclusive.
    const auto evening = byName(search({QStringLiteral("--from"), QStringLiteral("2024-01-01T23:00"),
                                        QStringLiteral("--to"), QStringLiteral("2024-01-02T00:30")}));
    QCOMPARE(evening.keys(), (QStringList{"before.jpg", "tokyo.jpg"}));

    // Mistakes are usage errors that say what to write.
    const Run bad = search({QStringLiteral("--from"), QStringLiteral("2024-13-01")});
    QCOMPARE(bad.exitCode, 2);
    QVERIFY2(bad.err.contains(QStringLiteral("--from")) && bad.err.contains(QStringLiteral("YYYY-MM-DD")),
             qPrintable(bad.err));
    const Run reversed = search({QStringLiteral("--from"), QStringLiteral("2024-01-05"), QStringLiteral("--to"),
                                 QStringLiteral("2024-01-01")});
    QCOMPARE(reversed.exitCode, 2);
    QVERIFY2(reversed.err.contains(QStringLiteral("after")), qPrintable(reversed.err));
}

QTEST_GUILESS_MAIN(TestSearchE2E)
#include "tst_search_e2e.moc"
