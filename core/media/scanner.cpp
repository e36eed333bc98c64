#include "media/scanner.h"

#include "media/contenthash.h"
#include "media/filepath.h"

#include <QDir>
#include <QHash>
#include <QRegularExpression>
#include <QSet>

#include <algorithm>
#include <utility>

namespace unisearch::media {

namespace {

using FileId = std::pair<quint64, quint64>;  // (device, inode)

QString joinPath(const QString &dir, const QString &name)
{
    return dir.endsWith(QLatin1Char('/')) ? dir + name : dir + QLatin1Char('/') + name;
}

QString fileNameOf(const QString &path)
{
    return path.mid(path.lastIndexOf(QLatin1Char('/')) + 1);
}

class Walker
{
public:
    Walker(const ScanOptions &options, bool collectFiles, const ScanCallback &progress, ScanResult &result)
        : m_options(options), m_collectFiles(collectFiles), m_progress(progress), m_result(result), m_filter(options)
    {
    }

    void run(const QStringList &roots)
    {
        for (const QString &root : roots) {
            const QString canonical = canonicalPath(root);
            if (canonical.isEmpty()) {
                // Absolute, so that detectChanges() can match the catalog's paths below it.
                const QString absolute = QDir::cleanPath(QDir::current().absoluteFilePath(root));
                const FileStatus status = fileStatus(absolute);
                addError(absolute, status.error.isEmpty() ? QStringLiteral("does not exist") : status.error);
                continue;
            }
            const FileStatus status = fileStatus(canonical);
            if (status.type == FileType::Directory) {
                if (markVisited(m_visitedDirs, status))
                    walkTree(canonical);
            } else if (status.type == FileType::File) {
                if (m_collectFiles)
                    addFile(canonical, status);  // a single file given as a root
            } else {
                addError(canonical, status.error.isEmpty() ? QStringLiteral("not a file or directory") : status.error);
            }
            if (m_result.cancelled)
                return;
        }
    }

private:
    static bool markVisited(QSet<FileId> &set, const FileStatus &status)
    {
        const FileId id{status.device, status.inode};
        if (set.contains(id))
            return false;
        set.insert(id);
        return true;
    }

    void addError(const QString &path, const QString &reason) { m_result.errors.append({path, reason}); }

    bool reportProgress(const QString &dir)
    {
        if (m_progress && !m_progress({m_result.directories.size(), m_result.files.size(), dir}))
            m_result.cancelled = true;
        return !m_result.cancelled;
    }

    // Depth first with an explicit stack (a deep tree cannot overflow the call stack);
    // children are pushed in reverse so they are visited in name order.
    void walkTree(const QString &top)
    {
        QStringList stack{top};
        while (!stack.isEmpty()) {
            const QString dir = stack.takeLast();
            m_result.directories.append(dir);
            DirectoryListing listing = listDirectory(dir);
            if (!listing.error.isEmpty())
                addError(dir, listing.error);
            std::sort(listing.names.begin(), listing.names.end());
            QStringList subdirs;
            for (const QString &name : std::as_const(listing.names)) {
                if (m_filter.isIgnored(name))
                    continue;
                QString path = joinPath(dir, name);
                const FileStatus status = fileStatus(path);
                if (status.isSymlink) {
                    if (!m_options.followSymlinks || status.type == FileType::Missing)
                        continue;  // not followed, or dangling: nothing to index
                    path = canonicalPath(path);  // keep every path canonical
                    if (path.isEmpty())
                        continue;
                }
                if (status.type == FileType::Directory) {
                    if (markVisited(m_visitedDirs, status))
                        subdirs.append(path);
                } else if (status.type == FileType::File) {
                    if (m_collectFiles) {
                        addFile(path, status);
                        if (++m_examined % 500 == 0 && !reportProgress(dir))
                            return;
                    }
                } else if (!status.error.isEmpty()) {
                    addError(path, status.error);
                }
                // FIFOs, sockets and devices are skipped: reading one could block or never end.
            }
            if (!reportProgress(dir))
                return;
            for (auto it = subdirs.crbegin(); it != subdirs.crend(); ++it)
                stack.append(*it);
        }
    }

