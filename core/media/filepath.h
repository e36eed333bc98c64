#pragma once
// File paths as the library sees them, including names that are not valid UTF-8.
//
// Why this exists: on Linux a file name is any byte string, but Qt 6 decodes names as
// UTF-8 and replaces undecodable bytes with U+FFFD (lossy: QFile cannot open the result),
// and QDirIterator silently skips such entries. A photo copied from an old camera or a
// Windows-1252 archive ("Caf\xe9.jpg") would simply vanish from the library.
//
// The scheme (a bijection between byte strings and QStrings):
//  - valid UTF-8 decodes as usual, so ordinary paths are ordinary QStrings;
//  - each byte that is not part of a valid UTF-8 sequence becomes U+F700 + byte (the
//    private-use range U+F780..U+F7FF, since such bytes are >= 0x80);
//  - a valid sequence that itself encodes a character of U+F780..U+F7FF is escaped byte by
//    byte the same way, so encoding is unambiguous.
// encodeFileName() reverses it. Escaped paths survive UTF-8 storage (SQLite, JSON), but
// QFile(path) would open the wrong name: open files through openForReading(), and hand
// encodeFileName(path) to C libraries (FFmpeg). isPlainQtPath() says whether QFile and
// friends can take the path as is.
#include <QByteArray>
#include <QList>
#include <QString>

#include <optional>

class QFile;

namespace unisearch::media {

QString decodeFileName(const QByteArray &bytes);
QByteArray encodeFileName(const QString &name);
// True when Qt's own file classes (QFile, QFileInfo, QFileSystemWatcher) reach the file
// named by path, i.e. the path needs no escaping.
bool isPlainQtPath(const QString &path);

enum class FileType { Missing, File, Directory, Other };

struct FileStatus {
    FileType type = FileType::Missing;
    bool isSymlink = false;  // the path itself is a symbolic link (type describes its target)
    qint64 size = 0;
    qint64 mtimeMs = 0;      // modification time, ms since the epoch
    quint64 device = 0;      // with inode: the file's identity (loop and hard-link detection)
    quint64 inode = 0;
    QString error;           // why type is Missing (e.g. "permission denied"), empty if it does not exist
};

// stat() of path, following symbolic links.
FileStatus fileStatus(const QString &path);

// The canonical absolute path (symlinks resolved), or empty when it does not exist.
QString canonicalPath(const QString &path);

struct DirectoryListing {
    QList<QString> names;  // entry names (decoded as above), without "." and "..", unsorted
    QString error;         // non-empty when the directory could not be read
};
DirectoryListing listDirectory(const QString &path);

// Opens path read-only into file (any name, see above). A FIFO or device never blocks
// and is refused, as is a directory. On failure returns false and sets *error to a
// lower-case reason a person understands ("permission denied", "file not found").
bool openForReading(QFile &file, const QString &path, QString *error = nullptr);

// Why path cannot be read as a regular file ("no such file", "is a directory", "not a
// regular file (a FIFO, device or socket)", "permission denied"), or empty when it can.
// Looks only (stat, access): it never opens the file, so a FIFO cannot make it wait.
QString regularFileProblem(const QString &path);
// The same for a folder that is to be listed ("no such folder", "not a folder", ...).
QString folderProblem(const QString &path);

// The whole of a regular file of at most maxBytes (through openForReading). The read
// itself stops after maxBytes + 1 bytes, so a file that grows while it is read, or one
// whose size says 0 (/proc), cannot make it read without end. nullopt with *error
// otherwise ("larger than 16 MiB", or a reason as above).
std::optional<QByteArray> readSmallFile(const QString &path, qint64 maxBytes, QString *error = nullptr);

// A path as a person should see it on one line of a terminal: undecodable bytes (see
// above) as \xHH, control characters as \n, \t, \r or \xHH, C1 controls, line and
// paragraph separators and bidirectional overrides as \uHHHH, and a backslash as \\.
// A crafted name can then neither break a line of output, nor move the cursor or change
// the terminal's state, nor pass for another name. Everything else is kept as it is.
QString displayPath(const QString &path);
// The same escapes for a message that quotes paths or file content, except that line
// breaks and tabs stay (a message may have several lines) and backslashes stay as they are.
QString displayText(const QString &text);

} // namespace unisearch::media
