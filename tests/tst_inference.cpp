// The Engine's model management and the inference service, through their C++ API:
// errors come back as messages (never exceptions), the active model per task, and an
// InferenceService run on its own thread (InferenceWorker) reproducing the fixtures, and
// that thread ending when the worker is idle.
#include "engine/engine.h"
#include "engine/inference.h"
#include "support/fixtures.h"
#include "support/npy.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <thread>
#include <utility>

#include <unistd.h>

using namespace unisearch;

namespace {

constexpr double kTolerance = 1e-4;

QString weights(const QString &file)
{
    return test::uniadapterDir() + QStringLiteral("/weights/") + file;
}

// The Linux thread ids of this process's threads now.
std::set<pid_t> threadIds()
{
    std::set<pid_t> ids;
    for (const QString &name : QDir(QStringLiteral("/proc/self/task")).entryList(QDir::Dirs | QDir::NoDotAndDotDot))
        ids.insert(pid_t(name.toInt()));
    return ids;
}

} // namespace

class TestInference : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void importRecordsAndActivates();
    void importErrorsAreMessages();
    void setActiveModel();
    void inferenceNeedsAModel();
    void workerThreadOwnsTheModel();
    void idleWorkerKeepsNoThread();
    void damagedBundleIsReported();
    void vocabularyIsFound();

private:
    std::unique_ptr<engine::Engine> open();
    // The fixture's retrieval model imported into e, and its (not yet loaded) service.
    static std::unique_ptr<engine::InferenceService> retrievalService(engine::Engine &e, QString *error);
    std::unique_ptr<QTemporaryDir> m_tmp;
};

void TestInference::initTestCase()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
}

void TestInference::init()
{
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
}

std::unique_ptr<engine::Engine> TestInference::open()
{
    auto e = std::make_unique<engine::Engine>();
    engine::Engine::Options options;
    options.dataDir = m_tmp->path();
    options.device = QStringLiteral("cpu");
    if (!e->open(options))
        qWarning("%s", qPrintable(e->errorString()));
    return e;
}

std::unique_ptr<engine::InferenceService> TestInference::retrievalService(engine::Engine &e, QString *error)
{
    if (!e.importModel(weights(QStringLiteral("retrieval.pth")), {}, {},
                       test::caseArchitectureJson(QStringLiteral("retrieval-image")), error))
        return nullptr;
    return e.inference(engine::retrievalTask, {}, error);
}

void TestInference::importRecordsAndActivates()
{
    auto e = open();
    QVERIFY(e->isOpen());
    QVERIFY(!e->activeModel(engine::retrievalTask));
    QString error;
    auto first = e->importModel(weights(QStringLiteral("retrieval.pth")), QStringLiteral("a"), {},
                                test::caseArchitectureJson(QStringLiteral("retrieval-image")), &error);
    QVERIFY2(first, qPrintable(error));
    QVERIFY(first->activated);
    QCOMPARE(first->model.task, engine::retrievalTask);
    QCOMPARE(QDir(first->model.path).absolutePath(), QDir(e->modelsDir() + QStringLiteral("/a")).absolutePath());
    QVERIFY(!first->ignored.isEmpty());
    auto second = e->importModel(weights(QStringLiteral("retrieval-noadapter.pth")), QStringLiteral("b"), {},
                                 test::caseArchitectureJson(QStringLiteral("retrieval-noadapter")), &error);
    QVERIFY2(second, qPrintable(error));
    QVERIFY(!second->activated); // the task has an active model already
    auto vqa = e->importModel(weights(QStringLiteral("vqa.pth")), {}, {}, test::caseArchitectureJson(QStringLiteral("vqa")), &error);
    QVERIFY2(vqa, qPrintable(error));
    QCOMPARE(vqa->model.name, QStringLiteral("vqa"));
    QVERIFY(vqa->activated);

    const QList<engine::ModelInfo> models = e->models();
    QCOMPARE(models.size(), 3);
    QCOMPARE(models[0].name, QStringLiteral("a"));
    QVERIFY(models[0].active);
    QVERIFY(models[0].hasAdapters);
    QVERIFY(!models[1].active);
    QVERIFY(!models[1].hasAdapters);
    QCOMPARE(models[0].architecture.value(QStringLiteral("vision")).toObject().value(QStringLiteral("heads")).toInt(), 4);
    QCOMPARE(e->activeModel(engine::retrievalTask)->name, QStringLiteral("a"));
    QCOMPARE(e->activeModel(engine::vqaTask)->name, QStringLiteral("vqa"));
    QCOMPARE(e->status().activeModel, QStringLiteral("a"));
    QCOMPARE(e->status().counts.models, std::int64_t(3));

    // The catalog survives a restart.
    e.reset();
    e = open();
    QCOMPARE(e->models().size(), 3);
    QCOMPARE(e->activeModel(engine::retrievalTask)->fingerprint, first->model.fingerprint);
}

