// The catalog: creation, pragmas, migrations from an older schema, reopening, and
// the clear refusals (newer schema, garbage file, someone else's database).
#include "catalog/catalog.h"

#include <QFile>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QtTest>

#include <sqlite3.h>

using namespace unisearch::catalog;

namespace {

// Raw SQLite access for building files by hand, as an older (or newer, or foreign)
// program would have left them.
class RawDb
{
public:
    explicit RawDb(const QString &path)
    {
        if (sqlite3_open(path.toUtf8().constData(), &m_db) != SQLITE_OK)
            qFatal("cannot open %s", qPrintable(path));
    }
    ~RawDb() { sqlite3_close(m_db); }
    void exec(const char *sql)
    {
        char *err = nullptr;
        if (sqlite3_exec(m_db, sql, nullptr, nullptr, &err) != SQLITE_OK)
            qFatal("SQL failed: %s: %s", err, sql);
    }
    qint64 queryInt(const char *sql)
    {
        sqlite3_stmt *s = nullptr;
        sqlite3_prepare_v2(m_db, sql, -1, &s, nullptr);
        const qint64 v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
        sqlite3_finalize(s);
        return v;
    }

private:
    sqlite3 *m_db = nullptr;
};

// Schema version 1 exactly as it shipped (a released migration never changes).
constexpr const char *schemaV1 = R"sql(
PRAGMA application_id = 1431520072;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE roots (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, added_at INTEGER NOT NULL,
    last_scan_at INTEGER);
CREATE TABLE items (
    id INTEGER PRIMARY KEY, root_id INTEGER REFERENCES roots(id) ON DELETE CASCADE,
    path TEXT NOT NULL UNIQUE, type TEXT NOT NULL CHECK (type IN ('image', 'video')),
    size INTEGER NOT NULL DEFAULT 0, mtime_ms INTEGER NOT NULL DEFAULT 0, content_hash TEXT,
    width INTEGER NOT NULL DEFAULT 0, height INTEGER NOT NULL DEFAULT 0, duration_s REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'indexed', 'error', 'missing')),
    error TEXT, added_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX items_root ON items(root_id);
CREATE INDEX items_content_hash ON items(content_hash) WHERE content_hash IS NOT NULL;
CREATE INDEX items_status ON items(status);
CREATE TABLE segments (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    start_ms INTEGER NOT NULL DEFAULT 0, end_ms INTEGER NOT NULL DEFAULT 0, CHECK (end_ms >= start_ms),
    UNIQUE (item_id, start_ms, end_ms));
CREATE TABLE vectors (segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    model TEXT NOT NULL, data BLOB NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (segment_id, model)) WITHOUT ROWID;
CREATE INDEX vectors_model ON vectors(model, segment_id);
PRAGMA user_version = 1;
)sql";

std::vector<float> testVector(int n, float seed)
{
    std::vector<float> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        v[static_cast<size_t>(i)] = std::sin(seed + 0.37f * static_cast<float>(i)) * 0.25f;
    return v;
}

void compareVectors(const std::vector<float> &a, const std::vector<float> &b)
{
    QCOMPARE(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
        QVERIFY2(std::abs(a[i] - b[i]) < 1e-3f, qPrintable(QStringLiteral("element %1: %2 vs %3")
                                                                .arg(i)
                                                                .arg(a[i])
                                                                .arg(b[i])));
}

Item imageItem(const QString &path, const QString &hash = {})
{
    Item item;
    item.path = path;
    item.type = ItemType::Image;
    item.size = 1234;
    item.mtimeMs = 1700000000000;
    item.contentHash = hash;
    item.width = 640;
    item.height = 480;
    return item;
}

QString catalogFile(const QTemporaryDir &dir)
{
    return dir.filePath(QString::fromLatin1(Catalog::fileName));
}

} // namespace

class TestCatalog : public QObject
{
    Q_OBJECT

private slots:
    void createsCatalogWithWalAndForeignKeys();
    void foreignKeysCascadeDeletes();
    void migratesVersion1Forward();
    void reopenKeepsData();
    void twoConnectionsShareTheCatalog();
    void refusesNewerSchema();
    void refusesImpossibleVersionUntouched_data();
    void refusesImpossibleVersionUntouched();
    void tablesNotMatchingTheVersionAreNamedAsSuch();
    void refusesGarbageFile();
    void refusesForeignDatabase();
    void failedTransactionLeavesNoTrace();
    void movedFileKeepsItsVectors();
    void activeModelIsOnePerTask();
};

