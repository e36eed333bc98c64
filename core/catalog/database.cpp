#include "catalog/database_p.h"

#include <sqlite3.h>

#include <system_error>

namespace unisearch::catalog::detail {

namespace {

std::string shortSql(std::string_view sql)
{
    std::string s(sql.substr(0, 80));
    for (char &c : s)
        if (c == '\n' || c == '\t')
            c = ' ';
    return sql.size() > 80 ? s + "..." : s;
}

// SQLite's message for rc (an extended code), and what SQLite's own words leave out that a
// person needs to act: the OS error behind an I/O failure where SQLite kept it, that a
// failed write is most often a full disk ("disk I/O error" alone says neither; SQLite
// reports only ENOSPC as "disk is full", not a file size limit or a quota), and why the
// catalog was busy.
std::string describe(sqlite3 *db, int rc)
{
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    const int primary = rc & 0xff;
    const int e = db && (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) ? sqlite3_system_errno(db) : 0;
    if (e != 0)
        msg += " (" + std::system_category().message(e) + ")";
    else if (rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_TRUNCATE || rc == SQLITE_IOERR_FSYNC
             || rc == SQLITE_IOERR_SHMSIZE)
        msg += " (writing failed: the disk may be full, or a file size limit or quota reached)";
    if (primary == SQLITE_BUSY)
        msg += " (another program held the catalog's write lock longer than Unisearch waits; try again when it "
               "has finished)";
    return msg;
}

} // namespace

// --- Statement ---------------------------------------------------------------

Statement::Statement(sqlite3 *db, std::string_view sql)
    : m_db(db)
{
    const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &m_stmt, nullptr);
    if (rc != SQLITE_OK) {
        const std::string msg = describe(db, rc) + " (in: " + shortSql(sql) + ")";
        sqlite3_finalize(m_stmt);
        m_stmt = nullptr;
        throw SqliteError(sqlite3_extended_errcode(db), msg);
    }
}

Statement::~Statement()
{
    sqlite3_finalize(m_stmt);
}

