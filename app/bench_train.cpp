// unisearch-bench train [--size full|fixture] [--steps N] [--threads N] [--json]
// Seconds per training step at batch 8 (the first step is a warm-up and not counted) for
// retrieval in query mode (image features cached) and full mode, float32 and bfloat16
// autocast, on random weights; peak resident memory of the process after each case; and
// query adaptation of 200 labelled items for 10 epochs (the 2-minute target).
#include "bench_train.h"

#include "model/architecture.h"
#include "model/runtime.h"
#include "model/trainer.h"

#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

using namespace unisearch::model;

namespace {

double peakRssMiB()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
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
    std::string size = "full";
    int steps = 3, threads = 0;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--size" && i + 1 < argc)
            size = argv[++i];
        else if (a == "--steps" && i + 1 < argc)
            steps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--threads" && i + 1 < argc)
            threads = std::atoi(argv[++i]);
        else if (a == "--json")
            json = true;
        else {
            std::fprintf(stderr, "usage: unisearch-bench train [--size full|fixture] [--steps N] [--threads N] [--json]\n");
            return 2;
        }
    }
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
        for (bool bf16 : {false, true}) {
            TrainParams p;
            p.mode = std::string(mode) == "full" ? TrainMode::Full : TrainMode::Query;
            p.epochs = steps + 1;
            p.batchSize = 8;
            p.bfloat16 = bf16;
            auto trainer = Trainer::random(arch, p);
            const RetrievalData data = makeData(arch, 8, p.mode == TrainMode::Query);
            std::vector<double> at;
            const auto start = std::chrono::steady_clock::now();
            trainer->train(data, [&](const TrainProgress &) {
                at.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
                return true;
            });
            const double perStep = (at.back() - at.front()) / double(at.size() - 1);
            nlohmann::json c = {{"mode", mode}, {"precision", bf16 ? "bfloat16" : "float32"},
                                {"seconds_per_step", perStep}, {"peak_rss_mib", peakRssMiB()}};
            out["cases"].push_back(c);
            if (!json)
                std::printf("%-5s %-8s  %8.3f s/step  (peak RSS %.0f MiB)\n", mode, bf16 ? "bfloat16" : "float32", perStep,
                            peakRssMiB());
            std::fflush(stdout);
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