void TestCatalog::createsCatalogWithWalAndForeignKeys()
{
    QTemporaryDir tmp;
    const QString dataDir = tmp.filePath(QStringLiteral("nested/data"));  // created on demand
    OpenResult r = Catalog::open(dataDir);
    QVERIFY2(r, qPrintable(r.error));
    QVERIFY(QFile::exists(dataDir + QStringLiteral("/catalog.sqlite")));
    QCOMPARE(r.catalog->schemaVersion(), Catalog::latestSchemaVersion());
    QCOMPARE(r.catalog->pragma(QStringLiteral("journal_mode")), QStringLiteral("wal"));
    QCOMPARE(r.catalog->pragma(QStringLiteral("foreign_keys")), QStringLiteral("1"));
    QCOMPARE(r.catalog->pragma(QStringLiteral("synchronous")), QStringLiteral("1"));  // NORMAL
    QVERIFY(r.catalog->pragma(QStringLiteral("busy_timeout")).toInt() > 0);

    const Counts c = r.catalog->counts();
    QCOMPARE(c.roots + c.items + c.segments + c.vectors + c.errors + c.models + c.jobs, 0);
}

void TestCatalog::foreignKeysCascadeDeletes()
{
    QTemporaryDir tmp;
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY2(r, qPrintable(r.error));
    Catalog &cat = *r.catalog;

    const auto root = cat.addRoot(tmp.filePath(QStringLiteral("photos")));
    Item item = imageItem(tmp.filePath(QStringLiteral("photos/a.jpg")));
    item.rootId = root;
    const auto itemId = cat.upsertItem(item);
    cat.addSegmentWithVector(itemId, 0, 0, QStringLiteral("fp"), testVector(256, 1));
    QCOMPARE(cat.counts().vectors, 1);

    // A segment for an item that does not exist is refused, not stored dangling.
    QVERIFY_THROWS_EXCEPTION(CatalogError, cat.addSegment(itemId + 1000));

    QVERIFY(cat.removeRoot(root));
    const Counts c = cat.counts();
    QCOMPARE(c.items, 0);
    QCOMPARE(c.segments, 0);
    QCOMPARE(c.vectors, 0);
}

void TestCatalog::migratesVersion1Forward()
{
    QTemporaryDir tmp;
    {
        RawDb db(catalogFile(tmp));
        db.exec(schemaV1);
        db.exec("INSERT INTO roots(id, path, added_at) VALUES (1, '/photos', 1);"
                "INSERT INTO items(id, root_id, path, type, content_hash, added_at, updated_at, status)"
                "  VALUES (7, 1, '/photos/cat.jpg', 'image', 'abc', 1, 1, 'indexed');"
                "INSERT INTO items(id, root_id, path, type, duration_s, added_at, updated_at)"
                "  VALUES (8, 1, '/photos/clip.mp4', 'video', 12.5, 1, 1);"
                "INSERT INTO segments(id, item_id, start_ms, end_ms) VALUES (70, 7, 0, 0);"
                "INSERT INTO segments(id, item_id, start_ms, end_ms) VALUES (80, 8, 0, 4000);"
                "INSERT INTO vectors(segment_id, model, data, created_at) VALUES (70, 'fp', x'003C0040', 1);"
                "INSERT INTO meta(key, value) VALUES ('faiss_generation/fp', '3');");
        QCOMPARE(db.queryInt("PRAGMA user_version"), 1);
    }

    OpenResult r = Catalog::open(tmp.path());
    QVERIFY2(r, qPrintable(r.error));
    Catalog &cat = *r.catalog;
    QCOMPARE(cat.schemaVersion(), Catalog::latestSchemaVersion());

    // The data of version 1 survived...
    const Counts c = cat.counts();
    QCOMPARE(c.roots, 1);
    QCOMPARE(c.images, 1);
    QCOMPARE(c.videos, 1);
    QCOMPARE(c.segments, 2);
    QCOMPARE(c.vectors, 1);
    const auto v = cat.vector(70, QStringLiteral("fp"));
    QVERIFY(v);
    compareVectors(*v, {1.0f, 2.0f});  // half floats 0x3C00 and 0x4000
    QCOMPARE(cat.faissGeneration(QStringLiteral("fp")), 3);
    const auto item = cat.itemByPath(QStringLiteral("/photos/cat.jpg"));
    QVERIFY(item);
    QCOMPARE(toString(item->status), toString(ItemStatus::Indexed));
    const auto segments = cat.segments(8);
    QCOMPARE(segments.size(), 1);
    QCOMPARE(segments[0].endMs, 4000);

    // ...and the tables of version 2 work.
    ModelRecord m;
    m.name = QStringLiteral("blip-base");
    m.fingerprint = QStringLiteral("fp");
    m.task = QStringLiteral("retrieval");
    m.path = tmp.filePath(QStringLiteral("models/blip-base"));
    m.active = true;
    cat.upsertModel(m);
    ErrorEntry e;
    e.itemId = 8;
    e.path = QStringLiteral("/photos/clip.mp4");
    e.stage = QStringLiteral("decode");
    e.message = QStringLiteral("no video stream");
    cat.addError(e);
    QCOMPARE(cat.counts().models, 1);
    QCOMPARE(cat.errors().size(), 1);
    QCOMPARE(cat.errors().first().message, e.message);
}

