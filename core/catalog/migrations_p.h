#pragma once
// The catalog schema as an ordered list of migration steps keyed on PRAGMA user_version.
// Step N takes a catalog from version N-1 to N. A released step is never edited: a change
// to the schema is a new step appended at the end.
#include <span>

namespace unisearch::catalog::detail {

class Database;

struct Migration {
    int version;              // user_version after this step
    const char *description;  // for error messages and logs
    const char *sql;          // run inside the step's transaction
};

// "USCH": marks a file as a Unisearch catalog (PRAGMA application_id), so that we
// never migrate someone else's SQLite database that happens to sit in the data dir.
inline constexpr int applicationId = 0x55534348;

std::span<const Migration> migrations();

} // namespace unisearch::catalog::detail
