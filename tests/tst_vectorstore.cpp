// The vector store: add/replace/remove/search against a brute-force reference in both
// tiers, filters, the contract errors, save/load with every kind of bad file, and
// searches racing a writer. The approximate tier's recall@10 is measured on 100k random
// unit vectors (the requirement); speed is the benchmark's business.
#include "index/vectorstore.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <unordered_set>

using namespace unisearch::index;
namespace fs = std::filesystem;

namespace {

// n unit vectors of dimension d; each call with the same seed gives the same data.
std::vector<float> randomUnitVectors(size_t n, int d, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<float> v(n * size_t(d));
    for (size_t i = 0; i < n; ++i) {
        float *row = v.data() + i * size_t(d);
        double norm = 0;
        for (int j = 0; j < d; ++j) {
            row[j] = normal(rng);
            norm += double(row[j]) * row[j];
        }
        const float inv = float(1.0 / std::sqrt(norm));
        for (int j = 0; j < d; ++j)
            row[j] *= inv;
    }
    return v;
}

std::vector<int64_t> sequentialIds(size_t n, int64_t first = 1, int64_t step = 1)
{
    std::vector<int64_t> ids(n);
    for (size_t i = 0; i < n; ++i)
        ids[i] = first + int64_t(i) * step;
    return ids;
}

double dot(const float *a, const float *b, int d)
{
    double s = 0;
    for (int j = 0; j < d; ++j)
        s += double(a[j]) * b[j];
    return s;
}

// Brute force in double precision over (ids, vectors), best first, ties by id.
std::vector<Hit> reference(const float *query, const std::vector<int64_t> &ids, const std::vector<float> &vectors,
                           int d, size_t k, const std::function<bool(int64_t)> &accept = {})
{
    std::vector<std::pair<double, int64_t>> all;
    for (size_t i = 0; i < ids.size(); ++i)
        if (!accept || accept(ids[i]))
            all.emplace_back(dot(query, vectors.data() + i * size_t(d), d), ids[i]);
    k = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + ptrdiff_t(k), all.end(), [](const auto &a, const auto &b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    std::vector<Hit> out;
    for (size_t i = 0; i < k; ++i)
        out.push_back({all[i].second, float(all[i].first)});
    return out;
}

// Reference top-k lists for many queries, on two threads (the test machine has two
// cores). The vectors are transposed once so that scoring a query is a run of simple
// multiply-adds over all items, which the compiler vectorises without reordering any
// sum: the scores are the plain float sums, ~10× faster than dot() per item.
std::vector<std::vector<Hit>> referenceBatch(const std::vector<float> &queries, const std::vector<int64_t> &ids,
                                             const std::vector<float> &vectors, int d, size_t k,
                                             const std::function<bool(int64_t)> &accept = {})
{
    const size_t n = ids.size(), nq = queries.size() / size_t(d);
    std::vector<float> transposed(n * size_t(d));
    for (size_t i = 0; i < n; ++i)
        for (int j = 0; j < d; ++j)
            transposed[size_t(j) * n + i] = vectors[i * size_t(d) + size_t(j)];
    std::vector<std::vector<Hit>> out(nq);
    auto work = [&](size_t begin, size_t end) {
        std::vector<float> scores(n);
        std::vector<std::pair<float, int64_t>> all;
        for (size_t q = begin; q < end; ++q) {
            const float *query = queries.data() + q * size_t(d);
            std::fill(scores.begin(), scores.end(), 0.f);
            for (int j = 0; j < d; ++j) {
                const float qj = query[j];
                const float *column = transposed.data() + size_t(j) * n;
                for (size_t i = 0; i < n; ++i)
                    scores[i] += qj * column[i];
            }
            all.clear();
            for (size_t i = 0; i < n; ++i)
                if (!accept || accept(ids[i]))
                    all.emplace_back(scores[i], ids[i]);
            const size_t kk = std::min(k, all.size());
            std::partial_sort(all.begin(), all.begin() + ptrdiff_t(kk), all.end(), [](const auto &a, const auto &b) {
                return a.first > b.first || (a.first == b.first && a.second < b.second);
            });
            for (size_t i = 0; i < kk; ++i)
                out[q].push_back({all[i].second, all[i].first});
        }
    };
    std::thread other(work, 0, nq / 2);
    work(nq / 2, nq);
    other.join();
    return out;
}

std::vector<int64_t> idsOf(const std::vector<Hit> &hits)
{
    std::vector<int64_t> ids;
    for (const auto &h : hits)
        ids.push_back(h.id);
    return ids;
}

// |found ∩ expected| / |expected|, summed over queries.
double recall(const std::vector<std::vector<Hit>> &found, const std::vector<std::vector<Hit>> &expected)
{
    size_t hit = 0, total = 0;
    for (size_t q = 0; q < expected.size(); ++q) {
        std::unordered_set<int64_t> truth;
        for (const auto &h : expected[q])
            truth.insert(h.id);
        for (const auto &h : found[q])
            hit += truth.count(h.id);
        total += expected[q].size();
    }
    return total ? double(hit) / double(total) : 1.0;
}

bool sortedBestFirst(const std::vector<Hit> &hits)
{
    for (size_t i = 1; i < hits.size(); ++i)
        if (hits[i - 1].score < hits[i].score)
            return false;
    return true;
}

// Every hit's score is the exact inner product with its stored vector.
void verifyScores(const VectorStore &store, const float *query, const std::vector<Hit> &hits)
{
    for (const auto &h : hits) {
        const auto v = store.vector(h.id);
        QVERIFY2(v.has_value(), qPrintable(QString("hit %1 is not in the store").arg(h.id)));
        QVERIFY(std::fabs(dot(query, v->data(), store.dim()) - h.score) < 1e-5);
    }
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        qFatal("cannot read %s", qPrintable(path));
    return f.readAll();
}

// Saves a store of 100 random unit vectors of dimension d (ids 0..99, generated from seed) at path.
StoreResult saveRandomStore(const QString &path, int d, uint64_t seed)
{
    VectorStore store(VectorStore::Params{.dim = d});
    store.add(sequentialIds(100), randomUnitVectors(100, d, seed));
    return store.save(path.toStdString(), 1);
}

void writeAll(const QString &path, const QByteArray &data)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        qFatal("cannot write %s", qPrintable(path));
    f.write(data);
}

} // namespace

