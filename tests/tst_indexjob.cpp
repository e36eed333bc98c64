// The indexing job through its API, with the fixture model (tiny: a run of a few hundred
// images takes seconds): full and incremental runs, moves without re-embedding, deletions,
// bad input, the store rebuilt from the catalog, the lock, pause/resume/cancel, videos.
#include "catalog/catalog.h"
#include "engine/indexjob.h"
#include "engine/lock.h"
#include "engine/retrievalmodel.h"
#include "engine/search.h"
#include "engine/vectorindex.h"
#include "index/vectorstore.h"
#include "media/filepath.h"
#include "model/architecture.h"
#include "model/bundle.h"
#include "model/modelrunner.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/modelfixture.h"
#include "support/workspace.h"

#include <QBuffer>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QJsonDocument>
#include <QProcess>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <cmath>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace unisearch;

namespace {

QByteArray encode(const QImage &img, const char *format, int quality = 90)
{
    QByteArray bytes;
    QBuffer buf(&bytes);
    buf.open(QIODevice::WriteOnly);
    img.save(&buf, format, quality);
    return bytes;
}

void writeBytes(const QString &path, const QByteArray &bytes)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile f(path);
    QVERIFY2(f.open(QIODevice::WriteOnly | QIODevice::Truncate), qPrintable(path));
    QCOMPARE(f.write(bytes), bytes.size());
}

// Writes to a path given as raw bytes (names that are not valid UTF-8).
bool writeRaw(const QByteArray &nativePath, const QByteArray &bytes)
{
    const int fd = ::open(nativePath.constData(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return false;
    const bool ok = ::write(fd, bytes.constData(), static_cast<size_t>(bytes.size())) == bytes.size();
    ::close(fd);
    return ok;
}

quint32 crc32(const QByteArray &data)
{
    quint32 c = 0xFFFFFFFFu;
    for (const char ch : data) {
        c ^= static_cast<quint8>(ch);
        for (int k = 0; k < 8; ++k)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

void appendBE32(QByteArray &out, quint32 v)
{
    out.append(char(v >> 24)).append(char(v >> 16)).append(char(v >> 8)).append(char(v));
}

// A PNG header that claims width × height (a decompression bomb as the header sees it).
QByteArray bombPng(quint32 width, quint32 height)
{
    QByteArray png("\x89PNG\r\n\x1a\n", 8);
    QByteArray ihdr("IHDR");
    appendBE32(ihdr, width);
    appendBE32(ihdr, height);
    ihdr.append(char(8)).append(char(2)).append(char(0)).append(char(0)).append(char(0));
    appendBE32(png, 13);
    png.append(ihdr);
    appendBE32(png, crc32(ihdr));
    // One IDAT chunk (a few compressed rows), so the header reads as a valid PNG.
    QByteArray idat("IDAT");
    idat.append(qCompress(QByteArray(64, '\0')).mid(4));  // zlib stream without Qt's size prefix
    appendBE32(png, quint32(idat.size() - 4));
    png.append(idat);
    appendBE32(png, crc32(idat));
    QByteArray iend("IEND");
    appendBE32(png, 0);
    png.append(iend);
    appendBE32(png, crc32(iend));
    return png;
}

// Enough of an MP4 for content detection ("ftyp" box); never decoded by this version.
QByteArray fakeMp4()
{
    QByteArray b;
    appendBE32(b, 32);
    b.append("ftypisom");
    appendBE32(b, 0x200);
    b.append("isomiso2avc1mp41");
    b.append(QByteArray(4096, '\0'));
    return b;
}

} // namespace

class TestIndexJob : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void indexesAFolderAndSkipsUnchangedFiles();
    void incrementalChangesFollowTheDisk();
    void movedFileKeepsItsVectors();
    void modifiedToBrokenLosesItsVector();
    void badInputIsRecordedAndTheRestIndexed();
    void unreadableFileIsRetriedOnceReadable();
    void storeIsRebuiltWhenMissingCorruptOrStale();
    void crashBetweenCommitAndSaveIsDetected();
    void secondIndexerIsRefused();
    void pauseResumeAndCancel();
    void cancelledRunContinuesWhereItStopped();
    void videosAreRecordedAsPending();
    void startOnPoolEmitsSignals();
    void searchFiltersByTypeFolderAndDate();

private:
    // A job's parameters over paths with this test's data dir and model, otherwise the defaults.
    engine::IndexParams jobParams(const QStringList &paths) const;
    engine::IndexResult index(const QStringList &paths, int batch = 4, const engine::IndexJob::ProgressFn &fn = {});
    std::unique_ptr<catalog::Catalog> openCatalog();
    QString photo(const QString &name) const { return m_photos + QLatin1Char('/') + name; }
    void writePhotos(const QString &dir, int count, quint32 seed, const char *format = "JPG");
    // Every item indexed has exactly one segment with one vector; the store holds the same.
    void checkConsistent(qint64 expectedIndexed);

    QTemporaryDir m_shared;
    QString m_bundleDir;
    QString m_fingerprint;
    QString m_architectureJson;
    std::shared_ptr<engine::RetrievalModel> m_model;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_photos;
};

void TestIndexJob::initTestCase()
{
    QVERIFY(m_shared.isValid());
    const model::ImportReport imported = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval",
                                                               "fixture", m_shared.filePath(QStringLiteral("models")));
    m_bundleDir = QString::fromStdString(imported.bundle.dir);
    m_fingerprint = QString::fromStdString(imported.bundle.fingerprint);
    m_architectureJson = QString::fromStdString(imported.bundle.architecture.toJson().dump());
    qputenv("UNISEARCH_VOCAB", test::vocabPath().toUtf8());
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    QString error;
    m_model = engine::RetrievalModel::fromRunner(
        model::ModelRunner::load(imported.bundle.architecture, imported.bundle.weightsPath), QStringLiteral("fixture"),
        m_fingerprint, &error);
    QVERIFY2(m_model, qPrintable(error));
}

void TestIndexJob::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_photos, QStringLiteral("photos")));
    auto cat = openCatalog();
    QVERIFY(cat);
    catalog::ModelRecord record;
    record.name = QStringLiteral("fixture");
    record.fingerprint = m_fingerprint;
    record.task = QStringLiteral("retrieval");
    record.architectureJson = m_architectureJson;
    record.path = m_bundleDir;
    record.active = true;
    cat->upsertModel(record);
    cat->addRoot(m_photos);
}

