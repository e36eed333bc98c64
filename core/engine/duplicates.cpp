#include "engine/duplicates.h"

#include "catalog/reader.h"
#include "engine/lock.h"
#include "engine/search.h"
#include "engine/vectorindex.h"
#include "index/vectorstore.h"
#include "util/error.h"

#include <QDir>
#include <QHash>

#include <algorithm>
#include <numeric>
#include <cmath>
#include <random>
#include <unordered_map>

namespace unisearch::engine {

namespace {

// Union-find with path halving; small enough that a library's own copy beats a dependency.
struct DisjointSets {
    std::vector<std::size_t> parent;
    explicit DisjointSets(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), std::size_t(0)); }
    std::size_t find(std::size_t x)
    {
        while (parent[x] != x)
            x = parent[x] = parent[parent[x]];
        return x;
    }
    void join(std::size_t a, std::size_t b)
    {
        a = find(a);
        b = find(b);
        if (a != b)
            parent[std::max(a, b)] = std::min(a, b);
    }
};

// Eight running sums, so that the compiler can use vector registers without -ffast-math.
double dot(const float *a, const float *b, std::size_t n)
{
    float acc[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (std::size_t k = 0; k < 8; ++k)
            acc[k] += a[i + k] * b[i + k];
    double sum = 0;
    for (float x : acc)
        sum += x;
    for (; i < n; ++i)
        sum += double(a[i]) * b[i];
    return sum;
}

double dot(const std::vector<float> &a, const std::vector<float> &b)
{
    return dot(a.data(), b.data(), std::min(a.size(), b.size()));
}

// The candidates' vectors, row by row, and whose each row is.
struct Vectors {
    std::size_t dim = 0;
    std::vector<float> data;
    std::vector<std::size_t> owner;  // candidate index of each row
    std::size_t count() const { return owner.size(); }
    const float *row(std::size_t r) const { return data.data() + r * dim; }
};

Vectors gatherVectors(const index::VectorStore &store, std::span<const DuplicateCandidate> candidates)
{
    Vectors v;
    v.dim = std::size_t(store.dim());
    for (std::size_t i = 0; i < candidates.size(); ++i)
        if (candidates[i].vectorId != 0)
            if (const auto x = store.vector(candidates[i].vectorId); x && x->size() == v.dim) {
                v.data.insert(v.data.end(), x->begin(), x->end());
                v.owner.push_back(i);
            }
    return v;
}

// Per row, one code of `bits` signs per table: the signs of the mean-centred vector
// against random hyperplanes (a fixed seed: the same library gives the same groups).
// Centring matters for image features, which share a common direction: without it most
// signs would be the same for every picture and the buckets would be few and large.
std::vector<std::uint16_t> hashCodes(const Vectors &v, int tables, int bits)
{
    const std::size_t planes = std::size_t(tables) * std::size_t(bits);
    std::vector<float> hyper(planes * v.dim);
    // Gaussian hyperplanes by Box-Muller over mt19937's raw output, whose sequence the C++
    // standard fixes: std::normal_distribution's is not, and another standard library would
    // give other planes, so other buckets and, near the threshold, other groups.
    std::mt19937 rng(20240216);
    const auto uniform = [&rng] { return (double(rng()) + 0.5) / 4294967296.0; };  // in (0, 1)
    for (std::size_t i = 0; i < hyper.size(); i += 2) {
        const double radius = std::sqrt(-2.0 * std::log(uniform()));
        const double angle = 6.283185307179586 * uniform();
        hyper[i] = float(radius * std::cos(angle));
        if (i + 1 < hyper.size())
            hyper[i + 1] = float(radius * std::sin(angle));
    }
    std::vector<double> mean(v.dim, 0.0);
    for (std::size_t r = 0; r < v.count(); ++r)
        for (std::size_t j = 0; j < v.dim; ++j)
            mean[j] += v.row(r)[j];
    std::vector<float> centred(v.dim);
    std::vector<std::uint16_t> codes(v.count() * std::size_t(tables), 0);
    for (std::size_t r = 0; r < v.count(); ++r) {
        for (std::size_t j = 0; j < v.dim; ++j)
            centred[j] = float(v.row(r)[j] - mean[j] / double(v.count()));
        for (std::size_t p = 0; p < planes; ++p)
            if (dot(centred.data(), hyper.data() + p * v.dim, v.dim) > 0)
                codes[r * std::size_t(tables) + p / std::size_t(bits)] |= std::uint16_t(1u << (p % std::size_t(bits)));
    }
    return codes;
}

// The library's items that can be duplicates (not missing), each with the store id of its
// vector: an image's one segment, a video's video-level segment (0, 0).
struct Library {
    QList<catalog::Item> items;
    std::vector<DuplicateCandidate> candidates;
};

Library readLibrary(const QString &dataDir, const index::VectorStore &store)
{
    catalog::Reader reader(dataDir);
    Library lib;
    // Every path is absolute, so every item lies below the root.
    for (catalog::Item &item : reader.itemsUnder(QDir::rootPath()))
        if (item.status != catalog::ItemStatus::Missing)
            lib.items.append(std::move(item));
    const std::vector<std::int64_t> ids = store.ids();
    std::unordered_map<std::int64_t, std::int64_t> vectorOfItem;
    for (const auto &[segmentId, info] : reader.segments(ids))
        // The item's own vector is its (0, 0) segment: a photo's one vector, a video's
        // video-level one. A live photo's moments (its video's segments) are not the photo.
        if (info.startMs == 0 && info.endMs == 0)
            vectorOfItem[info.itemId] = segmentId;
    lib.candidates.reserve(std::size_t(lib.items.size()));
    for (const catalog::Item &item : std::as_const(lib.items)) {
        const auto v = vectorOfItem.find(item.id);
        lib.candidates.push_back({item.id, v == vectorOfItem.end() ? 0 : v->second, item.contentHash, item.size});
    }
    return lib;
}

// The one to keep first: an item with a vector, then the most pixels, the most bytes, the oldest id.
bool keepsBefore(const catalog::Item &a, bool aVector, const catalog::Item &b, bool bVector)
{
    if (aVector != bVector)
        return aVector;
    const qint64 pa = qint64(a.width) * a.height, pb = qint64(b.width) * b.height;
    if (pa != pb)
        return pa > pb;
    if (a.size != b.size)
        return a.size > b.size;
    return a.id < b.id;
}

DuplicateGroup makeGroup(const Library &lib, const index::VectorStore &store, std::vector<std::size_t> members)
{
    auto hasVector = [&](std::size_t i) { return lib.candidates[i].vectorId != 0; };
    std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
        return keepsBefore(lib.items[qsizetype(a)], hasVector(a), lib.items[qsizetype(b)], hasVector(b));
    });
    const DuplicateCandidate &first = lib.candidates[members.front()];
    const auto firstVector = first.vectorId ? store.vector(first.vectorId) : std::nullopt;
    DuplicateGroup group;
    for (std::size_t m : members) {
        const catalog::Item &item = lib.items[qsizetype(m)];
        const DuplicateCandidate &c = lib.candidates[m];
        DuplicateItem out{item.id, item.path, item.type, item.size, item.width, item.height, 1.0, false};
        out.sameBytes = !c.contentHash.isEmpty() && c.contentHash == first.contentHash && c.size == first.size;
        if (!out.sameBytes && firstVector && c.vectorId)
            if (const auto v = store.vector(c.vectorId))
                out.similarity = std::clamp(dot(*firstVector, *v), -1.0, 1.0);
        group.items.append(out);
    }
    std::stable_sort(group.items.begin() + 1, group.items.end(), [](const DuplicateItem &a, const DuplicateItem &b) {
        return a.similarity > b.similarity;
    });
    return group;
}

