#include "engine/indexing/embedder.h"

#include "engine/retrievalmodel.h"
#include "model/modelrunner.h"

#include <QElapsedTimer>
#include <QThreadPool>

#include <algorithm>
#include <future>
#include <string>
#include <utility>

namespace unisearch::engine::indexing {

Embedder::Embedder(std::shared_ptr<RetrievalModel> model, int batchSize)
    : m_model(std::move(model)), m_batchSize(std::max(1, batchSize))
{
}

Status Embedder::embedImages(std::vector<Processed> &batch)
{
    if (batch.empty())
        return {};
    std::vector<const float *> pixels;
    pixels.reserve(batch.size());
    for (const Processed &p : batch)
        pixels.push_back(p.pixels.data());
    try {
        std::vector<std::vector<float>> features = m_model->imageFeatures(pixels);
        if (features.size() != batch.size())
            throw model::ModelError("the model returned " + std::to_string(features.size()) + " features for "
                                    + std::to_string(batch.size()) + " images");
        for (size_t i = 0; i < batch.size(); ++i) {
            batch[i].feature = std::move(features[i]);
            batch[i].pixels = std::vector<float>();
        }
    } catch (const std::exception &e) {
        // A model failure is not the file's fault (out of memory, a broken device): stop,
        // so that the files are not marked as errors and the next run retries them.
        return Status::failure(QStringLiteral("the model failed on a batch of %1 images (%2 …): %3")
                                   .arg(batch.size())
                                   .arg(batch.front().work->path, QString::fromUtf8(e.what())));
    }
    return {};
}

// One video's way through the model: the state embedVideo() keeps from chunk to chunk.
class Embedder::VideoRun
{
public:
    VideoRun(Embedder &embedder, Processed &p, const StageSettings &settings, const std::atomic<bool> &interrupt)
        : m_embedder(embedder), m_p(p), m_task(p.video), m_settings(settings), m_interrupt(interrupt),
          m_per(model::preprocessedSize(settings.pre))
    {
    }

    // False when the model failed (m_result.status says why).
    bool run(QThreadPool &pool, double mergeCosine, const std::function<void()> &chunkDone);
    VideoEmbedding result() const { return m_result; }

private:
    // The next chunk decodes while the model works on this one; ahead of other files,
    // so the model does not wait for it.
    void startNextChunk(QThreadPool &pool);
    // Segment frames → image features, a batch at a time. False when the model failed.
    bool embedSegments(const VideoChunk &chunk);
    bool flush(std::vector<const float *> &ptrs, std::vector<size_t> &which);
    // The T video-level frames (a frame at a time shared by several of the T counts as
    // often as it is shared).
    std::vector<const float *> uniformFrames() const;
    // The video-level feature: mean CLS of those frames.
    std::vector<float> videoFeature(const std::vector<const float *> &uniform);
    bool modelFailed(const std::exception &e);
    void toFailed(const QString &message);
    void noFrame();