class TestVectorStore : public QObject
{
    Q_OBJECT

private slots:
    void emptyStore();
    void searchMatchesBruteForce();
    void kLargerThanSize();
    void replaceExistingId();
    void removeIds();
    void rebuildReplacesContent();
    void contractErrors();
    void filters();
    void extremeIdsAndParams();
    void searchBatchMatchesSingle();
    void saveLoadRoundTrip();
    void staleGeneration();
    void missingFile();
    void truncatedFiles();
    void corruptFiles();
    void dimensionMismatchFile();
    void saveIsAtomic();
    void concurrentSearchesWhileWriting();
    void approximateRecall();
    void approximateFilteredEqualsExact();
};

void TestVectorStore::emptyStore()
{
    VectorStore store(VectorStore::Params{.dim = 8});
    const std::vector<float> q(8, 0.5f);
    QCOMPARE(store.size(), size_t(0));
    QVERIFY(store.empty());
    QVERIFY(!store.contains(1));
    QCOMPARE(store.kind(), IndexKind::Exact);
    QVERIFY(store.search(q, 10).empty());
    QVERIFY(store.search(q, 10, IdFilter::allowIds(std::vector<int64_t>{1, 2})).empty());
    QCOMPARE(store.remove(std::vector<int64_t>{1}), size_t(0));
    QVERIFY(!store.vector(1).has_value());
}

void TestVectorStore::searchMatchesBruteForce()
{
    const int d = 64;
    const auto vectors = randomUnitVectors(3000, d, 1);
    const auto ids = sequentialIds(3000, 100, 7);
    VectorStore store(VectorStore::Params{.dim = d});
    store.add(ids, vectors);
    QCOMPARE(store.size(), size_t(3000));
    QCOMPARE(store.kind(), IndexKind::Exact);

    const auto queries = randomUnitVectors(20, d, 2);
    for (size_t q = 0; q < 20; ++q) {
        const float *query = queries.data() + q * d;
        const auto hits = store.search(std::span(query, d), 10);
        const auto expected = reference(query, ids, vectors, d, 10);
        QCOMPARE(idsOf(hits), idsOf(expected));
        for (size_t i = 0; i < hits.size(); ++i)
            QVERIFY(std::fabs(hits[i].score - expected[i].score) < 1e-5);
    }

    // A stored vector is its own best match.
    const auto self = store.search(std::span(vectors.data() + 1234 * d, d), 1);
    QCOMPARE(self.size(), size_t(1));
    QCOMPARE(self[0].id, ids[1234]);
    QVERIFY(std::fabs(self[0].score - 1.f) < 1e-5);
}

