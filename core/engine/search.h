#pragma once
// Search by meaning, and "more like this".
//
//   text → pre_caption (≤ 30 words) → tokenize (≤ 35 tokens) → text feature → store top-K
//   (restricted by type / folder / date through an IdFilter) → group segments by item
//   (best segment = the moment of a video) → optional ITM re-rank of the best N items
//   with a relevance cut-off on the ITM probability.
//
// Videos: the store holds a vector per segment (a time range) and one video-level vector
// per video (the segment (0, 0), see indexjob.h). A video's score is the best of its
// vectors; its moments are its segments scored exactly against the query, those that
// match (among the vectors the store returned for the query, and within momentMargin of
// the best moment) best first, at most maxMoments; the best segment is always a moment. The re-rank scores a video with the
// ITM head over its T sampled frames with frame-aware attention (the model's video path).
//
// Scores are cosine similarities (features are normalised). Without re-ranking nothing
// says whether the best hit is a good match: similarities of unrelated text and images
// are not comparable across queries. With re-ranking, the ITM head's match probability is
// such a judgement, so a query whose best re-ranked hit stays below the threshold comes
// back with noGoodMatch set (the hits are still returned, best first).
//
// A Searcher reads the catalog through its own read-only connection and uses the model
// under its lock; one Searcher serves one thread at a time.
//
// Combined queries (engine/query.h): the query vector is normalize(Σ wᵢ · unit(featureᵢ)),
// text terms through the query clean-up and the text encoder, file terms through their stored
// vector when indexed and unchanged (a video: the video-level vector), else embedded now, as
// similar() does; item:ID through its stored vector. Items named by positive file or item terms
// are left out of the results (as similar() leaves out the file itself). The re-rank runs with
// the positive text terms joined by spaces, only when there are any (a query of images alone is
// not re-ranked). cleanedQuery writes the terms back (text cleaned, files as absolute paths).
// A query without separators, weights or file terms is a plain one, exactly as before.
//
// Progressive re-rank (the window): search() with rerank off gives the store's order at once;
// rerank(storeResult, params, onUpdate) then scores the best rerankCount items with the ITM
// head, in store order, a batch at a time (rerankBatch images; a video alone), and after each
// batch calls onUpdate(partial, done, total) with the hits ordered as the final order would be
// given what is known:
//   [scored ≥ relevanceThreshold, by probability] [not scored yet, in store order]
//   [scored < threshold, by probability] [could not be read, in store order] [the rest]
// So a good match rises to the top when it is scored, a poor one sinks below the items still
// waiting, and an item nobody has scored yet never moves: a list that re-orders live moves
// each item once, to where it stays relative to the unscored ones. When everything is scored
// the middle group is empty and the order is the final one (scored by probability, the
// unreadable after them). Keyword hits are fused after the re-rank (keywordsearch.h), in the
// partial orders too. A partial result has reranked false and bestItmProbability the best so
// far; noGoodMatch is set on the final result only, and the last update (done == total)
// carries it. onUpdate returning false cancels: rerank() returns std::nullopt with *error
// left empty, and calls onUpdate no more (cancellation takes effect between batches).
// search() with rerank on is search() with rerank off, then rerank() without updates.
//
// The image tokens of re-ranked items stay in the model's token cache (tokencache.h, keyed by
// item, file size and mtime, and model), so refining a query scores them again without
// decoding and encoding them.
//
// Sessions: the window and the CLI open theirs the same way, through the Engine facade.
// Engine::searchSessionPlan() resolves, on the thread that owns the engine's catalog, which
// model a search uses now (the active retrieval model with its adapter pack, the engine's
// device, the precision setting); SearchSession::open(plan, ...) loads it and its vector
// store on any thread (the window's search thread; Engine::openSearchSession() at once).
#include "catalog/catalog.h"
#include "engine/inference.h"
#include "engine/models.h"

#include <QDateTime>
#include <QList>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace unisearch::index {
class VectorStore;
}

