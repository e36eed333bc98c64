#include "vectorstore.h"

#include "kernels_p.h"
#include "storefile_p.h"

#include <faiss/Index.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/Heap.h>
#include <faiss/utils/distances.h>

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>

// Why this design (measured on the 2-core target machine, 256-d random unit vectors,
// FAISS 1.7.3 from Debian, which is built without AVX2; CPU time of one core, since
// the machine was shared and wall time mostly measured the neighbours):
//
//  - Flat search (IndexFlatIP's kernel) costs ~0.19 ms per 1,000 vectors: 9 ms at 50k,
//    18.5 ms at 100k, ~190 ms at 1M. Hence the exact tier up to 50k.
//  - HNSW (IndexHNSWFlat, M=32, efConstruction=40): 225 s to build 100k (about an hour
//    for 1M), and recall@10 stayed near 0.05 with efSearch 32..256 passed in
//    SearchParametersHNSW. It also cannot remove ids in 1.7.3 (tombstones + rebuilds)
//    and its filtered search needs oversampling. Rejected.
//  - IVF-Flat (100k, 316 lists): recall@10 0.48 at nprobe 64 and 0.71 at nprobe 128
//    (40 % of the data scanned). Random vectors in 256-d have no cluster structure, so a
//    partition cannot prune; reaching 0.95 means scanning nearly everything with the
//    slow kernel. SQ8 and PQ4-fast-scan with refinement have the recall but their
//    non-AVX2 scanners took 80 ms and 28 ms per query over only 200k. Rejected.
//  - A full scan of int8 codes (256 B per vector) with our own AVX2 kernel: 12-17 ms
//    per query over 1M on one core (p95 14-20 ms), memory-bound (~20 GB/s); re-scoring
//    the best 64 candidates exactly gives recall@10 = 1.000 on 1M random vectors. It
//    needs no training, removes in O(1), and filters exactly (non-members never enter
//    the candidate list). Chosen.
//
// Storage is ours (structure of arrays indexed by position, plus an id → position map)
// rather than IndexIDMap2: removal swaps the last item into the hole in O(dim) instead
// of IndexFlat::remove_ids' O(n) compaction and IDMap2's full reverse-map rebuild, and
// both tiers share one copy of the float vectors.

namespace unisearch::index {

std::string faissVersion()
{
    return std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "."
        + std::to_string(FAISS_VERSION_PATCH);
}

const char *scanKernel()
{
    return detail::kernelName();
}

const char *indexKindName(IndexKind kind)
{
    switch (kind) {
    case IndexKind::Exact:
        return "exact (flat inner product)";
    case IndexKind::Approximate:
        return "approximate (int8 scan + exact re-rank)";
    }
    return "?";
}

const char *storeStatusName(StoreStatus status)
{
    switch (status) {
    case StoreStatus::Ok: return "ok";
    case StoreStatus::Missing: return "missing";
    case StoreStatus::Stale: return "stale";
    case StoreStatus::Corrupt: return "corrupt";
    case StoreStatus::DimensionMismatch: return "dimension mismatch";
    case StoreStatus::IoError: return "i/o error";
    }
    return "?";
}

// ---------------------------------------------------------------------------------
// IdFilter

struct IdFilter::Impl {
    enum class Mode { Bitmap, Set, Predicate };
    Mode mode = Mode::Predicate;
    std::vector<int64_t> sorted; // list filters
    int64_t base = 0;            // Bitmap: bit (id - base)
    std::vector<uint64_t> bits;
    std::unique_ptr<faiss::IDSelectorBatch> set; // sparse ids: hash set behind a Bloom filter
    std::function<bool(int64_t)> accept;

    bool isList() const { return mode != Mode::Predicate; }

