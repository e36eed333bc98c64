// Watching the library's folders and re-indexing what changes (see librarywatcher.h).
#include "engine/librarywatcher.h"

#include "media/filepath.h"
#include "media/filewatcher.h"

namespace unisearch::engine {

LibraryWatcher::LibraryWatcher(IndexParams index, QObject *parent) : QObject(parent), m_params(std::move(index)) {}

LibraryWatcher::~LibraryWatcher() = default;

IndexResult LibraryWatcher::runPass(const QStringList &scopes)
{
    IndexParams p = m_params;
    p.scopes = scopes;
    IndexJob job(p);
    return job.run([this](const IndexProgress &progress) {
        const bool goOn = !m_progress || m_progress(progress);
        return goOn && !isInterruptionRequested();
    });
}

QList<media::ScanError> LibraryWatcher::watch(const QStringList &folders)
{
    if (!m_watcher) {
        media::WatchOptions options;
        options.scan = m_params.scan;
        m_watcher = new media::FileWatcher(options, this);
        connect(m_watcher, &media::FileWatcher::changed, this, &LibraryWatcher::onChanged);
    }
    QStringList roots;
    for (const QString &folder : folders) {
        const QString c = media::canonicalPath(folder);
        roots.append(c.isEmpty() ? folder : c);
    }
    return m_watcher->setRoots(roots);
}

QStringList LibraryWatcher::watchedDirectories() const
{
    return m_watcher ? m_watcher->watchedDirectories() : QStringList();
}

QStringList LibraryWatcher::unwatchedDirectories() const
{
    return m_watcher ? m_watcher->unwatchedDirectories() : QStringList();
}

void LibraryWatcher::onChanged(const QStringList &directories)
{
    if (isInterruptionRequested())
        return;
    emit changesDetected(directories);
    const IndexResult r = runPass(directories);
    if (!r.ok)
        emit passFailed(r.error);
    else
        emit passFinished(r);
}

} // namespace unisearch::engine
