#pragma once
// A fresh temporary workspace for a test function: TMP/data as the data dir (not created:
// the code under test makes it) and TMP/<folder> for the media, created, by its canonical
// path (the catalog stores canonical paths).
#include <QDir>
#include <QFileInfo>
#include <QString>
#include <QTemporaryDir>

#include <memory>

namespace unisearch::test {

// Replaces tmp with a new temporary dir and sets dataDir and mediaDir in it. False when the
// temporary dir or the media folder cannot be made.
inline bool makeWorkspace(std::unique_ptr<QTemporaryDir> &tmp, QString &dataDir, QString &mediaDir,
                          const QString &folder)
{
    tmp = std::make_unique<QTemporaryDir>();
    if (!tmp->isValid())
        return false;
    dataDir = tmp->filePath(QStringLiteral("data"));
    mediaDir = QFileInfo(tmp->path()).canonicalFilePath() + QLatin1Char('/') + folder;
    return QDir().mkpath(mediaDir);
}

} // namespace unisearch::test
