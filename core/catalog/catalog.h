#pragma once
// The catalog: <dataDir>/catalog.sqlite, the source of truth for the library (folders,
// items, video segments, every vector as float16), models, adapter packs, labels, jobs
// and per-file errors. The FAISS files are caches derived from it.
//
// Edges: open() reports problems a person can act on (unreadable file, not a catalog,
// written by a newer Unisearch) as an OpenResult, never by throwing. Once open, the
// query methods throw CatalogError (an SQLite failure: disk full, I/O error, a
// constraint); the Engine catches it at its own edge. A write that throws inside
// transaction() is rolled back as a whole.
//
// One Catalog is one SQLite connection: use it from one thread at a time. Worker threads
// open their own (WAL lets readers run beside the one writer; busy_timeout waits).
#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QMap>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace unisearch::catalog {

class CatalogError : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

enum class ItemType { Image, Video };
enum class ItemStatus {
    Pending,  // known, not embedded yet (or must be re-embedded)
    Indexed,  // every segment has a vector for the active model
    Error,    // could not be decoded/embedded; see errors()
    Missing,  // not found at its path on the last scan (maybe moved: see itemsByContentHash)
};

QString toString(ItemType type);
QString toString(ItemStatus status);
std::optional<ItemType> itemTypeFromString(const QString &s);
std::optional<ItemStatus> itemStatusFromString(const QString &s);

struct Counts {
    std::int64_t roots = 0;
    std::int64_t items = 0;
    std::int64_t images = 0;
    std::int64_t videos = 0;
    std::int64_t segments = 0;
    std::int64_t vectors = 0;
    std::int64_t errors = 0;
    std::int64_t models = 0;
    std::int64_t adapterPacks = 0;
    std::int64_t labels = 0;
    std::int64_t jobs = 0;
};

struct Root {
    std::int64_t id = 0;
    QString path;  // absolute, cleaned
    QDateTime addedAt;
    QDateTime lastScanAt;  // invalid when never scanned
};

struct Item {
    std::int64_t id = 0;
    std::optional<std::int64_t> rootId;  // empty for a file indexed on its own
    QString path;                        // absolute; unique
    ItemType type = ItemType::Image;
    std::int64_t size = 0;     // bytes
    std::int64_t mtimeMs = 0;  // modification time, ms since the epoch (change detection)
    QString contentHash;       // hex digest of the content (moved-file detection); may be empty
    int width = 0;
    int height = 0;
    double durationS = 0;  // videos only
    ItemStatus status = ItemStatus::Pending;
    QString error;  // last error for status Error
};

// A searchable span of an item: an image has exactly one (0, 0); a video has one per
// time range that was embedded. Its id is also the id of its vector in FAISS.
struct Segment {
    std::int64_t id = 0;
    std::int64_t itemId = 0;
    std::int64_t startMs = 0;
    std::int64_t endMs = 0;
};

struct ErrorEntry {
    std::int64_t id = 0;
    std::optional<std::int64_t> itemId;
    std::optional<std::int64_t> jobId;
    QString path;     // the file concerned (also when it never became an item)
    QString stage;    // scan, decode, embed, ...
    QString message;  // what went wrong, for a person
    QDateTime at;
};

// A label for fine-tuning (engine/training.h), attached to an item.
struct Label {
    std::int64_t id = 0;
    std::int64_t itemId = 0;
    QString kind;    // caption | name | qa
    QString text;    // the caption, the name or the question
    QString answer;  // qa: one answer (several answers: several labels)
    QDateTime createdAt;
};

struct ModelRecord {
    std::int64_t id = 0;
    QString name;              // unique; the folder name under models/
    QString fingerprint;       // sha256 of the weights
    QString task;              // retrieval | vqa
    QString architectureJson;  // model.json's architecture object
    QString path;              // bundle directory
    bool active = false;       // at most one active model per task
    QDateTime importedAt;
};

enum class JobState { Queued, Running, Paused, Done, Failed, Cancelled };
QString toString(JobState state);
std::optional<JobState> jobStateFromString(const QString &s);

struct Job {
    std::int64_t id = 0;
    QString kind;  // index, train, reembed, ...
    JobState state = JobState::Queued;
    double progress = 0;  // 0..1
    QString paramsJson = QStringLiteral("{}");
    QString error;
    QDateTime createdAt;
    QDateTime updatedAt;
};

// Text inside pictures (text.cpp): an image or video that waits for its OCR pass.
struct OcrTask {
    std::int64_t itemId = 0;
    QString path;
    bool video = false;  // read one frame per segment (the OCR pass adds the times)
    QList<double> frameTimesSec;
};

// Capture metadata (metadata.cpp; table item_meta, migration 4): one row per item that
// the metadata reader has read. Times are the wall clock where the item was taken.
enum class TakenSource { Exif, Video, File };
QString toString(TakenSource source);  // exif | video | file
std::optional<TakenSource> takenSourceFromString(const QString &s);

