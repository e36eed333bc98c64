#pragma once
// Where Unisearch keeps its files.
//   data dir:  --data-dir DIR, else $UNISEARCH_DATA_DIR, else the platform's app data
//              location (~/.local/share/unisearch): catalog.sqlite, vectors/, models/,
//              adapters/, unisearch.log.
//   cache dir: $UNISEARCH_CACHE_DIR, else <data dir>/cache when the data dir was
//              overridden (a throw-away data dir keeps its thumbnails with it), else the
//              platform's cache location (~/.cache/unisearch): thumbnails.
#include <QString>

namespace unisearch {

// The name QStandardPaths and QSettings build paths from.
inline constexpr const char *applicationName = "unisearch";

// Sets the application name and version (so paths are ~/.local/share/unisearch, ...).
// Call once, right after constructing the Q*Application.
void initApplicationIdentity();

struct Locations {
    QString dataDir;   // absolute
    QString cacheDir;  // absolute
    enum class Source { Option, Environment, Default } source = Source::Default;
};

// Resolves the locations without touching the disk. dataDirOverride is --data-dir.
Locations resolveLocations(const QString &dataDirOverride = {});
QString sourceName(Locations::Source source);  // "--data-dir", "UNISEARCH_DATA_DIR", "default"

// Creates path (with its parents) and checks that it is a writable directory.
// Returns an empty string on success, else a message a person can act on.
QString ensureWritableDir(const QString &path);

} // namespace unisearch
