#include "engine/indexjob.h"

#include "catalog/catalog.h"
#include "engine/catalogreader_p.h"
#include "engine/lock.h"
#include "engine/retrievalmodel.h"
#include "engine/vectorindex.h"
#include "media/contenthash.h"
#include "media/filepath.h"
#include "media/imageconvert.h"
#include "media/imagedecoder.h"
#include "model/engine.h"
#include "model/preprocess.h"
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
#include <deque>
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

enum class Outcome { Skipped, Embedded, Failed, VideoPending };

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

// Runs on a decode thread: everything a file needs before the model.
Processed process(const WorkItem &w, const media::DecodeParams &decode, const model::PreprocessParams &pre,
                  const std::atomic<bool> &interrupt)
{
    Processed p;
    p.work = &w;
    if (interrupt.load())
        return p;  // Skipped: the job is stopping

    if (w.kind == media::MediaKind::Video) {
        // Videos wait for the video indexer; their hash lets a move keep their row.
        const media::ContentHash h = w.knownHash.isEmpty() ? media::contentHash(w.path)
                                                           : media::ContentHash{w.knownHash, {}};
        if (!h.ok())
            return fail(w, QStringLiteral("read"), QStringLiteral("%1: %2").arg(readErrorPrefix, h.error));
        p.outcome = Outcome::VideoPending;
        p.hash = h.hash;
        return p;
    }
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
        s.fingerprint = m->fingerprint;
        s.storePath = VectorIndex::storePath(dataDir, m->fingerprint);
        const QFileInfo info(s.storePath);
        s.storeExists = info.isFile();
        s.storeBytes = s.storeExists ? info.size() : 0;
        s.generation = catalog.faissGeneration(m->fingerprint);
    }
    detail::CatalogReader reader(dataDir);
    if (!s.fingerprint.isEmpty())
        s.vectors = reader.vectorCount(s.fingerprint);
    s.indexedImages = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Indexed);
    s.pendingImages = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Pending);
    s.errorItems = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Error)
                   + reader.countItems(catalog::ItemType::Video, catalog::ItemStatus::Error);
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
        model = RetrievalModel::loadActive(*catalog, params.device, &error);
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
        // Only after a model change can an indexed image lack this model's vector.
        if (catalog->meta(indexedModelKey).value_or(QString()) != model->fingerprint())
            for (const std::int64_t id : reader->indexedImagesWithoutVector(model->fingerprint()))
                withoutVector.insert(id);
    } catch (const catalog::CatalogError &e) {
        return failWith(QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    for (const media::KnownFile &k : changes.unchanged) {
        const catalog::Item &it = knownItems[k.id];
        const media::ScannedFile *f = scannedByPath.value(k.path);
        if (!f)
            continue;
        bool retry = false;
        if (it.type == catalog::ItemType::Image) {
            retry = (it.status == catalog::ItemStatus::Error && it.error.startsWith(readErrorPrefix))
                    || it.status == catalog::ItemStatus::Pending || it.status == catalog::ItemStatus::Missing
                    || withoutVector.count(k.id) > 0;
        } else if (it.status == catalog::ItemStatus::Pending) {
            ++result.videosPending;  // still waiting for the video indexer
        } else if (it.status == catalog::ItemStatus::Error && it.error.startsWith(readErrorPrefix)) {
            retry = true;
        }
        if (retry) {
            ++result.retried;
            work.push_back(workFor(*f, k.id));
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
    try {
        for (const media::KnownFile &k : changes.deleted)
            for (const catalog::Segment &s : catalog->segments(k.id))
                removed.push_back(s.id);
        catalog->transaction([&] {
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

    // In submission order, so commits follow the scan order; at most `capacity` files are
    // read or decoded ahead of the model, which keeps memory flat.
    std::deque<QFuture<Processed>> inflight;
    size_t next = 0;
    auto refill = [&] {
        while (!job.isInterruptionRequested() && inflight.size() < capacity && next < work.size()) {
            const WorkItem *w = &work[next++];
            inflight.push_back(QtConcurrent::run(&pool, [w, &decode, &pre, this] {
                return process(*w, decode, pre, job.m_interrupt);
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
        refill();
        progress.currentPath = p.work->path;
        if (p.outcome == Outcome::Skipped)
            continue;
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
        for (const Processed *p : all) {
            const WorkItem &w = *p->work;
            if (!w.itemId)
                continue;
            const bool sameKind = p->outcome == Outcome::Embedded && w.itemType == catalog::ItemType::Image;
            if (sameKind)
                continue;
            const QList<catalog::Segment> segments = catalog->segments(*w.itemId);
            if (segments.isEmpty() && w.itemType == itemTypeOf(w))
                continue;
            replace.insert(*w.itemId);
            for (const catalog::Segment &s : segments)
                removeIds.push_back(s.id);
        }
        catalog->transaction([&] {
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
                switch (p->outcome) {
                case Outcome::Embedded:
                    item.status = catalog::ItemStatus::Indexed;
                    break;
                case Outcome::VideoPending:
                    item.status = catalog::ItemStatus::Pending;
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
                }
            }
            if (!addIds.empty() || !removeIds.empty())
                vindex->markDirty();
            catalog->updateJob(jobId, catalog::JobState::Running,
                               progress.filesTotal > 0 ? double(doneAfter) / double(progress.filesTotal) : 1.0);
        });
    } catch (const std::exception &e) {
        return failWith(QStringLiteral("writing the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    // Committed: the same change in memory, and on disk when a save is due.
    if (!removeIds.empty())
        vindex->remove(removeIds);
    if (!addIds.empty())
        vindex->add(addIds, addVectors);
    for (const Processed *p : all) {
        if (p->outcome == Outcome::Failed)
            addError(*p);
        else if (p->outcome == Outcome::VideoPending)
            ++result.videosPending;
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