    bool accepts(int64_t id) const
    {
        switch (mode) {
        case Mode::Bitmap: {
            const uint64_t off = uint64_t(id) - uint64_t(base);
            return off < uint64_t(bits.size()) * 64 && (bits[off >> 6] >> (off & 63) & 1);
        }
        case Mode::Set:
            return set->is_member(id);
        case Mode::Predicate:
            return accept(id);
        }
        return false;
    }
};

IdFilter::IdFilter(std::shared_ptr<const Impl> impl) : m_impl(std::move(impl)) {}

IdFilter IdFilter::allowIds(std::span<const int64_t> ids)
{
    auto impl = std::make_shared<Impl>();
    impl->sorted.assign(ids.begin(), ids.end());
    std::sort(impl->sorted.begin(), impl->sorted.end());
    impl->sorted.erase(std::unique(impl->sorted.begin(), impl->sorted.end()), impl->sorted.end());
    const auto &s = impl->sorted;
    // Catalog ids are mostly dense autoincrement values: a bitmap over their range is
    // the cheapest test. Fall back to a hash set when the range is much wider than the
    // list (the bitmap would cost more than 8 bytes per listed id).
    // (max - min, not + 1: the full int64 range would wrap to 0.)
    const uint64_t span = s.empty() ? 0 : uint64_t(s.back()) - uint64_t(s.front());
    if (!s.empty() && span < 64 * uint64_t(s.size()) + 65536) {
        impl->mode = Impl::Mode::Bitmap;
        impl->base = s.front();
        impl->bits.assign(span / 64 + 1, 0);
        for (int64_t id : s) {
            const uint64_t off = uint64_t(id) - uint64_t(impl->base);
            impl->bits[off >> 6] |= uint64_t(1) << (off & 63);
        }
    } else if (!s.empty()) {
        impl->mode = Impl::Mode::Set;
        impl->set = std::make_unique<faiss::IDSelectorBatch>(s.size(), s.data());
    } else {
        impl->mode = Impl::Mode::Bitmap; // empty: accepts nothing
    }
    return IdFilter(std::move(impl));
}

IdFilter IdFilter::allowIf(std::function<bool(int64_t)> accept)
{
    if (!accept)
        throw std::invalid_argument("IdFilter::allowIf: empty predicate");
    auto impl = std::make_shared<Impl>();
    impl->mode = Impl::Mode::Predicate;
    impl->accept = std::move(accept);
    return IdFilter(std::move(impl));
}

bool IdFilter::accepts(int64_t id) const
{
    return m_impl->accepts(id);
}

std::optional<std::span<const int64_t>> IdFilter::idList() const
{
    if (!m_impl->isList())
        return std::nullopt;
    return std::span<const int64_t>(m_impl->sorted);
}

// ---------------------------------------------------------------------------------
// VectorStore

namespace {

using detail::codeStride;

// Best first; equal scores by smaller id, so results do not depend on thread timing
// or on the order items were added.
bool better(const Hit &a, const Hit &b)
{
    return a.score > b.score || (a.score == b.score && a.id < b.id);
}

// Keeps the best `capacity` (score, position) pairs in a min-heap; threshold() is the
// weakest one kept.
class TopList {
public:
    explicit TopList(size_t capacity) : m_capacity(capacity) { m_items.reserve(capacity); }
    bool full() const { return m_items.size() >= m_capacity; }
    float threshold() const { return m_items.front().first; }
    // Cheap rejection before the caller pays for a filter check.
    bool wants(float score) const { return m_capacity > 0 && (!full() || score > threshold()); }
    void push(float score, size_t pos)
    {
        if (!full()) {
            m_items.emplace_back(score, pos);
            std::push_heap(m_items.begin(), m_items.end(), std::greater<>());
        } else if (score > threshold()) {
            std::pop_heap(m_items.begin(), m_items.end(), std::greater<>());
            m_items.back() = {score, pos};
            std::push_heap(m_items.begin(), m_items.end(), std::greater<>());
        }
    }
    const std::vector<std::pair<float, size_t>> &items() const { return m_items; }

private:
    size_t m_capacity;
    std::vector<std::pair<float, size_t>> m_items;
};

// Block-local position → catalog id → filter. FAISS's flat kernel asks this before
// scoring each vector, from inside its own OpenMP region, which an exception must not
// leave: a throwing predicate is recorded, rejects the rest, and is rethrown by the
// caller once FAISS returns.
struct ChunkSelector final : faiss::IDSelector {
    const int64_t *ids = nullptr; // ids of the block's first vector onwards
    const IdFilter::Impl *filter = nullptr;
    mutable std::exception_ptr error; // one block = one thread (FAISS runs nx = 1 serially)

