#include "core/media/videodecoder.h"
#include "core/media/ffmpeg_p.h"
#include "core/media/filepath.h"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/log.h>
#include <libavutil/macros.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
}

#include <QFile>
#include <QLoggingCategory>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <numbers>
#include <stdexcept>
#include <string>
#include <system_error>

Q_LOGGING_CATEGORY(lcFfmpeg, "unisearch.ffmpeg", QtInfoMsg)

namespace unisearch::media {

namespace {

using Clock = std::chrono::steady_clock;

// Thrown inside the decoder, turned into a Result at the public edge.
struct DecodeException : std::runtime_error {
    DecodeException(DecodeError c, const std::string &message) : std::runtime_error(message), code(c) {}
    DecodeError code;
};

[[noreturn]] void fail(DecodeError code, const std::string &message)
{
    throw DecodeException(code, message);
}

// Broken packets are skipped; this many in a row means the stream gives nothing usable.
constexpr int kMaxConsecutiveErrors = 64;
// A header that claims an absurd duration must not buy an absurd time budget.
constexpr double kMaxBudgetedDurationSec = 24 * 3600.0;

// Deprecated "J" formats mean full range; swscale wants the plain format plus the range flag.
AVPixelFormat unJpeg(AVPixelFormat fmt, bool &fullRange)
{
    switch (fmt) {
    case AV_PIX_FMT_YUVJ420P: fullRange = true; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: fullRange = true; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: fullRange = true; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: fullRange = true; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: fullRange = true; return AV_PIX_FMT_YUV411P;
    default: return fmt;
    }
}

// The YUV->RGB matrix swscale should use. Untagged streams follow what players do:
// BT.709 for HD sizes, BT.601 for SD.
int swsColorspace(AVColorSpace space, int width, int height)
{
    switch (space) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: return SWS_CS_ITU601;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return (width >= 1280 || height > 576) ? SWS_CS_ITU709 : SWS_CS_ITU601;
    }
}

// The 2x2 part of a display matrix reduced to a multiple of 90 degrees, possibly mirrored:
// a display pixel is (x', y') = (a*x + c*y, b*x + d*y) + offset, with y pointing down.
struct Orientation {
    int a = 1, b = 0, c = 0, d = 1;
    int rotation = 0;       // clockwise degrees, applied after the mirror
    bool mirrored = false;
    bool isIdentity() const { return a == 1 && b == 0 && c == 0 && d == 1; }
    bool swapsAxes() const { return a == 0; }
};

Orientation makeOrientation(int rotationCw, bool mirrored)
{
    Orientation o;
    o.rotation = ((rotationCw % 360) + 360) % 360;
    o.mirrored = mirrored;
    const int cosv = o.rotation == 0 ? 1 : o.rotation == 180 ? -1 : 0;
    const int sinv = o.rotation == 90 ? 1 : o.rotation == 270 ? -1 : 0;
    // Rotation by theta (y down): x' = cos*x - sin*y, y' = sin*x + cos*y. A mirror
    // first (x -> -x) negates the x column.
    o.a = mirrored ? -cosv : cosv;
    o.b = mirrored ? -sinv : sinv;
    o.c = -sinv;
    o.d = cosv;
    return o;
}

int roundToQuarterTurn(double degrees)
{
    const long q = std::lround(degrees / 90.0);
    return int(((q % 4) + 4) % 4) * 90;
}

Orientation orientationOf(const AVStream *st)
{
    size_t size = 0;
    const uint8_t *sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (sd && size >= 9 * sizeof(int32_t)) {
        int32_t m[9];
        std::memcpy(m, sd, sizeof m);
        const double a = m[0] / 65536.0, b = m[1] / 65536.0, c = m[3] / 65536.0, d = m[4] / 65536.0;
        const double det = a * d - b * c;
        if (std::abs(det) > 1e-9) {
            const bool mirrored = det < 0;
            // From the matrix layout derived in makeOrientation: cos = +-a, sin = +-b.
            const double cosv = mirrored ? -a : a;
            const double sinv = mirrored ? -b : b;
            return makeOrientation(roundToQuarterTurn(std::atan2(sinv, cosv) * 180.0 / std::numbers::pi), mirrored);
        }
    }
    // Older muxers and some tools only leave the tag (clockwise degrees).
    if (const AVDictionaryEntry *rotate = av_dict_get(st->metadata, "rotate", nullptr, 0)) {
        char *end = nullptr;
        const double deg = std::strtod(rotate->value, &end);
        if (end != rotate->value && std::isfinite(deg))
            return makeOrientation(roundToQuarterTurn(deg), false);
    }
    return {};
}

// Applies an orientation to an RGB888 image.
QImage orient(const QImage &src, const Orientation &o)
{
    if (o.isIdentity())
        return src;
    const int w = src.width(), h = src.height();
    const int ow = o.swapsAxes() ? h : w;
    const int oh = o.swapsAxes() ? w : h;
    QImage dst(ow, oh, QImage::Format_RGB888);
    if (dst.isNull())
        throw std::bad_alloc();
    // Offsets that bring the transformed coordinates back to [0, size).
    const int offX = -(std::min(0, o.a * (w - 1)) + std::min(0, o.c * (h - 1)));
    const int offY = -(std::min(0, o.b * (w - 1)) + std::min(0, o.d * (h - 1)));
    uchar *dbits = dst.bits();
    const qsizetype dstride = dst.bytesPerLine();
    for (int y = 0; y < h; ++y) {
        const uchar *s = src.constScanLine(y);
        for (int x = 0; x < w; ++x, s += 3) {
            const int dx = o.a * x + o.c * y + offX;
            const int dy = o.b * x + o.d * y + offY;
            uchar *p = dbits + dy * dstride + dx * 3;
            p[0] = s[0];
            p[1] = s[1];
            p[2] = s[2];
        }
    }
    return dst;
}

// An RGB888 image whose rows have room to spare: swscale's SIMD converters write whole
// blocks of pixels, past the end of a row whose width is not a multiple of 16.
QImage paddedRgbImage(int width, int height)
{
    const qsizetype stride = FFALIGN(qsizetype(width) * 3 + 64, 64);
    auto *buffer = static_cast<uchar *>(av_malloc(size_t(stride) * height + 64));
    if (!buffer)
        throw std::bad_alloc();
    QImage image(buffer, width, height, stride, QImage::Format_RGB888, [](void *p) { av_free(p); }, buffer);
    if (image.isNull()) {
        av_free(buffer);
        throw std::bad_alloc();
    }
    return image;
}

bool isReadableRegularFile(const QString &path, std::string &why)
{
    std::error_code ec;
    const std::filesystem::path p(encodeFileName(path).toStdString());
    const auto st = std::filesystem::status(p, ec);
    if (ec || !std::filesystem::exists(st)) {
        why = "file not found";
        return false;
    }
    // FIFOs, devices and sockets could block forever in open() or read().
    if (!std::filesystem::is_regular_file(st)) {
        why = std::filesystem::is_directory(st) ? "is a folder, not a video file" : "not a regular file";
        return false;
    }
    const auto size = std::filesystem::file_size(p, ec);
    if (ec) {
        why = "cannot read the file: " + ec.message();
        return false;
    }
    if (size == 0) {
        why = "the file is empty (0 bytes)";
        return false;
    }
    return true;
}

// True when the file starts like an MP4/MOV (an 'ftyp', 'mdat', 'wide' or 'free' box).
bool looksLikeMp4(const QString &path)
{
    QFile f;
    if (!openForReading(f, path))
        return false;
    const QByteArray head = f.read(8);
    if (head.size() < 8)
        return false;
    const QByteArray box = head.mid(4, 4);
    return box == "ftyp" || box == "mdat" || box == "wide" || box == "free" || box == "moov";
}

} // namespace

