// `unisearch-bench duplicates`: the numbers of docs/performance.md for duplicates.
//
// The set: N random unit vectors (the full model's 256 dimensions). A share of them get a
// near copy (the vector plus noise, cosine ≈ 0.98, as a resized or recompressed photo),
// a smaller share a byte copy (same content hash and size, same vector). Random vectors
// are the hardest case for the store's approximate tier, so the recall of planted pairs is
// a floor. The catalog's part (two bulk queries) is not timed here.
#include "bench_duplicates.h"
#include "benchsupport.h"

#include "engine/duplicates.h"
#include "index/vectorstore.h"

#include <QString>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <unordered_map>
#include <vector>

#include <sys/resource.h>

using namespace unisearch;

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0)
{
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Options {
    std::size_t items = 100'000;
    int dim = 256;
    double nearShare = 0.05;  // items with a planted near copy
    double byteShare = 0.01;  // items with a planted byte copy
    int tables = engine::DuplicateParams{}.tables;
    int bits = engine::DuplicateParams{}.bits;
    double threshold = engine::DuplicateParams::defaultThreshold;
    int threads = 2;
    std::size_t clusters = 0;  // > 0: originals around this many centres (photo-like features)
    bool json = false;
};

bool parse(int argc, char **argv, Options &o)
{
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        auto value = [&] { return bench::optionValue("duplicates", argc, argv, i); };
        if (!std::strcmp(a, "--items"))
            o.items = std::strtoull(value(), nullptr, 10);
        else if (!std::strcmp(a, "--tables"))
            o.tables = std::atoi(value());
        else if (!std::strcmp(a, "--bits"))
            o.bits = std::atoi(value());
        else if (!std::strcmp(a, "--threshold"))
            o.threshold = std::atof(value());
        else if (!std::strcmp(a, "--clusters"))
            o.clusters = std::strtoull(value(), nullptr, 10);
        else if (!std::strcmp(a, "--threads"))
            o.threads = std::atoi(value());
        else if (!std::strcmp(a, "--json"))
            o.json = true;
        else {
            std::fprintf(std::strcmp(a, "--help") ? stderr : stdout,
                         "usage: unisearch-bench duplicates [--items N (100000)] [--tables N (20)] [--bits B (12)] "
                         "[--threshold T (%.2f)] [--threads N (2)] [--clusters C (0)] [--json]\n",
                         engine::DuplicateParams::defaultThreshold);
            return false;
        }
    }
    return o.items >= 2 && o.items <= 10'000'000 && o.threads >= 1 && o.tables >= 1 && o.bits >= 1;
}

struct Set {
    std::vector<std::int64_t> ids;
    std::vector<float> vectors;
    std::vector<engine::DuplicateCandidate> candidates;
    std::vector<std::pair<std::size_t, std::size_t>> planted;  // (original, copy)
};

// Originals first, then their planted copies.
Set makeSet(const Options &o)
{
    std::mt19937_64 rng(1);
    std::normal_distribution<float> gauss;
    const std::size_t d = std::size_t(o.dim);
    const std::size_t nearCopies = std::size_t(double(o.items) * o.nearShare);
    const std::size_t byteCopies = std::size_t(double(o.items) * o.byteShare);
    const std::size_t originals = o.items - nearCopies - byteCopies;
    Set s;
    s.vectors.resize(o.items * d);
    std::vector<float> centres(o.clusters * d);
    for (float &x : centres)
        x = gauss(rng) / std::sqrt(float(d));
    auto normalise = [&](float *v) {
        double n = 0;
        for (std::size_t j = 0; j < d; ++j)
            n += double(v[j]) * v[j];
        for (std::size_t j = 0; j < d; ++j)
            v[j] = float(v[j] / std::sqrt(n));
    };
    for (std::size_t i = 0; i < o.items; ++i) {
        float *v = s.vectors.data() + i * d;
        s.ids.push_back(std::int64_t(i) + 1);
        const std::size_t of = i < originals ? i : (i - originals) % originals;
        if (i < originals) {
            // Clustered: a direction all share (cosine ≈ 0.5 between unrelated items, as
            // image features have), a cluster centre (≈ 0.75 inside a cluster) and noise.
            const float *c = o.clusters ? centres.data() + (i % o.clusters) * d : nullptr;
            for (std::size_t j = 0; j < d; ++j)
                v[j] = c ? (j == 0 ? 1.f : 0.f) + 0.7f * c[j] + 0.5f * gauss(rng) / std::sqrt(float(d)) : gauss(rng);
        } else {
            // Near copy: noise of norm 0.2 → cosine ≈ 0.98; byte copy: the same vector.
            const bool near = i < originals + nearCopies;
            for (std::size_t j = 0; j < d; ++j)
                v[j] = s.vectors[of * d + j] + (near ? 0.2f / std::sqrt(float(d)) * gauss(rng) : 0.f);
            s.planted.emplace_back(of, i);
        }
        normalise(v);
        const bool byteCopy = i >= originals + nearCopies;
        s.candidates.push_back({std::int64_t(i) + 1, std::int64_t(i) + 1,
                                QString::number(qulonglong(byteCopy ? of : i), 16), 1000});
    }
    return s;
}

} // namespace

