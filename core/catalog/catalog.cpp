#include "catalog/catalog.h"

#include "catalog/database_p.h"
#include "catalog/migrations_p.h"
#include "util/log.h"

#include <QDir>
#include <QFileInfo>
#include <QFloat16>

#include <sqlite3.h>

#include <cstring>

namespace unisearch::catalog {

using detail::Database;
using detail::SqliteError;
using detail::Statement;

namespace {

const QString logCategory = QStringLiteral("catalog");

std::int64_t nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

QDateTime fromMs(const std::optional<std::int64_t> &ms)
{
    return ms ? QDateTime::fromMSecsSinceEpoch(*ms, Qt::UTC) : QDateTime();
}

std::optional<std::int64_t> toMs(const QDateTime &t)
{
    if (!t.isValid())
        return std::nullopt;
    return t.toMSecsSinceEpoch();
}

QString cleanPath(const QString &path)
{
    return QDir::cleanPath(QFileInfo(path).absoluteFilePath());
}

// Vectors are stored as IEEE half floats in the machine's byte order; every platform
// we build for is little-endian, which is what the blob format promises.
QByteArray toFloat16Blob(std::span<const float> v)
{
    QByteArray blob(static_cast<qsizetype>(v.size() * sizeof(qfloat16)), Qt::Uninitialized);
    qFloatToFloat16(reinterpret_cast<qfloat16 *>(blob.data()), v.data(), static_cast<qsizetype>(v.size()));
    return blob;
}

std::vector<float> fromFloat16Blob(const char *data, qsizetype bytes)
{
    const qsizetype n = bytes / static_cast<qsizetype>(sizeof(qfloat16));
    std::vector<qfloat16> halves(static_cast<size_t>(n));
    std::memcpy(halves.data(), data, static_cast<size_t>(n) * sizeof(qfloat16));
    std::vector<float> out(static_cast<size_t>(n));
    qFloatFromFloat16(out.data(), halves.data(), n);
    return out;
}

constexpr const char *itemColumns =
    "id, root_id, path, type, size, mtime_ms, content_hash, width, height, duration_s, status, error";

Item readItem(const Statement &s)
{
    Item item;
    item.id = s.int64(0);
    item.rootId = s.optionalInt64(1);
    item.path = s.text(2);
    item.type = itemTypeFromString(s.text(3)).value_or(ItemType::Image);
    item.size = s.int64(4);
    item.mtimeMs = s.int64(5);
    item.contentHash = s.text(6);
    item.width = static_cast<int>(s.int64(7));
    item.height = static_cast<int>(s.int64(8));
    item.durationS = s.real(9);
    item.status = itemStatusFromString(s.text(10)).value_or(ItemStatus::Pending);
    item.error = s.text(11);
    return item;
}

QList<Item> readItems(Statement &s)
{
    QList<Item> items;
    while (s.step())
        items.append(readItem(s));
    return items;
}

constexpr const char *modelColumns = "id, name, fingerprint, task, architecture, path, active, imported_at";

ModelRecord readModel(const Statement &s)
{
    ModelRecord m;
    m.id = s.int64(0);
    m.name = s.text(1);
    m.fingerprint = s.text(2);
    m.task = s.text(3);
    m.architectureJson = s.text(4);
    m.path = s.text(5);
    m.active = s.int64(6) != 0;
    m.importedAt = fromMs(s.int64(7));
    return m;
}

constexpr const char *jobColumns = "id, kind, state, progress, params, error, created_at, updated_at";

Job readJob(const Statement &s)
{
    Job j;
    j.id = s.int64(0);
    j.kind = s.text(1);
    j.state = jobStateFromString(s.text(2)).value_or(JobState::Failed);
    j.progress = s.real(3);
    j.paramsJson = s.text(4);
    j.error = s.text(5);
    j.createdAt = fromMs(s.int64(6));
    j.updatedAt = fromMs(s.int64(7));
    return j;
}

bool isNotADatabase(const SqliteError &e)
{
    const int primary = e.code() & 0xff;
    return primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT;
}

// Errors of the machine rather than of the file's content: a migration that fails with
// one of these can succeed once there is room or permission.
bool isEnvironmentError(const SqliteError &e)
{
    switch (e.code() & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
        return true;
    default:
        return false;
    }
}

} // namespace

// --- enum names --------------------------------------------------------------

QString toString(ItemType type)
{
    return type == ItemType::Video ? QStringLiteral("video") : QStringLiteral("image");
}

QString toString(ItemStatus status)
{
    switch (status) {
    case ItemStatus::Pending: return QStringLiteral("pending");
    case ItemStatus::Indexed: return QStringLiteral("indexed");
    case ItemStatus::Error: return QStringLiteral("error");
    case ItemStatus::Missing: return QStringLiteral("missing");
    }
    return QStringLiteral("pending");
}

std::optional<ItemType> itemTypeFromString(const QString &s)
{
    if (s == QLatin1String("image"))
        return ItemType::Image;
    if (s == QLatin1String("video"))
        return ItemType::Video;
    return std::nullopt;
}

std::optional<ItemStatus> itemStatusFromString(const QString &s)
{
    for (ItemStatus st : {ItemStatus::Pending, ItemStatus::Indexed, ItemStatus::Error, ItemStatus::Missing})
        if (s == toString(st))
            return st;
    return std::nullopt;
}

QString toString(JobState state)
{
    switch (state) {
    case JobState::Queued: return QStringLiteral("queued");
    case JobState::Running: return QStringLiteral("running");
    case JobState::Paused: return QStringLiteral("paused");
    case JobState::Done: return QStringLiteral("done");
    case JobState::Failed: return QStringLiteral("failed");
    case JobState::Cancelled: return QStringLiteral("cancelled");
    }
    return QStringLiteral("failed");
}

std::optional<JobState> jobStateFromString(const QString &s)
{
    for (JobState st : {JobState::Queued, JobState::Running, JobState::Paused, JobState::Done, JobState::Failed,
                        JobState::Cancelled})
        if (s == toString(st))
            return st;
    return std::nullopt;
}

// --- opening and migrating ---------------------------------------------------

struct Catalog::Private {
    Database db;
    QString path;
    int transactionDepth = 0;
};

Catalog::Catalog(std::unique_ptr<Private> dd)
    : d(std::move(dd))
{
}

Catalog::~Catalog() = default;

int Catalog::latestSchemaVersion()
{
    return detail::migrations().back().version;
}

namespace {

// Brings db to the latest version, one step per transaction. Each step re-reads the
// version under the write lock, so two processes opening a fresh catalog at once do
// not both run it.
void migrate(Database &db, const QString &path)
{
    for (const detail::Migration &step : detail::migrations()) {
        if (db.queryInt("PRAGMA user_version") >= step.version)
            continue;
        db.exec("BEGIN IMMEDIATE");
        try {
            if (db.queryInt("PRAGMA user_version") < step.version) {
                db.exec(step.sql);
                db.exec("PRAGMA user_version = " + std::to_string(step.version));
            }
            db.exec("COMMIT");
        } catch (...) {
            try {
                db.exec("ROLLBACK");
            } catch (...) {
            }
            throw;
        }
        log::info(logCategory, QStringLiteral("%1: schema migrated to version %2 (%3)")
                                   .arg(path)
                                   .arg(step.version)
                                   .arg(QString::fromUtf8(step.description)));
    }
}

} // namespace

OpenResult Catalog::open(const QString &dataDir, const OpenOptions &options)
{
    OpenResult result;
    if (dataDir.isEmpty()) {
        result.error = QStringLiteral("No data directory was given for the catalog.");
        return result;
    }
    if (!QDir().mkpath(dataDir)) {
        result.error = QStringLiteral("Cannot create the data directory %1. Check its permissions, or choose "
                                      "another one with --data-dir or UNISEARCH_DATA_DIR.")
                           .arg(QDir::toNativeSeparators(dataDir));
        return result;
    }
    const QString path = QDir(dataDir).absoluteFilePath(QString::fromLatin1(fileName));
    const QFileInfo info(path);
    if (info.exists() && !info.isFile()) {
        result.error = QStringLiteral("%1 exists but is not a file. Move it aside so that a catalog can be created.")
                           .arg(QDir::toNativeSeparators(path));
        return result;
    }
    const QString moveAside = QStringLiteral("Move it aside (Unisearch then starts a new, empty catalog) or restore "
                                             "it from a backup, or choose another data directory with --data-dir.");

    auto d = std::make_unique<Private>();
    d->path = path;
    int stage = 0;  // for the error message: 0 open, 1 inspect, 2 migrate
    std::int64_t versionBefore = 0;
    try {
        d->db = Database::open(path, true);
        d->db.setBusyTimeout(options.busyTimeoutMs);

        // Reading the header is the first thing that touches the file: a garbage file
        // fails here with "file is not a database", before we change anything.
        stage = 1;
        const std::int64_t appId = d->db.queryInt("PRAGMA application_id");
        const std::int64_t version = d->db.queryInt("PRAGMA user_version");
        versionBefore = version;
        const std::int64_t objects = d->db.queryInt("SELECT count(*) FROM sqlite_schema");
        if ((appId != 0 && appId != detail::applicationId) || (appId == 0 && version == 0 && objects > 0)) {
            result.error = QStringLiteral("%1 is an SQLite database, but not a Unisearch catalog. %2")
                               .arg(QDir::toNativeSeparators(path), moveAside);
            return result;
        }
        // No Unisearch writes a negative version (the field is a signed 32-bit integer):
        // the file is damaged or was changed by another program. Nothing is changed (not
        // even the journal mode) before this is known.
        if (version < 0) {
            result.error = QStringLiteral("The catalog %1 has schema version %2, which no Unisearch writes: the file "
                                          "is damaged or was changed by another program. It was left as it was. %3")
                               .arg(QDir::toNativeSeparators(path))
                               .arg(version)
                               .arg(moveAside);
            return result;
        }
        if (version > latestSchemaVersion()) {
            result.error = QStringLiteral("The catalog %1 has schema version %2, but this Unisearch (%3) knows "
                                          "versions up to %4: it was written by a newer Unisearch. Update "
                                          "Unisearch, or choose another data directory with --data-dir.")
                               .arg(QDir::toNativeSeparators(path))
                               .arg(version)
                               .arg(QStringLiteral(UNISEARCH_VERSION))
                               .arg(latestSchemaVersion());
            return result;
        }

        // journal_mode and foreign_keys cannot change inside a transaction: set them
        // before migrating. foreign_keys is per connection, so every open sets it.
        const QString mode = d->db.queryText("PRAGMA journal_mode = WAL");
        if (mode.compare(QLatin1String("wal"), Qt::CaseInsensitive) != 0)
            log::warning(logCategory, QStringLiteral("%1: WAL journaling unavailable (journal_mode is %2); "
                                                     "concurrent readers will wait for writers")
                                          .arg(path, mode));
        d->db.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;");

        stage = 2;
        migrate(d->db, path);
    } catch (const SqliteError &e) {
        const QString what = QString::fromUtf8(e.what());
        if (stage <= 1 && isNotADatabase(e)) {
            result.error = QStringLiteral("%1 is not a valid catalog (%2). %3")
                               .arg(QDir::toNativeSeparators(path), what, moveAside);
        } else if (stage == 2 && !isEnvironmentError(e)) {
            // The step's SQL itself failed ("table models already exists"): the tables do
            // not match the version the file claims.
            result.error = QStringLiteral("Could not upgrade the catalog %1 from schema version %2 to %3: %4. Its "
                                          "tables do not match its version, so the file is damaged or was changed by "
                                          "another program. It was left as it was. %5")
                               .arg(QDir::toNativeSeparators(path))
                               .arg(versionBefore)
                               .arg(latestSchemaVersion())
                               .arg(what, moveAside);
        } else if (stage == 2) {
            result.error = QStringLiteral("Could not upgrade the catalog %1 to schema version %2: %3. "
                                          "The file was left as it was; free disk space or fix permissions "
                                          "and try again.")
                               .arg(QDir::toNativeSeparators(path))
                               .arg(latestSchemaVersion())
                               .arg(what);
        } else {
            result.error = QStringLiteral("Cannot open the catalog %1: %2. Check that the data directory is "
                                          "writable, or choose another one with --data-dir.")
                               .arg(QDir::toNativeSeparators(path), what);
        }
        return result;
    } catch (const std::exception &e) {
        result.error = QStringLiteral("Cannot open the catalog %1: %2")
                           .arg(QDir::toNativeSeparators(path), QString::fromUtf8(e.what()));
        return result;
    }
    result.catalog.reset(new Catalog(std::move(d)));
    return result;
}

QString Catalog::filePath() const
{
    return d->path;
}

int Catalog::schemaVersion() const
{
    return static_cast<int>(d->db.queryInt("PRAGMA user_version"));
}

QString Catalog::pragma(const QString &name) const
{
    // Only plain names: this must never become a way to run arbitrary SQL or to set one.
    static const QStringList allowed{QStringLiteral("journal_mode"), QStringLiteral("foreign_keys"),
                                     QStringLiteral("synchronous"),  QStringLiteral("busy_timeout"),
                                     QStringLiteral("user_version"), QStringLiteral("application_id"),
                                     QStringLiteral("page_size"),    QStringLiteral("page_count")};
    if (!allowed.contains(name))
        return {};
    return d->db.queryText("PRAGMA " + name.toStdString());
}

Counts Catalog::counts() const
{
    Statement s = d->db.prepare(
        "SELECT (SELECT count(*) FROM roots),"
        " (SELECT count(*) FROM items),"
        " (SELECT count(*) FROM items WHERE type = 'image'),"
        " (SELECT count(*) FROM items WHERE type = 'video'),"
        " (SELECT count(*) FROM segments),"
        " (SELECT count(*) FROM vectors),"
        " (SELECT count(*) FROM errors),"
        " (SELECT count(*) FROM models),"
        " (SELECT count(*) FROM adapter_packs),"
        " (SELECT count(*) FROM labels),"
        " (SELECT count(*) FROM jobs)");
    Counts c;
    if (s.step()) {
        c.roots = s.int64(0);
        c.items = s.int64(1);
        c.images = s.int64(2);
        c.videos = s.int64(3);
        c.segments = s.int64(4);
        c.vectors = s.int64(5);
        c.errors = s.int64(6);
        c.models = s.int64(7);
        c.adapterPacks = s.int64(8);
        c.labels = s.int64(9);
        c.jobs = s.int64(10);
    }
    return c;
}

void Catalog::transaction(const std::function<void()> &fn)
{
    // BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that later
    // upgrades to a writer can fail with SQLITE_BUSY despite busy_timeout.
    const bool outermost = d->transactionDepth == 0;
    const std::string savepoint = "us_sp" + std::to_string(d->transactionDepth);
    d->db.exec(outermost ? std::string("BEGIN IMMEDIATE") : "SAVEPOINT " + savepoint);
    ++d->transactionDepth;
    auto rollback = [&] {
        --d->transactionDepth;
        try {
            d->db.exec(outermost ? std::string("ROLLBACK")
                                 : "ROLLBACK TO " + savepoint + "; RELEASE " + savepoint);
        } catch (...) {
        }
    };
    try {
        fn();
    } catch (...) {
        rollback();
        throw;
    }
    try {
        d->db.exec(outermost ? std::string("COMMIT") : "RELEASE " + savepoint);
        --d->transactionDepth;
    } catch (...) {
        rollback();
        throw;
    }
}

// --- meta --------------------------------------------------------------------

std::optional<QString> Catalog::meta(const QString &key) const
{
    Statement s = d->db.prepare("SELECT value FROM meta WHERE key = ?", key);
    if (!s.step())
        return std::nullopt;
    return s.text(0);
}

void Catalog::setMeta(const QString &key, const QString &value)
{
    d->db.prepare("INSERT INTO meta(key, value) VALUES (?, ?)"
                  " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                  key, value)
        .run();
}

std::int64_t Catalog::faissGeneration(const QString &fingerprint) const
{
    return meta(QStringLiteral("faiss_generation/") + fingerprint).value_or(QStringLiteral("0")).toLongLong();
}

void Catalog::setFaissGeneration(const QString &fingerprint, std::int64_t generation)
{
    setMeta(QStringLiteral("faiss_generation/") + fingerprint, QString::number(generation));
}

// --- roots -------------------------------------------------------------------

std::int64_t Catalog::addRoot(const QString &path)
{
    const QString clean = cleanPath(path);
    d->db.prepare("INSERT INTO roots(path, added_at) VALUES (?, ?) ON CONFLICT(path) DO NOTHING", clean, nowMs())
        .run();
    return d->db.queryInt("SELECT id FROM roots WHERE path = ?", clean);
}

QList<Root> Catalog::roots() const
{
    Statement s = d->db.prepare("SELECT id, path, added_at, last_scan_at FROM roots ORDER BY path");
    QList<Root> roots;
    while (s.step())
        roots.append(Root{s.int64(0), s.text(1), fromMs(s.int64(2)), fromMs(s.optionalInt64(3))});
    return roots;
}

bool Catalog::removeRoot(std::int64_t id)
{
    d->db.prepare("DELETE FROM roots WHERE id = ?", id).run();
    return d->db.changes() > 0;
}

void Catalog::setRootScanned(std::int64_t id, const QDateTime &when)
{
    d->db.prepare("UPDATE roots SET last_scan_at = ? WHERE id = ?", toMs(when), id).run();
}

// --- items -------------------------------------------------------------------

std::int64_t Catalog::upsertItem(const Item &item)
{
    const std::int64_t now = nowMs();
    const QString path = cleanPath(item.path);
    Statement s = d->db.prepare(
        "INSERT INTO items(root_id, path, type, size, mtime_ms, content_hash, width, height, duration_s,"
        "                  status, error, added_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(path) DO UPDATE SET root_id = excluded.root_id, type = excluded.type,"
        "  size = excluded.size, mtime_ms = excluded.mtime_ms, content_hash = excluded.content_hash,"
        "  width = excluded.width, height = excluded.height, duration_s = excluded.duration_s,"
        "  status = excluded.status, error = excluded.error, updated_at = excluded.updated_at"
        " RETURNING id",
        item.rootId, path, toString(item.type), item.size, item.mtimeMs,
        item.contentHash.isEmpty() ? std::optional<QString>() : item.contentHash, item.width, item.height,
        item.durationS, toString(item.status), item.error.isEmpty() ? std::optional<QString>() : item.error, now,
        now);
    if (!s.step())
        throw CatalogError("upsertItem returned no id");
    const std::int64_t id = s.int64(0);
    s.run();
    return id;
}

std::optional<Item> Catalog::item(std::int64_t id) const
{
    Statement s = d->db.prepare(std::string("SELECT ") + itemColumns + " FROM items WHERE id = ?", id);
    if (!s.step())
        return std::nullopt;
    return readItem(s);
}

std::optional<Item> Catalog::itemByPath(const QString &path) const
{
    Statement s = d->db.prepare(std::string("SELECT ") + itemColumns + " FROM items WHERE path = ?", cleanPath(path));
    if (!s.step())
        return std::nullopt;
    return readItem(s);
}

QList<Item> Catalog::itemsByContentHash(const QString &hash) const
{
    if (hash.isEmpty())
        return {};
    Statement s = d->db.prepare(std::string("SELECT ") + itemColumns + " FROM items WHERE content_hash = ? ORDER BY id",
                                hash);
    return readItems(s);
}

QList<Item> Catalog::itemsInRoot(std::int64_t rootId) const
{
    Statement s = d->db.prepare(std::string("SELECT ") + itemColumns + " FROM items WHERE root_id = ? ORDER BY path",
                                rootId);
    return readItems(s);
}

void Catalog::moveItem(std::int64_t id, const QString &newPath, std::optional<std::int64_t> rootId)
{
    d->db.prepare("UPDATE items SET path = ?, root_id = ?, updated_at = ? WHERE id = ?", cleanPath(newPath), rootId,
                  nowMs(), id)
        .run();
    if (d->db.changes() == 0)
        throw CatalogError("moveItem: no item with id " + std::to_string(id));
}

void Catalog::setItemStatus(std::int64_t id, ItemStatus status, const QString &error)
{
    d->db.prepare("UPDATE items SET status = ?, error = ?, updated_at = ? WHERE id = ?", toString(status),
                  error.isEmpty() ? std::optional<QString>() : error, nowMs(), id)
        .run();
}

bool Catalog::removeItem(std::int64_t id)
{
    d->db.prepare("DELETE FROM items WHERE id = ?", id).run();
    return d->db.changes() > 0;
}

// --- segments and vectors ----------------------------------------------------

std::int64_t Catalog::addSegment(std::int64_t itemId, std::int64_t startMs, std::int64_t endMs)
{
    d->db.prepare("INSERT INTO segments(item_id, start_ms, end_ms) VALUES (?, ?, ?)"
                  " ON CONFLICT(item_id, start_ms, end_ms) DO NOTHING",
                  itemId, startMs, endMs)
        .run();
    return d->db.queryInt("SELECT id FROM segments WHERE item_id = ? AND start_ms = ? AND end_ms = ?", itemId,
                          startMs, endMs);
}

QList<Segment> Catalog::segments(std::int64_t itemId) const
{
    Statement s = d->db.prepare(
        "SELECT id, item_id, start_ms, end_ms FROM segments WHERE item_id = ? ORDER BY start_ms, end_ms", itemId);
    QList<Segment> out;
    while (s.step())
        out.append(Segment{s.int64(0), s.int64(1), s.int64(2), s.int64(3)});
    return out;
}

void Catalog::putVector(std::int64_t segmentId, const QString &modelFingerprint, std::span<const float> vector)
{
    if (vector.empty())
        throw CatalogError("putVector: empty vector");
    if (modelFingerprint.isEmpty())
        throw CatalogError("putVector: empty model fingerprint");
    d->db.prepare("INSERT INTO vectors(segment_id, model, data, created_at) VALUES (?, ?, ?, ?)"
                  " ON CONFLICT(segment_id, model) DO UPDATE SET data = excluded.data,"
                  " created_at = excluded.created_at",
                  segmentId, modelFingerprint, toFloat16Blob(vector), nowMs())
        .run();
}

std::int64_t Catalog::addSegmentWithVector(std::int64_t itemId, std::int64_t startMs, std::int64_t endMs,
                                           const QString &modelFingerprint, std::span<const float> vector)
{
    std::int64_t id = 0;
    transaction([&] {
        id = addSegment(itemId, startMs, endMs);
        putVector(id, modelFingerprint, vector);
    });
    return id;
}

std::optional<std::vector<float>> Catalog::vector(std::int64_t segmentId, const QString &modelFingerprint) const
{
    Statement s = d->db.prepare("SELECT data FROM vectors WHERE segment_id = ? AND model = ?", segmentId,
                                modelFingerprint);
    if (!s.step())
        return std::nullopt;
    const QByteArray blob = s.blob(0);
    return fromFloat16Blob(blob.constData(), blob.size());
}

std::int64_t Catalog::forEachVector(const QString &modelFingerprint,
                                    const std::function<void(std::int64_t, std::span<const float>)> &fn) const
{
    Statement s = d->db.prepare("SELECT segment_id, data FROM vectors WHERE model = ? ORDER BY segment_id",
                                modelFingerprint);
    std::int64_t n = 0;
    while (s.step()) {
        const QByteArray blob = s.blob(1);
        const std::vector<float> v = fromFloat16Blob(blob.constData(), blob.size());
        fn(s.int64(0), v);
        ++n;
    }
    return n;
}

std::int64_t Catalog::removeVectors(const QString &modelFingerprint)
{
    d->db.prepare("DELETE FROM vectors WHERE model = ?", modelFingerprint).run();
    return d->db.changes();
}

QStringList Catalog::vectorModels(std::int64_t segmentId) const
{
    Statement s = d->db.prepare("SELECT model FROM vectors WHERE segment_id = ? ORDER BY model", segmentId);
    QStringList out;
    while (s.step())
        out.append(s.text(0));
    return out;
}

QStringList Catalog::removeOtherVectors(std::int64_t segmentId, const QString &keepModel)
{
    QStringList removed = vectorModels(segmentId);
    removed.removeAll(keepModel);
    if (!removed.isEmpty())
        d->db.prepare("DELETE FROM vectors WHERE segment_id = ? AND model <> ?", segmentId, keepModel).run();
    return removed;
}

std::int64_t Catalog::removeSegmentsWithoutVectors()
{
    d->db.prepare("DELETE FROM segments WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.segment_id = segments.id)"
                  " AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.segment_id = segments.id)")
        .run();
    return d->db.changes();
}

// --- errors ------------------------------------------------------------------

std::int64_t Catalog::addError(const ErrorEntry &error)
{
    const std::int64_t at = toMs(error.at).value_or(nowMs());
    d->db.prepare("INSERT INTO errors(item_id, job_id, path, stage, message, at) VALUES (?, ?, ?, ?, ?, ?)",
                  error.itemId, error.jobId, error.path, error.stage, error.message, at)
        .run();
    return d->db.lastInsertRowId();
}

QList<ErrorEntry> Catalog::errors(int limit) const
{
    Statement s = d->db.prepare(
        "SELECT id, item_id, job_id, path, stage, message, at FROM errors ORDER BY at DESC, id DESC LIMIT ?", limit);
    QList<ErrorEntry> out;
    while (s.step())
        out.append(ErrorEntry{s.int64(0), s.optionalInt64(1), s.optionalInt64(2), s.text(3), s.text(4), s.text(5),
                              fromMs(s.int64(6))});
    return out;
}

void Catalog::clearErrors(std::int64_t itemId)
{
    d->db.prepare("DELETE FROM errors WHERE item_id = ?", itemId).run();
}

// --- labels ------------------------------------------------------------------

std::int64_t Catalog::addLabel(const Label &label)
{
    std::int64_t id = 0;
    transaction([&] {
        Statement s = d->db.prepare("SELECT id FROM labels WHERE item_id = ? AND kind = ? AND text = ?"
                                    " AND COALESCE(answer, '') = ?",
                                    label.itemId, label.kind, label.text, label.answer);
        if (s.step()) {
            id = s.int64(0);
            return;
        }
        const std::int64_t at = toMs(label.createdAt).value_or(nowMs());
        d->db.prepare("INSERT INTO labels(item_id, kind, text, answer, created_at) VALUES (?, ?, ?, ?, ?)",
                      label.itemId, label.kind, label.text,
                      label.answer.isEmpty() ? std::optional<QString>() : std::optional<QString>(label.answer), at)
            .run();
        id = d->db.lastInsertRowId();
    });
    return id;
}

QList<Label> Catalog::labels(const QString &kind) const
{
    Statement s = d->db.prepare("SELECT id, item_id, kind, text, COALESCE(answer, ''), created_at FROM labels"
                                " WHERE ? = '' OR kind = ? ORDER BY item_id, id",
                                kind, kind);
    QList<Label> out;
    while (s.step())
        out.append(Label{s.int64(0), s.int64(1), s.text(2), s.text(3), s.text(4), fromMs(s.int64(5))});
    return out;
}

// --- models ------------------------------------------------------------------

std::int64_t Catalog::upsertModel(const ModelRecord &model)
{
    std::int64_t id = 0;
    transaction([&] {
        // At most one active model per task (a unique partial index enforces it).
        if (model.active)
            d->db.prepare("UPDATE models SET active = 0 WHERE task = ? AND name <> ?", model.task, model.name).run();
        Statement s = d->db.prepare(
            "INSERT INTO models(name, fingerprint, task, architecture, path, active, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET fingerprint = excluded.fingerprint, task = excluded.task,"
            "  architecture = excluded.architecture, path = excluded.path, active = excluded.active,"
            "  imported_at = excluded.imported_at"
            " RETURNING id",
            model.name, model.fingerprint, model.task,
            model.architectureJson.isEmpty() ? QStringLiteral("{}") : model.architectureJson, model.path,
            model.active, toMs(model.importedAt).value_or(nowMs()));
        if (!s.step())
            throw CatalogError("upsertModel returned no id");
        id = s.int64(0);
        s.run();
    });
    return id;
}

QList<ModelRecord> Catalog::models() const
{
    Statement s = d->db.prepare(std::string("SELECT ") + modelColumns + " FROM models ORDER BY name");
    QList<ModelRecord> out;
    while (s.step())
        out.append(readModel(s));
    return out;
}

std::optional<ModelRecord> Catalog::activeModel(const QString &task) const
{
    Statement s =
        d->db.prepare(std::string("SELECT ") + modelColumns + " FROM models WHERE task = ? AND active = 1", task);
    if (!s.step())
        return std::nullopt;
    return readModel(s);
}

bool Catalog::setActiveModel(const QString &name)
{
    bool found = false;
    transaction([&] {
        Statement s = d->db.prepare("SELECT task FROM models WHERE name = ?", name);
        if (!s.step())
            return;
        const QString task = s.text(0);
        found = true;
        d->db.prepare("UPDATE models SET active = 0 WHERE task = ?", task).run();
        d->db.prepare("UPDATE models SET active = 1 WHERE name = ?", name).run();
    });
    return found;
}

// --- jobs --------------------------------------------------------------------

std::int64_t Catalog::createJob(const QString &kind, const QString &paramsJson)
{
    const std::int64_t now = nowMs();
    d->db.prepare("INSERT INTO jobs(kind, state, params, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
                  kind, paramsJson.isEmpty() ? QStringLiteral("{}") : paramsJson, now, now)
        .run();
    return d->db.lastInsertRowId();
}

void Catalog::updateJob(std::int64_t id, JobState state, double progress, const QString &error)
{
    const std::int64_t now = nowMs();
    const bool finished = state == JobState::Done || state == JobState::Failed || state == JobState::Cancelled;
    d->db.prepare("UPDATE jobs SET state = ?, progress = ?, error = ?, updated_at = ?,"
                  " started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END,"
                  " finished_at = CASE WHEN ? THEN ? ELSE NULL END"
                  " WHERE id = ?",
                  toString(state), progress, error.isEmpty() ? std::optional<QString>() : error, now,
                  state == JobState::Running, now, finished, now, id)
        .run();
}

std::optional<Job> Catalog::job(std::int64_t id) const
{
    Statement s = d->db.prepare(std::string("SELECT ") + jobColumns + " FROM jobs WHERE id = ?", id);
    if (!s.step())
        return std::nullopt;
    return readJob(s);
}

QList<Job> Catalog::unfinishedJobs() const
{
    Statement s = d->db.prepare(std::string("SELECT ") + jobColumns +
                                " FROM jobs WHERE state IN ('queued', 'running', 'paused') ORDER BY id");
    QList<Job> out;
    while (s.step())
        out.append(readJob(s));
    return out;
}

} // namespace unisearch::catalog
