#include "support/cliprocess.h"

#include "support/fixtures.h"

#include <QDir>
#include <QJsonDocument>
#include <QProcess>

namespace unisearch::test {

QJsonObject CliRun::json() const
{
    return QJsonDocument::fromJson(out.toUtf8()).object();
}

QProcessEnvironment cliEnvironment(const QString &dataDir, const QString &tmpRoot)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("UNISEARCH_DATA_DIR"), dataDir);
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), QDir(tmpRoot).filePath(QStringLiteral("config")));
    env.insert(QStringLiteral("XDG_CACHE_HOME"), QDir(tmpRoot).filePath(QStringLiteral("cache")));
    env.insert(QStringLiteral("UNISEARCH_VOCAB"), vocabPath());
    env.insert(QStringLiteral("UNISEARCH_CPU_FEATURES"), QStringLiteral("none")); // auto = float32
    env.remove(QStringLiteral("DISPLAY"));
    return env;
}

CliRun runProgram(const QString &program, const QStringList &args, const QProcessEnvironment &env, int timeoutMs,
                  const std::function<void()> &childSetup)
{
    QProcess p;
    p.setProcessEnvironment(env);
    if (childSetup)
        p.setChildProcessModifier(childSetup);
    p.start(program, args);
    CliRun r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        qWarning("%s %s did not finish", qPrintable(program), qPrintable(args.join(QLatin1Char(' '))));
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

QJsonObject namedEntry(const QJsonArray &entries, const QString &name)
{
    for (const QJsonValue &v : entries)
        if (v.toObject().value(QStringLiteral("name")).toString() == name)
            return v.toObject();
    return {};
}

} // namespace unisearch::test
