// unisearch-bench: the speed and memory numbers of docs/performance.md.
//   unisearch-bench model [--threads N] [--json] ...   engine: images, text queries, ITM
//   unisearch-bench index ...                          vector store (full build only)
//   unisearch-bench video ...                          FFmpeg frame sampling (full build only)
#include "bench_model.h"
#include "bench_train.h"
#include "model/runtime.h"
#ifdef UNISEARCH_BENCH_CORE
#include "bench_duplicates.h"
#include "bench_index.h"
#include "bench_ocr.h"
#include "bench_pipeline.h"
#include "bench_timeline.h"
#include "bench_video.h"
#include "bench_waits.h"
#endif

#include <cstdio>
#include <cstring>
#include <string>

namespace {
void usage(FILE *out)
{
    std::fprintf(out,
                 "usage: unisearch-bench SUITE [options]\n"
                 "suites:\n"
                 "  model   seconds per image (batch 1 and 8), per text query, per ITM re-rank of 16,\n"
                 "          float32 and bfloat16, full-size UniAdapter with random weights\n"
                 "  train   seconds per training step (batch 8) and peak memory, query and full mode,\n"
                 "          float32/bfloat16, with and without activation checkpointing\n"
#ifdef UNISEARCH_BENCH_CORE
                 "  index   vector store over 1,000,000 items: build, recall@10, latency\n"
                 "  video   FFmpeg frame sampling of a generated 10-minute 1080p clip\n"
                 "  pipeline indexing 12-MP JPEGs against model-only speed, whole-search latency over\n"
                 "          1,000,000 items, memory while indexing 10,000 photos\n"
                 "  duplicates byte and near copies over 100,000 generated items: time and peak memory\n"
                 "  ocr     text in pictures: ms per photo and words read back at several downscale edges\n"
                 "          (--fusion: keyword/semantic fusion, RRF against a fitted mix, synthetic)\n"
                 "  timeline the window's first view over 100,000 generated items: scroll steps, memory\n"
                 "  waits   what a person waits for: cold CLI status, search, search --rerank and ask with\n"
                 "          a full-size model (wall time, peak memory), indexing per photo\n"
#endif
                 "run 'unisearch-bench SUITE --help' for a suite's options\n");
}
} // namespace

// Read from the .preinit_array (model/runtime.h): the benchmarks run the model, so it starts again at once
// with OMP_WAIT_POLICY=PASSIVE when that is not set.
extern "C" bool unisearch_openmp_reexec_wanted(int, char **)
{
    return true;
}

int main(int argc, char **argv)
{
    unisearch::model::ensureThreadEnvironment(argv);
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string suite = argv[1];
    if (suite == "model")
        return runModelBench(argc - 1, argv + 1);
    if (suite == "train")
        return runTrainBench(argc - 1, argv + 1);
#ifdef UNISEARCH_BENCH_CORE
    if (suite == "index")
        return runIndexBench(argc - 1, argv + 1);
    if (suite == "video")
        return runVideoBench(argc - 1, argv + 1);
    if (suite == "pipeline")
        return runPipelineBench(argc - 1, argv + 1);
    if (suite == "duplicates")
        return runDuplicatesBench(argc - 1, argv + 1);
    if (suite == "ocr")
        return runOcrBench(argc - 1, argv + 1);
    if (suite == "timeline")
        return runTimelineBench(argc - 1, argv + 1);
    if (suite == "waits")
        return runWaitsBench(argc - 1, argv + 1);
#endif
    std::fprintf(stderr, "unisearch-bench: unknown suite '%s'\n", suite.c_str());
    usage(stderr);
    return 2;
}
