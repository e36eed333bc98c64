// `unisearch-bench model`: seconds per image (batch 1 and 8), per text query, per ITM
// of one image against 16 texts, per image re-ranked (ITM of a query against 4 images'
// kept tokens, as search --rerank batches them) and per generated answer (from a photo's kept tokens) for the
// full-size UniAdapter (ViT-B/16 at 384, BERT-base) with random weights, in float32,
// bfloat16, and float32 with a bfloat16 answer decoder (what "auto" runs on a CPU where
// float32 is faster but bfloat16 weights help the decoder). docs/performance.md records the results.
#include "bench_model.h"
#include "benchsupport.h"

#include "model/architecture.h"
#include "model/bundle.h"
#include "model/modelrunner.h"
#include "model/runtime.h"
#include "model/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#ifndef UNISEARCH_VOCAB
#define UNISEARCH_VOCAB "resources/vocab/bert-base-uncased.txt"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using unisearch::model::Architecture;
using unisearch::model::ModelRunner;

struct BenchOptions {
    int threads = 0;
    int reps = 3;
    int imageSize = 384;
    bool json = false;
    bool float32 = true;
    bool bfloat16 = true;
    bool mixed = true; // float32 with a bfloat16 answer decoder (not with --image-only: its images are float32's)
    bool imageOnly = false; // skip the text and ITM columns (for profiling the vision tower)
    bool answerOnly = false; // only the answer column (for profiling the question encoder and decoder)
    bool itmOnly = false;    // only the re-rank ITM column (for profiling the text encoder's cross-attention)
    std::string bundle;      // an imported model's folder instead of random weights (its own size)
    std::string device = "cpu";
};

// Median wall time of `reps` runs of fn, after one warm-up run.
double medianSeconds(int reps, const std::function<void()> &fn)
{
    fn();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto start = Clock::now();
        fn();
        t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

double cosine(const std::vector<float> &a, const std::vector<float> &b)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        ab += double(a[i]) * b[i];
        aa += double(a[i]) * a[i];
        bb += double(b[i]) * b[i];
    }
    return ab / std::sqrt(aa * bb);
}

struct Row {
    std::string precision;
    double image1 = 0, image8 = 0, text = 0, itm16 = 0, itm16WithImage = 0, rerankItm = 0;
    double answer = 0; // a generated answer (3 beams, 10 tokens) from a photo's kept tokens
    double firstToken = 0; // the same with one decoder step: mostly the question encoder
};

const std::vector<std::string> kQueries = {
    "a dog running on the beach",          "my daughter blowing out birthday candles",
    "red car parked in front of a house",  "two people riding bikes at sunset",
    "snow covered mountains and a lake",   "a cat sleeping on the red sofa",
    "grandma's kitchen at christmas",      "fireworks over the city at night",
};

// Answering a question about a photo whose tokens are kept (the window encodes a shown
// photo while a person types): the question encoder, then beam search over the decoder.
void measureAnswer(ModelRunner &runner, const std::vector<const float *> &image, const std::vector<int64_t> &question,
                   int reps, Row &r)
{
    const auto tokens = runner.questionTokens(image);
    ModelRunner::GenerateParams beam;
    beam.numBeams = 3; // the ask command's defaults
    beam.maxLength = 10;
    r.answer = medianSeconds(reps, [&] { runner.generateTokens(tokens, question, beam); });
    beam.maxLength = 2;
    r.firstToken = medianSeconds(reps, [&] { runner.generateTokens(tokens, question, beam); });
}