void TestVectorStore::kLargerThanSize()
{
    const int d = 16;
    const auto vectors = randomUnitVectors(5, d, 3);
    VectorStore store(VectorStore::Params{.dim = d});
    store.add(sequentialIds(5), vectors);
    const auto hits = store.search(std::span(vectors.data(), d), 100);
    QCOMPARE(hits.size(), size_t(5));
    QVERIFY(sortedBestFirst(hits));
    const auto hitIds = idsOf(hits);
    QCOMPARE(std::set<int64_t>(hitIds.begin(), hitIds.end()), (std::set<int64_t>{1, 2, 3, 4, 5}));
    QVERIFY(store.search(std::span(vectors.data(), d), 0).empty());
}

void TestVectorStore::replaceExistingId()
{
    const int d = 4;
    VectorStore store(VectorStore::Params{.dim = d});
    store.add(std::vector<int64_t>{1, 2}, std::vector<float>{1, 0, 0, 0, /**/ 0, 1, 0, 0});
    // Id 1 now points the other way; its old direction must not match it any more.
    store.add(std::vector<int64_t>{1}, std::vector<float>{0, 0, 1, 0});
    QCOMPARE(store.size(), size_t(2));
    QCOMPARE(*store.vector(1), (std::vector<float>{0, 0, 1, 0}));
    const auto hits = store.search(std::vector<float>{1, 0, 0, 0}, 2);
    QCOMPARE(hits.size(), size_t(2));
    QCOMPARE(hits[0].score, 0.f);
    const auto z = store.search(std::vector<float>{0, 0, 1, 0}, 1);
    QCOMPARE(z[0].id, int64_t(1));
    QCOMPARE(z[0].score, 1.f);

    // Within one call the last occurrence of an id wins.
    store.add(std::vector<int64_t>{3, 3}, std::vector<float>{1, 0, 0, 0, /**/ 0, 0, 0, 1});
    QCOMPARE(store.size(), size_t(3));
    QCOMPARE(*store.vector(3), (std::vector<float>{0, 0, 0, 1}));
}

void TestVectorStore::removeIds()
{
    const int d = 32;
    const auto vectors = randomUnitVectors(500, d, 4);
    auto ids = sequentialIds(500);
    VectorStore store(VectorStore::Params{.dim = d});
    store.add(ids, vectors);

    // Remove from the front, the middle and the end, plus ids that were never there.
    const std::vector<int64_t> gone{1, 250, 251, 500, 9999, -3};
    QCOMPARE(store.remove(gone), size_t(4));
    QCOMPARE(store.remove(gone), size_t(0));
    QCOMPARE(store.size(), size_t(496));
    for (int64_t id : gone)
        QVERIFY(!store.contains(id));
    // Survivors keep their own vectors (removal moves items around internally).
    for (size_t i = 0; i < ids.size(); ++i) {
        if (std::find(gone.begin(), gone.end(), ids[i]) != gone.end())
            continue;
        const auto v = store.vector(ids[i]);
        QVERIFY(v.has_value());
        QVERIFY(std::equal(v->begin(), v->end(), vectors.begin() + ptrdiff_t(i * d)));
    }
    // A removed vector's own query does not find it, and results equal brute force over the rest.
    std::vector<int64_t> keptIds;
    std::vector<float> keptVectors;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (store.contains(ids[i])) {
            keptIds.push_back(ids[i]);
            keptVectors.insert(keptVectors.end(), vectors.begin() + ptrdiff_t(i * d), vectors.begin() + ptrdiff_t((i + 1) * d));
        }
    }
    const float *removedVector = vectors.data() + 249 * d; // id 250
    const auto hits = store.search(std::span(removedVector, d), 496);
    QCOMPARE(hits.size(), size_t(496));
    for (const auto &h : hits)
        QVERIFY(std::find(gone.begin(), gone.end(), h.id) == gone.end());
    QCOMPARE(idsOf(store.search(std::span(removedVector, d), 10)), idsOf(reference(removedVector, keptIds, keptVectors, d, 10)));

    // Removing everything leaves a working empty store.
    QCOMPARE(store.remove(keptIds), keptIds.size());
    QVERIFY(store.empty());
    QVERIFY(store.search(std::span(removedVector, d), 5).empty());
    store.add(std::vector<int64_t>{42}, std::span(removedVector, d));
    QCOMPARE(store.search(std::span(removedVector, d), 5)[0].id, int64_t(42));
}