    bool is_member(idx_t j) const override
    {
        if (error)
            return false;
        try {
            return filter->accepts(ids[j]);
        } catch (...) {
            error = std::current_exception();
            return false;
        }
    }
};

void checkFinite(std::span<const float> values, const char *what)
{
    for (float v : values)
        if (!std::isfinite(v))
            throw std::invalid_argument(std::string(what) + " contains a NaN or infinite value");
}

// Runs body(thread, begin, end) over consecutive blocks covering [0, n), on up to
// nThreads OpenMP threads. Blocks are handed out dynamically, several per thread:
// when a busy machine deschedules one thread, the others take over its remaining
// blocks. The region still ends with a barrier every thread must reach, which is why
// one thread per search is the default (Params::queryThreads). `thread` indexes
// per-thread state.
// An exception thrown by a worker (a throwing filter predicate) is carried out of
// the OpenMP region, where it would otherwise terminate the program.
template <typename Body>
void forBlocks(size_t n, int nThreads, size_t blockItems, Body &&body)
{
    const size_t nBlocks = (n + blockItems - 1) / blockItems;
    if (nThreads <= 1 || nBlocks <= 1) {
        body(0, size_t(0), n);
        return;
    }
    std::exception_ptr error;
    std::atomic<bool> failed{false};
#pragma omp parallel num_threads(nThreads)
    {
        const int t = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t b = 0; b < int64_t(nBlocks); ++b) {
            if (failed.load(std::memory_order_relaxed))
                continue;
            try {
                body(t, size_t(b) * blockItems, std::min(n, size_t(b + 1) * blockItems));
            } catch (...) {
                if (!failed.exchange(true))
                    error = std::current_exception();
            }
        }
    }
    if (error)
        std::rethrow_exception(error);
}

} // namespace

struct VectorStore::Impl {
    Params params;
    size_t dim = 0;
    size_t stride = 0; // bytes per int8 code
    int threads = 1;      // bulk work
    int queryThreads = 1; // one search

    // glibc's rwlock prefers readers: back-to-back searches would starve add() forever.
    // A writer holds the turnstile while it waits, so new searches queue behind it and
    // the running ones drain; readers pass the turnstile in a few nanoseconds.
    mutable std::shared_mutex mutex;
    mutable std::mutex turnstile;

    std::shared_lock<std::shared_mutex> readLock() const
    {
        std::lock_guard gate(turnstile);
        return std::shared_lock(mutex);
    }
    std::unique_lock<std::shared_mutex> writeLock() const
    {
        std::lock_guard gate(turnstile);
        return std::unique_lock(mutex);
    }

    std::vector<int64_t> ids;     // position → id
    std::vector<float> vectors;   // position × dim
    std::vector<int8_t> codes;    // position × stride
    std::vector<float> scales;    // position → code scale
    std::unordered_map<int64_t, size_t> positions; // id → position
    std::atomic<uint64_t> generation{0};

    // Content built outside the lock and swapped in (rebuild, load).
    struct Content {
        std::vector<int64_t> ids;
        std::vector<float> vectors;
        std::vector<int8_t> codes;
        std::vector<float> scales;
        std::unordered_map<int64_t, size_t> positions;
    };

    void checkVectors(std::span<const int64_t> newIds, std::span<const float> newVectors) const
    {
        if (newVectors.size() != newIds.size() * dim)
            throw std::invalid_argument("vector store: " + std::to_string(newIds.size()) + " ids need "
                                        + std::to_string(newIds.size() * dim) + " floats (dimension "
                                        + std::to_string(dim) + "), got " + std::to_string(newVectors.size()));
        checkFinite(newVectors, "vector store: a vector");
    }

    void checkQueries(std::span<const float> queries) const
    {
        if (queries.empty() || queries.size() % dim != 0)
            throw std::invalid_argument("vector store: a query must have " + std::to_string(dim)
                                        + " values (the store's dimension), got " + std::to_string(queries.size()));
        checkFinite(queries, "vector store: the query");
    }

