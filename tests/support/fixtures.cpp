#include "support/fixtures.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <stdexcept>

namespace unisearch::test {

QString sourceDir()
{
    const QByteArray env = qgetenv("UNISEARCH_SOURCE_DIR");
    if (!env.isEmpty())
        return QString::fromLocal8Bit(env);
    return QDir::currentPath();
}

QString fixturesRoot()
{
    QByteArray env = qgetenv("UNISEARCH_FIXTURES");
    QString root = env.isEmpty() ? sourceDir() + QStringLiteral("/../shared/fixtures")
                                 : QString::fromLocal8Bit(env);
    if (!QFileInfo(root).isDir())
        throw std::runtime_error("fixtures directory not found: " + root.toStdString()
                                 + " (set UNISEARCH_FIXTURES)");
    return QDir(root).absolutePath();
}

QString uniadapterDir()
{
    const QByteArray env = qgetenv("UNISEARCH_UNIADAPTER_FIXTURES");
    const QString dir = env.isEmpty() ? fixturesRoot() + QStringLiteral("/uniadapter")
                                      : QString::fromLocal8Bit(env);
    if (!QFileInfo(dir).isDir())
        throw std::runtime_error("UniAdapter fixture directory not found: " + dir.toStdString());
    return QDir(dir).absolutePath();
}

QString caseDir(const QString &caseName)
{
    const QString dir = uniadapterDir() + QLatin1Char('/') + caseName;
    if (!QFileInfo(dir).isDir())
        throw std::runtime_error("fixture case not found: " + dir.toStdString());
    return dir;
}

nlohmann::json readCase(const QString &caseName)
{
    QFile f(caseDir(caseName) + QStringLiteral("/case.json"));
    if (!f.open(QIODevice::ReadOnly))
        throw std::runtime_error("cannot read " + f.fileName().toStdString());
    return nlohmann::json::parse(f.readAll().toStdString());
}

QString vocabPath()
{
    return sourceDir() + QStringLiteral("/resources/vocab/bert-base-uncased.txt");
}

QString caseWeights(const QString &caseName)
{
    return QDir::cleanPath(caseDir(caseName) + QLatin1Char('/')
                           + QString::fromStdString(readCase(caseName).at("weights").get<std::string>()));
}

QString caseArchitectureJson(const QString &caseName)
{
    return QString::fromStdString(readCase(caseName).at("architecture").dump());
}

void isolateUserSettings()
{
    QStandardPaths::setTestModeEnabled(true);
    static QTemporaryDir settingsDir(QDir::temp().filePath(QStringLiteral("unisearch-test-settings-XXXXXX")));
    if (!settingsDir.isValid())
        throw std::runtime_error("cannot make a temporary settings folder");
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir.path());
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir.path());
}

} // namespace unisearch::test
