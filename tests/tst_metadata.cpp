// Capture metadata (issue 15): the time a photo or video was taken, where, with which camera,
// read from files the test makes with Debian's exiftool and ffmpeg, and stored by `index`:
// - EXIF DateTimeOriginal with OffsetTimeOriginal and SubSecTimeOriginal, without an offset,
//   and the CreateDate (DateTimeDigitized) fallback; GPS, Make, Model, Orientation; a HEIC's
//   Exif block (through libheif: Debian's Exiv2 0.27 does not read HEIF);
// - a video's creation_time (UTC) and Apple's com.apple.quicktime.creationdate (with its
//   offset), and its ISO 6709 location;
// - the file time as the last resort, marked 'file';
// - hostile strings (impossible dates, offsets beyond ±14 h, coordinates out of range) dropped;
// - an older catalog (schema 3, no item_meta) gets its metadata on the next `index` without
//   re-embedding: no image embedded, the vectors and their segment ids unchanged.
#include "catalog/catalog.h"
#include "engine/indexing/metadatastage.h"
#include "media/metadata.h"
#include "support/catalogfixture.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/modelfixture.h"
#include "support/workspace.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <sqlite3.h>

#include <cmath>

using namespace unisearch;

namespace {

using Run = unisearch::test::CliRun;

// Runs a tool (exiftool, ffmpeg) and fails the test with its output when it fails.
bool tool(const QString &program, const QStringList &args)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(program, args);
    if (!p.waitForFinished(120000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        qWarning().noquote() << program << args.join(QLatin1Char(' ')) << "failed:" << p.readAll();
        return false;
    }
    return true;
}

// A JPEG with the given exiftool tag assignments (-TAG=VALUE).
bool jpegWithTags(const QString &path, const QStringList &tags, quint32 seed = 1)
{
    if (!test::randomImage(160, 120, seed).save(path, "JPEG"))
        return false;
    return tags.isEmpty() || tool(QStringLiteral("exiftool"), tags + QStringList{QStringLiteral("-q"),
                                                             QStringLiteral("-overwrite_original"), path});
}

// A one-second MP4 (a colour field) with the given -metadata assignments.
bool videoWithTags(const QString &path, const QStringList &metadata, bool appleKeys)
{
    QStringList args{QStringLiteral("-v"), QStringLiteral("error"), QStringLiteral("-y"), QStringLiteral("-f"),
                     QStringLiteral("lavfi"), QStringLiteral("-i"), QStringLiteral("color=c=teal:s=64x64:d=1"),
                     QStringLiteral("-pix_fmt"), QStringLiteral("yuv420p")};
    if (appleKeys)
        args << QStringLiteral("-movflags") << QStringLiteral("use_metadata_tags");
    for (const QString &m : metadata)
        args << QStringLiteral("-metadata") << m;
    return tool(QStringLiteral("ffmpeg"), args << path);
}

std::int64_t utcMs(const char *iso)
{
    return QDateTime::fromString(QString::fromLatin1(iso), Qt::ISODate).toMSecsSinceEpoch();
}

// Runs SQL on a catalog file, as an older Unisearch or a person with sqlite3 would.
bool execSql(const QString &file, const char *sql)
{
    sqlite3 *db = nullptr;
    bool ok = sqlite3_open(QFile::encodeName(file).constData(), &db) == SQLITE_OK
              && sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
    if (!ok)
        qWarning() << sqlite3_errmsg(db);
    sqlite3_close(db);
    return ok;
}

} // namespace

class TestMetadata : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void hostileStringsAreDropped();
    void exifWithOffsetAndSubSeconds();
    void exifWithoutOffset();
    void createDateWhenNoOriginal();
    void heicExif();
    void videoCreationTimeIsUtc();
    void appleCreationDateKeepsItsOffset();
    void fileTimeIsTheLastResort();
    void indexStoresMetadata();
    void olderCatalogFillsInWithoutReembedding();

private:
    Run run(const QStringList &args);
    void registerModel();
    QString m_cli;
    QTemporaryDir m_shared;
    model::BundleInfo m_bundle;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_photos;
};

void TestMetadata::initTestCase()
{
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    m_bundle = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval", "fixture",
                                     m_shared.filePath(QStringLiteral("models")))
                   .bundle;
}