void TestIndexJob::cleanup()
{
    // chmod 000 files would keep QTemporaryDir from removing the folder.
    // Names that are not UTF-8 are invisible to QDir::removeRecursively: rm does both.
    if (m_tmp) {
        QProcess::execute(QStringLiteral("chmod"), {QStringLiteral("-R"), QStringLiteral("u+rwX"), m_tmp->path()});
        QProcess::execute(QStringLiteral("rm"), {QStringLiteral("-rf"), m_tmp->path()});
    }
    m_tmp.reset();
}

std::unique_ptr<catalog::Catalog> TestIndexJob::openCatalog()
{
    catalog::OpenResult r = catalog::Catalog::open(m_data);
    if (!r)
        qWarning("%s", qPrintable(r.error));
    return std::move(r.catalog);
}

engine::IndexParams TestIndexJob::jobParams(const QStringList &paths) const
{
    engine::IndexParams p;
    p.dataDir = m_data;
    p.paths = paths;
    p.model = m_model;
    return p;
}

engine::IndexResult TestIndexJob::index(const QStringList &paths, int batch, const engine::IndexJob::ProgressFn &fn)
{
    engine::IndexParams p = jobParams(paths);
    p.batchSize = batch;
    p.decodeThreads = 2;
    engine::IndexJob job(p);
    const engine::IndexResult r = job.run(fn);
    if (!r.ok)
        qWarning("index failed: %s", qPrintable(r.error));
    return r;
}

void TestIndexJob::writePhotos(const QString &dir, int count, quint32 seed, const char *format)
{
    for (int i = 0; i < count; ++i) {
        const QString name = QStringLiteral("%1/p%2.%3").arg(dir).arg(i, 4, 10, QLatin1Char('0'))
                                 .arg(QString::fromLatin1(format).toLower());
        writeBytes(name, encode(test::randomImage(48 + (i % 5) * 8, 40 + (i % 3) * 8, seed + quint32(i)), format));
    }
}

void TestIndexJob::checkConsistent(qint64 expectedIndexed)
{
    auto cat = openCatalog();
    QVERIFY(cat);
    const catalog::Counts c = cat->counts();
    QCOMPARE(c.segments, expectedIndexed);
    QCOMPARE(c.vectors, expectedIndexed);
    // Every vector is whole: model dimension, finite, unit length (float16 rounding aside).
    qint64 vectors = cat->forEachVector(m_fingerprint, [&](std::int64_t, std::span<const float> v) {
        QCOMPARE(qsizetype(v.size()), qsizetype(m_model->embedDim()));
        double n = 0;
        for (float x : v)
            n += double(x) * double(x);
        QVERIFY(std::abs(std::sqrt(n) - 1.0) < 1e-2);
    });
    QCOMPARE(vectors, expectedIndexed);
    // The store on disk matches the catalog.
    engine::VectorIndex vi(*cat, m_data, m_fingerprint, m_model->embedDim());
    const engine::VectorIndexReport report = vi.open(false);
    QVERIFY2(report.ok, qPrintable(report.error));
    QVERIFY2(!report.rebuilt, qPrintable(report.reason));
    QCOMPARE(qint64(vi.store().size()), expectedIndexed);
}