struct VideoDecoder::Impl {
    explicit Impl(DecodeOptions o) : options(std::move(o)) {}

    DecodeOptions options;
    VideoInfo info;
    DecodeStats stats;

    ff::FormatContextPtr fmt;
    ff::CodecContextPtr codec;
    ff::PacketPtr packet;
    // The last two decoded frames (before.pts <= last.pts) and a frame being received.
    ff::FramePtr before, last, scratch;
    bool haveBefore = false, haveLast = false;
    bool sentFlush = false;   // demuxer reached its end; the decoder is being drained
    bool waitForKey = false;  // after a seek: packets before the first keyframe are dropped
    int64_t skippedPackets = 0;
    bool drained = false;     // decoder returned AVERROR_EOF
    int64_t lastPacketDts = AV_NOPTS_VALUE;

    AVStream *stream = nullptr;
    int streamIndex = -1;
    AVRational timeBase{1, 1};
    int64_t originPts = 0;    // stream timestamp of time 0 (the container's start time)
    double frameInterval = 1.0 / 30;
    Orientation orientation;
    AVRational sampleAspect{1, 1};

    // Conversion, cached and keyed by what it was made for: `swsScale` resizes in the
    // decoder's pixel format into `scaled`, `sws` converts to RGB at the final size.
    ff::SwsContextPtr swsScale;
    ff::FramePtr scaled;
    AVPixelFormat midFmt = AV_PIX_FMT_NONE;  // the format of `scaled`
    ff::SwsContextPtr sws;
    struct SwsKey {
        int srcW = 0, srcH = 0, srcFmt = -1, dstW = 0, dstH = 0, cs = -1, fullRange = -1;
        bool operator==(const SwsKey &) const = default;
    } swsKey;
    int64_t cachedPts = AV_NOPTS_VALUE;
    QImage cachedImage;

    // Budgets.
    std::atomic<bool> interruptRequested{false};
    bool inCall = false;
    Clock::time_point callStart;
    Clock::time_point deadline = Clock::time_point::max();
    bool deadlineIsFileBudget = false;
    double fileBudgetSec = 0;

