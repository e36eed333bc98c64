#pragma once
// The video stage: a video's plan (where to sample, unfolding as decoding finds frames),
// its frames sampled in chunks on the decode pool, and the merging of neighbouring
// segments that look the same. The model's part (embedding the chunks, the video-level
// feature) is the embedder's (embedder.h); what is stored, the batch writer's.
// Private to core/engine.
#include "media/videodecoder.h"
#include "model/preprocess.h"

#include <QString>

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace unisearch::engine::indexing {

struct WorkItem;
struct Processed;

struct VideoRange {
    std::int64_t startMs = 0;
    std::int64_t endMs = 0;
};

// One time of a video to sample, with what it serves.
struct VideoEntry {
    double t = 0;
    int segment = -1;      // the segment (its number from the start) whose frame this is, or -1
    VideoRange range;      // that segment's time range
    int uniformCopies = 0; // how many of the T video-level frames lie at this time
};

struct VideoSettings {
    double segmentSec = 4.0;
    int frames = 8;
    int chunkFrames = 16;
    int maxSegments = 21'600;
    media::DecodeLimits limits;
};

// A video being indexed: its decoder and its plan (one thread at a time: the decode task
// that holds the next chunk).
//
// The header's duration is a claim, not a fact: a 12 KB file can say it lasts 136 years.
// So the plan is not laid out from it up front; it unfolds as decoding shows where the
// frames are. It covers at most maxSegments segments; a segment whose nearest frame lies
// outside it has no picture of its own and gets no vector (the frame is another
// segment's, or the stream has ended); the segments up to the next frame the decoder
// has seen are skipped without decoding; and when the stream ends before the claimed
// duration, the plan ends there and the T video-level frames are taken again over what
// the file really holds. What the model embeds is then bounded by the frames the file
// really has, however long it claims to be.
struct VideoTask {
    explicit VideoTask(const media::DecodeOptions &o) : decoder(o) {}
    media::VideoDecoder decoder;
    media::VideoInfo info;
    QString path;
    double segmentSec = 4.0;
    int frames = 8;                                 // T
    double planEnd = 0;                             // [0, planEnd): the claim, capped
    int segmentCount = 0;                           // segments of [0, planEnd)
    int nextSegment = 0;                            // the next segment to sample
    std::vector<std::pair<double, int>> uniform;    // the T video-level times (with copies), increasing
    size_t nextUniform = 0;                         // the next of them to sample
    bool uniformReplanned = false;
    double frameGap = std::numeric_limits<double>::infinity();  // the shortest seen between two frames
    double realEnd = -1;  // where decoding found the stream's end, when before planEnd (< 0: not found)
    QString endReason;    // the decoder's word on that end
};

// The frames of the next entries of a video's plan, preprocessed.
struct VideoChunk {
    std::vector<VideoEntry> entries;  // the entries that gave a frame, in order
    std::vector<float> pixels;        // entries.size() × the model's input
    // The stream ended before the times of the video-level frames taken so far: drop them,
    // the ones in this chunk and later replace them.
    bool restartUniform = false;
    bool last = false;                // the plan is complete (or failed) with this chunk
    media::DecodeError error = media::DecodeError::None;
    QString errorString;
    double errorAt = 0;               // the time whose decoding failed
    double decodeSeconds = 0;
};

struct StoredSegment {
    VideoRange range;
    std::vector<float> feature;
};

// Decodes the next chunk of a video's plan (on a decode thread).
VideoChunk decodeChunk(VideoTask &task, const model::PreprocessParams &pre, const VideoSettings &settings,
                       const std::atomic<bool> &interrupt);

// Opens a video, plans it and decodes its first chunk (on a decode thread): Video with
// the task and its first chunk, Failed, or Skipped (the job is stopping).
Processed processVideo(const WorkItem &w, const model::PreprocessParams &pre, const VideoSettings &settings,
                       const std::atomic<bool> &interrupt);

// Segments, neighbours that look the same (cosine >= mergeCosine) merged into one segment
// spanning both ranges, its vector the normalised mean of the merged features (a gap left
// by a damaged stretch or an empty stretch of the timeline is never bridged). realEnd
// (>= 0): the stream ended there, before its claimed duration, and no segment reaches
// past it.
std::vector<StoredSegment> mergeSegments(std::vector<StoredSegment> segments, double realEnd, double mergeCosine);

} // namespace unisearch::engine::indexing