struct ItemMeta {
    std::int64_t itemId = 0;
    std::int64_t takenLocalMs = 0;          // wall clock, ms since 1970-01-01T00:00 (no zone)
    std::optional<int> takenOffsetMin;      // that clock's offset east of UTC, when known
    TakenSource takenSource = TakenSource::File;
    std::optional<double> gpsLat;           // degrees, north positive
    std::optional<double> gpsLon;           // degrees, east positive
    QString make;                           // camera; empty when unknown
    QString model;
    std::optional<int> orientation;         // EXIF 1..8
    int readerVersion = 0;                  // media::metadataReaderVersion that wrote it
    // The capture time as ISO 8601 ("2024-01-02T10:30:00.250+01:00"; without an offset
    // when unknown; milliseconds only when not zero).
    QString takenIso() const;
    // As UTC ms since the epoch: with the offset when known, else in the machine's zone.
    std::int64_t takenUtcMs() const;
};

// The row an item without item_meta falls back to: its file time (UTC ms) as the
// machine's local wall clock, source File, with the machine's offset at that time.
ItemMeta fileTimeMeta(std::int64_t itemId, std::int64_t mtimeMs);

// A live photo: a photo item whose short video of the same name (IMG_1234.HEIC and
// IMG_1234.MOV) is stored as the photo's moments, segments with a time range
// (migration 5). The video file is no item of its own while the pair holds.
struct LivePhoto {
    std::int64_t itemId = 0;     // the photo
    QString videoPath;           // the paired video, as scanned
    std::int64_t videoSize = 0;
    std::int64_t videoMtimeMs = 0;
};

// An indexed item whose metadata must be (re)read.
struct MetaTask {
    std::int64_t itemId = 0;
    QString path;
    ItemType type = ItemType::Image;
    std::int64_t mtimeMs = 0;
};

struct OpenOptions {
    int busyTimeoutMs = 5000;  // how long a writer waits for another process's write
};

class Catalog;

struct OpenResult {
    std::unique_ptr<Catalog> catalog;  // null on failure
    QString error;                     // on failure: what happened and what to do
    explicit operator bool() const { return catalog != nullptr; }
};

class Catalog
{
public:
    static constexpr const char *fileName = "catalog.sqlite";

    // Opens <dataDir>/catalog.sqlite, creating it (and dataDir) when missing, and
    // migrates it to the current schema. Never throws.
    static OpenResult open(const QString &dataDir, const OpenOptions &options = {});
    // The schema version this build writes (PRAGMA user_version).
    static int latestSchemaVersion();

    ~Catalog();
    Catalog(const Catalog &) = delete;
    Catalog &operator=(const Catalog &) = delete;

    QString filePath() const;
    int schemaVersion() const;
    // The value of a read-only PRAGMA on this connection (journal_mode, foreign_keys,
    // synchronous, busy_timeout...), for diagnostics; empty for an unknown name.
    QString pragma(const QString &name) const;
    Counts counts() const;

    // Runs fn in one transaction (nested calls use savepoints): committed when fn
    // returns, rolled back when it throws (the exception propagates).
    void transaction(const std::function<void()> &fn);

    // Key/value metadata (e.g. FAISS generations).
    std::optional<QString> meta(const QString &key) const;
    void setMeta(const QString &key, const QString &value);
    // The generation of vectors/<fingerprint>.faiss that matches the catalog; 0 = none
    // written yet. Bumped by whoever rewrites the FAISS file, after the rename.
    std::int64_t faissGeneration(const QString &fingerprint) const;
    void setFaissGeneration(const QString &fingerprint, std::int64_t generation);

    // Roots (library folders). addRoot is idempotent and returns the existing id.
    std::int64_t addRoot(const QString &path);
    QList<Root> roots() const;
    bool removeRoot(std::int64_t id);  // removes its items, segments, vectors too
    void setRootScanned(std::int64_t id, const QDateTime &when = QDateTime::currentDateTimeUtc());

    // Items. upsertItem inserts or updates by path and returns the id.
    std::int64_t upsertItem(const Item &item);
    std::optional<Item> item(std::int64_t id) const;
    std::optional<Item> itemByPath(const QString &path) const;
    QList<Item> itemsByContentHash(const QString &hash) const;
    QList<Item> itemsInRoot(std::int64_t rootId) const;
    // A moved file keeps its id, segments, vectors and labels.
    void moveItem(std::int64_t id, const QString &newPath, std::optional<std::int64_t> rootId);
    void setItemStatus(std::int64_t id, ItemStatus status, const QString &error = {});
    bool removeItem(std::int64_t id);