    static int interruptCallback(void *opaque)
    {
        auto *self = static_cast<Impl *>(opaque);
        return self->shouldStop() ? 1 : 0;
    }
    bool shouldStop() const
    {
        return interruptRequested.load(std::memory_order_relaxed) || (inCall && Clock::now() > deadline);
    }
    void checkStop() const
    {
        if (interruptRequested.load(std::memory_order_relaxed))
            fail(DecodeError::Cancelled, "cancelled");
        if (inCall && Clock::now() > deadline)
            failTimedOut();
    }
    [[noreturn]] void failTimedOut() const
    {
        char buf[160];
        if (deadlineIsFileBudget)
            std::snprintf(buf, sizeof buf, "decoding took too long: the file's time budget of %.1f s is used up",
                          fileBudgetSec);
        else
            std::snprintf(buf, sizeof buf, "decoding took too long: gave up after %.1f s (stalled read or broken stream?)",
                          options.limits.callBudgetSec);
        fail(DecodeError::TimedOut, buf);
    }

    void beginCall()
    {
        callStart = Clock::now();
        const double fileLeft = fileBudgetSec - stats.secondsSpent;
        const double callBudget = options.limits.callBudgetSec;
        deadlineIsFileBudget = fileLeft < callBudget;
        // Capped so that "no limit" (a huge number) cannot overflow the clock.
        const double budget = std::clamp(std::min(fileLeft, callBudget), 0.0, 1e6);
        deadline = callStart + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(budget));
        inCall = true;
    }
    void endCall()
    {
        inCall = false;
        stats.secondsSpent += std::chrono::duration<double>(Clock::now() - callStart).count();
    }

    void reset()
    {
        sws.reset();
        swsScale.reset();
        scaled.reset();
        swsKey = {};
        codec.reset();
        fmt.reset();
        before.reset();
        last.reset();
        scratch.reset();
        packet.reset();
        haveBefore = haveLast = sentFlush = drained = false;
        lastPacketDts = AV_NOPTS_VALUE;
        stream = nullptr;
        streamIndex = -1;
        info = {};
        stats = {};
        cachedPts = AV_NOPTS_VALUE;
        cachedImage = {};
        waitForKey = false;
        skippedPackets = 0;
        orientation = {};
    }

    void openFile(const QString &path);
    void probe();
    VideoFrame frameAt(double t);
    bool decodeNext();
    bool seekTo(int64_t target);
    bool shouldSeek(int64_t target) const;
    QImage convert(const AVFrame *frame);

    double toSec(int64_t pts) const { return double(pts - originPts) * av_q2d(timeBase); }
    int64_t toPts(double sec) const { return originPts + std::llround(sec / av_q2d(timeBase)); }
};

void VideoDecoder::Impl::openFile(const QString &path)
{
    std::string why;
    if (!isReadableRegularFile(path, why))
        fail(DecodeError::OpenFailed, why);

    AVFormatContext *raw = avformat_alloc_context();
    if (!raw)
        throw std::bad_alloc();
    // Lets a stalled or endless read inside FFmpeg give up when a budget runs out.
    raw->interrupt_callback.callback = &Impl::interruptCallback;
    raw->interrupt_callback.opaque = this;
    const QByteArray local = encodeFileName(path);
    int err = avformat_open_input(&raw, local.constData(), nullptr, nullptr); // frees raw on failure
    if (err < 0) {
        checkStop();
        if (err == AVERROR_INVALIDDATA && looksLikeMp4(path))
            fail(DecodeError::OpenFailed,
                 "the MP4/MOV file has no readable index (moov atom): an incomplete download or an "
                 "interrupted recording? (" + ff::errorString(err) + ")");
        fail(DecodeError::OpenFailed, "not a video file FFmpeg can read, or damaged (" + ff::errorString(err) + ")");
    }
    fmt.reset(raw);

    err = avformat_find_stream_info(fmt.get(), nullptr);
    checkStop();
    if (err < 0 && fmt->nb_streams == 0)
        fail(DecodeError::OpenFailed, "no streams found (" + ff::errorString(err) + ")");

    // The video stream: not a cover picture; the demuxer's default choice first, else the largest.
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
            info.hasAudio = true;
    auto isVideo = [&](int i) {
        const AVStream *st = fmt->streams[i];
        return st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
    };
    int best = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (best < 0 || !isVideo(best)) {
        best = -1;
        int64_t bestArea = -1;
        for (unsigned i = 0; i < fmt->nb_streams; ++i) {
            if (!isVideo(int(i)))
                continue;
            const int64_t area = int64_t(fmt->streams[i]->codecpar->width) * fmt->streams[i]->codecpar->height;
            if (area > bestArea) {
                bestArea = area;
                best = int(i);
            }
        }
    }
    if (best < 0)
        fail(DecodeError::NoVideoStream, info.hasAudio ? "no video stream: the file holds audio only"
                                                       : "no video stream in the file");
    info.hasVideo = true;
    streamIndex = best;
    stream = fmt->streams[best];
    // The demuxer then skips the other streams' data instead of handing it to us.
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
        if (int(i) != best)
            fmt->streams[i]->discard = AVDISCARD_ALL;
    timeBase = stream->time_base;
    if (timeBase.num <= 0 || timeBase.den <= 0)
        fail(DecodeError::OpenFailed, "the video stream has an invalid time base");

    const AVCodecParameters *par = stream->codecpar;
    const AVCodec *decoder = avcodec_find_decoder(par->codec_id);
    if (!decoder)
        fail(DecodeError::UnsupportedCodec,
             std::string("no decoder for the video codec '") + avcodec_get_name(par->codec_id) + "'");
    if (int64_t(par->width) * par->height > options.limits.maxPixels)
        fail(DecodeError::TooLarge, "the video is too large to decode (" + std::to_string(par->width) + "x"
                                        + std::to_string(par->height) + ", limit "
                                        + std::to_string(options.limits.maxPixels) + " pixels)");

    codec.reset(avcodec_alloc_context3(decoder));
    if (!codec)
        throw std::bad_alloc();
    if ((err = avcodec_parameters_to_context(codec.get(), par)) < 0)
        fail(DecodeError::OpenFailed, "bad codec parameters (" + ff::errorString(err) + ")");
    codec->pkt_timebase = timeBase;
    codec->thread_count = std::max(0, options.threads);
    codec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE; // the codec keeps what it supports
    codec->max_pixels = options.limits.maxPixels;           // also guards size changes mid-stream
    if ((err = avcodec_open2(codec.get(), decoder, nullptr)) < 0)
        fail(DecodeError::UnsupportedCodec,
             std::string("cannot open the '") + decoder->name + "' decoder (" + ff::errorString(err) + ")");

    packet = ff::makePacket();
    before = ff::makeFrame();
    last = ff::makeFrame();
    scratch = ff::makeFrame();

    probe();
    fileBudgetSec = options.limits.timeBudgetSec
        + options.limits.timeBudgetPerVideoSec * std::clamp(info.durationSec, 0.0, kMaxBudgetedDurationSec);
}