void TestIndexJob::indexesAFolderAndSkipsUnchangedFiles()
{
    writePhotos(m_photos, 20, 1);
    writePhotos(m_photos + QStringLiteral("/sub"), 5, 100, "PNG");
    const engine::IndexResult first = index({m_photos});
    QVERIFY(first.ok);
    QVERIFY(!first.cancelled);
    QCOMPARE(first.scanned, 25);
    QCOMPARE(first.added, 25);
    QCOMPARE(first.embedded, 25);
    QCOMPARE(first.failed, 0);
    QCOMPARE(first.storeSize, 25);
    checkConsistent(25);
    {
        auto cat = openCatalog();
        QCOMPARE(cat->counts().items, 25);
        const auto item = cat->itemByPath(photo(QStringLiteral("p0003.jpg")));
        QVERIFY(item);
        QCOMPARE(catalog::toString(item->status), catalog::toString(catalog::ItemStatus::Indexed));
        QCOMPARE(item->contentHash.size(), 64);
        QVERIFY(item->width > 0 && item->height > 0);
        const auto job = cat->job(1);
        QVERIFY(job);
        QCOMPARE(catalog::toString(job->state), catalog::toString(catalog::JobState::Done));
    }

    const engine::IndexResult second = index({m_photos});
    QVERIFY(second.ok);
    QCOMPARE(second.unchanged, 25);
    QCOMPARE(second.embedded, 0);
    QCOMPARE(second.added, 0);
    checkConsistent(25);
}

void TestIndexJob::incrementalChangesFollowTheDisk()
{
    writePhotos(m_photos, 10, 1);
    QVERIFY(index({m_photos}).ok);
    auto ids = [&] {
        auto cat = openCatalog();
        QHash<QString, std::int64_t> out;
        for (const catalog::Item &it : cat->itemsInRoot(cat->roots().constFirst().id))
            out.insert(QDir(m_photos).relativeFilePath(it.path), it.id);
        return out;
    };
    const auto before = ids();

    // Add 3, modify 2, delete 2, rename 1, move 1 into a new subfolder, touch 1.
    writePhotos(m_photos + QStringLiteral("/new"), 3, 500);
    QTest::qWait(20);  // a different mtime for the rewritten files
    writeBytes(photo(QStringLiteral("p0001.jpg")), encode(test::randomImage(64, 64, 9001), "JPG"));
    writeBytes(photo(QStringLiteral("p0002.jpg")), encode(test::randomImage(64, 48, 9002), "JPG"));
    QVERIFY(QFile::remove(photo(QStringLiteral("p0003.jpg"))));
    QVERIFY(QFile::remove(photo(QStringLiteral("p0004.jpg"))));
    QVERIFY(QFile::rename(photo(QStringLiteral("p0005.jpg")), photo(QStringLiteral("renamed.jpg"))));
    QVERIFY(QDir().mkpath(photo(QStringLiteral("moved"))));
    QVERIFY(QFile::rename(photo(QStringLiteral("p0006.jpg")), photo(QStringLiteral("moved/p0006.jpg"))));
    {
        QFile f(photo(QStringLiteral("p0007.jpg")));
        QVERIFY(f.open(QIODevice::ReadWrite));
        QVERIFY(f.setFileTime(QDateTime::currentDateTimeUtc().addSecs(-3600), QFileDevice::FileModificationTime));
    }

    const engine::IndexResult r = index({m_photos});
    QVERIFY(r.ok);
    QCOMPARE(r.added, 3);
    QCOMPARE(r.modified, 2);
    QCOMPARE(r.deleted, 2);
    QCOMPARE(r.moved, 2);
    QCOMPARE(r.touched, 1);
    QCOMPARE(r.unchanged, 3);  // p0000, p0008, p0009
    QCOMPARE(r.embedded, 5);   // the new and the modified ones only
    checkConsistent(11);

    const auto after = ids();
    QCOMPARE(after.size(), 11);
    QCOMPARE(after.value(QStringLiteral("renamed.jpg")), before.value(QStringLiteral("p0005.jpg")));
    QCOMPARE(after.value(QStringLiteral("moved/p0006.jpg")), before.value(QStringLiteral("p0006.jpg")));
    QVERIFY(after.contains(QStringLiteral("new/p0002.jpg")));
    QCOMPARE(after.value(QStringLiteral("p0001.jpg")), before.value(QStringLiteral("p0001.jpg")));
    QVERIFY(!after.contains(QStringLiteral("p0003.jpg")));
    QVERIFY(!after.contains(QStringLiteral("p0004.jpg")));
    {
        auto cat = openCatalog();
        const auto moved = cat->itemByPath(photo(QStringLiteral("moved/p0006.jpg")));
        QVERIFY(moved);
        QCOMPARE(moved->id, before.value(QStringLiteral("p0006.jpg")));
        QVERIFY(!cat->itemByPath(photo(QStringLiteral("p0006.jpg"))));
        const auto touched = cat->itemByPath(photo(QStringLiteral("p0007.jpg")));
        QCOMPARE(touched->mtimeMs, QFileInfo(photo(QStringLiteral("p0007.jpg"))).lastModified().toMSecsSinceEpoch());
    }

    // Deleted files never come back: not from the store, not from search.
    auto cat = openCatalog();
    QString error;
    auto session = engine::SearchSession::open(*cat, m_data, QStringLiteral("cpu"), &error);
    QVERIFY2(session, qPrintable(error));
    engine::SearchParams sp;
    sp.text = QStringLiteral("a photo");
    sp.top = 100;
    const auto found = session->searcher().search(sp, &error);
    QVERIFY2(found, qPrintable(error));
    QCOMPARE(found->hits.size(), 11);
    for (const engine::SearchHit &h : found->hits) {
        QVERIFY(!h.path.endsWith(QStringLiteral("/p0003.jpg")));
        QVERIFY(!h.path.endsWith(QStringLiteral("/p0004.jpg")));
        QVERIFY(QFileInfo::exists(h.path));
    }
    // A third run finds nothing to do.
    const engine::IndexResult third = index({m_photos});
    QCOMPARE(third.embedded, 0);
    QCOMPARE(third.unchanged, 11);
}

