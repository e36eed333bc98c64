#pragma once
// Process-wide LibTorch settings, behind a torch-free header.
#include <string>

namespace unisearch::model {

std::string libtorchVersion();
// Sets LibTorch's intra-op threads; n <= 0 means "number of cores".
void setThreads(int n);
int threads();
bool cudaAvailable();
// Seeds LibTorch's generators (random weights for benchmarks and tests are reproducible).
void manualSeed(unsigned long long seed);
// LibTorch's OpenMP threads and OpenBLAS's own pool both spin while waiting; on a
// laptop's few cores they steal each other's time (a text query measured 5-7x slower).
// libgomp reads OMP_WAIT_POLICY when it loads, before main(). An executable that links
// this library sets OMP_WAIT_POLICY=PASSIVE (when unset) from its .preinit_array, which
// runs before any shared library's constructor, so no re-execution is needed; only where
// that did not run (the library linked into a shared object) does this set the variable
// and re-execute the program once (Linux). Returns normally when nothing needed doing.
// It also tells glibc's allocator to keep freed memory in the heap (no mmap/trim per
// tensor; see runtime.cpp) unless MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ are set.
void ensureThreadEnvironment(char **argv);
// What the CPU computes natively that matters for the choice of precision.
struct CpuFeatures {
    bool avx512bf16 = false; // AVX512_BF16 (Zen 4, Cooper Lake, Sapphire Rapids)
    bool amxbf16 = false;    // AMX-BF16 tiles (Sapphire Rapids and later)
    bool bfloat16() const { return avx512bf16 || amxbf16; }
};
// This CPU's features, or those that $UNISEARCH_CPU_FEATURES names (for tests and
// diagnosis): "none", or a comma-separated list of "avx512bf16" and "amx". An unknown word
// in the variable is ignored (with the rest taken as written).
CpuFeatures detectCpuFeatures();
// Whether this CPU runs bfloat16 matrix products natively (AVX-512 BF16 / AMX through
// oneDNN): detectCpuFeatures().bfloat16(), so the override above applies.
bool cpuHasBfloat16();

} // namespace unisearch::model
