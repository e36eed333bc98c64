#pragma once
// Running a program (unisearch-cli) from a black-box test: its exit code and output.
#include <QJsonObject>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QtTest>

namespace unisearch::test {

struct CliRun {
    int exitCode = -1;  // -1: crashed or killed after the timeout
    QString out;
    QString err;
    QJsonObject json() const;  // stdout as one JSON object (empty when it is not one)
};

// Runs program with args in env and waits; after timeoutMs it is killed (with a warning).
CliRun runProgram(const QString &program, const QStringList &args, const QProcessEnvironment &env,
                  int timeoutMs = 120000);

} // namespace unisearch::test

// QVERIFY that a run exited with code, showing its stderr when it did not.
#define VERIFY_RUN(r, code)                                                                                   \
    QVERIFY2((r).exitCode == (code),                                                                          \
             qPrintable(QStringLiteral("exit %1, expected %2; stderr: %3").arg((r).exitCode).arg(code).arg((r).err)))
