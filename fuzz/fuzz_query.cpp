// libFuzzer target: what a person types into the search field. The combined-query parser
// (engine/query.h: terms, weights, quotes, file and item terms) and the keyword expression
// that reaches SQLite FTS5 (engine/keywordsearch.h). Beyond "no crash": a parse error is a
// short message, a parsed query has no empty text term and finite weights, and the FTS5
// expression is always valid FTS5 syntax (checked by running it against an in-memory FTS5
// table), so no query can turn into FTS5 operators or an SQL error. Two files exist in the
// scratch dir so that file terms get past the existence check.
#include "fuzzcheck.h"
#include "fuzzsupport.h"
#include "qtapp.h"

#include "engine/keywordsearch.h"
#include "engine/query.h"

#include <sqlite3.h>

#include <cmath>
#include <fstream>
#include <string>

namespace engine = unisearch::engine;

namespace {

sqlite3 *ftsDatabase()
{
    static sqlite3 *db = [] {
        sqlite3 *d = nullptr;
        if (sqlite3_open(":memory:", &d) != SQLITE_OK
            || sqlite3_exec(d, "CREATE VIRTUAL TABLE t USING fts5(name, body); "
                               "INSERT INTO t VALUES ('invoice 4471.png', 'INVOICE 4471 total');",
                            nullptr, nullptr, nullptr) != SQLITE_OK)
            unisearch::fuzz::fail("cannot make the FTS5 table", sqlite3_errmsg(d));
        return d;
    }();
    return db;
}

void checkFtsExpression(const QString &text)
{
    const QString expr = engine::ftsExpression(text);
    if (expr.isEmpty())
        return;
    sqlite3 *db = ftsDatabase();
    sqlite3_stmt *stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ?1", -1, &stmt, nullptr) != SQLITE_OK)
        unisearch::fuzz::fail("prepare", sqlite3_errmsg(db));
    const QByteArray utf8 = expr.toUtf8();
    sqlite3_bind_text(stmt, 1, utf8.constData(), int(utf8.size()), SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        unisearch::fuzz::fail("the FTS5 expression is not valid FTS5", utf8.toStdString());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    unisearch::fuzz::ensureCoreApplication();
    for (const char *name : {"beach.jpg", "a b.jpg"})
        std::ofstream(unisearch::fuzz::scratchDir() / name) << "x";
    (void)ftsDatabase();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QString text = QString::fromUtf8(reinterpret_cast<const char *>(data), qsizetype(size));
    const QString baseDir = QString::fromStdString(unisearch::fuzz::scratchDir().string());
    QString error;
    const std::optional<engine::ParsedQuery> parsed = engine::parseQuery(text, baseDir, &error);
    if (!parsed) {
        unisearch::fuzz::checkMessage(error.toStdString());
    } else {
        for (const engine::QueryTerm &t : parsed->terms) {
            if (!std::isfinite(t.weight))
                unisearch::fuzz::fail("a term with a weight that is not finite", text.toStdString());
            if (t.kind == engine::QueryTerm::Kind::Text && t.text.trimmed().isEmpty())
                unisearch::fuzz::fail("an empty text term", text.toStdString());
            if (t.kind == engine::QueryTerm::Kind::File && t.path.isEmpty())
                unisearch::fuzz::fail("a file term without a path", text.toStdString());
        }
        checkFtsExpression(parsed->keywordText());
    }
    checkFtsExpression(text);
    return 0;
}