void TestVectorStore::rebuildReplacesContent()
{
    const int d = 16;
    VectorStore store(VectorStore::Params{.dim = d});
    store.add(sequentialIds(10, 1000), randomUnitVectors(10, d, 5));
    const auto vectors = randomUnitVectors(300, d, 6);
    auto ids = sequentialIds(300);
    ids[299] = 1; // a duplicate: the last occurrence wins, as with add()
    store.rebuild(ids, vectors);
    QCOMPARE(store.size(), size_t(299));
    QVERIFY(!store.contains(1000));
    const auto v1 = store.vector(1);
    QVERIFY(v1 && std::equal(v1->begin(), v1->end(), vectors.begin() + 299 * d));
    QCOMPARE(store.search(std::span(vectors.data() + 299 * d, d), 1)[0].id, int64_t(1));
    store.clear();
    QVERIFY(store.empty());
}

void TestVectorStore::contractErrors()
{
    VectorStore store(VectorStore::Params{.dim = 8});
    store.add(std::vector<int64_t>{1}, std::vector<float>(8, 0.25f));
    // Vectors of the wrong length for the ids, or of another dimension.
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.add(std::vector<int64_t>{2}, std::vector<float>(7, 0.f)));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.add(std::vector<int64_t>{2, 3}, std::vector<float>(8, 0.f)));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.rebuild(std::vector<int64_t>{2}, std::vector<float>(16, 0.f)));
    std::vector<float> nan(8, 0.f);
    nan[3] = std::nanf("");
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.add(std::vector<int64_t>{2}, nan));
    // A failed call changes nothing.
    QCOMPARE(store.size(), size_t(1));
    QVERIFY(!store.contains(2));
    // Queries of another dimension.
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.search(std::vector<float>(16, 0.1f), 1));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.search(std::vector<float>(7, 0.1f), 1));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.search(std::vector<float>{}, 1));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.searchBatch(std::vector<float>(12, 0.1f), 1));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.search(nan, 1));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, VectorStore(VectorStore::Params{.dim = 0}));
}

void TestVectorStore::filters()
{
    const int d = 32;
    const auto vectors = randomUnitVectors(4000, d, 7);
    const auto ids = sequentialIds(4000, 1, 3); // 1, 4, 7, ...
    VectorStore store(VectorStore::Params{.dim = d, .subsetExactLimit = 100});
    store.add(ids, vectors);
    const auto queries = randomUnitVectors(10, d, 8);

    // A short list (scored id by id), a long dense list (checked during the scan), a
    // long sparse list, and a predicate: each must equal brute force over the allowed ids.
    std::vector<int64_t> shortList{4, 7, 100, 301, 3001, 11998, 5}; // 5 is not in the store
    std::vector<int64_t> denseList, sparseList;
    for (size_t i = 0; i < ids.size(); i += 2)
        denseList.push_back(ids[i]);
    for (size_t i = 0; i < ids.size(); i += 5)
        sparseList.push_back(ids[i] * 1'000'003); // mostly absent, wide range
    sparseList.push_back(ids[17]);
    sparseList.push_back(ids[3999]);
    const auto predicate = [](int64_t id) { return id % 2 == 0; };

    const std::vector<std::pair<IdFilter, std::function<bool(int64_t)>>> cases{
        {IdFilter::allowIds(shortList), [&](int64_t id) { return std::count(shortList.begin(), shortList.end(), id) > 0; }},
        {IdFilter::allowIds(denseList), [&](int64_t id) { return std::binary_search(denseList.begin(), denseList.end(), id); }},
        {IdFilter::allowIds(sparseList), [&](int64_t id) { return std::count(sparseList.begin(), sparseList.end(), id) > 0; }},
        {IdFilter::allowIf(predicate), predicate},
    };
    for (const auto &[filter, accept] : cases) {
        for (size_t q = 0; q < 10; ++q) {
            const float *query = queries.data() + q * d;
            const auto hits = store.search(std::span(query, d), 10, filter);
            QCOMPARE(idsOf(hits), idsOf(reference(query, ids, vectors, d, 10, accept)));
        }
    }
    QCOMPARE(cases[0].first.idList()->size(), size_t(7));
    QVERIFY(!cases[3].first.idList().has_value());

    // Nothing allowed, or nothing allowed that exists.
    QVERIFY(store.search(std::span(queries.data(), d), 10, IdFilter::allowIds({})).empty());
    QVERIFY(store.search(std::span(queries.data(), d), 10, IdFilter::allowIds(std::vector<int64_t>{2, 3})).empty());
    QVERIFY(store.search(std::span(queries.data(), d), 10, IdFilter::allowIf([](int64_t) { return false; })).empty());

    // A predicate that throws: the error reaches the caller, the store survives.
    const auto throwing = IdFilter::allowIf([](int64_t) -> bool { throw std::runtime_error("boom"); });
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, store.search(std::span(queries.data(), d), 10, throwing));
    QCOMPARE(store.search(std::span(queries.data(), d), 10).size(), size_t(10));
}

