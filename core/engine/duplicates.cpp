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

double dot(const std::vector<float> &a, const std::vector<float> &b)
{
    double s = 0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        s += double(a[i]) * double(b[i]);
    return s;
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
        if (info.type == catalog::ItemType::Image || info.isVideoLevel())
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
    std::unordered_map<std::int64_t, std::size_t> byVector;
    std::vector<std::int64_t> vectorIds;
    for (std::size_t i = 0; i < candidates.size(); ++i)
        if (candidates[i].vectorId != 0 && store.contains(candidates[i].vectorId)) {
            byVector.emplace(candidates[i].vectorId, i);
            vectorIds.push_back(candidates[i].vectorId);
        }
    // Only the candidates' vectors (not a video's moments), when the store holds others.
    const std::optional<index::IdFilter> filter =
        vectorIds.size() < store.size() ? std::optional(index::IdFilter::allowIds(vectorIds)) : std::nullopt;
    const std::size_t k = std::size_t(std::clamp(params.neighbours, 1, 64)) + 1;  // + the item itself
    const std::size_t batch = std::size_t(std::clamp(params.batch, 1, 65536));
    const std::size_t dim = std::size_t(store.dim());
    std::vector<DuplicateLink> links;
    std::vector<float> queries;
    for (std::size_t begin = 0; begin < vectorIds.size(); begin += batch) {
        const std::size_t end = std::min(vectorIds.size(), begin + batch);
        queries.clear();
        queries.reserve((end - begin) * dim);
        for (std::size_t q = begin; q < end; ++q) {
            const auto v = store.vector(vectorIds[q]);
            queries.insert(queries.end(), v->begin(), v->end());
        }
        const auto hits = filter ? store.searchBatch(queries, k, *filter) : store.searchBatch(queries, k);
        for (std::size_t q = begin; q < end; ++q)
            for (const index::Hit &hit : hits[q - begin]) {
                const auto other = byVector.find(hit.id);
                if (hit.id == vectorIds[q] || other == byVector.end() || hit.score < params.threshold)
                    continue;
                const std::size_t self = byVector.at(vectorIds[q]);
                if (self < other->second)  // each pair once; the other side finds it too (or not)
                    links.push_back({self, other->second, hit.score});
                else
                    links.push_back({other->second, self, hit.score});
            }
        if (progress && !progress({std::int64_t(end), std::int64_t(vectorIds.size())}))
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