// The bytes a group frees when all but its first item go.
std::int64_t spareBytes(const DuplicateGroup &g)
{
    std::int64_t sum = 0;
    for (qsizetype i = 1; i < g.items.size(); ++i)
        sum += g.items[i].size;
    return sum;
}

} // namespace

std::vector<DuplicateLink> byteCopyLinks(std::span<const DuplicateCandidate> candidates)
{
    std::vector<DuplicateLink> links;
    QHash<QString, std::size_t> firstOf;  // hash + size → first candidate with them
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (candidates[i].contentHash.isEmpty())
            continue;
        const QString key = candidates[i].contentHash + QLatin1Char(':') + QString::number(candidates[i].size);
        const auto it = firstOf.constFind(key);
        if (it == firstOf.constEnd())
            firstOf.insert(key, i);
        else
            links.push_back({*it, i, 1.0});
    }
    return links;
}

std::optional<std::vector<DuplicateLink>> nearCopyLinks(const index::VectorStore &store,
                                                        std::span<const DuplicateCandidate> candidates,
                                                        const DuplicateParams &params,
                                                        const DuplicateProgressFn &progress)
{
    const Vectors v = gatherVectors(store, candidates);
    const int tables = std::clamp(params.tables, 1, 64);
    const int bits = std::clamp(params.bits, 4, 16);
    const std::int64_t total = std::int64_t(v.count()) + tables;
    std::vector<std::uint16_t> codes = hashCodes(v, tables, bits);
    if (progress && !progress({std::int64_t(v.count()), total}))
        return std::nullopt;
    DisjointSets sets(candidates.size());
    std::vector<DuplicateLink> links;
    std::vector<std::pair<std::uint16_t, std::uint32_t>> order(v.count());
    for (int t = 0; t < tables; ++t) {
        for (std::size_t i = 0; i < v.count(); ++i)
            order[i] = {codes[i * std::size_t(tables) + std::size_t(t)], std::uint32_t(i)};
        std::sort(order.begin(), order.end());
        // Every pair inside a bucket, unless already joined through others.
        for (std::size_t begin = 0, end = 0; begin < order.size(); begin = end) {
            while (end < order.size() && order[end].first == order[begin].first)
                ++end;
            for (std::size_t x = begin; x < end; ++x)
                for (std::size_t y = x + 1; y < end; ++y) {
                    const std::size_t a = v.owner[order[x].second], b = v.owner[order[y].second];
                    if (sets.find(a) == sets.find(b))
                        continue;
                    const double c = dot(v.row(order[x].second), v.row(order[y].second), v.dim);
                    if (c >= params.threshold) {
                        sets.join(a, b);
                        links.push_back({std::min(a, b), std::max(a, b), c});
                    }
                }
        }
        if (progress && !progress({std::int64_t(v.count()) + t + 1, total}))
            return std::nullopt;
    }
    return links;
}

