// Downloading a model from the catalogue (engine/modeldownload.h) against a local HTTP server
// started by the test (support/httpserver.h) that serves the fixture checkpoint: checksum
// match and mismatch, an interrupted transfer resumed with Range, a server that ignores
// Range, a cancelled download resumed, 404, a full disk, a body longer than promised (or
// than the maximum, when nobody promises a size), names that would leave the download
// folder; and the shipped catalogue.
#include "engine/engine.h"
#include "engine/modelcatalogue.h"
#include "engine/modeldownload.h"
#include "support/fixtures.h"
#include "support/httpserver.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;
using engine::ModelDownload;

namespace {

const QString fixturePath = QStringLiteral("/weights/retrieval.pth");

ModelDownload::Params params(const engine::CatalogueEntry &e)
{
    ModelDownload::Params p;
    p.entry = e;
    return p;
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        qFatal("cannot read %s", qPrintable(path));
    return f.readAll();
}

} // namespace

class TestDownload : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();
    void checksumMatchImportsTheModel();
    void checksumMismatchImportsNothing();
    void interruptedTransferResumesWithRange();
    void serverIgnoringRangeRestarts();
    void cancelKeepsThePartForAResume();
    void wholePartIsCheckedWithoutFetchingAgain();
    void notFoundIsAClearError();
    void writeErrorIsAClearError();
    void unsizedBodyStopsAtItsLimit_data();
    void unsizedBodyStopsAtItsLimit();
    void catalogueNamesStayInTheDownloadFolder_data();
    void catalogueNamesStayInTheDownloadFolder();
    void cliDownloadsAndResumes();
    void shippedCatalogueListsBlipCheckpoints();
    void catalogueFileCanBeReplaced();

private:
    engine::CatalogueEntry entry(const QString &path, const QString &sha256) const;
    // Runs the job to its end; returns whether it succeeded.
    bool run(ModelDownload &job);
    QStringList modelNames() const;
    QString downloadsDir() const { return m_tmp->filePath(QStringLiteral("downloads")); }

    QByteArray m_checkpoint;
    QString m_sha;
    QJsonObject m_architecture;
    std::unique_ptr<QTemporaryDir> m_tmp;
    std::unique_ptr<engine::Engine> m_engine;
    std::unique_ptr<test::HttpServer> m_server;
};

void TestDownload::initTestCase()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    m_checkpoint = readAll(test::uniadapterDir() + fixturePath);
    QVERIFY(m_checkpoint.size() > 1'000'000);
    m_sha = QString::fromLatin1(QCryptographicHash::hash(m_checkpoint, QCryptographicHash::Sha256).toHex());
    // The fixture's sizes (4 heads) cannot be inferred from shapes: the catalogue entry
    // carries them, as an entry for an unusual model would.
    m_architecture = QJsonDocument::fromJson(
                         QByteArray::fromStdString(test::readCase(QStringLiteral("retrieval-image")).at("architecture").dump()))
                         .object();
    QVERIFY(!m_architecture.isEmpty());
}

void TestDownload::init()
{
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
    m_engine = std::make_unique<engine::Engine>();
    engine::Engine::Options options;
    options.dataDir = m_tmp->path();
    options.device = QStringLiteral("cpu");
    QVERIFY2(m_engine->open(options), qPrintable(m_engine->errorString()));
    m_server = std::make_unique<test::HttpServer>();
    m_server->addFile(fixturePath, m_checkpoint);
    QVERIFY(m_server->listen());
}

void TestDownload::cleanup()
{
    m_server.reset();
    m_engine.reset();
    m_tmp.reset();
}

engine::CatalogueEntry TestDownload::entry(const QString &path, const QString &sha256) const
{
    engine::CatalogueEntry e;
    e.name = QStringLiteral("fixture-retrieval");
    e.title = QStringLiteral("Fixture");
    e.task = engine::retrievalTask;
    e.url = m_server->url(path);
    e.sha256 = sha256;
    e.architecture = m_architecture;
    return e;
}

