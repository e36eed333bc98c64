#include "util/datadir.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>
#include <QTemporaryFile>

namespace unisearch {

void initApplicationIdentity()
{
    // No organization name: it would add a level (~/.local/share/<org>/<app>).
    QCoreApplication::setApplicationName(QString::fromLatin1(applicationName));
    QCoreApplication::setApplicationVersion(QStringLiteral(UNISEARCH_VERSION));
}

namespace {

QString absoluteClean(const QString &path)
{
    return QDir::cleanPath(QDir(path).absolutePath());
}

QString envPath(const char *name)
{
    return qEnvironmentVariable(name).trimmed();
}

} // namespace

Locations resolveLocations(const QString &dataDirOverride)
{
    Locations loc;
    const QString env = envPath("UNISEARCH_DATA_DIR");
    if (!dataDirOverride.trimmed().isEmpty()) {
        loc.dataDir = absoluteClean(dataDirOverride.trimmed());
        loc.source = Locations::Source::Option;
    } else if (!env.isEmpty()) {
        loc.dataDir = absoluteClean(env);
        loc.source = Locations::Source::Environment;
    } else {
        QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
        if (dir.isEmpty())  // no application name set, or no home: still somewhere sensible
            dir = QDir::home().absoluteFilePath(QStringLiteral(".local/share/unisearch"));
        loc.dataDir = absoluteClean(dir);
    }

    const QString cacheEnv = envPath("UNISEARCH_CACHE_DIR");
    if (!cacheEnv.isEmpty()) {
        loc.cacheDir = absoluteClean(cacheEnv);
    } else if (loc.source != Locations::Source::Default) {
        loc.cacheDir = QDir(loc.dataDir).absoluteFilePath(QStringLiteral("cache"));
    } else {
        QString dir = QStandardPaths::writableLocation(QStandardPaths::CacheLocation);
        if (dir.isEmpty())
            dir = QDir::home().absoluteFilePath(QStringLiteral(".cache/unisearch"));
        loc.cacheDir = absoluteClean(dir);
    }
    return loc;
}

QString sourceName(Locations::Source source)
{
    switch (source) {
    case Locations::Source::Option: return QStringLiteral("--data-dir");
    case Locations::Source::Environment: return QStringLiteral("UNISEARCH_DATA_DIR");
    case Locations::Source::Default: return QStringLiteral("default");
    }
    return QStringLiteral("default");
}

QString ensureWritableDir(const QString &path)
{
    const QString native = QDir::toNativeSeparators(path);
    const QFileInfo info(path);
    if (info.exists() && !info.isDir())
        return QStringLiteral("%1 exists but is not a directory. Choose another data directory with --data-dir "
                              "or UNISEARCH_DATA_DIR.")
            .arg(native);
    if (!QDir().mkpath(path))
        return QStringLiteral("Cannot create the directory %1. Check the permissions of its parent, or choose "
                              "another one with --data-dir or UNISEARCH_DATA_DIR.")
            .arg(native);
    // QFileInfo::isWritable only looks at permission bits; a read-only mount or a full
    // disk only shows when we actually try.
    QTemporaryFile probe(QDir(path).absoluteFilePath(QStringLiteral(".write-test-XXXXXX")));
    if (!probe.open())
        return QStringLiteral("The directory %1 is not writable (%2). Fix its permissions, or choose another one "
                              "with --data-dir or UNISEARCH_DATA_DIR.")
            .arg(native, probe.errorString());
    return {};
}

} // namespace unisearch
