#include "media/videodecoder_p.h"

#include "media/filepath.h"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
}

#include <QFile>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <numbers>
#include <system_error>
#include <vector>

// Opening a video file and probing its stream: which stream, which decoder, duration,
// frame rate, display geometry and orientation.

namespace unisearch::media {

namespace detail {

namespace {

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

} // namespace

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

} // namespace detail

using detail::fail;

namespace {

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
        + options.limits.timeBudgetPerVideoSec * std::clamp(info.durationSec, 0.0, detail::kMaxBudgetedDurationSec);
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
    orientation = detail::orientationOf(stream);
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

} // namespace unisearch::media