void TestVectorStore::extremeIdsAndParams()
{
    // Ids at both ends of int64, and filters spanning them (a bitmap over that range
    // would be absurd; the filter must pick a hash set and still be right).
    const int d = 8;
    const std::vector<int64_t> ids{std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max()};
    const auto vectors = randomUnitVectors(4, d, 40);
    // subsetExactLimit 0 sends every id list through the scan; zero re-rank settings
    // still return k hits.
    for (size_t exactLimit : {size_t(100), size_t(0)}) {
        VectorStore store(VectorStore::Params{.dim = d, .exactLimit = exactLimit, .rerankFactor = 0, .rerankMin = 0,
                                              .subsetExactLimit = 0, .queryThreads = 2, .parallelMinItems = 0});
        store.add(ids, vectors);
        const std::vector<int64_t> ends{ids[0], ids[3]};
        const auto hits = store.search(std::span(vectors.data() + 3 * d, d), 4, IdFilter::allowIds(ends));
        QCOMPARE(hits.size(), size_t(2));
        QCOMPARE(hits[0].id, ids[3]);
        QCOMPARE(hits[1].id, ids[0]);
        QCOMPARE(store.search(std::span(vectors.data(), d), 4).size(), size_t(4));
        QCOMPARE(store.search(std::span(vectors.data(), d), 1)[0].id, ids[0]);
    }
}

