// Faults on purpose (issue 14), through unisearch-cli with the fixture model. Each fault
// must end with a clear message, a catalog that `PRAGMA integrity_check` accepts, nothing
// that had been committed lost, and a next run that resumes and completes:
//  - a full disk (RLIMIT_FSIZE on the child, SIGXFSZ ignored, so writes past the limit fail
//    with EFBIG as they would with ENOSPC) while indexing, importing a model, training,
//    and writing the FAISS store file;
//  - a read-only data dir (as root, the child runs as nobody: root ignores permission bits);
//  - the catalog busy: another connection holds BEGIN EXCLUSIVE while `index` runs;
//  - SIGKILL inside each write phase of indexing, re-embedding and pack activation, at the
//    named points of util/faultpoint.h (UNISEARCH_FAULT_POINT).
// Already covered elsewhere, not repeated here: SIGKILL of `index` at several progress
// points (tst_search_e2e killedIndexerLosesNothing), SIGKILL of a re-embed midway
// (tst_reembed fullModeSwitchesOnlyWhenComplete), a pack written over the active one on a
// disk that fills (tst_trainer failedPackWriteKeepsTheOldPack), a damaged or deleted
// store file (tst_search_e2e storeFileIsRebuiltOnNextOpen), a second indexer
// (tst_search_e2e secondIndexerGetsAClearMessage).
#include "catalog/catalog.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/videogen.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <sqlite3.h>

#include <csignal>
#include <grp.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace unisearch;