    // The precision of the model computing the vectors this connection writes from now on
    // (putVector, addSegmentWithVector): "float32" (until set), "bfloat16" or "float16".
    // Each vector records it; float32 and bfloat16 vectors of one model mix in a store
    // (docs/performance.md, "Precision"). Throws CatalogError for another value.
    void setVectorPrecision(const QString &precision);
    QString vectorPrecision() const;
    // Stored vectors by the precision that made them, e.g. {"float32": 120, "bfloat16": 8}.
    QMap<QString, std::int64_t> vectorPrecisions() const;
    // Segments and their vectors (stored as float16; returned as float).
    std::int64_t addSegment(std::int64_t itemId, std::int64_t startMs = 0, std::int64_t endMs = 0);
    QList<Segment> segments(std::int64_t itemId) const;
    void putVector(std::int64_t segmentId, const QString &modelFingerprint, std::span<const float> vector);
    // Adds the segment (or finds the same time range) and stores its vector, atomically.
    std::int64_t addSegmentWithVector(std::int64_t itemId, std::int64_t startMs, std::int64_t endMs,
                                      const QString &modelFingerprint, std::span<const float> vector);
    std::optional<std::vector<float>> vector(std::int64_t segmentId, const QString &modelFingerprint) const;
    // Calls fn for every vector of a model in segment order (to rebuild FAISS); returns the count.
    std::int64_t forEachVector(const QString &modelFingerprint,
                               const std::function<void(std::int64_t segmentId, std::span<const float>)> &fn) const;
    std::int64_t removeVectors(const QString &modelFingerprint);
    // The models that have a vector of the segment.
    QStringList vectorModels(std::int64_t segmentId) const;
    // Deletes the segment's vectors of every model but keepModel; returns those models.
    QStringList removeOtherVectors(std::int64_t segmentId, const QString &keepModel);
    // Deletes the segments that have no vector of any model left (and no label), e.g. a
    // video's moments of an adapter pack whose vectors were deleted; returns how many.
    std::int64_t removeSegmentsWithoutVectors();

    // Errors per file.
    std::int64_t addError(const ErrorEntry &error);
    QList<ErrorEntry> errors(int limit = 1000) const;  // newest first
    void clearErrors(std::int64_t itemId);

    // Labels for fine-tuning. addLabel keeps one copy of an identical label (same item,
    // kind, text, answer) and returns its id.
    std::int64_t addLabel(const Label &label);
    QList<Label> labels(const QString &kind = {}) const;  // all kinds when empty; by item, then id

    // Models.
    std::int64_t upsertModel(const ModelRecord &model);  // by name
    QList<ModelRecord> models() const;
    std::optional<ModelRecord> activeModel(const QString &task) const;
    // Activates the named model and deactivates the others of its task; false if unknown.
    bool setActiveModel(const QString &name);

    // Jobs (so an interrupted job can be resumed after a crash).
    std::int64_t createJob(const QString &kind, const QString &paramsJson = QStringLiteral("{}"));
    void updateJob(std::int64_t id, JobState state, double progress, const QString &error = {});
    std::optional<Job> job(std::int64_t id) const;
    QList<Job> unfinishedJobs() const;  // queued, running or paused

    // Text inside pictures (text.cpp). The keyword index (FTS5) holds every item's file
    // name and folder (kept in step by triggers) and its OCR text. OCR is pending for new
    // and changed items and for those read with other languages (a "+"-joined list).
    // Indexed images and videos whose OCR is pending, by id, at most limit, after afterId.
    QList<OcrTask> pendingOcr(const QString &languages, int limit, std::int64_t afterId = 0) const;
    std::int64_t countPendingOcr(const QString &languages) const;
    // Stores an item's OCR text (done) or marks it failed (error: not retried until it changes).
    void setOcrText(std::int64_t itemId, const QString &text, const QString &languages, bool failed = false);
    std::optional<QString> ocrText(std::int64_t itemId) const;

    // Capture metadata (metadata.cpp). setItemMeta replaces the item's row.
    void setItemMeta(const ItemMeta &meta);
    std::optional<ItemMeta> itemMeta(std::int64_t itemId) const;
    // Indexed items with no row or a row older than readerVersion, by id, at most limit,
    // after afterId (the metadata-only pass of `index` over older catalogs).
    QList<MetaTask> itemsNeedingMeta(int readerVersion, int limit, std::int64_t afterId = 0) const;
    std::int64_t countItemsNeedingMeta(int readerVersion) const;
    // Items whose row holds a capture time read from the file (source exif or video).
    std::int64_t countItemsWithCaptureTime() const;

    // Live photos (livephotos.cpp). setLivePhoto replaces the photo's pair; breakLivePhoto
    // removes it with the video's segments (the photo's own stays) and returns their ids.
    void setLivePhoto(const LivePhoto &pair);
    std::optional<LivePhoto> livePhoto(std::int64_t itemId) const;
    QList<LivePhoto> livePhotos() const;
    std::vector<std::int64_t> breakLivePhoto(std::int64_t itemId);

private:
    struct Private;
    explicit Catalog(std::unique_ptr<Private> d);
    std::unique_ptr<Private> d;
};

} // namespace unisearch::catalog