void TestVectorStore::searchBatchMatchesSingle()
{
    const int d = 48;
    const auto vectors = randomUnitVectors(5000, d, 9);
    const auto ids = sequentialIds(5000);
    // Exact and approximate tiers.
    for (size_t exactLimit : {size_t(100'000), size_t(1000)}) {
        // Split searches (queryThreads 2, blocks from 1000 items) against one thread
        // per query in the batch.
        VectorStore store(VectorStore::Params{.dim = d, .exactLimit = exactLimit, .queryThreads = 2,
                                              .parallelMinItems = 1000});
        store.add(ids, vectors);
        const auto queries = randomUnitVectors(16, d, 10);
        const auto filter = IdFilter::allowIf([](int64_t id) { return id % 3 != 0; });
        const auto batch = store.searchBatch(queries, 7);
        const auto filtered = store.searchBatch(queries, 7, filter);
        QCOMPARE(batch.size(), size_t(16));
        for (size_t q = 0; q < 16; ++q) {
            QCOMPARE(batch[q], store.search(std::span(queries.data() + q * d, d), 7));
            QCOMPARE(filtered[q], store.search(std::span(queries.data() + q * d, d), 7, filter));
        }
    }
}

void TestVectorStore::saveLoadRoundTrip()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const fs::path path = dir.filePath("store.faiss").toStdString();
    const int d = 24;
    const auto vectors = randomUnitVectors(1500, d, 11);
    const auto ids = sequentialIds(1500, -700); // negative ids survive too
    VectorStore store(VectorStore::Params{.dim = d});
    store.add(ids, vectors);
    store.remove(std::vector<int64_t>{-700, 0, 10});
    const StoreResult saved = store.save(path, 7);
    QVERIFY2(saved.ok(), saved.message.c_str());
    QCOMPARE(store.generation(), uint64_t(7));

    VectorStore loaded(VectorStore::Params{.dim = d});
    const StoreResult r = loaded.load(path, 7);
    QVERIFY2(r.ok(), r.message.c_str());
    QCOMPARE(loaded.generation(), uint64_t(7));
    QCOMPARE(loaded.size(), store.size());
    for (int64_t id : store.ids())
        QCOMPARE(*loaded.vector(id), *store.vector(id));
    QVERIFY(!loaded.contains(0));
    const auto queries = randomUnitVectors(5, d, 12);
    for (size_t q = 0; q < 5; ++q)
        QCOMPARE(loaded.search(std::span(queries.data() + q * d, d), 10), store.search(std::span(queries.data() + q * d, d), 10));

    // An empty store round-trips as well.
    VectorStore empty(VectorStore::Params{.dim = d});
    QVERIFY(empty.save(path, 8).ok());
    QVERIFY(loaded.load(path, 8).ok());
    QVERIFY(loaded.empty());
}

void TestVectorStore::staleGeneration()
{
    QTemporaryDir dir;
    const fs::path path = dir.filePath("store.faiss").toStdString();
    VectorStore store(VectorStore::Params{.dim = 8});
    store.add(std::vector<int64_t>{1, 2}, randomUnitVectors(2, 8, 13));
    QVERIFY(store.save(path, 3).ok());

    // The catalog moved on to generation 4: the file is stale, and the target store
    // keeps what it had.
    VectorStore other(VectorStore::Params{.dim = 8});
    other.add(std::vector<int64_t>{9}, randomUnitVectors(1, 8, 14));
    const StoreResult r = other.load(path, 4);
    QCOMPARE(r.status, StoreStatus::Stale);
    QVERIFY(r.needsRebuild());
    QVERIFY(r.message.find('3') != std::string::npos && r.message.find('4') != std::string::npos);
    QCOMPARE(other.size(), size_t(1));
    QVERIFY(other.contains(9));
    QCOMPARE(other.generation(), uint64_t(0));
}

void TestVectorStore::missingFile()
{
    QTemporaryDir dir;
    VectorStore store(VectorStore::Params{.dim = 8});
    const StoreResult r = store.load(dir.filePath("nothing-here.faiss").toStdString(), 1);
    QCOMPARE(r.status, StoreStatus::Missing);
    QVERIFY(r.needsRebuild());
    QVERIFY(!r.message.empty());
}

void TestVectorStore::truncatedFiles()
{
    QTemporaryDir dir;
    const QString path = dir.filePath("store.faiss");
    const int d = 16;
    QVERIFY(saveRandomStore(path, d, 15).ok());
    const QByteArray good = readAll(path);
    QCOMPARE(good.size(), qsizetype(64 + 100 * 8 + 100 * d * 4));

    // Cut at: nothing, inside the header, right after it, inside the ids, inside the
    // vectors, one byte short; and one byte too many.
    for (qsizetype size : {qsizetype(0), qsizetype(10), qsizetype(64), qsizetype(64 + 400), qsizetype(good.size() / 2),
                           good.size() - 1}) {
        writeAll(path, good.left(size));
        VectorStore target(VectorStore::Params{.dim = d});
        const StoreResult r = target.load(path.toStdString(), 1);
        QVERIFY2(r.status == StoreStatus::Corrupt, qPrintable(QString("size %1: %2").arg(size).arg(r.message.c_str())));
        QVERIFY(target.empty());
    }
    writeAll(path, good + QByteArray(1, '\0'));
    VectorStore target(VectorStore::Params{.dim = d});
    QCOMPARE(target.load(path.toStdString(), 1).status, StoreStatus::Corrupt);
    writeAll(path, good);
    QVERIFY(target.load(path.toStdString(), 1).ok());
}

void TestVectorStore::corruptFiles()
{
    QTemporaryDir dir;
    const QString path = dir.filePath("store.faiss");
    const int d = 16;
    QVERIFY(saveRandomStore(path, d, 16).ok());
    const QByteArray good = readAll(path);

    // The status of loading `bytes`; a failed load must come with a message and leave
    // the target store untouched (empty here), otherwise Ok is returned to fail the check.
    auto loadStatus = [&](const QByteArray &bytes) {
        writeAll(path, bytes);
        VectorStore target(VectorStore::Params{.dim = d});
        const StoreResult r = target.load(path.toStdString(), 1);
        if (r.ok() || r.message.empty() || !target.empty())
            return StoreStatus::Ok;
        return r.status;
    };
    // One flipped bit anywhere: magic, version, count, generation, reserved, an id, a vector.
    for (qsizetype offset : {qsizetype(0), qsizetype(8), qsizetype(16), qsizetype(24), qsizetype(44), qsizetype(64 + 80),
                             qsizetype(64 + 800 + 1000), good.size() - 1}) {
        QByteArray bad = good;
        bad[offset] = char(bad[offset] ^ 0x10);
        QVERIFY2(loadStatus(bad) == StoreStatus::Corrupt, qPrintable(QString("bit flip at %1").arg(offset)));
    }
    // Garbage of the right size and of a random size, text, and another program's file.
    std::mt19937 rng(17);
    QByteArray garbage(good.size(), '\0');
    for (auto &c : garbage)
        c = char(rng());
    QCOMPARE(loadStatus(garbage), StoreStatus::Corrupt);
    QCOMPARE(loadStatus(garbage.left(777)), StoreStatus::Corrupt);
    QCOMPARE(loadStatus(QByteArray("hello, this is not a vector store\n")), StoreStatus::Corrupt);
    QCOMPARE(loadStatus(QByteArray("SQLite format 3\0", 16) + garbage.left(4096)), StoreStatus::Corrupt);
    // An absurd count is refused before anything is allocated for it.
    QByteArray hugeCount = good;
    const uint64_t absurd = uint64_t(1) << 60;
    std::memcpy(hugeCount.data() + 16, &absurd, 8);
    QCOMPARE(loadStatus(hugeCount), StoreStatus::Corrupt);
    // A directory where the file should be.
    VectorStore target(VectorStore::Params{.dim = d});
    QVERIFY(QDir(dir.path()).mkdir("adir"));
    const StoreResult r = target.load(dir.filePath("adir").toStdString(), 1);
    QVERIFY(!r.ok());
    QVERIFY(r.status == StoreStatus::Corrupt || r.status == StoreStatus::IoError);
}

void TestVectorStore::dimensionMismatchFile()
{
    QTemporaryDir dir;
    const fs::path path = dir.filePath("store.faiss").toStdString();
    VectorStore store(VectorStore::Params{.dim = 8});
    store.add(std::vector<int64_t>{1}, randomUnitVectors(1, 8, 18));
    QVERIFY(store.save(path, 1).ok());
    VectorStore other(VectorStore::Params{.dim = 16});
    const StoreResult r = other.load(path, 1);
    QCOMPARE(r.status, StoreStatus::DimensionMismatch);
    QVERIFY(r.needsRebuild());
    QVERIFY(r.message.find("8") != std::string::npos && r.message.find("16") != std::string::npos);
    QVERIFY(other.empty());
}

void TestVectorStore::saveIsAtomic()
{
    QTemporaryDir dir;
    const fs::path path = dir.filePath("store.faiss").toStdString();
    VectorStore store(VectorStore::Params{.dim = 8});
    store.add(std::vector<int64_t>{1}, randomUnitVectors(1, 8, 19));
    QVERIFY(store.save(path, 1).ok());
    store.add(std::vector<int64_t>{2}, randomUnitVectors(1, 8, 20));
    QVERIFY(store.save(path, 2).ok());
    // Overwritten in place, no temp file left behind.
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{"store.faiss"});
    VectorStore loaded(VectorStore::Params{.dim = 8});
    QVERIFY(loaded.load(path, 2).ok());
    QCOMPARE(loaded.size(), size_t(2));

    // A directory that does not exist: a clear error, and the store's generation unchanged.
    const StoreResult r = store.save(dir.filePath("no/such/dir/store.faiss").toStdString(), 3);
    QCOMPARE(r.status, StoreStatus::IoError);
    QVERIFY(!r.needsRebuild());
    QVERIFY(r.message.find("no/such/dir") != std::string::npos);
    QCOMPARE(store.generation(), uint64_t(2));
    QVERIFY(loaded.load(path, 2).ok()); // the previous file is intact
}

