// Live photos (engine/indexing/livephoto.h), end to end through unisearch-cli with the
// fixture model, on files the test makes with ffmpeg:
// - a JPEG and a 3-s MP4 of the same name are one item: `status` counts one photo and no
//   video, and a search for the video's picture finds the photo with the moment's times;
//   a second `index` embeds nothing again;
// - a video alone stays a video, and a 12-s video beside a photo of its name stays apart;
// - deleting the video breaks the pair (the photo keeps only its own vector); deleting the
//   photo leaves the video a video of its own;
// - a motion photo (a JPEG with an MP4 appended and GCamera:MicroVideoOffset written by
//   exiftool) is one photo whose embedded video is searchable as its moment.
#include "media/motionphoto.h"
#include "model/bundle.h"
#include "support/catalogfixture.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/modelfixture.h"
#include "support/videogen.h"
#include "support/workspace.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;

class TestLivePhoto : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void photoAndShortVideoAreOneItem();
    void secondIndexEmbedsNothing();
    void deletingTheVideoBreaksThePair();
    void deletingThePhotoLeavesAVideo();
    void motionPhotoVideoIsFound();
    void motionPhotoIsOneItem();

private:
    test::CliRun run(const QStringList &args);
    void makeVideo(const QString &input, double seconds, const QString &path);
    QJsonObject status();
    QJsonObject topHit(const QString &still = {});  // the best result of a search for a still

    QTemporaryDir m_shared;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_phone;
    QString m_still;  // the picture the paired video shows (outside the library)
    QString m_motionStill;  // ... and the one the motion photo's video shows
};

test::CliRun TestLivePhoto::run(const QStringList &args)
{
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp->path());
    env.insert(QStringLiteral("UNISEARCH_PROGRESS_MS"), QStringLiteral("0"));
    return test::runProgram(QStringLiteral(UNISEARCH_CLI_PATH),
                            QStringList{QStringLiteral("--threads"), QStringLiteral("1")} + args, env);
}

// A video of `seconds` showing the picture input (an image file, or a lavfi colour source).
void TestLivePhoto::makeVideo(const QString &input, double seconds, const QString &path)
{
    const bool colour = input.startsWith(QLatin1String("color="));
    QStringList args = colour ? QStringList{QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"), input}
                              : QStringList{QStringLiteral("-loop"), QStringLiteral("1"), QStringLiteral("-i"), input};
    args += {QStringLiteral("-t"), QString::number(seconds), QStringLiteral("-r"), QStringLiteral("10"),
             QStringLiteral("-vf"), QStringLiteral("scale=64:64:flags=neighbor"), QStringLiteral("-pix_fmt"),
             QStringLiteral("yuv420p"), QStringLiteral("-c:v"), QStringLiteral("mpeg4"), QStringLiteral("-q:v"),
             QStringLiteral("2"), path};
    const QString made = test::runFfmpeg(args);
    QVERIFY2(made.isEmpty(), qPrintable(made));
}

QJsonObject TestLivePhoto::status()
{
    const test::CliRun r = run({QStringLiteral("status"), QStringLiteral("--json")});
    if (r.exitCode != 0)
        qWarning("status: %s", qPrintable(r.err));
    return r.json().value(QStringLiteral("index")).toObject();
}

QJsonObject TestLivePhoto::topHit(const QString &still)
{
    const test::CliRun r = run({QStringLiteral("search"), still.isEmpty() ? m_still : still, QStringLiteral("--json")});
    if (r.exitCode != 0)
        qWarning("search: %s", qPrintable(r.err));
    return r.json().value(QStringLiteral("results")).toArray().at(0).toObject();
}

// The library: IMG_0001.JPG (a random picture) + IMG_0001.MP4 (3 s of the fixture's
// img0), clip.mp4 alone (3 s, grey), LONG.JPG + LONG.MP4 (12 s, green).
void TestLivePhoto::initTestCase()
{
    QVERIFY2(!test::ffmpegProgram().isEmpty(), "ffmpeg is needed to make the test videos");
    const model::BundleInfo bundle = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval", "fixture",
                                                           m_shared.filePath(QStringLiteral("models")))
                                         .bundle;
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_phone, QStringLiteral("phone")));
    {
        QString error;
        QVERIFY2(test::registerActiveModel(m_data, bundle, QStringLiteral("fixture"), QStringLiteral("retrieval"), &error),
                 qPrintable(error));
    }
    m_still = m_tmp->filePath(QStringLiteral("still.png"));
    QVERIFY(QFile::copy(test::caseDir(QStringLiteral("retrieval-image")) + QStringLiteral("/img0.png"), m_still));
    QVERIFY(test::randomImage(64, 64, 7).save(m_phone + QStringLiteral("/IMG_0001.JPG"), "JPEG"));
    makeVideo(m_still, 3, m_phone + QStringLiteral("/IMG_0001.MP4"));
    makeVideo(QStringLiteral("color=c=gray:s=64x64"), 3, m_phone + QStringLiteral("/clip.mp4"));
    QVERIFY(test::randomImage(64, 64, 8).save(m_phone + QStringLiteral("/LONG.JPG"), "JPEG"));
    makeVideo(QStringLiteral("color=c=green:s=64x64"), 12, m_phone + QStringLiteral("/LONG.MP4"));
}