void TestIndexJob::movedFileKeepsItsVectors()
{
    writePhotos(m_photos + QStringLiteral("/a"), 6, 1);
    QVERIFY(index({m_photos}).ok);
    std::vector<float> vectorBefore;
    std::int64_t idBefore = 0;
    {
        auto cat = openCatalog();
        const auto it = cat->itemByPath(photo(QStringLiteral("a/p0002.jpg")));
        QVERIFY(it);
        idBefore = it->id;
        vectorBefore = *cat->vector(cat->segments(it->id).constFirst().id, m_fingerprint);
    }
    // Move the whole folder, and rename one file inside it.
    QVERIFY(QDir().rename(photo(QStringLiteral("a")), photo(QStringLiteral("b"))));
    QVERIFY(QFile::rename(photo(QStringLiteral("b/p0002.jpg")), photo(QStringLiteral("b/holiday 2.jpg"))));
    const engine::IndexResult r = index({m_photos});
    QVERIFY(r.ok);
    QCOMPARE(r.moved, 6);
    QCOMPARE(r.embedded, 0);
    QCOMPARE(r.deleted, 0);
    checkConsistent(6);
    auto cat = openCatalog();
    const auto it = cat->itemByPath(photo(QStringLiteral("b/holiday 2.jpg")));
    QVERIFY(it);
    QCOMPARE(it->id, idBefore);
    QCOMPARE(*cat->vector(cat->segments(it->id).constFirst().id, m_fingerprint), vectorBefore);
}

void TestIndexJob::modifiedToBrokenLosesItsVector()
{
    writePhotos(m_photos, 4, 1);
    QVERIFY(index({m_photos}).ok);
    QTest::qWait(20);
    writeBytes(photo(QStringLiteral("p0001.jpg")), QByteArray("this is no longer a photo\n"));
    const engine::IndexResult r = index({m_photos});
    QVERIFY(r.ok);
    QCOMPARE(r.modified, 1);
    QCOMPARE(r.failed, 1);
    checkConsistent(3);
    auto cat = openCatalog();
    const auto it = cat->itemByPath(photo(QStringLiteral("p0001.jpg")));
    QVERIFY(it);
    QCOMPARE(catalog::toString(it->status), catalog::toString(catalog::ItemStatus::Error));
    QVERIFY(cat->segments(it->id).isEmpty());
}

