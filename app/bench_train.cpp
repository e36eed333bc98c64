// unisearch-bench train [--size full|fixture] [--steps N] [--threads N] [--checkpoint both|on|off] [--json]
// Seconds per training step at batch 8 (the first step is a warm-up and not counted) for
// retrieval in query mode (image features cached) and full mode, float32 and bfloat16
// autocast, full mode with and without activation checkpointing (query mode never
// checkpoints), on random weights; the peak
// resident memory of each case; and query adaptation of 200 labelled items for 10 epochs
// (the 2-minute target; default settings, so checkpointing on).
#include "bench_train.h"

#include "model/architecture.h"
#include "model/runtime.h"
#include "model/trainer.h"

#include <nlohmann/json.hpp>

#include <malloc.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace unisearch::model;

namespace {

double peakRssMiB()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

// Hands the heap's free memory back to the kernel and restarts the kernel's peak-RSS
// counter (VmHWM), so that caseRssMiB() measures one case. False when the kernel refuses.
bool resetPeakRss()
{
    malloc_trim(0);
    FILE *f = std::fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    const bool ok = std::fputs("5", f) >= 0;
    return std::fclose(f) == 0 && ok;
}

// Peak RSS since resetPeakRss() (VmHWM); the process's peak when that failed.
double caseRssMiB(bool reset)
{
    if (reset) {
        if (FILE *f = std::fopen("/proc/self/status", "r")) {
            char line[256];
            long kib = -1;
            while (std::fgets(line, sizeof line, f))
                if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1)
                    break;
            std::fclose(f);
            if (kib >= 0)
                return double(kib) / 1024.0;
        }
    }
    return peakRssMiB();
}

RetrievalData makeData(const Architecture &a, int items, bool features)
{
    std::mt19937 rng(1);
    std::normal_distribution<float> n(0.f, 1.f);
    std::uniform_int_distribution<int64_t> word(1000, 29000);
    RetrievalData d;
    for (int i = 0; i < items; ++i) {
        if (features) {
            std::vector<float> f(static_cast<size_t>(a.embedDim));
            double norm = 0;
            for (auto &v : f) {
                v = n(rng);
                norm += double(v) * v;
            }
            for (auto &v : f)
                v = float(v / std::sqrt(norm));
            d.imageFeatures.push_back(std::move(f));
        } else {
            Pixels p(static_cast<size_t>(3 * a.vision.imageSize * a.vision.imageSize));
            for (auto &v : p)
                v = n(rng);
            d.images.push_back(std::move(p));
        }
        std::vector<int64_t> ids{101};
        for (int t = 0; t < 12; ++t)
            ids.push_back(word(rng));
        ids.push_back(102);
        d.examples.push_back({ids, i});
    }
    return d;
}

} // namespace

int runTrainBench(int argc, char **argv)
{
    std::string size = "full", checkpoint = "both";
    int steps = 3, threads = 0;
    bool json = false;
    auto usage = [](FILE *out) {
        std::fprintf(out,
                     "usage: unisearch-bench train [--size full|fixture] [--steps N] [--threads N]\n"
                     "                             [--checkpoint both|on|off] [--json]\n"
                     "  seconds per retrieval training step at batch 8 (after one warm-up step) and peak\n"
                     "  resident memory per case: query and full mode, float32 and bfloat16 autocast; full\n"
                     "  mode with activation checkpointing (on), without (off) or both (default); then\n"
                     "  query adaptation of 200 items x 10 epochs. --steps: timed steps per case (default 3).\n");
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--size" && i + 1 < argc)
            size = argv[++i];
        else if (a == "--steps" && i + 1 < argc)
            steps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--threads" && i + 1 < argc)
            threads = std::atoi(argv[++i]);
        else if (a == "--checkpoint" && i + 1 < argc && (std::string(argv[i + 1]) == "both"
                                                         || std::string(argv[i + 1]) == "on"
                                                         || std::string(argv[i + 1]) == "off"))
            checkpoint = argv[++i];
        else if (a == "--json")
            json = true;
        else if (a == "--help" || a == "-h") {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    std::vector<bool> checkpointCases;
    if (checkpoint != "off")
        checkpointCases.push_back(true);
    if (checkpoint != "on")
        checkpointCases.push_back(false);
    if (threads > 0)
        setThreads(threads);
    Architecture arch; // full size: BLIP-base with UniAdapter, 384 px
    if (size == "fixture") {
        arch.vision.imageSize = 32;
        arch.vision.width = 64;
        arch.vision.depth = 2;
        arch.vision.heads = 4;
        arch.text.hidden = 64;
        arch.text.layers = 2;
        arch.text.heads = 4;
        arch.text.intermediate = 128;
        arch.text.maxPositions = 64;
        arch.embedDim = 32;
        arch.adapter.bottleneck = 16;
        arch.adapter.videoKvBottleneck = 8;
    }
    nlohmann::json out = {{"size", size}, {"threads", unisearch::model::threads()}, {"batch", 8}, {"cases", nlohmann::json::array()}};
    for (const char *mode : {"query", "full"}) {
        const bool full = std::string(mode) == "full";
        for (bool bf16 : {false, true}) {
            for (bool ckpt : full ? checkpointCases : std::vector<bool>{false}) {
                const bool reset = resetPeakRss();
                std::vector<double> at; // seconds at the end of each step
                {
                    TrainParams p;
                    p.mode = full ? TrainMode::Full : TrainMode::Query;
                    p.epochs = steps + 1;
                    p.batchSize = 8;
                    p.bfloat16 = bf16;
                    p.checkpointActivations = ckpt;
                    auto trainer = Trainer::random(arch, p);
                    const RetrievalData data = makeData(arch, 8, p.mode == TrainMode::Query);
                    const auto start = std::chrono::steady_clock::now();
                    trainer->train(data, [&](const TrainProgress &) {
                        at.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
                        return true;
                    });
                } // the trainer is gone before its memory is measured
                const double perStep = (at.back() - at.front()) / double(at.size() - 1);
                const double rss = caseRssMiB(reset);
                nlohmann::json c = {{"mode", mode}, {"precision", bf16 ? "bfloat16" : "float32"},
                                    {"checkpoint", ckpt}, {"seconds_per_step", perStep},
                                    {"peak_rss_mib", rss}, {"peak_rss_of", reset ? "case" : "process"}};
                out["cases"].push_back(c);
                if (!json)
                    std::printf("%-5s %-8s %-13s %8.3f s/step  (peak RSS %.0f MiB%s)\n", mode,
                                bf16 ? "bfloat16" : "float32", !full ? "" : ckpt ? "checkpoint" : "no checkpoint",
                                perStep, rss, reset ? "" : ", process so far");
                std::fflush(stdout);
            }
        }
    }
    {
        // Query adaptation of 200 labelled items, 10 epochs, features cached from the index.
        TrainParams p;
        p.mode = TrainMode::Query;
        p.epochs = 10;
        auto trainer = Trainer::random(arch, p);
        const RetrievalData data = makeData(arch, 200, true);
        const auto start = std::chrono::steady_clock::now();
        const TrainResult r = trainer->train(data);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        out["query_200_items_10_epochs"] = {{"seconds", seconds}, {"steps", r.steps}};
        if (!json)
            std::printf("query adaptation, 200 items x 10 epochs (%d steps): %.1f s\n", r.steps, seconds);
    }
    if (json)
        std::printf("%s\n", out.dump(2).c_str());
    return 0;
}
