// Scanning, content classification, change detection and the debounced watcher, on
// directory trees built in a temporary directory.
#include "media/contenthash.h"
#include "media/filepath.h"
#include "media/filewatcher.h"
#include "media/imagedecoder.h"
#include "media/mediatype.h"
#include "media/scanner.h"

#include <QBuffer>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QMimeDatabase>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace unisearch::media;


namespace {

QByteArray imageBytes(const char *format, QColor color = Qt::red, QSize size = {24, 16})
{
    QImage image(size, QImage::Format_RGB32);
    image.fill(color);
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, format);
    return bytes;
}

// Writes bytes to a path given as raw file-system bytes (so names need not be UTF-8).
void writeRaw(const QByteArray &nativePath, const QByteArray &bytes)
{
    const int fd = ::open(nativePath.constData(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    QVERIFY2(fd >= 0, nativePath.constData());
    QCOMPARE(::write(fd, bytes.constData(), size_t(bytes.size())), ssize_t(bytes.size()));
    ::close(fd);
}

void writeFile(const QString &path, const QByteArray &bytes)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile file(path);
    QVERIFY2(file.open(QIODevice::WriteOnly), qPrintable(path));
    file.write(bytes);
}

void setMtime(const QString &path, const QDateTime &when)
{
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadWrite));
    QVERIFY(file.setFileTime(when, QFileDevice::FileModificationTime));
}

QStringList pathsOf(const ScanResult &result)
{
    QStringList paths;
    for (const ScannedFile &file : result.files)
        paths.append(file.path);
    return paths;
}

const ScannedFile *findFile(const ScanResult &result, const QString &path)
{
    for (const ScannedFile &file : result.files) {
        if (file.path == path)
            return &file;
    }
    return nullptr;
}

// The sorted paths of a list of KnownFile or ScannedFile.
template<typename File>
QStringList pathsOf(const QList<File> &files)
{
    QStringList paths;
    for (const File &file : files)
        paths.append(file.path);
    paths.sort();
    return paths;
}

QList<KnownFile> knownFrom(const ScanResult &result)
{
    QList<KnownFile> known;
    qint64 id = 0;
    for (const ScannedFile &file : result.files)
        known.append({++id, file.path, file.size, file.mtimeMs, contentHash(file.path).hash});
    return known;
}

// Whether this process reads directories regardless of their mode (root, CAP_DAC_OVERRIDE).
bool ignoresPermissions(const QString &lockedDir)
{
    DIR *dir = ::opendir(encodeFileName(lockedDir).constData());
    if (!dir)
        return false;
    ::closedir(dir);
    return true;
}

} // namespace

class TestScanner : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_tmp;
    QString m_root;  // canonical path of a fresh directory per test

    QString path(const QString &relative) const { return m_root + QLatin1Char('/') + relative; }