void VideoDecoder::Impl::probe()
{
    const AVCodecParameters *par = stream->codecpar;
    originPts = 0;
    if (fmt->start_time != AV_NOPTS_VALUE)
        originPts = av_rescale_q(fmt->start_time, AV_TIME_BASE_Q, timeBase);
    else if (stream->start_time != AV_NOPTS_VALUE)
        originPts = stream->start_time;

    if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0)
        info.durationSec = double(stream->duration) * av_q2d(timeBase);
    else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
        info.durationSec = double(fmt->duration) / AV_TIME_BASE;

    AVRational rate = stream->avg_frame_rate;
    if (rate.num <= 0 || rate.den <= 0)
        rate = av_guess_frame_rate(fmt.get(), stream, nullptr);
    info.frameRate = (rate.num > 0 && rate.den > 0) ? av_q2d(rate) : 0.0;
    if (info.frameRate > 0 && info.frameRate < 1000)
        frameInterval = 1.0 / info.frameRate;

    info.codec = QString::fromLatin1(avcodec_get_name(par->codec_id));
    if (const char *pf = av_get_pix_fmt_name(AVPixelFormat(par->format)))
        info.pixelFormat = QString::fromLatin1(pf);
    info.codedWidth = par->width;
    info.codedHeight = par->height;

    sampleAspect = av_guess_sample_aspect_ratio(fmt.get(), stream, nullptr);
    if (sampleAspect.num <= 0 || sampleAspect.den <= 0)
        sampleAspect = {1, 1};
    orientation = orientationOf(stream);
    info.rotation = orientation.rotation;
    info.mirrored = orientation.mirrored;
    const int displayW = int(std::lround(par->width * av_q2d(sampleAspect)));
    info.width = orientation.swapsAxes() ? par->height : displayW;
    info.height = orientation.swapsAxes() ? displayW : par->height;

    // Frame count and a VFR guess. MP4/MOV index every frame: their timestamps show whether
    // the frame durations vary. Other containers index keyframes only (or nothing); there the
    // guess compares the demuxer's base rate with the average rate.
    const int64_t indexEntries = avformat_index_get_entries_count(stream);
    const double expectedFrames = info.durationSec * info.frameRate;
    const bool fullIndex = expectedFrames > 0 && indexEntries >= 3 && indexEntries >= 0.9 * expectedFrames;
    if (stream->nb_frames > 0)
        info.frameCountEstimate = stream->nb_frames;
    else if (fullIndex)
        info.frameCountEstimate = indexEntries;
    else
        info.frameCountEstimate = std::llround(expectedFrames);

    if (fullIndex) {
        const int n = int(std::min<int64_t>(indexEntries, 4000));
        std::vector<int64_t> ts;
        ts.reserve(n);
        for (int i = 0; i < n; ++i)
            if (const AVIndexEntry *e = avformat_index_get_entry(stream, i))
                ts.push_back(e->timestamp);
        std::sort(ts.begin(), ts.end());
        int64_t minDelta = std::numeric_limits<int64_t>::max(), maxDelta = 0;
        for (size_t i = 1; i < ts.size(); ++i) {
            const int64_t delta = ts[i] - ts[i - 1];
            if (delta <= 0)
                continue;
            minDelta = std::min(minDelta, delta);
            maxDelta = std::max(maxDelta, delta);
        }
        // 10 % absorbs timestamp rounding (33/34 ms at a 1 ms time base).
        info.variableFrameRate = maxDelta > 0 && double(maxDelta) > 1.1 * double(minDelta) + 1;
    } else {
        const AVRational r = stream->r_frame_rate;
        if (r.num > 0 && r.den > 0 && info.frameRate > 0)
            info.variableFrameRate = std::abs(av_q2d(r) - info.frameRate) > 0.01 * info.frameRate;
    }
}

