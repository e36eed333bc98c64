#include "engine/installedfile.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>
#include <QStringList>

namespace unisearch::engine {

QString locateInstalledFile(const char *envVariable, const QString &relativePath)
{
    const QString env = qEnvironmentVariable(envVariable);
    if (!env.isEmpty())
        return QFileInfo(env).isFile() ? QFileInfo(env).absoluteFilePath() : QString();
    QStringList candidates;
    // Installed (bin/../share) and AppImage layouts: relative to the executable.
    if (QCoreApplication::instance())
        candidates << QDir(QCoreApplication::applicationDirPath())
                          .filePath(QStringLiteral("../share/unisearch/") + relativePath);
    // The XDG data dirs (/usr/share, /usr/local/share, ...).
    const QString located =
        QStandardPaths::locate(QStandardPaths::GenericDataLocation, QStringLiteral("unisearch/") + relativePath);
    if (!located.isEmpty())
        candidates << located;
#ifdef UNISEARCH_RESOURCES_DIR
    // A build tree: the source tree's copy.
    candidates << QStringLiteral(UNISEARCH_RESOURCES_DIR "/") + relativePath;
#endif
    for (const QString &c : candidates)
        if (QFileInfo(c).isFile())
            return QDir::cleanPath(QFileInfo(c).absoluteFilePath());
    return {};
}

} // namespace unisearch::engine
