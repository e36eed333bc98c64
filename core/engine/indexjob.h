#pragma once
// The indexing job: brings the catalog and the vector store in step with folders on disk.
//
//   scan (scanner.h) → compare with the catalog (new / modified / touched / moved /
//   deleted) → read + hash + decode + preprocess on a decode thread pool, through a
//   bounded queue (memory stays flat whatever the library size) → batches → one thread
//   runs the model (RetrievalModel::imageFeatures) → every finished batch written in ONE
//   catalog transaction (items, segments, float16 vectors, per-file errors) → added to the
//   FAISS store, which is saved atomically with a generation the catalog records
//   (vectorindex.h).
//   Each step is a stage of its own in core/engine/indexing/ (record.h shows a file's way
//   through them: plan, imagestage, videostage, embedder, batchwriter); this job drives them.
//
// What that guarantees:
//  - A crash or kill loses at most the batch in flight. Nothing is written for a file
//    before its batch commits, so a restart finds the committed files unchanged and skips
//    them, and redoes the rest. The store file is rebuilt from the catalog when it is
//    behind (missing, stale, corrupt).
//  - A moved or renamed file (same size and content hash) keeps its item id, segments and
//    vectors; it is not re-embedded (Result::embedded counts what the model ran on).
//  - A file that cannot be read, is not an image, is truncated, or is a decompression
//    bomb is recorded (item with status "error" plus an entry in the catalog's error list)
//    and never stops the job. Unchanged files in error are not retried, except those that
//    could not be read (permissions may have been fixed).
//  - A video is sampled on the decode pool (media::VideoDecoder: keyframe seeks, frames
//    scaled to the model's input size) in chunks of videoChunkFrames, the next chunk
//    decoding while the model embeds the current one. What is stored for it:
//      * one segment per videoSegmentSeconds (the last one shorter), each with the image
//        feature of the frame at its middle; neighbouring segments whose features have a
//        cosine >= videoMergeCosine are merged into one segment spanning both ranges (its
//        vector: the normalised mean of the merged features);
//      * one video-level segment with the time range (0, 0) (a real segment always has
//        end > start): the video feature of the model's video path, normalize(vision_proj(
//        mean of the CLS tokens of videoFrames uniformly sampled frames)).
//    The duration a header states is a claim: the plan unfolds as decoding finds frames
//    (a segment without a frame of its own gets no vector, the stretch up to the next
//    frame is skipped, the plan ends where the stream does and covers at most
//    videoMaxSegments), so the work is bounded by the frames the file really holds.
//    The item (type video, duration, size), its segments and vectors are written in ONE
//    transaction once the whole video is embedded; a crash or cancel before it leaves the
//    video to be redone. A file that cannot be decoded (no video stream, truncated, broken
//    index, a decode budget (videoLimits) run out, ...) is recorded as an error like a
//    broken image, and the job goes on.
//  - One job per data dir: the job takes the IndexLock (lock.h) unless its caller holds it.
//
// Threads: run() works on the calling thread (the "inference thread"; it owns the model
// while it runs) and uses a private pool for decoding. start() runs it on a thread pool
// and reports through the signals (emitted from that pool thread: connect queued).
#include "engine/job.h"
#include "media/scanner.h"
#include "media/videodecoder.h"

#include <QDateTime>
#include <QList>
#include <QMutex>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QWaitCondition>

#include <atomic>
#include <functional>
#include <memory>

