#include "engine/indexjob.h"

#include "catalog/catalog.h"
#include "engine/catalogreader_p.h"
#include "engine/lock.h"
#include "engine/retrievalmodel.h"
#include "engine/training.h"
#include "engine/vectorindex.h"
#include "engine/videoframes_p.h"
#include "media/contenthash.h"
#include "media/filepath.h"
#include "media/imageconvert.h"
#include "media/imagedecoder.h"
#include "model/engine.h"
#include "model/preprocess.h"
#include "util/faultpoint.h"
#include "util/log.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QFuture>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QThread>
#include <QThreadPool>
#include <QUnhandledException>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>
#include <deque>
#include <future>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_set>

namespace unisearch::engine {

namespace {

const QString logCategory = QStringLiteral("index");

// Files up to this size are read once into memory, hashed and decoded from there (one
// read instead of two). Larger ones (rare for photos) are hashed and decoded from disk.
constexpr qint64 maxInMemoryRead = 256LL * 1024 * 1024;
constexpr int maxReportedErrors = 1000;
// Files that need no model (errors, videos) are committed in groups of this size even
// when no image batch completes, so a folder of broken files still makes progress.
constexpr qsizetype maxRecordsPerCommit = 64;
// The prefix of an item's error that marks a read failure: those are retried on every
// run, since permissions or a mount may have been fixed without touching the file.
const QString readErrorPrefix = QStringLiteral("cannot read the file");
const QString indexedModelKey = QStringLiteral("index/model");

enum class Outcome { Skipped, Embedded, Failed, Video };

struct WorkItem {
    QString path;
    qint64 size = 0;
    qint64 mtimeMs = 0;
    media::MediaKind kind = media::MediaKind::Other;
    media::MediaKind nameKind = media::MediaKind::Other;
    QString mimeType;
    QString knownHash;                           // already computed (change detection)
    std::optional<std::int64_t> itemId;          // an existing item this file replaces
    std::optional<catalog::ItemType> itemType;   // ... and its type
    std::optional<std::int64_t> rootId;
    bool missingVector = false;                  // unchanged and indexed, without this model's vector
};

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

struct Processed {
    const WorkItem *work = nullptr;
    Outcome outcome = Outcome::Skipped;
    QString hash;
    int width = 0;
    int height = 0;
    QString errorStage;
    QString errorMessage;
    std::vector<float> pixels;   // preprocessed (Embedded, until the model ran)
    std::vector<float> feature;  // the model's output
    // Videos: the task and its first chunk (decoded on the pool), then what is stored.
    std::shared_ptr<VideoTask> video;
    VideoChunk chunk;
    double durationS = 0;
    std::vector<StoredSegment> segments;
};

Processed fail(const WorkItem &w, const QString &stage, const QString &message)
{
    Processed p;
    p.work = &w;
    p.outcome = Outcome::Failed;
    p.errorStage = stage;
    p.errorMessage = message;
    return p;
}

// What an exception means, for a message a person reads. QtConcurrent hands on anything
// but a QException wrapped in a QUnhandledException, whose what() says only
// "std::exception": the exception inside is described instead. The standard library's
// own what() strings ("std::bad_alloc") are put into words.
QString describeException(const std::exception_ptr &error)
{
    try {
        std::rethrow_exception(error);
    } catch (const QUnhandledException &e) {
        if (e.exception())
            return describeException(e.exception());
        return QStringLiteral("an unknown error");
    } catch (const std::bad_alloc &) {
        return QStringLiteral("out of memory (std::bad_alloc)");
    } catch (const std::length_error &e) {
        return QStringLiteral("a size beyond what can be allocated (std::length_error: %1)").arg(QString::fromUtf8(e.what()));
    } catch (const std::exception &e) {
        const QString what = QString::fromUtf8(e.what());
        if (what.isEmpty() || what == QLatin1String("std::exception"))
            return QStringLiteral("an unexpected error (an exception without a message)");
        return what;
    } catch (...) {
        return QStringLiteral("an unknown error (not a std::exception)");
    }
    return {};
}

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

// Decodes the next chunk of a video's plan (on a decode thread).
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
        auto frame = task.decoder.frameAt(e->t);
        if (!frame) {
            if (frame.error() == media::DecodeError::DecodeFailed)
                continue;  // a damaged stretch: later times may decode again
            if (frame.error() == media::DecodeError::EndOfStream) {
                endStream(task, task.decoder.stats().latestFrameSec, frame.errorString(), c);
                continue;
            }
            c.error = frame.error();
            c.errorString = frame.errorString();
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

// Opens a video, plans it and decodes its first chunk (on a decode thread).
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
    const auto opened = task->decoder.open(w.path);
    if (!opened)
        return failDecode(QStringLiteral("cannot read the video: %1").arg(opened.errorString()));
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

// Runs on a decode thread: everything a file needs before the model.
Processed process(const WorkItem &w, const media::DecodeParams &decode, const model::PreprocessParams &pre,
                  const VideoSettings &video, const std::atomic<bool> &interrupt)
{
    Processed p;
    p.work = &w;
    if (interrupt.load())
        return p;  // Skipped: the job is stopping

    if (w.kind == media::MediaKind::Video)
        return processVideo(w, pre, video, interrupt);
    if (w.kind != media::MediaKind::Image) {
        const QString what = w.nameKind == media::MediaKind::Video ? QStringLiteral("a video")
                                                                    : QStringLiteral("an image");
        const QString content = w.mimeType.isEmpty() ? QStringLiteral("unrecognised") : w.mimeType;
        return fail(w, QStringLiteral("type"),
                    QStringLiteral("not %1: its name says so, but the content is %2").arg(what, content));
    }

    QImage image;
    media::DecodedImage decoded;
    if (w.size <= maxInMemoryRead) {
        QFile file;
        QString error;
        if (!media::openForReading(file, w.path, &error))
            return fail(w, QStringLiteral("read"), QStringLiteral("%1: %2").arg(readErrorPrefix, error));
        const QByteArray data = file.readAll();
        if (file.error() != QFileDevice::NoError)
            return fail(w, QStringLiteral("read"), QStringLiteral("%1: %2").arg(readErrorPrefix, file.errorString()));
        p.hash = media::contentHashOfData(data);
        decoded = media::decodeImageData(data, decode);
    } else {
        const media::ContentHash h = media::contentHash(w.path);
        if (!h.ok())
            return fail(w, QStringLiteral("read"), QStringLiteral("%1: %2").arg(readErrorPrefix, h.error));
        p.hash = h.hash;
        decoded = media::decodeImage(w.path, decode);
    }
    if (!decoded.ok()) {
        Processed f = fail(w, QStringLiteral("decode"), decoded.error.isEmpty() ? QStringLiteral("cannot decode the image")
                                                                                : decoded.error);
        f.hash = p.hash;
        f.width = decoded.originalSize.width();
        f.height = decoded.originalSize.height();
        return f;
    }
    try {
        const model::RgbImage rgb = media::toRgbImage(decoded.image);
        decoded.image = QImage();  // free the decoded pixels before allocating the tensor
        p.pixels.resize(model::preprocessedSize(pre));
        model::preprocessInto(rgb, pre, p.pixels.data());
    } catch (const std::exception &e) {
        Processed f = fail(w, QStringLiteral("decode"), QStringLiteral("cannot prepare the image: %1")
                                                            .arg(QString::fromUtf8(e.what())));
        f.hash = p.hash;
        return f;
    }
    p.outcome = Outcome::Embedded;
    p.width = decoded.originalSize.width();
    p.height = decoded.originalSize.height();
    return p;
}

catalog::ItemType itemTypeOf(const WorkItem &w)
{
    if (w.kind == media::MediaKind::Video || (w.kind == media::MediaKind::Other && w.nameKind == media::MediaKind::Video))
        return catalog::ItemType::Video;
    return catalog::ItemType::Image;
}

QString canonicalOrClean(const QString &path)
{
    const QString c = media::canonicalPath(path);
    return c.isEmpty() ? QDir::cleanPath(path) : c;
}

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
    }
    return QStringLiteral("indexing");
}

IndexState readIndexState(const catalog::Catalog &catalog, const QString &dataDir)
{
    IndexState s;
    if (const auto m = catalog.activeModel(QStringLiteral("retrieval"))) {
        s.model = m->name;
        s.fingerprint = vectorFingerprint(m->fingerprint, activeAdapterPackPath(catalog, m->name)); // training.h
        s.storePath = VectorIndex::storePath(dataDir, s.fingerprint);
        const QFileInfo info(s.storePath);
        s.storeExists = info.isFile();
        s.storeBytes = s.storeExists ? info.size() : 0;
        s.generation = catalog.faissGeneration(s.fingerprint);
    }
    detail::CatalogReader reader(dataDir);
    if (!s.fingerprint.isEmpty())
        s.vectors = reader.vectorCount(s.fingerprint);
    if (const auto m = catalog.activeModel(QStringLiteral("retrieval"))) {
        if (const QString pending = pendingAdapterPackPath(catalog, m->name); !pending.isEmpty()) {
            s.reembedPack = QFileInfo(pending).completeBaseName();
            s.reembedVectors = reader.vectorCount(vectorFingerprint(m->fingerprint, pending));
        }
    }
    s.indexedImages = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Indexed);
    s.pendingImages = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Pending);
    s.errorItems = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Error)
                   + reader.countItems(catalog::ItemType::Video, catalog::ItemStatus::Error);
    s.indexedVideos = reader.countItems(catalog::ItemType::Video, catalog::ItemStatus::Indexed);
    s.pendingVideos = reader.countItems(catalog::ItemType::Video, catalog::ItemStatus::Pending);
    s.indexerPid = IndexLock::holderPid(dataDir);
    std::optional<catalog::Job> last;
    if (const std::int64_t id = reader.lastJobId(QStringLiteral("index")); id > 0)
        last = catalog.job(id);
    if (last) {
        s.hasLastJob = true;
        s.lastJobState = catalog::toString(last->state);
        s.lastJobAt = last->updatedAt;
        s.lastJobError = last->error;
    }
    return s;
}

