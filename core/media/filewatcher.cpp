#include "media/filewatcher.h"

#include "media/filepath.h"

#include <algorithm>

namespace unisearch::media {

FileWatcher::FileWatcher(const WatchOptions &options, QObject *parent)
    : QObject(parent), m_options(options), m_filter(options.scan)
{
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &FileWatcher::flush);
    connect(&m_watcher, &QFileSystemWatcher::directoryChanged, this, &FileWatcher::onDirectoryChanged);
}

FileWatcher::~FileWatcher() = default;

QList<ScanError> FileWatcher::setRoots(const QStringList &roots)
{
    const QStringList old = m_watcher.directories();
    if (!old.isEmpty())
        m_watcher.removePaths(old);
    m_watched.clear();
    m_unwatched.clear();
    m_pending.clear();
    m_timer.stop();
    m_firstPending.invalidate();
    m_roots = roots;
    const ScanResult dirs = scanDirectories(roots, m_options.scan);
    watch(dirs.directories);
    return dirs.errors;
}

QStringList FileWatcher::watchedDirectories() const
{
    QStringList list(m_watched.cbegin(), m_watched.cend());
    list.sort();
    return list;
}

QStringList FileWatcher::unwatchedDirectories() const
{
    QStringList list(m_unwatched.cbegin(), m_unwatched.cend());
    list.sort();
    return list;
}

void FileWatcher::watch(const QStringList &directories)
{
    QStringList toAdd;
    for (const QString &dir : directories) {
        if (m_watched.contains(dir))
            continue;
        if (isPlainQtPath(dir))
            toAdd.append(dir);
        else
            m_unwatched.insert(dir);  // QFileSystemWatcher would watch a different name
    }
    if (toAdd.isEmpty())
        return;
    const QStringList failed = m_watcher.addPaths(toAdd);
    for (const QString &dir : failed)
        m_unwatched.insert(dir);
    for (const QString &dir : std::as_const(toAdd)) {
        if (!failed.contains(dir))
            m_watched.insert(dir);
    }
}

void FileWatcher::onDirectoryChanged(const QString &directory)
{
    // Only remember it here: a burst of events (one per file copied) must stay cheap.
    // Listing directories for new subdirectories waits until flush().
    m_pending.insert(directory);
    if (!m_firstPending.isValid())
        m_firstPending.start();
    const qint64 untilMax = qMax<qint64>(0, m_options.maxDelayMs - m_firstPending.elapsed());
    m_timer.start(int(qMin<qint64>(m_options.debounceMs, untilMax)));
}

void FileWatcher::armNewSubdirectories(const QString &directory)
{
    const DirectoryListing listing = listDirectory(directory);
    for (const QString &name : listing.names) {
        if (m_filter.isIgnored(name))
            continue;
        const QString path = directory + QLatin1Char('/') + name;
        const FileStatus status = fileStatus(path);
        if (status.type != FileType::Directory || (status.isSymlink && !m_options.scan.followSymlinks))
            continue;
        const QString canonical = canonicalPath(path);
        if (canonical.isEmpty() || m_watched.contains(canonical) || m_unwatched.contains(canonical))
            continue;
        // A new subtree (made, or moved in): watch all of it and report all of it.
        const ScanResult subtree = scanDirectories({canonical}, m_options.scan);
        watch(subtree.directories);
        for (const QString &dir : subtree.directories)
            m_pending.insert(dir);
    }
}

void FileWatcher::forgetRemoved(const QString &directory)
{
    QStringList gone;
    for (const QString &dir : std::as_const(m_watched)) {
        if (isPathUnder(dir, directory))
            gone.append(dir);
    }
    for (const QString &dir : std::as_const(gone))
        m_watched.remove(dir);
    // Qt drops a deleted directory by itself; drop what it may still hold below it.
    const QStringList stillWatched = m_watcher.directories();
    QStringList toRemove;
    for (const QString &dir : std::as_const(gone)) {
        if (stillWatched.contains(dir))
            toRemove.append(dir);
    }
    if (!toRemove.isEmpty())
        m_watcher.removePaths(toRemove);
}

void FileWatcher::flush()
{
    m_timer.stop();
    m_firstPending.invalidate();
    if (m_pending.isEmpty())
        return;
    const QList<QString> dirs(m_pending.cbegin(), m_pending.cend());
    for (const QString &dir : dirs) {
        if (fileStatus(dir).type == FileType::Directory) {
            armNewSubdirectories(dir);
            continue;
        }
        // Gone: report the nearest directory that still exists instead, so that a rescan
        // there finds the files below it deleted (scanning a missing path would only
        // report it unreachable).
        forgetRemoved(dir);
        m_pending.remove(dir);
        QString parent = dir;
        while (parent.lastIndexOf(QLatin1Char('/')) > 0) {
            parent.truncate(parent.lastIndexOf(QLatin1Char('/')));
            if (m_watched.contains(parent)) {
                m_pending.insert(parent);
                break;
            }
        }
    }
    QStringList result(m_pending.cbegin(), m_pending.cend());
    m_pending.clear();
    result.sort();
    emit changed(result);
}

} // namespace unisearch::media
