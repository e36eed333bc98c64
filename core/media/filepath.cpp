#include "media/filepath.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QLocale>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace unisearch::media {

namespace {

constexpr char32_t escapeBase = 0xF700;
constexpr char32_t escapeFirst = 0xF780;  // escapeBase + 0x80
constexpr char32_t escapeLast = 0xF7FF;   // escapeBase + 0xFF

bool isEscapeRange(char32_t c) { return c >= escapeFirst && c <= escapeLast; }

void appendCodePoint(QString &out, char32_t c)
{
    if (c < 0x10000) {
        out.append(QChar(char16_t(c)));
    } else {
        out.append(QChar(QChar::highSurrogate(c)));
        out.append(QChar(QChar::lowSurrogate(c)));
    }
}

// Length and value of the valid UTF-8 sequence at s[i], or 0 when it is not one
// (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, cut short).
int utf8Sequence(const unsigned char *s, qsizetype n, qsizetype i, char32_t *value)
{
    const unsigned char b0 = s[i];
    int len = 0;
    char32_t c = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
        *value = b0;
        return 1;
    } else if ((b0 & 0xE0) == 0xC0) {
        len = 2, c = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, c = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, c = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > n)
        return 0;
    for (int k = 1; k < len; ++k) {
        const unsigned char b = s[i + k];
        if ((b & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (b & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *value = c;
    return len;
}

void appendUtf8(QByteArray &out, char32_t c)
{
    if (c < 0x80) {
        out.append(char(c));
    } else if (c < 0x800) {
        out.append(char(0xC0 | (c >> 6)));
        out.append(char(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.append(char(0xE0 | (c >> 12)));
        out.append(char(0x80 | ((c >> 6) & 0x3F)));
        out.append(char(0x80 | (c & 0x3F)));
    } else {
        out.append(char(0xF0 | (c >> 18)));
        out.append(char(0x80 | ((c >> 12) & 0x3F)));
        out.append(char(0x80 | ((c >> 6) & 0x3F)));
        out.append(char(0x80 | (c & 0x3F)));
    }
}

// Characters that change how the rest of a line looks or reads: C1 controls, the line
// and paragraph separators, and the bidirectional marks, embeddings, overrides and
// isolates ("Trojan Source" names that display as another name).
bool isInvisibleControl(char32_t c)
{
    return (c >= 0x80 && c <= 0x9F) || c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x2028 && c <= 0x202E)
           || (c >= 0x2066 && c <= 0x2069);
}

void appendHex(QString &out, const char *prefix, char32_t value, int digits)
{
    out += QLatin1String(prefix);
    out += QString::number(quint32(value), 16).rightJustified(digits, QLatin1Char('0'));
}

// forPath: also escape line breaks, tabs and the backslash (see displayPath()).
QString escaped(const QString &text, bool forPath)
{
    QString out;
    out.reserve(text.size());
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char16_t c = text.at(i).unicode();
        if (c == u'\\') {
            out += forPath ? QStringLiteral("\\\\") : QStringLiteral("\\");
        } else if ((c == u'\n' || c == u'\t') && !forPath) {
            out += QChar(c);
        } else if (c == u'\n') {
            out += QStringLiteral("\\n");
        } else if (c == u'\t') {
            out += QStringLiteral("\\t");
        } else if (c == u'\r') {
            out += QStringLiteral("\\r");
        } else if (c < 0x20 || c == 0x7F) {
            appendHex(out, "\\x", c, 2);
        } else if (isEscapeRange(c)) {
            appendHex(out, "\\x", c - escapeBase, 2);  // an undecodable byte of the name
        } else if (isInvisibleControl(c)) {
            appendHex(out, "\\u", c, 4);
        } else if (QChar::isHighSurrogate(c) && i + 1 < text.size() && text.at(i + 1).isLowSurrogate()) {
            out += text.at(i);
            out += text.at(++i);
        } else if (QChar::isSurrogate(c)) {
            appendHex(out, "\\u", c, 4);  // unpaired: would print as U+FFFD
        } else {
            out += QChar(c);
        }
    }
    return out;
}

#ifdef Q_OS_UNIX
// strerror() in the lower case the rest of our messages use.
QString errnoText(int error)
{
    if (error == ENOENT)
        return QStringLiteral("file not found");
    if (error == EACCES || error == EPERM)
        return QStringLiteral("permission denied");
    QString text = qt_error_string(error);
    if (!text.isEmpty())
        text[0] = text[0].toLower();
    return text;
}

qint64 mtimeMs(const struct stat &st)
{
    return qint64(st.st_mtim.tv_sec) * 1000 + qint64(st.st_mtim.tv_nsec) / 1000000;
}
#endif

} // namespace

QString decodeFileName(const QByteArray &bytes)
{
    const auto *s = reinterpret_cast<const unsigned char *>(bytes.constData());
    const qsizetype n = bytes.size();
    QString out;
    out.reserve(n);
    for (qsizetype i = 0; i < n;) {
        char32_t c = 0;
        const int len = utf8Sequence(s, n, i, &c);
        if (len == 0) {
            appendCodePoint(out, escapeBase + s[i]);  // undecodable byte (always >= 0x80)
            ++i;
        } else if (isEscapeRange(c)) {
            for (int k = 0; k < len; ++k)  // keep the bijection: escape the genuine character too
                appendCodePoint(out, escapeBase + s[i + k]);
            i += len;
        } else {
            appendCodePoint(out, c);
            i += len;
        }
    }
    return out;
}

QByteArray encodeFileName(const QString &name)
{
    QByteArray out;
    out.reserve(name.size());
    for (qsizetype i = 0; i < name.size(); ++i) {
        char32_t c = name.at(i).unicode();
        if (QChar::isHighSurrogate(c) && i + 1 < name.size() && name.at(i + 1).isLowSurrogate()) {
            c = QChar::surrogateToUcs4(char16_t(c), name.at(i + 1).unicode());
            ++i;
        } else if (QChar::isSurrogate(c)) {
            c = QChar::ReplacementCharacter;  // as Qt does for an unpaired surrogate
        }
        if (isEscapeRange(c))
            out.append(char(c - escapeBase));
        else
            appendUtf8(out, c);
    }
    return out;
}

bool isPlainQtPath(const QString &path)
{
    for (qsizetype i = 0; i < path.size(); ++i) {
        const QChar ch = path.at(i);
        if (isEscapeRange(ch.unicode()))
            return false;
        if (ch.isHighSurrogate() && i + 1 < path.size() && path.at(i + 1).isLowSurrogate())
            ++i;  // a proper pair: any character beyond the BMP
        else if (ch.isSurrogate())
            return false;  // unpaired: Qt would write U+FFFD
    }
    return true;
}

#ifdef Q_OS_UNIX

FileStatus fileStatus(const QString &path)
{
    FileStatus status;
    const QByteArray native = encodeFileName(path);
    struct stat st {};
    // lstat first: one call for the usual case, and it tells a link from its target.
    int rc = ::lstat(native.constData(), &st);
    if (rc == 0 && S_ISLNK(st.st_mode)) {
        status.isSymlink = true;
        rc = ::stat(native.constData(), &st);
    }
    if (rc != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            status.error = errnoText(errno);
        return status;
    }
    status.type = S_ISREG(st.st_mode) ? FileType::File : S_ISDIR(st.st_mode) ? FileType::Directory : FileType::Other;
    status.size = qint64(st.st_size);
    status.mtimeMs = mtimeMs(st);
    status.device = quint64(st.st_dev);
    status.inode = quint64(st.st_ino);
    return status;
}

QString canonicalPath(const QString &path)
{
    char *resolved = ::realpath(encodeFileName(path).constData(), nullptr);
    if (!resolved)
        return {};
    QString result = decodeFileName(QByteArray(resolved));
    std::free(resolved);
    return result;
}

DirectoryListing listDirectory(const QString &path)
{
    DirectoryListing listing;
    DIR *dir = ::opendir(encodeFileName(path).constData());
    if (!dir) {
        listing.error = errnoText(errno);
        return listing;
    }
    for (;;) {
        errno = 0;
        const dirent *entry = ::readdir(dir);
        if (!entry) {
            if (errno != 0)
                listing.error = errnoText(errno);
            break;
        }
        const QByteArray name(entry->d_name);
        if (name == "." || name == "..")
            continue;
        listing.names.append(decodeFileName(name));
    }
    ::closedir(dir);
    return listing;
}

bool openForReading(QFile &file, const QString &path, QString *error)
{
    auto fail = [error](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    const int fd = ::open(encodeFileName(path).constData(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return fail(errnoText(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const bool isDir = S_ISDIR(st.st_mode);
        ::close(fd);
        return fail(isDir ? QStringLiteral("is a directory") : QStringLiteral("not a regular file"));
    }
    if (!file.open(fd, QIODevice::ReadOnly, QFileDevice::AutoCloseHandle)) {
        ::close(fd);
        return fail(file.errorString());
    }
    return true;
}

namespace {

QString accessProblem(const QString &path, bool folder)
{
    const QByteArray native = encodeFileName(path);
    struct stat st {};
    if (::stat(native.constData(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)  // the wording messages have always used
            return folder ? QStringLiteral("no such folder") : QStringLiteral("no such file");
        return errnoText(errno);
    }
    if (folder && !S_ISDIR(st.st_mode))
        return QStringLiteral("not a folder");
    if (!folder && S_ISDIR(st.st_mode))
        return QStringLiteral("is a directory");
    if (!folder && !S_ISREG(st.st_mode))
        return QStringLiteral("not a regular file (a FIFO, device or socket)");
    if (::access(native.constData(), folder ? (R_OK | X_OK) : R_OK) != 0)
        return errnoText(errno);
    return {};
}

} // namespace

QString regularFileProblem(const QString &path)
{
    return accessProblem(path, false);
}

QString folderProblem(const QString &path)
{
    return accessProblem(path, true);
}

#else // not Unix: names are UTF-16 on the platforms Qt supports besides, so Qt is lossless

FileStatus fileStatus(const QString &path)
{
    FileStatus status;
    const QFileInfo info(path);
    status.isSymlink = info.isSymLink();
    if (!info.exists())
        return status;
    status.type = info.isFile() ? FileType::File : info.isDir() ? FileType::Directory : FileType::Other;
    status.size = info.size();
    status.mtimeMs = info.lastModified().toMSecsSinceEpoch();
    // No inode: identify by canonical path instead (good enough for loop detection).
    status.inode = qHash(info.canonicalFilePath());
    return status;
}

QString canonicalPath(const QString &path)
{
    return QFileInfo(path).canonicalFilePath();
}

DirectoryListing listDirectory(const QString &path)
{
    DirectoryListing listing;
    QDir dir(path);
    if (!dir.isReadable()) {
        listing.error = QStringLiteral("permission denied");
        return listing;
    }
    listing.names = dir.entryList(QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot);
    return listing;
}

bool openForReading(QFile &file, const QString &path, QString *error)
{
    const QFileInfo info(path);
    QString message;
    if (!info.exists())
        message = QStringLiteral("file not found");
    else if (info.isDir())
        message = QStringLiteral("is a directory");
    else if (!info.isFile())
        message = QStringLiteral("not a regular file");
    else {
        file.setFileName(path);
        if (file.open(QIODevice::ReadOnly))
            return true;
        message = file.error() == QFileDevice::PermissionsError ? QStringLiteral("permission denied")
                                                                : file.errorString();
    }
    if (error)
        *error = message;
    return false;
}

QString regularFileProblem(const QString &path)
{
    const QFileInfo info(path);
    if (!info.exists())
        return QStringLiteral("no such file");
    if (info.isDir())
        return QStringLiteral("is a directory");
    if (!info.isFile())
        return QStringLiteral("not a regular file (a FIFO, device or socket)");
    return info.isReadable() ? QString() : QStringLiteral("permission denied");
}

QString folderProblem(const QString &path)
{
    const QFileInfo info(path);
    if (!info.exists())
        return QStringLiteral("no such folder");
    if (!info.isDir())
        return QStringLiteral("not a folder");
    return info.isReadable() ? QString() : QStringLiteral("permission denied");
}

#endif

std::optional<QByteArray> readSmallFile(const QString &path, qint64 maxBytes, QString *error)
{
    QFile file;
    QString why;
    if (!openForReading(file, path, &why)) {
        if (error)
            *error = why;
        return std::nullopt;
    }
    QByteArray data = file.read(maxBytes + 1);
    if (file.error() != QFileDevice::NoError) {
        if (error)
            *error = file.errorString();
        return std::nullopt;
    }
    if (data.size() > maxBytes) {
        if (error)
            *error = QStringLiteral("larger than %1").arg(QLocale::c().formattedDataSize(maxBytes, 0));
        return std::nullopt;
    }
    return data;
}

QString displayPath(const QString &path)
{
    return escaped(path, true);
}

QString displayText(const QString &text)
{
    return escaped(text, false);
}

} // namespace unisearch::media