namespace unisearch::engine {

class RetrievalModel;
class VectorIndex;
struct VectorIndexReport;

struct SearchFilter {
    std::optional<catalog::ItemType> type;
    QStringList folders;  // library folders or any folder: the item lies in one of them (or below)
    // Capture time (SearchHit::meta.takenLocalMs: when the photo or video was taken, as the wall
    // clock showed it; the file time in the local zone for an item whose metadata is not read
    // yet). The bounds are wall clock too: their date and time as written, the time spec
    // ignored. from inclusive, to exclusive (a whole day D: from D 00:00 to D+1 00:00).
    QDateTime from;       // invalid: no bound
    QDateTime to;         // invalid: no bound
    bool isEmpty() const { return !type && folders.isEmpty() && !from.isValid() && !to.isValid(); }
};

struct SearchParams {
    // A plain description, or a combined query (engine/query.h: "2:a dog - people + ./beach.jpg").
    QString text;
    // Relative file terms of a combined query resolve against it (empty: the current directory).
    QString baseDir;
    int top = 20;
    // ITM re-rank of the best rerankCount images. Unset: on when the model runs on CUDA,
    // off on the CPU (16 cross-attention passes of the full model take seconds there).
    std::optional<bool> rerank;
    // How many of the best items are re-ranked; 0: the device's default (defaultRerankCount:
    // 16 on CUDA, 8 on the CPU, where one item costs about 0.3 s at bfloat16).
    int rerankCount = 0;
    // Images scored per forward (and per onUpdate) in a progressive re-rank.
    int rerankBatch = 4;
    // A re-ranked hit is a good match when its ITM match probability reaches this.
    double relevanceThreshold = 0.5;
    // Videos: which segments are reported as matching moments (see above).
    double momentMargin = 0.05;
    int maxMoments = 10;
    int videoRerankFrames = 8;  // T frames of a video for the re-rank
    SearchFilter filter;
};

struct SimilarParams {
    int top = 20;
    SearchFilter filter;
};

// A matching time range inside a video.
struct Moment {
    std::int64_t segmentId = 0;
    std::int64_t startMs = 0;
    std::int64_t endMs = 0;
    float score = 0;
};

struct SearchHit {
    std::int64_t itemId = 0;
    std::int64_t segmentId = 0;  // the best segment of the item (its vector's id)
    QString path;
    catalog::ItemType type = catalog::ItemType::Image;
    float score = 0;                       // cosine similarity with the query
    std::optional<double> itmProbability;  // re-ranked hits only
    std::int64_t startMs = 0;              // the best moment of a video (0, 0 for images)
    std::int64_t endMs = 0;
    // All matching moments of a video, best first (the first is the best moment above);
    // empty for images.
    QList<Moment> moments;
    std::int64_t mtimeMs = 0;
    int width = 0;
    int height = 0;
    // Why a keyword matched: a short snippet of the OCR text or the file or folder name
    // (empty when the hit came from the semantic ranking alone).
    QString matchedText;
    // A live photo (engine/indexing/livephoto.h): its paired video beside it, whose moment
    // startMs/endMs are when the best segment was the video's; empty otherwise.
    QString livePhotoVideo;
    // The item's capture metadata (catalog::ItemMeta): when it was taken as the wall clock
    // showed it (takenLocalMs, takenOffsetMin when known, takenIso()) and where that time
    // came from (takenSource: Exif, Video, or File — the file time, for an item whose
    // metadata is not read yet: catalog::fileTimeMeta).
    catalog::ItemMeta meta;
};

struct SearchTimings {
    double cleanMs = 0;   // clean-up and tokenizing
    double featureMs = 0; // text feature (search) or image feature (similar, when embedded)
    double storeMs = 0;   // filter, store search
    double groupMs = 0;   // catalog look-up of the hits, grouping by item
    double rerankMs = 0;  // decoding and ITM of the re-ranked images
    double rerankDecodeMs = 0;  // of rerankMs: decoding and preprocessing the files
    double rerankEncodeMs = 0;  // of rerankMs: the vision tower (images not in the token cache)
    double totalMs = 0;
};

struct RerankBasis;

// The number of items re-ranked by default on a device ("cpu", "cuda", "cuda:N").
int defaultRerankCount(const QString &device);

struct SearchResult {
    QString query;         // as given
    QString cleanedQuery;  // after pre_caption
    QList<SearchHit> hits; // best first
    bool reranked = false;
    bool noGoodMatch = false;  // re-ranked, and no hit reached the relevance threshold
    std::optional<double> bestItmProbability;
    QString source;  // similar(): "catalog" (the file's stored vector) or "embedded" (decoded now)
    SearchTimings timings;
    // What rerank() needs of a search (the hits before keyword fusion, the query's vector and
    // re-rank tokens); search() sets it, rerank() reads it. Shared, never changed.
    std::shared_ptr<const RerankBasis> rerankBasis;
};

// After each re-ranked batch: the hits in their order so far (see above), how many of the
// total items are scored. Return false to cancel.
using RerankUpdateFn = std::function<bool(const SearchResult &partial, int done, int total)>;

class Searcher
{
public:
    // dataDir: the library whose catalog the store was built from. The store must stay
    // alive and unchanged while the Searcher is used (search takes it read-only).
    Searcher(const QString &dataDir, std::shared_ptr<RetrievalModel> model, const index::VectorStore &store);
    ~Searcher();
    Searcher(const Searcher &) = delete;
    Searcher &operator=(const Searcher &) = delete;

