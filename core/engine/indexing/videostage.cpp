#include "engine/indexing/videostage.h"

#include "engine/indexing/common.h"
#include "engine/indexing/record.h"
#include "engine/videoframes_p.h"
#include "media/contenthash.h"
#include "util/log.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace unisearch::engine::indexing {

namespace {

// The video-level times: T uniformly spaced over [0, end), one decode per distinct time.
void planUniform(VideoTask &task, double end)
{
    task.uniform.clear();
    task.nextUniform = 0;
    for (double t : media::uniformTimes(end, std::max(1, task.frames))) {
        if (!task.uniform.empty() && std::abs(task.uniform.back().first - t) < 1e-6)
            ++task.uniform.back().second;
        else
            task.uniform.push_back({t, 1});
    }
}

// The plan's bounds: one segment per segmentSec (the last one shorter) over the claimed
// duration, at most maxSegments of them, plus the T frames of the video-level feature.
void planVideo(VideoTask &task, const VideoSettings &settings)
{
    task.segmentSec = settings.segmentSec > 0 ? settings.segmentSec : 4.0;
    task.frames = std::max(1, settings.frames);
    const int maxSegments = std::max(1, settings.maxSegments);
    task.planEnd = std::min(task.info.durationSec, task.segmentSec * maxSegments);
    if (task.planEnd < task.info.durationSec)
        log::warning(logCategory, QStringLiteral("%1 says it lasts %2 s: only its first %3 s (%4 segments) are indexed")
                                      .arg(task.path)
                                      .arg(task.info.durationSec, 0, 'g', 6)
                                      .arg(task.planEnd, 0, 'f', 0)
                                      .arg(maxSegments));
    task.segmentCount = static_cast<int>(
        std::clamp(std::ceil((task.planEnd - 1e-9) / task.segmentSec), 0.0, static_cast<double>(maxSegments)));
    planUniform(task, task.planEnd);
}

std::pair<double, double> segmentBounds(const VideoTask &task, int i)
{
    const double start = i * task.segmentSec;
    return {start, std::min(task.planEnd, start + task.segmentSec)};
}

// The next time to sample (the earlier of the next segment's middle and the next
// video-level time, both when they coincide), or nothing when the plan is complete.
std::optional<VideoEntry> nextEntry(const VideoTask &task)
{
    std::optional<VideoEntry> e;
    if (task.nextSegment < task.segmentCount) {
        const auto [start, end] = segmentBounds(task, task.nextSegment);
        e.emplace();
        e->t = (start + end) / 2;
        e->segment = task.nextSegment;
        e->range.startMs = std::llround(start * 1000);
        e->range.endMs = std::max<std::int64_t>(e->range.startMs + 1, std::llround(end * 1000));
    }
    if (task.nextUniform < task.uniform.size()) {
        const auto [t, copies] = task.uniform[task.nextUniform];
        if (!e || t < e->t - 1e-6) {
            e.emplace();
            e->t = t;
        }
        if (std::abs(t - e->t) < 1e-6)
            e->uniformCopies = copies;
    }
    return e;
}

// The stream has no frame after lastFrameSec (< 0: none at all): no segment past it, and
// the video-level frames are taken again over [0, the real end) if some lay past it.
// Clears the video-level copies of the frames taken so far in c when it does.
void endStream(VideoTask &task, double lastFrameSec, const QString &reason, VideoChunk &c)
{
    task.nextSegment = task.segmentCount;
    if (task.realEnd >= 0)
        return;
    task.endReason = reason;
    // The last frame lasts one frame interval: as decoding saw them, else as the header
    // says, never more than a segment (a header that lies about the duration lies about
    // the average frame rate too).
    double step = std::min(task.segmentSec, task.frameGap);
    if (task.info.frameRate > 0)
        step = std::min(step, 1.0 / task.info.frameRate);
    task.realEnd = lastFrameSec >= 0 ? std::min(task.planEnd, lastFrameSec + step) : 0.0;
    const bool pastEnd = std::any_of(task.uniform.begin(), task.uniform.end(),
                                     [&](const auto &u) { return u.first >= task.realEnd; });
    if (!pastEnd)
        return;
    if (task.uniformReplanned || !(task.realEnd > 0)) {
        task.nextUniform = task.uniform.size();
        return;
    }
    task.uniformReplanned = true;
    planUniform(task, task.realEnd);
    c.restartUniform = true;
    for (VideoEntry &e : c.entries)
        e.uniformCopies = 0;
}

} // namespace