void TestMetadata::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_photos, QStringLiteral("photos")));
}

void TestMetadata::cleanup()
{
    m_tmp.reset();
}

Run TestMetadata::run(const QStringList &args)
{
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp->path());
    return test::runProgram(m_cli, QStringList{QStringLiteral("--threads"), QStringLiteral("1")} + args, env, 300000);
}

void TestMetadata::registerModel()
{
    QString error;
    QVERIFY2(test::registerActiveModel(m_data, m_bundle, QStringLiteral("fixture"), QStringLiteral("retrieval"), &error),
             qPrintable(error));
}

void TestMetadata::hostileStringsAreDropped()
{
    const std::int64_t jan2 = utcMs("2024-01-02T10:30:00Z");
    QCOMPARE(media::parseExifDateTime("2024:01:02 10:30:00"), std::optional<std::int64_t>(jan2));
    QCOMPARE(media::parseExifDateTime(std::string_view("2024:01:02 10:30:00\0", 20)), std::optional<std::int64_t>(jan2));
    for (const char *bad : {"0000:00:00 00:00:00", "2024:02:30 10:00:00", "2200:01:01 00:00:00",
                            "2024:01:02 24:00:00", "2024:13:01 00:00:00", "    :  :     :  :  ", "2024:01:02",
                            "2024:01:02 10:30:00 and more", "-024:01:02 10:30:00"})
        QVERIFY2(!media::parseExifDateTime(bad), bad);
    QCOMPARE(media::parseUtcOffset("+01:00"), std::optional<int>(60));
    QCOMPARE(media::parseUtcOffset("-0530"), std::optional<int>(-330));
    QCOMPARE(media::parseUtcOffset("+14:00"), std::optional<int>(840));
    for (const char *bad : {"+14:01", "-15:00", "01:00", "+1:00", "+01:60", "", "+aa:bb"})
        QVERIFY2(!media::parseUtcOffset(bad), bad);
    QCOMPARE(media::parseSubSeconds("25"), std::optional<int>(250));
    QVERIFY(!media::parseSubSeconds("1x"));
    const auto iso = media::parseIsoDateTime("2023-07-14T20:00:00.5+0200");
    QVERIFY(iso);
    QCOMPARE(iso->wallMs, utcMs("2023-07-14T20:00:00.500Z"));
    QCOMPARE(iso->offsetMin, std::optional<int>(120));
    QVERIFY(!media::parseIsoDateTime("2023-07-14T20:00:00+99:00"));
    const auto where = media::parseIso6709("+48.8584+002.2945+035.000/");
    QVERIFY(where);
    QCOMPARE(where->lat, 48.8584);
    QCOMPARE(where->lon, 2.2945);
    QVERIFY(!media::parseIso6709("+91.0000+002.0000/"));
    QVERIFY(!media::parseIso6709("48.8584,2.2945"));
}