    // Codes of n vectors, in parallel when the batch is large (bulk rebuilds).
    void quantizeAll(const float *src, size_t n, int8_t *codesOut, float *scalesOut) const
    {
        const int nt = n >= 4096 ? threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int64_t i = 0; i < int64_t(n); ++i)
            scalesOut[i] = detail::quantize(src + size_t(i) * dim, dim, stride, codesOut + size_t(i) * stride);
    }

    // Takes the arrays by value: load() moves the file's arrays in, so a 1 GB store is
    // not copied once more.
    Content buildContent(std::vector<int64_t> newIds, std::vector<float> newVectors,
                         bool duplicatesAreCorrupt) const
    {
        Content c;
        const size_t n = newIds.size();
        std::unordered_map<int64_t, size_t> last; // id → index of its last occurrence
        last.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            auto [it, inserted] = last.try_emplace(newIds[i], i);
            if (!inserted) {
                if (duplicatesAreCorrupt)
                    throw detail::FileError(StoreStatus::Corrupt,
                                            "the file lists id " + std::to_string(newIds[i]) + " twice");
                it->second = i;
            }
        }
        if (last.size() == n) {
            c.ids = std::move(newIds);
            c.vectors = std::move(newVectors);
            c.positions = std::move(last);
        } else { // duplicates: the last occurrence wins, as in add()
            c.positions.reserve(last.size());
            c.ids.reserve(detail::withHeadroom(last.size()));
            c.vectors.reserve(detail::withHeadroom(last.size()) * dim);
            for (size_t i = 0; i < n; ++i) {
                if (!c.positions.try_emplace(newIds[i], c.ids.size()).second)
                    continue;
                const float *src = newVectors.data() + last[newIds[i]] * dim;
                c.ids.push_back(newIds[i]);
                c.vectors.insert(c.vectors.end(), src, src + dim);
            }
        }
        const size_t capacity = detail::withHeadroom(c.ids.size());
        c.ids.reserve(capacity);
        c.vectors.reserve(capacity * dim); // no-op for the callers, which reserved already
        c.codes.reserve(capacity * stride);
        c.codes.resize(c.ids.size() * stride);
        c.scales.reserve(capacity);
        c.scales.resize(c.ids.size());
        quantizeAll(c.vectors.data(), c.ids.size(), c.codes.data(), c.scales.data());
        return c;
    }

    void install(Content &&c)
    {
        auto lock = writeLock();
        ids = std::move(c.ids);
        vectors = std::move(c.vectors);
        codes = std::move(c.codes);
        scales = std::move(c.scales);
        positions = std::move(c.positions);
    }

    // Threads and block size for scanning n items: one thread below
    // parallelMinItems (waking the pool costs more than it saves), else blocks of at
    // least half that size, about 16 per thread.
    std::pair<int, size_t> scanPlan(size_t n, int maxThreads) const
    {
        const size_t minItems = std::max<size_t>(params.parallelMinItems, 2);
        if (maxThreads <= 1 || n < minItems)
            return {1, n};
        const int nThreads = int(std::min<size_t>(size_t(maxThreads), n / (minItems / 2)));
        return {nThreads, std::max(minItems / 2, n / (size_t(nThreads) * 16) + 1)};
    }

    std::vector<Hit> finish(std::vector<Hit> hits, size_t k) const
    {
        k = std::min(k, hits.size());
        std::partial_sort(hits.begin(), hits.begin() + ptrdiff_t(k), hits.end(), better);
        hits.resize(k);
        return hits;
    }

    // A short id list: score exactly those ids, no scan.
    std::vector<Hit> searchSubset(const float *q, size_t k, std::span<const int64_t> subset) const
    {
        std::vector<Hit> hits;
        hits.reserve(subset.size());
        for (int64_t id : subset) {
            const auto it = positions.find(id);
            if (it != positions.end())
                hits.push_back({id, faiss::fvec_inner_product(q, vectors.data() + it->second * dim, dim)});
        }
        return finish(std::move(hits), k);
    }

    std::vector<Hit> searchExact(const float *q, size_t k, const IdFilter::Impl *filter, int maxThreads) const
    {
        const size_t n = ids.size();
        const auto [nThreads, blockItems] = scanPlan(n, maxThreads);
        std::vector<std::vector<Hit>> partial(static_cast<size_t>(nThreads));
        forBlocks(n, nThreads, blockItems, [&](int t, size_t begin, size_t end) {
            std::vector<float> dist(k);
            std::vector<int64_t> labels(k);
            faiss::float_minheap_array_t heap{1, k, labels.data(), dist.data()};
            ChunkSelector sel;
            sel.ids = ids.data() + begin;
            sel.filter = filter;
            // nx = 1 keeps FAISS on its sequential kernel (no BLAS, no nested team).
            faiss::knn_inner_product(q, vectors.data() + begin * dim, dim, 1, end - begin, &heap,
                                     filter ? &sel : nullptr);
            if (sel.error)
                std::rethrow_exception(sel.error);
            auto &out = partial[size_t(t)];
            for (size_t j = 0; j < k; ++j)
                if (labels[j] >= 0)
                    out.push_back({ids[begin + size_t(labels[j])], dist[j]});
            if (out.size() > 4 * k) // keep the merge small
                out = finish(std::move(out), k);
        });
        std::vector<Hit> hits;
        for (auto &p : partial)
            hits.insert(hits.end(), p.begin(), p.end());
        return finish(std::move(hits), k);
    }

    std::vector<Hit> searchApprox(const float *q, size_t k, const IdFilter::Impl *filter, int maxThreads) const
    {
        const size_t n = ids.size();
        const size_t candidates = std::min(n, std::max({k, k * params.rerankFactor, params.rerankMin}));
        std::vector<int16_t> qcode(stride);
        detail::quantizeQuery(q, dim, stride, qcode.data());

        const auto [nThreads, blockItems] = scanPlan(n, maxThreads);
        std::vector<TopList> tops(static_cast<size_t>(nThreads), TopList(candidates));
        forBlocks(n, nThreads, blockItems, [&](int t, size_t begin, size_t end) {
            constexpr size_t kBatch = 1024; // scores of one batch stay in L1
            float scores[kBatch];
            TopList &top = tops[size_t(t)];
            for (size_t b = begin; b < end; b += kBatch) {
                const size_t m = std::min(kBatch, end - b);
                detail::scoreCodes(codes.data() + b * stride, scales.data() + b, m, stride, qcode.data(), scores);
                for (size_t i = 0; i < m; ++i) {
                    // The filter is asked only for items good enough to keep, which is
                    // a small fraction once the list has filled up.
                    if (top.wants(scores[i]) && (!filter || filter->accepts(ids[b + i])))
                        top.push(scores[i], b + i);
                }
            }
        });

        // Re-score every candidate in float32: the returned scores are exact and the
        // final order does not depend on quantisation.
        std::vector<Hit> hits;
        for (const auto &top : tops)
            for (const auto &[approx, pos] : top.items())
                hits.push_back({ids[pos], faiss::fvec_inner_product(q, vectors.data() + pos * dim, dim)});
        return finish(std::move(hits), k);
    }

    std::vector<Hit> searchLocked(const float *q, size_t k, const IdFilter::Impl *filter, int maxThreads) const
    {
        const size_t n = ids.size();
        k = std::min(k, n);
        if (k == 0)
            return {};
        if (filter && filter->isList()) {
            // Scoring a listed id costs a hash lookup and a random read of its vector:
            // ~0.6 µs at 256-d, against ~15 ns per item for the int8 scan and ~190 ns
            // for the float scan (measured). Take the direct path only when it is the
            // cheaper one.
            const size_t m = filter->sorted.size();
            const size_t costRatio = n > params.exactLimit ? 40 : 3;
            if (m <= params.subsetExactLimit && m * costRatio <= n)
                return searchSubset(q, k, filter->sorted);
        }
        if (n <= params.exactLimit)
            return searchExact(q, k, filter, maxThreads);
        return searchApprox(q, k, filter, maxThreads);
    }

    std::vector<std::vector<Hit>> searchBatch(std::span<const float> queries, size_t k,
                                              const IdFilter::Impl *filter) const
    {
        checkQueries(queries);
        const size_t nq = queries.size() / dim;
        std::vector<std::vector<Hit>> out(nq);
        auto lock = readLock();
        // Parallel over queries, each query on one thread: no per-query team, and no
        // BLAS (OpenBLAS' own threads fight OpenMP's on a 2-core machine).
        const int nt = nq > 1 ? std::min<int>(threads, int(nq)) : 1;
        std::exception_ptr error;
        std::atomic<bool> failed{false};
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
        for (int64_t i = 0; i < int64_t(nq); ++i) {
            try {
                out[size_t(i)] = searchLocked(queries.data() + size_t(i) * dim, k, filter, nq > 1 ? 1 : queryThreads);
            } catch (...) {
                if (!failed.exchange(true))
                    error = std::current_exception();
            }
        }
        if (error)
            std::rethrow_exception(error);
        return out;
    }
};