    Embedder &m_embedder;
    Processed &m_p;
    const std::shared_ptr<VideoTask> m_task;
    const StageSettings &m_settings;
    const std::atomic<bool> &m_interrupt;
    const size_t m_per;
    VideoEmbedding m_result;
    std::vector<StoredSegment> m_segmentFeatures;  // the segments with a frame of their own, in order
    std::vector<float> m_uniformPixels;  // the T video-level frames, kept to the end
    std::vector<int> m_uniformCopies;
    qint64 m_frames = 0;
    std::future<VideoChunk> m_next;  // the chunk decoding on the pool meanwhile
};

void Embedder::VideoRun::toFailed(const QString &message)
{
    m_p.outcome = Outcome::Failed;
    m_p.errorStage = QStringLiteral("decode");
    m_p.errorMessage = message;
    m_p.video.reset();
}

void Embedder::VideoRun::noFrame()
{
    toFailed(m_task->endReason.isEmpty()
                 ? QStringLiteral("no frame of the video could be decoded")
                 : QStringLiteral("no frame of the video could be decoded (%1)").arg(m_task->endReason));
}

bool Embedder::VideoRun::modelFailed(const std::exception &e)
{
    m_result.status = Status::failure(QStringLiteral("the model failed on the frames of %1: %2")
                                          .arg(m_p.work->path, QString::fromUtf8(e.what())));
    return false;
}

void Embedder::VideoRun::startNextChunk(QThreadPool &pool)
{
    auto promise = std::make_shared<std::promise<VideoChunk>>();
    m_next = promise->get_future();
    const model::PreprocessParams preCopy = m_settings.pre;
    const VideoSettings settingsCopy = m_settings.video;
    const std::atomic<bool> *interrupt = &m_interrupt;
    const std::shared_ptr<VideoTask> task = m_task;
    pool.start([promise, task, preCopy, settingsCopy, interrupt] {
        try {
            promise->set_value(decodeChunk(*task, preCopy, settingsCopy, *interrupt));
        } catch (...) {
            promise->set_exception(std::current_exception());
        }
    }, 10);
}

bool Embedder::VideoRun::flush(std::vector<const float *> &ptrs, std::vector<size_t> &which)
{
    if (ptrs.empty())
        return true;
    try {
        std::vector<std::vector<float>> features = m_embedder.m_model->withModel([&](model::ModelRunner &runner) {
            QElapsedTimer mt;
            mt.start();
            auto f = runner.imageFeatures(ptrs);
            m_result.modelSeconds += static_cast<double>(mt.nsecsElapsed()) / 1e9;
            return f;
        });
        if (features.size() != ptrs.size())
            throw model::ModelError("the model returned " + std::to_string(features.size())
                                    + " features for " + std::to_string(ptrs.size()) + " frames");
        for (size_t i = 0; i < which.size(); ++i)
            m_segmentFeatures[which[i]].feature = std::move(features[i]);
    } catch (const std::exception &e) {
        return modelFailed(e);
    }
    m_frames += static_cast<qint64>(ptrs.size());
    ptrs.clear();
    which.clear();
    return true;
}

bool Embedder::VideoRun::embedSegments(const VideoChunk &chunk)
{
    std::vector<const float *> ptrs;
    std::vector<size_t> which;
    if (chunk.restartUniform) {
        m_uniformPixels.clear();
        m_uniformCopies.clear();
    }
    for (size_t k = 0; k < chunk.entries.size(); ++k) {
        const VideoEntry &e = chunk.entries[k];
        const float *px = chunk.pixels.data() + k * m_per;
        if (e.uniformCopies > 0) {
            m_uniformPixels.insert(m_uniformPixels.end(), px, px + m_per);
            m_uniformCopies.push_back(e.uniformCopies);
        }
        if (e.segment >= 0) {
            m_segmentFeatures.push_back({e.range, {}});
            ptrs.push_back(px);
            which.push_back(m_segmentFeatures.size() - 1);
            if (static_cast<int>(ptrs.size()) >= m_embedder.m_batchSize && !flush(ptrs, which))
                return false;
        }
    }
    return flush(ptrs, which);
}

std::vector<const float *> Embedder::VideoRun::uniformFrames() const
{
    std::vector<const float *> uniform;
    for (size_t i = 0; i < m_uniformCopies.size(); ++i)
        for (int c = 0; c < m_uniformCopies[i]; ++c)
            uniform.push_back(m_uniformPixels.data() + i * m_per);
    return uniform;
}

std::vector<float> Embedder::VideoRun::videoFeature(const std::vector<const float *> &uniform)
{
    return m_embedder.m_model->withModel([&](model::ModelRunner &runner) {
        QElapsedTimer mt;
        mt.start();
        std::vector<float> f = runner.videoFeature(uniform);
        m_result.modelSeconds += static_cast<double>(mt.nsecsElapsed()) / 1e9;
        return f;
    });
}

bool Embedder::VideoRun::run(QThreadPool &pool, double mergeCosine, const std::function<void()> &chunkDone)
{
    VideoChunk chunk = std::move(m_p.chunk);
    QString decodeError;
    try {
        while (true) {
            m_result.decodeSeconds += chunk.decodeSeconds;
            if (chunk.error == media::DecodeError::Cancelled || m_interrupt.load()) {
                m_p.outcome = Outcome::Skipped;  // redone by the next run
                return true;
            }
            if (chunk.error != media::DecodeError::None) {
                decodeError = QStringLiteral("cannot take frames near %1 s: %2")
                                  .arg(chunk.errorAt, 0, 'f', 1)
                                  .arg(chunk.errorString);
                break;
            }
            if (!chunk.last)
                startNextChunk(pool);
            if (!embedSegments(chunk)) {
                if (m_next.valid())
                    m_next.wait();  // let the decoder finish before the job ends
                return false;
            }
            if (chunkDone)
                chunkDone();
            if (!m_next.valid())
                break;
            try {
                chunk = m_next.get();
            } catch (...) {
                decodeError = QStringLiteral("cannot take frames: %1").arg(describeException(std::current_exception()));
                break;
            }
        }
        if (!decodeError.isEmpty()) {
            toFailed(decodeError);
            return true;
        }

        const std::vector<const float *> uniform = uniformFrames();
        if (uniform.empty()) {
            noFrame();
            return true;
        }
        std::vector<float> video;
        try {
            video = videoFeature(uniform);
        } catch (const std::exception &e) {
            return modelFailed(e);
        }
        m_frames += static_cast<qint64>(m_uniformCopies.size());

        std::vector<StoredSegment> merged = mergeSegments(std::move(m_segmentFeatures), m_task->realEnd, mergeCosine);
        if (merged.empty()) {
            noFrame();
            return true;
        }
        m_p.segments = std::move(merged);
        m_p.segments.push_back({VideoRange{0, 0}, std::move(video)});
        if (m_task->realEnd > 0)
            m_p.durationS = m_task->realEnd;
    } catch (...) {
        // Whatever the file made go wrong here (out of memory, a size beyond any limit)
        // fails the file, not the job.
        if (m_next.valid())
            m_next.wait();
        toFailed(QStringLiteral("cannot index the video: %1").arg(describeException(std::current_exception())));
        return true;
    }
    m_p.video.reset();  // closes the file
    m_result.frames = m_frames;
    return true;
}

VideoEmbedding Embedder::embedVideo(Processed &p, QThreadPool &pool, const StageSettings &settings, double mergeCosine,
                                    const std::atomic<bool> &interrupt, const std::function<void()> &chunkDone)
{
    VideoRun run(*this, p, settings, interrupt);
    run.run(pool, mergeCosine, chunkDone);
    return run.result();
}

} // namespace unisearch::engine::indexing
