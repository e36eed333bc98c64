#pragma once
// The embedder (on the inference thread, which owns the model while the job runs): the
// model's features of a batch of images, and of a video chunk by chunk (its segments'
// frames in batches, then the video-level feature), while the video stage decodes the
// next chunk on the pool. A model failure is not a file's fault (out of memory, a broken
// device): it is returned as a Status that stops the job, so that the files are not
// marked as errors and the next run retries them. Private to core/engine.
#include "engine/indexing/common.h"
#include "engine/indexing/prepare.h"
#include "engine/indexing/record.h"

#include <QtGlobal>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

class QThreadPool;

namespace unisearch::engine {
class RetrievalModel;
}

namespace unisearch::engine::indexing {

// What embedding one video did, besides turning its record into what is stored.
struct VideoEmbedding {
    Status status;               // !ok: the model failed (the job stops)
    qint64 frames = 0;           // frames the model embedded (counted once the video is complete)
    double decodeSeconds = 0;    // inside the video decoder (on the decode pool)
    double modelSeconds = 0;     // inside the model
};

class Embedder
{
public:
    Embedder(std::shared_ptr<RetrievalModel> model, int batchSize);
    // Frames per model call for videos (the adaptive controller changes it between batches).
    void setBatchSize(int batchSize) { m_batchSize = batchSize < 1 ? 1 : batchSize; }

    // Sets the feature of each Embedded record of batch and frees its pixels.
    Status embedImages(std::vector<Processed> &batch);

    // Embeds a video chunk by chunk (the next chunk decoding on pool meanwhile) and turns
    // p into what the batch writer stores: Video with its segments (merged, mergeCosine,
    // see videostage.h), Failed (a decode error), or Skipped (interrupted). chunkDone is
    // called on this thread after each chunk (progress).
    VideoEmbedding embedVideo(Processed &p, QThreadPool &pool, const StageSettings &settings, double mergeCosine,
                              const std::atomic<bool> &interrupt, const std::function<void()> &chunkDone);

private:
    class VideoRun;

    std::shared_ptr<RetrievalModel> m_model;
    int m_batchSize = 1;
};

} // namespace unisearch::engine::indexing
