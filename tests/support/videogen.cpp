#include "support/videogen.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
}

#include <QFile>
#include <QProcess>
#include <QStandardPaths>

#include <cmath>
#include <memory>
#include <random>

namespace unisearch::test {

QString ffmpegProgram()
{
    const QByteArray env = qgetenv("FFMPEG");
    if (!env.isEmpty())
        return QString::fromLocal8Bit(env);
    return QStandardPaths::findExecutable(QStringLiteral("ffmpeg"));
}

bool hasEncoder(const QString &name)
{
    static QString encoders; // one ffmpeg call per test process
    if (encoders.isNull()) {
        encoders = QStringLiteral("");
        const QString program = ffmpegProgram();
        if (program.isEmpty())
            return false;
        QProcess p;
        p.start(program, {QStringLiteral("-hide_banner"), QStringLiteral("-encoders")});
        if (p.waitForFinished(30000))
            encoders = QString::fromLocal8Bit(p.readAllStandardOutput());
    }
    return encoders.contains(QLatin1Char(' ') + name + QLatin1Char(' '));
}

QString runFfmpeg(const QStringList &args, int timeoutMs)
{
    const QString program = ffmpegProgram();
    if (program.isEmpty())
        return QStringLiteral("the ffmpeg program is not installed (scripts/install-deps.sh installs it)");
    QProcess p;
    p.setProcessChannelMode(QProcess::SeparateChannels);
    QStringList all{QStringLiteral("-hide_banner"), QStringLiteral("-loglevel"), QStringLiteral("error"),
                    QStringLiteral("-nostdin"), QStringLiteral("-y")};
    all += args;
    p.start(program, all);
    if (!p.waitForStarted(10000))
        return QStringLiteral("cannot start ffmpeg: ") + p.errorString();
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished(5000);
        return QStringLiteral("ffmpeg timed out: ffmpeg ") + all.join(QLatin1Char(' '));
    }
    if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
        return QStringLiteral("ffmpeg failed (") + QString::number(p.exitCode()) + QStringLiteral("): ffmpeg ")
            + all.join(QLatin1Char(' ')) + QLatin1Char('\n') + QString::fromLocal8Bit(p.readAllStandardError());
    return {};
}

QString frameCounterSource(double fps, double durationSec, int bits, int stripeWidth, int height)
{
    Q_ASSERT(bits % 2 == 0);
    // geq draws one pixel per bit (cheap: it evaluates its expression per pixel); a
    // nearest-neighbour scale then makes the stripes.
    return QStringLiteral("color=c=black:s=%1x2:r=%2:d=%3,format=yuv420p,"
                          "geq=lum='255*mod(floor(N/pow(2\\,X))\\,2)':cb=128:cr=128,"
                          "scale=%4:%5:flags=neighbor,setsar=1")
        .arg(bits)
        .arg(fps)
        .arg(durationSec)
        .arg(bits * stripeWidth)
        .arg(height);
}

int readFrameCounter(const QImage &image, int bits)
{
    const QImage img = image.convertToFormat(QImage::Format_Grayscale8);
    const double stripe = double(img.width()) / bits;
    int value = 0;
    for (int k = 0; k < bits; ++k) {
        // The middle half of the stripe, the middle half of the rows: away from ringing.
        const int x0 = int(std::lround(k * stripe + stripe / 4)), x1 = int(std::lround(k * stripe + 3 * stripe / 4));
        const int y0 = img.height() / 4, y1 = 3 * img.height() / 4;
        double sum = 0;
        int n = 0;
        for (int y = y0; y < std::max(y1, y0 + 1); ++y)
            for (int x = x0; x < std::max(x1, x0 + 1); ++x, ++n)
                sum += img.constScanLine(y)[x];
        const double mean = sum / std::max(1, n);
        if (mean > 170)
            value |= 1 << k;
        else if (mean > 85)
            return -1;
    }
    return value;
}

namespace {
struct InputCloser {
    void operator()(AVFormatContext *c) const { avformat_close_input(&c); }
};
struct OutputCloser {
    void operator()(AVFormatContext *c) const
    {
        if (c->pb && !(c->oformat->flags & AVFMT_NOFILE))
            avio_closep(&c->pb);
        avformat_free_context(c);
    }
};
struct PacketFree {
    void operator()(AVPacket *p) const { av_packet_free(&p); }
};
QString averr(const char *what, int err)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(err, buf, sizeof buf);
    return QString::fromLatin1(what) + QStringLiteral(": ") + QString::fromLatin1(buf);
}
} // namespace

