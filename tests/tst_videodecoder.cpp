// VideoDecoder: probing, frame sampling, colour, orientation and bad input. Every video is
// generated here with the ffmpeg program (or libavformat) into a temporary folder.
#include "media/videodecoder.h"
#include "support/fixtures.h"
#include "support/videogen.h"

#include <QElapsedTimer>
#include <QFile>
#include <QHash>
#include <QPainter>
#include <QTemporaryDir>
#include <QtTest>

#include <sys/stat.h>

#include <cmath>
#include <thread>

using namespace unisearch::media;
using namespace unisearch::test;

namespace {

constexpr double kFps = 30.0;
constexpr int kBits = 12;

// The quadrant picture used for orientation and pixel formats: a distinct colour per corner.
const QColor kTopLeft(220, 40, 40), kTopRight(40, 200, 40), kBottomLeft(40, 40, 220), kBottomRight(230, 230, 230);

QImage quadrantImage(int w, int h)
{
    QImage img(w, h, QImage::Format_RGB888);
    QPainter p(&img);
    p.fillRect(0, 0, w / 2, h / 2, kTopLeft);
    p.fillRect(w / 2, 0, w - w / 2, h / 2, kTopRight);
    p.fillRect(0, h / 2, w / 2, h - h / 2, kBottomLeft);
    p.fillRect(w / 2, h / 2, w - w / 2, h - h / 2, kBottomRight);
    return img;
}

int colourDistance(const QColor &a, const QColor &b)
{
    return std::max({std::abs(a.red() - b.red()), std::abs(a.green() - b.green()), std::abs(a.blue() - b.blue())});
}

QString describe(const QColor &c)
{
    return QStringLiteral("(%1,%2,%3)").arg(c.red()).arg(c.green()).arg(c.blue());
}

// Corners of an image, sampled away from the quadrant borders.
struct Corners {
    QColor tl, tr, bl, br;
};
Corners corners(const QImage &img)
{
    const int w = img.width(), h = img.height();
    const int mw = w / 8, mh = h / 8, rw = w / 4, rh = h / 4;
    return {meanColor(img, QRect(mw, mh, rw, rh)), meanColor(img, QRect(w - mw - rw, mh, rw, rh)),
            meanColor(img, QRect(mw, h - mh - rh, rw, rh)), meanColor(img, QRect(w - mw - rw, h - mh - rh, rw, rh))};
}

DecodeOptions withLimits(DecodeLimits limits)
{
    DecodeOptions o;
    o.limits = limits;
    return o;
}

} // namespace

class TestVideoDecoder : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QHash<QString, QString> m_made;
    QString m_error;

    // Makes `name` in the temporary folder with `ffmpeg args... name` once; empty on failure
    // (m_error says why).
    QString make(const QString &name, const QStringList &args)
    {
        if (m_made.contains(name))
            return m_made.value(name);
        const QString path = m_dir.filePath(name);
        m_error = runFfmpeg(args + QStringList{path});
        if (!m_error.isEmpty())
            return {};
        m_made.insert(name, path);
        return path;
    }
    QString writePng(const QString &name, const QImage &img)
    {
        const QString path = m_dir.filePath(name);
        if (!QFile::exists(path))
            img.save(path);
        return path;
    }

    // 60 s of numbered 768x64 frames at 30 fps: H.264 with B-frames, a keyframe every 2 s.
    QString counterClip()
    {
        return make(QStringLiteral("counter.mp4"),
                    {QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"), frameCounterSource(kFps, 60, kBits),
                     QStringLiteral("-c:v"), QStringLiteral("libx264"), QStringLiteral("-preset"), QStringLiteral("veryfast"),
                     QStringLiteral("-g"), QStringLiteral("60"), QStringLiteral("-bf"), QStringLiteral("2"),
                     QStringLiteral("-crf"), QStringLiteral("18")});
    }
    QString counterClipAs(const QString &ext)
    {
        const QString src = counterClip();
        if (src.isEmpty() || ext == QLatin1String("mp4"))
            return src;
        return make(QStringLiteral("counter.") + ext,
                    {QStringLiteral("-i"), src, QStringLiteral("-c"), QStringLiteral("copy")});
    }
    // Opens the counter clip in a container with dec; empty on success, else why not.
    QString openCounterClip(const QString &container, VideoDecoder &dec)
    {
        const QString path = counterClipAs(container);
        if (path.isEmpty())
            return m_error;
        QString infoError;
        const auto info = dec.open(path, &infoError);
        return info.has_value() ? QString() : infoError;
    }
    // What a call to frameAt(t) failed with (DecodeError::None when it gave a frame).
    static DecodeError frameError(VideoDecoder &dec, double t)
    {
        DecodeError code = DecodeError::None;
        dec.frameAt(t, nullptr, &code);
        return code;
    }
    // 10 frames of the quadrant picture.
    QString quadrantClip(const QString &name, const QStringList &codecArgs, int w = 320, int h = 240)
    {
        const QString png = writePng(QStringLiteral("quadrants_%1x%2.png").arg(w).arg(h), quadrantImage(w, h));
        return make(name, QStringList{QStringLiteral("-loop"), QStringLiteral("1"), QStringLiteral("-framerate"),
                                      QStringLiteral("10"), QStringLiteral("-t"), QStringLiteral("1"), QStringLiteral("-i"), png}
                              + codecArgs);
    }
    QString x264Quadrants()
    {
        return quadrantClip(QStringLiteral("quadrants.mp4"),
                            {QStringLiteral("-c:v"), QStringLiteral("libx264"), QStringLiteral("-pix_fmt"),
                             QStringLiteral("yuv420p"), QStringLiteral("-crf"), QStringLiteral("16")});
    }

