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

// VideoDecoder's public edge (exceptions inside become std::nullopt, a message and a code here), sampling and the
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

// Fills what the caller asked for (the message, the code) and returns "no value".
std::nullopt_t failed(QString *error, DecodeError *code, DecodeError c, const QString &message)
{
    if (error)
        *error = message;
    if (code)
        *code = c;
    return std::nullopt;
}

template <typename F>
auto guarded(QString *error, DecodeError *code, F &&body) -> std::optional<decltype(body())>
{
    try {
        auto value = body();
        if (code)
            *code = DecodeError::None;
        return value;
    } catch (const detail::DecodeException &e) {
        return failed(error, code, e.code, QString::fromStdString(e.what()));
    } catch (const std::bad_alloc &) {
        return failed(error, code, DecodeError::DecodeFailed, QStringLiteral("out of memory"));
    } catch (const std::exception &e) {
        return failed(error, code, DecodeError::DecodeFailed, QString::fromStdString(e.what()));
    }
}

} // namespace

VideoDecoder::VideoDecoder(DecodeOptions options) : d(std::make_unique<Impl>(std::move(options))) {}
VideoDecoder::~VideoDecoder() = default;
VideoDecoder::VideoDecoder(VideoDecoder &&) noexcept = default;
VideoDecoder &VideoDecoder::operator=(VideoDecoder &&) noexcept = default;

std::optional<VideoInfo> VideoDecoder::open(const QString &path, QString *error, DecodeError *code)
{
    d->reset();
    d->interruptRequested = false;
    d->fileBudgetSec = d->options.limits.timeBudgetSec; // until the duration is known
    d->beginCall();
    auto result = guarded(error, code, [&] {
        d->openFile(path);
        return d->info;
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

std::optional<VideoFrame> VideoDecoder::frameAt(double t, QString *error, DecodeError *code)
{
    if (!isOpen())
        return failed(error, code, DecodeError::NotOpen, QStringLiteral("no video is open"));
    d->beginCall();
    auto result = guarded(error, code, [&] {
        d->checkStop();
        return d->frameAt(t);
    });
    d->endCall();
    return result;
}

SampleResult VideoDecoder::sample(const std::vector<double> &times)
{
    SampleResult out;
    out.frames.reserve(times.size());
    for (double t : times) {
        QString error;
        DecodeError code = DecodeError::None;
        auto frame = frameAt(t, &error, &code);
        if (frame) {
            out.frames.push_back(std::move(*frame));
            continue;
        }
        if (code == DecodeError::DecodeFailed) {
            // A damaged stretch: later times may decode again.
            if (out.failedTimes.empty())
                out.failedReason = error;
            out.failedTimes.push_back(t);
            continue;
        }
        out.error = code;
        out.errorString = error;
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
