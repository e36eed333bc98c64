#pragma once
// The one access layer to SQLite: a small RAII wrapper over its C API. Private to
// core/catalog (sqlite3 types never appear in a public header). Every failure throws
// CatalogError carrying SQLite's message and the statement that failed, so callers
// inside the catalog can use exceptions and transactions roll back on unwind.
#include "catalog/catalog.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

struct sqlite3;
struct sqlite3_stmt;

namespace unisearch::catalog::detail {

// An SQLite failure; code() is SQLite's (extended) result code.
class SqliteError : public CatalogError
{
public:
    SqliteError(int code, const std::string &message)
        : CatalogError(message), m_code(code) {}
    int code() const { return m_code; }

private:
    int m_code;
};

class Statement
{
public:
    Statement(sqlite3 *db, std::string_view sql);
    ~Statement();
    Statement(Statement &&other) noexcept;
    Statement &operator=(Statement &&other) noexcept;
    Statement(const Statement &) = delete;
    Statement &operator=(const Statement &) = delete;

    // Binding, 1-based like SQLite. std::nullopt / an empty optional binds NULL.
    Statement &bind(int index, std::nullopt_t);
    Statement &bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement &bind(int index, std::int64_t value);
    Statement &bind(int index, long long value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement &bind(int index, bool value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement &bind(int index, double value);
    Statement &bind(int index, const QString &value);
    Statement &bind(int index, const char *value);
    Statement &bind(int index, const QByteArray &blob);
    Statement &bind(int index, std::span<const std::byte> blob);
    template <typename T>
    Statement &bind(int index, const std::optional<T> &value)
    {
        return value ? bind(index, *value) : bind(index, std::nullopt);
    }
    template <typename... Args>
    Statement &bindAll(const Args &...args)
    {
        int i = 0;
        (bind(++i, args), ...);
        return *this;
    }

    // Advances to the next row; false when done. Throws on error.
    bool step();
    // Runs a statement that returns no rows (or ignores them).
    void run();
    void reset();

    int columnCount() const;
    bool isNull(int column) const;
    std::int64_t int64(int column) const;
    double real(int column) const;
    QString text(int column) const;
    QByteArray blob(int column) const;
    std::optional<std::int64_t> optionalInt64(int column) const;

private:
    std::string errorText(int rc) const;

    sqlite3 *m_db = nullptr;
    sqlite3_stmt *m_stmt = nullptr;
};

class Database
{
public:
    Database() = default;
    ~Database();
    Database(Database &&other) noexcept;
    Database &operator=(Database &&other) noexcept;
    Database(const Database &) = delete;
    Database &operator=(const Database &) = delete;

    // Opens (creating when allowed) the file. Note that SQLite reads the file lazily:
    // a garbage file only fails at the first statement.
    static Database open(const QString &path, bool create);

    bool isOpen() const { return m_db != nullptr; }
    // Runs one or more statements that return no rows.
    void exec(std::string_view sql);
    template <typename... Args>
    Statement prepare(std::string_view sql, const Args &...args)
    {
        Statement s(m_db, sql);
        s.bindAll(args...);
        return s;
    }
    // First column of the first row (0 when no row), for counts and pragmas.
    template <typename... Args>
    std::int64_t queryInt(std::string_view sql, const Args &...args)
    {
        Statement s = prepare(sql, args...);
        return s.step() ? s.int64(0) : 0;
    }
    QString queryText(std::string_view sql);

    std::int64_t lastInsertRowId() const;
    int changes() const;
    bool inTransaction() const;
    void setBusyTimeout(int ms);

private:
    explicit Database(sqlite3 *db) : m_db(db) {}
    sqlite3 *m_db = nullptr;
};

} // namespace unisearch::catalog::detail
