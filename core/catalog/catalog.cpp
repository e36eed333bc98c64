#include "catalog/catalog.h"

#include "catalog/catalog_p.h"
#include "catalog/database_p.h"
#include "catalog/migrations_p.h"
#include "util/log.h"

#include <QDir>
#include <QFileInfo>

#include <sqlite3.h>

// Catalog's opening, schema migration, transactions and metadata; the tables' methods are
// in items.cpp (roots, items), vectors.cpp (segments, vectors), models.cpp (models,
// labels) and jobs.cpp (jobs, per-file errors).

namespace unisearch::catalog {

using detail::Database;
using detail::SqliteError;
using detail::Statement;

namespace {

const QString logCategory = QStringLiteral("catalog");

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

} // namespace unisearch::catalog