void TestInference::importErrorsAreMessages()
{
    auto e = open();
    QString error;
    QVERIFY(!e->importModel(m_tmp->filePath(QStringLiteral("none.pth")), {}, {}, {}, &error));
    QVERIFY2(error.contains(QStringLiteral("no such file")), qPrintable(error));
    QVERIFY(!e->importModel(weights(QStringLiteral("retrieval.pth")), {}, QStringLiteral("captions"), {}, &error));
    QVERIFY2(error.contains(QStringLiteral("captions")), qPrintable(error));
    QVERIFY(!e->importModel(weights(QStringLiteral("retrieval.pth")), {}, {}, QStringLiteral("[1, 2]"), &error));
    QVERIFY2(error.contains(QStringLiteral("architecture")), qPrintable(error));
    QVERIFY(!e->importModel(weights(QStringLiteral("vqa.pth")), {}, engine::retrievalTask, {}, &error));
    QVERIFY2(error.contains(QStringLiteral("vqa")), qPrintable(error));
    QVERIFY(e->importModel(weights(QStringLiteral("retrieval.pth")), {}, {}, {}, &error));
    QVERIFY(!e->importModel(weights(QStringLiteral("retrieval.pth")), {}, {}, {}, &error));
    QVERIFY2(error.contains(QStringLiteral("already exists")), qPrintable(error));
    QCOMPARE(e->models().size(), 1);

    engine::Engine closed;
    QVERIFY(!closed.importModel(weights(QStringLiteral("retrieval.pth")), {}, {}, {}, &error));
    QVERIFY(closed.models(&error).isEmpty());
    QVERIFY(!error.isEmpty());
}

void TestInference::setActiveModel()
{
    auto e = open();
    QString error;
    QVERIFY(e->importModel(weights(QStringLiteral("retrieval.pth")), QStringLiteral("a"), {}, {}, &error));
    QVERIFY(e->importModel(weights(QStringLiteral("retrieval-noadapter.pth")), QStringLiteral("b"), {}, {}, &error));
    QSignalSpy changed(e.get(), &engine::Engine::statusChanged);
    QVERIFY2(e->setActiveModel(QStringLiteral("b"), &error), qPrintable(error));
    QCOMPARE(changed.size(), 1);
    QCOMPARE(e->activeModel(engine::retrievalTask)->name, QStringLiteral("b"));
    QVERIFY(!e->setActiveModel(QStringLiteral("nosuch"), &error));
    QVERIFY2(error.contains(QStringLiteral("'nosuch'")) && error.contains(QStringLiteral("a, b")), qPrintable(error));
    QCOMPARE(e->activeModel(engine::retrievalTask)->name, QStringLiteral("b"));
}