namespace {

using Run = unisearch::test::CliRun;

constexpr int kImages = 24; // the library most tests index
constexpr int kBatch = 4;   // images per committed batch (--batch)
constexpr uid_t kNobody = 65534;
const QStringList kWords = {QStringLiteral("zorblat"), QStringLiteral("quindle"), QStringLiteral("fremmix"),
                            QStringLiteral("blorpton")};

// Between fork and exec: writes past `bytes` fail with EFBIG instead of killing the child.
std::function<void()> fileSizeLimit(rlim_t bytes)
{
    return [bytes] {
        ::signal(SIGXFSZ, SIG_IGN);
        const rlimit r{bytes, bytes};
        ::setrlimit(RLIMIT_FSIZE, &r);
    };
}

// Between fork and exec: drop root for nobody, so that permission bits apply.
void becomeNobody()
{
    ::setgroups(0, nullptr);
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
        ::_exit(126);
}

QString integrityCheck(const QString &dataDir)
{
    sqlite3 *db = nullptr;
    const QByteArray path = QFile::encodeName(dataDir + QStringLiteral("/catalog.sqlite"));
    if (sqlite3_open_v2(path.constData(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        const QString error = QString::fromUtf8(sqlite3_errmsg(db));
        sqlite3_close(db);
        return error;
    }
    QStringList rows;
    sqlite3_stmt *s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK)
        while (sqlite3_step(s) == SQLITE_ROW)
            rows << QString::fromUtf8(reinterpret_cast<const char *>(sqlite3_column_text(s, 0)));
    else
        rows << QString::fromUtf8(sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rows.join(QLatin1Char('\n'));
}

// Every file below dir (but the lock file) with its size and content hash: what "nothing
// changed" compares.
QMap<QString, QByteArray> snapshot(const QString &dir)
{
    QMap<QString, QByteArray> out;
    QDirIterator it(dir, QDir::Files | QDir::Hidden | QDir::System, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        if (path.endsWith(QStringLiteral(".lock")))
            continue;
        QFile f(path);
        QByteArray digest = "unreadable";
        if (f.open(QIODevice::ReadOnly)) {
            QCryptographicHash h(QCryptographicHash::Sha256);
            h.addData(&f);
            digest = h.result().toHex();
        }
        out.insert(QDir(dir).relativeFilePath(path), digest);
    }
    return out;
}

// QVERIFY that a run armed with UNISEARCH_FAULT_POINT=point died there.
#define EXPECT_KILLED(r, point)                                                                                \
    do {                                                                                                      \
        const Run run_ = (r);                                                                                 \
        QVERIFY2(run_.exitCode == -1, qPrintable(QStringLiteral("not killed at %1: exit %2, %3")              \
                                                     .arg(point)                                              \
                                                     .arg(run_.exitCode)                                      \
                                                     .arg(run_.err)));                                        \
    } while (0)

bool copyTree(const QString &from, const QString &to)
{
    QDirIterator it(from, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        if (path.endsWith(QStringLiteral(".lock")))
            continue;
        const QString dest = QDir(to).filePath(QDir(from).relativeFilePath(path));
        if (!QDir().mkpath(QFileInfo(dest).absolutePath()) || !QFile::copy(path, dest))
            return false;
    }
    return true;
}

} // namespace

class TestFaults : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void fullDiskWhileIndexing();
    void fullDiskWhileImportingAModel();
    void fullDiskWhileTraining();
    void fullDiskWhileWritingTheStore();
    void readOnlyDataDir();
    void busyCatalogIsWaitedFor();
    void busyCatalogFailsClearlyAfterTheTimeout();
    void killInEachIndexingWritePhase_data();
    void killInEachIndexingWritePhase();
    void killWhileApplyingDeletionsAndMoves();
    void killInEachActivationWritePhase_data();
    void killInEachActivationWritePhase();
    void killWhileDeactivatingLosesNothing();

private:
    QProcessEnvironment env(const QString &faultPoint = {}) const;
    Run run(const QStringList &args, const std::function<void()> &childSetup = {}, const QString &faultPoint = {});
    Run runIn(const QString &dataDir, const QStringList &args, const std::function<void()> &childSetup = {},
              const QString &faultPoint = {});
    QProcess *start(const QStringList &args);
    // m_data as a copy of a prepared data dir.
    void useCopyOf(const QString &templateDir);
    QJsonObject status();
    QJsonObject pack(const QString &name);
    // The catalog after a fault: integrity_check ok, every item an indexed image with one
    // segment and one vector per key in `keys` (nothing half-written); returns the items.
    qint64 checkCatalog(int keys = 1);
    // A clean run indexes the rest: `committed` unchanged, the others embedded.
    void resumeIndexing(qint64 committed, int total = kImages);

    QString m_cli;
    QTemporaryDir m_shared;     // the model, the photos, the prepared data dirs
    QString m_photos;           // kImages pattern images
    QString m_withModel;        // a data dir with the fixture model imported
    QString m_trained;          // ... and m_photos indexed, a full-mode pack "full" trained
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
};

QProcessEnvironment TestFaults::env(const QString &faultPoint) const
{
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    // Writable for nobody too (readOnlyDataDir): only the data dir is read-only there.
    const QString home = m_shared.filePath(QStringLiteral("home"));
    e.insert(QStringLiteral("XDG_CONFIG_HOME"), home + QStringLiteral("/config"));
    e.insert(QStringLiteral("UNISEARCH_CPU_FEATURES"), QStringLiteral("none")); // auto = float32 (reference numbers)
    e.insert(QStringLiteral("XDG_CACHE_HOME"), home + QStringLiteral("/cache"));
    e.insert(QStringLiteral("XDG_DATA_HOME"), home + QStringLiteral("/share"));
    e.remove(QStringLiteral("UNISEARCH_DATA_DIR"));
    e.remove(QStringLiteral("DISPLAY"));
    e.insert(QStringLiteral("OMP_WAIT_POLICY"), QStringLiteral("PASSIVE"));
    e.insert(QStringLiteral("UNISEARCH_PROGRESS_MS"), QStringLiteral("0"));
    if (faultPoint.isEmpty())
        e.remove(QStringLiteral("UNISEARCH_FAULT_POINT"));
    else
        e.insert(QStringLiteral("UNISEARCH_FAULT_POINT"), faultPoint);
    return e;
}

Run TestFaults::runIn(const QString &dataDir, const QStringList &args, const std::function<void()> &childSetup,
                      const QString &faultPoint)
{
    return test::runProgram(m_cli, QStringList{QStringLiteral("--data-dir"), dataDir, QStringLiteral("--threads"),
                                               QStringLiteral("1")} + args,
                            env(faultPoint), 300000, childSetup);
}

Run TestFaults::run(const QStringList &args, const std::function<void()> &childSetup, const QString &faultPoint)
{
    return runIn(m_data, args, childSetup, faultPoint);
}

QProcess *TestFaults::start(const QStringList &args)
{
    auto *p = new QProcess(this);
    p->setProcessEnvironment(env());
    p->start(m_cli, QStringList{QStringLiteral("--data-dir"), m_data, QStringLiteral("--threads"), QStringLiteral("1")}
                        + args);
    return p;
}

QJsonObject TestFaults::status()
{
    const Run r = run({QStringLiteral("status"), QStringLiteral("--json")});
    if (r.exitCode != 0)
        qWarning("status failed: %s", qPrintable(r.err));
    return r.json();
}

QJsonObject TestFaults::pack(const QString &name)
{
    const Run r = run({QStringLiteral("adapters"), QStringLiteral("list"), QStringLiteral("--json")});
    return test::namedEntry(r.json().value(QStringLiteral("adapters")).toArray(), name);
}

void TestFaults::initTestCase()
{
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    QVERIFY(m_shared.isValid());
    QVERIFY(QDir().mkpath(m_shared.filePath(QStringLiteral("home"))));
    m_photos = QFileInfo(m_shared.path()).canonicalFilePath() + QStringLiteral("/photos");
    QVERIFY(QDir().mkpath(m_photos));
    QVERIFY(test::writePatternImages(m_photos, kImages, 7, 2));

    m_withModel = m_shared.filePath(QStringLiteral("with-model"));
    VERIFY_RUN(runIn(m_withModel, {QStringLiteral("model"), QStringLiteral("import"),
                                   test::caseWeights(QStringLiteral("retrieval-image")), QStringLiteral("--name"),
                                   QStringLiteral("base"), QStringLiteral("--architecture"),
                                   test::caseArchitectureJson(QStringLiteral("retrieval-image"))}),
               0);

    // A full-mode pack, trained once: activating it re-embeds the library.
    m_trained = m_shared.filePath(QStringLiteral("trained"));
    QVERIFY(copyTree(m_withModel, m_trained));
    VERIFY_RUN(runIn(m_trained, {QStringLiteral("index"), m_photos}), 0);
    const QString csv = m_shared.filePath(QStringLiteral("names.csv"));
    QFile f(csv);
    QVERIFY(f.open(QIODevice::WriteOnly));
    for (int i = 0; i < kWords.size(); ++i)
        f.write(QStringLiteral("%1/img%2.png,%3,name\n").arg(m_photos).arg(i, 2, 10, QLatin1Char('0')).arg(kWords[i]).toUtf8());
    f.close();
    VERIFY_RUN(runIn(m_trained, {QStringLiteral("train"), QStringLiteral("--mode"), QStringLiteral("full"),
                                 QStringLiteral("--data"), csv, QStringLiteral("--epochs"), QStringLiteral("1"),
                                 QStringLiteral("--name"), QStringLiteral("full")}),
               0);

    // The tests that run the CLI as nobody need to reach the model, photos and home.
    if (::geteuid() == 0)
        QCOMPARE(QProcess::execute(QStringLiteral("chmod"), {QStringLiteral("-R"), QStringLiteral("a+rX"), m_shared.path()}), 0);
    QCOMPARE(QProcess::execute(QStringLiteral("chmod"), {QStringLiteral("-R"), QStringLiteral("a+rwX"),
                                                          m_shared.filePath(QStringLiteral("home"))}),
             0);
}

void TestFaults::init()
{
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
    m_data = m_tmp->filePath(QStringLiteral("data"));
}

void TestFaults::cleanup()
{
    m_tmp.reset();
}

void TestFaults::useCopyOf(const QString &templateDir)
{
    QVERIFY(copyTree(templateDir, m_data));
}

qint64 TestFaults::checkCatalog(int keys)
{
    const QString integrity = integrityCheck(m_data);
    if (integrity != QStringLiteral("ok")) {
        qWarning("integrity_check: %s", qPrintable(integrity));
        return -2;
    }
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    if (!opened) {
        qWarning("catalog: %s", qPrintable(opened.error));
        return -1;
    }
    const catalog::Counts c = opened.catalog->counts();
    const bool whole = c.items == c.images && c.segments == c.items && c.vectors == keys * c.items && c.errors == 0;
    if (!whole)
        qWarning("half-written: %lld items, %lld images, %lld segments, %lld vectors, %lld errors",
                 static_cast<long long>(c.items), static_cast<long long>(c.images), static_cast<long long>(c.segments),
                 static_cast<long long>(c.vectors), static_cast<long long>(c.errors));
    return whole ? c.items : -1;
}

void TestFaults::resumeIndexing(qint64 committed, int total)
{
    const Run r = run({QStringLiteral("index"), m_photos, QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    const QJsonObject o = r.json();
    QCOMPARE(o.value(QStringLiteral("unchanged")).toInt(), int(committed));
    QCOMPARE(o.value(QStringLiteral("embedded")).toInt(), total - int(committed));
    QCOMPARE(o.value(QStringLiteral("storeSize")).toInt(), total);
    QCOMPARE(o.value(QStringLiteral("failed")).toInt(), 0);
    QCOMPARE(checkCatalog(), qint64(total));
    const QJsonObject index = status().value(QStringLiteral("index")).toObject();
    QCOMPARE(index.value(QStringLiteral("vectors")).toInt(), total);
    QCOMPARE(index.value(QStringLiteral("lastJob")).toObject().value(QStringLiteral("state")).toString(),
             QStringLiteral("done"));
}

// --- a full disk ---------------------------------------------------------------------

void TestFaults::fullDiskWhileIndexing()
{
    useCopyOf(m_withModel);
    // Room for the catalog's first few batches (its WAL grows by a few pages a batch).
    const Run full = run({QStringLiteral("index"), m_photos, QStringLiteral("--batch"), QStringLiteral("1")},
                         fileSizeLimit(96 * 1024));
    qInfo("full disk while indexing: exit %d, stderr: %s", full.exitCode, qPrintable(full.err.trimmed()));
    QCOMPARE(full.exitCode, 1);
    QVERIFY2(full.err.contains(QStringLiteral("catalog")), qPrintable(full.err));
    // SQLite's "disk I/O error" alone does not say that the disk may be full.
    QVERIFY2(full.err.contains(QStringLiteral("the disk may be full")), qPrintable(full.err));
    const qint64 committed = checkCatalog();
    QVERIFY(committed >= 0);
    QVERIFY2(committed < kImages, "the limit did not stop the run");
    qInfo("%lld of %d images committed before the disk was full", static_cast<long long>(committed), kImages);
    resumeIndexing(committed);
}

void TestFaults::fullDiskWhileImportingAModel()
{
    const QString weights = test::caseWeights(QStringLiteral("retrieval-image"));
    // The model's weights are 8.9 MB once imported: 1 MB is far too little, the catalog's
    // few pages fit.
    const Run full = run({QStringLiteral("model"), QStringLiteral("import"), weights, QStringLiteral("--name"),
                          QStringLiteral("m"), QStringLiteral("--architecture"),
                          test::caseArchitectureJson(QStringLiteral("retrieval-image"))},
                         fileSizeLimit(1024 * 1024));
    qInfo("full disk while importing: exit %d, stderr: %s", full.exitCode, qPrintable(full.err.trimmed()));
    QCOMPARE(full.exitCode, 1);
    QVERIFY2(full.err.contains(QStringLiteral("File too large")), qPrintable(full.err));
    QCOMPARE(integrityCheck(m_data), QStringLiteral("ok"));
    // Nothing registered, nothing half-copied left in models/.
    const Run list = run({QStringLiteral("model"), QStringLiteral("list"), QStringLiteral("--json")});
    VERIFY_RUN(list, 0);
    QVERIFY2(!list.out.contains(QStringLiteral("\"m\"")), qPrintable(list.out));
    QCOMPARE(QDir(m_data + QStringLiteral("/models")).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot),
             QStringList());
    // With room again the same command works.
    VERIFY_RUN(run({QStringLiteral("model"), QStringLiteral("import"), weights, QStringLiteral("--name"),
                    QStringLiteral("m"), QStringLiteral("--architecture"),
                    test::caseArchitectureJson(QStringLiteral("retrieval-image"))}),
               0);
    VERIFY_RUN(run({QStringLiteral("embed"), QStringLiteral("text"), QStringLiteral("a dog"), QStringLiteral("--json")}), 0);
}

void TestFaults::fullDiskWhileTraining()
{
    useCopyOf(m_trained);
    const QString packs = m_data + QStringLiteral("/adapters");
    const QMap<QString, QByteArray> before = snapshot(packs);
    const QStringList train{QStringLiteral("train"), QStringLiteral("--mode"), QStringLiteral("full"),
                            QStringLiteral("--data"), m_shared.filePath(QStringLiteral("names.csv")),
                            QStringLiteral("--epochs"), QStringLiteral("1"), QStringLiteral("--name"),
                            QStringLiteral("second")};
    const qint64 packSize = QFileInfo(packs + QStringLiteral("/full.safetensors")).size();
    const Run full = run(train, fileSizeLimit(rlim_t(packSize / 2)));
    qInfo("full disk while training: exit %d, stderr: %s", full.exitCode, qPrintable(full.err.trimmed().right(400)));
    QCOMPARE(full.exitCode, 1);
    QVERIFY2(full.err.contains(QStringLiteral("File too large")), qPrintable(full.err));
    QCOMPARE(checkCatalog(), qint64(kImages));
    QCOMPARE(snapshot(packs), before); // no half-written pack, no temporary file
    QVERIFY(pack(QStringLiteral("second")).isEmpty());
    VERIFY_RUN(run(train), 0);
    QVERIFY(!pack(QStringLiteral("second")).isEmpty());
}

void TestFaults::fullDiskWhileWritingTheStore()
{
    // The store file (136 bytes a vector) must outgrow what the catalog writes meanwhile
    // (its 32 KB shared-memory index and a few WAL pages): a larger library.
    constexpr int images = 1200;
    constexpr rlim_t limit = 96 * 1024;
    useCopyOf(m_withModel);
    QTemporaryDir photos;
    QVERIFY(test::writePatternImages(photos.path(), images, 3, 4));
    const QString folder = QFileInfo(photos.path()).canonicalFilePath();
    VERIFY_RUN(run({QStringLiteral("index"), folder, QStringLiteral("--batch"), QStringLiteral("16")}), 0);
    const QString fingerprint = status().value(QStringLiteral("index")).toObject().value(QStringLiteral("fingerprint")).toString();
    const QString store = m_data + QStringLiteral("/vectors/") + fingerprint + QStringLiteral(".faiss");
    QVERIFY2(QFileInfo(store).size() > qint64(limit), qPrintable(store));
    QVERIFY(QFile::remove(store));
    // The store is a cache of the catalog: search rebuilds it, answers, and tries to write
    // it back; a disk too full for that costs the file, not the answer.
    const Run searched = run({QStringLiteral("search"), QStringLiteral("a pattern"), QStringLiteral("--top"),
                              QStringLiteral("5"), QStringLiteral("--json")},
                             fileSizeLimit(limit));
    qInfo("full disk while search writes the store: exit %d, stderr: %s", searched.exitCode,
          qPrintable(searched.err.trimmed()));
    VERIFY_RUN(searched, 0);
    QCOMPARE(searched.json().value(QStringLiteral("results")).toArray().size(), 5);
    QVERIFY(!QFileInfo::exists(store));
    // `index` must write it: it fails and says what could not be written.
    const Run indexed = run({QStringLiteral("index"), folder}, fileSizeLimit(limit));
    qInfo("full disk while index writes the store: exit %d, stderr: %s", indexed.exitCode,
          qPrintable(indexed.err.trimmed()));
    QCOMPARE(indexed.exitCode, 1);
    QVERIFY2(indexed.err.contains(QStringLiteral("vector store")), qPrintable(indexed.err));
    QVERIFY2(indexed.err.contains(QStringLiteral("File too large")), qPrintable(indexed.err));
    QCOMPARE(checkCatalog(), qint64(images));
    // No temporary file is left behind.
    QCOMPARE(QDir(m_data + QStringLiteral("/vectors")).entryList(QDir::Files | QDir::Hidden), QStringList());
    const Run again = run({QStringLiteral("index"), folder, QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    QCOMPARE(again.json().value(QStringLiteral("embedded")).toInt(), 0);
    QCOMPARE(again.json().value(QStringLiteral("storeSize")).toInt(), images);
    QVERIFY(QFileInfo(store).isFile());
}

// --- a read-only data dir ------------------------------------------------------------

void TestFaults::readOnlyDataDir()
{
    useCopyOf(m_trained);
    QTemporaryDir more;
    QVERIFY(test::writePatternImages(more.path(), 3, 99, 0));
    std::function<void()> setup;
    if (::geteuid() == 0) {
        // Root writes anywhere; nobody may read the library but not write it.
        QCOMPARE(QProcess::execute(QStringLiteral("chmod"), {QStringLiteral("-R"), QStringLiteral("a+rX,go-w"),
                                                              m_tmp->path(), more.path()}),
                 0);
        setup = becomeNobody;
    } else {
        QCOMPARE(QProcess::execute(QStringLiteral("chmod"), {QStringLiteral("-R"), QStringLiteral("a-w"), m_data}), 0);
    }
    const QMap<QString, QByteArray> before = snapshot(m_data);

    const Run indexed = run({QStringLiteral("index"), more.path()}, setup);
    qInfo("index into a read-only data dir: exit %d, stderr: %s", indexed.exitCode, qPrintable(indexed.err.trimmed()));
    QCOMPARE(indexed.exitCode, 1);
    QVERIFY2(indexed.err.contains(QDir::toNativeSeparators(m_data)), qPrintable(indexed.err));
    QVERIFY2(indexed.err.contains(QStringLiteral("read-only"), Qt::CaseInsensitive)
                 || indexed.err.contains(QStringLiteral("permission"), Qt::CaseInsensitive),
             qPrintable(indexed.err));
    QCOMPARE(snapshot(m_data), before);

    const Run imported = run({QStringLiteral("model"), QStringLiteral("import"),
                              test::caseWeights(QStringLiteral("retrieval-image")), QStringLiteral("--name"),
                              QStringLiteral("another"), QStringLiteral("--architecture"),
                              test::caseArchitectureJson(QStringLiteral("retrieval-image"))},
                             setup);
    qInfo("model import into a read-only data dir: exit %d, stderr: %s", imported.exitCode,
          qPrintable(imported.err.trimmed()));
    QCOMPARE(imported.exitCode, 1);
    QVERIFY2(imported.err.contains(QStringLiteral("read-only"), Qt::CaseInsensitive)
                 || imported.err.contains(QStringLiteral("permission"), Qt::CaseInsensitive),
             qPrintable(imported.err));
    QCOMPARE(snapshot(m_data), before);

    if (::geteuid() != 0)
        QCOMPARE(QProcess::execute(QStringLiteral("chmod"), {QStringLiteral("-R"), QStringLiteral("u+w"), m_data}), 0);
    QCOMPARE(checkCatalog(), qint64(kImages));
}

// --- the catalog busy ----------------------------------------------------------------

namespace {

// Another process's writer, as far as SQLite can tell: its own connection holding the
// write lock until release().
class CatalogWriter
{
public:
    explicit CatalogWriter(const QString &dataDir)
    {
        const QByteArray path = QFile::encodeName(dataDir + QStringLiteral("/catalog.sqlite"));
        sqlite3_open_v2(path.constData(), &m_db, SQLITE_OPEN_READWRITE, nullptr);
        m_ok = sqlite3_exec(m_db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK;
    }
    ~CatalogWriter()
    {
        release();
        sqlite3_close(m_db);
    }
    bool holding() const { return m_ok; }
    void release()
    {
        if (m_ok)
            sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr);
        m_ok = false;
    }

private:
    sqlite3 *m_db = nullptr;
    bool m_ok = false;
};

} // namespace

void TestFaults::busyCatalogIsWaitedFor()
{
    useCopyOf(m_withModel);
    CatalogWriter writer(m_data);
    QVERIFY(writer.holding());
    std::unique_ptr<QProcess> p(start({QStringLiteral("index"), m_photos, QStringLiteral("--json")}));
    QVERIFY(p->waitForStarted());
    // Released well within the catalog's busy timeout (5 s): the writer waits, then goes on.
    QTest::qWait(1500);
    writer.release();
    QVERIFY(p->waitForFinished(120000));
    QCOMPARE(p->exitStatus(), QProcess::NormalExit);
    QVERIFY2(p->exitCode() == 0, p->readAllStandardError().constData());
    QCOMPARE(checkCatalog(), qint64(kImages));
}

void TestFaults::busyCatalogFailsClearlyAfterTheTimeout()
{
    useCopyOf(m_withModel);
    const QMap<QString, QByteArray> before = snapshot(m_data);
    {
        CatalogWriter writer(m_data);
        QVERIFY(writer.holding());
        QElapsedTimer t;
        t.start();
        const Run r = run({QStringLiteral("index"), m_photos});
        qInfo("index with the catalog locked: exit %d after %lld ms, stderr: %s", r.exitCode,
              static_cast<long long>(t.elapsed()), qPrintable(r.err.trimmed()));
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(QStringLiteral("database is locked")), qPrintable(r.err));
        QVERIFY2(r.err.contains(QStringLiteral("another program")), qPrintable(r.err));
    }
    QCOMPARE(checkCatalog(), qint64(0));
    VERIFY_RUN(run({QStringLiteral("index"), m_photos}), 0);
    QCOMPARE(checkCatalog(), qint64(kImages));
}

// --- SIGKILL at named points ---------------------------------------------------------

void TestFaults::killInEachIndexingWritePhase_data()
{
    QTest::addColumn<QString>("point");
    QTest::addColumn<int>("committed"); // images in the catalog after the kill
    // The third batch's transaction, every row written, COMMIT not reached: rolled back.
    QTest::newRow("inside a batch's transaction") << QStringLiteral("index.commit:3") << 2 * kBatch;
    // The third batch committed, the in-memory store and its file not updated.
    QTest::newRow("after a batch's commit") << QStringLiteral("index.committed:3") << 3 * kBatch;
    // The store file renamed into place, the catalog still naming the old generation.
    QTest::newRow("store file written") << QStringLiteral("store.saved") << kImages;
    // Roots marked scanned, the complete pass not yet recorded.
    QTest::newRow("end of the pass") << QStringLiteral("index.finish") << kImages;
}

void TestFaults::killInEachIndexingWritePhase()
{
    QFETCH(QString, point);
    QFETCH(int, committed);
    useCopyOf(m_withModel);
    EXPECT_KILLED(run({QStringLiteral("index"), m_photos, QStringLiteral("--batch"), QString::number(kBatch)}, {}, point),
                 point);
    QCOMPARE(checkCatalog(), qint64(committed));
    resumeIndexing(committed);
}

void TestFaults::killWhileApplyingDeletionsAndMoves()
{
    useCopyOf(m_trained);
    QTemporaryDir photos;
    QVERIFY(copyTree(m_photos, photos.path()));
    const QString folder = QFileInfo(photos.path()).canonicalFilePath();
    VERIFY_RUN(run({QStringLiteral("index"), folder}), 0);
    QCOMPARE(checkCatalog(), qint64(2 * kImages));
    QVERIFY(QFile::remove(folder + QStringLiteral("/img00.png")));
    QVERIFY(QFile::remove(folder + QStringLiteral("/img01.png")));
    QVERIFY(QFile::rename(folder + QStringLiteral("/img02.png"), folder + QStringLiteral("/moved.png")));
    EXPECT_KILLED(run({QStringLiteral("index"), folder}, {}, QStringLiteral("index.cheap-changes")),
                 QStringLiteral("index.cheap-changes"));
    QCOMPARE(checkCatalog(), qint64(2 * kImages)); // the deletions and the move rolled back together
    const Run again = run({QStringLiteral("index"), folder, QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    QCOMPARE(again.json().value(QStringLiteral("deleted")).toInt(), 2);
    QCOMPARE(again.json().value(QStringLiteral("moved")).toInt(), 1);
    QCOMPARE(again.json().value(QStringLiteral("embedded")).toInt(), 0);
    QCOMPARE(again.json().value(QStringLiteral("storeSize")).toInt(), 2 * kImages - 2);
    QCOMPARE(checkCatalog(), qint64(2 * kImages - 2));
}

void TestFaults::killInEachActivationWritePhase_data()
{
    QTest::addColumn<QString>("point");
    QTest::addColumn<bool>("switched"); // whether the pack is active after the kill
    // Activation records the pack as pending (the first pack-state transaction).
    QTest::newRow("recording the pending pack") << QStringLiteral("pack.state:1") << false;
    // The re-embed's third batch (batches of 2) inside its transaction, then just after it.
    QTest::newRow("inside a re-embed batch") << QStringLiteral("index.commit:3") << false;
    QTest::newRow("after a re-embed batch") << QStringLiteral("index.committed:3") << false;
    // The switch itself: active changed, pending not yet cleared (one transaction).
    QTest::newRow("inside the switch") << QStringLiteral("pack.state:2") << false;
    QTest::newRow("after the switch") << QStringLiteral("pack.state-committed:2") << true;
}

void TestFaults::killInEachActivationWritePhase()
{
    QFETCH(QString, point);
    QFETCH(bool, switched);
    useCopyOf(m_trained);
    const QJsonObject before = status().value(QStringLiteral("index")).toObject();
    const QString base = before.value(QStringLiteral("fingerprint")).toString();
    const QJsonArray results = run({QStringLiteral("search"), kWords[0], QStringLiteral("--top"), QStringLiteral("50"), QStringLiteral("--json")}).json().value(QStringLiteral("results")).toArray();
    QCOMPARE(results.size(), kImages);

    const QStringList activate{QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("full"),
                               QStringLiteral("--batch"), QStringLiteral("2")};
    EXPECT_KILLED(run(activate, {}, point), point);
    QVERIFY(integrityCheck(m_data) == QStringLiteral("ok"));
    const QJsonObject after = status().value(QStringLiteral("index")).toObject();
    QCOMPARE(pack(QStringLiteral("full")).value(QStringLiteral("active")).toBool(), switched);
    if (!switched) {
        // Search still runs on the base model's vectors, all of them, unchanged.
        QCOMPARE(after.value(QStringLiteral("fingerprint")).toString(), base);
        QCOMPARE(after.value(QStringLiteral("vectors")).toInt(), kImages);
        QCOMPARE(run({QStringLiteral("search"), kWords[0], QStringLiteral("--top"), QStringLiteral("50"), QStringLiteral("--json")}).json().value(QStringLiteral("results")).toArray(),
                 results);
    }

    // The same command again completes, and only the missing vectors are embedded.
    const Run again = run(activate + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    const int reembedded = after.value(QStringLiteral("reembed")).toObject().value(QStringLiteral("vectors")).toInt();
    if (!switched)
        QCOMPARE(again.json().value(QStringLiteral("embedded")).toInt(), kImages - reembedded);
    QVERIFY(pack(QStringLiteral("full")).value(QStringLiteral("active")).toBool());
    QVERIFY(!pack(QStringLiteral("full")).value(QStringLiteral("pending")).toBool());
    const QJsonObject done = status().value(QStringLiteral("index")).toObject();
    QVERIFY(done.value(QStringLiteral("fingerprint")).toString().startsWith(base + QLatin1Char('+')));
    QCOMPARE(done.value(QStringLiteral("vectors")).toInt(), kImages);
    QVERIFY(done.value(QStringLiteral("reembed")).isNull());
    QCOMPARE(checkCatalog(2), qint64(kImages)); // the base model's vectors and the pack's
    QCOMPARE(run({QStringLiteral("search"), kWords[0], QStringLiteral("--top"), QStringLiteral("50"), QStringLiteral("--json")}).json().value(QStringLiteral("results")).toArray().size(),
             kImages);
}

void TestFaults::killWhileDeactivatingLosesNothing()
{
    useCopyOf(m_trained);
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("full")}), 0);
    QCOMPARE(checkCatalog(2), qint64(kImages));
    // Deactivating commits the new state, then deletes the pack's vectors: killed in either.
    // Both happen in one transaction now; the store file goes after the commit.
    for (const QString &point :
         {QStringLiteral("pack.state"), QStringLiteral("pack.drop-vectors"), QStringLiteral("pack.state-committed")}) {
        EXPECT_KILLED(run({QStringLiteral("adapters"), QStringLiteral("deactivate")}, {}, point), point);
        QCOMPARE(integrityCheck(m_data), QStringLiteral("ok"));
    }
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("deactivate")}), 0);
    QVERIFY(!pack(QStringLiteral("full")).value(QStringLiteral("active")).toBool());
    const QJsonObject index = status().value(QStringLiteral("index")).toObject();
    QVERIFY(!index.value(QStringLiteral("fingerprint")).toString().contains(QLatin1Char('+')));
    QCOMPARE(index.value(QStringLiteral("vectors")).toInt(), kImages);
    // The base vectors complete, the pack's gone (none left orphaned by the kills).
    QCOMPARE(checkCatalog(1), qint64(kImages));
    // Activated again, the pack's vectors are made anew, all of them (the store file the
    // last kill left is not trusted), and search finds each image once.
    const Run again = run({QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("full"), QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    QCOMPARE(again.json().value(QStringLiteral("embedded")).toInt(), kImages);
    QCOMPARE(checkCatalog(2), qint64(kImages));
    const QJsonArray results = run({QStringLiteral("search"), kWords[0], QStringLiteral("--top"), QStringLiteral("50"),
                                    QStringLiteral("--json")})
                                   .json()
                                   .value(QStringLiteral("results"))
                                   .toArray();
    QSet<QString> paths;
    for (const QJsonValue &v : results)
        paths.insert(v.toObject().value(QStringLiteral("path")).toString());
    QCOMPARE(results.size(), kImages);
    QCOMPARE(paths.size(), kImages);
}

QTEST_GUILESS_MAIN(TestFaults)
#include "tst_faults.moc"