VideoChunk decodeChunk(VideoTask &task, const model::PreprocessParams &pre, const VideoSettings &settings,
                       const std::atomic<bool> &interrupt)
{
    VideoChunk c;
    const double before = task.decoder.stats().secondsSpent;
    std::vector<media::VideoFrame> frames;
    for (int tried = 0; tried < std::max(1, settings.chunkFrames); ++tried) {
        if (interrupt.load()) {
            c.error = media::DecodeError::Cancelled;
            break;
        }
        std::optional<VideoEntry> e = nextEntry(task);
        if (!e)
            break;
        if (e->segment >= 0)
            ++task.nextSegment;
        if (e->uniformCopies > 0)
            ++task.nextUniform;
        QString why;
        media::DecodeError code = media::DecodeError::None;
        auto frame = task.decoder.frameAt(e->t, &why, &code);
        if (!frame) {
            if (code == media::DecodeError::DecodeFailed)
                continue;  // a damaged stretch: later times may decode again
            if (code == media::DecodeError::EndOfStream) {
                endStream(task, task.decoder.stats().latestFrameSec, why, c);
                continue;
            }
            c.error = code;
            c.errorString = why;
            c.errorAt = e->t;
            break;
        }
        const media::VideoFrame &f = *frame;
        if (f.nextSec > f.timeSec)
            task.frameGap = std::min(task.frameGap, f.nextSec - f.timeSec);
        if (e->segment >= 0) {
            const auto [start, end] = segmentBounds(task, e->segment);
            // Its own picture: a frame inside it. Else the frame belongs to another segment
            // (this one holds none: an empty stretch of the timeline) and gives no vector.
            const bool own = f.timeSec >= start - 1e-6 && f.timeSec < end;
            if (!own)
                e->segment = -1;
            // The segments before the next frame the decoder has seen hold no frame either.
            const double ahead = f.timeSec >= end ? f.timeSec : f.nextSec;
            if (ahead >= end) {
                const double at = std::floor(ahead / task.segmentSec);
                task.nextSegment = at >= task.segmentCount ? task.segmentCount
                                                            : std::max(task.nextSegment, static_cast<int>(at));
            } else if (!own && f.lastInStream) {
                endStream(task, f.timeSec, QStringLiteral("the last frame is at %1 s").arg(f.timeSec, 0, 'f', 3), c);
            }
        } else if (f.lastInStream && e->t >= f.timeSec + task.segmentSec) {
            endStream(task, f.timeSec, QStringLiteral("the last frame is at %1 s").arg(f.timeSec, 0, 'f', 3), c);
        }
        c.entries.push_back(*e);
        frames.push_back(f);
    }
    c.decodeSeconds = task.decoder.stats().secondsSpent - before;
    c.last = c.error != media::DecodeError::None || !nextEntry(task);
    // A frame of nothing (neither a segment's own nor a video-level one) is not prepared.
    size_t kept = 0;
    for (size_t i = 0; i < c.entries.size(); ++i) {
        if (c.entries[i].segment < 0 && c.entries[i].uniformCopies == 0)
            continue;
        c.entries[kept] = c.entries[i];
        frames[kept++] = std::move(frames[i]);
    }
    c.entries.resize(kept);
    frames.resize(kept);
    try {
        detail::appendPixels(frames, pre, c.pixels);
    } catch (const std::exception &e) {
        c.pixels.clear();
        c.entries.clear();
        c.error = media::DecodeError::DecodeFailed;
        c.errorString = QStringLiteral("cannot prepare a frame: %1").arg(QString::fromUtf8(e.what()));
    }
    return c;
}

Processed processVideo(const WorkItem &w, const model::PreprocessParams &pre, const VideoSettings &settings,
                       const std::atomic<bool> &interrupt)
{
    Processed p;
    p.work = &w;
    // The hash lets a moved video keep its row, segments and vectors.
    const media::ContentHash h = w.knownHash.isEmpty() ? media::contentHash(w.path)
                                                       : media::ContentHash{w.knownHash, {}};
    if (!h.ok())
        return fail(w, QStringLiteral("read"), QStringLiteral("%1: %2").arg(readErrorPrefix, h.error));
    p.hash = h.hash;
    auto failDecode = [&](const QString &message) {
        Processed f = fail(w, QStringLiteral("decode"), message);
        f.hash = p.hash;
        return f;
    };
    // Decoder threads: the pool already decodes several files side by side.
    auto task = std::make_shared<VideoTask>(detail::modelDecodeOptions(pre.size, settings.limits, 2));
    QString why;
    const auto opened = task->decoder.open(w.path, &why);
    if (!opened)
        return failDecode(QStringLiteral("cannot read the video: %1").arg(why));
    task->info = *opened;
    task->path = w.path;
    if (!(task->info.durationSec > 0) || !std::isfinite(task->info.durationSec))
        return failDecode(QStringLiteral("the video has no duration (no frames?)"));
    planVideo(*task, settings);
    p.width = task->info.width;
    p.height = task->info.height;
    p.durationS = task->info.durationSec;
    p.chunk = decodeChunk(*task, pre, settings, interrupt);
    if (p.chunk.error == media::DecodeError::Cancelled) {
        Processed skipped;  // the job is stopping
        skipped.work = &w;
        return skipped;
    }
    p.video = std::move(task);
    p.outcome = Outcome::Video;
    return p;
}

std::vector<StoredSegment> mergeSegments(std::vector<StoredSegment> segments, double realEnd, double mergeCosine)
{
    auto normalized = [](std::vector<float> v) {
        double n = 0;
        for (float x : v)
            n += double(x) * double(x);
        n = std::sqrt(n);
        if (n > 0)
            for (float &x : v)
                x = static_cast<float>(x / n);
        return v;
    };
    auto cosine = [](const std::vector<float> &a, const std::vector<float> &b) {
        double d = 0;
        for (size_t i = 0; i < a.size() && i < b.size(); ++i)
            d += double(a[i]) * double(b[i]);
        return d;
    };
    // The stream ended before its claimed duration: no segment reaches past its real end.
    const std::int64_t realEndMs = realEnd >= 0 ? std::llround(realEnd * 1000) : -1;
    std::vector<StoredSegment> merged;
    std::vector<float> sum;
    for (StoredSegment &s : segments) {
        if (realEndMs >= 0)
            s.range.endMs = std::max(s.range.startMs + 1, std::min(s.range.endMs, realEndMs));
        const std::vector<float> &f = s.feature;
        if (!merged.empty() && merged.back().range.endMs == s.range.startMs
            && cosine(merged.back().feature, f) >= mergeCosine) {
            merged.back().range.endMs = s.range.endMs;
            for (size_t j = 0; j < sum.size(); ++j)
                sum[j] += f[j];
            merged.back().feature = normalized(sum);
        } else {
            merged.push_back(s);
            sum = f;
        }
    }
    return merged;
}

} // namespace unisearch::engine::indexing
