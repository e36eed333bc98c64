// `unisearch-bench index`: the numbers of docs/performance.md for the vector store.
//
// Random unit vectors are the worst case for an approximate index (no cluster
// structure to exploit), so recall measured here is a floor for real image features.
// The machine's load average is printed with the results: on a shared 2-core machine
// a busy neighbour shows up directly in the tail latencies.
#include "bench_index.h"
#include "benchsupport.h"

#include "index/vectorstore.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

using namespace unisearch::index;

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Options {
    size_t size = 1'000'000;
    int dim = 256;
    size_t queries = 1000;        // timed single queries
    size_t recallQueries = 200;   // queries checked against exact search
    size_t filteredQueries = 300; // timed queries per filter kind
    size_t k = 10;
    int threads = 2;          // bulk work: rebuild, batch search, data generation
    int queryThreads = VectorStore::Params{}.queryThreads; // per single search
    bool compare = true;      // also time the other per-search thread count (1 <-> 2)
    uint64_t seed = 1;
    bool json = false;
    bool sweep = true; // exact-tier latency at several sizes (justifies exactLimit)
    bool saveLoad = true;
    std::filesystem::path tmpDir = std::filesystem::temp_directory_path();
};

void usage(FILE *out)
{
    std::fprintf(out,
                 "usage: unisearch-bench index [options]\n"
                 "  --size N            items in the store (default 1000000)\n"
                 "  --dim D             dimension (default 256)\n"
                 "  --queries N         timed single queries (default 1000)\n"
                 "  --recall-queries N  queries compared with exact search (default 200)\n"
                 "  --k K               results per query (default 10)\n"
                 "  --threads N         threads for bulk work: rebuild, batch search (default 2)\n"
                 "  --query-threads N   threads per single search (default: the store's, 1)\n"
                 "  --no-compare        skip timing the other per-search thread count\n"
                 "  --seed S            random seed (default 1)\n"
                 "  --no-sweep          skip the exact-search latency sweep\n"
                 "  --no-save           skip the save/load timing\n"
                 "  --tmp DIR           where the save/load timing writes (default: system temp)\n"
                 "  --json              one JSON document on stdout\n");
}

bool parse(int argc, char **argv, Options &o)
{
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char * { return unisearch::bench::optionValue("index", argc, argv, i); };
        if (a == "--size") o.size = std::strtoull(value(), nullptr, 10);
        else if (a == "--dim") o.dim = std::atoi(value());
        else if (a == "--queries") o.queries = std::strtoull(value(), nullptr, 10);
        else if (a == "--recall-queries") o.recallQueries = std::strtoull(value(), nullptr, 10);
        else if (a == "--k") o.k = std::strtoull(value(), nullptr, 10);
        else if (a == "--threads") o.threads = std::atoi(value());
        else if (a == "--query-threads") o.queryThreads = std::atoi(value());
        else if (a == "--no-compare") o.compare = false;
        else if (a == "--seed") o.seed = std::strtoull(value(), nullptr, 10);
        else if (a == "--tmp") o.tmpDir = value();
        else if (a == "--no-sweep") o.sweep = false;
        else if (a == "--no-save") o.saveLoad = false;
        else if (a == "--json") o.json = true;
        else if (a == "--help" || a == "-h") {
            usage(stdout);
            std::exit(0);
        } else {
            std::fprintf(stderr, "unisearch-bench index: unknown option '%s'\n", a.c_str());
            usage(stderr);
            return false;
        }
    }
    if (o.size == 0 || o.dim <= 0 || o.queries == 0 || o.k == 0 || o.threads <= 0 || o.queryThreads <= 0) {
        std::fprintf(stderr, "unisearch-bench index: sizes, counts and threads must be positive\n");
        return false;
    }
    return true;
}