void TestLivePhoto::photoAndShortVideoAreOneItem()
{
    const test::CliRun indexed = run({QStringLiteral("index"), m_phone});
    VERIFY_RUN(indexed, 0);
    const QJsonObject s = status();
    QCOMPARE(s.value(QStringLiteral("indexedImages")).toInt(), 2);  // IMG_0001.JPG, LONG.JPG
    QCOMPARE(s.value(QStringLiteral("indexedVideos")).toInt(), 2);  // clip.mp4, LONG.MP4
    QCOMPARE(s.value(QStringLiteral("errorItems")).toInt(), 0);

    const QJsonObject hit = topHit();
    QCOMPARE(hit.value(QStringLiteral("path")).toString(), m_phone + QStringLiteral("/IMG_0001.JPG"));
    QCOMPARE(hit.value(QStringLiteral("type")).toString(), QStringLiteral("image"));
    // The moment of the video: 0-3 s (one segment), not the photo's own (0, 0).
    QCOMPARE(hit.value(QStringLiteral("startMs")).toInteger(), 0);
    QCOMPARE(hit.value(QStringLiteral("livePhotoVideo")).toString(), m_phone + QStringLiteral("/IMG_0001.MP4"));
    QVERIFY2(hit.value(QStringLiteral("endMs")).toInteger() >= 2900,
             qPrintable(QString::number(hit.value(QStringLiteral("endMs")).toInteger())));
}