VectorStore::VectorStore() : VectorStore(Params{}) {}

VectorStore::VectorStore(Params params) : m_impl(std::make_unique<Impl>())
{
    if (params.dim <= 0)
        throw std::invalid_argument("vector store: the dimension must be positive, got " + std::to_string(params.dim));
    m_impl->params = params;
    m_impl->dim = size_t(params.dim);
    m_impl->stride = codeStride(m_impl->dim);
    m_impl->threads = params.threads > 0 ? params.threads : std::clamp(omp_get_max_threads(), 1, 4);
    m_impl->queryThreads = std::max(params.queryThreads, 1);
}

VectorStore::~VectorStore() = default;

const VectorStore::Params &VectorStore::params() const
{
    return m_impl->params;
}

int VectorStore::dim() const
{
    return m_impl->params.dim;
}

size_t VectorStore::size() const
{
    auto lock = m_impl->readLock();
    return m_impl->ids.size();
}

bool VectorStore::contains(int64_t id) const
{
    auto lock = m_impl->readLock();
    return m_impl->positions.count(id) != 0;
}

IndexKind VectorStore::kind() const
{
    return size() > m_impl->params.exactLimit ? IndexKind::Approximate : IndexKind::Exact;
}

uint64_t VectorStore::generation() const
{
    return m_impl->generation.load();
}