bool TestDownload::run(ModelDownload &job)
{
    QSignalSpy finished(&job, &ModelDownload::finished);
    QSignalSpy failed(&job, &ModelDownload::failed);
    if (!job.start())
        return false;
    if (!QTest::qWaitFor([&] { return !finished.isEmpty() || !failed.isEmpty(); }, 60'000)) {
        qWarning("the download did not finish");
        return false;
    }
    const bool ok = finished.count() == 1 && failed.isEmpty()
                    && finished.at(0).at(0).value<ModelDownload::Result>().ok;
    if (!ok)
        qInfo("the download ended with: %s", qPrintable(job.errorString()));
    return ok;
}

QStringList TestDownload::modelNames() const
{
    QStringList names;
    for (const engine::ModelInfo &m : m_engine->models())
        names.append(m.name);
    return names;
}

void TestDownload::checksumMatchImportsTheModel()
{
    // Through a redirect, as the real hosts do.
    m_server->addRedirect(QStringLiteral("/latest.pth"), fixturePath);
    ModelDownload job(m_engine.get(), params(entry(QStringLiteral("/latest.pth"), m_sha)));
    QSignalSpy states(&job, &ModelDownload::stateChanged);
    QVERIFY2(run(job), qPrintable(job.errorString()));

    QCOMPARE(job.state(), ModelDownload::State::Finished);
    QCOMPARE(job.progress().received, qint64(m_checkpoint.size()));
    QCOMPARE(job.progress().total, qint64(m_checkpoint.size()));
    // Downloading → Verifying (sha256) → Importing (the load check) → Finished.
    QList<ModelDownload::State> seen;
    for (const QList<QVariant> &args : states)
        seen.append(args.at(0).value<ModelDownload::State>());
    QCOMPARE(seen, (QList<ModelDownload::State>{ModelDownload::State::Downloading, ModelDownload::State::Verifying,
                                                 ModelDownload::State::Importing, ModelDownload::State::Finished}));

    const std::optional<engine::ModelInfo> m = m_engine->activeModel(engine::retrievalTask);
    QVERIFY(m);
    QCOMPARE(m->name, QStringLiteral("fixture-retrieval"));
    QVERIFY(m->problem.isEmpty());
    QVERIFY(QFileInfo(m->weightsPath).isFile());
    // The catalogue's architecture was used, not the shape-inferred one (64 per head).
    QCOMPARE(m->architecture.value(QStringLiteral("vision")).toObject().value(QStringLiteral("heads")).toInt(),
             m_architecture.value(QStringLiteral("vision")).toObject().value(QStringLiteral("heads")).toInt());
    QVERIFY(job.result().imported && job.result().imported->activated);

    QCOMPARE(m_server->requests().size(), 2);
    QCOMPARE(m_server->requests().at(0).status, 302);
    QCOMPARE(m_server->requests().at(1).path, fixturePath);
    QCOMPARE(m_server->requests().at(1).status, 200);
    QVERIFY(m_server->requests().at(1).range.isEmpty());
    // Nothing left behind in the download folder: the bundle holds the weights.
    QCOMPARE(QDir(downloadsDir()).entryList(QDir::Files), QStringList());

    // A second download of an imported model does not start.
    ModelDownload again(m_engine.get(), params(entry(fixturePath, m_sha)));
    QVERIFY(!again.start());
    QVERIFY2(again.errorString().contains(QStringLiteral("already imported")), qPrintable(again.errorString()));
}

void TestDownload::checksumMismatchImportsNothing()
{
    const QString wrong =
        QString::fromLatin1(QCryptographicHash::hash("another file", QCryptographicHash::Sha256).toHex());
    ModelDownload job(m_engine.get(), params(entry(fixturePath, wrong)));
    QVERIFY(!run(job));
    QCOMPARE(job.state(), ModelDownload::State::Failed);
    QVERIFY2(job.errorString().contains(QStringLiteral("checksum")) && job.errorString().contains(wrong)
                 && job.errorString().contains(m_sha),
             qPrintable(job.errorString()));
    QCOMPARE(modelNames(), QStringList());
    QVERIFY(!m_engine->activeModel(engine::retrievalTask));
    QVERIFY(!QFileInfo::exists(QDir(m_engine->modelsDir()).filePath(QStringLiteral("fixture-retrieval"))));
    // The bad file is not kept, so nothing can offer it later.
    QCOMPARE(job.partialSize(), 0);
    QCOMPARE(QDir(downloadsDir()).entryList(QDir::Files), QStringList());
}

void TestDownload::interruptedTransferResumesWithRange()
{
    const qint64 size = m_checkpoint.size();
    const qint64 cut = size / 3;
    m_server->cutNextAfter(cut);
    ModelDownload first(m_engine.get(), params(entry(fixturePath, m_sha)));
    QVERIFY(!run(first));
    QVERIFY2(first.errorString().contains(QStringLiteral("resume")), qPrintable(first.errorString()));
    QCOMPARE(modelNames(), QStringList());
    QCOMPARE(first.partialSize(), cut);

    // A new job (as after a restart of the program) picks the part up.
    ModelDownload second(m_engine.get(), params(entry(fixturePath, m_sha)));
    QCOMPARE(second.partialSize(), cut);
    QVERIFY2(run(second), qPrintable(second.errorString()));
    QVERIFY(second.progress().resumed);
    const test::HttpServer::Request &r = m_server->requests().constLast();
    QCOMPARE(m_server->requests().size(), 2);
    QCOMPARE(r.range, QByteArray("bytes=") + QByteArray::number(cut) + '-');
    QVERIFY(!r.ifRange.isEmpty());  // guarded by the ETag of the first response
    QCOMPARE(r.status, 206);
    QCOMPARE(m_server->bodyBytesServed(), size);  // every byte sent once
    QVERIFY(m_server->bodyBytesServed() < 2 * size);
    // The checksum matched, so the glued file is the served one; and it was imported.
    QCOMPARE(modelNames(), QStringList{QStringLiteral("fixture-retrieval")});
}

void TestDownload::serverIgnoringRangeRestarts()
{
    const qint64 size = m_checkpoint.size();
    m_server->setIgnoreRange(true);
    m_server->cutNextAfter(size / 2);
    ModelDownload job(m_engine.get(), params(entry(fixturePath, m_sha)));
    QVERIFY(!run(job));
    QCOMPARE(job.partialSize(), size / 2);

    QVERIFY2(run(job), qPrintable(job.errorString()));
    const test::HttpServer::Request &r = m_server->requests().constLast();
    QVERIFY(!r.range.isEmpty());   // it asked for the rest
    QCOMPARE(r.status, 200);       // and got the whole file, which replaced the part
    QVERIFY(!job.progress().resumed);
    QCOMPARE(job.progress().received, size);
    QCOMPARE(modelNames(), QStringList{QStringLiteral("fixture-retrieval")});
}

void TestDownload::cancelKeepsThePartForAResume()
{
    const qint64 size = m_checkpoint.size();
    const qint64 stall = size / 4;
    m_server->stallNextAfter(stall);
    ModelDownload job(m_engine.get(), params(entry(fixturePath, {})));
    QSignalSpy finished(&job, &ModelDownload::finished);
    QVERIFY(job.start());
    QTRY_COMPARE_WITH_TIMEOUT(job.progress().received, stall, 30'000);
    QVERIFY(job.isRunning());
    job.requestInterruption();
    QCOMPARE(job.state(), ModelDownload::State::Cancelled);
    QCOMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(0).value<ModelDownload::Result>().ok, false);
    QCOMPARE(job.partialSize(), stall);
    QCOMPARE(modelNames(), QStringList());

    // Without a checksum in the catalogue, the load check alone decides: it passes.
    QVERIFY2(run(job), qPrintable(job.errorString()));
    QCOMPARE(m_server->requests().constLast().range, QByteArray("bytes=") + QByteArray::number(stall) + '-');
    QCOMPARE(m_server->requests().constLast().status, 206);
    QCOMPARE(modelNames(), QStringList{QStringLiteral("fixture-retrieval")});
}

void TestDownload::wholePartIsCheckedWithoutFetchingAgain()
{
    // Cancelled right when the transfer completed (before the check): the part is whole.
    ModelDownload job(m_engine.get(), params(entry(fixturePath, m_sha)));
    connect(&job, &ModelDownload::stateChanged, &job, [&job](ModelDownload::State s) {
        if (s == ModelDownload::State::Verifying)
            job.requestInterruption();
    });
    QVERIFY(!run(job));
    QCOMPARE(job.state(), ModelDownload::State::Cancelled);
    QCOMPARE(job.partialSize(), qint64(m_checkpoint.size()));
    QCOMPARE(modelNames(), QStringList());

    // The next start asks for the rest, learns there is none (416), checks and imports.
    ModelDownload next(m_engine.get(), params(entry(fixturePath, m_sha)));
    QVERIFY2(run(next), qPrintable(next.errorString()));
    QCOMPARE(m_server->requests().size(), 2);
    QCOMPARE(m_server->requests().at(1).status, 416);
    QCOMPARE(m_server->bodyBytesServed(), qint64(m_checkpoint.size()));
    QCOMPARE(modelNames(), QStringList{QStringLiteral("fixture-retrieval")});
}

void TestDownload::notFoundIsAClearError()
{
    ModelDownload job(m_engine.get(), params(entry(QStringLiteral("/gone.pth"), m_sha)));
    QVERIFY(!run(job));
    QCOMPARE(job.state(), ModelDownload::State::Failed);
    QVERIFY2(job.errorString().contains(QStringLiteral("404")) && job.errorString().contains(QStringLiteral("/gone.pth")),
             qPrintable(job.errorString()));
    QCOMPARE(job.partialSize(), 0);
    QCOMPARE(modelNames(), QStringList());
}

void TestDownload::writeErrorIsAClearError()
{
    // The part file is a link to /dev/full: every write fails with ENOSPC, as on a full disk.
    QVERIFY(QFileInfo::exists(QStringLiteral("/dev/full")));
    QVERIFY(QDir().mkpath(downloadsDir()));
    ModelDownload job(m_engine.get(), params(entry(fixturePath, m_sha)));
    QVERIFY(QFile::link(QStringLiteral("/dev/full"), job.partPath()));
    QVERIFY(!run(job));
    QCOMPARE(job.state(), ModelDownload::State::Failed);
    QVERIFY2(job.errorString().contains(QStringLiteral("disk full")), qPrintable(job.errorString()));
    QCOMPARE(modelNames(), QStringList());
}

namespace {

// The largest `received` any progressUpdated of the spy reported.
qint64 mostReceived(const QSignalSpy &progress)
{
    qint64 most = 0;
    for (const QList<QVariant> &args : progress)
        most = std::max(most, args.at(0).value<ModelDownload::Progress>().received);
    return most;
}

} // namespace

void TestDownload::unsizedBodyStopsAtItsLimit_data()
{
    QTest::addColumn<qint64>("catalogueSize");  // -1: null, as in the shipped catalogue
    QTest::addColumn<qint64>("maxBytes");       // Params::maxBytes; -1: the default
    QTest::addColumn<QString>("expected");
    QTest::newRow("the catalogue's size") << qint64(1 << 20) << qint64(-1)
                                          << QStringLiteral("more than the 1.0 MB that the catalogue gives");
    QTest::newRow("no size anywhere: the maximum") << qint64(-1) << qint64(1 << 20)
                                                   << QStringLiteral("more than 1.0 MB for fixture-retrieval without "
                                                                     "saying how large the file is");
}

void TestDownload::unsizedBodyStopsAtItsLimit()
{
    QFETCH(qint64, catalogueSize);
    QFETCH(qint64, maxBytes);
    QFETCH(QString, expected);
    // No Content-Length, and a body far longer than the limit: the transfer must stop
    // there, say why, and leave nothing behind.
    const qint64 limit = catalogueSize > 0 ? catalogueSize : maxBytes;
    m_server->addUnsizedStream(QStringLiteral("/unsized.pth"), qint64(64) << 20);
    ModelDownload::Params p = params(entry(QStringLiteral("/unsized.pth"), {}));
    p.entry.size = catalogueSize;
    if (maxBytes > 0)
        p.maxBytes = maxBytes;
    QVERIFY(p.maxBytes > 0);  // the default is finite too
    ModelDownload job(m_engine.get(), p);
    QSignalSpy progress(&job, &ModelDownload::progressUpdated);
    QVERIFY(!run(job));
    QCOMPARE(job.state(), ModelDownload::State::Failed);
    QVERIFY2(job.errorString().contains(expected) && job.errorString().contains(QStringLiteral("partial file deleted")),
             qPrintable(job.errorString()));
    QVERIFY2(mostReceived(progress) <= limit, qPrintable(QString::number(mostReceived(progress))));
    QVERIFY(job.progress().received <= limit);
    QCOMPARE(job.partialSize(), 0);
    QCOMPARE(QDir(downloadsDir()).entryList(QDir::Files), QStringList());
    QCOMPARE(modelNames(), QStringList());
}

void TestDownload::catalogueNamesStayInTheDownloadFolder_data()
{
    QTest::addColumn<QString>("name");
    QTest::newRow("parent") << QStringLiteral("../escaped");
    QTest::newRow("nested") << QStringLiteral("sub/escaped");
    QTest::newRow("dotdot") << QStringLiteral("..");
    QTest::newRow("nul") << QStringLiteral("escaped") + QChar(0) + QStringLiteral("x");
    QTest::newRow("newline") << QStringLiteral("escaped\nx");
}

void TestDownload::catalogueNamesStayInTheDownloadFolder()
{
    QFETCH(QString, name);
    // The job refuses such an entry before it writes any file. (The server stalls
    // half-way, so that a part written anywhere would stay there to be seen.)
    m_server->stallNextAfter(m_checkpoint.size() / 2);
    engine::CatalogueEntry bad = entry(fixturePath, {});
    bad.name = name;
    ModelDownload job(m_engine.get(), params(bad));
    const bool started = job.start();
    if (started)
        QTest::qWait(2000);  // long enough for half the fixture to arrive
    const QString outside = m_tmp->filePath(QStringLiteral("escaped.part"));
    const QString nested = QDir(downloadsDir()).filePath(QStringLiteral("sub/escaped.part"));
    const bool leaked = QFileInfo::exists(outside) || QFileInfo::exists(nested);
    job.requestInterruption();
    QVERIFY2(!leaked, "a part file was written outside the download folder");
    QVERIFY(!started);
    QVERIFY2(job.errorString().contains(QStringLiteral("cannot be a model's name")), qPrintable(job.errorString()));
    QVERIFY(!QFileInfo::exists(downloadsDir()) || QDir(downloadsDir()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot).isEmpty());

    // The catalogue file refuses it too, naming it (escaped).
    QFile catalogue(m_tmp->filePath(QStringLiteral("catalogue.json")));
    QVERIFY(catalogue.open(QIODevice::WriteOnly));
    const QJsonObject e{{QStringLiteral("name"), name},
                        {QStringLiteral("task"), engine::retrievalTask},
                        {QStringLiteral("url"), m_server->url(fixturePath).toString()},
                        {QStringLiteral("sha256"), QJsonValue()}};
    catalogue.write(QJsonDocument(QJsonObject{{QStringLiteral("models"), QJsonArray{e}}}).toJson());
    catalogue.close();
    QString error;
    QVERIFY(!engine::ModelCatalogue::load(catalogue.fileName(), &error));
    QVERIFY2(error.contains(QStringLiteral("cannot be a model's name")), qPrintable(error));
    QVERIFY2(!error.contains(QChar(0)) && !error.contains(QLatin1Char('\n')), qPrintable(error));
}

void TestDownload::cliDownloadsAndResumes()
{
    // unisearch-cli model download NAME, with a catalogue that points at the local server.
    QFile catalogue(m_tmp->filePath(QStringLiteral("catalogue.json")));
    QVERIFY(catalogue.open(QIODevice::WriteOnly));
    QJsonObject e{{QStringLiteral("name"), QStringLiteral("fixture-retrieval")},
                  {QStringLiteral("task"), engine::retrievalTask},
                  {QStringLiteral("url"), m_server->url(fixturePath).toString()},
                  {QStringLiteral("sha256"), m_sha},
                  {QStringLiteral("licence"), QStringLiteral("test")},
                  {QStringLiteral("architecture"), m_architecture}};
    catalogue.write(QJsonDocument(QJsonObject{{QStringLiteral("models"), QJsonArray{e}}}).toJson());
    catalogue.close();
    m_engine.reset();  // the CLI opens the catalog itself
    const QString dataDir = m_tmp->filePath(QStringLiteral("cli"));

    // Runs the CLI while this event loop keeps serving.
    auto cli = [&](const QStringList &args, QString *out = nullptr, QString *err = nullptr) {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("UNISEARCH_MODEL_CATALOGUE"), catalogue.fileName());
        p.setProcessEnvironment(env);
        QSignalSpy done(&p, &QProcess::finished);
        p.start(QStringLiteral(UNISEARCH_CLI_PATH), QStringList{QStringLiteral("--data-dir"), dataDir} + args);
        if (!done.wait(60'000))
            return -1;
        if (out)
            *out = QString::fromUtf8(p.readAllStandardOutput());
        if (err)
            *err = QString::fromUtf8(p.readAllStandardError());
        return p.exitCode();
    };
    QString out, err;
    const qint64 cut = m_checkpoint.size() / 2;
    m_server->cutNextAfter(cut);
    QCOMPARE(cli({QStringLiteral("model"), QStringLiteral("download"), QStringLiteral("fixture-retrieval")}, &out, &err),
             1);
    QVERIFY2(err.contains(QStringLiteral("resume")), qPrintable(err));
    QCOMPARE(cli({QStringLiteral("model"), QStringLiteral("download"), QStringLiteral("fixture-retrieval"),
                  QStringLiteral("--json")},
                 &out, &err),
             0);
    QCOMPARE(m_server->requests().constLast().range, QByteArray("bytes=") + QByteArray::number(cut) + '-');
    const QJsonObject model = QJsonDocument::fromJson(out.toUtf8()).object();
    QCOMPARE(model.value(QStringLiteral("name")).toString(), QStringLiteral("fixture-retrieval"));
    QCOMPARE(model.value(QStringLiteral("active")).toBool(), true);
    QCOMPARE(cli({QStringLiteral("model"), QStringLiteral("list")}, &out), 0);
    QVERIFY2(out.contains(QStringLiteral("fixture-retrieval")), qPrintable(out));

    // An unknown name says what the catalogue offers.
    QCOMPARE(cli({QStringLiteral("model"), QStringLiteral("download"), QStringLiteral("nothing")}, &out, &err), 1);
    QVERIFY2(err.contains(QStringLiteral("fixture-retrieval")), qPrintable(err));
}

void TestDownload::shippedCatalogueListsBlipCheckpoints()
{
    qunsetenv("UNISEARCH_MODEL_CATALOGUE");
    QString error;
    const std::optional<engine::ModelCatalogue> catalogue = engine::ModelCatalogue::load({}, &error);
    QVERIFY2(catalogue, qPrintable(error));
    QStringList tasks;
    for (const engine::CatalogueEntry &e : catalogue->models) {
        QCOMPARE(e.url.scheme(), QStringLiteral("https"));
        QVERIFY2(e.url.fileName().startsWith(QStringLiteral("model_base_")), qPrintable(e.url.toString()));
        QCOMPARE(e.licence, QStringLiteral("BSD-3-Clause"));
        QVERIFY(!e.source.isEmpty());
        tasks.append(e.task);
    }
    // Search (retrieval: COCO, Flickr30k) and questions (VQA).
    QCOMPARE(tasks.count(engine::retrievalTask), 2);
    QCOMPARE(tasks.count(engine::vqaTask), 1);
    QVERIFY(catalogue->find(QStringLiteral("blip-base-retrieval-coco")));
}

void TestDownload::catalogueFileCanBeReplaced()
{
    QFile f(m_tmp->filePath(QStringLiteral("catalogue.json")));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QStringLiteral(R"({"models": [{"name": "local", "task": "vqa", "url": "%1", "sha256": "%2",
                                "size": %3, "licence": "test"}]})")
                .arg(m_server->url(fixturePath).toString(), m_sha)
                .arg(m_checkpoint.size())
                .toUtf8());
    f.close();
    qputenv("UNISEARCH_MODEL_CATALOGUE", f.fileName().toUtf8());
    QString error;
    const std::optional<engine::ModelCatalogue> catalogue = engine::ModelCatalogue::load({}, &error);
    qunsetenv("UNISEARCH_MODEL_CATALOGUE");
    QVERIFY2(catalogue, qPrintable(error));
    QCOMPARE(catalogue->models.size(), 1);
    QCOMPARE(catalogue->models.at(0).url, m_server->url(fixturePath));
    QCOMPARE(catalogue->models.at(0).sha256, m_sha);
    QCOMPARE(catalogue->models.at(0).size, qint64(m_checkpoint.size()));

    // A malformed entry is refused with the file named.
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(R"({"models": [{"name": "x", "task": "captions", "url": "https://example.org/x.pth"}]})");
    f.close();
    QVERIFY(!engine::ModelCatalogue::load(f.fileName(), &error));
    QVERIFY2(error.contains(f.fileName()) && error.contains(QStringLiteral("retrieval or vqa")), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestDownload)
#include "tst_download.moc"