    // Never throws; std::nullopt with *error (a sentence a person can act on) on failure.
    std::optional<SearchResult> search(const SearchParams &params, QString *error = nullptr);
    // Re-ranks a result of search() (see "Progressive re-rank" above); params as given to
    // search() (text, top, rerankCount, rerankBatch, relevanceThreshold, videoRerankFrames;
    // params.rerank is ignored). A result without text to re-rank by (a query of images
    // alone) comes back as it is. Never throws; std::nullopt with *error on failure, with
    // *error untouched when onUpdate cancelled.
    std::optional<SearchResult> rerank(const SearchResult &storeResult, const SearchParams &params,
                                       const RerankUpdateFn &onUpdate = {}, QString *error = nullptr);
    // Items that look like the image or video at path: its stored vector when it is
    // indexed (a video's video-level vector; itself excluded), else its feature computed
    // now (a video: from 8 uniformly sampled frames).
    std::optional<SearchResult> similar(const QString &path, const SimilarParams &params, QString *error = nullptr);

    RetrievalModel &model() { return *m_model; }

private:
    struct Private;
    std::unique_ptr<Private> d;
    std::shared_ptr<RetrievalModel> m_model;
};

// What a search session loads, as values: resolved where the engine's catalog lives
// (Engine::searchSessionPlan), opened wherever the session is used.
struct SearchSessionPlan {
    QString dataDir;
    ModelInfo model;           // the active retrieval model, adapterPack set (training.h)
    InferenceOptions options;  // the engine's device, the "engine/precision" setting
    QString vectorKey;         // the key of the vectors it searches (vectorFingerprint)
};

// Everything a search needs, opened from a library: the active model, its vector store
// (rebuilt from the catalog when the file is missing or behind; written back only when no
// indexer holds the lock), and a Searcher over them.
class SearchSession
{
public:
    // Opens what plan names. catalog: a connection of the calling thread, or null to open
    // one of the session's own (a worker thread). reuse: a model loaded before, kept when
    // its vectors are still plan's (only the store is reopened); else plan's model is
    // loaded now.
    static std::unique_ptr<SearchSession> open(const SearchSessionPlan &plan, catalog::Catalog *catalog,
                                               std::shared_ptr<RetrievalModel> reuse = {}, QString *error = nullptr);
    static std::unique_ptr<SearchSession> open(catalog::Catalog &catalog, const QString &dataDir,
                                               std::shared_ptr<RetrievalModel> model, QString *error = nullptr);
    // The same with the catalog's active retrieval model loaded on device (float32).
    static std::unique_ptr<SearchSession> open(catalog::Catalog &catalog, const QString &dataDir,
                                               const QString &device, QString *error = nullptr);
    ~SearchSession();

    Searcher &searcher() { return *m_searcher; }
    VectorIndex &vectorIndex() { return *m_index; }
    const VectorIndexReport &storeReport() const { return *m_report; }
    std::shared_ptr<RetrievalModel> model() const { return m_model; }
    QString modelName() const;
    // The vectors the store held when it was opened (0: nothing indexed yet).
    std::int64_t vectorCount() const;
    // Readies the text tower for the first query: one throw-away text query (the window calls
    // it on its search thread when a session opens). False with *error on a model error.
    bool warmUp(QString *error = nullptr);

private:
    SearchSession() = default;
    std::unique_ptr<catalog::Catalog> m_ownCatalog;  // open(plan) without a catalog; outlives m_index
    std::shared_ptr<RetrievalModel> m_model;
    std::unique_ptr<VectorIndex> m_index;
    std::unique_ptr<VectorIndexReport> m_report;
    std::unique_ptr<Searcher> m_searcher;
};

} // namespace unisearch::engine