void TestInference::inferenceNeedsAModel()
{
    auto e = open();
    QString error;
    QVERIFY(!e->inference(engine::retrievalTask, {}, &error));
    QVERIFY2(error.contains(QStringLiteral("model import FILE")), qPrintable(error));
    QVERIFY(!e->inference(engine::vqaTask, {}, &error));
    QVERIFY2(error.contains(QStringLiteral("--task vqa")), qPrintable(error));
    QVERIFY(e->importModel(weights(QStringLiteral("retrieval.pth")), QStringLiteral("a"), {}, {}, &error));
    QVERIFY(!e->inference(engine::vqaTask, QStringLiteral("a"), &error));
    QVERIFY2(error.contains(QStringLiteral("VQA")), qPrintable(error));
    QVERIFY(!e->inference(engine::retrievalTask, QStringLiteral("zzz"), &error));
    QVERIFY2(error.contains(QStringLiteral("'zzz'")), qPrintable(error));
    auto service = e->inference(engine::retrievalTask, {}, &error);
    QVERIFY2(service, qPrintable(error));
    QVERIFY(!service->isLoaded()); // lazily
    QCOMPARE(service->model().name, QStringLiteral("a"));
}

void TestInference::workerThreadOwnsTheModel()
{
    auto e = open();
    QString error;
    auto service = retrievalService(*e, &error);
    QVERIFY2(service, qPrintable(error));
    engine::InferenceWorker worker(std::move(service));

    const QString dir = test::caseDir(QStringLiteral("retrieval-image"));
    const QStringList images{dir + QStringLiteral("/img0.png"), dir + QStringLiteral("/img1.png"),
                             dir + QStringLiteral("/img2.png")};
    std::thread::id ranOn;
    // Each job hands back the call's value and the error beside it.
    auto future = worker.submit([&](engine::InferenceService &s) {
        ranOn = std::this_thread::get_id();
        QString error;
        auto features = s.embedImages(images, &error);
        return std::make_pair(std::move(features), error);
    });
    auto texts = worker.submit([](engine::InferenceService &s) {
        QString error;
        auto features = s.embedTexts({QStringLiteral("a dog running on the beach")}, &error);
        return std::make_pair(std::move(features), error);
    });
    const auto [r, rError] = future.get();
    QVERIFY2(r.has_value(), qPrintable(rError));
    QVERIFY(ranOn != std::this_thread::get_id());
    const test::Npy expected = test::readNpy(dir + QStringLiteral("/image_feat.npy"));
    QCOMPARE(r->size(), size_t(3));
    for (size_t i = 0; i < r->size(); ++i)
        for (size_t j = 0; j < (*r)[i].size(); ++j)
            QVERIFY(std::abs((*r)[i][j] - expected.at({int64_t(i), int64_t(j)})) <= kTolerance);
    const auto [t, tError] = texts.get();
    QVERIFY2(t.has_value(), qPrintable(tError));
    const test::Npy textFeat = test::readNpy(dir + QStringLiteral("/text_feat.npy"));
    for (size_t j = 0; j < (*t)[0].size(); ++j)
        QVERIFY(std::abs((*t)[0][j] - textFeat.at({0, int64_t(j)})) <= kTolerance);

    // Errors come back with the result, from the worker too.
    const auto [bad, badError] = worker.submit([&](engine::InferenceService &s) {
        QString error;
        auto features = s.embedImages({m_tmp->filePath(QStringLiteral("missing.png"))}, &error);
        return std::make_pair(std::move(features), error);
    }).get();
    QVERIFY(!bad.has_value());
    QVERIFY2(badError.contains(QStringLiteral("missing.png")), qPrintable(badError));
}