std::vector<std::vector<std::size_t>> joinLinks(std::size_t count, std::span<const DuplicateLink> links)
{
    DisjointSets sets(count);
    for (const DuplicateLink &l : links)
        sets.join(l.a, l.b);
    std::unordered_map<std::size_t, std::vector<std::size_t>> byRoot;  // only linked candidates
    for (const DuplicateLink &l : links)
        byRoot[sets.find(l.a)];
    for (std::size_t i = 0; i < count; ++i)
        if (const auto it = byRoot.find(sets.find(i)); it != byRoot.end())
            it->second.push_back(i);
    std::vector<std::vector<std::size_t>> groups;
    for (auto &[root, members] : byRoot)
        if (members.size() > 1)
            groups.push_back(std::move(members));
    std::sort(groups.begin(), groups.end());
    return groups;
}

std::optional<QList<DuplicateGroup>> findDuplicates(const SearchSessionPlan &plan, catalog::Catalog *catalog,
                                                    const DuplicateParams &params,
                                                    const DuplicateProgressFn &progress, QString *error)
{
    if (!(params.threshold > 0 && params.threshold <= 1))
        return util::fail(error, QStringLiteral("the similarity threshold must be above 0 and at most 1, not %1")
                                     .arg(params.threshold));
    std::unique_ptr<catalog::Catalog> own;
    if (!catalog) {
        catalog::OpenResult opened = catalog::Catalog::open(plan.dataDir);
        if (!opened)
            return util::fail(error, opened.error);
        own = std::move(opened.catalog);
        catalog = own.get();
    }
    try {
        const int dim = plan.model.architecture.value(QStringLiteral("embed_dim")).toInt(256);
        VectorIndex vectors(*catalog, plan.dataDir, plan.vectorKey, dim);
        IndexLock lock(plan.dataDir);  // write a rebuilt store back only when nobody indexes
        const VectorIndexReport report = vectors.open(lock.tryLock());
        lock.unlock();
        if (!report.ok)
            return util::fail(error, report.error);
        const index::VectorStore &store = vectors.store();
        const Library lib = readLibrary(plan.dataDir, store);
        std::vector<DuplicateLink> links = byteCopyLinks(lib.candidates);
        if (params.nearCopies) {
            auto near = nearCopyLinks(store, lib.candidates, params, progress);
            if (!near)
                return util::fail(error, QStringLiteral("the search for duplicates was cancelled"));
            links.insert(links.end(), near->begin(), near->end());
        }
        QList<DuplicateGroup> groups;
        for (std::vector<std::size_t> &members : joinLinks(lib.candidates.size(), links))
            groups.append(makeGroup(lib, store, std::move(members)));
        std::stable_sort(groups.begin(), groups.end(), [](const DuplicateGroup &a, const DuplicateGroup &b) {
            return spareBytes(a) > spareBytes(b);
        });
        return groups;
    } catch (const catalog::CatalogError &e) {
        return util::fail(error, QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    } catch (const std::exception &e) {
        return util::fail(error, QStringLiteral("finding duplicates: %1").arg(QString::fromUtf8(e.what())));
    }
}

} // namespace unisearch::engine