private slots:
    void initTestCase()
    {
        installFfmpegLogHandler(); // bad inputs below make FFmpeg complain; keep stderr readable
        QVERIFY(m_dir.isValid());
        QVERIFY2(!ffmpegProgram().isEmpty(), "the ffmpeg program is required (scripts/install-deps.sh installs it)");
        QVERIFY2(hasEncoder(QStringLiteral("libx264")), "ffmpeg lacks libx264");
    }

    void samplingTimes()
    {
        const auto u = uniformTimes(16.0, 8);
        QCOMPARE(u.size(), size_t(8));
        QCOMPARE(u.front(), 1.0);
        QCOMPARE(u.back(), 15.0);
        for (size_t i = 1; i < u.size(); ++i)
            QCOMPARE(u[i] - u[i - 1], 2.0);
        QVERIFY(uniformTimes(0, 8).empty());
        QVERIFY(uniformTimes(10, 0).empty());

        // 10 s in 4 s segments: [0,4) [4,8) [8,10): their middles.
        const auto s = segmentTimes(10.0);
        QCOMPARE(s.size(), size_t(3));
        QCOMPARE(s[0], 2.0);
        QCOMPARE(s[1], 6.0);
        QCOMPARE(s[2], 9.0);
        QCOMPARE(segmentTimes(8.0, 4.0).size(), size_t(2));
        QVERIFY(segmentTimes(-1).empty());
    }

    void probe()
    {
        const QString path = counterClip();
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));
        VideoDecoder dec;
        QString infoError;
        const auto info = dec.open(path, &infoError);
        QVERIFY2(info.has_value(), qPrintable(infoError));
        QVERIFY(std::abs(info->durationSec - 60.0) < 0.05);
        QVERIFY(std::abs(info->frameRate - 30.0) < 0.01);
        QCOMPARE(info->width, kBits * 64);
        QCOMPARE(info->height, 64);
        QCOMPARE(info->rotation, 0);
        QCOMPARE(info->codec, QStringLiteral("h264"));
        QCOMPARE(info->pixelFormat, QStringLiteral("yuv420p"));
        QVERIFY(info->hasVideo);
        QVERIFY(!info->hasAudio);
        QVERIFY(std::abs(info->frameCountEstimate - 1800) <= 1);
        QVERIFY(!info->variableFrameRate);

        // With an audio track.
        const QString withAudio = make(QStringLiteral("counter_audio.mp4"),
                                       {QStringLiteral("-i"), path, QStringLiteral("-f"), QStringLiteral("lavfi"),
                                        QStringLiteral("-i"), QStringLiteral("sine=duration=60"), QStringLiteral("-c:v"),
                                        QStringLiteral("copy"), QStringLiteral("-c:a"), QStringLiteral("aac"),
                                        QStringLiteral("-shortest")});
        QVERIFY2(!withAudio.isEmpty(), qPrintable(m_error));
        QString info2Error;
        const auto info2 = dec.open(withAudio, &info2Error);
        QVERIFY2(info2.has_value(), qPrintable(info2Error));
        QVERIFY(info2->hasAudio);
        QVERIFY(info2->hasVideo);
        QVERIFY(std::abs(info2->durationSec - 60.0) < 0.05);
    }

    void seekAccuracy_data()
    {
        QTest::addColumn<QString>("container");
        QTest::newRow("mp4 (full index)") << QStringLiteral("mp4");
        QTest::newRow("mkv (keyframe cues)") << QStringLiteral("mkv");
        QTest::newRow("mpegts (no index, starts at 1.4 s)") << QStringLiteral("ts");
    }
    void seekAccuracy()
    {
        QFETCH(QString, container);
        VideoDecoder dec;
        const QString error = openCounterClip(container, dec);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        // Increasing times, times a hair before/after a frame, exact frame times, and jumps back.
        const std::vector<double> times{0.0, 0.01, 1.0 / 30, 0.5, 0.51, 1.999, 2.0, 2.017, 3.3, 7.77, 13.05,
                                        13.0667, 20.0, 33.3333, 41.9, 42.0, 59.9, 59.95, 12.34, 0.2, 30.0, 29.99};
        for (double t : times) {
            QString fError;
            const auto f = dec.frameAt(t, &fError);
            QVERIFY2(f.has_value(), qPrintable(QStringLiteral("t=%1: %2").arg(t).arg(fError)));
            const int n = readFrameCounter(f->image, kBits);
            QVERIFY2(n >= 0, qPrintable(QStringLiteral("unreadable frame number at t=%1").arg(t)));
            // The reported time is the frame's own, and the frame is the nearest one to t.
            QVERIFY2(std::abs(f->timeSec - n / kFps) < 0.002,
                     qPrintable(QStringLiteral("t=%1: frame %2 reported at %3 s").arg(t).arg(n).arg(f->timeSec)));
            const double lastFrame = 1799 / kFps;
            QVERIFY2(std::abs(n / kFps - std::min(t, lastFrame)) <= 0.5 / kFps + 0.002,
                     qPrintable(QStringLiteral("t=%1: got frame %2 (%3 s)").arg(t).arg(n).arg(n / kFps)));
            QCOMPARE(f->requestedSec, t);
            QCOMPARE(f->image.format(), QImage::Format_RGB888);
        }
    }

    // What a frame tells about the ones after it, which the indexer plans with (a header's
    // duration is only a claim): the next frame's time once decoded, the stream's end.
    void whatFollowsAFrame_data() { seekAccuracy_data(); }
    void whatFollowsAFrame()
    {
        QFETCH(QString, container);
        VideoDecoder dec;
        const QString error = openCounterClip(container, dec);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY(dec.stats().latestFrameSec < 0);
        // 2.01 s: frame 60 (2.0 s) is the nearer; frame 61 had to be decoded to know it.
        QString fError;
        const auto f = dec.frameAt(2.01, &fError);
        QVERIFY2(f.has_value(), qPrintable(fError));
        QCOMPARE(readFrameCounter(f->image, kBits), 60);
        QVERIFY2(std::abs(f->nextSec - 61 / kFps) < 0.002, qPrintable(QString::number(f->nextSec)));
        QVERIFY(!f->lastInStream);
        QVERIFY(dec.stats().latestFrameSec >= 61 / kFps - 0.002);
        // Just past the last frame (59.967 s): that frame, the last in the stream.
        QString lastError;
        const auto last = dec.frameAt(59.99, &lastError);
        QVERIFY2(last.has_value(), qPrintable(lastError));
        QCOMPARE(readFrameCounter(last->image, kBits), 1799);
        QVERIFY(last->lastInStream);
        QVERIFY(last->nextSec < 0);
        // Far past it: no frame, and the latest one decoded still says where the stream ends.
        QString pastError;
        DecodeError pastCode = DecodeError::None;
        const auto past = dec.frameAt(70, &pastError, &pastCode);
        QCOMPARE(pastCode, DecodeError::EndOfStream);
        QVERIFY(std::abs(dec.stats().latestFrameSec - 1799 / kFps) < 0.002);
    }

    void sampleSkipsUnneededFrames()
    {
        const QString path = counterClip();
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));
        const auto times = segmentTimes(60.0); // 15 frames, one per 4 s segment

        VideoDecoder sparse;
        QVERIFY(sparse.open(path).has_value());
        const auto a = sparse.sample(times);
        QVERIFY2(a.ok(), qPrintable(a.errorString));
        QCOMPARE(a.frames.size(), times.size());

        DecodeOptions naiveOptions;
        naiveOptions.allowSeek = false;
        VideoDecoder naive(naiveOptions);
        QVERIFY(naive.open(path).has_value());
        const auto b = naive.sample(times);
        QVERIFY2(b.ok(), qPrintable(b.errorString));

        // Both ways give the same frames; seeking decodes a fraction of them.
        for (size_t i = 0; i < times.size(); ++i) {
            const int n = readFrameCounter(a.frames[i].image, kBits);
            QCOMPARE(n, int(std::lround(times[i] * kFps)));
            QCOMPARE(readFrameCounter(b.frames[i].image, kBits), n);
            QCOMPARE(a.frames[i].timeSec, b.frames[i].timeSec);
        }
        const DecodeStats s = sparse.stats(), ns = naive.stats();
        qInfo("seeking: %lld frames decoded, %lld seeks; naive: %lld frames decoded",
              (long long)s.framesDecoded, (long long)s.seeks, (long long)ns.framesDecoded);
        QVERIFY(s.seeks >= 10);
        QCOMPARE(s.framesConverted, qint64(times.size()));
        QCOMPARE(ns.framesConverted, qint64(times.size()));
        QVERIFY(ns.framesDecoded >= 1700);
        QVERIFY(s.framesDecoded < ns.framesDecoded / 2);
    }

    void outputSizeHint_data()
    {
        QTest::addColumn<int>("maxLongSide");
        QTest::addColumn<int>("maxShortSide");
        QTest::addColumn<QSize>("expected");
        QTest::addColumn<bool>("checkCounter");
        QTest::newRow("long side 384") << 384 << 0 << QSize(384, 32) << true;
        QTest::newRow("short side 32") << 0 << 32 << QSize(384, 32) << false;
        QTest::newRow("never scaled up") << 4000 << 0 << QSize(768, 64) << false;
    }

    void outputSizeHint()
    {
        QFETCH(int, maxLongSide);
        QFETCH(int, maxShortSide);
        QFETCH(QSize, expected);
        QFETCH(bool, checkCounter);
        const QString path = counterClip(); // 768x64
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));
        DecodeOptions o;
        o.maxLongSide = maxLongSide;
        o.maxShortSide = maxShortSide;
        VideoDecoder decoder(o);
        QVERIFY(decoder.open(path).has_value());
        const auto frame = decoder.frameAt(1.0);
        QVERIFY(frame.has_value());
        QCOMPARE(frame->image.size(), expected);
        if (checkCounter)
            QCOMPARE(readFrameCounter(frame->image, kBits), 30);
    }

    void stillSegments()
    {
        // Four fixture frames (32x32), scaled up 8x, each shown for 3 s.
        const QString dir = caseDir(QStringLiteral("retrieval-video"));
        QStringList args;
        QString graph;
        for (int k = 0; k < 4; ++k) {
            args << QStringLiteral("-loop") << QStringLiteral("1") << QStringLiteral("-framerate") << QStringLiteral("30")
                 << QStringLiteral("-t") << QStringLiteral("3") << QStringLiteral("-i")
                 << QStringLiteral("%1/video0_frame%2.png").arg(dir).arg(k);
            graph += QStringLiteral("[%1:v]scale=256:256:flags=neighbor,setsar=1,format=yuv420p[v%1];").arg(k);
        }
        graph += QStringLiteral("[v0][v1][v2][v3]concat=n=4:v=1:a=0[out]");
        args << QStringLiteral("-filter_complex") << graph << QStringLiteral("-map") << QStringLiteral("[out]")
             << QStringLiteral("-c:v") << QStringLiteral("libx264") << QStringLiteral("-crf") << QStringLiteral("16")
             << QStringLiteral("-g") << QStringLiteral("60");
        const QString path = make(QStringLiteral("stills.mp4"), args);
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));

        VideoDecoder dec;
        const auto info = dec.open(path);
        QVERIFY(info.has_value());
        QVERIFY(std::abs(info->durationSec - 12.0) < 0.05);
        const auto sampled = dec.sample(segmentTimes(info->durationSec, 3.0));
        QVERIFY2(sampled.ok(), qPrintable(sampled.errorString));
        QCOMPARE(sampled.frames.size(), size_t(4));
        QImage sources[4];
        for (int k = 0; k < 4; ++k)
            sources[k] = QImage(QStringLiteral("%1/video0_frame%2.png").arg(dir).arg(k)).convertToFormat(QImage::Format_RGB888);
        for (int k = 0; k < 4; ++k) {
            const VideoFrame &f = sampled.frames[size_t(k)];
            QVERIFY(f.timeSec >= 3.0 * k && f.timeSec < 3.0 * (k + 1));
            // Back to the fixture's 32x32 by averaging 8x8 blocks.
            const QImage small = f.image.scaled(32, 32, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
            const double own = meanAbsDiff(small, sources[k]);
            qInfo("segment %d: mean |difference| to its frame %.2f levels", k, own);
            // Tolerance for H.264 at CRF 16 with 4:2:0 chroma on 8x8-pixel blocks.
            QVERIFY2(own < 6.0, qPrintable(QString::number(own)));
            for (int j = 0; j < 4; ++j)
                if (j != k)
                    QVERIFY(meanAbsDiff(small, sources[j]) > own + 10);
        }
    }

    void rotation_data()
    {
        QTest::addColumn<int>("degrees"); // clockwise, to make the picture upright
        QTest::addColumn<bool>("flip");
        QTest::addColumn<bool>("viaLibav"); // else the ffmpeg command line's rotate tag
        // ffmpeg 5.1 has no -display_rotation; "-c copy -metadata:s:v:0 rotate=N" writes a display
        // matrix (ffprobe: "rotation=N") that FFmpeg itself displays N degrees counter-clockwise,
        // i.e. 360 - N clockwise.
        QTest::newRow("tag rotate=90") << 270 << false << false;
        QTest::newRow("tag rotate=180") << 180 << false << false;
        QTest::newRow("tag rotate=270") << 90 << false << false;
        QTest::newRow("90, portrait phone") << 90 << false << true;
        QTest::newRow("270") << 270 << false << true;
        QTest::newRow("mirror") << 0 << true << true;
        QTest::newRow("90 then mirror") << 90 << true << true;
    }
    void rotation()
    {
        QFETCH(int, degrees);
        QFETCH(bool, flip);
        QFETCH(bool, viaLibav);
        const QString src = x264Quadrants();
        QVERIFY2(!src.isEmpty(), qPrintable(m_error));
        const QString path = m_dir.filePath(QStringLiteral("rot_%1_%2_%3.mp4").arg(degrees).arg(flip).arg(viaLibav));
        if (viaLibav) {
            const QString err = remuxWithDisplayMatrix(src, path, degrees, flip);
            QVERIFY2(err.isEmpty(), qPrintable(err));
        } else {
            m_error = runFfmpeg({QStringLiteral("-i"), src, QStringLiteral("-c"), QStringLiteral("copy"),
                                 QStringLiteral("-metadata:s:v:0"), QStringLiteral("rotate=%1").arg((360 - degrees) % 360),
                                 path});
            QVERIFY2(m_error.isEmpty(), qPrintable(m_error));
        }

        VideoDecoder dec;
        QString infoError;
        const auto info = dec.open(path, &infoError);
        QVERIFY2(info.has_value(), qPrintable(infoError));
        const bool swapped = degrees % 180 == 90;
        QCOMPARE(info->width, swapped ? 240 : 320);
        QCOMPARE(info->height, swapped ? 320 : 240);
        QCOMPARE(info->mirrored, flip);
        // A mirror after a rotation is the same as a mirror before the opposite rotation.
        QCOMPARE(info->rotation, flip ? (360 - degrees) % 360 : degrees);
        const auto f = dec.frameAt(0.5);
        QVERIFY(f.has_value());
        QCOMPARE(f->image.width(), info->width);
        QCOMPARE(f->image.height(), info->height);

        // Where each source corner must end up: rotate clockwise, then mirror.
        QColor tl = kTopLeft, tr = kTopRight, bl = kBottomLeft, br = kBottomRight;
        for (int r = 0; r < degrees; r += 90) {
            const QColor oldTl = tl;
            tl = bl;
            bl = br;
            br = tr;
            tr = oldTl;
        }
        if (flip) {
            std::swap(tl, tr);
            std::swap(bl, br);
        }
        const Corners c = corners(f->image);
        const int tolerance = 16;
        QVERIFY2(colourDistance(c.tl, tl) < tolerance, qPrintable(describe(c.tl) + QStringLiteral(" vs ") + describe(tl)));
        QVERIFY2(colourDistance(c.tr, tr) < tolerance, qPrintable(describe(c.tr) + QStringLiteral(" vs ") + describe(tr)));
        QVERIFY2(colourDistance(c.bl, bl) < tolerance, qPrintable(describe(c.bl) + QStringLiteral(" vs ") + describe(bl)));
        QVERIFY2(colourDistance(c.br, br) < tolerance, qPrintable(describe(c.br) + QStringLiteral(" vs ") + describe(br)));

        if (!flip) {
            // ffmpeg's own autorotation (5.1 handles pure rotations) agrees pixel for pixel.
            const QString png = path + QStringLiteral(".png");
            m_error = runFfmpeg({QStringLiteral("-i"), path, QStringLiteral("-frames:v"), QStringLiteral("1"),
                                 QStringLiteral("-pix_fmt"), QStringLiteral("rgb24"), png});
            QVERIFY2(m_error.isEmpty(), qPrintable(m_error));
            const QImage reference(png);
            QCOMPARE(reference.size(), f->image.size());
            QVERIFY(meanAbsDiff(reference, f->image) < 3.0);
        }
    }

    void variableFrameRate()
    {
        // Frames 0-59 at 30 fps, 60-89 at 10 fps, 90-149 at 30 fps again: 7 s.
        const QString path = make(
            QStringLiteral("vfr.mp4"),
            {QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"), frameCounterSource(30, 5, 8, 40, 32),
             QStringLiteral("-vf"), QStringLiteral("setpts='if(lt(N,60),N/30,if(lt(N,90),2+(N-60)/10,5+(N-90)/30))/TB'"),
             QStringLiteral("-fps_mode"), QStringLiteral("passthrough"), QStringLiteral("-c:v"), QStringLiteral("libx264"),
             QStringLiteral("-crf"), QStringLiteral("18"), QStringLiteral("-video_track_timescale"), QStringLiteral("30000")});
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));
        auto timeOf = [](int n) { return n < 60 ? n / 30.0 : n < 90 ? 2 + (n - 60) / 10.0 : 5 + (n - 90) / 30.0; };
        auto intervalAt = [](double t) { return (t >= 2 && t < 5) ? 0.1 : 1 / 30.0; };

        VideoDecoder dec;
        QString infoError;
        const auto info = dec.open(path, &infoError);
        QVERIFY2(info.has_value(), qPrintable(infoError));
        QVERIFY(info->variableFrameRate);
        QVERIFY(std::abs(info->durationSec - 7.0) < 0.1);
        QVERIFY(std::abs(info->frameCountEstimate - 150) <= 1);
        for (double t : {0.5, 1.99, 2.04, 2.06, 3.33, 4.95, 5.0, 5.51, 6.9, 3.0}) {
            QString fError;
            const auto f = dec.frameAt(t, &fError);
            QVERIFY2(f.has_value(), qPrintable(fError));
            const int n = readFrameCounter(f->image, 8);
            QVERIFY(n >= 0);
            QVERIFY2(std::abs(f->timeSec - timeOf(n)) < 0.002,
                     qPrintable(QStringLiteral("frame %1 at %2 s, expected %3 s").arg(n).arg(f->timeSec).arg(timeOf(n))));
            QVERIFY2(std::abs(f->timeSec - t) <= intervalAt(t) / 2 + 0.002,
                     qPrintable(QStringLiteral("t=%1: frame %2 at %3 s").arg(t).arg(n).arg(f->timeSec)));
        }
    }

    void colourRange()
    {
        // Left: grey 200; right: an orange-red. Tagged BT.709 in limited and full range, BT.601 limited.
        QImage img(64, 32, QImage::Format_RGB888);
        const QColor grey(200, 200, 200), warm(200, 60, 40);
        img.fill(grey);
        QPainter(&img).fillRect(32, 0, 32, 32, warm);
        const QString png = writePng(QStringLiteral("range.png"), img);
        auto encode = [&](const QString &name, const QString &matrix, const QString &range, const QString &tag) {
            return make(name, {QStringLiteral("-loop"), QStringLiteral("1"), QStringLiteral("-framerate"), QStringLiteral("10"),
                               QStringLiteral("-t"), QStringLiteral("1"), QStringLiteral("-i"), png, QStringLiteral("-vf"),
                               QStringLiteral("scale=out_color_matrix=%1:out_range=%2,format=yuv420p").arg(matrix, range),
                               QStringLiteral("-colorspace"), tag, QStringLiteral("-color_primaries"), tag,
                               QStringLiteral("-color_trc"), tag, QStringLiteral("-color_range"), range,
                               QStringLiteral("-c:v"), QStringLiteral("libx264"), QStringLiteral("-crf"), QStringLiteral("10")});
        };
        const QString limited709 = encode(QStringLiteral("limited709.mp4"), QStringLiteral("bt709"), QStringLiteral("tv"), QStringLiteral("bt709"));
        const QString full709 = encode(QStringLiteral("full709.mp4"), QStringLiteral("bt709"), QStringLiteral("pc"), QStringLiteral("bt709"));
        const QString limited601 = encode(QStringLiteral("limited601.mp4"), QStringLiteral("bt601"), QStringLiteral("tv"), QStringLiteral("smpte170m"));
        QVERIFY2(!limited709.isEmpty() && !full709.isEmpty() && !limited601.isEmpty(), qPrintable(m_error));

        QColor greys[3], warms[3];
        int i = 0;
        for (const QString &path : {limited709, full709, limited601}) {
            VideoDecoder dec;
            QVERIFY(dec.open(path).has_value());
            QString fError;
            const auto f = dec.frameAt(0.5, &fError);
            QVERIFY2(f.has_value(), qPrintable(fError));
            greys[i] = meanColor(f->image, QRect(8, 8, 16, 16));
            warms[i] = meanColor(f->image, QRect(40, 8, 16, 16));
            qInfo("%s: grey %s, colour %s", qPrintable(QFileInfo(path).fileName()), qPrintable(describe(greys[i])),
                  qPrintable(describe(warms[i])));
            QVERIFY2(colourDistance(greys[i], grey) <= 3, qPrintable(describe(greys[i])));
            QVERIFY2(colourDistance(warms[i], warm) <= 4, qPrintable(describe(warms[i])));
            ++i;
        }
        QVERIFY(colourDistance(greys[0], greys[1]) <= 3);
        QVERIFY(colourDistance(warms[0], warms[1]) <= 3);
    }

    void pixelFormats_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QStringList>("codecArgs");
        QTest::addColumn<QString>("encoder");
        QTest::addColumn<QString>("pixelFormat"); // as the decoder reports it
        auto row = [](const char *name, const char *file, QStringList args, const char *enc, const char *pf) {
            QTest::newRow(name) << QString::fromLatin1(file) << args << QString::fromLatin1(enc) << QString::fromLatin1(pf);
        };
        row("h264 10-bit", "pf_h264_10.mp4", {"-c:v", "libx264", "-pix_fmt", "yuv420p10le"}, "libx264", "yuv420p10le");
        row("h264 4:4:4", "pf_h264_444.mp4", {"-c:v", "libx264", "-pix_fmt", "yuv444p"}, "libx264", "yuv444p");
        row("h264 rgb", "pf_h264rgb.mkv", {"-c:v", "libx264rgb", "-pix_fmt", "rgb24"}, "libx264rgb", "gbrp");
        row("hevc 10-bit", "pf_hevc_10.mp4", {"-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"},
            "libx265", "yuv420p10le");
        row("ffv1 rgb", "pf_ffv1.mkv", {"-c:v", "ffv1", "-pix_fmt", "bgr0"}, "ffv1", "bgr0");
        row("png rgb24", "pf_png.mov", {"-c:v", "png", "-pix_fmt", "rgb24"}, "png", "rgb24");
        row("mjpeg full-range 4:2:2", "pf_mjpeg.avi", {"-c:v", "mjpeg", "-pix_fmt", "yuvj422p", "-q:v", "2"}, "mjpeg", "yuvj422p");
        row("prores 4:2:2 10-bit", "pf_prores.mov", {"-c:v", "prores_ks", "-profile:v", "2", "-pix_fmt", "yuv422p10le"}, "prores_ks", "yuv422p10le");
        row("vp9", "pf_vp9.webm", {"-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-deadline", "realtime", "-cpu-used", "8", "-crf", "20", "-b:v", "0"},
            "libvpx-vp9", "yuv420p");
    }
    void pixelFormats()
    {
        QFETCH(QString, file);
        QFETCH(QStringList, codecArgs);
        QFETCH(QString, encoder);
        QFETCH(QString, pixelFormat);
        // scripts/install-deps.sh installs Debian's ffmpeg, which has every encoder used here.
        QVERIFY2(hasEncoder(encoder), qPrintable(QStringLiteral("ffmpeg lacks the %1 encoder").arg(encoder)));
        const QString path = quadrantClip(file, codecArgs);
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));
        VideoDecoder dec;
        QString infoError;
        const auto info = dec.open(path, &infoError);
        QVERIFY2(info.has_value(), qPrintable(infoError));
        QCOMPARE(info->pixelFormat, pixelFormat);
        QString fError;
        const auto f = dec.frameAt(0.5, &fError);
        QVERIFY2(f.has_value(), qPrintable(fError));
        QCOMPARE(f->image.size(), QSize(320, 240));
        const Corners c = corners(f->image);
        const int tolerance = 12;
        QVERIFY2(colourDistance(c.tl, kTopLeft) < tolerance, qPrintable(describe(c.tl)));
        QVERIFY2(colourDistance(c.tr, kTopRight) < tolerance, qPrintable(describe(c.tr)));
        QVERIFY2(colourDistance(c.bl, kBottomLeft) < tolerance, qPrintable(describe(c.bl)));
        QVERIFY2(colourDistance(c.br, kBottomRight) < tolerance, qPrintable(describe(c.br)));
    }

    void hugeResolution()
    {
        // One 8K UHD frame (a flat colour keeps generation cheap).
        const QString path = make(QStringLiteral("8k.mp4"),
                                  {QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"),
                                   QStringLiteral("color=c=0x3060C0:s=7680x4320:r=1:d=1,format=rgb24"),
                                   QStringLiteral("-vf"), QStringLiteral("scale=out_color_matrix=bt709,format=yuv420p"),
                                   QStringLiteral("-colorspace"), QStringLiteral("bt709"), QStringLiteral("-frames:v"),
                                   QStringLiteral("1"), QStringLiteral("-c:v"), QStringLiteral("libx264"),
                                   QStringLiteral("-preset"), QStringLiteral("ultrafast")});
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));

        DecodeOptions o;
        o.maxLongSide = 480;
        VideoDecoder dec(o);
        QString infoError;
        const auto info = dec.open(path, &infoError);
        QVERIFY2(info.has_value(), qPrintable(infoError));
        QCOMPARE(info->width, 7680);
        QCOMPARE(info->height, 4320);
        QString fError;
        const auto f = dec.frameAt(0, &fError);
        QVERIFY2(f.has_value(), qPrintable(fError));
        QCOMPARE(f->image.size(), QSize(480, 270));
        QVERIFY(colourDistance(meanColor(f->image, f->image.rect()), QColor(0x30, 0x60, 0xC0)) <= 4);

        // The same file against a 4K limit: a clear error before anything is decoded.
        DecodeLimits small;
        small.maxPixels = 3840LL * 2160;
        VideoDecoder limited(withLimits(small));
        QString rError;
        DecodeError rCode = DecodeError::None;
        const auto r = limited.open(path, &rError, &rCode);
        QCOMPARE(rCode, DecodeError::TooLarge);
        QVERIFY(rError.contains(QStringLiteral("7680x4320")));
    }

    void badInput_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<bool>("openMayWork"); // else open() must fail
        for (const char *k : {"missing", "folder", "fifo", "empty", "garbage", "text", "audio only", "mp3 with cover",
                              "moov at end, cut", "subtitles only"})
            QTest::newRow(k) << QString::fromLatin1(k) << false;
        for (const char *k : {"mp4 cut", "mkv cut", "ts cut", "mp4 damaged", "mkv damaged"})
            QTest::newRow(k) << QString::fromLatin1(k) << true;
    }
    void badInput()
    {
        QFETCH(QString, kind);
        QFETCH(bool, openMayWork);
        const QString counter = counterClip();
        QVERIFY2(!counter.isEmpty(), qPrintable(m_error));
        QString path = m_dir.filePath(QStringLiteral("bad_") + QString(kind).replace(QLatin1Char(' '), QLatin1Char('_')));
        DecodeError expected = DecodeError::OpenFailed;
        if (kind == QLatin1String("missing")) {
            path += QStringLiteral(".mp4");
        } else if (kind == QLatin1String("folder")) {
            QVERIFY(QDir().mkpath(path));
        } else if (kind == QLatin1String("fifo")) {
            // Opening a FIFO without a writer blocks forever: must be refused, not opened.
            QVERIFY(::mkfifo(QFile::encodeName(path).constData(), 0600) == 0);
        } else if (kind == QLatin1String("empty")) {
            QFile f(path + QStringLiteral(".mp4"));
            QVERIFY(f.open(QIODevice::WriteOnly));
            path = f.fileName();
        } else if (kind == QLatin1String("garbage")) {
            path += QStringLiteral(".mp4");
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly));
            QByteArray junk(200000, 0);
            quint32 x = 12345;
            for (char &c : junk)
                c = char((x = x * 1664525u + 1013904223u) >> 24);
            f.write(junk);
        } else if (kind == QLatin1String("text")) {
            path += QStringLiteral(".mov");
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("this is not a video\n");
        } else if (kind == QLatin1String("audio only")) {
            path = make(QStringLiteral("audio.m4a"), {QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"),
                                                      QStringLiteral("sine=duration=2"), QStringLiteral("-c:a"), QStringLiteral("aac")});
            expected = DecodeError::NoVideoStream;
        } else if (kind == QLatin1String("mp3 with cover")) {
            QVERIFY2(hasEncoder(QStringLiteral("libmp3lame")), "ffmpeg lacks the libmp3lame encoder");
            const QString cover = writePng(QStringLiteral("cover.png"), quadrantImage(64, 64));
            path = make(QStringLiteral("cover.mp3"),
                        {QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"), QStringLiteral("sine=duration=2"),
                         QStringLiteral("-i"), cover, QStringLiteral("-map"), QStringLiteral("0"), QStringLiteral("-map"),
                         QStringLiteral("1"), QStringLiteral("-c:a"), QStringLiteral("libmp3lame"), QStringLiteral("-c:v"),
                         QStringLiteral("png"), QStringLiteral("-disposition:v"), QStringLiteral("attached_pic")});
            expected = DecodeError::NoVideoStream;
        } else if (kind == QLatin1String("subtitles only")) {
            const QString srt = m_dir.filePath(QStringLiteral("subs.srt"));
            QFile f(srt);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("1\n00:00:00,000 --> 00:00:02,000\nhello\n\n");
            f.close();
            path = make(QStringLiteral("subs.mkv"), {QStringLiteral("-i"), srt});
            expected = DecodeError::NoVideoStream;
        } else if (kind == QLatin1String("moov at end, cut")) {
            // ffmpeg writes the index (moov) after the data unless told to move it: a partial
            // download of such a file has no index at all.
            path += QStringLiteral(".mp4");
            QVERIFY(writeTruncatedCopy(counter, path, 0.5));
        } else if (kind == QLatin1String("mp4 cut")) {
            const QString fast = make(QStringLiteral("counter_faststart.mp4"),
                                      {QStringLiteral("-i"), counter, QStringLiteral("-c"), QStringLiteral("copy"),
                                       QStringLiteral("-movflags"), QStringLiteral("+faststart")});
            QVERIFY2(!fast.isEmpty(), qPrintable(m_error));
            path += QStringLiteral(".mp4");
            QVERIFY(writeTruncatedCopy(fast, path, 0.5));
        } else if (kind == QLatin1String("mkv cut") || kind == QLatin1String("ts cut")) {
            const QString src = counterClipAs(kind.left(kind.indexOf(QLatin1Char(' '))));
            QVERIFY2(!src.isEmpty(), qPrintable(m_error));
            path += QLatin1Char('.') + kind.left(kind.indexOf(QLatin1Char(' ')));
            QVERIFY(writeTruncatedCopy(src, path, 0.5));
        } else if (kind == QLatin1String("mp4 damaged") || kind == QLatin1String("mkv damaged")) {
            const QString src = counterClipAs(kind.left(3));
            QVERIFY2(!src.isEmpty(), qPrintable(m_error));
            path += QLatin1Char('.') + kind.left(3);
            QFile::remove(path);
            QVERIFY(QFile::copy(src, path));
            QVERIFY(corruptMiddle(path, 3000));
        }
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));

        DecodeLimits limits;
        limits.callBudgetSec = 5;
        limits.timeBudgetSec = 10;
        limits.timeBudgetPerVideoSec = 0;
        VideoDecoder dec(withLimits(limits));
        QElapsedTimer timer;
        timer.start();
        QString infoError;
        DecodeError infoCode = DecodeError::None;
        const auto info = dec.open(path, &infoError, &infoCode);
        if (!openMayWork) {
            QVERIFY(!info.has_value());
            QCOMPARE(infoCode, expected);
            QVERIFY(!infoError.isEmpty());
            QVERIFY(!dec.isOpen());
            QCOMPARE(frameError(dec, 1), DecodeError::NotOpen);
            qInfo("%s: %s", qPrintable(kind), qPrintable(infoError));
        } else {
            QVERIFY2(info.has_value(), qPrintable(infoError));
            const auto times = segmentTimes(info->durationSec);
            const auto sampled = dec.sample(times);
            qInfo("%s: %zu of %zu frames, %zu failed%s%s; %s", qPrintable(kind), sampled.frames.size(), times.size(),
                  sampled.failedTimes.size(), sampled.failedTimes.empty() ? "" : ": ",
                  qPrintable(sampled.failedReason), sampled.ok() ? "no error" : qPrintable(sampled.errorString));
            const bool damaged = kind.endsWith(QLatin1String("damaged"));
            // The data that is there still gives frames, and each shows what the file holds
            // at the time reported for it.
            QVERIFY(sampled.frames.size() >= 6);
            int far = 0;
            for (const VideoFrame &f : sampled.frames) {
                QVERIFY(!f.image.isNull());
                const int n = readFrameCounter(f.image, kBits);
                if (n >= 0 || !damaged)
                    QVERIFY2(std::abs(n / kFps - f.timeSec) < (damaged ? 1.0 : 0.002),
                             qPrintable(QStringLiteral("frame %1 reported at %2 s").arg(n).arg(f.timeSec)));
                if (std::abs(f.timeSec - f.requestedSec) > 0.6)
                    ++far;
            }
            if (damaged) {
                // At most the segment that holds the damaged bytes goes wrong.
                QVERIFY(sampled.ok());
                QVERIFY(far + sampled.failedTimes.size() <= 1);
                QCOMPARE(sampled.frames.size() + sampled.failedTimes.size(), times.size());
            } else {
                QCOMPARE(far, 0);
                QVERIFY(sampled.failedTimes.empty());
            }
            if (kind == QLatin1String("mp4 cut") || kind == QLatin1String("mkv cut")) {
                // The header promises 60 s, the data stops near 30 s.
                QCOMPARE(sampled.error, DecodeError::EndOfStream);
                QVERIFY(sampled.frames.size() < times.size());
                QVERIFY(sampled.frames.back().timeSec < 32);
            }
        }
        QVERIFY2(timer.elapsed() < 10000, qPrintable(QString::number(timer.elapsed())));
    }

    void timeBudget()
    {
        const QString path = counterClip();
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));
        QElapsedTimer timer;

        // No budget at all: the interrupt callback stops the very first read.
        DecodeLimits none;
        none.timeBudgetSec = 0;
        none.timeBudgetPerVideoSec = 0;
        VideoDecoder a(withLimits(none));
        timer.start();
        QString raError;
        DecodeError raCode = DecodeError::None;
        const auto ra = a.open(path, &raError, &raCode);
        QCOMPARE(raCode, DecodeError::TimedOut);
        QVERIFY(timer.elapsed() < 1000);

        // A per-call budget far too small for decoding 59 s without seeking.
        DecodeLimits tight;
        tight.callBudgetSec = 0.01;
        DecodeOptions o = withLimits(tight);
        o.allowSeek = false;
        VideoDecoder b(o);
        QVERIFY(b.open(path).has_value() || b.stats().secondsSpent > 0.01); // open itself may already be too slow
        if (b.isOpen()) {
            timer.restart();
            QString rbError;
            DecodeError rbCode = DecodeError::None;
            const auto rb = b.frameAt(59, &rbError, &rbCode);
            QCOMPARE(rbCode, DecodeError::TimedOut);
            QVERIFY(rbError.contains(QStringLiteral("too long")));
            QVERIFY(timer.elapsed() < 1000);
        }

        // The whole-file budget adds up over calls; time between calls does not count.
        DecodeLimits file;
        file.timeBudgetSec = 0.3;
        file.timeBudgetPerVideoSec = 0;
        VideoDecoder c(withLimits(file));
        QVERIFY(c.open(path).has_value());
        QVERIFY(c.frameAt(1).has_value());
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        QVERIFY(c.frameAt(2).has_value());
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        QVERIFY(c.stats().secondsSpent < 0.2);
        // Jumping between the ends makes every call seek and decode; repeat until the budget is gone.
        timer.restart();
        QString rcError;
        DecodeError rcCode = DecodeError::None;
        std::optional<VideoFrame> rc = c.frameAt(3, &rcError, &rcCode);
        for (int i = 0; rc.has_value() && i < 100000; ++i)
            rc = c.frameAt(i % 2 ? 0.5 + (i % 7) * 0.1 : 59.5 - (i % 5) * 0.1, &rcError, &rcCode);
        QCOMPARE(rcCode, DecodeError::TimedOut);
        QVERIFY2(rcError.contains(QStringLiteral("budget")), qPrintable(rcError));
        QVERIFY(c.stats().secondsSpent >= 0.29);
        QVERIFY(c.stats().secondsSpent < 0.6);
        QVERIFY(timer.elapsed() < 2000);
        QCOMPARE(frameError(c, 1), DecodeError::TimedOut); // it stays used up
    }

    void cancel()
    {
        const QString path = counterClip();
        QVERIFY2(!path.isEmpty(), qPrintable(m_error));
        DecodeOptions o;
        o.allowSeek = false;
        VideoDecoder dec(o);
        QVERIFY(dec.open(path).has_value());
        std::vector<double> every;
        for (int n = 0; n < 1800; ++n)
            every.push_back(n / kFps);
        std::thread canceller([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            dec.requestInterruption();
        });
        QElapsedTimer timer;
        timer.start();
        // Sampling again and again (a fast machine may finish one pass before the request).
        SampleResult r;
        for (int pass = 0; pass < 1000 && r.ok(); ++pass)
            r = dec.sample(every);
        const qint64 elapsed = timer.elapsed();
        canceller.join();
        QCOMPARE(r.error, DecodeError::Cancelled);
        QVERIFY(r.frames.size() < every.size());
        QVERIFY(elapsed < 2000);
        // Sticky until the next open().
        QCOMPARE(frameError(dec, 1), DecodeError::Cancelled);
        QVERIFY(dec.open(path).has_value());
        QVERIFY(dec.frameAt(1).has_value());
    }
};

QTEST_GUILESS_MAIN(TestVideoDecoder)
#include "tst_videodecoder.moc"