private slots:
    void init()
    {
        QVERIFY(m_tmp.isValid());
        const QString dir = m_tmp.path() + QLatin1Char('/') + QString::fromLatin1(QTest::currentTestFunction());
        QVERIFY(QDir().mkpath(dir));
        m_root = canonicalPath(dir);
        QVERIFY(!m_root.isEmpty());
    }

    void fileNameEscapingRoundTrips()
    {
        const QList<QByteArray> names = {
            "plain.jpg",
            "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xb7.jpg",  // valid UTF-8 incl. a 4-byte emoji
            "caf\xe9.jpg",                                              // Latin-1 byte
            "\xff\xfe\x80\xc0\xaf",                                     // stray and overlong bytes
            "\xed\xa0\x80surrogate",                                    // UTF-8-encoded surrogate (invalid)
            "\xef\x9e\x80real-private-use",                             // a genuine U+F780: must stay distinct
            "cut\xe6\x97",                                              // a sequence cut short
        };
        for (const QByteArray &bytes : names) {
            const QString decoded = decodeFileName(bytes);
            QCOMPARE(encodeFileName(decoded), bytes);
        }
        // Valid UTF-8 decodes exactly as Qt does, so ordinary paths stay ordinary.
        QCOMPARE(decodeFileName(names[1]), QString::fromUtf8(names[1]));
        QVERIFY(isPlainQtPath(decodeFileName(names[1])));
        QVERIFY(!isPlainQtPath(decodeFileName(names[2])));
        // Two different byte strings never decode to the same QString.
        QVERIFY(decodeFileName("\xef\x9e\x80") != decodeFileName("\x80"));
    }

    void nestedDirectories()
    {
        writeFile(path("top.jpg"), imageBytes("JPEG"));
        writeFile(path("a/one.png"), imageBytes("PNG"));
        writeFile(path("a/b/two.jpg"), imageBytes("JPEG"));
        writeFile(path("a/b/c/three.gif"), QByteArray("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 13));
        writeFile(path("a/b/c/notes.txt"), "just some text\n");
        QDir().mkpath(path("empty/deeper"));

        const ScanResult result = scan({m_root});
        QVERIFY(!result.cancelled);
        QVERIFY(result.errors.isEmpty());
        QStringList paths = pathsOf(result);
        paths.sort();
        QCOMPARE(paths, QStringList({path("a/b/c/three.gif"), path("a/b/two.jpg"), path("a/one.png"), path("top.jpg")}));
        // Walk order: a directory's files by name, then its subdirectories.
        QCOMPARE(result.files.first().path, path("top.jpg"));

        const ScannedFile *png = findFile(result, path("a/one.png"));
        QVERIFY(png);
        QCOMPARE(toString(png->kind), toString(MediaKind::Image));
        QCOMPARE(png->mimeType, QStringLiteral("image/png"));
        QCOMPARE(png->size, QFileInfo(png->path).size());
        QCOMPARE(png->mtimeMs, QFileInfo(png->path).lastModified().toMSecsSinceEpoch());
        QVERIFY(result.directories.contains(path("empty/deeper")));
        QCOMPARE(result.directories.size(), 6);  // root, a, a/b, a/b/c, empty, empty/deeper

        // A root given in a non-canonical spelling still yields canonical paths.
        const ScanResult again = scan({m_root + QStringLiteral("/a/../a/")});
        QVERIFY(pathsOf(again).contains(path("a/b/two.jpg")));
        // A file given as a root is listed on its own.
        QCOMPARE(pathsOf(scan({path("a/one.png")})), QStringList({path("a/one.png")}));
    }

    void hiddenFilesAndDirectories()
    {
        writeFile(path("visible.jpg"), imageBytes("JPEG"));
        writeFile(path(".hidden.jpg"), imageBytes("JPEG"));
        writeFile(path(".cache/inside.jpg"), imageBytes("JPEG"));
        writeFile(path("sub/.also-hidden.png"), imageBytes("PNG"));

        QCOMPARE(pathsOf(scan({m_root})), QStringList({path("visible.jpg")}));

        ScanOptions all;
        all.skipHidden = false;
        QStringList paths = pathsOf(scan({m_root}, all));
        paths.sort();
        QCOMPARE(paths, QStringList({path(".cache/inside.jpg"), path(".hidden.jpg"), path("sub/.also-hidden.png"),
                                     path("visible.jpg")}));
        // A hidden directory named as a root is scanned: the user asked for it.
        QCOMPARE(pathsOf(scan({path(".cache")})), QStringList({path(".cache/inside.jpg")}));
    }

    void ignorePatterns()
    {
        writeFile(path("keep.jpg"), imageBytes("JPEG"));
        writeFile(path("partial.tmp"), imageBytes("JPEG"));  // an image by content, ignored by name
        writeFile(path("UPPER.TMP"), imageBytes("JPEG"));    // patterns ignore case
        writeFile(path("node_modules/pkg/logo.png"), imageBytes("PNG"));
        writeFile(path("sub/.thumbnails/normal/t.png"), imageBytes("PNG"));
        writeFile(path("sub/node_modules_not.png"), imageBytes("PNG"));  // a name, not a prefix

        ScanOptions options;
        options.skipHidden = false;
        options.ignorePatterns = {QStringLiteral("*.tmp"), QStringLiteral("node_modules"), QStringLiteral(".thumbnails")};
        QStringList paths = pathsOf(scan({m_root}, options));
        paths.sort();
        QCOMPARE(paths, QStringList({path("keep.jpg"), path("sub/node_modules_not.png")}));

        const NameFilter filter(options);
        QVERIFY(filter.isIgnored(QStringLiteral("node_modules")));
        QVERIFY(filter.isIgnored(QStringLiteral("x.TMP")));
        QVERIFY(!filter.isIgnored(QStringLiteral("photo.jpg")));
        QVERIFY(!filter.isIgnored(QStringLiteral(".hidden")));  // skipHidden is off here
        QVERIFY(NameFilter(ScanOptions()).isIgnored(QStringLiteral(".hidden")));
    }

    void symlinks()
    {
        writeFile(path("a/photo.png"), imageBytes("PNG"));
        writeFile(path("outside/far.jpg"), imageBytes("JPEG"));
        writeFile(path("lib/own.jpg"), imageBytes("JPEG"));
        // A loop: a directory link pointing at its parent, and one at the library root.
        QVERIFY(QFile::link(QStringLiteral(".."), path("a/loop")));
        QVERIFY(QFile::link(m_root, path("a/root-again")));
        // A second name for a file, a link out of the library, and a dangling link.
        QVERIFY(QFile::link(QStringLiteral("a/photo.png"), path("alias.png")));
        QVERIFY(QFile::link(path("outside"), path("lib/ext")));
        QVERIFY(QFile::link(path("nowhere.jpg"), path("lib/dangling.jpg")));

        QElapsedTimer timer;
        timer.start();
        const ScanResult result = scan({path("a"), path("lib")});
        QVERIFY(timer.elapsed() < 10000);
        QVERIFY(result.errors.isEmpty());
        QStringList paths = pathsOf(result);
        paths.sort();
        // Every file once, under its canonical path; the loop is not followed again.
        QCOMPARE(paths, QStringList({path("a/photo.png"), path("lib/own.jpg"), path("outside/far.jpg")}));
        // Each directory once: a, root (through the link), lib, outside.
        QCOMPARE(result.directories.size(), QSet<QString>(result.directories.cbegin(), result.directories.cend()).size());

        // The whole root, with the file alias: still each file once.
        paths = pathsOf(scan({m_root}));
        QCOMPARE(paths.size(), 3);
        QCOMPARE(paths.count(path("a/photo.png")), 1);

        ScanOptions noLinks;
        noLinks.followSymlinks = false;
        paths = pathsOf(scan({path("a"), path("lib")}, noLinks));
        paths.sort();
        QCOMPARE(paths, QStringList({path("a/photo.png"), path("lib/own.jpg")}));
    }

    void unreadableDirectory()
    {
        writeFile(path("ok/fine.jpg"), imageBytes("JPEG"));
        writeFile(path("locked/secret.jpg"), imageBytes("JPEG"));
        const QString locked = path("locked");
        QVERIFY(::chmod(encodeFileName(locked).constData(), 0) == 0);
        const auto restore = qScopeGuard([&] { ::chmod(encodeFileName(locked).constData(), 0755); });

        const ScanResult result = scan({path("missing-root"), m_root});
        QVERIFY(!result.cancelled);
        QVERIFY(pathsOf(result).contains(path("ok/fine.jpg")));
        QCOMPARE(result.errors.first().path, path("missing-root"));
        QCOMPARE(result.errors.first().reason, QStringLiteral("does not exist"));
        if (ignoresPermissions(locked)) {
            // Running as root: mode 000 does not stop us, so the scan simply reads it.
            QVERIFY(pathsOf(result).contains(path("locked/secret.jpg")));
            QCOMPARE(result.errors.size(), 1);
        } else {
            QVERIFY(!pathsOf(result).contains(path("locked/secret.jpg")));
            QCOMPARE(result.errors.size(), 2);
            QCOMPARE(result.errors.last().path, locked);
            QCOMPARE(result.errors.last().reason, QStringLiteral("permission denied"));
        }
    }

    void weirdNames()
    {
        const QByteArray jpeg = imageBytes("JPEG", Qt::green);
        const QByteArray root = encodeFileName(m_root);
        writeRaw(root + "/with space.jpg", jpeg);
        writeRaw(root + "/new\nline.jpg", jpeg);
        writeRaw(root + "/caf\xe9 latin1.jpg", jpeg);       // not UTF-8
        QVERIFY(::mkdir(QByteArray(root + "/dir\xff\xfe").constData(), 0755) == 0);  // nor is this directory
        writeRaw(root + "/dir\xff\xfe/inner \xe9.jpg", jpeg);
        // Qt cannot delete what it cannot name: clean up by bytes, or QTemporaryDir fails.
        const auto cleanup = qScopeGuard([&root] {
            ::unlink(QByteArray(root + "/caf\xe9 latin1.jpg").constData());
            ::unlink(QByteArray(root + "/dir\xff\xfe/inner \xe9.jpg").constData());
            ::rmdir(QByteArray(root + "/dir\xff\xfe").constData());
        });

        const ScanResult result = scan({m_root});
        QVERIFY(result.errors.isEmpty());
        QCOMPARE(result.files.size(), 4);
        QSet<QByteArray> native;
        for (const ScannedFile &file : result.files) {
            native.insert(encodeFileName(file.path));
            QCOMPARE(toString(file.kind), toString(MediaKind::Image));  // classification read the content
            QCOMPARE(file.size, qint64(jpeg.size()));
            // Openable through the returned path, by every consumer in core/media.
            QFile f;
            QString error;
            QVERIFY2(openForReading(f, file.path, &error), qPrintable(error));
            QCOMPARE(f.readAll(), jpeg);
            QVERIFY(contentHash(file.path).ok());
            const DecodedImage decoded = decodeImage(file.path);
            QVERIFY2(decoded.ok(), qPrintable(decoded.error));
            const QColor pixel = decoded.image.pixelColor(4, 4);
            QVERIFY(pixel.green() > 200 && pixel.red() < 60);
        }
        QCOMPARE(native, QSet<QByteArray>({root + "/with space.jpg", root + "/new\nline.jpg",
                                           root + "/caf\xe9 latin1.jpg", root + "/dir\xff\xfe/inner \xe9.jpg"}));
    }

    void contentClassification()
    {
        writeFile(path("photo.txt"), imageBytes("JPEG"));  // a JPEG with the wrong name
        writeFile(path("fake.jpg"), "this is not a picture\n");
        writeFile(path("empty.jpg"), QByteArray());
        writeFile(path("empty.dat"), QByteArray());
        QByteArray noise(4096, Qt::Uninitialized);
        for (int i = 0; i < noise.size(); ++i)
            noise[i] = char((i * 7919 + 13) % 251);
        writeFile(path("clip.mp4"), noise);  // unknown content: the name decides
        writeFile(path("blob.bin"), noise);
        writeFile(path("readme.md"), "# notes\n");

        const ScanResult result = scan({m_root});
        QStringList paths = pathsOf(result);
        paths.sort();
        QCOMPARE(paths, QStringList({path("clip.mp4"), path("empty.jpg"), path("fake.jpg"), path("photo.txt")}));

        const ScannedFile *jpeg = findFile(result, path("photo.txt"));
        QCOMPARE(toString(jpeg->kind), toString(MediaKind::Image));
        QCOMPARE(jpeg->mimeType, QStringLiteral("image/jpeg"));
        const ScannedFile *fake = findFile(result, path("fake.jpg"));
        QCOMPARE(toString(fake->kind), toString(MediaKind::Other));     // listed so that an error can be recorded,
        QCOMPARE(toString(fake->nameKind), toString(MediaKind::Image)); // because its name claims an image
        QCOMPARE(fake->mimeType, QStringLiteral("text/plain"));
        const ScannedFile *empty = findFile(result, path("empty.jpg"));
        QCOMPARE(toString(empty->kind), toString(MediaKind::Other));
        QCOMPARE(empty->size, qint64(0));
        QCOMPARE(toString(findFile(result, path("clip.mp4"))->kind), toString(MediaKind::Video));

        // The same via detectMediaType directly.
        QCOMPARE(toString(detectMediaType(path("photo.txt")).kind), toString(MediaKind::Image));
        QCOMPARE(toString(detectMediaType(path("fake.jpg")).kind), toString(MediaKind::Other));
        QCOMPARE(toString(detectMediaType(QStringLiteral("x.png"), imageBytes("PNG")).kind), toString(MediaKind::Image));
        QCOMPARE(toString(kindOfMimeType(QStringLiteral("video/quicktime"))), toString(MediaKind::Video));
        QCOMPARE(toString(kindOfMimeType(QStringLiteral("audio/mpeg"))), toString(MediaKind::Other));
        // Matroska's header (as ffmpeg writes it) says only "a Matroska container": the name
        // decides between a video and an audio file.
        const QByteArray matroska("\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81"
                                  "\x04\x42\xf3\x81\x08\x42\x82\x88matroska\x42\x87\x81\x04\x42\x85\x81\x02",
                                  40);
        QCOMPARE(toString(detectMediaType(QStringLiteral("clip.mkv"), matroska).kind), toString(MediaKind::Video));
        QCOMPARE(toString(detectMediaType(QStringLiteral("song.mka"), matroska).kind), toString(MediaKind::Other));

        // The fast signature checks agree with QMimeDatabase, the authority.
        const QList<QByteArray> heads = {imageBytes("JPEG"), imageBytes("PNG"), QByteArray("GIF89a\x01\x00\x01\x00", 10),
                                         QByteArray("RIFF\x1a\x00\x00\x00WEBPVP8 ", 16),
                                         QByteArray("\x00\x00\x00\x18" "ftypheic\x00\x00\x00\x00mif1heic", 24),
                                         QByteArray("\x00\x00\x00\x14" "ftypqt  \x00\x00\x00\x00qt  ", 20),
                                         QByteArray("\x00\x00\x00\x18" "ftypisom\x00\x00\x02\x00isomiso2", 24)};
        for (const QByteArray &head : heads) {
            const MediaType fast = detectMediaType(QStringLiteral("name.bin"), head);
            const QMimeType authority = QMimeDatabase().mimeTypeForData(head);
            QCOMPARE(fast.mimeType, authority.name());
            QCOMPARE(toString(fast.kind), toString(kindOfMimeType(authority.name())));
            QVERIFY(fast.kind != MediaKind::Other);
        }

        // Types the catalog already knows are not detected again.
        ScanOptions cached;
        QStringList asked;
        bool statsMatch = true;
        cached.knownType = [&](const QString &p, qint64 size, qint64 mtimeMs) -> std::optional<MediaType> {
            asked.append(p);
            statsMatch = statsMatch && size == QFileInfo(p).size()
                         && mtimeMs == QFileInfo(p).lastModified().toMSecsSinceEpoch();
            if (p.endsWith(QLatin1String("fake.jpg")))
                return MediaType{MediaKind::Image, MediaKind::Image, QStringLiteral("image/jpeg"), {}};
            return std::nullopt;
        };
        const ScanResult withCache = scan({m_root}, cached);
        QCOMPARE(asked.size(), 7);  // every regular file
        QVERIFY(statsMatch);        // asked with the file's own size and mtime
        QCOMPARE(toString(findFile(withCache, path("fake.jpg"))->kind), toString(MediaKind::Image));
        QCOMPARE(toString(findFile(withCache, path("photo.txt"))->kind), toString(MediaKind::Image));

        ScanOptions byName;
        byName.detectByContent = false;  // fast mode: trusts extensions
        paths = pathsOf(scan({m_root}, byName));
        QVERIFY(!paths.contains(path("photo.txt")));
        QCOMPARE(toString(findFile(scan({m_root}, byName), path("fake.jpg"))->kind), toString(MediaKind::Image));

        ScanOptions everything;
        everything.includeOther = true;
        QCOMPARE(scan({m_root}, everything).files.size(), 7);

        ScanOptions bigOnly;
        bigOnly.minFileSize = 100;
        paths = pathsOf(scan({m_root}, bigOnly));
        paths.sort();
        QCOMPARE(paths, QStringList({path("clip.mp4"), path("photo.txt")}));
    }

    void changeDetection()
    {
        writeFile(path("same.jpg"), imageBytes("JPEG", Qt::red));
        writeFile(path("grow.jpg"), imageBytes("JPEG", Qt::green));
        writeFile(path("rewrite.png"), imageBytes("PNG", Qt::blue));
        writeFile(path("touch.png"), imageBytes("PNG", Qt::yellow));
        writeFile(path("gone.jpg"), imageBytes("JPEG", Qt::cyan));
        writeFile(path("rename-me.jpg"), imageBytes("JPEG", Qt::magenta));
        writeFile(path("a/travel.png"), imageBytes("PNG", Qt::gray, {30, 30}));
        const ScanResult before = scan({m_root});
        QCOMPARE(before.files.size(), 7);
        const QList<KnownFile> known = knownFrom(before);
        for (const KnownFile &file : known)  // so that new.png cannot pass for a moved file
            QVERIFY(file.size != imageBytes("PNG", Qt::darkRed, {40, 20}).size());

        // Change the library.
        writeFile(path("new.png"), imageBytes("PNG", Qt::darkRed, {40, 20}));
        {
            QFile f(path("grow.jpg"));
            QVERIFY(f.open(QIODevice::Append));
            f.write("trailing bytes");
        }
        const QDateTime later = QDateTime::currentDateTimeUtc().addSecs(60);
        QByteArray other = imageBytes("PNG", Qt::blue);
        other[other.size() / 2] = char(other[other.size() / 2] ^ 0x55);  // same size, different content
        writeFile(path("rewrite.png"), other);
        setMtime(path("rewrite.png"), later);
        setMtime(path("touch.png"), later);  // same content, new time
        QVERIFY(QFile::remove(path("gone.jpg")));
        QVERIFY(QFile::rename(path("rename-me.jpg"), path("renamed.jpg")));
        QDir().mkpath(path("b/c"));
        QVERIFY(QFile::rename(path("a/travel.png"), path("b/c/travel.png")));

        const ScanResult after = scan({m_root});
        QStringList hashed;
        ChangeOptions options;
        options.hash = [&hashed](const QString &p, QString *error) {
            hashed.append(p);
            const ContentHash h = contentHash(p);
            *error = h.error;
            return h.hash;
        };
        const ChangeSet changes = detectChanges(known, after, options);
        QVERIFY(!changes.cancelled);
        QVERIFY(changes.errors.isEmpty());
        QCOMPARE(pathsOf(changes.unchanged), QStringList({path("same.jpg")}));
        QCOMPARE(pathsOf(changes.added), QStringList({path("new.png")}));
        QCOMPARE(pathsOf(changes.deleted), QStringList({path("gone.jpg")}));
        QVERIFY(changes.unreachable.isEmpty());
        QCOMPARE(changes.modified.size(), 2);
        QStringList modified;
        for (const FileUpdate &u : changes.modified) {
            modified.append(u.after.path);
            QCOMPARE(u.before.path, u.after.path);
            QVERIFY(!u.after.contentHash.isEmpty());            // hashed for the catalog
            QVERIFY(u.after.contentHash != u.before.contentHash);
        }
        modified.sort();
        QCOMPARE(modified, QStringList({path("grow.jpg"), path("rewrite.png")}));
        QCOMPARE(changes.touched.size(), 1);
        QCOMPARE(changes.touched.first().after.path, path("touch.png"));
        QCOMPARE(changes.touched.first().after.mtimeMs, later.toMSecsSinceEpoch());

        // Moves keep their identity (the catalog id travels with them).
        QCOMPARE(changes.moved.size(), 2);
        QMap<QString, QString> moves;
        for (const FileUpdate &m : changes.moved) {
            moves.insert(m.before.path, m.after.path);
            QCOMPARE(m.after.contentHash, m.before.contentHash);
            const KnownFile *original = nullptr;
            for (const KnownFile &k : known) {
                if (k.path == m.before.path)
                    original = &k;
            }
            QCOMPARE(m.before.id, original->id);
        }
        QCOMPARE(moves.value(path("rename-me.jpg")), path("renamed.jpg"));
        QCOMPARE(moves.value(path("a/travel.png")), path("b/c/travel.png"));

        // Unchanged files are never read.
        QVERIFY(!hashed.contains(path("same.jpg")));
        hashed.sort();
        QCOMPARE(hashed, QStringList({path("b/c/travel.png"), path("grow.jpg"), path("new.png"), path("renamed.jpg"),
                                      path("rewrite.png"), path("touch.png")}));

        // Lazy mode: only what detection needs (size matches a deleted file, or same size
        // with a new time). new.png and grow.jpg are left to the indexer.
        hashed.clear();
        options.hashNewAndModified = false;
        const ChangeSet lazy = detectChanges(known, after, options);
        QCOMPARE(lazy.moved.size(), 2);
        QCOMPARE(pathsOf(lazy.added), QStringList({path("new.png")}));
        QVERIFY(!hashed.contains(path("new.png")));
        QVERIFY(!hashed.contains(path("grow.jpg")));
        QVERIFY(hashed.contains(path("renamed.jpg")));
        QVERIFY(hashed.contains(path("touch.png")));
    }

    void moveChoosesTheSameName()
    {
        // A file moved to another folder while a copy of it appears elsewhere under
        // another name: the one with the original name is the move, the copy is new.
        const QByteArray bytes = imageBytes("JPEG", Qt::darkGreen);
        writeFile(path("old/IMG_0001.jpg"), bytes);
        const QList<KnownFile> known = knownFrom(scan({m_root}));
        QVERIFY(QFile::remove(path("old/IMG_0001.jpg")));
        writeFile(path("a-copy.jpg"), bytes);
        writeFile(path("new/IMG_0001.jpg"), bytes);

        const ChangeSet changes = detectChanges(known, scan({m_root}));
        QCOMPARE(changes.moved.size(), 1);
        QCOMPARE(changes.moved.first().after.path, path("new/IMG_0001.jpg"));
        QCOMPARE(pathsOf(changes.added), QStringList({path("a-copy.jpg")}));
        QVERIFY(changes.deleted.isEmpty());
    }

    void unreachableIsNotDeleted()
    {
        writeFile(path("drive/photo.jpg"), imageBytes("JPEG"));
        writeFile(path("home/photo2.jpg"), imageBytes("JPEG", Qt::blue));
        const QList<KnownFile> known = knownFrom(scan({path("drive"), path("home")}));
        // The external drive is unplugged: its root is gone.
        QVERIFY(QDir(path("drive")).removeRecursively());
        const ScanResult after = scan({path("drive"), path("home")});
        QCOMPARE(after.errors.size(), 1);
        const ChangeSet changes = detectChanges(known, after);
        QVERIFY(changes.deleted.isEmpty());
        QCOMPARE(pathsOf(changes.unreachable), QStringList({path("drive/photo.jpg")}));
        QCOMPARE(pathsOf(changes.unchanged), QStringList({path("home/photo2.jpg")}));
    }

    void contentHashScheme()
    {
        const QByteArray small = imageBytes("PNG");
        writeFile(path("small.png"), small);
        QCOMPARE(contentHash(path("small.png")).hash, contentHashOfData(small));
        QCOMPARE(contentHash(path("small.png")).hash.size(), 64);
        // Appending a byte changes the hash (the size is part of it).
        QVERIFY(contentHashOfData(small + 'x') != contentHashOfData(small));

        // A large file (sampled): a change inside a sample changes the hash, and the file
        // and in-memory variants agree.
        QByteArray big(int(contentHashWholeFileLimit + 3 * contentHashSampleSize), 'a');
        for (qsizetype i = 0; i < big.size(); i += 4096)
            big[i] = char(i / 4096);
        writeFile(path("big.bin"), big);
        const QString bigHash = contentHash(path("big.bin")).hash;
        QCOMPARE(bigHash, contentHashOfData(big));
        QByteArray edited = big;
        edited[big.size() / 2] = 'Z';  // inside the middle sample
        QVERIFY(contentHashOfData(edited) != bigHash);
        QVERIFY(QFile::remove(path("big.bin")));

        const ContentHash missing = contentHash(path("nope.bin"));
        QVERIFY(!missing.ok());
        QCOMPARE(missing.error, QStringLiteral("file not found"));
    }

    void cancellation()
    {
        for (int i = 0; i < 20; ++i)
            writeFile(path(QStringLiteral("d%1/p.jpg").arg(i, 2, 10, QLatin1Char('0'))), imageBytes("JPEG"));
        int calls = 0;
        qint64 lastDirectories = 0;
        const ScanResult result = scan({m_root}, {}, [&](const ScanProgress &progress) {
            lastDirectories = progress.directories;
            return ++calls < 3;
        });
        QCOMPARE(lastDirectories, 3);
        QVERIFY(result.cancelled);
        QCOMPARE(calls, 3);
        QVERIFY(result.files.size() < 20);

        const ScanResult full = scan({m_root});
        QCOMPARE(full.files.size(), 20);
        ChangeOptions options;
        int hashes = 0;
        options.progress = [&hashes](const HashProgress &p) {
            if (p.done >= 5)
                return false;
            ++hashes;
            return true;
        };
        const ChangeSet changes = detectChanges({}, full, options);
        QVERIFY(changes.cancelled);
        QCOMPARE(hashes, 5);
    }

    void watcherDebounces()
    {
        WatchOptions options;
        options.debounceMs = 500;
        FileWatcher watcher(options);
        QDir().mkpath(path("sub"));
        QVERIFY(watcher.setRoots({m_root}).isEmpty());
        QCOMPARE(watcher.watchedDirectories(), QStringList({m_root, path("sub")}));
        QSignalSpy spy(&watcher, &FileWatcher::changed);

        // A burst of files, faster than the debounce.
        QElapsedTimer sinceLast;
        for (int i = 0; i < 6; ++i) {
            writeFile(path(QStringLiteral("burst%1.jpg").arg(i)), imageBytes("JPEG"));
            sinceLast.start();
            QTest::qWait(30);
        }
        QVERIFY(spy.wait(5000));
        QVERIFY2(sinceLast.elapsed() >= options.debounceMs - 50, "fired before the debounce elapsed");
        QTest::qWait(3 * options.debounceMs);
        QCOMPARE(spy.count(), 1);  // one signal for the whole burst
        QCOMPARE(spy.first().first().toStringList(), QStringList({m_root}));

        // A new subtree is watched from now on, and reported whole.
        QVERIFY(QDir().mkpath(path("new/deep/er")));
        QVERIFY(spy.wait(5000));
        const QStringList created = spy.last().first().toStringList();
        QVERIFY(created.contains(m_root));
        QVERIFY(created.contains(path("new")));
        QVERIFY(created.contains(path("new/deep/er")));
        QVERIFY(watcher.watchedDirectories().contains(path("new/deep/er")));

        writeFile(path("new/deep/er/photo.jpg"), imageBytes("JPEG"));
        QVERIFY(spy.wait(5000));
        QCOMPARE(spy.last().first().toStringList(), QStringList({path("new/deep/er")}));

        // Hidden directories are not watched.
        QVERIFY(QDir().mkpath(path(".hidden")));
        QVERIFY(spy.wait(5000));
        QVERIFY(!watcher.watchedDirectories().contains(path(".hidden")));

        // A removed directory is forgotten, and reported as its surviving parent.
        const qsizetype before = spy.size();
        QVERIFY(QDir(path("new")).removeRecursively());
        QVERIFY(spy.wait(5000));
        QTest::qWait(2 * options.debounceMs);
        QVERIFY(!watcher.watchedDirectories().contains(path("new")));
        QVERIFY(!watcher.watchedDirectories().contains(path("new/deep/er")));
        QStringList reported;
        for (qsizetype i = before; i < spy.size(); ++i)
            reported += spy.at(i).first().toStringList();
        QVERIFY(reported.contains(m_root));
        QVERIFY(!reported.contains(path("new")));
        QVERIFY(!reported.contains(path("new/deep")));
    }

    void watcherMaxDelay()
    {
        // Constant activity must not postpone the signal forever.
        WatchOptions options;
        options.debounceMs = 400;
        options.maxDelayMs = 600;
        FileWatcher watcher(options);
        watcher.setRoots({m_root});
        QSignalSpy spy(&watcher, &FileWatcher::changed);
        QElapsedTimer timer;
        timer.start();
        int i = 0;
        while (spy.isEmpty() && timer.elapsed() < 5000) {
            writeFile(path(QStringLiteral("f%1.jpg").arg(i++)), "x");
            QTest::qWait(100);  // more often than the debounce
        }
        QCOMPARE(spy.count(), 1);
        QVERIFY(timer.elapsed() < 3500);  // ~600 ms; without the cap it would wait for 5 s of quiet
    }
};

QTEST_GUILESS_MAIN(TestScanner)
#include "tst_scanner.moc"
