#pragma once
// Watches the library roots and says, after things settle down, which directories changed,
// so that `index --watch` rescans only those.
//
// Every directory below the roots is watched (QFileSystemWatcher: inotify on Linux),
// except the ones scan() would skip (hidden, ignored). Events are debounced: changed()
// fires once the roots have been quiet for debounceMs, or at the latest maxDelayMs after
// the first pending event, so copying a thousand photos gives a few signals, not a
// thousand. A directory that appears is watched from then on, and it and every directory
// below it are reported (their files may have been written before the watch existed).
// A directory that disappears is not reported (it cannot be scanned); its nearest watched
// parent is. So the consumer's rule is simple: for each reported directory, scan it
// recursively and compare with the catalog's files below it (detectChanges).
//
// Limits, by design of the platform: a directory event means an entry was created,
// removed, renamed or had its attributes changed; a file overwritten in place without a
// rename is not reported, so the next full scan catches it. Directories whose names are
// not valid UTF-8 cannot be watched by Qt, nor can more directories than the inotify
// limit (fs.inotify.max_user_watches) allows; both are listed by unwatchedDirectories().
#include "media/scanner.h"

#include <QElapsedTimer>
#include <QFileSystemWatcher>
#include <QObject>
#include <QSet>
#include <QStringList>
#include <QTimer>

namespace unisearch::media {

struct WatchOptions {
    int debounceMs = 1500;  // quiet time after the last event before changed() fires
    int maxDelayMs = 10000; // under constant activity, fire at the latest this long after the first event
    ScanOptions scan;       // which subdirectories are watched (hidden and ignored ones are not)
};

class FileWatcher : public QObject
{
    Q_OBJECT

public:
    explicit FileWatcher(const WatchOptions &options = {}, QObject *parent = nullptr);
    ~FileWatcher() override;

    // Watches every directory below roots, replacing any earlier roots. Returns what could
    // not be read (missing roots, unreadable directories).
    QList<ScanError> setRoots(const QStringList &roots);
    QStringList roots() const { return m_roots; }
    QStringList watchedDirectories() const;   // sorted
    QStringList unwatchedDirectories() const; // sorted; see above

    // Emits the pending changes now (if any) instead of waiting for the debounce.
    void flush();

signals:
    // Canonical directories whose entries changed, sorted, each once.
    void changed(const QStringList &directories);

private:
    void onDirectoryChanged(const QString &directory);
    void watch(const QStringList &directories);
    void armNewSubdirectories(const QString &directory);
    void forgetRemoved(const QString &directory);

    WatchOptions m_options;
    NameFilter m_filter;
    QFileSystemWatcher m_watcher;
    QTimer m_timer;
    QElapsedTimer m_firstPending;  // running while changes wait to be emitted
    QStringList m_roots;
    QSet<QString> m_watched;
    QSet<QString> m_unwatched;
    QSet<QString> m_pending;
};

} // namespace unisearch::media