void TestIndexJob::badInputIsRecordedAndTheRestIndexed()
{
    writePhotos(m_photos, 5, 1);
    const QImage img = test::randomImage(64, 48, 77);
    const QByteArray jpeg = encode(img, "JPG");
    writeBytes(photo(QStringLiteral("empty.jpg")), {});
    writeBytes(photo(QStringLiteral("truncated.jpg")), jpeg.left(jpeg.size() * 6 / 10));
    writeBytes(photo(QStringLiteral("really-a-jpeg.png")), jpeg);                     // wrong extension
    writeBytes(photo(QStringLiteral("photo-named.txt")), encode(test::randomImage(40, 40, 78), "PNG"));  // image named .txt
    writeBytes(photo(QStringLiteral("notes.png")), QByteArray("just some text, not a picture\n"));
    writeBytes(photo(QStringLiteral("bomb.png")), bombPng(100000, 100000));
    writeBytes(photo(QStringLiteral("with spaces  and (brackets).jpg")), encode(test::randomImage(50, 50, 79), "JPG"));
    writeBytes(photo(QStringLiteral("new\nline.jpg")), encode(test::randomImage(50, 50, 80), "JPG"));
    const QByteArray rawName = media::encodeFileName(m_photos) + QByteArray("/caf\xe9-latin1-\xff.jpg");
    QVERIFY(writeRaw(rawName, encode(test::randomImage(50, 50, 81), "JPG")));
    QFile::copy(test::caseDir(QStringLiteral("retrieval-image")) + QStringLiteral("/img0.png"),
                photo(QStringLiteral("ünïcødé 写真.png")));

    const engine::IndexResult r = index({m_photos});
    QVERIFY(r.ok);
    // 5 photos + wrong extension + image named .txt + spaces + newline + latin-1 + unicode.
    QCOMPARE(r.embedded, 11);
    QCOMPARE(r.failed, 4);  // empty, truncated, notes (not an image), bomb
    QCOMPARE(r.errors.size(), 4);
    checkConsistent(11);

    auto cat = openCatalog();
    QHash<QString, catalog::ErrorEntry> errors;
    for (const catalog::ErrorEntry &e : cat->errors())
        errors.insert(QFileInfo(e.path).fileName(), e);
    QCOMPARE(errors.size(), 4);
    QCOMPARE(errors.value(QStringLiteral("notes.png")).stage, QStringLiteral("type"));
    QCOMPARE(errors.value(QStringLiteral("bomb.png")).stage, QStringLiteral("decode"));
    QVERIFY2(errors.value(QStringLiteral("bomb.png")).message.contains(QStringLiteral("limit")),
             qPrintable(errors.value(QStringLiteral("bomb.png")).message));
    QCOMPARE(errors.value(QStringLiteral("truncated.jpg")).stage, QStringLiteral("decode"));
    QVERIFY(errors.contains(QStringLiteral("empty.jpg")));
    for (const catalog::ErrorEntry &e : std::as_const(errors)) {
        QVERIFY2(!e.message.isEmpty(), qPrintable(e.path));
        QVERIFY(e.itemId);
        QCOMPARE(catalog::toString(cat->item(*e.itemId)->status), catalog::toString(catalog::ItemStatus::Error));
    }
    qInfo("bomb: %s", qPrintable(errors.value(QStringLiteral("bomb.png")).message));
    // The odd names are indexed under names that lead back to the same bytes.
    const QString latin1 = media::decodeFileName(rawName);
    const auto odd = cat->itemByPath(latin1);
    QVERIFY2(odd, qPrintable(latin1));
    QCOMPARE(catalog::toString(odd->status), catalog::toString(catalog::ItemStatus::Indexed));
    QCOMPARE(media::encodeFileName(odd->path), rawName);
    QVERIFY(cat->itemByPath(photo(QStringLiteral("new\nline.jpg"))));
    QVERIFY(cat->itemByPath(photo(QStringLiteral("ünïcødé 写真.png"))));
    QCOMPARE(catalog::toString(cat->itemByPath(photo(QStringLiteral("really-a-jpeg.png")))->status), catalog::toString(catalog::ItemStatus::Indexed));

    // A second run neither retries the broken files nor records them twice.
    const engine::IndexResult again = index({m_photos});
    QCOMPARE(again.embedded, 0);
    QCOMPARE(again.failed, 0);
    QCOMPARE(openCatalog()->errors().size(), 4);
}

