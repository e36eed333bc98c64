#pragma once
// The vector store: inner-product top-k search over the catalog's feature vectors.
//
// No FAISS, Qt or LibTorch type appears here (us_core includes this header); the
// implementation lives behind a pimpl.
//
// Two tiers, picked by size alone:
//   exact        up to Params::exactLimit items: every vector scored in float32 with
//                FAISS's flat inner-product kernel (what IndexFlatIP does).
//   approximate  beyond it: a full scan of int8 scalar-quantised codes (a quarter of the
//                memory traffic), then the best candidates re-scored exactly in float32.
//                Returned scores are therefore always exact inner products; only the
//                membership of the top k is approximate (recall@10 ≈ 1.0 measured on
//                random data, which is the hardest case for partition/graph indexes).
// See vectorstore.cpp for the measurements behind this choice (HNSW and IVF lost).
//
// Thread safety: any number of concurrent searches; add/remove/rebuild/load wait for
// running searches and block new ones for their duration (std::shared_mutex, writers
// first: a waiting writer holds back new searches). save runs as a reader, so an
// add() during a long save also holds back searches: save from the writing thread.
//
// Errors: a call that breaks the contract (wrong vector length, non-finite values)
// throws std::invalid_argument naming both sizes. save/load never throw: they return
// a StoreResult whose message a person can act on.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace unisearch::index {

std::string faissVersion();
// The int8 scan kernel picked for this CPU at run time ("avx2" or "generic").
const char *scanKernel();

struct Hit {
    int64_t id = 0;
    float score = 0.f; // exact inner product of the query and the stored vector
    friend bool operator==(const Hit &, const Hit &) = default;
};

enum class IndexKind { Exact, Approximate };
const char *indexKindName(IndexKind kind);

// Restricts a search to some ids. Build it once and reuse it for several queries:
// construction is O(number of ids), a membership test is O(1).
class IdFilter {
public:
    // Only these ids (duplicates and ids absent from the store are fine). A short list
    // is scored id by id, a long one is checked during the scan.
    static IdFilter allowIds(std::span<const int64_t> ids);
    // Any id for which `accept` returns true. Called only for items that would
    // otherwise make the top results, so it can be moderately expensive; it must be
    // thread-safe (a search may call it from several threads) and must not call back
    // into the store. An exception it throws ends the search and reaches the caller.
    static IdFilter allowIf(std::function<bool(int64_t)> accept);

    bool accepts(int64_t id) const;
    // The ids of an allowIds filter (sorted, unique); nullopt for allowIf.
    std::optional<std::span<const int64_t>> idList() const;

    struct Impl;

private:
    friend class VectorStore;
    explicit IdFilter(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> m_impl;
};

enum class StoreStatus {
    Ok,
    Missing,           // no file at the path
    Stale,             // a valid file of another generation than the catalog's
    Corrupt,           // truncated, garbage, damaged checksum, unknown format version
    DimensionMismatch, // a valid file of vectors of another dimension
    IoError,           // the file system refused (permissions, disk full, ...)
};
const char *storeStatusName(StoreStatus status);

struct StoreResult {
    StoreStatus status = StoreStatus::Ok;
    std::string message; // empty when ok
    bool ok() const { return status == StoreStatus::Ok; }
    // Missing, Stale, Corrupt and DimensionMismatch mean: rebuild from the catalog.
    bool needsRebuild() const { return !ok() && status != StoreStatus::IoError; }
};

class VectorStore {
public:
    struct Params {
        int dim = 256;
        // Largest size searched exactly. FAISS's flat kernel costs one core ~9 ms per
        // query at 50k × 256 and ~18 ms at 100k (measured on the 2-core target).
        size_t exactLimit = 50'000;
        // The approximate tier re-scores max(k × rerankFactor, rerankMin) candidates
        // exactly; the cost is ~1 µs per candidate, far below the scan.
        size_t rerankFactor = 4;
        size_t rerankMin = 64;
        // An allowIds filter with at most this many ids is scored id by id (exact, no
        // scan) when that is cheaper than the scan: lists under 1/40 of the store in
        // the approximate tier, under 1/3 in the exact tier.
        size_t subsetExactLimit = 20'000;
        // OpenMP threads for bulk work: rebuild, load, and searchBatch (one query per
        // thread). 0 = the OpenMP default capped at 4: the scans are memory-bound.
        int threads = 0;
        // Threads for one search(). One by default: a search split over threads must
        // wait for every one of them at the end, and on a busy machine (indexing runs
        // beside searches) one is often descheduled; measured at 1M on the shared
        // 2-core machine, p50/p95 were 24/32 ms on one thread against 40/53 ms on two.
        // On an idle machine two threads halve the ~12 ms a 1M search costs one core.
        int queryThreads = 1;
        // Below this many vectors a search stays on the calling thread even with
        // queryThreads > 1: waking the pool would cost more than it saves.
        size_t parallelMinItems = 32'768;
    };

    VectorStore(); // default Params
    explicit VectorStore(Params params);
    ~VectorStore();
    VectorStore(const VectorStore &) = delete;
    VectorStore &operator=(const VectorStore &) = delete;

    const Params &params() const;
    int dim() const;
    size_t size() const;
    bool empty() const { return size() == 0; }
    bool contains(int64_t id) const;
    IndexKind kind() const;
    // Generation of the last successful save or load (0 for a new store).
    uint64_t generation() const;
    // Resident bytes of vectors, codes and the id map (approximate; ~1.27 KiB per
    // 256-d item).
    size_t memoryBytes() const;

    // Adds ids.size() vectors (row-major, ids.size() × dim floats). An id already in
    // the store gets the new vector; within one call the last occurrence wins.
    void add(std::span<const int64_t> ids, std::span<const float> vectors);
    // Removes those ids that are present; returns how many were.
    size_t remove(std::span<const int64_t> ids);
    // Replaces the whole content: the bulk path after a failed load.
    void rebuild(std::span<const int64_t> ids, std::span<const float> vectors);
    void clear();

    std::optional<std::vector<float>> vector(int64_t id) const;
    std::vector<int64_t> ids() const;

    // Top min(k, size) hits, best first (ties: smaller id first).
    std::vector<Hit> search(std::span<const float> query, size_t k) const;
    std::vector<Hit> search(std::span<const float> query, size_t k, const IdFilter &filter) const;
    // queries: n × dim floats; one result list per query.
    std::vector<std::vector<Hit>> searchBatch(std::span<const float> queries, size_t k) const;
    std::vector<std::vector<Hit>> searchBatch(std::span<const float> queries, size_t k,
                                              const IdFilter &filter) const;

    // Atomic: a temp file in the same directory, fsync, rename. Records `generation`.
    StoreResult save(const std::filesystem::path &path, uint64_t generation);
    // Replaces the content with the file's if it is valid and of `expectedGeneration`;
    // on any failure the store is left as it was.
    StoreResult load(const std::filesystem::path &path, uint64_t expectedGeneration);

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace unisearch::index