// Unit vectors from a normal distribution, generated on `threads` threads with one
// stream per thread so the data depends only on the seed and the thread count.
std::vector<float> randomUnitVectors(size_t n, int d, uint64_t seed, int threads)
{
    std::vector<float> v(n * size_t(d));
    auto work = [&](int t) {
        std::mt19937_64 rng(seed * 1000 + uint64_t(t));
        std::normal_distribution<float> normal;
        for (size_t i = size_t(t); i < n; i += size_t(threads)) {
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
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t)
        pool.emplace_back(work, t);
    work(0);
    for (auto &t : pool)
        t.join();
    return v;
}

struct Latency {
    double p50 = 0, p95 = 0, p99 = 0, mean = 0, max = 0;
};

Latency summarize(std::vector<double> t)
{
    Latency l;
    if (t.empty())
        return l;
    std::sort(t.begin(), t.end());
    auto at = [&](double p) { return t[std::min(t.size() - 1, size_t(p * double(t.size())))]; };
    l.p50 = at(0.50);
    l.p95 = at(0.95);
    l.p99 = at(0.99);
    l.max = t.back();
    for (double x : t)
        l.mean += x;
    l.mean /= double(t.size());
    return l;
}

double threadCpuMs()
{
    timespec ts {};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

struct Timing {
    Latency wall;
    // CPU time of the calling thread: the whole cost of a search when the store runs
    // it on one thread, whatever share of the CPU the neighbours leave us.
    Latency cpu;
};

// Times `count` single searches, cycling through the queries, after a short warm-up.
Timing timeSearches(const std::function<void(const float *)> &search, const std::vector<float> &queries, int d,
                    size_t count)
{
    const size_t nq = queries.size() / size_t(d);
    for (size_t i = 0; i < std::min<size_t>(20, nq); ++i)
        search(queries.data() + i * size_t(d));
    std::vector<double> wall, cpu;
    wall.reserve(count);
    cpu.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        const double c0 = threadCpuMs();
        const auto t0 = Clock::now();
        search(queries.data() + (i % nq) * size_t(d));
        wall.push_back(msSince(t0));
        cpu.push_back(threadCpuMs() - c0);
    }
    return {summarize(std::move(wall)), summarize(std::move(cpu))};
}

double recallAt(const std::vector<std::vector<Hit>> &found, const std::vector<std::vector<Hit>> &exact)
{
    size_t hit = 0, total = 0;
    for (size_t q = 0; q < exact.size(); ++q) {
        std::unordered_set<int64_t> truth;
        for (const auto &h : exact[q])
            truth.insert(h.id);
        for (const auto &h : found[q])
            hit += truth.count(h.id);
        total += exact[q].size();
    }
    return total ? double(hit) / double(total) : 1.0;
}

// kB fields of /proc/self/status (Linux), in MiB.
double procStatusMiB(const char *field)
{
    std::ifstream in("/proc/self/status");
    std::string line;
    const size_t len = std::strlen(field);
    while (std::getline(in, line))
        if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':')
            return std::strtod(line.c_str() + len + 1, nullptr) / 1024.0;
    return 0;
}

std::string loadAverage()
{
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a.empty() ? std::string("?") : a + " " + b + " " + c;
}

// CPU seconds used by the whole process so far (all threads).
double processCpuMs()
{
    rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return (double(ru.ru_utime.tv_sec) + double(ru.ru_stime.tv_sec)) * 1e3
        + (double(ru.ru_utime.tv_usec) + double(ru.ru_stime.tv_usec)) / 1e3;
}

struct SweepRow {
    size_t size;
    Timing timing; // one thread per search
};

struct FilterRow {
    std::string name;
    size_t allowed;
    double buildMs;
    Latency latency;
    double recall; // vs exact filtered search; < 0 when not measured
};

} // namespace

