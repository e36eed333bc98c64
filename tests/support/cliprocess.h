#pragma once
// Running a program (unisearch-cli) from a black-box test: its exit code and output.
#include <QJsonArray>
#include <QJsonObject>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QtTest>

#include <functional>

namespace unisearch::test {

struct CliRun {
    int exitCode = -1;  // -1: crashed or killed after the timeout
    QString out;
    QString err;
    QJsonObject json() const;  // stdout as one JSON object (empty when it is not one)
};

// Runs program with args in env and waits; after timeoutMs it is killed (with a warning).
// childSetup, when given, runs in the child between fork and exec (resource limits,
// credentials: async-signal-safe calls only).
CliRun runProgram(const QString &program, const QStringList &args, const QProcessEnvironment &env,
                  int timeoutMs = 120000, const std::function<void()> &childSetup = {});

// The environment a test runs unisearch-cli in: the system's, with UNISEARCH_DATA_DIR = dataDir,
// XDG_CONFIG_HOME and XDG_CACHE_HOME under tmpRoot (config/, cache/), UNISEARCH_VOCAB = vocabPath(),
// UNISEARCH_CPU_FEATURES=none (precision "auto" is float32 on every machine, as the reference
// fixtures are; a test of bfloat16 sets its own) and no DISPLAY. Tests add or remove their own
// entries on the copy they get.
QProcessEnvironment cliEnvironment(const QString &dataDir, const QString &tmpRoot);

// The object of a `--json` list (`adapters list`'s "adapters", say) whose "name" is name;
// empty when there is none.
QJsonObject namedEntry(const QJsonArray &entries, const QString &name);

} // namespace unisearch::test

// QVERIFY that a run exited with code, showing its stderr when it did not.
#define VERIFY_RUN(r, code)                                                                                   \
    QVERIFY2((r).exitCode == (code),                                                                          \
             qPrintable(QStringLiteral("exit %1, expected %2; stderr: %3").arg((r).exitCode).arg(code).arg((r).err)))