void TestCatalog::reopenKeepsData()
{
    QTemporaryDir tmp;
    const std::vector<float> vec = testVector(256, 2);
    qint64 segmentId = 0;
    {
        OpenResult r = Catalog::open(tmp.path());
        QVERIFY2(r, qPrintable(r.error));
        const auto root = r.catalog->addRoot(tmp.filePath(QStringLiteral("lib")));
        Item video;
        video.path = tmp.filePath(QStringLiteral("lib/holiday.mp4"));
        video.type = ItemType::Video;
        video.durationS = 30;
        video.rootId = root;
        const auto id = r.catalog->upsertItem(video);
        segmentId = r.catalog->addSegmentWithVector(id, 10000, 14000, QStringLiteral("fp1"), vec);
        r.catalog->setFaissGeneration(QStringLiteral("fp1"), 42);
    }
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY2(r, qPrintable(r.error));
    const Counts c = r.catalog->counts();
    QCOMPARE(c.roots, 1);
    QCOMPARE(c.videos, 1);
    QCOMPARE(c.segments, 1);
    QCOMPARE(c.vectors, 1);
    QCOMPARE(r.catalog->faissGeneration(QStringLiteral("fp1")), 42);
    const auto back = r.catalog->vector(segmentId, QStringLiteral("fp1"));
    QVERIFY(back);
    compareVectors(*back, vec);

    std::int64_t seen = 0;
    const auto n = r.catalog->forEachVector(QStringLiteral("fp1"), [&](std::int64_t id, std::span<const float> v) {
        seen = id;
        QCOMPARE(v.size(), vec.size());
    });
    QCOMPARE(n, 1);
    QCOMPARE(seen, segmentId);
}

void TestCatalog::twoConnectionsShareTheCatalog()
{
    // The GUI and the CLI may have the same catalog open at once.
    QTemporaryDir tmp;
    OpenResult a = Catalog::open(tmp.path());
    OpenResult b = Catalog::open(tmp.path());
    QVERIFY2(a && b, qPrintable(a.error + b.error));
    a.catalog->transaction([&] { a.catalog->addRoot(tmp.filePath(QStringLiteral("x"))); });
    QCOMPARE(b.catalog->counts().roots, 1);
}

void TestCatalog::refusesNewerSchema()
{
    QTemporaryDir tmp;
    const int newer = Catalog::latestSchemaVersion() + 1;
    {
        RawDb db(catalogFile(tmp));
        db.exec(schemaV1);
        db.exec(QByteArray("PRAGMA user_version = " + QByteArray::number(newer)).constData());
    }
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY(!r);
    QVERIFY(!r.catalog);
    QVERIFY2(r.error.contains(QStringLiteral("newer Unisearch")), qPrintable(r.error));
    QVERIFY2(r.error.contains(QString::number(newer)), qPrintable(r.error));
    // Untouched: a newer program must still be able to use it.
    RawDb db(catalogFile(tmp));
    QCOMPARE(db.queryInt("PRAGMA user_version"), newer);
}