void TestIndexJob::unreadableFileIsRetriedOnceReadable()
{
    writePhotos(m_photos, 3, 1);
    const QString locked = photo(QStringLiteral("locked.jpg"));
    writeBytes(locked, encode(test::randomImage(50, 50, 5), "JPG"));
    QVERIFY(::chmod(QFile::encodeName(locked).constData(), 0) == 0);

    engine::IndexResult r;
    if (::geteuid() == 0) {
        // Root reads mode-000 files (CI runs as root): index as "nobody" instead, so the
        // permission check applies as it does for a user. seteuid changes every thread's
        // credentials (glibc), the decode pool's included; the saved uid lets us return.
        QCOMPARE(QProcess::execute(QStringLiteral("chmod"), {QStringLiteral("-R"), QStringLiteral("a+rwX"), m_tmp->path()}), 0);
        QVERIFY(::chmod(QFile::encodeName(locked).constData(), 0) == 0);
        QVERIFY(::seteuid(65534) == 0);
        r = index({m_photos});
        QVERIFY(::seteuid(0) == 0);
    } else {
        r = index({m_photos});
    }
    QVERIFY(r.ok);
    QCOMPARE(r.embedded, 3);
    QCOMPARE(r.failed, 1);
    QCOMPARE(r.errors.constFirst().stage, QStringLiteral("read"));
    QVERIFY(r.errors.constFirst().message.contains(QStringLiteral("permission denied")));

    // chmod does not change the mtime: the file is still retried, since it failed to read.
    QVERIFY(::chmod(QFile::encodeName(locked).constData(), 0644) == 0);
    const engine::IndexResult again = index({m_photos});
    QCOMPARE(again.retried, 1);
    QCOMPARE(again.embedded, 1);
    QCOMPARE(openCatalog()->errors().size(), 0);
    checkConsistent(4);
}

void TestIndexJob::storeIsRebuiltWhenMissingCorruptOrStale()
{
    writePhotos(m_photos, 12, 1);
    QVERIFY(index({m_photos}).ok);
    const QString file = engine::VectorIndex::storePath(m_data, m_fingerprint);
    QVERIFY(QFileInfo::exists(file));

    auto reopen = [&](const char *what) {
        auto cat = openCatalog();
        engine::VectorIndex vi(*cat, m_data, m_fingerprint, m_model->embedDim());
        const engine::VectorIndexReport report = vi.open(true);
        QVERIFY2(report.ok, qPrintable(report.error));
        QVERIFY2(report.rebuilt, what);
        QVERIFY(report.saved);
        qInfo("%s: %s", what, qPrintable(report.reason));
        QCOMPARE(qint64(vi.store().size()), 12);
    };
    QVERIFY(QFile::remove(file));
    reopen("missing");
    checkConsistent(12);

    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadWrite));
        f.seek(f.size() / 2);
        f.write(QByteArray(64, '\x5a'));
    }
    reopen("corrupt");
    checkConsistent(12);

    writeBytes(file, QByteArray("garbage"));
    reopen("garbage");

    {
        auto cat = openCatalog();
        cat->setFaissGeneration(m_fingerprint, cat->faissGeneration(m_fingerprint) + 5);
    }
    reopen("stale");
    checkConsistent(12);

    // The indexing job rebuilds it too, and reports it.
    QVERIFY(QFile::remove(file));
    const engine::IndexResult r = index({m_photos});
    QVERIFY(r.storeRebuilt);
    QCOMPARE(r.embedded, 0);
    QCOMPARE(r.storeSize, 12);
    checkConsistent(12);
}

void TestIndexJob::crashBetweenCommitAndSaveIsDetected()
{
    // The catalog is ahead of the file after a batch commits and before the save: what a
    // kill at that moment leaves behind. Simulated with the protocol's own steps.
    writePhotos(m_photos, 4, 1);
    QVERIFY(index({m_photos}).ok);
    {
        auto cat = openCatalog();
        engine::VectorIndex vi(*cat, m_data, m_fingerprint, m_model->embedDim());
        QVERIFY(vi.open(true).ok);
        const std::int64_t item = cat->upsertItem({0, std::nullopt, photo(QStringLiteral("ghost.jpg")),
                                                   catalog::ItemType::Image, 1, 1, {}, 1, 1, 0,
                                                   catalog::ItemStatus::Indexed, {}});
        std::vector<float> v(size_t(m_model->embedDim()), 0.f);
        v[0] = 1.f;
        cat->transaction([&] {
            cat->addSegmentWithVector(item, 0, 0, m_fingerprint, v);
            vi.markDirty();
        });
        // ... killed here: no save.
    }
    auto cat = openCatalog();
    engine::VectorIndex vi(*cat, m_data, m_fingerprint, m_model->embedDim());
    const engine::VectorIndexReport report = vi.open(false);
    QVERIFY(report.ok);
    QVERIFY2(report.rebuilt, "a file behind the catalog must not be served");
    QVERIFY(report.reason.startsWith(QStringLiteral("stale")));
    QCOMPARE(qint64(vi.store().size()), 5);
}

