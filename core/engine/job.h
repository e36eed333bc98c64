#pragma once
// The one shape of long work (DESIGN.md Conventions, after qBittorrent's TorrentCreator):
// a job has Params, a Result (ok, cancelled, error) and a Progress; run() works on the
// calling thread (the CLI), start() on a pool (the window); it emits progressUpdated, then
// finished (ok or cancelled) or failed, and stops early on requestInterruption().
//
// Job holds the control every job repeats: starting on a pool, waiting, interruption and
// the end-of-run handshake with wait(); TypedJob adds the params and result storage. A
// subclass (IndexJob, TrainingJob) brings its run() and its typed progressUpdated and
// finished signals.
#include <QMutex>
#include <QMutexLocker>
#include <QObject>
#include <QString>
#include <QWaitCondition>

#include <atomic>
#include <utility>

class QThreadPool;

namespace unisearch::engine {

class Job : public QObject
{
    Q_OBJECT

public:
    explicit Job(QObject *parent = nullptr);

    // Runs the job on pool (default: the global pool): progressUpdated, then finished or
    // failed, all emitted from the pool thread.
    void start(QThreadPool *pool = nullptr);
    bool isRunning() const { return m_running.load(); }
    // Waits for a started job; false on timeout.
    bool wait(int msecs = -1);

    // Thread-safe.
    virtual void requestInterruption() { m_interrupt = true; }
    bool isInterruptionRequested() const { return m_interrupt.load(); }

signals:
    void failed(const QString &error);

protected:
    // The work start() queues: the subclass's run() with no progress callback.
    virtual void runOnPool() = 0;
    // run() calls markRunning() first and markStopped() last (after storing its result and
    // emitting finished or failed), so that wait() returns only once the job is done.
    void markRunning() { m_running = true; }
    void markStopped();

    std::atomic<bool> m_interrupt{false};
    // Guards the subclass's result (and any wait of its own) as well as wait()'s.
    mutable QMutex m_mutex;

private:
    std::atomic<bool> m_running{false};
    QWaitCondition m_done;
};

// The typed half of the shape: Params kept as given, the last Result kept for result().
// (A template cannot carry Q_OBJECT, so the typed signals stay in the subclass.)
template <class P, class R, class G>
class TypedJob : public Job
{
public:
    using Params = P;
    using Result = R;
    using Progress = G;

    const Params &params() const { return m_params; }
    Result result() const
    {
        QMutexLocker locker(&m_mutex);
        return m_result;
    }

protected:
    TypedJob(Params params, QObject *parent) : Job(parent), m_params(std::move(params)) {}

    // The end of run(): keeps result, emits finished (ok or cancelled) or failed, wakes wait().
    void finish(const Result &result)
    {
        {
            QMutexLocker locker(&m_mutex);
            m_result = result;
        }
        if (result.ok)
            emitFinished(result);
        else
            emit failed(result.error);
        markStopped();
    }
    virtual void emitFinished(const Result &result) = 0;

    Params m_params;

private:
    Result m_result;
};

} // namespace unisearch::engine