int runIndexBench(int argc, char **argv)
{
    Options o;
    if (!parse(argc, argv, o))
        return 2;
    const int d = o.dim;
    const std::string loadBefore = loadAverage();
    auto log = [&](const char *fmt, auto... args) {
        if (!o.json) {
            std::fprintf(stderr, fmt, args...);
            std::fflush(stderr);
        }
    };
    auto searchOf = [&](const VectorStore &s) {
        return [&s, &o, d](const float *q) { s.search(std::span(q, size_t(d)), o.k); };
    };

    log("generating %zu random unit vectors of dimension %d...\n", o.size, d);
    auto t0 = Clock::now();
    const std::vector<float> data = randomUnitVectors(o.size, d, o.seed, o.threads);
    std::vector<int64_t> ids(o.size);
    for (size_t i = 0; i < o.size; ++i)
        ids[i] = int64_t(i) + 1;
    const std::vector<float> queries = randomUnitVectors(std::max(o.queries, o.recallQueries), d, o.seed + 7919, o.threads);
    const double genMs = msSince(t0);

    // Exact-tier cost at a few sizes, one thread per search: where flat search stops
    // being fast (the basis of Params::exactLimit).
    std::vector<SweepRow> sweep;
    if (o.sweep) {
        for (size_t n : {size_t(10'000), size_t(25'000), size_t(50'000), size_t(100'000), size_t(200'000)}) {
            if (n > o.size)
                break;
            VectorStore::Params p;
            p.dim = d;
            p.queryThreads = 1;
            p.exactLimit = std::numeric_limits<size_t>::max();
            VectorStore flat(p);
            flat.rebuild(std::span(ids.data(), n), std::span(data.data(), n * size_t(d)));
            log("exact search over %zu...\n", n);
            sweep.push_back({n, timeSearches(searchOf(flat), queries, d, 200)});
        }
    }

    // The store as the app builds it after a missing/stale file: one bulk rebuild.
    VectorStore::Params params;
    params.dim = d;
    params.threads = o.threads;
    params.queryThreads = o.queryThreads;
    VectorStore store(params);
    const double rssBefore = procStatusMiB("VmRSS");
    log("building the store (%zu items)...\n", o.size);
    t0 = Clock::now();
    store.rebuild(ids, data);
    const double buildMs = msSince(t0);
    const double rssAfter = procStatusMiB("VmRSS");
    const double storeMiB = double(store.memoryBytes()) / (1024.0 * 1024.0);

    // Incremental adds and removes, as the indexer does in batches of a few dozen.
    t0 = Clock::now();
    {
        const size_t batch = 64, batches = 50;
        const auto extra = randomUnitVectors(batch * batches, d, o.seed + 31, o.threads);
        for (size_t b = 0; b < batches; ++b) {
            std::vector<int64_t> newIds(batch);
            for (size_t i = 0; i < batch; ++i)
                newIds[i] = int64_t(o.size + 1 + b * batch + i);
            store.add(newIds, std::span(extra.data() + b * batch * size_t(d), batch * size_t(d)));
        }
        std::vector<int64_t> back(batch * batches);
        for (size_t i = 0; i < back.size(); ++i)
            back[i] = int64_t(o.size + 1 + i);
        store.remove(back);
    }
    const double addRemoveMsPerBatch = msSince(t0) / 100.0;

    log("timing %zu searches...\n", o.queries);
    const Timing main = timeSearches(searchOf(store), queries, d, o.queries);

    // The other per-search thread count, for comparison (a second store).
    const int otherThreads = o.queryThreads == 1 ? 2 : 1;
    Timing other;
    if (o.compare) {
        log("timing %zu searches with %d thread(s) per search...\n", o.queries, otherThreads);
        VectorStore::Params p = params;
        p.queryThreads = otherThreads;
        VectorStore second(p);
        second.rebuild(ids, data);
        other = timeSearches(searchOf(second), queries, d, o.queries);
    }

    // Recall against exact search over the same items (a store forced to its exact
    // tier: FAISS's flat kernel).
    log("exact reference for %zu queries (slow)...\n", o.recallQueries);
    const std::span<const float> recallQ(queries.data(), o.recallQueries * size_t(d));
    const size_t filteredRecallQueries = std::min<size_t>(o.recallQueries, 50);
    const std::span<const float> filteredQ = recallQ.first(filteredRecallQueries * size_t(d));
    std::vector<int64_t> tenPercent, onePercent;
    for (size_t i = 0; i < o.size; i += 10)
        tenPercent.push_back(ids[i]);
    for (size_t i = 0; i < o.size; i += 100)
        onePercent.push_back(ids[i]);
    std::vector<std::vector<Hit>> exact, exactFiltered;
    double exactRefMs = 0;
    {
        VectorStore::Params p = params;
        p.exactLimit = std::numeric_limits<size_t>::max();
        VectorStore reference(p);
        reference.rebuild(ids, data);
        const double c0 = processCpuMs();
        exact = reference.searchBatch(recallQ, o.k);
        exactRefMs = (processCpuMs() - c0) / double(o.recallQueries); // CPU per query
        exactFiltered = reference.searchBatch(filteredQ, o.k, IdFilter::allowIds(tenPercent));
    }
    // Batch search keeps every thread busy on its own query, so CPU time per query is
    // the work of one search on one core.
    const double cpu0 = processCpuMs();
    t0 = Clock::now();
    const auto approxFound = store.searchBatch(recallQ, o.k);
    const double batchWallMs = msSince(t0) / double(o.recallQueries);
    const double cpuMsPerQuery = (processCpuMs() - cpu0) / double(o.recallQueries);
    const double recall = recallAt(approxFound, exact);

    // Filtered searches: a 10 % id list (checked during the scan), a 1 % list (scored
    // id by id), and a predicate keeping half.
    log("timing filtered searches...\n");
    std::vector<FilterRow> filters;
    auto filteredLatency = [&](const auto &f) {
        return timeSearches([&](const float *q) { store.search(std::span(q, size_t(d)), o.k, f); }, queries, d,
                            o.filteredQueries)
            .wall;
    };
    {
        t0 = Clock::now();
        const auto f = IdFilter::allowIds(tenPercent);
        const double build = msSince(t0);
        const Latency l = filteredLatency(f);
        const double r = recallAt(store.searchBatch(filteredQ, o.k, f), exactFiltered);
        filters.push_back({"id list, 10 %", tenPercent.size(), build, l, r});
    }
    {
        t0 = Clock::now();
        const auto f = IdFilter::allowIds(onePercent);
        const double build = msSince(t0);
        const Latency l = filteredLatency(f);
        filters.push_back({"id list, 1 % (exact)", onePercent.size(), build, l, -1});
    }
    {
        const auto f = IdFilter::allowIf([](int64_t id) { return id % 2 == 0; });
        const Latency l = filteredLatency(f);
        filters.push_back({"predicate, 50 %", o.size / 2, 0, l, -1});
    }

    double saveMs = -1, loadMs = -1, fileMiB = 0;
    std::string saveError;
    if (o.saveLoad) {
        log("save and load...\n");
        const auto path = o.tmpDir / ("unisearch-bench-" + std::to_string(::getpid()) + ".faiss");
        t0 = Clock::now();
        const StoreResult s = store.save(path, 1);
        saveMs = msSince(t0);
        if (s.ok()) {
            fileMiB = double(std::filesystem::file_size(path)) / (1024.0 * 1024.0);
            VectorStore loaded(params);
            t0 = Clock::now();
            const StoreResult l = loaded.load(path, 1);
            loadMs = msSince(t0);
            if (!l.ok())
                saveError = l.message;
        } else {
            saveError = s.message;
        }
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
    const double peakMiB = procStatusMiB("VmHWM");
    const std::string loadAfter = loadAverage();
    const unsigned cores = std::thread::hardware_concurrency();
    const bool cpuMeaningful = o.queryThreads == 1; // thread CPU time covers the whole search

    if (o.json) {
        std::printf("{\n  \"suite\": \"index\",\n  \"faiss\": \"%s\",\n  \"scan_kernel\": \"%s\",\n", faissVersion().c_str(),
                    scanKernel());
        std::printf("  \"cores\": %u,\n  \"threads\": %d,\n  \"query_threads\": %d,\n"
                    "  \"load_average_before\": \"%s\",\n  \"load_average_after\": \"%s\",\n",
                    cores, o.threads, o.queryThreads, loadBefore.c_str(), loadAfter.c_str());
        std::printf("  \"size\": %zu,\n  \"dim\": %d,\n  \"k\": %zu,\n  \"index_kind\": \"%s\",\n"
                    "  \"exact_limit\": %zu,\n",
                    store.size(), d, o.k, indexKindName(store.kind()), params.exactLimit);
        std::printf("  \"generate_ms\": %.1f,\n  \"build_ms\": %.1f,\n  \"add_remove_ms_per_64\": %.3f,\n", genMs,
                    buildMs, addRemoveMsPerBatch);
        std::printf("  \"store_memory_mib\": %.1f,\n  \"rss_growth_mib\": %.1f,\n  \"peak_rss_mib\": %.1f,\n",
                    storeMiB, rssAfter - rssBefore, peakMiB);
        std::printf("  \"recall_at_k\": %.4f,\n  \"recall_queries\": %zu,\n  \"exact_cpu_ms_per_query\": %.1f,\n",
                    recall, o.recallQueries, exactRefMs);
        std::printf("  \"batch_cpu_ms_per_query\": %.2f,\n  \"batch_wall_ms_per_query\": %.2f,\n", cpuMsPerQuery,
                    batchWallMs);
        std::printf("  \"search_ms\": {\"queries\": %zu, \"query_threads\": %d, \"p50\": %.3f, \"p95\": %.3f, "
                    "\"p99\": %.3f, \"mean\": %.3f, \"max\": %.3f",
                    o.queries, o.queryThreads, main.wall.p50, main.wall.p95, main.wall.p99, main.wall.mean,
                    main.wall.max);
        if (cpuMeaningful)
            std::printf(", \"cpu_p50\": %.3f, \"cpu_p95\": %.3f, \"cpu_p99\": %.3f", main.cpu.p50, main.cpu.p95,
                        main.cpu.p99);
        std::printf("},\n");
        if (o.compare)
            std::printf("  \"search_ms_other_threads\": {\"query_threads\": %d, \"p50\": %.3f, \"p95\": %.3f, "
                        "\"p99\": %.3f},\n",
                        otherThreads, other.wall.p50, other.wall.p95, other.wall.p99);
        std::printf("  \"filtered\": [");
        for (size_t i = 0; i < filters.size(); ++i) {
            const auto &f = filters[i];
            std::printf("%s\n    {\"filter\": \"%s\", \"allowed\": %zu, \"build_ms\": %.2f, \"p50\": %.3f, \"p95\": %.3f, "
                        "\"p99\": %.3f",
                        i ? "," : "", f.name.c_str(), f.allowed, f.buildMs, f.latency.p50, f.latency.p95, f.latency.p99);
            if (f.recall >= 0)
                std::printf(", \"recall_at_k\": %.4f", f.recall);
            std::printf("}");
        }
        std::printf("\n  ],\n  \"exact_sweep\": [");
        for (size_t i = 0; i < sweep.size(); ++i)
            std::printf("%s\n    {\"size\": %zu, \"query_threads\": 1, \"wall_p50\": %.3f, \"wall_p95\": %.3f, "
                        "\"cpu_p50\": %.3f, \"cpu_p95\": %.3f, \"cpu_p99\": %.3f}",
                        i ? "," : "", sweep[i].size, sweep[i].timing.wall.p50, sweep[i].timing.wall.p95,
                        sweep[i].timing.cpu.p50, sweep[i].timing.cpu.p95, sweep[i].timing.cpu.p99);
        std::printf("\n  ],\n  \"save_ms\": %.1f,\n  \"load_ms\": %.1f,\n  \"file_mib\": %.1f", saveMs, loadMs, fileMiB);
        if (!saveError.empty())
            std::printf(",\n  \"save_load_error\": \"%s\"", saveError.c_str());
        std::printf("\n}\n");
        return saveError.empty() ? 0 : 1;
    }

    std::printf("\nVector store benchmark (FAISS %s, int8 kernel: %s, %u cores)\n", faissVersion().c_str(),
                scanKernel(), cores);
    std::printf("load average before / after: %s / %s\n\n", loadBefore.c_str(), loadAfter.c_str());
    std::printf("  items x dim               %zu x %d\n", store.size(), d);
    std::printf("  index                     %s (exact up to %zu items)\n", indexKindName(store.kind()),
                params.exactLimit);
    std::printf("  bulk build (rebuild)      %.0f ms (%d threads)\n", buildMs, o.threads);
    std::printf("  add+remove, 64 items      %.2f ms per batch\n", addRemoveMsPerBatch);
    std::printf("  store memory              %.0f MiB (RSS grew %.0f MiB; peak RSS of the whole run %.0f MiB)\n",
                storeMiB, rssAfter - rssBefore, peakMiB);
    std::printf("  recall@%zu vs exact        %.4f (%zu queries; exact flat search costs %.0f ms of one core)\n", o.k,
                recall, o.recallQueries, exactRefMs);
    std::printf("  batch search              %.2f ms CPU per query (one core's work), %.2f ms wall per query\n",
                cpuMsPerQuery, batchWallMs);
    std::printf("\n  search, k=%zu, %d thread%s   p50 %7.2f ms   p95 %7.2f ms   p99 %7.2f ms   wall (max %.2f, %zu queries)\n",
                o.k, o.queryThreads, o.queryThreads == 1 ? " " : "s", main.wall.p50, main.wall.p95, main.wall.p99,
                main.wall.max, o.queries);
    if (cpuMeaningful)
        std::printf("                            p50 %7.2f ms   p95 %7.2f ms   p99 %7.2f ms   CPU time: a dedicated core\n",
                    main.cpu.p50, main.cpu.p95, main.cpu.p99);
    if (o.compare)
        std::printf("  search, k=%zu, %d thread%s   p50 %7.2f ms   p95 %7.2f ms   p99 %7.2f ms   wall\n", o.k,
                    otherThreads, otherThreads == 1 ? " " : "s", other.wall.p50, other.wall.p95, other.wall.p99);
    for (const auto &f : filters) {
        std::printf("  filtered: %-22s p50 %7.2f ms   p95 %7.2f ms   p99 %7.2f ms", f.name.c_str(), f.latency.p50,
                    f.latency.p95, f.latency.p99);
        if (f.buildMs > 0)
            std::printf("   filter built in %.1f ms", f.buildMs);
        if (f.recall >= 0)
            std::printf("   recall@%zu %.4f", o.k, f.recall);
        std::printf("\n");
    }
    if (!sweep.empty()) {
        std::printf("\n  exact (flat) search by size, k=%zu, one thread (wall p50/p95; CPU p50/p95):\n", o.k);
        for (const auto &s : sweep)
            std::printf("    %8zu items          wall %7.2f / %7.2f ms   CPU %7.2f / %7.2f ms\n", s.size,
                        s.timing.wall.p50, s.timing.wall.p95, s.timing.cpu.p50, s.timing.cpu.p95);
    }
    if (o.saveLoad) {
        if (saveError.empty())
            std::printf("\n  save (fsync+rename)       %.0f ms, %.0f MiB file; load (checksum, codes) %.0f ms\n", saveMs,
                        fileMiB, loadMs);
        else
            std::printf("\n  save/load failed: %s\n", saveError.c_str());
    }
    return saveError.empty() ? 0 : 1;
}