void TestMetadata::exifWithOffsetAndSubSeconds()
{
    const QString path = m_photos + QStringLiteral("/paris.jpg");
    QVERIFY(jpegWithTags(path, {QStringLiteral("-DateTimeOriginal=2024:01:02 10:30:00"),
                                QStringLiteral("-OffsetTimeOriginal=+01:00"), QStringLiteral("-SubSecTimeOriginal=250"),
                                QStringLiteral("-CreateDate=2020:05:05 05:05:05"), QStringLiteral("-Make=Canon"),
                                QStringLiteral("-Model=Canon EOS R5"), QStringLiteral("-Orientation#=6"),
                                QStringLiteral("-GPSLatitude=48.8584"), QStringLiteral("-GPSLatitudeRef=N"),
                                QStringLiteral("-GPSLongitude=58.2945"), QStringLiteral("-GPSLongitudeRef=W")}));
    QString error;
    const media::CaptureMetadata m = media::readPhotoMetadata(path, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(m.source == media::CaptureSource::Exif);
    const catalog::ItemMeta meta = engine::indexing::readItemMeta(path, catalog::ItemType::Image, 0);
    QCOMPARE(catalog::toString(meta.takenSource), QStringLiteral("exif"));
    QCOMPARE(meta.takenIso(), QStringLiteral("2024-01-02T10:30:00.250+01:00"));
    QCOMPARE(meta.takenUtcMs(), utcMs("2024-01-02T09:30:00.250Z"));
    QVERIFY(meta.gpsLat && meta.gpsLon);
    QVERIFY2(std::abs(*meta.gpsLat - 48.8584) < 1e-4, qPrintable(QString::number(*meta.gpsLat)));
    QVERIFY2(std::abs(*meta.gpsLon + 58.2945) < 1e-4, qPrintable(QString::number(*meta.gpsLon)));  // west
    QCOMPARE(meta.make, QStringLiteral("Canon"));
    QCOMPARE(meta.model, QStringLiteral("Canon EOS R5"));
    QCOMPARE(meta.orientation, std::optional<int>(6));
    QCOMPARE(meta.readerVersion, media::metadataReaderVersion);
}

void TestMetadata::exifWithoutOffset()
{
    const QString path = m_photos + QStringLiteral("/old.jpg");
    QVERIFY(jpegWithTags(path, {QStringLiteral("-DateTimeOriginal=2009:08:07 06:05:04")}));
    const catalog::ItemMeta meta = engine::indexing::readItemMeta(path, catalog::ItemType::Image, 0);
    QCOMPARE(catalog::toString(meta.takenSource), QStringLiteral("exif"));
    QCOMPARE(meta.takenIso(), QStringLiteral("2009-08-07T06:05:04"));  // the wall clock, no zone invented
    QVERIFY(!meta.takenOffsetMin);
    QVERIFY(!meta.gpsLat && !meta.orientation && meta.make.isEmpty());
}

void TestMetadata::createDateWhenNoOriginal()
{
    const QString path = m_photos + QStringLiteral("/scan.jpg");
    QVERIFY(jpegWithTags(path, {QStringLiteral("-CreateDate=2015:03:04 22:10:09"),
                                QStringLiteral("-OffsetTimeDigitized=-05:00")}));
    const catalog::ItemMeta meta = engine::indexing::readItemMeta(path, catalog::ItemType::Image, 0);
    QCOMPARE(catalog::toString(meta.takenSource), QStringLiteral("exif"));
    QCOMPARE(meta.takenIso(), QStringLiteral("2015-03-04T22:10:09-05:00"));
}

void TestMetadata::heicExif()
{
    // A phone's HEIC: heif-enc, then exiftool writes its Exif block.
    const QString png = m_photos + QStringLiteral("/source.png");
    const QString path = m_photos + QStringLiteral("/IMG_0002.heic");
    QVERIFY(test::randomImage(64, 64, 5).save(png));
    QVERIFY(tool(QStringLiteral("heif-enc"), {QStringLiteral("-q"), QStringLiteral("60"), png, QStringLiteral("-o"), path}));
    QVERIFY(tool(QStringLiteral("exiftool"), {QStringLiteral("-q"), QStringLiteral("-overwrite_original"),
                                              QStringLiteral("-DateTimeOriginal=2022:02:03 04:05:06"),
                                              QStringLiteral("-OffsetTimeOriginal=+09:00"),
                                              QStringLiteral("-Make=Apple"), path}));
    QString error;
    const media::CaptureMetadata m = media::readPhotoMetadata(path, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const catalog::ItemMeta meta = engine::indexing::readItemMeta(path, catalog::ItemType::Image, 0);
    QCOMPARE(catalog::toString(meta.takenSource), QStringLiteral("exif"));
    QCOMPARE(meta.takenIso(), QStringLiteral("2022-02-03T04:05:06+09:00"));
    QCOMPARE(meta.make, QStringLiteral("Apple"));
}

void TestMetadata::videoCreationTimeIsUtc()
{
    const QString path = m_photos + QStringLiteral("/clip.mp4");
    QVERIFY(videoWithTags(path, {QStringLiteral("creation_time=2023-07-14T18:00:00Z"),
                                 QStringLiteral("location=+48.8584+002.2945/")},
                          false));
    QString error;
    const media::CaptureMetadata m = media::readVideoMetadata(path, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const catalog::ItemMeta meta = engine::indexing::readItemMeta(path, catalog::ItemType::Video, 0);
    QCOMPARE(catalog::toString(meta.takenSource), QStringLiteral("video"));
    // UTC shown in the machine's zone, whose offset is then known.
    QCOMPARE(meta.takenUtcMs(), utcMs("2023-07-14T18:00:00Z"));
    const int localOffset = QDateTime::fromMSecsSinceEpoch(utcMs("2023-07-14T18:00:00Z"), Qt::LocalTime).offsetFromUtc();
    QCOMPARE(meta.takenOffsetMin, std::optional<int>(localOffset / 60));
    QVERIFY(meta.gpsLat && meta.gpsLon);
    QVERIFY(std::abs(*meta.gpsLat - 48.8584) < 1e-6 && std::abs(*meta.gpsLon - 2.2945) < 1e-6);
}

void TestMetadata::appleCreationDateKeepsItsOffset()
{
    const QString path = m_photos + QStringLiteral("/IMG_0001.mov");
    QVERIFY(videoWithTags(path, {QStringLiteral("creation_time=2023-07-14T18:00:00Z"),
                                 QStringLiteral("com.apple.quicktime.creationdate=2023-07-14T20:00:00+0200"),
                                 QStringLiteral("com.apple.quicktime.make=Apple"),
                                 QStringLiteral("com.apple.quicktime.model=iPhone 15")},
                          true));
    const catalog::ItemMeta meta = engine::indexing::readItemMeta(path, catalog::ItemType::Video, 0);
    QCOMPARE(catalog::toString(meta.takenSource), QStringLiteral("video"));
    QCOMPARE(meta.takenIso(), QStringLiteral("2023-07-14T20:00:00+02:00"));
    QCOMPARE(meta.make, QStringLiteral("Apple"));
    QCOMPARE(meta.model, QStringLiteral("iPhone 15"));
}

void TestMetadata::fileTimeIsTheLastResort()
{
    const QString path = m_photos + QStringLiteral("/plain.png");
    QVERIFY(test::randomImage(64, 48, 3).save(path));
    const std::int64_t mtime = utcMs("2021-12-24T17:45:00Z");
    const catalog::ItemMeta meta = engine::indexing::readItemMeta(path, catalog::ItemType::Image, mtime);
    QCOMPARE(catalog::toString(meta.takenSource), QStringLiteral("file"));
    QCOMPARE(meta.takenUtcMs(), mtime);
    QVERIFY(meta.takenOffsetMin);
    // A file that is not an image at all: no exception, the file time, a reason.
    QFile junk(m_photos + QStringLiteral("/junk.jpg"));
    QVERIFY(junk.open(QIODevice::WriteOnly));
    junk.write(QByteArray(100, 'x'));
    junk.close();
    QString error;
    const media::CaptureMetadata none = media::readPhotoMetadata(junk.fileName(), &error);
    QVERIFY(!none.takenLocalMs);
    QVERIFY(!error.isEmpty());
    QCOMPARE(catalog::toString(engine::indexing::readItemMeta(junk.fileName(), catalog::ItemType::Image, mtime).takenSource), QStringLiteral("file"));
}

void TestMetadata::indexStoresMetadata()
{
    registerModel();
    QVERIFY(jpegWithTags(m_photos + QStringLiteral("/paris.jpg"),
                         {QStringLiteral("-DateTimeOriginal=2024:01:02 10:30:00"),
                          QStringLiteral("-OffsetTimeOriginal=+01:00"), QStringLiteral("-Model=Pixel 8")}));
    QVERIFY(test::randomImage(64, 48, 3).save(m_photos + QStringLiteral("/plain.png")));
    const Run indexed = run({QStringLiteral("index"), m_photos, QStringLiteral("--no-ocr"), QStringLiteral("--json")});
    VERIFY_RUN(indexed, 0);
    QCOMPARE(indexed.json().value(QStringLiteral("embedded")).toInt(), 2);

    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    const auto paris = opened.catalog->itemByPath(m_photos + QStringLiteral("/paris.jpg"));
    const auto plain = opened.catalog->itemByPath(m_photos + QStringLiteral("/plain.png"));
    QVERIFY(paris && plain);
    const auto parisMeta = opened.catalog->itemMeta(paris->id);
    QVERIFY(parisMeta);
    QCOMPARE(parisMeta->takenIso(), QStringLiteral("2024-01-02T10:30:00+01:00"));
    QCOMPARE(parisMeta->model, QStringLiteral("Pixel 8"));
    const auto plainMeta = opened.catalog->itemMeta(plain->id);
    QVERIFY(plainMeta);
    QCOMPARE(catalog::toString(plainMeta->takenSource), QStringLiteral("file"));
    QCOMPARE(plainMeta->takenUtcMs(), plain->mtimeMs);
    QCOMPARE(opened.catalog->countItemsWithCaptureTime(), 1);
    QCOMPARE(opened.catalog->countItemsNeedingMeta(media::metadataReaderVersion), 0);
}

void TestMetadata::olderCatalogFillsInWithoutReembedding()
{
    registerModel();
    for (int i = 0; i < 5; ++i)
        QVERIFY(jpegWithTags(m_photos + QStringLiteral("/img%1.jpg").arg(i),
                             {QStringLiteral("-DateTimeOriginal=2019:06:0%1 12:00:00").arg(i + 1)}, 10 + quint32(i)));
    QVERIFY(test::randomImage(64, 48, 3).save(m_photos + QStringLiteral("/plain.png")));
    const Run first = run({QStringLiteral("index"), m_photos, QStringLiteral("--no-ocr"), QStringLiteral("--json")});
    VERIFY_RUN(first, 0);
    QCOMPARE(first.json().value(QStringLiteral("embedded")).toInt(), 6);

    // What a catalog indexed before migration 4 holds once migrated: no item_meta rows (the
    // migration only creates the table); and rows an older reader wrote, to be read again.
    const QString file = QDir(m_data).filePath(QString::fromLatin1(catalog::Catalog::fileName));
    QVERIFY(execSql(file, "DELETE FROM item_meta WHERE item_id IN (SELECT id FROM items WHERE path LIKE '%/img%'"
                          " AND path NOT LIKE '%img4.jpg');"
                          "UPDATE item_meta SET reader_version = 0, taken_local_ms = 0, taken_source = 'file';"));
    QHash<QString, QList<std::int64_t>> segmentsBefore;
    std::int64_t vectorsBefore = 0;
    {
        catalog::OpenResult opened = catalog::Catalog::open(m_data);
        QVERIFY2(opened, qPrintable(opened.error));
        QCOMPARE(opened.catalog->countItemsNeedingMeta(media::metadataReaderVersion), 6);
        QCOMPARE(opened.catalog->countItemsWithCaptureTime(), 0);
        vectorsBefore = opened.catalog->counts().vectors;
        for (const QFileInfo &fi : QDir(m_photos).entryInfoList(QDir::Files)) {
            const auto item = opened.catalog->itemByPath(fi.filePath());
            QVERIFY(item);
            for (const catalog::Segment &s : opened.catalog->segments(item->id))
                segmentsBefore[fi.fileName()].append(s.id);
        }
    }

    const Run again = run({QStringLiteral("index"), m_photos, QStringLiteral("--no-ocr"), QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    QCOMPARE(again.json().value(QStringLiteral("embedded")).toInt(), 0);  // no model call

    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    QCOMPARE(opened.catalog->countItemsNeedingMeta(media::metadataReaderVersion), 0);
    QCOMPARE(opened.catalog->countItemsWithCaptureTime(), 5);
    QCOMPARE(opened.catalog->counts().vectors, vectorsBefore);
    for (int i = 0; i < 5; ++i) {
        const QString name = QStringLiteral("img%1.jpg").arg(i);
        const auto item = opened.catalog->itemByPath(m_photos + QLatin1Char('/') + name);
        QVERIFY(item);
        const auto meta = opened.catalog->itemMeta(item->id);
        QVERIFY(meta);
        QCOMPARE(meta->takenIso(), QStringLiteral("2019-06-0%1T12:00:00").arg(i + 1));
        QList<std::int64_t> ids;
        for (const catalog::Segment &s : opened.catalog->segments(item->id))
            ids.append(s.id);
        QCOMPARE(ids, segmentsBefore.value(name));
    }
}

QTEST_GUILESS_MAIN(TestMetadata)
#include "tst_metadata.moc"
