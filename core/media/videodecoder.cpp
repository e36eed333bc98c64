#include "media/videodecoder.h"

#include "media/videodecoder_p.h"

extern "C" {
#include <libavutil/log.h>
}

#include <QLoggingCategory>

#include <algorithm>
#include <cstdarg>
#include <new>
#include <string>

// VideoDecoder's public edge (exceptions inside become Results here), sampling and the
// sampling-time helpers, the FFmpeg log handler. See videodecoder_p.h for the other files.

Q_LOGGING_CATEGORY(lcFfmpeg, "unisearch.ffmpeg", QtInfoMsg)

namespace unisearch::media {

void VideoDecoder::Impl::reset()
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

namespace {

template <typename F>
auto guarded(F &&body) -> decltype(body())
{
    using R = decltype(body());
    try {
        return body();
    } catch (const detail::DecodeException &e) {
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
