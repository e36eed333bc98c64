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
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>
#include <deque>
#include <future>
#include <optional>
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

// How a video is sampled: each time once, in increasing order, with what it serves.
struct VideoEntry {
    double t = 0;
    int segment = -1;     // the segment whose frame this is, or -1
    int uniformCopies = 0; // how many of the T video-level frames lie at this time
};

struct VideoRange {
    std::int64_t startMs = 0;
    std::int64_t endMs = 0;
};

struct VideoSettings {
    double segmentSec = 4.0;
    int frames = 8;
    int chunkFrames = 16;
    media::DecodeLimits limits;
};

// A video being indexed: its decoder (one thread at a time: the decode task that holds
// the next chunk) and its plan.
struct VideoTask {
    explicit VideoTask(const media::DecodeOptions &o) : decoder(o) {}
    media::VideoDecoder decoder;
    media::VideoInfo info;
    std::vector<VideoEntry> entries;
    std::vector<VideoRange> segments;
    size_t next = 0;  // the first entry not decoded yet
};

// The frames of entries [begin, end) of a video, preprocessed.
struct VideoChunk {
    size_t begin = 0;
    size_t end = 0;
    std::vector<size_t> entries;   // the entries that gave a frame, in order
    std::vector<float> pixels;     // entries.size() × the model's input
    std::vector<size_t> failed;    // entries in a damaged stretch (no frame)
    media::DecodeError error = media::DecodeError::None;
    QString errorString;
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

// The segments of a video and the times to sample: one frame at the middle of each
// segment, plus the T uniformly spaced frames of the video-level feature.
void planVideo(VideoTask &task, const VideoSettings &settings)
{
    const double duration = task.info.durationSec;
    const double seg = settings.segmentSec > 0 ? settings.segmentSec : 4.0;
    std::vector<VideoEntry> entries;
    for (int i = 0;; ++i) {
        const double start = i * seg;
        if (start >= duration - 1e-9)
            break;
        const double end = std::min(duration, start + seg);
        VideoRange r;
        r.startMs = std::llround(start * 1000);
        r.endMs = std::max<std::int64_t>(r.startMs + 1, std::llround(end * 1000));
        task.segments.push_back(r);
        entries.push_back({(start + end) / 2, i, 0});
    }
    for (double t : media::uniformTimes(duration, std::max(1, settings.frames)))
        entries.push_back({t, -1, 1});
    std::stable_sort(entries.begin(), entries.end(), [](const VideoEntry &a, const VideoEntry &b) { return a.t < b.t; });
    // One decode per distinct time.
    for (const VideoEntry &e : entries) {
        if (!task.entries.empty() && std::abs(task.entries.back().t - e.t) < 1e-6) {
            VideoEntry &last = task.entries.back();
            if (e.segment >= 0)
                last.segment = e.segment;
            last.uniformCopies += e.uniformCopies;
        } else {
            task.entries.push_back(e);
        }
    }
}

// Decodes the next chunk of a video (on a decode thread).
VideoChunk decodeChunk(VideoTask &task, const model::PreprocessParams &pre, int chunkFrames,
                       const std::atomic<bool> &interrupt)
{
    VideoChunk c;
    c.begin = task.next;
    c.end = std::min(task.entries.size(), task.next + static_cast<size_t>(std::max(1, chunkFrames)));
    task.next = c.end;
    if (interrupt.load()) {
        c.error = media::DecodeError::Cancelled;
        return c;
    }
    std::vector<double> times;
    for (size_t i = c.begin; i < c.end; ++i)
        times.push_back(task.entries[i].t);
    const double before = task.decoder.stats().secondsSpent;
    const media::SampleResult r = task.decoder.sample(times);
    c.decodeSeconds = task.decoder.stats().secondsSpent - before;
    c.error = r.error;
    c.errorString = r.errorString;
    // Frames come in the order asked for, without the failed times: match them up.
    size_t at = c.begin;
    for (const media::VideoFrame &f : r.frames) {
        while (at < c.end && task.entries[at].t != f.requestedSec)
            ++at;
        if (at == c.end)
            break;
        c.entries.push_back(at++);
    }
    for (double t : r.failedTimes)
        for (size_t i = c.begin; i < c.end; ++i)
            if (task.entries[i].t == t)
                c.failed.push_back(i);
    try {
        std::vector<media::VideoFrame> frames(r.frames.begin(), r.frames.begin() + static_cast<std::ptrdiff_t>(c.entries.size()));
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
    if (!(task->info.durationSec > 0))
        return failDecode(QStringLiteral("the video has no duration (no frames?)"));
    planVideo(*task, settings);
    p.width = task->info.width;
    p.height = task->info.height;
    p.durationS = task->info.durationSec;
    p.chunk = decodeChunk(*task, pre, settings.chunkFrames, interrupt);
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
                return process(*w, decode, pre, video, job.m_interrupt);
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
    std::vector<std::vector<float>> segmentFeature(task->segments.size());
    std::vector<float> uniformPixels;  // the T video-level frames, kept to the end
    std::vector<int> uniformCopies;
    qint64 frames = 0;
    VideoChunk chunk = std::move(p.chunk);
    QString decodeError;

    auto toFailed = [&](const QString &message) {
        p.outcome = Outcome::Failed;
        p.errorStage = QStringLiteral("decode");
        p.errorMessage = message;
        p.video.reset();
    };
    auto timeOf = [&](size_t entry) { return task->entries[entry].t; };

    while (true) {
        result.videoDecodeSeconds += chunk.decodeSeconds;
        if (chunk.error == media::DecodeError::Cancelled || job.isInterruptionRequested()) {
            p.outcome = Outcome::Skipped;  // redone by the next run
            return true;
        }
        if (chunk.error != media::DecodeError::None) {
            const double at = chunk.begin < task->entries.size() ? timeOf(chunk.begin) : 0;
            decodeError = chunk.error == media::DecodeError::EndOfStream
                              ? QStringLiteral("the video stops before its stated duration of %1 s (truncated?): %2")
                                    .arg(task->info.durationSec, 0, 'f', 1)
                                    .arg(chunk.errorString)
                              : QStringLiteral("cannot take frames near %1 s: %2").arg(at, 0, 'f', 1).arg(chunk.errorString);
            break;
        }
        // The next chunk decodes while the model works on this one; ahead of other files,
        // so the model does not wait for it.
        std::future<VideoChunk> next;
        if (task->next < task->entries.size()) {
            auto promise = std::make_shared<std::promise<VideoChunk>>();
            next = promise->get_future();
            const int chunkFrames = settings.chunkFrames;
            const model::PreprocessParams preCopy = pre;
            const std::atomic<bool> *interrupt = &job.m_interrupt;
            pool.start([promise, task, preCopy, chunkFrames, interrupt] {
                try {
                    promise->set_value(decodeChunk(*task, preCopy, chunkFrames, *interrupt));
                } catch (...) {
                    promise->set_exception(std::current_exception());
                }
            }, 10);
        }
        // Segment frames → image features, a batch at a time.
        const int batchSize = std::max(1, params.batchSize);
        std::vector<const float *> ptrs;
        std::vector<int> which;
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
                    throw model::ModelError("the model returned " + std::to_string(features.size()) + " features for "
                                            + std::to_string(ptrs.size()) + " frames");
                for (size_t i = 0; i < which.size(); ++i)
                    segmentFeature[static_cast<size_t>(which[i])] = std::move(features[i]);
            } catch (const std::exception &e) {
                return failWith(QStringLiteral("the model failed on the frames of %1: %2")
                                    .arg(p.work->path, QString::fromUtf8(e.what())));
            }
            frames += static_cast<qint64>(ptrs.size());
            ptrs.clear();
            which.clear();
            return true;
        };
        bool modelOk = true;
        for (size_t k = 0; k < chunk.entries.size() && modelOk; ++k) {
            const VideoEntry &e = task->entries[chunk.entries[k]];
            const float *px = chunk.pixels.data() + k * per;
            if (e.uniformCopies > 0) {
                uniformPixels.insert(uniformPixels.end(), px, px + per);
                uniformCopies.push_back(e.uniformCopies);
            }
            if (e.segment >= 0) {
                ptrs.push_back(px);
                which.push_back(e.segment);
                if (static_cast<int>(ptrs.size()) >= batchSize)
                    modelOk = flush();
            }
        }
        if (modelOk)
            modelOk = flush();
        if (!modelOk) {
            if (next.valid())
                next.wait();  // the task holds references into this run
            return false;
        }
        progress.currentPath = p.work->path;
        report();
        if (!next.valid())
            break;
        try {
            chunk = next.get();
        } catch (const std::exception &e) {
            decodeError = QStringLiteral("cannot take frames: %1").arg(QString::fromUtf8(e.what()));
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
        toFailed(QStringLiteral("no frame of the video could be decoded"));
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

    // Segments, neighbours that look the same merged (a gap left by a damaged stretch is
    // never bridged).
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
    std::vector<StoredSegment> merged;
    std::vector<float> sum;
    for (size_t i = 0; i < task->segments.size(); ++i) {
        const std::vector<float> &f = segmentFeature[i];
        if (f.empty())
            continue;  // its frame lay in a damaged stretch
        if (!merged.empty() && merged.back().range.endMs == task->segments[i].startMs
            && cosine(merged.back().feature, f) >= params.videoMergeCosine) {
            merged.back().range.endMs = task->segments[i].endMs;
            for (size_t j = 0; j < sum.size(); ++j)
                sum[j] += f[j];
            merged.back().feature = normalized(sum);
        } else {
            merged.push_back({task->segments[i], f});
            sum = f;
        }
    }
    if (merged.empty()) {
        toFailed(QStringLiteral("no frame of the video could be decoded"));
        return true;
    }
    p.segments = std::move(merged);
    p.segments.push_back({VideoRange{0, 0}, std::move(videoFeature)});
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
    } catch (const std::exception &e) {
        // The parts report errors as values; this is the last line of defence.
        ok = r.failWith(QStringLiteral("indexing failed: %1").arg(QString::fromUtf8(e.what())));
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