void TestIndexJob::secondIndexerIsRefused()
{
    writePhotos(m_photos, 2, 1);
    engine::IndexLock held(m_data);
    QVERIFY(held.tryLock());
    const engine::IndexResult r = index({m_photos});
    QVERIFY(!r.ok);
    QVERIFY2(r.error.contains(QStringLiteral("another Unisearch process is indexing this library (pid %1)")
                                  .arg(QCoreApplication::applicationPid())),
             qPrintable(r.error));
    QCOMPARE(engine::IndexLock::holderPid(m_data), QCoreApplication::applicationPid());
    held.unlock();
    QCOMPARE(engine::IndexLock::holderPid(m_data), 0);
    QVERIFY(index({m_photos}).ok);
}

void TestIndexJob::pauseResumeAndCancel()
{
    writePhotos(m_photos, 120, 1);
    engine::IndexParams p = jobParams({m_photos});
    p.batchSize = 2;
    p.progressIntervalMs = 0;
    engine::IndexJob job(p);

    QElapsedTimer clock;
    clock.start();
    qint64 pausedAt = -1, doneWhenPaused = -1, resumedAt = -1;
    bool sawPaused = false, progressWhilePaused = false;
    std::unique_ptr<QThread> resumer;
    const engine::IndexResult r = job.run([&](const engine::IndexProgress &pr) {
        if (pr.stage != engine::IndexProgress::Stage::Indexing)
            return true;
        if (pr.paused) {
            sawPaused = true;
            if (pr.filesDone != doneWhenPaused)
                progressWhilePaused = true;
        }
        if (pausedAt < 0 && pr.filesDone >= 10) {
            pausedAt = clock.elapsed();
            doneWhenPaused = pr.filesDone;
            job.pause();
            resumer.reset(QThread::create([&] {
                QThread::msleep(600);
                resumedAt = clock.elapsed();
                job.resume();
            }));
            resumer->start();
        }
        return pr.filesDone < 60;  // then cancel
    });
    resumer->wait();
    QVERIFY(r.ok);
    QVERIFY(r.cancelled);
    QVERIFY(sawPaused);
    QVERIFY(!progressWhilePaused);
    QVERIFY(resumedAt - pausedAt >= 590);
    // Cancelled after a committed batch: the catalog holds exactly what was reported.
    auto cat = openCatalog();
    const qint64 committed = cat->counts().items;
    QVERIFY2(committed >= 60 && committed < 120, qPrintable(QString::number(committed)));
    QCOMPARE(catalog::toString(cat->job(1)->state), catalog::toString(catalog::JobState::Cancelled));
    checkConsistent(committed);
}

void TestIndexJob::cancelledRunContinuesWhereItStopped()
{
    writePhotos(m_photos, 80, 1);
    const engine::IndexResult first = index({m_photos}, 4, [](const engine::IndexProgress &pr) {
        return pr.stage != engine::IndexProgress::Stage::Indexing || pr.filesDone < 30;
    });
    QVERIFY(first.cancelled);
    const qint64 done = first.embedded;
    QVERIFY(done >= 30 && done < 80);
    const engine::IndexResult second = index({m_photos});
    QVERIFY(second.ok && !second.cancelled);
    QCOMPARE(second.unchanged, done);
    QCOMPARE(second.embedded, 80 - done);
    checkConsistent(80);
}

void TestIndexJob::videosAreRecordedAsPending()
{
    // Named for history: videos used to wait as "pending". Now a file that looks like an
    // MP4 but holds no playable video is a recorded decode error (tst_video_index indexes
    // real clips), and the images beside it are indexed.
    writePhotos(m_photos, 3, 1);
    writeBytes(photo(QStringLiteral("clip.mp4")), fakeMp4());
    const engine::IndexResult r = index({m_photos});
    QVERIFY(r.ok);
    QCOMPARE(r.embedded, 3);
    QCOMPARE(r.videosEmbedded, 0);
    QCOMPARE(r.failed, 1);
    QCOMPARE(r.errors.value(0).stage, QStringLiteral("decode"));
    auto cat = openCatalog();
    const auto clip = cat->itemByPath(photo(QStringLiteral("clip.mp4")));
    QVERIFY(clip);
    QCOMPARE(catalog::toString(clip->type), catalog::toString(catalog::ItemType::Video));
    QCOMPARE(catalog::toString(clip->status), catalog::toString(catalog::ItemStatus::Error));
    QVERIFY(!clip->contentHash.isEmpty());
    const engine::IndexState state = engine::readIndexState(*cat, m_data);
    QCOMPARE(state.pendingVideos, 0);
    QCOMPARE(state.indexedVideos, 0);
    QCOMPARE(state.indexedImages, 3);
    QCOMPARE(state.vectors, 3);
    QCOMPARE(state.lastJobState, QStringLiteral("done"));
    // Not retried on the next run: the file did not change.
    const engine::IndexResult again = index({m_photos});
    QCOMPARE(again.failed, 0);
    QCOMPARE(again.embedded, 0);
}

