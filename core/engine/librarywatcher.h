#pragma once
// Keeps the index in step with the library's folders while the program runs: watches the
// folders (media::FileWatcher, which debounces: a burst of changes gives one report, see
// filewatcher.h) and re-runs an IndexJob over the directories that changed. This is the
// loop of `unisearch-cli index --watch`; the window can use the same object.
//
// Passes run on the thread the watcher lives on, one at a time: a pass blocks that thread
// (the job's decode pool does the parallel work), and changes reported meanwhile wait for
// its event loop. In a window, move the watcher to a worker thread (its FileWatcher is its
// child and moves with it) and connect to its signals queued.
//
// Interruption (requestInterruption(), or the flag of setInterruptionFlag(), which a
// signal handler may set) stops the running pass cleanly (committed batches are kept,
// passFinished() reports it cancelled) and makes the watcher ignore later changes.
#include "engine/indexjob.h"
#include "media/scanner.h"

#include <QList>
#include <QObject>
#include <QStringList>

#include <atomic>

namespace unisearch::media {
class FileWatcher;
}

namespace unisearch::engine {

class LibraryWatcher : public QObject
{
    Q_OBJECT

public:
    // index: what every pass indexes (paths, model, batch size, lock, scan options); a
    // pass sets only its scopes.
    explicit LibraryWatcher(IndexParams index, QObject *parent = nullptr);
    ~LibraryWatcher() override;

    const IndexParams &params() const { return m_params; }

    // Runs one pass over scopes (empty: all of the params' paths) on the calling thread:
    // the first, full pass before watching, or one a caller wants now. Never throws.
    IndexResult runPass(const QStringList &scopes = {});
    // Called with every pass's progress, on the thread of the pass; returning false
    // interrupts that pass. Empty: none.
    void setProgressCallback(IndexJob::ProgressFn progress) { m_progress = std::move(progress); }

    // Starts watching folders (canonical paths; a folder without one is watched as
    // given), replacing earlier ones; directories below them are watched too, except
    // those the params' scan options skip. Returns what cannot be read (missing or
    // unreadable folders).
    QList<media::ScanError> watch(const QStringList &folders);
    QStringList watchedDirectories() const;    // sorted
    QStringList unwatchedDirectories() const;  // inotify's limit, names that are not UTF-8

    // Thread-safe: interrupts a running pass and ignores further changes.
    void requestInterruption() { m_interrupt.store(true); }
    // A flag that counts as an interruption request when set (e.g. by a SIGINT handler,
    // where nothing but an atomic store is safe). It must outlive the watcher.
    void setInterruptionFlag(const std::atomic<bool> *flag) { m_externalInterrupt = flag; }
    bool isInterruptionRequested() const
    {
        return m_interrupt.load() || (m_externalInterrupt && m_externalInterrupt->load());
    }

signals:
    // Changes in these directories were reported; a pass over them starts now (on the
    // watcher's thread, right after this signal).
    void changesDetected(const QStringList &directories);
    // A pass over changes ended: ok, or cancelled by an interruption.
    void passFinished(const unisearch::engine::IndexResult &result);
    // A pass over changes failed (the job could not run: the catalog, the store, ...).
    void passFailed(const QString &error);

private:
    void onChanged(const QStringList &directories);

    IndexParams m_params;
    IndexJob::ProgressFn m_progress;
    media::FileWatcher *m_watcher = nullptr;
    std::atomic<bool> m_interrupt{false};
    const std::atomic<bool> *m_externalInterrupt = nullptr;
};

} // namespace unisearch::engine