bool VideoDecoder::Impl::shouldSeek(int64_t target) const
{
    if (!options.allowSeek)
        return false;
    // Where decoding stands: the last packet read, else the last frame, else the start.
    int64_t position = lastPacketDts;
    if (position == AV_NOPTS_VALUE && haveLast)
        position = last->pts;
    if (position == AV_NOPTS_VALUE)
        position = originPts;
    if (target <= position)
        return false;
    // With an index that reaches the target, seek exactly when the keyframe before the
    // target has not been read yet: decoding from there is never more work than decoding
    // forward. (MPEG-TS and fragmented MP4 build their index while reading, so it may end
    // before the target; then the distance decides.)
    const int entries = avformat_index_get_entries_count(stream);
    const AVIndexEntry *lastEntry = entries > 0 ? avformat_index_get_entry(stream, entries - 1) : nullptr;
    if (lastEntry && lastEntry->timestamp >= target) {
        const int i = av_index_search_timestamp(stream, target, AVSEEK_FLAG_BACKWARD);
        if (const AVIndexEntry *e = i >= 0 ? avformat_index_get_entry(stream, i) : nullptr)
            return e->timestamp > position;
    }
    return double(target - position) * av_q2d(timeBase) > options.seekThresholdSec;
}

bool VideoDecoder::Impl::seekTo(int64_t target)
{
    int err = -1;
    if (target <= originPts) {
        // To the start: aim a second before it. Demuxers that search by decoding timestamp
        // (MPEG-TS) would otherwise land just after the first keyframe, whose DTS precedes
        // the start time (its PTS).
        const int64_t margin = std::max<int64_t>(1, std::llround(1.0 / av_q2d(timeBase)));
        err = av_seek_frame(fmt.get(), streamIndex, originPts - margin, AVSEEK_FLAG_BACKWARD);
    }
    if (err < 0)
        err = av_seek_frame(fmt.get(), streamIndex, target, AVSEEK_FLAG_BACKWARD);
    if (err < 0)
        err = avformat_seek_file(fmt.get(), streamIndex, std::numeric_limits<int64_t>::min(), target, target, 0);
    checkStop();
    if (err < 0)
        return false; // unseekable: the caller decodes forward from where it is, if it can
    ++stats.seeks;
    avcodec_flush_buffers(codec.get());
    av_frame_unref(before.get());
    av_frame_unref(last.get());
    haveBefore = haveLast = sentFlush = drained = false;
    lastPacketDts = AV_NOPTS_VALUE;
    // Demuxers without an index (MPEG-TS) land on any packet; decoding from there would give
    // grey or smeared pictures until the next keyframe, so start at that keyframe instead.
    waitForKey = true;
    skippedPackets = 0;
    return true;
}

