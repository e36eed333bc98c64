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
// libgomp reads OMP_WAIT_POLICY when it loads, before main(), so an entry point calls
// this first: when the variable is unset it sets OMP_WAIT_POLICY=PASSIVE and re-executes
// the program once (Linux). Returns normally when nothing needed doing or exec failed.
// It also tells glibc's allocator to keep freed memory in the heap (no mmap/trim per
// tensor; see runtime.cpp) unless MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ are set.
void ensureThreadEnvironment(char **argv);
// Whether this CPU runs bfloat16 matrix products natively (AVX-512 BF16 / AMX through oneDNN).
bool cpuHasBfloat16();

} // namespace unisearch::model
