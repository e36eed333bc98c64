// The index job's adaptive batch/thread controller (core/engine/indexing/adaptive.h),
// driven with synthetic per-batch timings, and one index run with the adaptive default.
#include "catalog/catalog.h"
#include "engine/indexing/adaptive.h"
#include "engine/indexjob.h"
#include "engine/retrievalmodel.h"
#include "model/bundle.h"
#include "model/modelrunner.h"
#include "model/runtime.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/modelfixture.h"
#include "support/workspace.h"

#include <QDir>
#include <QImage>
#include <QTemporaryDir>
#include <QtTest>

#include <functional>
#include <map>

using namespace unisearch;
using engine::indexing::AdaptiveConfig;
using engine::indexing::AdaptiveController;
using engine::indexing::AdaptiveParams;

namespace {

// Seconds per image of a configuration on a synthetic machine.
using Machine = std::function<double(const AdaptiveConfig &)>;

// Idle 2-core machine as measured in bfloat16: larger batches and both threads are faster.
double idle(const AdaptiveConfig &c)
{
    const std::map<int, double> perBatch{{1, 0.60}, {2, 0.45}, {4, 0.35}, {8, 0.30}};
    return perBatch.at(c.batch) * (c.threads == 2 ? 1.0 : 1.7);
}

// The same machine with another process on one core: large batches collapse, one thread wins.
double loaded(const AdaptiveConfig &c)
{
    const std::map<int, double> perBatch{{1, 0.80}, {2, 0.95}, {4, 1.40}, {8, 2.20}};
    return perBatch.at(c.batch) * (c.threads == 2 ? 1.0 : 0.7);
}

struct Trace {
    std::vector<AdaptiveConfig> configs;
    std::vector<bool> probes;
};

// Runs `batches` batches on `machine`, feeding each batch's time back.
void drive(AdaptiveController &ctl, const Machine &machine, int batches, Trace *trace = nullptr)
{
    for (int i = 0; i < batches; ++i) {
        const AdaptiveConfig c = ctl.next();
        if (trace) {
            trace->configs.push_back(c);
            trace->probes.push_back(ctl.lastWasProbe());
        }
        ctl.observe(c, c.batch, machine(c) * c.batch);
    }
}

AdaptiveParams twoCores()
{
    AdaptiveParams p;
    p.maxThreads = 2;
    return p;
}

} // namespace

class TestAdaptive : public QObject
{
    Q_OBJECT

private slots:
    void convergesToTheFastestConfiguration();
    void backsOffToSmallerBatchesUnderLoad();
    void neverLeavesTheBounds();
    void exploresAtMostEveryNBatches();
    void explicitValuesAreKept();
    void indexRunWithTheAdaptiveDefaultIsComplete();
};

void TestAdaptive::convergesToTheFastestConfiguration()
{
    AdaptiveController idleCtl(twoCores());
    drive(idleCtl, idle, 40);
    QVERIFY(!idleCtl.calibrating());
    QCOMPARE(idleCtl.best(), (AdaptiveConfig{8, 2}));

    AdaptiveController loadedCtl(twoCores());
    drive(loadedCtl, loaded, 60);
    QCOMPARE(loadedCtl.best(), (AdaptiveConfig{1, 1}));
}

void TestAdaptive::backsOffToSmallerBatchesUnderLoad()
{
    AdaptiveParams p = twoCores();
    p.exploreEvery = 1000;  // only the back-off may move it once calibrated
    AdaptiveController ctl(p);
    drive(ctl, idle, 30);
    QCOMPARE(ctl.best(), (AdaptiveConfig{8, 2}));
    const int probesBefore = ctl.probes();
    // The machine gets busy: within a few dozen batches the controller has left batch 8.
    drive(ctl, loaded, 40);
    QVERIFY2(ctl.best().batch < 8, qPrintable(QStringLiteral("still at batch %1").arg(ctl.best().batch)));
    QVERIFY(ctl.probes() > probesBefore);
    QVERIFY(loaded(ctl.best()) < loaded({8, 2}) * 0.6);
}

void TestAdaptive::neverLeavesTheBounds()
{
    for (int maxThreads : {1, 2, 4}) {
        AdaptiveParams p;
        p.maxThreads = maxThreads;
        p.batches = {2, 4};
        p.start = {16, 0};  // outside the candidates: clamped
        AdaptiveController ctl(p);
        // A noisy machine that changes its mind often.
        quint32 x = 12345;
        for (int i = 0; i < 300; ++i) {
            const AdaptiveConfig c = ctl.next();
            QVERIFY(c.batch == 2 || c.batch == 4);
            QVERIFY(c.threads >= 1 && c.threads <= maxThreads);
            x = x * 1664525u + 1013904223u;
            ctl.observe(c, c.batch, (0.2 + double(x % 1000) / 1000.0) * c.batch);
        }
    }
}