// Decodes the next frame into `last` (the previous one moves to `before`); false at the end.
bool VideoDecoder::Impl::decodeNext()
{
    int consecutiveErrors = 0;
    for (;;) {
        checkStop();
        if (drained)
            return false;
        int err = avcodec_receive_frame(codec.get(), scratch.get());
        if (err == 0) {
            ++stats.framesDecoded;
            if (int64_t(scratch->width) * scratch->height > options.limits.maxPixels)
                fail(DecodeError::TooLarge, "a frame is too large to decode (" + std::to_string(scratch->width)
                                                + "x" + std::to_string(scratch->height) + ")");
            int64_t pts = scratch->best_effort_timestamp;
            if (pts == AV_NOPTS_VALUE)
                pts = haveLast ? last->pts + std::max<int64_t>(1, std::llround(frameInterval / av_q2d(timeBase)))
                               : originPts;
            scratch->pts = pts;
            stats.latestFrameSec = std::max(stats.latestFrameSec, toSec(pts));
            std::swap(before, last);
            std::swap(last, scratch);
            av_frame_unref(scratch.get());
            haveBefore = haveLast;
            haveLast = true;
            return true;
        }
        if (err == AVERROR_EOF) {
            drained = true;
            return false;
        }
        if (err != AVERROR(EAGAIN)) {
            // Frame threading reports a broken packet here; skip it like the send error below.
            ++stats.decodeErrors;
            if (++consecutiveErrors > kMaxConsecutiveErrors)
                fail(DecodeError::DecodeFailed, "the video stream is too damaged to decode (" + ff::errorString(err) + ")");
            continue;
        }
        if (sentFlush) {
            // EAGAIN after the flush packet should not happen; do not spin.
            drained = true;
            return false;
        }

        err = av_read_frame(fmt.get(), packet.get());
        if (err == AVERROR_EXIT || shouldStop())
            checkStop();
        if (err < 0) {
            if (err != AVERROR_EOF && ++consecutiveErrors <= kMaxConsecutiveErrors) {
                ++stats.decodeErrors;
                continue; // a damaged stretch; the demuxer usually moves on
            }
            // End of the data (or of what a truncated file holds): drain the decoder.
            avcodec_send_packet(codec.get(), nullptr);
            sentFlush = true;
            continue;
        }
        if (packet->stream_index != streamIndex) {
            av_packet_unref(packet.get());
            continue;
        }
        ++stats.packetsRead;
        if (packet->dts != AV_NOPTS_VALUE)
            lastPacketDts = packet->dts;
        else if (packet->pts != AV_NOPTS_VALUE)
            lastPacketDts = packet->pts;
        if (waitForKey) {
            // A stream without keyframe flags must not be skipped whole: give up waiting after ~10 s.
            const int64_t maxSkip = std::clamp<int64_t>(std::llround(10.0 / frameInterval), 30, 1200);
            if (!(packet->flags & AV_PKT_FLAG_KEY) && ++skippedPackets <= maxSkip) {
                av_packet_unref(packet.get());
                continue;
            }
            waitForKey = false;
        }
        err = avcodec_send_packet(codec.get(), packet.get());
        av_packet_unref(packet.get());
        if (err < 0 && err != AVERROR(EAGAIN)) {
            ++stats.decodeErrors;
            if (++consecutiveErrors > kMaxConsecutiveErrors)
                fail(DecodeError::DecodeFailed, "the video stream is too damaged to decode (" + ff::errorString(err) + ")");
        } else {
            consecutiveErrors = 0;
        }
    }
}

VideoFrame VideoDecoder::Impl::frameAt(double t)
{
    if (!std::isfinite(t))
        fail(DecodeError::DecodeFailed, "invalid time");
    t = std::max(0.0, t);
    const int64_t target = toPts(t);
    const int64_t oneFrame = std::max<int64_t>(1, std::llround(frameInterval / av_q2d(timeBase)));

    // Going back before what we hold needs a seek; forward targets seek only when it saves work.
    const bool behind = haveLast && target < (haveBefore ? before->pts : last->pts);
    if (behind || (!drained && shouldSeek(target))) {
        if (behind && !options.allowSeek)
            fail(DecodeError::DecodeFailed, "times must increase when seeking is off");
        // Some demuxers seek by decoding timestamp: a keyframe found for `target` can start
        // after it. Step further back until the first frame is not later than the target.
        const double backoff[] = {0.0, 1.0, 3.0, 10.0};
        for (double back : backoff) {
            const int64_t seekTarget = toPts(std::max(0.0, t - back));
            if (!seekTo(seekTarget)) {
                if (behind)
                    fail(DecodeError::DecodeFailed, "cannot seek back in this file");
                break;
            }
            if (!decodeNext()) {
                // Nothing from there to the end (a seek to the last, keyframe-less stretch):
                // look earlier; at the start it is the end of the stream, reported below.
                if (seekTarget <= originPts)
                    break;
                continue;
            }
            if (last->pts <= target + oneFrame || seekTarget <= originPts)
                break;
        }
    }

    for (;;) {
        if (!haveLast) {
            if (!decodeNext())
                fail(DecodeError::EndOfStream, "no frame at " + std::to_string(t)
                                                   + " s: the file ends before it (truncated?)");
            continue;
        }
        // An exact hit needs no look at the next frame (sampling times on keyframes are common).
        if (last->pts >= target)
            break;
        if (!decodeNext()) {
            // Past the last frame: fine just after a complete stream's end, not far after it.
            const double gap = t - toSec(last->pts);
            if (gap > std::max(0.5, 2 * frameInterval)) {
                char buf[200];
                std::snprintf(buf, sizeof buf, "no frame at %.3f s: the video ends at %.3f s (truncated file?)", t,
                              toSec(last->pts));
                fail(DecodeError::EndOfStream, buf);
            }
            break;
        }
    }

    // `last` is the first frame after the target (or the final frame); `before` the one before.
    const AVFrame *chosen = last.get();
    if (haveBefore && before->pts <= target && last->pts > target && (target - before->pts) <= (last->pts - target))
        chosen = before.get();
    // Only frames after the target and none before it, even after stepping back: the data
    // around t is missing or undecodable (a damaged stretch). At the very start of the file a
    // late first frame is normal (video that starts after the audio).
    const bool nothingBefore = !(haveBefore && before->pts <= target);
    if (chosen == last.get() && nothingBefore && target > originPts
        && toSec(last->pts) - t > std::max(1.0, 2 * frameInterval)) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "no decodable frame near %.3f s (the next one is at %.3f s): damaged data?", t,
                      toSec(last->pts));
        fail(DecodeError::DecodeFailed, buf);
    }

    VideoFrame out;
    out.requestedSec = t;
    out.timeSec = toSec(chosen->pts);
    out.keyframe = chosen->key_frame != 0;
    if (chosen == before.get())
        out.nextSec = toSec(last->pts);
    else
        out.lastInStream = drained;
    if (chosen->pts == cachedPts && !cachedImage.isNull()) {
        out.image = cachedImage;
    } else {
        out.image = convert(chosen);
        cachedPts = chosen->pts;
        cachedImage = out.image;
    }
    return out;
}