Row measure(ModelRunner &runner, const std::vector<std::vector<float>> &images,
            const std::vector<std::vector<int64_t>> &queries, const BenchOptions &o, const char *precision)
{
    Row r;
    r.precision = precision;
    std::vector<const float *> one{images[0].data()};
    std::vector<const float *> eight;
    for (int i = 0; i < 8; ++i)
        eight.push_back(images[i].data());
    if (o.answerOnly) {
        if (runner.hasVqa())
            measureAnswer(runner, one, queries[1], o.reps, r);
        return r;
    }
    // Re-ranking (engine::Searcher) matches one query against the kept tokens of a batch of
    // 4 images (SearchParams::rerankBatch); per image, the vision tower not included.
    auto measureRerankItm = [&] {
        const auto four = runner.imageTokensBatch({eight.begin(), eight.begin() + 4});
        r.rerankItm = medianSeconds(o.reps, [&] { runner.itmLogitsTokens(four, queries[0]); }) / 4.0;
    };
    if (o.itmOnly) {
        if (runner.hasRetrieval())
            measureRerankItm();
        return r;
    }
    r.image1 = medianSeconds(o.reps, [&] { runner.imageFeatures(one); });
    r.image8 = medianSeconds(std::max(1, o.reps - 1), [&] { runner.imageFeatures(eight); }) / 8.0;
    if (o.imageOnly)
        return r;
    if (!runner.hasRetrieval()) { // an imported VQA model: no text features, no ITM head
        measureAnswer(runner, one, queries[1], o.reps, r);
        return r;
    }
    size_t q = 0;
    r.text = medianSeconds(o.reps * 4, [&] { runner.textFeatures({queries[q++ % queries.size()]}); });
    // Re-ranking scores one query against the top 16 results: 16 (image tokens, text)
    // pairs through the text encoder with cross-attention. The facade takes pixels, so the
    // image encoding of one item is included and subtracted to give the ITM stage alone.
    std::vector<std::vector<int64_t>> sixteen(16, queries[0]);
    r.itm16WithImage = medianSeconds(o.reps, [&] { runner.itmProbability(one, sixteen); });
    r.itm16 = std::max(0.0, r.itm16WithImage - r.image1);
    measureRerankItm();
    if (runner.hasVqa())
        measureAnswer(runner, one, queries[1], o.reps, r);
    return r;
}

void printUsage()
{
    std::printf("usage: unisearch-bench model [--threads N] [--reps N] [--device cpu|cuda] [--image-size S]\n"
                "                             [--no-float32] [--no-bfloat16] [--no-mixed]\n"
                "                             [--image-only] [--answer-only] [--itm-only] [--bundle DIR] [--json]\n");
}

} // namespace