void TestVectorStore::concurrentSearchesWhileWriting()
{
    const int d = 32;
    // The store crosses from the exact to the approximate tier while readers run.
    VectorStore store(VectorStore::Params{.dim = d, .exactLimit = 3000, .queryThreads = 2, .parallelMinItems = 1000});
    store.add(sequentialIds(1000), randomUnitVectors(1000, d, 21));
    const auto queries = randomUnitVectors(8, d, 22);
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0}, searches{0};
    auto reader = [&](int r) {
        const auto filter = IdFilter::allowIf([](int64_t id) { return id % 2 == 0; });
        while (!stop) {
            const float *q = queries.data() + size_t(r % 8) * d;
            const auto hits = (r % 2) ? store.search(std::span(q, d), 10) : store.search(std::span(q, d), 10, filter);
            if (hits.size() != 10 || !sortedBestFirst(hits))
                ++bad;
            if (!(r % 2))
                for (const auto &h : hits)
                    if (h.id % 2 != 0)
                        ++bad;
            ++searches;
        }
    };
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r)
        readers.emplace_back(reader, r);
    int64_t next = 1001;
    for (int round = 0; round < 60; ++round) {
        const auto more = randomUnitVectors(100, d, 100 + uint64_t(round));
        store.add(sequentialIds(100, next), more);
        next += 100;
        store.remove(sequentialIds(20, next - 300)); // removes ids added two rounds before
    }
    stop = true;
    for (auto &t : readers)
        t.join();
    QCOMPARE(bad.load(), 0);
    QVERIFY(searches.load() > 0);
    QCOMPARE(store.size(), size_t(1000 + 60 * 100 - 60 * 20));
    QCOMPARE(store.kind(), IndexKind::Approximate);
}