QImage VideoDecoder::Impl::convert(const AVFrame *frame)
{
    checkStop();
    const auto started = Clock::now();
    bool fullRange = frame->color_range == AVCOL_RANGE_JPEG;
    const AVPixelFormat srcFmt = unJpeg(AVPixelFormat(frame->format), fullRange);
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(srcFmt);
    if (!desc || frame->width <= 0 || frame->height <= 0)
        fail(DecodeError::DecodeFailed, "the decoder returned a frame without a usable format");

    // Output size: display geometry (sample aspect, orientation), scaled down per the options.
    AVRational sar = frame->sample_aspect_ratio;
    if (sar.num <= 0 || sar.den <= 0)
        sar = sampleAspect;
    const double srcDispW = frame->width * av_q2d(sar);
    const double srcDispH = frame->height;
    const double longSide = std::max(srcDispW, srcDispH), shortSide = std::min(srcDispW, srcDispH);
    double scale = 1.0;
    if (options.maxLongSide > 0)
        scale = std::min(scale, options.maxLongSide / longSide);
    if (options.maxShortSide > 0)
        scale = std::min(scale, options.maxShortSide / shortSide);
    const int dstW = std::max(1, int(std::lround(srcDispW * scale)));
    const int dstH = std::max(1, int(std::lround(srcDispH * scale)));

    const int cs = swsColorspace(frame->colorspace, frame->width, frame->height);
    const SwsKey key{frame->width, frame->height, int(srcFmt), dstW, dstH, cs, fullRange ? 1 : 0};
    const bool resize = dstW != frame->width || dstH != frame->height;
    if (!sws || !(key == swsKey)) {
        sws.reset();
        swsScale.reset();
        scaled.reset();
        // Resizing and converting in one swscale pass runs its generic, slow path (about 10 ms
        // for 1080p to 683x384 on one core); resizing in the source format first and then
        // converting the small picture takes a fifth of that. Subsampled chroma (4:2:0, 4:2:2)
        // is resized into 4:4:4: the source's chroma planes hold more than the output needs
        // (960x540 for 1080p), and keeping 4:2:0 at the output size would halve the colour
        // resolution of exactly the picture the model sees.
        if (resize) {
            const bool subsampled = !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3
                                    && (desc->log2_chroma_w > 0 || desc->log2_chroma_h > 0);
            midFmt = subsampled ? (desc->comp[0].depth > 8 ? AV_PIX_FMT_YUV444P16 : AV_PIX_FMT_YUV444P) : srcFmt;
            swsScale.reset(sws_getContext(frame->width, frame->height, srcFmt, dstW, dstH, midFmt, SWS_AREA, nullptr,
                                          nullptr, nullptr));
            scaled = ff::makeFrame();
            scaled->format = midFmt;
            scaled->width = dstW;
            scaled->height = dstH;
            if (!swsScale || av_frame_get_buffer(scaled.get(), 0) < 0)
                fail(DecodeError::DecodeFailed, std::string("cannot scale pixel format ") + desc->name);
        }
        sws.reset(sws_getContext(dstW, dstH, resize ? midFmt : srcFmt, dstW, dstH, AV_PIX_FMT_RGB24, SWS_BICUBIC,
                                 nullptr, nullptr, nullptr));
        if (!sws)
            fail(DecodeError::DecodeFailed, std::string("cannot convert pixel format ") + desc->name + " to RGB");
        if (!(desc->flags & AV_PIX_FMT_FLAG_RGB)) {
            // Limited ("TV") range stretches 16..235 to 0..255; full range is taken as is.
            sws_setColorspaceDetails(sws.get(), sws_getCoefficients(cs), fullRange ? 1 : 0,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
        }
        swsKey = key;
    }

    const AVFrame *src = frame;
    if (resize) {
        if (sws_scale(swsScale.get(), frame->data, frame->linesize, 0, frame->height, scaled->data,
                      scaled->linesize) <= 0)
            fail(DecodeError::DecodeFailed, "scaling failed");
        src = scaled.get();
    }
    QImage image = paddedRgbImage(dstW, dstH);
    uint8_t *dst[4] = {image.bits(), nullptr, nullptr, nullptr};
    int dstStride[4] = {int(image.bytesPerLine()), 0, 0, 0};
    if (sws_scale(sws.get(), src->data, src->linesize, 0, dstH, dst, dstStride) <= 0)
        fail(DecodeError::DecodeFailed, "colour conversion failed");
    ++stats.framesConverted;
    image = orient(image, orientation);
    stats.convertSeconds += std::chrono::duration<double>(Clock::now() - started).count();
    return image;
}

// ---------------------------------------------------------------------------------------

namespace {

template <typename F>
auto guarded(F &&body) -> decltype(body())
{
    using R = decltype(body());
    try {
        return body();
    } catch (const DecodeException &e) {
        return R::failure(e.code, QString::fromStdString(e.what()));
    } catch (const std::bad_alloc &) {
        return R::failure(DecodeError::DecodeFailed, QStringLiteral("out of memory"));
    } catch (const std::exception &e) {
        return R::failure(DecodeError::DecodeFailed, QString::fromStdString(e.what()));
    }
}

} // namespace

VideoDecoder::VideoDecoder(DecodeOptions options) : d(std::make_unique<Impl>(std::move(options))) {}
VideoDecoder::~VideoDecoder() = default;
VideoDecoder::VideoDecoder(VideoDecoder &&) noexcept = default;
VideoDecoder &VideoDecoder::operator=(VideoDecoder &&) noexcept = default;

Result<VideoInfo> VideoDecoder::open(const QString &path)
{
    d->reset();
    d->interruptRequested = false;
    d->fileBudgetSec = d->options.limits.timeBudgetSec; // until the duration is known
    d->beginCall();
    auto result = guarded([&] {
        d->openFile(path);
        return Result<VideoInfo>::success(d->info);
    });
    d->endCall();
    if (!result) {
        const DecodeStats spent = d->stats;
        d->reset();
        d->stats.secondsSpent = spent.secondsSpent;
    }
    return result;
}

void VideoDecoder::close()
{
    d->reset();
}

bool VideoDecoder::isOpen() const
{
    return bool(d->codec);
}

const VideoInfo &VideoDecoder::info() const
{
    return d->info;
}

const DecodeOptions &VideoDecoder::options() const
{
    return d->options;
}

Result<VideoFrame> VideoDecoder::frameAt(double t)
{
    if (!isOpen())
        return Result<VideoFrame>::failure(DecodeError::NotOpen, QStringLiteral("no video is open"));
    d->beginCall();
    auto result = guarded([&] {
        d->checkStop();
        return Result<VideoFrame>::success(d->frameAt(t));
    });
    d->endCall();
    return result;
}

SampleResult VideoDecoder::sample(const std::vector<double> &times)
{
    SampleResult out;
    out.frames.reserve(times.size());
    for (double t : times) {
        auto frame = frameAt(t);
        if (frame) {
            out.frames.push_back(std::move(frame.value()));
            continue;
        }
        if (frame.error() == DecodeError::DecodeFailed) {
            // A damaged stretch: later times may decode again.
            if (out.failedTimes.empty())
                out.failedReason = frame.errorString();
            out.failedTimes.push_back(t);
            continue;
        }
        out.error = frame.error();
        out.errorString = frame.errorString();
        break;
    }
    return out;
}

void VideoDecoder::requestInterruption()
{
    d->interruptRequested.store(true, std::memory_order_relaxed);
}

DecodeStats VideoDecoder::stats() const
{
    return d->stats;
}

std::vector<double> uniformTimes(double durationSec, int count)
{
    std::vector<double> times;
    if (count <= 0 || !(durationSec > 0))
        return times;
    times.reserve(count);
    for (int i = 0; i < count; ++i)
        times.push_back((i + 0.5) * durationSec / count);
    return times;
}

std::vector<double> segmentTimes(double durationSec, double segmentSec)
{
    std::vector<double> times;
    if (!(durationSec > 0) || !(segmentSec > 0))
        return times;
    for (double start = 0; start < durationSec - 1e-9; start += segmentSec)
        times.push_back(start + std::min(segmentSec, durationSec - start) / 2);
    return times;
}

namespace {

void ffmpegLogCallback(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > AV_LOG_VERBOSE || !lcFfmpeg().isDebugEnabled())
        return;
    // FFmpeg sends a line in pieces; gather them per thread (decoder threads log too).
    thread_local int printPrefix = 1;
    thread_local std::string pending;
    char line[1024];
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &printPrefix);
    pending += line;
    if (!pending.empty() && pending.back() == '\n') {
        pending.pop_back();
        qCDebug(lcFfmpeg, "%s", pending.c_str());
        pending.clear();
    }
}

} // namespace

void installFfmpegLogHandler()
{
    av_log_set_callback(&ffmpegLogCallback);
}

} // namespace unisearch::media