size_t VectorStore::memoryBytes() const
{
    auto lock = m_impl->readLock();
    const auto &d = *m_impl;
    // unordered_map: one node (key, value, next pointer, cached hash) per entry plus
    // the bucket array.
    const size_t mapBytes = d.positions.size() * (sizeof(int64_t) + sizeof(size_t) + 2 * sizeof(void *))
        + d.positions.bucket_count() * sizeof(void *);
    // Sizes, not capacities: reserved growth room is address space, not memory.
    return d.ids.size() * sizeof(int64_t) + d.vectors.size() * sizeof(float) + d.codes.size()
        + d.scales.size() * sizeof(float) + mapBytes;
}

void VectorStore::add(std::span<const int64_t> ids, std::span<const float> vectors)
{
    auto &d = *m_impl;
    d.checkVectors(ids, vectors);
    const size_t n = ids.size();
    // Quantise before taking the lock: searches keep running meanwhile.
    std::vector<int8_t> newCodes(n * d.stride);
    std::vector<float> newScales(n);
    d.quantizeAll(vectors.data(), n, newCodes.data(), newScales.data());

    auto lock = d.writeLock();
    for (size_t i = 0; i < n; ++i) {
        const float *src = vectors.data() + i * d.dim;
        const int8_t *code = newCodes.data() + i * d.stride;
        auto [it, inserted] = d.positions.try_emplace(ids[i], d.ids.size());
        if (inserted) {
            d.ids.push_back(ids[i]);
            d.vectors.insert(d.vectors.end(), src, src + d.dim);
            d.codes.insert(d.codes.end(), code, code + d.stride);
            d.scales.push_back(newScales[i]);
        } else { // replace in place
            const size_t pos = it->second;
            std::copy(src, src + d.dim, d.vectors.begin() + ptrdiff_t(pos * d.dim));
            std::copy(code, code + d.stride, d.codes.begin() + ptrdiff_t(pos * d.stride));
            d.scales[pos] = newScales[i];
        }
    }
}

size_t VectorStore::remove(std::span<const int64_t> ids)
{
    auto &d = *m_impl;
    auto lock = d.writeLock();
    size_t removed = 0;
    for (int64_t id : ids) {
        const auto it = d.positions.find(id);
        if (it == d.positions.end())
            continue;
        // Move the last item into the hole: O(dim), and positions stay dense so the
        // scans need no tombstone checks.
        const size_t pos = it->second;
        const size_t last = d.ids.size() - 1;
        d.positions.erase(it);
        if (pos != last) {
            d.ids[pos] = d.ids[last];
            std::copy_n(d.vectors.begin() + ptrdiff_t(last * d.dim), d.dim, d.vectors.begin() + ptrdiff_t(pos * d.dim));
            std::copy_n(d.codes.begin() + ptrdiff_t(last * d.stride), d.stride, d.codes.begin() + ptrdiff_t(pos * d.stride));
            d.scales[pos] = d.scales[last];
            d.positions[d.ids[pos]] = pos;
        }
        d.ids.pop_back();
        d.vectors.resize(last * d.dim);
        d.codes.resize(last * d.stride);
        d.scales.pop_back();
        ++removed;
    }
    return removed;
}