void markVectorsIncomplete(catalog::Catalog &catalog)
{
    catalog.setMeta(indexedModelKey, QString());
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
    std::unique_ptr<detail::CatalogReader> reader;
    std::shared_ptr<RetrievalModel> model;
    std::unique_ptr<VectorIndex> vindex;
    std::int64_t jobId = 0;
    QList<QPair<QString, std::int64_t>> roots;  // canonical root path, id (deepest first)

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

    std::optional<std::int64_t> rootFor(const QString &path) const
    {
        for (const auto &[rootPath, id] : roots)
            if (media::isPathUnder(path, rootPath))
                return id;
        return std::nullopt;
    }

    // Vectors of other keys (the base model's next to a full-mode adapter pack's, a pending
    // re-embed's: training.h) live on the same segments. When this job deletes them (an
    // item removed or replaced) their stores are marked stale, so the next open rebuilds
    // them from the catalog; when an item stays but its content changed, its other keys'
    // vectors are deleted (they describe the old content) and the other keys' next run
    // looks for items without a vector again. Inside the catalog transaction.
    QSet<QString> otherKeysInvalidated;
    void invalidateOtherKeys(const QStringList &keys, bool itemsRemain)
    {
        for (const QString &key : keys) {
            if (key == model->fingerprint() || otherKeysInvalidated.contains(key))
                continue;
            otherKeysInvalidated.insert(key);
            if (const std::int64_t generation = catalog->faissGeneration(key); generation > 0)
                catalog->setFaissGeneration(key, generation + 1);
        }
        if (itemsRemain && !keys.isEmpty())
            markVectorsIncomplete(*catalog);
    }
    QStringList otherKeysOf(const QList<catalog::Segment> &segments) const
    {
        QStringList keys;
        for (const catalog::Segment &s : segments)
            for (const QString &k : catalog->vectorModels(s.id))
                if (k != model->fingerprint() && !keys.contains(k))
                    keys.append(k);
        return keys;
    }

    void addError(const Processed &p)
    {
        ++result.failed;
        if (result.errors.size() < maxReportedErrors)
            result.errors.append({p.work->path, p.errorStage, p.errorMessage});
    }

    bool execute();
    bool applyCheapChanges(const media::ChangeSet &changes);
    bool runPipeline(std::vector<WorkItem> &work);
    bool embed(std::vector<Processed> &batch);
    // Embeds a video chunk by chunk (the next chunk decoding on pool meanwhile) and turns
    // p into what commit() stores: Video with its segments, Failed (a decode error), or
    // Skipped (interrupted). False when the model failed (the job stops).
    bool embedVideo(Processed &p, QThreadPool &pool, const model::PreprocessParams &pre, const VideoSettings &settings);
    bool commit(std::vector<Processed> &batch, std::vector<Processed> &records);
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
    catalog::OpenResult opened = catalog::Catalog::open(params.dataDir);
    if (!opened)
        return failWith(opened.error);
    catalog = std::move(opened.catalog);
    try {
        reader = std::make_unique<detail::CatalogReader>(params.dataDir);
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
        for (const catalog::Root &r : catalog->roots())
            roots.append({canonicalOrClean(r.path), r.id});
        // Deepest first, so a file gets the innermost folder that contains it.
        std::sort(roots.begin(), roots.end(),
                  [](const auto &a, const auto &b) { return a.first.size() > b.first.size(); });
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }

    model = params.model;
    if (!model) {
        QString error;
        model = RetrievalModel::loadActive(*catalog, params.device, &error, params.adapterPack);
        if (!model)
            return failWith(error);
    }
    vindex = std::make_unique<VectorIndex>(*catalog, params.dataDir, model->fingerprint(), model->embedDim());
    const VectorIndexReport opened2 = vindex->open(true);
    if (!opened2.ok)
        return failWith(opened2.error);
    result.storeRebuilt = opened2.rebuilt;
    result.storeRebuildReason = opened2.reason;

    // 2. Scan. Paths are canonical, so the catalog's rows (written from scans) match.
    QStringList scopes;
    for (const QString &p : params.scopes.isEmpty() ? params.paths : params.scopes) {
        const QString c = canonicalOrClean(p);
        if (!scopes.contains(c))
            scopes.append(c);
    }
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
    QHash<std::int64_t, catalog::Item> knownItems;
    QList<media::KnownFile> known;
    try {
        auto addKnown = [&](const catalog::Item &it) {
            if (knownItems.contains(it.id))
                return;
            knownItems.insert(it.id, it);
            known.append({it.id, it.path, it.size, it.mtimeMs, it.contentHash});
        };
        for (const QString &scope : std::as_const(scopes))
            for (const catalog::Item &it : reader->itemsUnder(scope))
                addKnown(it);
        // Files reached through a symbolic link lie outside the scanned folders.
        for (const media::ScannedFile &f : scanned.files) {
            if (std::none_of(scopes.cbegin(), scopes.cend(), [&](const QString &s) { return media::isPathUnder(f.path, s); }))
                if (const auto it = catalog->itemByPath(f.path))
                    addKnown(*it);
        }
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    media::ChangeOptions changeOptions;
    changeOptions.hashNewAndModified = false;  // the decode threads hash what they read anyway
    changeOptions.progress = [this](const media::HashProgress &hp) {
        progress.currentPath = hp.path;
        return report();
    };
    const media::ChangeSet changes = media::detectChanges(known, scanned, changeOptions);
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
    if (!applyCheapChanges(changes))
        return false;

    // 5. What the model has to see.
    std::vector<WorkItem> work;
    QHash<QString, const media::ScannedFile *> scannedByPath;
    for (const media::ScannedFile &f : scanned.files)
        scannedByPath.insert(f.path, &f);
    auto workFor = [&](const media::ScannedFile &f, std::optional<std::int64_t> itemId) {
        WorkItem w;
        w.path = f.path;
        w.size = f.size;
        w.mtimeMs = f.mtimeMs;
        w.kind = f.kind;
        w.nameKind = f.nameKind;
        w.mimeType = f.mimeType;
        w.knownHash = f.contentHash;
        w.itemId = itemId;
        if (itemId)
            w.itemType = knownItems.value(*itemId).type;
        w.rootId = rootFor(f.path);
        return w;
    };
    for (const media::ScannedFile &f : changes.added)
        work.push_back(workFor(f, std::nullopt));
    for (const media::FileUpdate &u : changes.modified)
        work.push_back(workFor(u.after, u.before.id));

    std::unordered_set<std::int64_t> withoutVector;
    try {
        // Only after a model change can an indexed item lack this model's vector.
        if (catalog->meta(indexedModelKey).value_or(QString()) != model->fingerprint())
            for (const std::int64_t id : reader->indexedItemsWithoutVector(model->fingerprint()))
                withoutVector.insert(id);
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    for (const media::KnownFile &k : changes.unchanged) {
        const catalog::Item &it = knownItems[k.id];
        const media::ScannedFile *f = scannedByPath.value(k.path);
        if (!f)
            continue;
        // Pending videos include those an earlier version recorded without embedding them.
        const bool retry = (it.status == catalog::ItemStatus::Error && it.error.startsWith(readErrorPrefix))
                           || it.status == catalog::ItemStatus::Pending || it.status == catalog::ItemStatus::Missing
                           || withoutVector.count(k.id) > 0;
        if (retry) {
            ++result.retried;
            work.push_back(workFor(*f, k.id));
            work.back().missingVector = it.status == catalog::ItemStatus::Indexed && withoutVector.count(k.id) > 0;
        }
    }

    // 6. Decode, embed, commit.
    if (!runPipeline(work))
        return false;
    if (job.isInterruptionRequested())
        return true;

    // 7. The end of a complete pass.
    progress.stage = IndexProgress::Stage::Finishing;
    report(true);
    try {
        for (const QString &scope : std::as_const(scopes))
            for (const auto &[rootPath, id] : std::as_const(roots))
                if (rootPath == scope)
                    catalog->setRootScanned(id);
        util::faultPoint("index.finish"); // roots marked scanned, the pass not yet recorded complete
        catalog->setMeta(indexedModelKey, model->fingerprint());
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("writing the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    return true;
}

bool IndexJob::Run::applyCheapChanges(const media::ChangeSet &changes)
{
    if (changes.touched.isEmpty() && changes.moved.isEmpty() && changes.deleted.isEmpty())
        return true;
    std::vector<std::int64_t> removed;
    QStringList otherKeys;
    try {
        for (const media::KnownFile &k : changes.deleted) {
            const QList<catalog::Segment> segments = catalog->segments(k.id);
            for (const catalog::Segment &s : segments)
                removed.push_back(s.id);
            for (const QString &key : otherKeysOf(segments))
                if (!otherKeys.contains(key))
                    otherKeys.append(key);
        }
        catalog->transaction([&] {
            invalidateOtherKeys(otherKeys, false);
            auto updateRow = [&](std::int64_t id, const media::ScannedFile &now) {
                std::optional<catalog::Item> it = catalog->item(id);
                if (!it)
                    return;
                it->size = now.size;
                it->mtimeMs = now.mtimeMs;
                if (!now.contentHash.isEmpty())
                    it->contentHash = now.contentHash;
                catalog->upsertItem(*it);
            };
            for (const media::FileUpdate &u : changes.touched)
                updateRow(u.before.id, u.after);
            for (const media::FileUpdate &u : changes.moved) {
                // Same content at a new path: the item keeps its id, segments and vectors.
                catalog->moveItem(u.before.id, u.after.path, rootFor(u.after.path));
                updateRow(u.before.id, u.after);
            }
            for (const media::KnownFile &k : changes.deleted)
                catalog->removeItem(k.id);  // cascades to its segments and vectors
            if (!removed.empty())
                vindex->markDirty();
            util::faultPoint("index.cheap-changes");
        });
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("writing the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    if (!removed.empty())
        vindex->remove(removed);
    return true;
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

    const int batchSize = std::max(1, params.batchSize);
    const size_t capacity = static_cast<size_t>(params.queueCapacity > 0 ? params.queueCapacity
                                                                         : std::max(8, 4 * batchSize));
    QThreadPool pool;
    pool.setMaxThreadCount(params.decodeThreads > 0 ? params.decodeThreads : QThread::idealThreadCount());

    media::DecodeParams decode;
    decode.targetSize = model->imageSize();
    decode.maxPixels = params.maxPixels;
    const model::PreprocessParams pre = model->preprocessParams();
    VideoSettings video;
    video.segmentSec = params.videoSegmentSeconds;
    video.frames = params.videoFrames;
    video.chunkFrames = params.videoChunkFrames;
    video.maxSegments = params.videoMaxSegments;
    video.limits = params.videoLimits;

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
            inflight.push_back(QtConcurrent::run(&pool, [w, &decode, &pre, &video, this] {
                try {
                    return process(*w, decode, pre, video, job.m_interrupt);
                } catch (...) {
                    // Whatever a file made go wrong (out of memory, a size beyond any
                    // limit) fails that file, recorded like any other, not the job.
                    return fail(*w, QStringLiteral("decode"), QStringLiteral("cannot process the file: %1")
                                                              .arg(describeException(std::current_exception())));
                }
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
            ok = embedVideo(p, pool, pre, video);
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
        if (static_cast<int>(batch.size()) >= batchSize || static_cast<qsizetype>(records.size()) >= maxRecordsPerCommit
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
    result.indexingSeconds = static_cast<double>(indexing.elapsed()) / 1000.0;
    return ok;
}

bool IndexJob::Run::embed(std::vector<Processed> &batch)
{
    if (batch.empty())
        return true;
    std::vector<const float *> pixels;
    pixels.reserve(batch.size());
    for (const Processed &p : batch)
        pixels.push_back(p.pixels.data());
    try {
        std::vector<std::vector<float>> features;
        {
            auto lock = model->lock();
            features = model->engine().imageFeatures(pixels);
        }
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
        return failWith(QStringLiteral("the model failed on a batch of %1 images (%2 …): %3")
                            .arg(batch.size())
                            .arg(batch.front().work->path, QString::fromUtf8(e.what())));
    }
    result.embedded += static_cast<qint64>(batch.size());
    return true;
}

bool IndexJob::Run::embedVideo(Processed &p, QThreadPool &pool, const model::PreprocessParams &pre,
                               const VideoSettings &settings)
{
    const std::shared_ptr<VideoTask> task = p.video;
    const size_t per = model::preprocessedSize(pre);
    std::vector<StoredSegment> segmentFeatures;  // the segments with a frame of their own, in order
    std::vector<float> uniformPixels;  // the T video-level frames, kept to the end
    std::vector<int> uniformCopies;
    qint64 frames = 0;
    VideoChunk chunk = std::move(p.chunk);
    std::future<VideoChunk> next;  // the chunk decoding on the pool meanwhile
    QString decodeError;

    auto toFailed = [&](const QString &message) {
        p.outcome = Outcome::Failed;
        p.errorStage = QStringLiteral("decode");
        p.errorMessage = message;
        p.video.reset();
    };
    auto noFrame = [&] {
        toFailed(task->endReason.isEmpty()
                     ? QStringLiteral("no frame of the video could be decoded")
                     : QStringLiteral("no frame of the video could be decoded (%1)").arg(task->endReason));
    };

    try {
        while (true) {
            result.videoDecodeSeconds += chunk.decodeSeconds;
            if (chunk.error == media::DecodeError::Cancelled || job.isInterruptionRequested()) {
                p.outcome = Outcome::Skipped;  // redone by the next run
                return true;
            }
            if (chunk.error != media::DecodeError::None) {
                decodeError = QStringLiteral("cannot take frames near %1 s: %2")
                                  .arg(chunk.errorAt, 0, 'f', 1)
                                  .arg(chunk.errorString);
                break;
            }
            // The next chunk decodes while the model works on this one; ahead of other files,
            // so the model does not wait for it.
            if (!chunk.last) {
                auto promise = std::make_shared<std::promise<VideoChunk>>();
                next = promise->get_future();
                const model::PreprocessParams preCopy = pre;
                const VideoSettings settingsCopy = settings;
                const std::atomic<bool> *interrupt = &job.m_interrupt;
                pool.start([promise, task, preCopy, settingsCopy, interrupt] {
                    try {
                        promise->set_value(decodeChunk(*task, preCopy, settingsCopy, *interrupt));
                    } catch (...) {
                        promise->set_exception(std::current_exception());
                    }
                }, 10);
            }
            // Segment frames → image features, a batch at a time.
            const int batchSize = std::max(1, params.batchSize);
            std::vector<const float *> ptrs;
            std::vector<size_t> which;
            auto flush = [&]() -> bool {
                if (ptrs.empty())
                    return true;
                try {
                    std::vector<std::vector<float>> features;
                    {
                        auto lock = model->lock();
                        QElapsedTimer mt;
                        mt.start();
                        features = model->engine().imageFeatures(ptrs);
                        result.videoModelSeconds += static_cast<double>(mt.nsecsElapsed()) / 1e9;
                    }
                    if (features.size() != ptrs.size())
                        throw model::ModelError("the model returned " + std::to_string(features.size())
                                                + " features for " + std::to_string(ptrs.size()) + " frames");
                    for (size_t i = 0; i < which.size(); ++i)
                        segmentFeatures[which[i]].feature = std::move(features[i]);
                } catch (const std::exception &e) {
                    return failWith(QStringLiteral("the model failed on the frames of %1: %2")
                                        .arg(p.work->path, QString::fromUtf8(e.what())));
                }
                frames += static_cast<qint64>(ptrs.size());
                ptrs.clear();
                which.clear();
                return true;
            };
            if (chunk.restartUniform) {
                uniformPixels.clear();
                uniformCopies.clear();
            }
            bool modelOk = true;
            for (size_t k = 0; k < chunk.entries.size() && modelOk; ++k) {
                const VideoEntry &e = chunk.entries[k];
                const float *px = chunk.pixels.data() + k * per;
                if (e.uniformCopies > 0) {
                    uniformPixels.insert(uniformPixels.end(), px, px + per);
                    uniformCopies.push_back(e.uniformCopies);
                }
                if (e.segment >= 0) {
                    segmentFeatures.push_back({e.range, {}});
                    ptrs.push_back(px);
                    which.push_back(segmentFeatures.size() - 1);
                    if (static_cast<int>(ptrs.size()) >= batchSize)
                        modelOk = flush();
                }
            }
            if (modelOk)
                modelOk = flush();
            if (!modelOk) {
                if (next.valid())
                    next.wait();  // let the decoder finish before the job ends
                return false;
            }
            progress.currentPath = p.work->path;
            report();
            if (!next.valid())
                break;
            try {
                chunk = next.get();
            } catch (...) {
                decodeError = QStringLiteral("cannot take frames: %1").arg(describeException(std::current_exception()));
                break;
            }
        }
        if (!decodeError.isEmpty()) {
            toFailed(decodeError);
            return true;
        }

        // The video-level feature: mean CLS of the T frames (a frame at a time shared by
        // several of the T counts as often as it is shared).
        std::vector<const float *> uniform;
        for (size_t i = 0; i < uniformCopies.size(); ++i)
            for (int c = 0; c < uniformCopies[i]; ++c)
                uniform.push_back(uniformPixels.data() + i * per);
        if (uniform.empty()) {
            noFrame();
            return true;
        }
        std::vector<float> videoFeature;
        try {
            auto lock = model->lock();
            QElapsedTimer mt;
            mt.start();
            videoFeature = model->engine().videoFeature(uniform);
            result.videoModelSeconds += static_cast<double>(mt.nsecsElapsed()) / 1e9;
        } catch (const std::exception &e) {
            return failWith(QStringLiteral("the model failed on the frames of %1: %2")
                                .arg(p.work->path, QString::fromUtf8(e.what())));
        }
        frames += static_cast<qint64>(uniformCopies.size());

        // Segments, neighbours that look the same merged (a gap left by a damaged stretch or
        // an empty stretch of the timeline is never bridged).
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
        const std::int64_t realEndMs = task->realEnd >= 0 ? std::llround(task->realEnd * 1000) : -1;
        std::vector<StoredSegment> merged;
        std::vector<float> sum;
        for (StoredSegment &s : segmentFeatures) {
            if (realEndMs >= 0)
                s.range.endMs = std::max(s.range.startMs + 1, std::min(s.range.endMs, realEndMs));
            const std::vector<float> &f = s.feature;
            if (!merged.empty() && merged.back().range.endMs == s.range.startMs
                && cosine(merged.back().feature, f) >= params.videoMergeCosine) {
                merged.back().range.endMs = s.range.endMs;
                for (size_t j = 0; j < sum.size(); ++j)
                    sum[j] += f[j];
                merged.back().feature = normalized(sum);
            } else {
                merged.push_back(s);
                sum = f;
            }
        }
        if (merged.empty()) {
            noFrame();
            return true;
        }
        p.segments = std::move(merged);
        p.segments.push_back({VideoRange{0, 0}, std::move(videoFeature)});
        if (task->realEnd > 0)
            p.durationS = task->realEnd;
    } catch (...) {
        // Whatever the file made go wrong here (out of memory, a size beyond any limit)
        // fails the file, not the job.
        if (next.valid())
            next.wait();
        toFailed(QStringLiteral("cannot index the video: %1").arg(describeException(std::current_exception())));
        return true;
    }
    p.video.reset();  // closes the file
    result.framesEmbedded += frames;
    return true;
}

bool IndexJob::Run::commit(std::vector<Processed> &batch, std::vector<Processed> &records)
{
    const QString fingerprint = model->fingerprint();
    std::vector<std::int64_t> addIds;
    std::vector<float> addVectors;
    std::vector<std::int64_t> removeIds;
    std::vector<Processed *> all;
    for (Processed &p : batch)
        all.push_back(&p);
    for (Processed &p : records)
        all.push_back(&p);
    const qint64 doneAfter = progress.filesDone + static_cast<qint64>(all.size());
    try {
        // An existing item that stops being an indexed image (now broken, now a video)
        // loses its segments with it: removed and recorded anew.
        QSet<std::int64_t> replace;
        QStringList removedKeys, staleKeys;      // other keys' vectors deleted with replaced items / stale ones
        std::vector<std::int64_t> staleSegments; // an image with new content: its other keys' vectors go
        for (const Processed *p : all) {
            const WorkItem &w = *p->work;
            if (!w.itemId)
                continue;
            // A video gets new time ranges: its old segments go (and the item row with them).
            const bool sameKind = p->outcome == Outcome::Embedded && w.itemType == catalog::ItemType::Image;
            if (sameKind) {
                if (!w.missingVector) {
                    const QList<catalog::Segment> segments = catalog->segments(*w.itemId);
                    const QStringList keys = otherKeysOf(segments);
                    if (!keys.isEmpty())
                        for (const catalog::Segment &s : segments)
                            staleSegments.push_back(s.id);
                    for (const QString &k : keys)
                        if (!staleKeys.contains(k))
                            staleKeys.append(k);
                }
                continue;
            }
            // Re-embedding for another key: the other keys' segments and vectors stay.
            if (params.keepOtherVectors && w.missingVector && p->outcome == Outcome::Video
                && w.itemType == catalog::ItemType::Video)
                continue;
            const QList<catalog::Segment> segments = catalog->segments(*w.itemId);
            if (segments.isEmpty() && w.itemType == itemTypeOf(w))
                continue;
            replace.insert(*w.itemId);
            for (const catalog::Segment &s : segments)
                removeIds.push_back(s.id);
            for (const QString &k : otherKeysOf(segments))
                if (!removedKeys.contains(k))
                    removedKeys.append(k);
        }
        catalog->transaction([&] {
            for (const std::int64_t segment : staleSegments)
                catalog->removeOtherVectors(segment, fingerprint);
            // A replaced item is recorded anew with this key's vectors only.
            invalidateOtherKeys(staleKeys + removedKeys, true);
            for (Processed *p : all) {
                const WorkItem &w = *p->work;
                if (w.itemId && replace.contains(*w.itemId))
                    catalog->removeItem(*w.itemId);
                catalog::Item item;
                item.rootId = w.rootId;
                item.path = w.path;
                item.type = p->outcome == Outcome::Embedded ? catalog::ItemType::Image : itemTypeOf(w);
                item.size = w.size;
                item.mtimeMs = w.mtimeMs;
                item.contentHash = p->hash.isEmpty() ? w.knownHash : p->hash;
                item.width = p->width;
                item.height = p->height;
                item.durationS = p->durationS;
                switch (p->outcome) {
                case Outcome::Embedded:
                case Outcome::Video:
                    item.status = catalog::ItemStatus::Indexed;
                    break;
                default:
                    item.status = catalog::ItemStatus::Error;
                    item.error = p->errorMessage;
                    break;
                }
                const std::int64_t id = catalog->upsertItem(item);
                catalog->clearErrors(id);
                if (p->outcome == Outcome::Failed) {
                    catalog::ErrorEntry e;
                    e.itemId = id;
                    e.jobId = jobId;
                    e.path = w.path;
                    e.stage = p->errorStage;
                    e.message = p->errorMessage;
                    catalog->addError(e);
                } else if (p->outcome == Outcome::Embedded) {
                    addIds.push_back(catalog->addSegmentWithVector(id, 0, 0, fingerprint, p->feature));
                    addVectors.insert(addVectors.end(), p->feature.begin(), p->feature.end());
                } else if (p->outcome == Outcome::Video) {
                    for (const StoredSegment &seg : p->segments) {
                        addIds.push_back(catalog->addSegmentWithVector(id, seg.range.startMs, seg.range.endMs,
                                                                       fingerprint, seg.feature));
                        addVectors.insert(addVectors.end(), seg.feature.begin(), seg.feature.end());
                    }
                }
            }
            if (!addIds.empty() || !removeIds.empty())
                vindex->markDirty();
            catalog->updateJob(jobId, catalog::JobState::Running,
                               progress.filesTotal > 0 ? double(doneAfter) / double(progress.filesTotal) : 1.0);
            util::faultPoint("index.commit"); // every row written, the COMMIT not
        });
    } catch (const std::exception &e) {
        return failWith(QStringLiteral("writing the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    util::faultPoint("index.committed"); // in the catalog, not yet in the store file
    // Committed: the same change in memory, and on disk when a save is due.
    if (!removeIds.empty())
        vindex->remove(removeIds);
    if (!addIds.empty())
        vindex->add(addIds, addVectors);
    for (const Processed *p : all) {
        if (p->outcome == Outcome::Failed)
            addError(*p);
        else if (p->outcome == Outcome::Video) {
            ++result.videosEmbedded;
            result.segmentsStored += static_cast<qint64>(p->segments.size()) - 1;
        }
    }
    progress.filesDone = doneAfter;
    QString error;
    if (!vindex->saveIfDue(params.saveIntervalMs, &error))
        log::warning(logCategory, error);
    return true;
}

// --- IndexJob --------------------------------------------------------------------

IndexJob::IndexJob(Params params, QObject *parent) : QObject(parent), m_params(std::move(params)) {}

IndexJob::~IndexJob()
{
    requestInterruption();
    wait();
}

IndexJob::Result IndexJob::run(const ProgressFn &progress)
{
    m_running = true;
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
    {
        QMutexLocker locker(&m_mutex);
        m_result = r.result;
    }
    if (ok)
        emit finished(r.result);
    else
        emit failed(r.result.error);
    {
        QMutexLocker locker(&m_mutex);
        m_running = false;
        m_done.wakeAll();
    }
    return r.result;
}

void IndexJob::start(QThreadPool *pool)
{
    qRegisterMetaType<IndexProgress>();
    qRegisterMetaType<IndexResult>();
    m_running = true;  // before the pool picks it up, so wait() cannot miss it
    (pool ? pool : QThreadPool::globalInstance())->start([this] { run(); });
}

bool IndexJob::wait(int msecs)
{
    QMutexLocker locker(&m_mutex);
    QDeadlineTimer deadline(msecs < 0 ? QDeadlineTimer::Forever : QDeadlineTimer(msecs));
    while (m_running.load()) {
        if (!m_done.wait(&m_mutex, deadline))
            return !m_running.load();
    }
    return true;
}

IndexJob::Result IndexJob::result() const
{
    QMutexLocker locker(&m_mutex);
    return m_result;
}

void IndexJob::requestInterruption()
{
    m_interrupt = true;
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
