#pragma once
// Duplicates: byte-identical files and near-identical photos and videos of the library.
//
//   byte copies   items with the same content hash (computed at indexing) and the same size;
//   near copies   items whose stored vectors of the active search model have a cosine at
//                 or above a threshold (resized, recompressed, lightly edited copies).
//
// Near copies: all pairs would be 5·10⁹ cosines over 100,000 items, and even one store
// search per item (the store's batch search, measured first) took 21 s at 10,000 items and
// grows with the square. So candidate pairs come from sign-random-projection hashing
// (Charikar 2002; `tables` tables of `bits` hyperplanes over the mean-centred vectors):
// two vectors at cosine c share a table's bucket with probability (1 − acos(c)/π)^bits,
// and any of the tables finds them. Every candidate pair is then checked exactly. With
// 32 tables of 12 bits a pair whose centred vectors have a cosine of 0.95 is missed with
// probability < 10⁻⁴, at 0.91 about 0.2 % (centring lowers the cosine of features that
// share a common direction: docs/performance.md has the cost and the recall measured).
// Pairs are joined into groups (union-find):
// A~B and B~C put A, B and C in one group even when A and C stay below the threshold.
// A video takes part with its video-level vector (the segment (0, 0)), never its moments.
//
// Items marked missing (gone at the last scan) take no part. Files moved to the trash are
// dropped from the library by the next scan; DuplicatesDialog also rescans at once.
#include "catalog/catalog.h"

#include <QList>
#include <QString>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace unisearch::index {
class VectorStore;
}

namespace unisearch::engine {

struct SearchSessionPlan;

struct DuplicateParams {
    // Cosine at or above which two items are near copies. Measured on the fixture model
    // (docs/performance.md): resized and recompressed copies ≥ 0.992, lightly edited
    // ≥ 0.96, distinct pictures ≤ 0.93 (but two random black-and-white textures 0.993).
    static constexpr double defaultThreshold = 0.95;
    double threshold = defaultThreshold;  // 0 < threshold <= 1
    int tables = 32;                      // hash tables (1..64): more find more, cost more
    int bits = 12;                        // hyperplanes per table (4..16): fewer cost more
    bool nearCopies = true;               // false: byte-identical files only
};

struct DuplicateItem {
    std::int64_t itemId = 0;
    QString path;
    catalog::ItemType type = catalog::ItemType::Image;
    std::int64_t size = 0;
    int width = 0;
    int height = 0;
    double similarity = 1.0;  // cosine with the group's first item (1.0: the same bytes)
    bool sameBytes = false;   // byte-identical to the group's first item
};

struct DuplicateGroup {
    QList<DuplicateItem> items;  // the first is the one to keep: the largest picture
};

struct DuplicateProgress {
    std::int64_t done = 0;   // steps done (items hashed, then tables searched)
    std::int64_t total = 0;
};
// Returns false to cancel.
using DuplicateProgressFn = std::function<bool(const DuplicateProgress &)>;

// --- The parts, over plain values (unisearch-bench drives them without a catalog) ---

// One candidate: an item and the store id of its vector (0: none).
struct DuplicateCandidate {
    std::int64_t itemId = 0;
    std::int64_t vectorId = 0;
    QString contentHash;
    std::int64_t size = 0;
};

// A pair of candidates (indices into the candidate list) and its cosine.
struct DuplicateLink {
    std::size_t a = 0;
    std::size_t b = 0;
    double similarity = 1.0;
};

// Pairs of candidates with the same content hash and size (each to the first of its kind).
std::vector<DuplicateLink> byteCopyLinks(std::span<const DuplicateCandidate> candidates);
// Pairs whose vectors in store have a cosine >= params.threshold (see above), enough of
// them to join every group: a pair already joined through others is not returned again.
// nullopt when cancelled.
std::optional<std::vector<DuplicateLink>> nearCopyLinks(const index::VectorStore &store,
                                                        std::span<const DuplicateCandidate> candidates,
                                                        const DuplicateParams &params,
                                                        const DuplicateProgressFn &progress = {});
// Joins the links into groups of candidate indices (union-find), each group of at least two.
std::vector<std::vector<std::size_t>> joinLinks(std::size_t count, std::span<const DuplicateLink> links);

// --- The whole search over a library ---

// Finds the duplicates of the library that plan names (the active search model's vectors,
// Engine::searchSessionPlan). catalog: a connection of the calling thread, or null to open
// one (a worker thread). The groups that free the most bytes come first. nullopt with
// *error on failure or when progress cancelled (*error then says so).
std::optional<QList<DuplicateGroup>> findDuplicates(const SearchSessionPlan &plan, catalog::Catalog *catalog,
                                                    const DuplicateParams &params = {},
                                                    const DuplicateProgressFn &progress = {},
                                                    QString *error = nullptr);

} // namespace unisearch::engine