void TestAdaptive::exploresAtMostEveryNBatches()
{
    AdaptiveParams p = twoCores();
    p.exploreEvery = 5;
    AdaptiveController ctl(p);
    Trace trace;
    drive(ctl, idle, 120, &trace);
    QVERIFY(!ctl.calibrating());
    // After the calibration (the first batches), probes are at least 5 batches apart.
    std::vector<int> probeAt;
    for (size_t i = 20; i < trace.probes.size(); ++i)
        if (trace.probes[i])
            probeAt.push_back(int(i));
    QVERIFY(probeAt.size() >= 5);  // it does keep checking
    for (size_t k = 1; k < probeAt.size(); ++k)
        QVERIFY2(probeAt[k] - probeAt[k - 1] >= p.exploreEvery,
                 qPrintable(QStringLiteral("probes at %1 and %2").arg(probeAt[k - 1]).arg(probeAt[k])));
    // Most batches run the incumbent.
    const auto atBest = std::count(trace.configs.begin() + 20, trace.configs.end(), AdaptiveConfig{8, 2});
    QVERIFY(atBest >= 80);
}

void TestAdaptive::explicitValuesAreKept()
{
    AdaptiveParams p = twoCores();
    p.fixedBatch = 8;
    p.fixedThreads = 2;
    AdaptiveController both(p);
    QVERIFY(both.fixed());
    Trace trace;
    drive(both, loaded, 30, &trace);
    for (const AdaptiveConfig &c : trace.configs)
        QCOMPARE(c, (AdaptiveConfig{8, 2}));

    // A fixed batch: only the threads move; a fixed thread count: only the batch.
    p = twoCores();
    p.fixedBatch = 8;
    AdaptiveController batchOnly(p);
    QVERIFY(!batchOnly.fixed());
    trace = {};
    drive(batchOnly, loaded, 40, &trace);
    for (const AdaptiveConfig &c : trace.configs)
        QCOMPARE(c.batch, 8);
    QCOMPARE(batchOnly.best().threads, 1);

    p = twoCores();
    p.fixedThreads = 2;
    AdaptiveController threadsOnly(p);
    trace = {};
    drive(threadsOnly, loaded, 60, &trace);
    for (const AdaptiveConfig &c : trace.configs)
        QCOMPARE(c.threads, 2);
    QCOMPARE(threadsOnly.best().batch, 1);
}

void TestAdaptive::indexRunWithTheAdaptiveDefaultIsComplete()
{
    QTemporaryDir shared;
    QVERIFY(shared.isValid());
    const model::ImportReport imported = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval",
                                                               "fixture", shared.filePath(QStringLiteral("models")));
    qputenv("UNISEARCH_VOCAB", test::vocabPath().toUtf8());
    QString error;
    auto model = engine::RetrievalModel::fromRunner(
        model::ModelRunner::load(imported.bundle.architecture, imported.bundle.weightsPath), QStringLiteral("fixture"),
        QString::fromStdString(imported.bundle.fingerprint), &error);
    QVERIFY2(model, qPrintable(error));

    std::unique_ptr<QTemporaryDir> tmp;
    QString data, photos;
    QVERIFY(test::makeWorkspace(tmp, data, photos, QStringLiteral("photos")));
    constexpr int count = 45;  // enough batches for the calibration and a probe or two
    for (int i = 0; i < count; ++i) {
        QImage img(96 + i, 64 + (i % 7), QImage::Format_RGB32);
        img.fill(QColor::fromHsv((i * 37) % 360, 200, 200));
        QVERIFY(img.save(QStringLiteral("%1/p%2.jpg").arg(photos).arg(i, 3, 10, QLatin1Char('0')), "JPG"));
    }
    const int threadsBefore = model::threads();

    engine::IndexParams params;  // batch size and threads left to the job
    QCOMPARE(params.batchSize, 0);
    QCOMPARE(params.modelThreads, 0);
    params.dataDir = data;
    params.paths = {photos};
    params.model = model;
    params.ocr = false;
    engine::IndexJob job(params);
    const engine::IndexResult r = job.run();
    QVERIFY2(r.ok, qPrintable(r.error));
    QCOMPARE(r.embedded, qint64(count));
    QCOMPARE(r.failed, qint64(0));
    QCOMPARE(r.storeSize, qint64(count));
    QVERIFY(r.batchSize >= 1 && r.batchSize <= 8);
    QVERIFY(r.modelThreads >= 1 && r.modelThreads <= std::max(1, threadsBefore));
    QVERIFY(r.adaptiveProbes > 0);
    QCOMPARE(model::threads(), threadsBefore);  // the process's count is back

    // A second run finds nothing to do: every file was committed once.
    engine::IndexJob again(params);
    const engine::IndexResult r2 = again.run();
    QVERIFY2(r2.ok, qPrintable(r2.error));
    QCOMPARE(r2.embedded, qint64(0));
    QCOMPARE(r2.unchanged, qint64(count));
}

QTEST_GUILESS_MAIN(TestAdaptive)
#include "tst_adaptive.moc"
