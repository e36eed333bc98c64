#include "media/videodecoder_p.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

// Seeking and decoding: where to seek and where to decode forward, the two-frame window
// (`before`, `last`) and which frame answers a time.

namespace unisearch::media {

using detail::fail;
using detail::kMaxConsecutiveErrors;

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

} // namespace unisearch::media