void TestLivePhoto::secondIndexEmbedsNothing()
{
    const test::CliRun again = run({QStringLiteral("index"), m_phone, QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    QCOMPARE(again.json().value(QStringLiteral("embedded")).toInt(), 0);
    QCOMPARE(again.json().value(QStringLiteral("videosEmbedded")).toInt(), 0);
    QCOMPARE(status().value(QStringLiteral("indexedVideos")).toInt(), 2);
    QCOMPARE(topHit().value(QStringLiteral("path")).toString(), m_phone + QStringLiteral("/IMG_0001.JPG"));
}

void TestLivePhoto::deletingTheVideoBreaksThePair()
{
    QVERIFY(QFile::remove(m_phone + QStringLiteral("/IMG_0001.MP4")));
    VERIFY_RUN(run({QStringLiteral("index"), m_phone}), 0);
    const QJsonObject s = status();
    QCOMPARE(s.value(QStringLiteral("indexedImages")).toInt(), 2);
    QCOMPARE(s.value(QStringLiteral("indexedVideos")).toInt(), 2);
    const QJsonArray hits = run({QStringLiteral("search"), m_still, QStringLiteral("--json")})
                                .json().value(QStringLiteral("results")).toArray();
    QVERIFY(!hits.isEmpty());
    for (const QJsonValue &v : hits) {
        const QJsonObject h = v.toObject();
        if (h.value(QStringLiteral("type")).toString() == QLatin1String("image")) {  // no moment left
            QCOMPARE(h.value(QStringLiteral("endMs")).toInteger(), 0);
            QVERIFY(!h.contains(QStringLiteral("livePhotoVideo")));
        }
    }
    // The video back: paired again.
    makeVideo(m_still, 3, m_phone + QStringLiteral("/IMG_0001.MP4"));
    VERIFY_RUN(run({QStringLiteral("index"), m_phone}), 0);
    QCOMPARE(status().value(QStringLiteral("indexedVideos")).toInt(), 2);
    const QJsonObject hit = topHit();
    QCOMPARE(hit.value(QStringLiteral("path")).toString(), m_phone + QStringLiteral("/IMG_0001.JPG"));
    QVERIFY(hit.value(QStringLiteral("endMs")).toInteger() >= 2900);
}

void TestLivePhoto::deletingThePhotoLeavesAVideo()
{
    QVERIFY(QFile::remove(m_phone + QStringLiteral("/IMG_0001.JPG")));
    VERIFY_RUN(run({QStringLiteral("index"), m_phone}), 0);
    const QJsonObject s = status();
    QCOMPARE(s.value(QStringLiteral("indexedImages")).toInt(), 1);  // LONG.JPG
    QCOMPARE(s.value(QStringLiteral("indexedVideos")).toInt(), 3);  // + IMG_0001.MP4
    const QJsonObject hit = topHit();
    QCOMPARE(hit.value(QStringLiteral("path")).toString(), m_phone + QStringLiteral("/IMG_0001.MP4"));
    QCOMPARE(hit.value(QStringLiteral("type")).toString(), QStringLiteral("video"));
}

// MVIMG_0002.jpg: a JPEG with exiftool's GCamera XMP, then 3 s of the fixture's img1 appended.
void TestLivePhoto::motionPhotoVideoIsFound()
{
    const QString exiftool = QStandardPaths::findExecutable(QStringLiteral("exiftool"));
    QVERIFY2(!exiftool.isEmpty(), "exiftool is needed to write the motion photo's XMP");
    const QString still = m_tmp->filePath(QStringLiteral("still1.png"));
    QVERIFY(QFile::copy(test::caseDir(QStringLiteral("retrieval-image")) + QStringLiteral("/img1.png"), still));
    const QString video = m_tmp->filePath(QStringLiteral("motion.mp4"));
    makeVideo(still, 3, video);
    const QString photo = m_tmp->filePath(QStringLiteral("MVIMG_0002.jpg"));
    QVERIFY(test::randomImage(64, 64, 9).save(photo, "JPEG"));
    QVERIFY(!media::findMotionPhotoVideo(photo));  // a plain JPEG
    QFile mp4(video);
    QVERIFY(mp4.open(QIODevice::ReadOnly));
    const QByteArray bytes = mp4.readAll();
    QCOMPARE(QProcess::execute(exiftool, {QStringLiteral("-q"), QStringLiteral("-overwrite_original"),
                                          QStringLiteral("-XMP-GCamera:MicroVideo=1"),
                                          QStringLiteral("-XMP-GCamera:MicroVideoVersion=1"),
                                          QStringLiteral("-XMP-GCamera:MicroVideoOffset=%1").arg(bytes.size()), photo}),
             0);
    QFile out(photo);
    QVERIFY(out.open(QIODevice::Append));
    const qint64 jpegSize = out.size();
    QCOMPARE(out.write(bytes), qint64(bytes.size()));
    out.close();
    QString error;
    const auto found = media::findMotionPhotoVideo(photo, {}, &error);
    QVERIFY2(found, qPrintable(error));
    QCOMPARE(found->offset, jpegSize);
    QCOMPARE(found->length, qint64(bytes.size()));
    // An offset beyond the file is refused, not read.
    media::MotionPhotoLimits small;
    small.maxVideoBytes = bytes.size() - 1;
    QVERIFY(!media::findMotionPhotoVideo(photo, small, &error));
    QVERIFY2(error.contains(QLatin1String("bytes")), qPrintable(error));
    QVERIFY(QFile::rename(photo, m_phone + QStringLiteral("/MVIMG_0002.jpg")));
    m_motionStill = still;
}

void TestLivePhoto::motionPhotoIsOneItem()
{
    QVERIFY(!m_motionStill.isEmpty());
    VERIFY_RUN(run({QStringLiteral("index"), m_phone}), 0);
    const QJsonObject s = status();
    QCOMPARE(s.value(QStringLiteral("indexedImages")).toInt(), 2);  // LONG.JPG, MVIMG_0002.jpg
    QCOMPARE(s.value(QStringLiteral("indexedVideos")).toInt(), 3);  // no new one
    QCOMPARE(s.value(QStringLiteral("errorItems")).toInt(), 0);
    const QJsonObject hit = topHit(m_motionStill);
    QCOMPARE(hit.value(QStringLiteral("path")).toString(), m_phone + QStringLiteral("/MVIMG_0002.jpg"));
    QCOMPARE(hit.value(QStringLiteral("type")).toString(), QStringLiteral("image"));
    QVERIFY2(hit.value(QStringLiteral("endMs")).toInteger() >= 2900,
             qPrintable(QString::number(hit.value(QStringLiteral("endMs")).toInteger())));
    // Not copied out again while the photo is unchanged; the copy is not left in the cache.
    const test::CliRun again = run({QStringLiteral("index"), m_phone, QStringLiteral("--json")});
    VERIFY_RUN(again, 0);
    QCOMPARE(again.json().value(QStringLiteral("videosEmbedded")).toInt(), 0);
    QCOMPARE(topHit(m_motionStill).value(QStringLiteral("endMs")).toInteger(), hit.value(QStringLiteral("endMs")).toInteger());
    QDirIterator left(m_tmp->filePath(QStringLiteral("cache")), {QStringLiteral("*.mp4")}, QDir::Files,
                      QDirIterator::Subdirectories);
    QVERIFY2(!left.hasNext(), qPrintable(left.hasNext() ? left.next() : QString()));
}

QTEST_MAIN(TestLivePhoto)
#include "tst_livephoto.moc"
