#include "engine/job.h"

#include <QDeadlineTimer>
#include <QMutexLocker>
#include <QThreadPool>

namespace unisearch::engine {

Job::Job(QObject *parent) : QObject(parent) {}

void Job::start(QThreadPool *pool)
{
    m_running = true;  // before the pool picks it up, so wait() cannot miss it
    (pool ? pool : QThreadPool::globalInstance())->start([this] { runOnPool(); });
}

bool Job::wait(int msecs)
{
    QMutexLocker locker(&m_mutex);
    QDeadlineTimer deadline(msecs < 0 ? QDeadlineTimer::Forever : QDeadlineTimer(msecs));
    while (m_running.load()) {
        if (!m_done.wait(&m_mutex, deadline))
            return !m_running.load();
    }
    return true;
}

void Job::markStopped()
{
    QMutexLocker locker(&m_mutex);
    m_running = false;
    m_done.wakeAll();
}

} // namespace unisearch::engine
