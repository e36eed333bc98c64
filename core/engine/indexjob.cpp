#include "engine/indexjob.h"

#include "catalog/catalog.h"
#include "catalog/reader.h"
#include "engine/indexing/adaptive.h"
#include "engine/indexing/batchwriter.h"
#include "engine/indexing/common.h"
#include "engine/indexing/embedder.h"
#include "engine/indexing/metadatastage.h"
#include "engine/indexing/ocrpass.h"
#include "engine/indexing/otherkeys.h"
#include "engine/indexing/plan.h"
#include "engine/indexing/prepare.h"
#include "engine/indexing/record.h"
#include "engine/lock.h"
#include "engine/retrievalmodel.h"
#include "engine/vectorindex.h"
#include "model/runtime.h"
#include "util/faultpoint.h"
#include "util/log.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFuture>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QThread>
#include <QThreadPool>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <deque>
#include <optional>
#include <unordered_set>

// The job drives the stages of core/engine/indexing/ (record.h shows a file's way through
// them): the plan (plan.h), the image and video stages on a decode pool (prepare.h), the
// embedder on this thread (embedder.h) and the batch writer (batchwriter.h). What stays
// here: the run's order, its queue, pause and cancel, progress, and the job's own row.

namespace unisearch::engine {

using indexing::describeException;
using indexing::logCategory;
using indexing::Outcome;
using indexing::Processed;
using indexing::WorkItem;

namespace {

constexpr int maxReportedErrors = 1000;
// Files that need no model (errors, videos) are committed in groups of this size even
// when no image batch completes, so a folder of broken files still makes progress.
constexpr qsizetype maxRecordsPerCommit = 64;

} // namespace

QString toString(IndexProgress::Stage stage)
{
    switch (stage) {
    case IndexProgress::Stage::Scanning:
        return QStringLiteral("scanning");
    case IndexProgress::Stage::Comparing:
        return QStringLiteral("comparing");
    case IndexProgress::Stage::Indexing:
        return QStringLiteral("indexing");
    case IndexProgress::Stage::Finishing:
        return QStringLiteral("finishing");
    case IndexProgress::Stage::Ocr:
        return QStringLiteral("ocr");
    }
    return QStringLiteral("indexing");
}

// --- one run -------------------------------------------------------------------

struct IndexJob::Run {
    IndexJob &job;
    const IndexParams &params;
    const ProgressFn &progressFn;
    IndexResult result;
    IndexProgress progress;
    QElapsedTimer total;
    QElapsedTimer sinceProgress;
    QElapsedTimer indexing;

    std::unique_ptr<catalog::Catalog> catalog;
    std::unique_ptr<catalog::Reader> reader;
    std::shared_ptr<RetrievalModel> model;
    std::unique_ptr<VectorIndex> vindex;
    std::int64_t jobId = 0;
    indexing::Roots roots;
    std::unique_ptr<indexing::OtherKeys> otherKeys;
    std::unique_ptr<indexing::BatchWriter> writer;
    std::unique_ptr<indexing::Embedder> embedder;

    // Batch size and threads (adaptive.h): the controller unless the user fixed both.
    std::unique_ptr<indexing::AdaptiveController> adaptive;
    indexing::AdaptiveConfig config;
    QThreadPool *decodePool = nullptr;
    QElapsedTimer cycle;        // since the last batch left the model (its wall time per image)
    int originalThreads = 0;    // LibTorch's count on this thread before the job

    Run(IndexJob &j, const IndexParams &p, const ProgressFn &fn) : job(j), params(p), progressFn(fn) {}

    bool failWith(const QString &message)
    {
        result.ok = false;
        result.error = message;
        return false;
    }