Statement::Statement(Statement &&other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_stmt(std::exchange(other.m_stmt, nullptr))
{
}

Statement &Statement::operator=(Statement &&other) noexcept
{
    if (this != &other) {
        sqlite3_finalize(m_stmt);
        m_db = std::exchange(other.m_db, nullptr);
        m_stmt = std::exchange(other.m_stmt, nullptr);
    }
    return *this;
}

std::string Statement::errorText(int rc) const
{
    const char *sql = m_stmt ? sqlite3_sql(m_stmt) : nullptr;
    std::string msg = describe(m_db, rc);
    if (sql)
        msg += " (in: " + shortSql(sql) + ")";
    return msg;
}

#define US_CHECK_BIND(expr)                                                                  \
    do {                                                                                     \
        const int rc_ = (expr);                                                              \
        if (rc_ != SQLITE_OK)                                                                \
            throw SqliteError(rc_, errorText(rc_));                                          \
    } while (0)

Statement &Statement::bind(int index, std::nullopt_t)
{
    US_CHECK_BIND(sqlite3_bind_null(m_stmt, index));
    return *this;
}

Statement &Statement::bind(int index, std::int64_t value)
{
    US_CHECK_BIND(sqlite3_bind_int64(m_stmt, index, value));
    return *this;
}

Statement &Statement::bind(int index, double value)
{
    US_CHECK_BIND(sqlite3_bind_double(m_stmt, index, value));
    return *this;
}

Statement &Statement::bind(int index, const QString &value)
{
    const QByteArray utf8 = value.toUtf8();
    US_CHECK_BIND(sqlite3_bind_text(m_stmt, index, utf8.constData(), static_cast<int>(utf8.size()),
                                    SQLITE_TRANSIENT));
    return *this;
}

Statement &Statement::bind(int index, const char *value)
{
    US_CHECK_BIND(sqlite3_bind_text(m_stmt, index, value, -1, SQLITE_TRANSIENT));
    return *this;
}

Statement &Statement::bind(int index, const QByteArray &blob)
{
    // A zero-length blob must still be a blob, not NULL: constData() is never null.
    US_CHECK_BIND(sqlite3_bind_blob(m_stmt, index, blob.constData(), static_cast<int>(blob.size()),
                                    SQLITE_TRANSIENT));
    return *this;
}

Statement &Statement::bind(int index, std::span<const std::byte> blob)
{
    static const char empty = 0;
    const void *data = blob.empty() ? static_cast<const void *>(&empty) : blob.data();
    US_CHECK_BIND(sqlite3_bind_blob(m_stmt, index, data, static_cast<int>(blob.size()), SQLITE_TRANSIENT));
    return *this;
}

#undef US_CHECK_BIND

bool Statement::step()
{
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    const std::string msg = errorText(rc);
    sqlite3_reset(m_stmt);
    throw SqliteError(sqlite3_extended_errcode(m_db), msg);
}

void Statement::run()
{
    while (step()) {
    }
}

void Statement::reset()
{
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

int Statement::columnCount() const
{
    return sqlite3_column_count(m_stmt);
}

bool Statement::isNull(int column) const
{
    return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

std::int64_t Statement::int64(int column) const
{
    return sqlite3_column_int64(m_stmt, column);
}

double Statement::real(int column) const
{
    return sqlite3_column_double(m_stmt, column);
}

QString Statement::text(int column) const
{
    const auto *p = reinterpret_cast<const char *>(sqlite3_column_text(m_stmt, column));
    const int n = sqlite3_column_bytes(m_stmt, column);
    return p ? QString::fromUtf8(p, n) : QString();
}

QByteArray Statement::blob(int column) const
{
    const auto *p = static_cast<const char *>(sqlite3_column_blob(m_stmt, column));
    const int n = sqlite3_column_bytes(m_stmt, column);
    return p ? QByteArray(p, n) : QByteArray();
}

std::optional<std::int64_t> Statement::optionalInt64(int column) const
{
    if (isNull(column))
        return std::nullopt;
    return int64(column);
}

// --- Database ----------------------------------------------------------------

Database::~Database()
{
    // close_v2 defers the close until every statement is finalized; we finalize all
    // of ours first anyway (Statement is RAII and never outlives a call).
    sqlite3_close_v2(m_db);
}

Database::Database(Database &&other) noexcept
    : m_db(std::exchange(other.m_db, nullptr))
{
}

Database &Database::operator=(Database &&other) noexcept
{
    if (this != &other) {
        sqlite3_close_v2(m_db);
        m_db = std::exchange(other.m_db, nullptr);
    }
    return *this;
}

Database Database::open(const QString &path, bool create)
{
    sqlite3 *db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (create)
        flags |= SQLITE_OPEN_CREATE;
    const QByteArray file = path.toUtf8();
    const int rc = sqlite3_open_v2(file.constData(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string msg = describe(db, rc);
        const int code = db ? sqlite3_extended_errcode(db) : rc;
        sqlite3_close_v2(db);
        throw SqliteError(code, msg);
    }
    sqlite3_extended_result_codes(db, 1);
    return Database(db);
}

void Database::exec(std::string_view sql)
{
    // sqlite3_exec needs a NUL-terminated string.
    const std::string s(sql);
    char *err = nullptr;
    const int rc = sqlite3_exec(m_db, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        if (rc == sqlite3_errcode(m_db)) // the connection's message is err's, with describe()'s additions
            msg = describe(m_db, rc);
        throw SqliteError(sqlite3_extended_errcode(m_db), msg + " (in: " + shortSql(sql) + ")");
    }
}

QString Database::queryText(std::string_view sql)
{
    Statement s = prepare(sql);
    return s.step() ? s.text(0) : QString();
}

std::int64_t Database::lastInsertRowId() const
{
    return sqlite3_last_insert_rowid(m_db);
}

int Database::changes() const
{
    return sqlite3_changes(m_db);
}

bool Database::inTransaction() const
{
    return sqlite3_get_autocommit(m_db) == 0;
}

void Database::setBusyTimeout(int ms)
{
    sqlite3_busy_timeout(m_db, ms);
}

} // namespace unisearch::catalog::detail