void TestCatalog::refusesImpossibleVersionUntouched_data()
{
    QTest::addColumn<qint64>("version");
    QTest::addColumn<QString>("expected");
    // No Unisearch writes a negative version: damaged, or changed by another program.
    QTest::newRow("-1") << qint64(-1) << QStringLiteral("damaged or was changed by another program");
    QTest::newRow("int min") << qint64(INT32_MIN) << QStringLiteral("damaged or was changed by another program");
    QTest::newRow("newer") << qint64(Catalog::latestSchemaVersion() + 1) << QStringLiteral("newer Unisearch");
    QTest::newRow("int max") << qint64(INT32_MAX) << QStringLiteral("newer Unisearch");
}

void TestCatalog::refusesImpossibleVersionUntouched()
{
    QFETCH(qint64, version);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    {
        // A whole current catalog whose version was then set by hand.
        OpenResult created = Catalog::open(tmp.path());
        QVERIFY2(created, qPrintable(created.error));
    }
    {
        RawDb db(catalogFile(tmp));
        db.exec("PRAGMA journal_mode = DELETE");  // no -wal file: the bytes below are the whole catalog
        db.exec(QByteArray("PRAGMA user_version = " + QByteArray::number(version)).constData());
    }
    QFile file(catalogFile(tmp));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray before = file.readAll();
    file.close();

    OpenResult r = Catalog::open(tmp.path());
    QVERIFY(!r);
    QVERIFY2(r.error.contains(expected), qPrintable(r.error));
    QVERIFY2(r.error.contains(QString::number(version)), qPrintable(r.error));
    QVERIFY2(r.error.contains(catalogFile(tmp)), qPrintable(r.error));
    QVERIFY2(!r.error.contains(QStringLiteral("free disk space")), qPrintable(r.error));
    // Not a byte changed (not even the journal mode in the header).
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(file.readAll() == before);
}

void TestCatalog::tablesNotMatchingTheVersionAreNamedAsSuch()
{
    // A current catalog that claims version 1: upgrading it to 2 fails ("table models
    // already exists"). That is a damaged file, not a full disk.
    QTemporaryDir tmp;
    {
        OpenResult created = Catalog::open(tmp.path());
        QVERIFY2(created, qPrintable(created.error));
    }
    {
        RawDb db(catalogFile(tmp));
        db.exec("PRAGMA user_version = 1");
    }
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY(!r);
    QVERIFY2(r.error.contains(QStringLiteral("do not match its version")), qPrintable(r.error));
    QVERIFY2(r.error.contains(QStringLiteral("already exists")), qPrintable(r.error));
    QVERIFY2(r.error.contains(catalogFile(tmp)), qPrintable(r.error));
    QVERIFY2(!r.error.contains(QStringLiteral("free disk space")), qPrintable(r.error));
    RawDb db(catalogFile(tmp));
    QCOMPARE(db.queryInt("PRAGMA user_version"), 1);  // the failed step was rolled back
}

void TestCatalog::refusesGarbageFile()
{
    QTemporaryDir tmp;
    QByteArray garbage(64 * 1024, Qt::Uninitialized);
    QRandomGenerator rng(1234);
    for (char &ch : garbage)
        ch = static_cast<char>(rng.bounded(256));
    {
        QFile f(catalogFile(tmp));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(garbage);
    }
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY(!r);
    QVERIFY2(r.error.contains(QStringLiteral("not a valid catalog")), qPrintable(r.error));
    QVERIFY2(r.error.contains(QStringLiteral("Move it aside")), qPrintable(r.error));
    // The person's file is left as it was, for them to inspect or recover.
    QFile f(catalogFile(tmp));
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.readAll(), garbage);

    // A truncated/empty-looking text file is no better.
    QTemporaryDir tmp2;
    QFile t(catalogFile(tmp2));
    QVERIFY(t.open(QIODevice::WriteOnly));
    t.write("hello, I am not a database\n");
    t.close();
    QVERIFY(!Catalog::open(tmp2.path()));
}

