#pragma once
// Video probing and frame sampling with FFmpeg (libavformat/libavcodec/libswscale).
// No FFmpeg type appears here: the implementation lives behind a pimpl.
#include <QImage>
#include <QString>

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace unisearch::media {

enum class DecodeError {
    None,
    OpenFailed,       // missing, unreadable, empty, not a regular file, or not a media file
    NoVideoStream,    // e.g. audio only (a cover picture does not count as video)
    UnsupportedCodec, // no decoder for the video stream
    TooLarge,         // frame larger than DecodeLimits::maxPixels
    TimedOut,         // a DecodeLimits budget ran out
    Cancelled,        // requestInterruption()
    EndOfStream,      // the requested time lies past the last frame the file really holds
    DecodeFailed,     // the stream is too broken to give a frame
    NotOpen,          // frameAt()/sample() before a successful open()
};

struct VideoInfo {
    double durationSec = 0;       // of the video stream (the container's when the stream has none)
    double frameRate = 0;         // average frames per second; 0 when unknown
    int width = 0;                // display size: after rotation and the sample aspect ratio
    int height = 0;
    int codedWidth = 0;           // size of the stored pictures
    int codedHeight = 0;
    int rotation = 0;             // clockwise degrees (0, 90, 180, 270) that make the picture upright,
                                  // applied after the mirror below
    bool mirrored = false;        // the display matrix also flips the picture left-right
    QString codec;                // e.g. "h264"
    QString pixelFormat;          // e.g. "yuv420p10le"
    bool hasVideo = false;
    bool hasAudio = false;
    int64_t frameCountEstimate = 0;
    bool variableFrameRate = false; // a guess, from the frame durations in the index when there is one
};

struct VideoFrame {
    QImage image;                 // QImage::Format_RGB888, upright
    double timeSec = 0;           // the frame's presentation time, seconds from the start of the file
    double requestedSec = 0;      // the time that was asked for
    bool keyframe = false;
    // What decoding already learnt about what follows this frame, so that a caller can tell
    // where the frames really are (a header's duration and frame rate are only claims): the
    // next frame's time when it was decoded already (< 0: not known yet), and whether the
    // stream ends with this frame.
    double nextSec = -1;
    bool lastInStream = false;
};

// Protection against files that would make decoding hang or exhaust memory. A budget that
// runs out abandons the call (also inside a blocked demuxer read, through the format
// context's interrupt callback) and reports DecodeError::TimedOut.
struct DecodeLimits {
    // Wall-clock seconds any one call (open(), frameAt(), one time of sample()) may take.
    double callBudgetSec = 30.0;
    // Wall-clock seconds for the whole file, summed over the calls (time the caller spends
    // between calls does not count): timeBudgetSec + timeBudgetPerVideoSec * duration, so that
    // a two-hour film is not cut short while a broken file still gives up.
    double timeBudgetSec = 60.0;
    double timeBudgetPerVideoSec = 0.5;
    // Largest coded frame (width * height) decoded; DCI 8K (8192x4320) still passes.
    int64_t maxPixels = 8192LL * 4352;
};

struct DecodeOptions {
    // Scale down (never up) during colour conversion so that the long display side is at most
    // maxLongSide and the short side at most maxShortSide (0: no limit), keeping the aspect
    // ratio. For a model that squashes to 384x384, maxShortSide = 384 keeps all the detail it
    // can use and makes 1080p and 4K conversion cheap.
    int maxLongSide = 0;
    int maxShortSide = 0;
    // Decoder threads (frame and slice threading where the codec allows it); 0: one per core.
    int threads = 0;
    // Without a keyframe index, a target more than this ahead of the decoding position is
    // reached by seeking; nearer targets by decoding forward.
    double seekThresholdSec = 2.0;
    // false: never seek, decode every frame up to each target (the benchmark's naive baseline).
    bool allowSeek = true;
    DecodeLimits limits;
};

// Counters since open(), to check and measure that sampling does not decode everything.
struct DecodeStats {
    int64_t packetsRead = 0;
    int64_t framesDecoded = 0;
    int64_t framesConverted = 0;  // frames that went through swscale
    int64_t seeks = 0;
    int64_t decodeErrors = 0;     // packets the decoder rejected (skipped)
    double secondsSpent = 0;      // wall-clock time inside the decoder's calls
    double latestFrameSec = -1;   // the latest frame time decoded so far (< 0: none yet)
    double convertSeconds = 0;    // of which colour conversion, scaling and rotation
};

struct SampleResult {
    // In the order of the requested times, except the failed ones, up to the error.
    std::vector<VideoFrame> frames;
    // Times without a decodable frame near them (DecodeError::DecodeFailed: a damaged
    // stretch); sampling went on after them. failedReason: the first one's message.
    std::vector<double> failedTimes;
    QString failedReason;
    // What stopped sampling early (EndOfStream, TimedOut, Cancelled, ...), else None.
    DecodeError error = DecodeError::None;
    QString errorString;
    bool ok() const { return error == DecodeError::None; }
};

// Opens one file and takes frames from it. Not thread-safe except requestInterruption();
// use one decoder per thread.
//
// open() and frameAt() return their value, or std::nullopt with *error (when given) set to
// a message a person can act on; *code (when given) tells failures apart and is set by
// every call (DecodeError::None when it succeeds).
//
// Which frame is returned for time t: the nearer of the last frame with pts <= t and the
// first frame with pts > t (a tie goes to the earlier one), so for constant frame rate the
// frame lies within half a frame interval of t. Times before the first frame give the first
// frame; times past the last frame give the last frame if it lies within max(0.5 s, two frame
// intervals) of t, else EndOfStream (the usual sign of a truncated file). When no frame at or
// before t can be decoded and the next one is more than max(1 s, two frame intervals) after
// it, the result is DecodeFailed (damaged data) rather than a frame from elsewhere.
class VideoDecoder {
public:
    explicit VideoDecoder(DecodeOptions options = {});
    ~VideoDecoder();
    VideoDecoder(VideoDecoder &&) noexcept;
    VideoDecoder &operator=(VideoDecoder &&) noexcept;
    VideoDecoder(const VideoDecoder &) = delete;
    VideoDecoder &operator=(const VideoDecoder &) = delete;

    // Opens and probes; closes a file opened before. Errors: OpenFailed, NoVideoStream,
    // UnsupportedCodec, TooLarge, TimedOut, Cancelled.
    std::optional<VideoInfo> open(const QString &path, QString *error = nullptr, DecodeError *code = nullptr);
    void close();
    bool isOpen() const;
    const VideoInfo &info() const;        // of the open file (empty when none)
    const DecodeOptions &options() const;

    // One frame near t seconds (see the class comment for which one).
    std::optional<VideoFrame> frameAt(double t, QString *error = nullptr, DecodeError *code = nullptr);
    // Frames near each time; for increasing times (the efficient order) the decoder seeks
    // only where that skips decoding, else decodes forward. Skips times in damaged stretches
    // (see SampleResult::failedTimes); stops at any other error, keeping the frames taken.
    SampleResult sample(const std::vector<double> &times);

    // Thread-safe: makes the running or next call end with Cancelled, until the next open().
    void requestInterruption();

    DecodeStats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

// T times at the middles of T equal intervals of [0, duration): (i + 0.5) * duration / T.
std::vector<double> uniformTimes(double durationSec, int count);
// One time per segment of segmentSec (the last one may be shorter), at the segment's middle.
std::vector<double> segmentTimes(double durationSec, double segmentSec = 4.0);

// Routes FFmpeg's log into the Qt logging category "unisearch.ffmpeg" (debug level, so it is
// silent unless enabled with QT_LOGGING_RULES="unisearch.ffmpeg.debug=true"), instead of
// stderr. Process-wide; call once from main() or a test's initTestCase().
void installFfmpegLogHandler();

} // namespace unisearch::media
