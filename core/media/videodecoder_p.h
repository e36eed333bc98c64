#pragma once
// Private to core/media: VideoDecoder's state (FFmpeg objects, the two-frame window, the
// conversion cache, budgets) and what its implementation files share. The implementation
// is split by concern: videodecoder.cpp (the public edge), videoprobe.cpp (opening and
// stream info), videoseek.cpp (seeking and frame decoding), videoconvert.cpp (colour
// conversion, scaling, orientation), videobudget.cpp (limits, budgets, interruption).
#include "media/ffmpeg_p.h"
#include "media/videodecoder.h"

#include <QImage>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace unisearch::media::detail {

using Clock = std::chrono::steady_clock;

// Thrown inside the decoder, turned into std::nullopt and an error at the public edge.
struct DecodeException : std::runtime_error {
    DecodeException(DecodeError c, const std::string &message) : std::runtime_error(message), code(c) {}
    DecodeError code;
};

[[noreturn]] inline void fail(DecodeError code, const std::string &message)
{
    throw DecodeException(code, message);
}

// Broken packets are skipped; this many in a row means the stream gives nothing usable.
inline constexpr int kMaxConsecutiveErrors = 64;
// A header that claims an absurd duration must not buy an absurd time budget.
inline constexpr double kMaxBudgetedDurationSec = 24 * 3600.0;

// The 2x2 part of a display matrix reduced to a multiple of 90 degrees, possibly mirrored:
// a display pixel is (x', y') = (a*x + c*y, b*x + d*y) + offset, with y pointing down.
struct Orientation {
    int a = 1, b = 0, c = 0, d = 1;
    int rotation = 0;       // clockwise degrees, applied after the mirror
    bool mirrored = false;
    bool isIdentity() const { return a == 1 && b == 0 && c == 0 && d == 1; }
    bool swapsAxes() const { return a == 0; }
};

// The orientation that makes the stream's pictures upright (videoprobe.cpp).
Orientation orientationOf(const AVStream *st);
// Applies an orientation to an RGB888 image (videoconvert.cpp).
QImage orient(const QImage &src, const Orientation &o);

} // namespace unisearch::media::detail

namespace unisearch::media {

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
    detail::Orientation orientation;
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
    detail::Clock::time_point callStart;
    detail::Clock::time_point deadline = detail::Clock::time_point::max();
    bool deadlineIsFileBudget = false;
    double fileBudgetSec = 0;

    // Budgets and interruption (videobudget.cpp).
    static int interruptCallback(void *opaque);
    bool shouldStop() const;
    void checkStop() const;
    [[noreturn]] void failTimedOut() const;
    void beginCall();
    void endCall();

    // Back to the state before open() (videodecoder.cpp).
    void reset();

    void openFile(const QString &path);  // videoprobe.cpp
    void probe();
    VideoFrame frameAt(double t);        // videoseek.cpp
    bool decodeNext();
    bool seekTo(int64_t target);
    bool shouldSeek(int64_t target) const;
    QImage convert(const AVFrame *frame);  // videoconvert.cpp

    double toSec(int64_t pts) const { return double(pts - originPts) * av_q2d(timeBase); }
    int64_t toPts(double sec) const { return originPts + std::llround(sec / av_q2d(timeBase)); }
};

} // namespace unisearch::media
