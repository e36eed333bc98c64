#pragma once
// One indexer per data dir. Two processes writing the same catalog and FAISS file would
// each keep their own in-memory store and overwrite the other's file; SQLite would stay
// consistent but the store would not. So whoever changes the library's vectors (the
// indexing job, a store rebuild that is written back) first takes <dataDir>/index.lock.
//
// QLockFile underneath: the file holds the owner's pid, host and application name, and
// a lock left behind by a process that died (SIGKILL, power loss) is recognised as stale
// and taken over. The age-based staleness rule is disabled: an indexer legitimately holds
// the lock for hours.
#include <QString>

#include <memory>

class QLockFile;

namespace unisearch::engine {

class IndexLock
{
public:
    static constexpr const char *fileName = "index.lock";

    explicit IndexLock(const QString &dataDir);
    ~IndexLock();
    IndexLock(const IndexLock &) = delete;
    IndexLock &operator=(const IndexLock &) = delete;

    // Takes the lock without waiting. On failure returns false and, in *error, a message
    // a person can act on ("another Unisearch process is indexing this library (pid N)").
    bool tryLock(QString *error = nullptr);
    bool isLocked() const;
    void unlock();
    QString filePath() const;

    // The pid of a live process that holds the lock of dataDir; 0 when nobody does.
    // Read-only: never removes a stale lock file.
    static qint64 holderPid(const QString &dataDir);

private:
    QString m_path;
    std::unique_ptr<QLockFile> m_lock;
};

} // namespace unisearch::engine