    // Reports progress; false when the job should stop.
    bool report(bool force = false)
    {
        if (!force && sinceProgress.isValid() && sinceProgress.elapsed() < params.progressIntervalMs)
            return !job.isInterruptionRequested();
        sinceProgress.restart();
        progress.paused = job.isPaused();
        progress.embedded = result.embedded;
        progress.videosEmbedded = result.videosEmbedded;
        if (progress.stage == IndexProgress::Stage::Indexing && indexing.isValid()) {
            const double s = static_cast<double>(indexing.elapsed()) / 1000.0;
            progress.filesPerSecond = s > 0 ? static_cast<double>(progress.filesDone) / s : 0;
            progress.etaSeconds = progress.filesPerSecond > 0
                                      ? static_cast<double>(progress.filesTotal - progress.filesDone)
                                            / progress.filesPerSecond
                                      : -1;
        }
        emit job.progressUpdated(progress);
        if (progressFn && !progressFn(progress))
            job.requestInterruption();
        return !job.isInterruptionRequested();
    }

    void addError(const IndexFileError &e)
    {
        ++result.failed;
        if (result.errors.size() < maxReportedErrors)
            result.errors.append(e);
    }

    bool execute();
    // Step 1 after the lock: the catalog, the job's row, the model, the store, the stages.
    bool open();
    indexing::StageSettings stageSettings() const;
    bool runPipeline(std::vector<WorkItem> &work);
    void startAdaptive(QThreadPool &pool);
    void applyConfig(const indexing::AdaptiveConfig &next);
    void endAdaptive();
    bool embed(std::vector<Processed> &batch);
    // Embeds a video (embedder.h) and turns p into what commit() stores: Video with its
    // segments, Failed (a decode error), or Skipped (interrupted). False when the model
    // failed (the job stops).
    bool embedVideo(Processed &p, QThreadPool &pool, const indexing::StageSettings &settings);
    bool commit(std::vector<Processed> &batch, std::vector<Processed> &records);
    bool finish(const QStringList &scopes);
    bool runOcr();
};

bool IndexJob::Run::execute()
{
    total.start();
    // 1. The library, its lock, the model, the store.
    if (params.dataDir.isEmpty())
        return failWith(QStringLiteral("no data dir given"));
    QDir().mkpath(params.dataDir);  // a fresh library: the lock file lives there
    IndexLock lock(params.dataDir);
    if (params.takeLock) {
        QString error;
        if (!lock.tryLock(&error))
            return failWith(error);
    }
    if (!open())
        return false;

    // 2. Scan. Paths are canonical, so the catalog's rows (written from scans) match.
    const QStringList scopes = indexing::scanScopes(params);
    progress.stage = IndexProgress::Stage::Scanning;
    report(true);
    const media::ScanResult scanned = media::scan(scopes, params.scan, [this](const media::ScanProgress &sp) {
        progress.scanned = sp.files;
        progress.currentPath = sp.currentDirectory;
        return report();
    });
    if (scanned.cancelled)
        return true;  // cancelled before anything changed
    result.scanned = scanned.files.size();
    result.scanErrors = scanned.errors;
    progress.scanned = result.scanned;

    // 3. Compare with what the catalog knows below the same paths.
    progress.stage = IndexProgress::Stage::Comparing;
    progress.currentPath.clear();
    report(true);
    indexing::KnownFiles known;
    try {
        known = indexing::knownFiles(scopes, scanned, *catalog, *reader);
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    media::ChangeOptions changeOptions;
    changeOptions.hashNewAndModified = false;  // the decode threads hash what they read anyway
    changeOptions.progress = [this](const media::HashProgress &hp) {
        progress.currentPath = hp.path;
        return report();
    };
    const media::ChangeSet changes = media::detectChanges(known.files, scanned, changeOptions);
    if (changes.cancelled)
        return true;
    result.added = changes.added.size();
    result.modified = changes.modified.size();
    result.touched = changes.touched.size();
    result.unchanged = changes.unchanged.size();
    result.moved = changes.moved.size();
    result.deleted = changes.deleted.size();
    result.unreachable = changes.unreachable.size();

    // 4. Renames, deletions and new mtimes cost no decoding: apply them first.
    if (const indexing::Status s = indexing::applyCheapChanges(changes, *catalog, *vindex, *otherKeys, roots); !s.ok)
        return failWith(s.error);

    // 5. What the model has to see.
    std::unordered_set<std::int64_t> withoutVector;
    try {
        withoutVector = indexing::itemsWithoutVector(*catalog, *reader, model->fingerprint());
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    indexing::WorkList work = indexing::workList(scanned, changes, known, withoutVector, roots);
    result.retried = work.retried;

    // 6. Decode, embed, commit.
    if (!runPipeline(work.items))
        return false;
    if (job.isInterruptionRequested())
        return true;

    // 7. The end of a complete pass.
    if (!finish(scopes))
        return false;

    // 8. Capture metadata of items indexed before the reader (or by an older one), without
    // decoding or embedding them (indexing/metadatastage.h).
    const indexing::MetadataPassResult meta = indexing::runMetadataPass(*catalog, [this](qint64, qint64) {
        return !job.isInterruptionRequested();
    });
    if (!meta.ok)
        return failWith(meta.error);
    if (meta.done > 0)
        log::info(logCategory, QStringLiteral("capture metadata read for %1 earlier items (%2 with a capture time)")
                                   .arg(meta.done)
                                   .arg(meta.withCaptureTime));
    if (job.isInterruptionRequested())
        return true;

    // 9. Text in pictures, once the photos are searchable (indexing/ocrpass.h).
    return !params.ocr || runOcr();
}

bool IndexJob::Run::runOcr()
{
    QString error;
    if (!vindex->save(&error))  // the photos searchable before the slower pass
        return failWith(error);
    progress.stage = IndexProgress::Stage::Ocr;
    progress.currentPath.clear();
    indexing::OcrPassSettings settings;
    settings.languages = params.ocrLanguages;
    settings.maxPixels = params.maxPixels;
    const indexing::OcrPassResult ocr = indexing::runOcrPass(*catalog, settings, [this](qint64 done, qint64 total) {
        progress.ocrDone = done;
        progress.ocrTotal = total;
        return job.waitWhilePaused() && report(true);
    });
    result.ocrRead = ocr.done;
    result.ocrWithText = ocr.withText;
    result.ocrFailed = ocr.failed;
    result.ocrSeconds = ocr.seconds;
    if (!ocr.ok) {
        result.ocrError = ocr.error;
        log::warning(logCategory, ocr.error);
    }
    return true;
}

bool IndexJob::Run::open()
{
    catalog::OpenResult opened = catalog::Catalog::open(params.dataDir);
    if (!opened)
        return failWith(opened.error);
    catalog = std::move(opened.catalog);
    try {
        reader = std::make_unique<catalog::Reader>(params.dataDir);
        // We hold the lock: an index job still marked running was ended by a crash or kill.
        for (const catalog::Job &j : catalog->unfinishedJobs())
            if (j.kind == QLatin1String("index"))
                catalog->updateJob(j.id, catalog::JobState::Failed, j.progress,
                                   QStringLiteral("interrupted: the process ended before the job finished"));
        QJsonObject jobParams{{QStringLiteral("paths"), QJsonArray::fromStringList(params.paths)}};
        if (!params.scopes.isEmpty())
            jobParams.insert(QStringLiteral("scopes"), QJsonArray::fromStringList(params.scopes));
        jobId = catalog->createJob(QStringLiteral("index"),
                                   QString::fromUtf8(QJsonDocument(jobParams).toJson(QJsonDocument::Compact)));
        catalog->updateJob(jobId, catalog::JobState::Running, 0);
        roots.load(*catalog);
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }

    model = params.model;
    if (!model) {
        QString error;
        model = RetrievalModel::loadActive(*catalog, params.device, &error, params.adapterPack, params.precision);
        if (!model)
            return failWith(error);
    }
    catalog->setVectorPrecision(model->precision()); // each vector records it
    vindex = std::make_unique<VectorIndex>(*catalog, params.dataDir, model->fingerprint(), model->embedDim());
    const VectorIndexReport opened2 = vindex->open(true);
    if (!opened2.ok)
        return failWith(opened2.error);
    result.storeRebuilt = opened2.rebuilt;
    result.storeRebuildReason = opened2.reason;

    otherKeys = std::make_unique<indexing::OtherKeys>(*catalog, model->fingerprint());
    writer = std::make_unique<indexing::BatchWriter>(
        *catalog, *vindex, *otherKeys,
        indexing::BatchWriter::Settings{model->fingerprint(), jobId, params.keepOtherVectors, params.saveIntervalMs});
    embedder = std::make_unique<indexing::Embedder>(model, params.batchSize);
    return true;
}

bool IndexJob::Run::finish(const QStringList &scopes)
{
    progress.stage = IndexProgress::Stage::Finishing;
    report(true);
    try {
        for (const QString &scope : scopes)
            for (const auto &[rootPath, id] : roots.all())
                if (rootPath == scope)
                    catalog->setRootScanned(id);
        util::faultPoint("index.finish"); // roots marked scanned, the pass not yet recorded complete
        catalog->setMeta(indexing::indexedModelKey, model->fingerprint());
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("writing the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    return true;
}

indexing::StageSettings IndexJob::Run::stageSettings() const
{
    indexing::StageSettings settings;
    settings.decode.targetSize = model->imageSize();
    settings.decode.maxPixels = params.maxPixels;
    settings.pre = model->preprocessParams();
    settings.video.segmentSec = params.videoSegmentSeconds;
    settings.video.frames = params.videoFrames;
    settings.video.chunkFrames = params.videoChunkFrames;
    settings.video.maxSegments = params.videoMaxSegments;
    settings.video.limits = params.videoLimits;
    return settings;
}

bool IndexJob::Run::runPipeline(std::vector<WorkItem> &work)
{
    progress.stage = IndexProgress::Stage::Indexing;
    progress.filesTotal = static_cast<qint64>(work.size());
    progress.filesDone = 0;
    indexing.start();
    report(true);
    if (work.empty())
        return true;

    const int largestBatch = params.batchSize > 0 ? params.batchSize : indexing::AdaptiveParams{}.batches.back();
    const size_t capacity = static_cast<size_t>(params.queueCapacity > 0 ? params.queueCapacity
                                                                         : std::max(8, 4 * largestBatch));
    QThreadPool pool;
    startAdaptive(pool);

    const indexing::StageSettings settings = stageSettings();
    // In submission order, so commits follow the scan order; at most `capacity` files are
    // read or decoded ahead of the model, which keeps memory flat.
    std::deque<QFuture<Processed>> inflight;
    size_t next = 0;
    // A video ahead holds an open decoder and a chunk of frames (about 28 MB at 384 px):
    // at most this many are read ahead, whatever the queue's capacity.
    constexpr int maxVideosAhead = 2;
    int videosAhead = 0;
    auto refill = [&] {
        while (!job.isInterruptionRequested() && inflight.size() < capacity && next < work.size()) {
            if (work[next].kind == media::MediaKind::Video && videosAhead >= maxVideosAhead)
                break;
            if (work[next].kind == media::MediaKind::Video)
                ++videosAhead;
            const WorkItem *w = &work[next++];
            inflight.push_back(QtConcurrent::run(&pool, [w, &settings, this] {
                return indexing::prepareFile(*w, settings, job.m_interrupt);
            }));
        }
    };
    auto drain = [&] {
        for (QFuture<Processed> &f : inflight)
            f.waitForFinished();
        inflight.clear();
    };

    std::vector<Processed> batch;
    std::vector<Processed> records;
    bool ok = true;
    while (ok) {
        if (job.isPaused()) {
            report(true);  // say so before holding still
            if (!job.waitWhilePaused())
                break;
            report(true);
        }
        if (job.isInterruptionRequested())
            break;
        refill();
        if (inflight.empty())
            break;
        Processed p = inflight.front().takeResult();
        inflight.pop_front();
        if (p.work->kind == media::MediaKind::Video)
            --videosAhead;
        refill();
        progress.currentPath = p.work->path;
        if (p.outcome == Outcome::Skipped)
            continue;
        if (p.outcome == Outcome::Video) {
            // What is pending commits first (commits follow the scan order), then the video
            // alone, in one transaction once all of it is embedded.
            if (!batch.empty() || !records.empty()) {
                ok = embed(batch) && commit(batch, records);
                batch.clear();
                records.clear();
                if (!ok)
                    break;
            }
            ok = embedVideo(p, pool, settings);
            cycle.restart();  // the video's time is not the next image batch's
            if (ok && p.outcome != Outcome::Skipped) {
                std::vector<Processed> none;
                std::vector<Processed> one;
                one.push_back(std::move(p));
                ok = commit(none, one);
            }
            report(true);
            if (job.isInterruptionRequested())
                break;
            continue;
        }
        if (p.outcome == Outcome::Embedded)
            batch.push_back(std::move(p));
        else
            records.push_back(std::move(p));
        const bool last = inflight.empty() && next >= work.size();
        if (static_cast<int>(batch.size()) >= config.batch || static_cast<qsizetype>(records.size()) >= maxRecordsPerCommit
            || (last && (!batch.empty() || !records.empty()))) {
            ok = embed(batch) && commit(batch, records);
            batch.clear();
            records.clear();
            report(true);
        } else {
            report();
        }
        if (job.isInterruptionRequested())
            break;
    }
    // Interrupted or failed: what is not committed is dropped; a restart redoes it.
    drain();
    endAdaptive();
    result.indexingSeconds = static_cast<double>(indexing.elapsed()) / 1000.0;
    return ok;
}

bool IndexJob::Run::embed(std::vector<Processed> &batch)
{
    if (batch.empty())
        return true;
    if (const indexing::Status s = embedder->embedImages(batch); !s.ok)
        return failWith(s.error);
    result.embedded += static_cast<qint64>(batch.size());
    if (adaptive) {
        // Wall time since the previous batch left the model: the model, the commit and any
        // wait for decoding, i.e. what the throughput is made of.
        adaptive->observe(config, static_cast<int>(batch.size()), static_cast<double>(cycle.nsecsElapsed()) / 1e9);
        applyConfig(adaptive->next());
    }
    cycle.restart();
    return true;
}

void IndexJob::Run::startAdaptive(QThreadPool &pool)
{
    decodePool = &pool;
    originalThreads = model::threads();
    indexing::AdaptiveParams ap;
    ap.fixedBatch = params.batchSize;
    ap.fixedThreads = params.modelThreads;
    ap.maxThreads = std::max(1, std::min(originalThreads, QThread::idealThreadCount()));
    adaptive = std::make_unique<indexing::AdaptiveController>(ap);
    if (adaptive->fixed())
        adaptive.reset();  // nothing to decide: the user's values
    config = {};
    config.threads = -1;  // forces the first applyConfig to set everything
    applyConfig(adaptive ? adaptive->next() : indexing::AdaptiveConfig{std::max(1, params.batchSize),
                                                                        params.modelThreads > 0 ? params.modelThreads
                                                                                                : originalThreads});
    cycle.start();
}

void IndexJob::Run::applyConfig(const indexing::AdaptiveConfig &next)
{
    if (next.threads != config.threads && next.threads != model::threads())
        model::setThreads(next.threads);
    // The decode pool keeps every core: fewer decode threads lost under load on the 2-core
    // machine (docs/performance.md, "Indexing under load"): a busy machine's scheduler
    // shares the cores per thread, and the queue ahead of the model must not run dry.
    const int decode = params.decodeThreads > 0 ? params.decodeThreads : QThread::idealThreadCount();
    if (decodePool && decodePool->maxThreadCount() != decode)
        decodePool->setMaxThreadCount(decode);
    if (next.batch != config.batch)
        embedder->setBatchSize(next.batch);
    config = next;
    result.batchSize = next.batch;
    result.modelThreads = next.threads;
    result.decodeThreads = decode;
}

void IndexJob::Run::endAdaptive()
{
    if (model::threads() != originalThreads)
        model::setThreads(originalThreads);
    if (adaptive) {
        result.adaptiveProbes = adaptive->probes();
        const indexing::AdaptiveConfig best = adaptive->best();
        log::info(logCategory, QStringLiteral("adaptive batching: batch %1 with %2 LibTorch threads was the fastest "
                                              "(%3 s/image; %4 probes of other configurations)")
                                   .arg(best.batch)
                                   .arg(best.threads)
                                   .arg(adaptive->estimate(best), 0, 'f', 3)
                                   .arg(adaptive->probes()));
    }
    decodePool = nullptr;
}

bool IndexJob::Run::embedVideo(Processed &p, QThreadPool &pool, const indexing::StageSettings &settings)
{
    const indexing::VideoEmbedding v =
        embedder->embedVideo(p, pool, settings, params.videoMergeCosine, job.m_interrupt, [this, &p] {
            progress.currentPath = p.work->path;
            report();
        });
    result.videoDecodeSeconds += v.decodeSeconds;
    result.videoModelSeconds += v.modelSeconds;
    result.framesEmbedded += v.frames;
    if (!v.status.ok)
        return failWith(v.status.error);
    return true;
}

bool IndexJob::Run::commit(std::vector<Processed> &batch, std::vector<Processed> &records)
{
    const qint64 doneAfter = progress.filesDone + static_cast<qint64>(batch.size() + records.size());
    const double fraction = progress.filesTotal > 0 ? double(doneAfter) / double(progress.filesTotal) : 1.0;
    const indexing::WriteResult written = writer->write(batch, records, fraction);
    if (!written.status.ok)
        return failWith(written.status.error);
    for (const IndexFileError &e : written.fileErrors)
        addError(e);
    result.videosEmbedded += written.videos;
    result.segmentsStored += written.segments;
    progress.filesDone = doneAfter;
    if (!written.warning.isEmpty())
        log::warning(logCategory, written.warning);
    return true;
}

// --- IndexJob --------------------------------------------------------------------

IndexJob::IndexJob(Params params, QObject *parent) : TypedJob(std::move(params), parent) {}

IndexJob::~IndexJob()
{
    requestInterruption();
    wait();
}

IndexJob::Result IndexJob::run(const ProgressFn &progress)
{
    markRunning();
    Run r(*this, m_params, progress);
    bool ok = false;
    try {
        ok = r.execute();
    } catch (...) {
        // The parts report errors as values; this is the last line of defence.
        ok = r.failWith(QStringLiteral("indexing failed: %1").arg(describeException(std::current_exception())));
    }
    if (r.vindex) {
        QString error;
        if (!r.vindex->save(&error)) {
            log::warning(logCategory, error);
            if (ok)
                ok = r.failWith(error);
        }
        r.result.storeSize = static_cast<qint64>(r.vindex->store().size());
    }
    r.result.ok = ok;
    r.result.cancelled = ok && isInterruptionRequested();
    r.result.seconds = static_cast<double>(r.total.elapsed()) / 1000.0;
    if (r.result.indexingSeconds > 0)
        r.result.imagesPerSecond = static_cast<double>(r.result.embedded) / r.result.indexingSeconds;
    if (r.catalog && r.jobId > 0) {
        try {
            catalog::JobState state = catalog::JobState::Done;
            double fraction = 1.0;
            if (!ok || r.result.cancelled) {
                state = ok ? catalog::JobState::Cancelled : catalog::JobState::Failed;
                fraction = r.progress.filesTotal > 0 ? double(r.progress.filesDone) / double(r.progress.filesTotal) : 0.0;
            }
            r.catalog->updateJob(r.jobId, state, fraction, r.result.error);
        } catch (const catalog::CatalogError &e) {
            log::warning(logCategory, QStringLiteral("recording the job: %1").arg(QString::fromUtf8(e.what())));
        }
    }
    if (!ok)
        log::warning(logCategory, r.result.error);
    finish(r.result);
    return r.result;
}

void IndexJob::start(QThreadPool *pool)
{
    qRegisterMetaType<IndexProgress>();
    qRegisterMetaType<IndexResult>();
    Job::start(pool);
}

void IndexJob::requestInterruption()
{
    Job::requestInterruption();
    QMutexLocker locker(&m_mutex);
    m_resumed.wakeAll();
}

void IndexJob::pause()
{
    m_paused = true;
}

void IndexJob::resume()
{
    m_paused = false;
    QMutexLocker locker(&m_mutex);
    m_resumed.wakeAll();
}

bool IndexJob::waitWhilePaused()
{
    if (m_paused.load() && !m_interrupt.load()) {
        QMutexLocker locker(&m_mutex);
        while (m_paused.load() && !m_interrupt.load())
            m_resumed.wait(&m_mutex, 200);
    }
    return !m_interrupt.load();
}

} // namespace unisearch::engine