class QThreadPool;

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine {

class RetrievalModel;

struct IndexParams {
    QString dataDir;      // the library: <dataDir>/catalog.sqlite, vectors/ (required)
    QStringList paths;    // folders and single files to index (absolute)
    // Only these directories (below `paths`) are rescanned, e.g. what a file watcher
    // reported; files elsewhere are left as they are. Empty: all of `paths`.
    QStringList scopes;
    // The model to embed with. Null: the catalog's active retrieval model is loaded.
    std::shared_ptr<RetrievalModel> model;
    QString device = QStringLiteral("cpu");  // for loading the model
    QString precision;  // for loading it: auto | float32 | bfloat16; empty: the "engine/precision" setting
    // Batch size and the split of the cores between the model and decoding. 0 (the default):
    // adaptive — the job measures the wall time per image of each batch and picks batch
    // 1/2/4/8 and the LibTorch threads (1 .. the process's count) as it goes
    // (indexing/adaptive.h), so that a busy machine does not make large batches collapse.
    // A value > 0 is the user's and is kept as it is (each dimension on its own).
    int batchSize = 0;
    // LibTorch intra-op threads while the job runs; 0: adaptive, at most the process's
    // count (the "threads" setting). The job sets them on its own inference thread and puts
    // the process's count back at its end. libgomp keeps the team size per thread, so a
    // search running meanwhile on another thread keeps its threads; only threads that
    // start using LibTorch while the job runs take the job's current count as theirs.
    int modelThreads = 0;
    int decodeThreads = 0;   // 0: QThread::idealThreadCount()
    int queueCapacity = 0;   // files read/decoded ahead of the model; 0: 4 × the largest batch (at least 8)
    qint64 maxPixels = 200'000'000;  // larger images are refused (decompression bombs)
    // The FAISS file is written at most this often while the job runs, and at its end.
    // A crash in between only costs a rebuild from the catalog (see vectorindex.h).
    int saveIntervalMs = 15'000;
    int progressIntervalMs = 200;  // at most this often, besides one per committed batch
    bool takeLock = true;          // false: the caller holds the IndexLock of dataDir
    // Re-embedding under another vector key (a full-mode adapter pack, training.h): an
    // unchanged video that only lacks this model's vectors keeps its segments and the
    // other keys' vectors (its new segments are added beside them), so a search on the
    // other key still finds it. Otherwise a re-embedded video's segments are replaced.
    bool keepOtherVectors = false;
    // With model null: the active model is loaded with this adapter pack instead of its
    // active one (the re-embed of a pending full-mode pack, training.h).
    QString adapterPack;
    media::ScanOptions scan;       // hidden files, ignore patterns, symlinks

    // Videos (see the top of this file).
    double videoSegmentSeconds = 4.0;
    int videoFrames = 8;               // T frames of the video-level feature
    double videoMergeCosine = 0.98;    // > 1: never merge
    int videoChunkFrames = 16;         // frames decoded ahead per video
    // Segments planned per video at most: 21,600 is a day of 4-s segments, longer than any
    // single recording people keep (a dashcam or a day-long stream), and still a bounded
    // cost (about 22 MB of features and as many rows). The header's duration is only a
    // claim (a 12 KB file can say 136 years): the plan covers at most this many segments
    // and only where decoding finds frames (see VideoTask in indexing/videostage.h).
    int videoMaxSegments = 21'600;
    media::DecodeLimits videoLimits;   // decode time budgets per file, largest frame

    // Text in pictures (indexing/ocrpass.h): after the embedding, photos get an OCR pass in
    // these Tesseract languages (installedOcrLanguages(), media/ocr.h); false skips it.
    bool ocr = true;
    QStringList ocrLanguages{QStringLiteral("eng")};
};

struct IndexProgress {
    enum class Stage { Scanning, Comparing, Indexing, Finishing, Ocr };
    Stage stage = Stage::Scanning;
    qint64 scanned = 0;      // files found so far
    qint64 filesDone = 0;    // Indexing: files committed (embedded, recorded as error or pending)
    qint64 filesTotal = 0;   // Indexing: files this run has to process
    qint64 embedded = 0;     // images embedded so far
    qint64 videosEmbedded = 0;
    double filesPerSecond = 0;
    double etaSeconds = -1;  // < 0: unknown
    bool paused = false;
    QString currentPath;
    qint64 ocrDone = 0;   // Ocr: images read so far in this run (the pass after Finishing)
    qint64 ocrTotal = 0;  // Ocr: images whose OCR was pending at its start
};
QString toString(IndexProgress::Stage stage);  // scanning, comparing, indexing, finishing, ocr

struct IndexFileError {
    QString path;
    QString stage;    // read, type, decode
    QString message;
};

struct IndexResult {
    bool ok = false;         // ran to the end (or was cancelled cleanly)
    bool cancelled = false;  // interruption requested: committed batches are kept
    QString error;           // !ok: why the job failed

    qint64 scanned = 0;      // media files found under the scanned folders
    qint64 added = 0;        // new files
    qint64 modified = 0;     // changed content, re-processed
    qint64 touched = 0;      // new mtime, same content: row updated only
    qint64 unchanged = 0;
    qint64 moved = 0;        // renamed or moved: kept their vectors
    qint64 deleted = 0;      // removed from the catalog and the store
    qint64 unreachable = 0;  // under an unreadable folder: left as they were
    qint64 retried = 0;      // unchanged files processed again (unreadable before, no vector)

    qint64 embedded = 0;       // images the model embedded in this run
    qint64 videosEmbedded = 0; // videos the model embedded in this run
    qint64 framesEmbedded = 0; // their frames (segments plus the video-level frames)
    qint64 segmentsStored = 0; // their segments after merging (video-level ones not counted)
    double videoDecodeSeconds = 0; // wall time inside the video decoders (on the decode pool)
    double videoModelSeconds = 0;  // wall time of the model on video frames (inference thread)
    qint64 failed = 0;         // files recorded with an error in this run
    qint64 storeSize = 0;      // vectors in the store at the end
    bool storeRebuilt = false; // the store file was missing, stale or corrupt at the start
    QString storeRebuildReason;

    double seconds = 0;           // the whole run
    double indexingSeconds = 0;   // from the first decode to the last commit
    double imagesPerSecond = 0;   // embedded / indexingSeconds
    // The configuration the job ended with (adaptive or the user's) and the probes of other
    // configurations the adaptive controller made.
    int batchSize = 0;
    int modelThreads = 0;
    int decodeThreads = 0;
    int adaptiveProbes = 0;
    // The OCR pass (indexing/ocrpass.h), after the photos are searchable; not counted in
    // indexingSeconds. A pass that could not run (a language not installed) leaves ocrError
    // and the job still ok: the photos are indexed.
    qint64 ocrRead = 0;           // images read in this run
    qint64 ocrWithText = 0;       // of them, with text
    qint64 ocrFailed = 0;
    double ocrSeconds = 0;
    QString ocrError;
    QList<IndexFileError> errors;           // this run's per-file errors (first 1000)
    QList<media::ScanError> scanErrors;     // unreadable folders, missing roots
};

// What `status` says about indexing: the store of the active model, what waits, who runs.
struct IndexState {
    QString model;          // the active retrieval model's name; empty: none
    QString fingerprint;
    QString storePath;      // vectors/<fingerprint>.faiss
    bool storeExists = false;
    qint64 storeBytes = 0;
    std::int64_t generation = 0;  // the store generation the catalog records
    qint64 vectors = 0;           // the catalog's vectors of the model
    qint64 indexedImages = 0;
    qint64 pendingImages = 0;     // known, not embedded yet (an interrupted run, a model change)
    qint64 errorItems = 0;        // files recorded with an error
    qint64 indexedVideos = 0;
    qint64 pendingVideos = 0;     // known, not embedded yet (an interrupted run, a model change)
    qint64 indexerPid = 0;        // a running indexer's pid; 0: none
    QString reembedPack;          // a full-mode adapter pack waiting for its re-embed (training.h)
    qint64 reembedVectors = 0;    // the vectors it has so far
    bool hasLastJob = false;
    QString lastJobState;         // done, cancelled, failed, running (interrupted ones read "failed")
    QDateTime lastJobAt;
    QString lastJobError;
};
// Reads it from the catalog and the data dir; cheap (the store file is not loaded).
// Throws catalog::CatalogError.
IndexState readIndexState(const catalog::Catalog &catalog, const QString &dataDir);
// Tells the next index job to look for indexed items without a vector of its model (after
// vectors were deleted outside a model change, e.g. an adapter pack's). Throws CatalogError.
void markVectorsIncomplete(catalog::Catalog &catalog);

// The job control (start, wait, interruption, failed, params, result) is TypedJob's (job.h).
class IndexJob : public TypedJob<IndexParams, IndexResult, IndexProgress>
{
    Q_OBJECT

public:
    using ProgressFn = std::function<bool(const Progress &)>;  // return false to cancel

    explicit IndexJob(Params params, QObject *parent = nullptr);
    // Requests interruption and waits for a started job.
    ~IndexJob() override;

    // Runs the job on the calling thread; progress is called on it. Never throws.
    Result run(const ProgressFn &progress = {});
    // Job::start after registering the signals' types.
    void start(QThreadPool *pool = nullptr);

    // Thread-safe controls. Interruption keeps every committed batch; pause holds the
    // pipeline between batches (decodes already running finish) until resume().
    void requestInterruption() override;
    void pause();
    void resume();
    bool isPaused() const { return m_paused.load(); }

signals:
    void progressUpdated(const unisearch::engine::IndexProgress &progress);
    void finished(const unisearch::engine::IndexResult &result);  // ok (or cancelled)

private:
    struct Run;
    // Blocks while paused; false when interrupted meanwhile.
    bool waitWhilePaused();

    void runOnPool() override { run(); }
    void emitFinished(const Result &result) override { emit finished(result); }

    std::atomic<bool> m_paused{false};
    QWaitCondition m_resumed;
};

} // namespace unisearch::engine

Q_DECLARE_METATYPE(unisearch::engine::IndexProgress)
Q_DECLARE_METATYPE(unisearch::engine::IndexResult)