    void addFile(const QString &path, const FileStatus &status)
    {
        if (!markVisited(m_seenFiles, status) || status.size < m_options.minFileSize)
            return;
        std::optional<MediaType> known;
        if (m_options.knownType)
            known = m_options.knownType(path, status.size, status.mtimeMs);
        const MediaType type = known                        ? *known
                               : m_options.detectByContent ? detectMediaType(path)
                                                           : mediaTypeFromFileName(path);
        if (!m_options.includeOther && type.kind == MediaKind::Other && type.nameKind == MediaKind::Other)
            return;
        ScannedFile file;
        file.path = path;
        file.size = status.size;
        file.mtimeMs = status.mtimeMs;
        file.kind = type.kind;
        file.nameKind = type.nameKind;
        file.mimeType = type.mimeType;
        m_result.files.append(std::move(file));
    }

    const ScanOptions &m_options;
    const bool m_collectFiles;
    const ScanCallback &m_progress;
    ScanResult &m_result;
    const NameFilter m_filter;
    qint64 m_examined = 0;  // regular files looked at (listed or not)
    QSet<FileId> m_visitedDirs;
    QSet<FileId> m_seenFiles;
};

} // namespace

ScanResult scan(const QStringList &roots, const ScanOptions &options, const ScanCallback &progress)
{
    ScanResult result;
    Walker(options, true, progress, result).run(roots);
    return result;
}

ScanResult scanDirectories(const QStringList &roots, const ScanOptions &options)
{
    ScanResult result;
    const ScanCallback none;
    Walker(options, false, none, result).run(roots);
    return result;
}

NameFilter::NameFilter(const ScanOptions &options) : m_skipHidden(options.skipHidden)
{
    for (const QString &pattern : options.ignorePatterns) {
        if (!pattern.isEmpty())
            m_patterns.append(QRegularExpression::fromWildcard(pattern, Qt::CaseInsensitive));
    }
}

bool NameFilter::isIgnored(const QString &name) const
{
    if (m_skipHidden && name.startsWith(QLatin1Char('.')))
        return true;
    return std::any_of(m_patterns.cbegin(), m_patterns.cend(),
                       [&name](const QRegularExpression &re) { return re.match(name).hasMatch(); });
}

bool isPathUnder(const QString &path, const QString &dir)
{
    if (!path.startsWith(dir))
        return false;
    return path.size() == dir.size() || dir.endsWith(QLatin1Char('/')) || path.at(dir.size()) == QLatin1Char('/');
}

// --- Change detection --------------------------------------------------------------

ChangeSet detectChanges(const QList<KnownFile> &known, const ScanResult &scanned, const ChangeOptions &options)
{
    ChangeSet changes;
    auto hashFile = options.hash ? options.hash : [](const QString &path, QString *error) {
        ContentHash h = contentHash(path);
        if (error)
            *error = h.error;
        return h.hash;
    };

    QHash<QString, qsizetype> scannedIndex;
    scannedIndex.reserve(scanned.files.size());
    for (qsizetype i = 0; i < scanned.files.size(); ++i)
        scannedIndex.insert(scanned.files[i].path, i);

    QStringList unreachableDirs;
    for (const ScanError &error : scanned.errors)
        unreachableDirs.append(error.path);

    // 1. Known paths: still there (same / changed) or gone.
    QList<bool> isKnownPath(scanned.files.size(), false);
    QList<FileUpdate> sizeChanged;
    QList<FileUpdate> timeChanged;  // same size, new mtime: the hash decides
    QList<KnownFile> gone;
    for (const KnownFile &file : known) {
        const auto it = scannedIndex.constFind(file.path);
        if (it != scannedIndex.cend()) {
            isKnownPath[*it] = true;
            const ScannedFile &now = scanned.files[*it];
            if (now.size != file.size)
                sizeChanged.append({file, now});
            else if (now.mtimeMs != file.mtimeMs)
                timeChanged.append({file, now});
            else
                changes.unchanged.append(file);
        } else if (std::any_of(unreachableDirs.cbegin(), unreachableDirs.cend(),
                               [&file](const QString &dir) { return isPathUnder(file.path, dir); })) {
            changes.unreachable.append(file);
        } else {
            gone.append(file);
        }
    }
    QList<ScannedFile> fresh;
    for (qsizetype i = 0; i < scanned.files.size(); ++i) {
        if (!isKnownPath[i])
            fresh.append(scanned.files[i]);
    }

    // 2. Decide what to hash: a new file can only be a moved one if its size matches a
    // deleted file's (with a known hash); everything else is hashed only on request.
    QSet<qint64> goneSizes;
    for (const KnownFile &file : std::as_const(gone)) {
        if (!file.contentHash.isEmpty())
            goneSizes.insert(file.size);
    }
    QList<ScannedFile *> toHash;
    for (ScannedFile &file : fresh) {
        if (options.hashNewAndModified || goneSizes.contains(file.size))
            toHash.append(&file);
    }
    for (FileUpdate &update : timeChanged) {
        if (options.hashNewAndModified || !update.before.contentHash.isEmpty())
            toHash.append(&update.after);
    }
    if (options.hashNewAndModified) {
        for (FileUpdate &update : sizeChanged)
            toHash.append(&update.after);
    }
    const qint64 total = toHash.size();
    for (qint64 done = 0; done < total; ++done) {
        ScannedFile *file = toHash[done];
        if (options.progress && !options.progress({done, total, file->path})) {
            changes.cancelled = true;
            return changes;
        }
        QString error;
        file->contentHash = hashFile(file->path, &error);
        if (file->contentHash.isEmpty())
            changes.errors.append({file->path, error.isEmpty() ? QStringLiteral("could not hash") : error});
    }

    // 3. Same path, new mtime: same content means only the row needs updating.
    changes.modified = sizeChanged;
    for (const FileUpdate &update : std::as_const(timeChanged)) {
        const bool sameContent = !update.before.contentHash.isEmpty()
                                 && update.after.contentHash == update.before.contentHash;
        (sameContent ? changes.touched : changes.modified).append(update);
    }

    // 4. Moves: pair each deleted file with a new file of the same size and hash,
    // preferring one with the same name (a move to another folder over a stray copy).
    QHash<QString, QList<qsizetype>> freshByKey;  // "size:hash" -> indexes into fresh
    for (qsizetype i = 0; i < fresh.size(); ++i) {
        if (!fresh[i].contentHash.isEmpty())
            freshByKey[QString::number(fresh[i].size) + QLatin1Char(':') + fresh[i].contentHash].append(i);
    }
    QList<bool> taken(fresh.size(), false);
    for (const KnownFile &file : std::as_const(gone)) {
        const auto candidates = file.contentHash.isEmpty()
                                    ? freshByKey.cend()
                                    : freshByKey.constFind(QString::number(file.size) + QLatin1Char(':') + file.contentHash);
        qsizetype best = -1;
        if (candidates != freshByKey.cend()) {
            const QString name = fileNameOf(file.path);
            for (const qsizetype i : *candidates) {
                if (taken[i])
                    continue;
                if (best < 0)
                    best = i;
                if (fileNameOf(fresh[i].path) == name) {
                    best = i;
                    break;
                }
            }
        }
        if (best >= 0) {
            taken[best] = true;
            changes.moved.append({file, fresh[best]});
        } else {
            changes.deleted.append(file);
        }
    }
    for (qsizetype i = 0; i < fresh.size(); ++i) {
        if (!taken[i])
            changes.added.append(fresh[i]);
    }
    return changes;
}

} // namespace unisearch::media