void TestInference::idleWorkerKeepsNoThread()
{
    // An idle worker keeps no thread, so no OpenMP team that would make libgomp's other
    // teams sleep at once between operators (inference.h); a later job starts another.
    auto e = open();
    QString error;
    auto service = retrievalService(*e, &error);
    QVERIFY2(service, qPrintable(error));
    engine::InferenceWorker worker(std::move(service));
    const QString image = test::caseDir(QStringLiteral("retrieval-image")) + QStringLiteral("/img0.png");
    auto embed = [&](pid_t *ranOn) {
        return worker.submit([&image, ranOn](engine::InferenceService &s) {
            *ranOn = gettid();
            QString why;
            return s.embedImages({image}, &why).has_value() && s.embedTexts({QStringLiteral("a dog")}, &why).has_value();
        });
    };

    // The first job loads the model and starts what the process keeps: OpenBLAS's threads,
    // and LibTorch's pthreadpool (which LibTorch makes again, with new threads, whenever a new
    // thread sets its thread count: so the threads are counted, not named).
    pid_t first = 0;
    QVERIFY(embed(&first).get());
    QVERIFY(first != gettid());
    QTRY_VERIFY(!threadIds().count(first));
    const size_t before = threadIds().size(); // its OpenMP team may not have ended yet: at most

    // Then the worker's thread and the threads it started end with its job.
    pid_t second = 0;
    QVERIFY(embed(&second).get());
    QVERIFY(second != gettid());
    QTRY_VERIFY(!threadIds().count(second));
    QTRY_VERIFY(threadIds().size() <= before);

    // Jobs run in submission order, off the caller's thread; the destructor runs what is
    // still queued, then joins.
    std::vector<int> order;
    std::vector<pid_t> ran(4);
    std::vector<std::future<bool>> results;
    {
        engine::InferenceWorker another(e->inference(engine::retrievalTask, {}, &error));
        for (int i = 0; i < 4; ++i)
            results.push_back(another.submit([&, i](engine::InferenceService &s) {
                ran[size_t(i)] = gettid();
                order.push_back(i);
                QString why;
                return s.embedTexts({QStringLiteral("job %1").arg(i)}, &why).has_value();
            }));
    }
    for (auto &r : results) {
        QCOMPARE(r.wait_for(std::chrono::seconds(0)), std::future_status::ready);
        QVERIFY(r.get());
    }
    QCOMPARE(order, (std::vector<int>{0, 1, 2, 3}));
    QVERIFY(std::all_of(ran.begin(), ran.end(), [](pid_t t) { return t != 0 && t != gettid(); }));
    for (const pid_t t : ran)
        QTRY_VERIFY(!threadIds().count(t));
    QTRY_VERIFY(threadIds().size() <= before);
}

void TestInference::damagedBundleIsReported()
{
    auto e = open();
    QString error;
    auto m = e->importModel(weights(QStringLiteral("retrieval.pth")), QStringLiteral("a"), {}, {}, &error);
    QVERIFY(m);
    QVERIFY(QFile::remove(m->model.weightsPath));
    const QList<engine::ModelInfo> models = e->models();
    QCOMPARE(models.size(), 1);
    QVERIFY(!models[0].problem.isEmpty());
    QVERIFY(!e->inference(engine::retrievalTask, {}, &error));
    QVERIFY2(error.contains(QStringLiteral("import")), qPrintable(error));
    // Re-importing under the same name while the bundle folder exists still needs replace.
    engine::ModelImportRequest request;
    request.checkpoint = weights(QStringLiteral("retrieval.pth"));
    request.name = QStringLiteral("a");
    request.replace = true;
    QVERIFY2(e->importModel(request, &error), qPrintable(error));
    QVERIFY(e->models()[0].problem.isEmpty());
    QVERIFY(e->activeModel(engine::retrievalTask)->active);
}

void TestInference::vocabularyIsFound()
{
    // In a build tree the source tree's copy is found; UNISEARCH_VOCAB overrides.
    const QString found = engine::InferenceService::vocabularyPath();
    QVERIFY(!found.isEmpty());
    QVERIFY(found.endsWith(QStringLiteral("bert-base-uncased.txt")));
    qputenv("UNISEARCH_VOCAB", QFile::encodeName(m_tmp->filePath(QStringLiteral("none.txt"))));
    QVERIFY(engine::InferenceService::vocabularyPath().isEmpty());
    qunsetenv("UNISEARCH_VOCAB");
}

QTEST_GUILESS_MAIN(TestInference)
#include "tst_inference.moc"
