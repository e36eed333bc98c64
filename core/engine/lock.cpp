#include "engine/lock.h"

#include <QDir>
#include <QFileInfo>
#include <QLockFile>

#include <signal.h>
#include <sys/types.h>
#include <cerrno>

namespace unisearch::engine {

IndexLock::IndexLock(const QString &dataDir)
    : m_path(QDir(dataDir).filePath(QString::fromLatin1(fileName))),
      m_lock(std::make_unique<QLockFile>(m_path))
{
    m_lock->setStaleLockTime(0);
}

IndexLock::~IndexLock() = default;

bool IndexLock::tryLock(QString *error)
{
    if (m_lock->isLocked())
        return true;
    if (m_lock->tryLock(0))
        return true;
    if (error) {
        qint64 pid = 0;
        QString host, app;
        switch (m_lock->error()) {
        case QLockFile::LockFailedError:
            if (m_lock->getLockInfo(&pid, &host, &app))
                *error = QStringLiteral("another Unisearch process is indexing this library (pid %1); wait for it "
                                        "to finish or stop it")
                             .arg(pid);
            else
                *error = QStringLiteral("another Unisearch process is indexing this library; wait for it to "
                                        "finish or stop it");
            break;
        case QLockFile::PermissionError:
            *error = QStringLiteral("cannot create the lock file %1: permission denied")
                         .arg(QDir::toNativeSeparators(m_path));
            break;
        default:
            *error = QStringLiteral("cannot create the lock file %1").arg(QDir::toNativeSeparators(m_path));
            break;
        }
    }
    return false;
}

bool IndexLock::isLocked() const
{
    return m_lock->isLocked();
}

void IndexLock::unlock()
{
    if (m_lock->isLocked())
        m_lock->unlock();
}

QString IndexLock::filePath() const
{
    return m_path;
}

qint64 IndexLock::holderPid(const QString &dataDir)
{
    const QString path = QDir(dataDir).filePath(QString::fromLatin1(fileName));
    if (!QFileInfo::exists(path))
        return 0;
    QLockFile probe(path);
    qint64 pid = 0;
    QString host, app;
    if (!probe.getLockInfo(&pid, &host, &app) || pid <= 0)
        return 0;
    // A file left by a killed process is not a lock. (Another host's pid cannot be
    // checked; a data dir is local, so treat it like ours.)
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
        return 0;
    return pid;
}

} // namespace unisearch::engine