QString remuxWithDisplayMatrix(const QString &src, const QString &dst, int rotationCw, bool hflip)
{
    AVFormatContext *rawIn = nullptr;
    int err = avformat_open_input(&rawIn, QFile::encodeName(src).constData(), nullptr, nullptr);
    if (err < 0)
        return averr("open input", err);
    std::unique_ptr<AVFormatContext, InputCloser> in(rawIn);
    if ((err = avformat_find_stream_info(in.get(), nullptr)) < 0)
        return averr("stream info", err);

    AVFormatContext *rawOut = nullptr;
    const QByteArray dstPath = QFile::encodeName(dst);
    if ((err = avformat_alloc_output_context2(&rawOut, nullptr, nullptr, dstPath.constData())) < 0)
        return averr("output format", err);
    std::unique_ptr<AVFormatContext, OutputCloser> out(rawOut);

    for (unsigned i = 0; i < in->nb_streams; ++i) {
        const AVStream *is = in->streams[i];
        AVStream *os = avformat_new_stream(out.get(), nullptr);
        if (!os || avcodec_parameters_copy(os->codecpar, is->codecpar) < 0)
            return QStringLiteral("cannot add an output stream");
        os->codecpar->codec_tag = 0;
        os->time_base = is->time_base;
        if (is->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            auto *m = reinterpret_cast<int32_t *>(
                av_stream_new_side_data(os, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t)));
            if (!m)
                return QStringLiteral("cannot add the display matrix");
            // A portrait phone video, which FFmpeg turns 90 degrees clockwise for display, has
            // av_display_rotation_get() == -90; FFmpeg 5.1's av_display_rotation_set(m, a)
            // gives a matrix whose av_display_rotation_get() is -a.
            av_display_rotation_set(m, double(rotationCw));
            if (hflip)
                av_display_matrix_flip(m, 1, 0);
        }
    }
    if ((err = avio_open(&out->pb, dstPath.constData(), AVIO_FLAG_WRITE)) < 0)
        return averr("open output", err);
    if ((err = avformat_write_header(out.get(), nullptr)) < 0)
        return averr("write header", err);
    std::unique_ptr<AVPacket, PacketFree> pkt(av_packet_alloc());
    while (av_read_frame(in.get(), pkt.get()) >= 0) {
        const int s = pkt->stream_index;
        av_packet_rescale_ts(pkt.get(), in->streams[s]->time_base, out->streams[s]->time_base);
        pkt->pos = -1;
        if ((err = av_interleaved_write_frame(out.get(), pkt.get())) < 0)
            return averr("write packet", err);
    }
    if ((err = av_write_trailer(out.get())) < 0)
        return averr("write trailer", err);
    return {};
}

bool writeTruncatedCopy(const QString &src, const QString &dst, double fraction)
{
    QFile in(src);
    if (!in.open(QIODevice::ReadOnly))
        return false;
    const QByteArray data = in.readAll();
    QFile out(dst);
    if (!out.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return false;
    const qint64 n = qBound<qint64>(0, qint64(std::llround(data.size() * fraction)), data.size());
    return out.write(data.constData(), n) == n;
}

bool corruptMiddle(const QString &path, qint64 count, unsigned seed)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadWrite))
        return false;
    const qint64 size = f.size();
    if (size < count * 2)
        return false;
    std::mt19937 rng(seed);
    QByteArray junk(count, Qt::Uninitialized);
    for (char &c : junk)
        c = char(rng() & 0xff);
    return f.seek((size - count) / 2) && f.write(junk) == count;
}

QColor meanColor(const QImage &image, const QRect &rect)
{
    const QImage img = image.convertToFormat(QImage::Format_RGB888);
    const QRect r = rect.intersected(img.rect());
    double sum[3] = {0, 0, 0};
    for (int y = r.top(); y <= r.bottom(); ++y) {
        const uchar *p = img.constScanLine(y) + 3 * r.left();
        for (int x = r.left(); x <= r.right(); ++x, p += 3)
            for (int c = 0; c < 3; ++c)
                sum[c] += p[c];
    }
    const double n = std::max<qint64>(1, qint64(r.width()) * r.height());
    return QColor(int(std::lround(sum[0] / n)), int(std::lround(sum[1] / n)), int(std::lround(sum[2] / n)));
}

double meanAbsDiff(const QImage &a, const QImage &b)
{
    if (a.size() != b.size() || a.isNull())
        return 255;
    const QImage x = a.convertToFormat(QImage::Format_RGB888);
    const QImage y = b.convertToFormat(QImage::Format_RGB888);
    double sum = 0;
    for (int row = 0; row < x.height(); ++row) {
        const uchar *p = x.constScanLine(row), *q = y.constScanLine(row);
        for (int i = 0; i < 3 * x.width(); ++i)
            sum += std::abs(int(p[i]) - int(q[i]));
    }
    return sum / (3.0 * x.width() * x.height());
}

bool writePatternImages(const QString &dir, int count, unsigned seed, int digits)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255), freq(1, 6);
    for (int i = 0; i < count; ++i) {
        QImage img(32, 32, QImage::Format_RGB32);
        const int r = byte(rng), g = byte(rng), b = byte(rng), fx = freq(rng), fy = freq(rng);
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x) {
                const double s = 0.5 + 0.5 * std::sin((fx * x + fy * y) * 0.4);
                img.setPixel(x, y, qRgb(int(r * s), int(g * (1 - s)), int(b * s)));
            }
        if (!img.save(QStringLiteral("%1/img%2.png").arg(dir).arg(i, digits, 10, QLatin1Char('0'))))
            return false;
    }
    return true;
}

} // namespace unisearch::test
