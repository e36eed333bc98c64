// Display thumbnails and their disk cache (engine/thumbnail.h): photos scaled to fit and
// upright, video frames at the asked moment, cache entries that follow the file's content.
#include "engine/thumbnail.h"
#include "support/videogen.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QImage>
#include <QTemporaryDir>
#include <QtTest>

#include <thread>

using namespace unisearch;

class TestThumbnail : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void photoFitsAndKeepsItsShape();
    void videoFrameAtTheMoment();
    void cacheFollowsTheFile();
    void errorsAreSentences();

private:
    QTemporaryDir m_tmp;
    QString m_video;
};

void TestThumbnail::initTestCase()
{
    QVERIFY(m_tmp.isValid());
    // 4 s of red, then 4 s of blue.
    m_video = m_tmp.filePath(QStringLiteral("two-scenes.mp4"));
    const QString error = test::runFfmpeg(
        {QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"), QStringLiteral("color=c=red:s=320x180:r=10:d=4"),
         QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"), QStringLiteral("color=c=blue:s=320x180:r=10:d=4"),
         QStringLiteral("-filter_complex"), QStringLiteral("[0:v][1:v]concat=n=2:v=1[v]"), QStringLiteral("-map"),
         QStringLiteral("[v]"), QStringLiteral("-pix_fmt"), QStringLiteral("yuv420p"), QStringLiteral("-c:v"),
         QStringLiteral("mpeg4"), m_video});
    QVERIFY2(error.isEmpty(), qPrintable(error));
}

void TestThumbnail::photoFitsAndKeepsItsShape()
{
    QImage wide(400, 100, QImage::Format_RGB32);
    wide.fill(Qt::green);
    const QString path = m_tmp.filePath(QStringLiteral("wide.png"));
    QVERIFY(wide.save(path));
    QString error;
    const QImage t = engine::makeThumbnail(path, catalog::ItemType::Image, 0, QSize(120, 120), &error);
    QVERIFY2(!t.isNull(), qPrintable(error));
    QCOMPARE(t.size(), QSize(120, 30));
    // Never enlarged.
    const QImage same = engine::makeThumbnail(path, catalog::ItemType::Image, 0, QSize(1000, 1000), &error);
    QCOMPARE(same.size(), wide.size());
}

void TestThumbnail::videoFrameAtTheMoment()
{
    QString error;
    const QImage first = engine::makeThumbnail(m_video, catalog::ItemType::Video, 1500, QSize(160, 160), &error);
    QVERIFY2(!first.isNull(), qPrintable(error));
    QCOMPARE(first.size(), QSize(160, 90));
    const QColor a = test::meanColor(first, first.rect());
    QVERIFY2(a.red() > 200 && a.blue() < 60, qPrintable(a.name()));
    const QImage second = engine::makeThumbnail(m_video, catalog::ItemType::Video, 6000, QSize(160, 160), &error);
    QVERIFY2(!second.isNull(), qPrintable(error));
    const QColor b = test::meanColor(second, second.rect());
    QVERIFY2(b.blue() > 200 && b.red() < 60, qPrintable(b.name()));
    // A moment past the end (a rounded-up segment end) still gives the last frame.
    QVERIFY(!engine::makeThumbnail(m_video, catalog::ItemType::Video, 8000, QSize(160, 160), &error).isNull());
}

void TestThumbnail::cacheFollowsTheFile()
{
    const QString cacheDir = m_tmp.filePath(QStringLiteral("cache"));
    const engine::ThumbnailCache cache(cacheDir);
    const QString path = m_tmp.filePath(QStringLiteral("changes.png"));
    QImage red(64, 64, QImage::Format_RGB32);
    red.fill(Qt::red);
    QVERIFY(red.save(path));
    QString error;
    const QImage first = cache.thumbnail(path, catalog::ItemType::Image, 0, QSize(32, 32), &error);
    QVERIFY2(!first.isNull(), qPrintable(error));
    const QString entry = cache.entryPath(path, 0, QSize(32, 32));
    QVERIFY(entry.startsWith(cacheDir + QStringLiteral("/thumbnails/")));
    QVERIFY(QFileInfo::exists(entry));
    // Served from the entry: replace its pixels and see them come back.
    QImage marker(32, 32, QImage::Format_RGB32);
    marker.fill(Qt::yellow);
    QVERIFY(marker.save(entry, "png"));
    QCOMPARE(test::meanColor(cache.thumbnail(path, catalog::ItemType::Image, 0, QSize(32, 32)), QRect(0, 0, 32, 32)),
             QColor(Qt::yellow));
    // Other sizes and moments have entries of their own.
    QVERIFY(cache.entryPath(path, 0, QSize(64, 64)) != entry);
    QVERIFY(cache.entryPath(path, 1000, QSize(32, 32)) != entry);
    // The file changes (content, size, mtime): a new entry, the new picture.
    QImage blue(80, 60, QImage::Format_RGB32);
    blue.fill(Qt::blue);
    QVERIFY(blue.save(path));
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadWrite));
    QVERIFY(f.setFileTime(QDateTime::currentDateTime().addSecs(10), QFileDevice::FileModificationTime));
    f.close();
    QVERIFY(cache.entryPath(path, 0, QSize(32, 32)) != entry);
    const QImage changed = cache.thumbnail(path, catalog::ItemType::Image, 0, QSize(32, 32));
    QCOMPARE(changed.size(), QSize(32, 24));
    QCOMPARE(test::meanColor(changed, changed.rect()), QColor(Qt::blue));
    // A damaged entry is made again.
    const QString newEntry = cache.entryPath(path, 0, QSize(32, 32));
    QFile damaged(newEntry);
    QVERIFY(damaged.open(QIODevice::WriteOnly | QIODevice::Truncate));
    damaged.write("not a png");
    damaged.close();
    QCOMPARE(test::meanColor(cache.thumbnail(path, catalog::ItemType::Image, 0, QSize(32, 32)), QRect(0, 0, 32, 24)),
             QColor(Qt::blue));
    QVERIFY(QImage(newEntry).size() == QSize(32, 24));
}

void TestThumbnail::errorsAreSentences()
{
    QString error;
    const QString missing = m_tmp.filePath(QStringLiteral("missing.jpg"));
    QVERIFY(engine::makeThumbnail(missing, catalog::ItemType::Image, 0, QSize(64, 64), &error).isNull());
    QVERIFY(!error.isEmpty());
    error.clear();
    QVERIFY(engine::makeThumbnail(missing, catalog::ItemType::Video, 0, QSize(64, 64), &error).isNull());
    QVERIFY(!error.isEmpty());
    // A cache that cannot be written only costs speed.
    const engine::ThumbnailCache readOnly(QStringLiteral("/proc/unisearch-no-such-dir"));
    QVERIFY(!readOnly.thumbnail(m_video, catalog::ItemType::Video, 0, QSize(64, 64), &error).isNull());
}

QTEST_MAIN(TestThumbnail)
#include "tst_thumbnail.moc"
