#pragma once
// Command-line arguments and file names that are not UTF-8, for black-box tests.
//
// QProcess sends every argument as UTF-8 (and Qt's file classes cannot create such a name),
// so a test cannot hand a program "Caf\xe9.jpg" directly. withRawArgument() runs the
// program through bash, which puts the raw bytes in place of each argument that is the
// placeholder rawPlaceholder; writeRawFile() and makeRawDir() go through the C library.
#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdio>
#include <sys/stat.h>

namespace unisearch::test {

inline const QString rawPlaceholder = QStringLiteral("@RAW@");

struct RawCommand {
    QString program;
    QStringList args;
};

// program args..., with each rawPlaceholder replaced by the bytes raw.
inline RawCommand withRawArgument(const QString &program, const QStringList &args, const QByteArray &raw)
{
    QString escaped;  // every byte as \xHH, which bash's printf %b turns back into the byte
    for (const char c : raw)
        escaped += QStringLiteral("\\x%1").arg(uint(uchar(c)), 2, 16, QLatin1Char('0'));
    // $0 = the program, $1 = the escaped bytes, then the arguments; "for a do" walks the
    // original list while the rewritten one is appended.
    const QString script = QStringLiteral(
        R"(raw=$(printf '%b' "$1"); shift; for a do shift; [ "$a" = "@RAW@" ] && a=$raw; set -- "$@" "$a"; done; exec "$0" "$@")");
    return {QStringLiteral("/bin/bash"), QStringList{QStringLiteral("-c"), script, program, escaped} + args};
}

// Writes data to the file named by the bytes path; false on failure.
inline bool writeRawFile(const QByteArray &path, const QByteArray &data)
{
    std::FILE *f = std::fopen(path.constData(), "wb");
    if (!f)
        return false;
    const bool ok = std::fwrite(data.constData(), 1, size_t(data.size()), f) == size_t(data.size());
    return std::fclose(f) == 0 && ok;
}

inline bool makeRawDir(const QByteArray &path)
{
    return ::mkdir(path.constData(), 0755) == 0;
}

} // namespace unisearch::test