void TestCatalog::refusesForeignDatabase()
{
    QTemporaryDir tmp;
    {
        RawDb db(catalogFile(tmp));
        db.exec("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada');");
    }
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY(!r);
    QVERIFY2(r.error.contains(QStringLiteral("not a Unisearch catalog")), qPrintable(r.error));
    RawDb db(catalogFile(tmp));
    QCOMPARE(db.queryInt("SELECT count(*) FROM sqlite_schema"), 1);  // not migrated
}

void TestCatalog::failedTransactionLeavesNoTrace()
{
    QTemporaryDir tmp;
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY2(r, qPrintable(r.error));
    Catalog &cat = *r.catalog;
    const auto id = cat.upsertItem(imageItem(tmp.filePath(QStringLiteral("a.jpg"))));
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, cat.transaction([&] {
        cat.addSegmentWithVector(id, 0, 0, QStringLiteral("fp"), testVector(8, 0));  // nested: savepoint
        throw std::runtime_error("embedding failed mid-batch");
    }));
    QCOMPARE(cat.counts().segments, 0);
    QCOMPARE(cat.counts().vectors, 0);
    // The catalog is usable afterwards.
    cat.addSegmentWithVector(id, 0, 0, QStringLiteral("fp"), testVector(8, 0));
    QCOMPARE(cat.counts().vectors, 1);
}

void TestCatalog::movedFileKeepsItsVectors()
{
    QTemporaryDir tmp;
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY2(r, qPrintable(r.error));
    Catalog &cat = *r.catalog;
    const auto id = cat.upsertItem(imageItem(tmp.filePath(QStringLiteral("old/dog.jpg")), QStringLiteral("h1")));
    const auto seg = cat.addSegmentWithVector(id, 0, 0, QStringLiteral("fp"), testVector(16, 3));
    cat.setItemStatus(id, ItemStatus::Missing);

    const QList<Item> same = cat.itemsByContentHash(QStringLiteral("h1"));
    QCOMPARE(same.size(), 1);
    QCOMPARE(toString(same.first().status), toString(ItemStatus::Missing));
    cat.moveItem(id, tmp.filePath(QStringLiteral("new/dog.jpg")), std::nullopt);
    cat.setItemStatus(id, ItemStatus::Indexed);

    QVERIFY(!cat.itemByPath(tmp.filePath(QStringLiteral("old/dog.jpg"))));
    const auto moved = cat.itemByPath(tmp.filePath(QStringLiteral("new/dog.jpg")));
    QVERIFY(moved);
    QCOMPARE(moved->id, id);
    QVERIFY(cat.vector(seg, QStringLiteral("fp")));

    // Upserting the same path updates the row instead of adding one.
    Item again = *moved;
    again.size = 999;
    QCOMPARE(cat.upsertItem(again), id);
    QCOMPARE(cat.item(id)->size, 999);
    QCOMPARE(cat.counts().items, 1);
}

void TestCatalog::activeModelIsOnePerTask()
{
    QTemporaryDir tmp;
    OpenResult r = Catalog::open(tmp.path());
    QVERIFY2(r, qPrintable(r.error));
    Catalog &cat = *r.catalog;
    auto model = [](const char *name, const char *task) {
        ModelRecord m;
        m.name = QString::fromLatin1(name);
        m.fingerprint = m.name + QStringLiteral("-fp");
        m.task = QString::fromLatin1(task);
        m.path = QStringLiteral("/models/") + m.name;
        return m;
    };
    cat.upsertModel(model("a", "retrieval"));
    cat.upsertModel(model("b", "retrieval"));
    cat.upsertModel(model("q", "vqa"));
    QVERIFY(!cat.activeModel(QStringLiteral("retrieval")));
    QVERIFY(cat.setActiveModel(QStringLiteral("a")));
    QVERIFY(cat.setActiveModel(QStringLiteral("q")));
    QVERIFY(cat.setActiveModel(QStringLiteral("b")));
    QCOMPARE(cat.activeModel(QStringLiteral("retrieval"))->name, QStringLiteral("b"));
    QCOMPARE(cat.activeModel(QStringLiteral("vqa"))->name, QStringLiteral("q"));
    QVERIFY(!cat.setActiveModel(QStringLiteral("nope")));
}

QTEST_GUILESS_MAIN(TestCatalog)
#include "tst_catalog.moc"