int runDuplicatesBench(int argc, char **argv)
{
    Options o;
    if (!parse(argc, argv, o))
        return 2;
    auto t0 = Clock::now();
    const Set set = makeSet(o);
    index::VectorStore::Params p;
    p.dim = o.dim;
    p.threads = o.threads;
    index::VectorStore store(p);
    store.rebuild(set.ids, set.vectors);
    const double buildS = secondsSince(t0);

    t0 = Clock::now();
    const auto byteLinks = engine::byteCopyLinks(set.candidates);
    const double byteS = secondsSince(t0);
    engine::DuplicateParams params;
    params.threshold = o.threshold;
    params.tables = o.tables;
    params.bits = o.bits;
    t0 = Clock::now();
    const auto nearLinks = engine::nearCopyLinks(store, set.candidates, params);
    const double nearS = secondsSince(t0);
    std::vector<engine::DuplicateLink> links = byteLinks;
    links.insert(links.end(), nearLinks->begin(), nearLinks->end());
    t0 = Clock::now();
    const auto groups = engine::joinLinks(set.candidates.size(), links);
    const double joinS = secondsSince(t0);

    std::unordered_map<std::size_t, std::size_t> groupOf;
    for (std::size_t g = 0; g < groups.size(); ++g)
        for (std::size_t m : groups[g])
            groupOf[m] = g;
    std::size_t found = 0;
    for (const auto &[a, b] : set.planted)
        found += groupOf.count(a) && groupOf.count(b) && groupOf[a] == groupOf[b];
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double peakMiB = double(ru.ru_maxrss) / 1024.0;
    const double recall = set.planted.empty() ? 1.0 : double(found) / double(set.planted.size());
    if (o.json)
        std::printf("{\n  \"items\": %zu,\n  \"dim\": %d,\n  \"store\": \"%s\",\n  \"threads\": %d,\n"
                    "  \"tables\": %d,\n  \"bits\": %d,\n  \"threshold\": %.3f,\n  \"build_s\": %.2f,\n  \"byte_copies_s\": %.3f,\n"
                    "  \"near_copies_s\": %.2f,\n  \"join_s\": %.3f,\n  \"groups\": %zu,\n  \"planted_pairs\": %zu,\n"
                    "  \"planted_recall\": %.4f,\n  \"peak_rss_mib\": %.0f\n}\n",
                    o.items, o.dim, index::indexKindName(store.kind()), o.threads, o.tables, o.bits, o.threshold, buildS,
                    byteS, nearS, joinS, groups.size(), set.planted.size(), recall, peakMiB);
    else
        std::printf("duplicates over %zu items (%d-d, %s store, %d threads, %d tables of %d bits, threshold %.3f)\n"
                    "  generate + build store   %.2f s\n  byte copies (hash)       %.3f s\n"
                    "  near copies (hashing)   %.2f s\n  join (union-find)        %.3f s\n"
                    "  groups %zu; planted pairs found %zu of %zu (%.4f)\n  peak RSS %.0f MiB\n",
                    o.items, o.dim, index::indexKindName(store.kind()), o.threads, o.tables, o.bits, o.threshold, buildS,
                    byteS, nearS, joinS, groups.size(), found, set.planted.size(), recall, peakMiB);
    return 0;
}