void TestIndexJob::startOnPoolEmitsSignals()
{
    writePhotos(m_photos, 10, 1);
    engine::IndexJob job(jobParams({m_photos}));
    QSignalSpy progress(&job, &engine::IndexJob::progressUpdated);
    QSignalSpy finished(&job, &engine::IndexJob::finished);
    QSignalSpy failed(&job, &engine::IndexJob::failed);
    job.start();
    QVERIFY(finished.wait(60000));
    QVERIFY(job.wait(10000));
    QVERIFY(!job.isRunning());
    QCOMPARE(failed.size(), 0);
    QVERIFY(progress.size() > 0);
    const auto result = finished.constFirst().constFirst().value<engine::IndexResult>();
    QCOMPARE(result.embedded, 10);
    QCOMPARE(job.result().embedded, 10);
}

void TestIndexJob::searchFiltersByTypeFolderAndDate()
{
    writePhotos(m_photos + QStringLiteral("/2019"), 4, 1);
    writePhotos(m_photos + QStringLiteral("/2020"), 5, 50);
    writeBytes(photo(QStringLiteral("clip.mp4")), fakeMp4());
    const QDateTime old = QDateTime(QDate(2019, 6, 1), QTime(12, 0), Qt::UTC);
    for (const QString &name : QDir(photo(QStringLiteral("2019"))).entryList(QDir::Files)) {
        QFile f(photo(QStringLiteral("2019/") + name));
        QVERIFY(f.open(QIODevice::ReadWrite));
        QVERIFY(f.setFileTime(old, QFileDevice::FileModificationTime));
    }
    QVERIFY(index({m_photos}).ok);

    auto cat = openCatalog();
    QString error;
    auto session = engine::SearchSession::open(*cat, m_data, QStringLiteral("cpu"), &error);
    QVERIFY2(session, qPrintable(error));
    auto paths = [&](const engine::SearchFilter &filter) {
        engine::SearchParams sp;
        sp.text = QStringLiteral("a picture");
        sp.top = 50;
        sp.filter = filter;
        const auto found = session->searcher().search(sp, &error);
        QStringList out;
        if (!found) {
            qWarning("%s", qPrintable(error));
            return out;
        }
        for (const auto &h : found->hits)
            out.append(h.path);
        return out;
    };
    QCOMPARE(paths({}).size(), 9);
    engine::SearchFilter folder;
    folder.folders = {photo(QStringLiteral("2020"))};
    const QStringList in2020 = paths(folder);
    QCOMPARE(in2020.size(), 5);
    for (const QString &p : in2020)
        QVERIFY(p.startsWith(photo(QStringLiteral("2020/"))));
    engine::SearchFilter byDate;
    byDate.to = QDateTime(QDate(2020, 1, 1), QTime(0, 0), Qt::UTC);
    const QStringList before2020 = paths(byDate);
    QCOMPARE(before2020.size(), 4);
    for (const QString &p : before2020)
        QVERIFY(p.startsWith(photo(QStringLiteral("2019/"))));
    engine::SearchFilter videos;
    videos.type = catalog::ItemType::Video;
    QCOMPARE(paths(videos).size(), 0);  // the fake clip is a recorded error
    engine::SearchFilter images;
    images.type = catalog::ItemType::Image;
    images.from = QDateTime(QDate(2020, 1, 1), QTime(0, 0), Qt::UTC);
    QCOMPARE(paths(images).size(), 5);

    // similar(): an indexed file uses its stored vector and is not its own neighbour.
    engine::SimilarParams simp;
    simp.top = 3;
    const QString probe = photo(QStringLiteral("2020/p0001.jpg"));
    const auto similar = session->searcher().similar(probe, simp, &error);
    QVERIFY2(similar, qPrintable(error));
    QCOMPARE(similar->source, QStringLiteral("catalog"));
    QCOMPARE(similar->hits.size(), 3);
    for (const auto &h : similar->hits)
        QVERIFY(h.path != probe);
    // A file outside the library is embedded on the fly.
    const QString outside = m_tmp->filePath(QStringLiteral("outside.png"));
    writeBytes(outside, encode(test::randomImage(40, 40, 4242), "PNG"));
    const auto fromFile = session->searcher().similar(outside, simp, &error);
    QVERIFY2(fromFile, qPrintable(error));
    QCOMPARE(fromFile->source, QStringLiteral("embedded"));
    QCOMPARE(fromFile->hits.size(), 3);
}

QTEST_GUILESS_MAIN(TestIndexJob)
#include "tst_indexjob.moc"