void VectorStore::rebuild(std::span<const int64_t> ids, std::span<const float> vectors)
{
    auto &d = *m_impl;
    d.checkVectors(ids, vectors);
    std::vector<int64_t> newIds;
    newIds.reserve(detail::withHeadroom(ids.size()));
    newIds.assign(ids.begin(), ids.end());
    std::vector<float> newVectors;
    newVectors.reserve(detail::withHeadroom(ids.size()) * d.dim);
    newVectors.assign(vectors.begin(), vectors.end());
    d.install(d.buildContent(std::move(newIds), std::move(newVectors), false));
}

void VectorStore::clear()
{
    m_impl->install({});
}

std::optional<std::vector<float>> VectorStore::vector(int64_t id) const
{
    const auto &d = *m_impl;
    auto lock = d.readLock();
    const auto it = d.positions.find(id);
    if (it == d.positions.end())
        return std::nullopt;
    const auto first = d.vectors.begin() + ptrdiff_t(it->second * d.dim);
    return std::vector<float>(first, first + ptrdiff_t(d.dim));
}

std::vector<int64_t> VectorStore::ids() const
{
    auto lock = m_impl->readLock();
    return m_impl->ids;
}

namespace {
// One query, optionally restricted by a filter (null: none), under the read lock.
template <typename Store, typename Filter>
std::vector<Hit> searchOne(const Store &d, std::span<const float> query, size_t k, const Filter *filter)
{
    d.checkQueries(query);
    if (query.size() != d.dim)
        throw std::invalid_argument("vector store: search takes one query of " + std::to_string(d.dim)
                                    + " values, got " + std::to_string(query.size()));
    auto lock = d.readLock();
    return d.searchLocked(query.data(), k, filter, d.queryThreads);
}
} // namespace

std::vector<Hit> VectorStore::search(std::span<const float> query, size_t k) const
{
    return searchOne(*m_impl, query, k, static_cast<const IdFilter::Impl *>(nullptr));
}

std::vector<Hit> VectorStore::search(std::span<const float> query, size_t k, const IdFilter &filter) const
{
    return searchOne(*m_impl, query, k, filter.m_impl.get());
}

std::vector<std::vector<Hit>> VectorStore::searchBatch(std::span<const float> queries, size_t k) const
{
    return m_impl->searchBatch(queries, k, nullptr);
}

std::vector<std::vector<Hit>> VectorStore::searchBatch(std::span<const float> queries, size_t k,
                                                       const IdFilter &filter) const
{
    return m_impl->searchBatch(queries, k, filter.m_impl.get());
}

namespace {
// Runs one file operation of the store and turns its exceptions into a StoreResult:
// a FileError keeps its status; anything else is an I/O error naming the file.
template <typename Operation>
StoreResult fileOperation(const char *verb, const std::filesystem::path &path, Operation &&operation)
{
    try {
        operation();
        return {};
    } catch (const detail::FileError &e) {
        return {e.status(), e.what()};
    } catch (const std::bad_alloc &) {
        return {StoreStatus::IoError, std::string("not enough memory to ") + verb + " " + path.string()};
    } catch (const std::exception &e) {
        return {StoreStatus::IoError, std::string("cannot ") + verb + " " + path.string() + ": " + e.what()};
    }
}
} // namespace

StoreResult VectorStore::save(const std::filesystem::path &path, uint64_t generation)
{
    auto &d = *m_impl;
    return fileOperation("save", path, [&] {
        // A reader: searches continue while the file is written; writers wait.
        auto lock = d.readLock();
        detail::writeStoreFile(path, uint32_t(d.dim), generation, d.ids, d.vectors);
        d.generation = generation;
    });
}

StoreResult VectorStore::load(const std::filesystem::path &path, uint64_t expectedGeneration)
{
    auto &d = *m_impl;
    return fileOperation("load", path, [&] {
        detail::StoreFileContents file = detail::readStoreFile(path, uint32_t(d.dim), expectedGeneration);
        for (float v : file.vectors)
            if (!std::isfinite(v))
                throw detail::FileError(StoreStatus::Corrupt, path.string() + " holds a non-finite value");
        d.install(d.buildContent(std::move(file.ids), std::move(file.vectors), true));
        d.generation = expectedGeneration;
    });
}

} // namespace unisearch::index
