#pragma once
// Scanning the library roots, and telling what changed since the catalog last looked.
//
// scan() walks the roots and lists the media files it finds, classified by content
// (mediatype.h). It never throws and never stops at a bad directory: unreadable
// directories and missing roots are reported in ScanResult::errors and the walk goes on.
// Symbolic links are followed (optionally); every directory and every file is visited
// once, by device and inode, so a link to a parent cannot loop and a file reachable
// through two links is listed once. Paths are canonical (symlinks resolved) and may carry
// escaped bytes when a name is not valid UTF-8 (filepath.h: open them with
// openForReading, pass encodeFileName(path) to C libraries).
//
// detectChanges() compares that listing with what the catalog knows and sorts every file
// into new / modified / touched / unchanged / deleted / moved, hashing only the files it
// must (contenthash.h). Both are plain functions over values so that the indexing job,
// the CLI and the tests can use them alike; both run on the calling thread.
#include "media/mediatype.h"

#include <QList>
#include <QRegularExpression>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace unisearch::media {

struct ScanOptions {
    // Wildcards ("*.tmp", "node_modules", ".thumbnails", "Thumbs.db") matched, ignoring
    // case, against each file and directory name below the roots; a matching directory is
    // not entered. The roots themselves are always scanned.
    QStringList ignorePatterns;
    bool skipHidden = true;       // names starting with '.' (roots excepted)
    bool followSymlinks = true;   // links to files and directories (each target listed once)
    qint64 minFileSize = 0;       // bytes; smaller files are left out (0 keeps empty files,
                                  // which then get an error from the decoder)
    bool detectByContent = true;  // false: classify by extension only (no file is opened)
    // By default a file is listed when its content is an image or video, or its name
    // claims so (a text file named .jpg is listed, with kind Other, so the indexer can
    // record why it was not indexed). true lists every regular file.
    bool includeOther = false;
    // Optional: the type of a file seen before with this path, size and mtime (from the
    // catalog), so that a rescan opens no unchanged file. Return std::nullopt to detect.
    std::function<std::optional<MediaType>(const QString &path, qint64 size, qint64 mtimeMs)> knownType;
};

struct ScannedFile {
    QString path;       // absolute, canonical
    qint64 size = 0;    // bytes
    qint64 mtimeMs = 0; // modification time, ms since the epoch (as the catalog stores it)
    MediaKind kind = MediaKind::Other;      // by content
    MediaKind nameKind = MediaKind::Other;  // by extension
    QString mimeType;
    QString contentHash;  // empty after scan(); filled by detectChanges() where it hashed
};

struct ScanError {
    QString path;
    QString reason;  // for a person: "permission denied", "does not exist", ...
};

struct ScanProgress {
    qint64 directories = 0;  // visited so far
    qint64 files = 0;        // listed so far
    QString currentDirectory;
};
// Called after each directory and every few hundred files; return false to cancel.
using ScanCallback = std::function<bool(const ScanProgress &)>;

struct ScanResult {
    QList<ScannedFile> files;   // in walk order: per directory, files by name, then subdirectories
    QList<ScanError> errors;    // unreadable directories, missing roots
    QStringList directories;    // every directory visited (canonical), e.g. for a watcher
    bool cancelled = false;     // the callback asked to stop: the lists are incomplete
};

ScanResult scan(const QStringList &roots, const ScanOptions &options = {}, const ScanCallback &progress = {});

// The directories scan() would visit, without looking at files (cheap; for the watcher).
ScanResult scanDirectories(const QStringList &roots, const ScanOptions &options = {});

// Whether scan() leaves out an entry of this name (hidden, or matching an ignore
// pattern). Compiles the patterns once; cheap to ask per name.
class NameFilter
{
public:
    explicit NameFilter(const ScanOptions &options);
    bool isIgnored(const QString &name) const;

private:
    bool m_skipHidden = true;
    QList<QRegularExpression> m_patterns;
};

// True when path is dir or lies below it (both absolute, clean).
bool isPathUnder(const QString &path, const QString &dir);

// --- Change detection --------------------------------------------------------------

// A file as the catalog last saw it.
struct KnownFile {
    qint64 id = 0;        // the caller's key (catalog item id), carried through untouched
    QString path;
    qint64 size = 0;
    qint64 mtimeMs = 0;
    QString contentHash;  // empty when never hashed: such a file cannot be recognised after a move
};

struct FileUpdate {
    KnownFile before;
    ScannedFile after;  // after.contentHash is set when it could be computed
};

struct ChangeSet {
    QList<ScannedFile> added;       // new paths, not a moved file
    QList<FileUpdate> modified;     // same path, content changed (or unverifiable): re-embed
    QList<FileUpdate> touched;      // same path, new mtime, same size and hash: update the row only
    QList<KnownFile> unchanged;     // same path, size and mtime
    QList<KnownFile> deleted;       // gone, and no new file has its content
    QList<FileUpdate> moved;        // before.path gone, after.path new, same size and hash: keep vectors
    QList<KnownFile> unreachable;   // under a directory or root the scan could not read:
                                    // state unknown, keep as is (a drive may be unmounted)
    QList<ScanError> errors;        // files that could not be hashed (they stay in added/modified)
    bool cancelled = false;         // the callback asked to stop: the lists are incomplete
};

struct HashProgress {
    qint64 done = 0;
    qint64 total = 0;
    QString path;  // the file about to be hashed
};

struct ChangeOptions {
    // Hashes a file; defaults to contentHash(). Tests count calls through it.
    std::function<QString(const QString &path, QString *error)> hash;
    // Hash every new and modified file so the catalog has a hash for later moves. false:
    // hash only what detection needs (new files whose size equals a deleted file's, and
    // same-size files whose mtime changed), leaving the rest for the indexing job to hash
    // in its worker threads.
    bool hashNewAndModified = true;
    std::function<bool(const HashProgress &)> progress;  // return false to cancel
};

// known: the catalog's files under the scanned roots (only those: a known file outside
// the scan's reach would be reported deleted). scanned: the scan of those roots; its
// errors mark unreachable directories.
ChangeSet detectChanges(const QList<KnownFile> &known, const ScanResult &scanned, const ChangeOptions &options = {});

} // namespace unisearch::media