int runModelBench(int argc, char **argv)
{
    BenchOptions o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string { return unisearch::bench::optionValue("model", argc, argv, i); };
        if (a == "--threads") o.threads = std::stoi(next());
        else if (a == "--reps") o.reps = std::max(1, std::stoi(next()));
        else if (a == "--device") o.device = next();
        else if (a == "--image-size") o.imageSize = std::stoi(next());
        else if (a == "--no-float32") o.float32 = false;
        else if (a == "--no-bfloat16") o.bfloat16 = false;
        else if (a == "--no-mixed") o.mixed = false;
        else if (a == "--image-only") o.imageOnly = true;
        else if (a == "--answer-only") o.answerOnly = true;
        else if (a == "--itm-only") o.itmOnly = true;
        else if (a == "--bundle") o.bundle = next();
        else if (a == "--json") o.json = true;
        else if (a == "--help" || a == "-h") { printUsage(); return 0; }
        else { printUsage(); return 2; }
    }
    unisearch::model::setThreads(o.threads);

    Architecture arch; // BLIP-base defaults: ViT-B/16, BERT-base, adapters 512, embed 256
    arch.vision.imageSize = o.imageSize;
    std::string weights; // --bundle: that model's weights, mapped as the programs map them
    if (!o.bundle.empty()) {
        try {
            const unisearch::model::BundleInfo b = unisearch::model::readBundle(o.bundle);
            arch = b.architecture;
            weights = b.weightsPath;
        } catch (const std::exception &e) {
            std::fprintf(stderr, "unisearch-bench model: %s\n", e.what());
            return 1;
        }
    }
    // The same random weights for each precision (cast once), or the bundle's.
    auto makeRunner = [&](ModelRunner::Options options) {
        if (!weights.empty())
            return ModelRunner::load(arch, weights, options);
        unisearch::model::manualSeed(1);
        return ModelRunner::random(arch, options);
    };

    std::mt19937 rng(7);
    std::normal_distribution<float> pixel(0.f, 1.f);
    const size_t n = size_t(3) * arch.vision.imageSize * arch.vision.imageSize;
    std::vector<std::vector<float>> images(8, std::vector<float>(n));
    for (auto &img : images)
        for (auto &v : img)
            v = pixel(rng);

    std::vector<std::vector<int64_t>> queries;
    try {
        const auto tok = unisearch::model::Tokenizer::fromFile(UNISEARCH_VOCAB);
        for (const auto &q : kQueries)
            queries.push_back(tok.encode(q));
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unisearch-bench model: %s\n", e.what());
        return 1;
    }

    std::vector<Row> rows;
    std::vector<float> f32Feature, bf16Feature;
    double minCos = 1.0;
    try {
        std::vector<const float *> eight;
        for (const auto &img : images)
            eight.push_back(img.data());
        std::vector<std::vector<float>> f32Features;
        if (o.float32) {
            auto runner = makeRunner({o.device, false, 0});
            rows.push_back(measure(*runner, images, queries, o, "float32"));
            if (!o.answerOnly && !o.itmOnly)
                f32Features = runner->imageFeatures(eight);
        }
        if (o.mixed && !o.imageOnly && !o.itmOnly) {
            ModelRunner::Options mixed{o.device, false, 0};
            mixed.bfloat16Parts = ModelRunner::Decoder;
            auto runner = makeRunner(mixed);
            rows.push_back(measure(*runner, images, queries, o, "f32+bf16 decoder"));
        }
        if (o.bfloat16) {
            auto runner = makeRunner({o.device, true, 0});
            rows.push_back(measure(*runner, images, queries, o, "bfloat16"));
            if (!f32Features.empty()) {
                const auto bf = runner->imageFeatures(eight);
                for (size_t i = 0; i < bf.size(); ++i)
                    minCos = std::min(minCos, cosine(bf[i], f32Features[i]));
            }
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "unisearch-bench model: %s\n", e.what());
        return 1;
    }

    const int threads = unisearch::model::threads();
    if (o.json) {
        nlohmann::json j;
        j["threads"] = threads;
        j["device"] = o.device;
        j["image_size"] = arch.vision.imageSize;
        j["libtorch"] = unisearch::model::libtorchVersion();
        j["cpu_bfloat16"] = unisearch::model::cpuHasBfloat16();
        for (const auto &r : rows)
            j["results"].push_back({{"precision", r.precision},
                                    {"image_batch1_s", r.image1},
                                    {"image_batch8_s_per_image", r.image8},
                                    {"text_query_s", r.text},
                                    {"itm16_s", r.itm16},
                                    {"itm16_with_image_encoding_s", r.itm16WithImage},
                                    {"rerank_itm_s_per_image", r.rerankItm},
                                    {"answer_from_tokens_s", r.answer},
                                    {"answer_first_token_s", r.firstToken}});
        if (o.float32 && o.bfloat16 && !o.answerOnly && !o.itmOnly)
            j["bfloat16_min_cosine_to_float32"] = minCos;
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("UniAdapter full size (ViT-B/16 @ %d, BERT-base), random weights, device %s, %d threads, LibTorch %s\n",
                arch.vision.imageSize, o.device.c_str(), threads, unisearch::model::libtorchVersion().c_str());
    std::printf("%-16s | %12s | %16s | %12s | %10s | %18s | %16s | %9s | %14s\n", "precision", "image b=1 s",
                "image b=8 s/img", "text query s", "ITM 16 s", "ITM 16 + image s", "re-rank ITM s/img", "answer s",
                "first token s");
    for (const auto &r : rows)
        std::printf("%-16s | %12.3f | %16.3f | %12.4f | %10.3f | %18.3f | %16.3f | %9.3f | %14.3f\n", r.precision.c_str(),
                    r.image1, r.image8, r.text, r.itm16, r.itm16WithImage, r.rerankItm, r.answer, r.firstToken);
    std::printf("ITM 16: one image against 16 texts; re-rank ITM: one query against 4 images' kept tokens, per image\n");
    std::printf("answer: 3 beams, 10 tokens, from a photo's kept tokens; first token: the same, one decoder step\n");
    if (o.float32 && o.bfloat16 && !o.answerOnly && !o.itmOnly)
        std::printf("bfloat16 image features vs float32: min cosine %.5f over 8 images\n", minCos);
    return 0;
}