// The requirement: recall@10 ≥ 0.95 against exact search on 100k random unit
// vectors of dimension 256 (the default parameters put 100k in the approximate tier).
void TestVectorStore::approximateRecall()
{
    const int d = 256;
    const size_t n = 100'000, nq = 200;
    const auto vectors = randomUnitVectors(n, d, 2024);
    const auto ids = sequentialIds(n, 1);
    VectorStore store(VectorStore::Params{.dim = d});
    store.rebuild(ids, vectors);
    QCOMPARE(store.kind(), IndexKind::Approximate);

    const auto queries = randomUnitVectors(nq, d, 2025);
    const auto expected = referenceBatch(queries, ids, vectors, d, 10);
    std::vector<std::vector<Hit>> found(nq);
    for (size_t q = 0; q < nq; ++q) {
        found[q] = store.search(std::span(queries.data() + q * d, d), 10);
        QCOMPARE(found[q].size(), size_t(10));
        QVERIFY(sortedBestFirst(found[q]));
    }
    const double r = recall(found, expected);
    qInfo("approximate tier, 100k x 256 random: recall@10 = %.4f", r);
    QVERIFY2(r >= 0.95, qPrintable(QString("recall@10 %1").arg(r)));
    // Scores are exact inner products even though the candidates came from int8 codes.
    verifyScores(store, queries.data(), found[0]);

    // Removed items never come back, even as the best match.
    const std::vector<int64_t> removed = idsOf(found[1]);
    store.remove(removed);
    for (const auto &h : store.search(std::span(queries.data() + d, d), 50))
        QVERIFY(std::find(removed.begin(), removed.end(), h.id) == removed.end());
}

// Filtered search in the approximate tier equals exact filtered search: short lists are
// scored id by id, long lists and predicates restrict the candidate scan.
void TestVectorStore::approximateFilteredEqualsExact()
{
    const int d = 256;
    const size_t n = 60'000, nq = 40;
    const auto vectors = randomUnitVectors(n, d, 31);
    const auto ids = sequentialIds(n, 10);
    VectorStore store(VectorStore::Params{.dim = d, .exactLimit = 20'000, .queryThreads = 2});
    store.rebuild(ids, vectors);
    QCOMPARE(store.kind(), IndexKind::Approximate);
    const auto queries = randomUnitVectors(nq, d, 32);

    std::vector<int64_t> shortList, longList;
    for (size_t i = 0; i < n; i += 100)
        shortList.push_back(ids[i]); // 600 ids: scored id by id
    for (size_t i = 0; i < n; i += 2)
        longList.push_back(ids[i]); // 30k ids: checked during the scan
    const std::unordered_set<int64_t> shortSet(shortList.begin(), shortList.end());
    const std::unordered_set<int64_t> longSet(longList.begin(), longList.end());
    const auto inShort = [&](int64_t id) { return shortSet.count(id) > 0; };
    const auto inLong = [&](int64_t id) { return longSet.count(id) > 0; };
    const auto mod7 = [](int64_t id) { return id % 7 == 3; };

    const auto shortFilter = IdFilter::allowIds(shortList);
    for (size_t q = 0; q < nq; ++q) {
        const float *query = queries.data() + q * d;
        const auto hits = store.search(std::span(query, d), 10, shortFilter);
        QCOMPARE(idsOf(hits), idsOf(reference(query, ids, vectors, d, 10, inShort)));
    }
    for (const auto &[filter, accept] : {std::pair{IdFilter::allowIds(longList), std::function<bool(int64_t)>(inLong)},
                                         std::pair{IdFilter::allowIf(mod7), std::function<bool(int64_t)>(mod7)}}) {
        const auto expected = referenceBatch(queries, ids, vectors, d, 10, accept);
        const auto found = store.searchBatch(queries, 10, filter);
        for (size_t q = 0; q < nq; ++q) {
            for (const auto &h : found[q])
                QVERIFY(accept(h.id));
            verifyScores(store, queries.data() + q * d, found[q]);
        }
        // Candidates come from int8 codes but are re-scored exactly, so with this fixed
        // data every list equals the exact filtered one (the algorithm is deterministic:
        // integer kernel sums, ties broken by id).
        for (size_t q = 0; q < nq; ++q)
            QCOMPARE(idsOf(found[q]), idsOf(expected[q]));
    }
}

QTEST_GUILESS_MAIN(TestVectorStore)
#include "tst_vectorstore.moc"
