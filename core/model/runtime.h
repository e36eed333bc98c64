#pragma once
// Process-wide LibTorch settings, behind a torch-free header.
#include <string>
#include <vector>

namespace unisearch::model {

// LibTorch lives in a module opened on first use (backend_p.h); these load it, except
// setThreads and threads before it is loaded (the count is kept and applied on load) and
// cudaAvailable in a CPU-only build.
std::string libtorchVersion();
// Sets LibTorch's intra-op threads; n <= 0 means "number of cores".
void setThreads(int n);
int threads();
bool cudaAvailable();
// Starts loading LibTorch on a thread of its own, so that a command that will need the
// model overlaps the 0.6 s load with its other start-up work (catalog, store, tokenizer).
// Returns at once; errors are reported by the first call that needs the model. The
// program must call finishPreload() before it exits (returns from main or calls exit()).
void preloadModelRuntime();
// Waits for a load preloadModelRuntime() started, if any.
void finishPreload();
// Ends the process with `code` without the teardown at exit (static destructors, atexit
// handlers) once LibTorch was loaded: unregistering its thousands of operators took
// 0.05 s of every command-line search. Flushes stdio first. For main(), after all of the
// program's own objects are gone; returns, doing nothing, when LibTorch was never loaded
// and in sanitizer builds (LeakSanitizer's check runs at exit).
void exitSkippingTeardown(int code);
// Seeds LibTorch's generators (random weights for benchmarks and tests are reproducible).
void manualSeed(unsigned long long seed);
// LibTorch's OpenMP threads spin while waiting (libgomp's default: up to 300,000 spins per
// wait); on a laptop's few cores they steal time from the threads doing the work (a text
// query measured 5-7x slower). libgomp reads OMP_WAIT_POLICY in its constructor, before
// main(), and the executables load it at start (FAISS, Tesseract and Qt need it), so the
// variable must be in the environment the process starts with. An executable that defines
// `extern "C" bool unisearch_openmp_reexec_wanted(int argc, char **argv)` returning true
// for this run starts again with it from its .preinit_array, before any library is
// initialised (runtime.cpp; about 0.05 s). Where that did not happen and the program will
// run the model (willRunModel), this sets OMP_WAIT_POLICY=PASSIVE and re-executes the
// program once (Linux; 0.3 s: a whole start). UNISEARCH_NO_REEXEC=1 or your own
// OMP_WAIT_POLICY opt out. The restart also sets GOMP_SPINCOUNT=5000 unless it is set
// (libgomp then spins about 50 us before it sleeps; runtime.cpp says why); the variables it
// adds are threadRestartVariables(). Returns normally when nothing needed doing. It first calls
// chooseBlasKernels() and shortenBlasThreadWait(), and it tells glibc's allocator to keep
// freed memory in the heap (no mmap/trim per tensor; see runtime.cpp) unless
// MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ are set.
void ensureThreadEnvironment(char **argv, bool willRunModel = true);
// "NAME=value" of each variable the restart above adds (GOMP_SPINCOUNT only where the
// environment had none): a program that was restarted drops them for its own children.
std::vector<std::string> threadRestartVariables();
// The kernels of the BLAS library the process uses, as OpenBLAS names them ("SkylakeX",
// "Haswell", "Prescott"); empty where the BLAS is not OpenBLAS.
std::string blasKernels();
// What the BLAS library is, for --version: "OpenBLAS 0.3.21, SkylakeX kernels"; empty
// when unknown.
std::string blasDescription();
// The OpenBLAS kernels to switch to when OpenBLAS chose `current` on a CPU with these
// features: a kernel set older than AVX2 ("Prescott", "Core2", ...: what OpenBLAS falls
// back to for a CPU model newer than it knows) on a CPU with AVX2 or AVX-512 gets
// "Haswell", "SkylakeX" or "Cooperlake" (AVX-512 with BF16). Empty: keep `current`.
std::string betterBlasKernels(const std::string &current, bool avx2, bool avx512, bool avx512bf16);
// Where OpenBLAS fell back to generic kernels on this CPU (betterBlasKernels on CPUID's
// real features, not $UNISEARCH_CPU_FEATURES), switches it to the better ones. Must run
// before any BLAS call and before other threads use BLAS (ensureThreadEnvironment calls it
// first thing). Does nothing when OPENBLAS_CORETYPE is set or the BLAS is not OpenBLAS.
// Returns whether the kernels changed.
bool chooseBlasKernels();
// Makes OpenBLAS's own threads (its pthread build) sleep as soon as a matrix product is
// done instead of spinning on sched_yield() for about 0.1 s, which on a few cores takes
// time from LibTorch's work between products (runtime.cpp has the numbers). Must run before
// other threads use BLAS (ensureThreadEnvironment calls it after chooseBlasKernels). Does
// nothing when OPENBLAS_THREAD_TIMEOUT or GOTO_THREAD_TIMEOUT is set, or the BLAS is not
// OpenBLAS with threads of its own. Returns whether the wait is now the shortest.
bool shortenBlasThreadWait();
// OpenBLAS's wait before its idle threads sleep, as the power of two of CPU cycles that
// OPENBLAS_THREAD_TIMEOUT takes (0: its default, 2^28), or -1 where the BLAS is not OpenBLAS.
int blasThreadTimeout();
// What the CPU computes natively that matters for the choice of precision.
struct CpuFeatures {
    bool avx512bf16 = false; // AVX512_BF16 (Zen 4, Cooper Lake, Sapphire Rapids)
    bool amxbf16 = false;    // AMX-BF16 tiles (Sapphire Rapids and later)
    bool intel = false;      // made by Intel
    // Whether bfloat16 matrix products run faster than float32 here: with AMX, or with
    // AVX512_BF16 on AMD (Zen 4: a full-size image embedding 0.28 s against 0.77 s). Intel's
    // AVX512_BF16 without AMX (Cooper Lake, or a Sapphire/Emerald Rapids whose hypervisor
    // hides AMX) does no more multiply-adds per cycle than its float32 FMA units and adds
    // conversions: on an Emerald Rapids, an image embedding took 0.83-0.95 s in bfloat16
    // against 0.56-0.62 s in float32, an ITM re-rank of 16 0.44 s against 0.29 s.
    bool bfloat16() const { return amxbf16 || (avx512bf16 && !intel); }
    // Whether bfloat16 weights speed up products that wait on memory rather than on
    // arithmetic, such as the answer decoder's beam steps (3 rows times every weight): with
    // AVX512_BF16, oneDNN reads half the bytes. On the Emerald Rapids above a [3,768]x[768,3072]
    // product took 0.25 ms in bfloat16 against 0.73 ms in float32, the 30,524-word output
    // table 2.2 ms against 10.5 ms (RunnerOptions::bfloat16Parts).
    bool bfloat16Decoder() const { return avx512bf16 || amxbf16; }
};
// This CPU's features, or those that $UNISEARCH_CPU_FEATURES names (for tests and
// diagnosis): "none", or a comma-separated list of "avx512bf16", "amx" and "intel" (the
// vendor). An unknown word in the variable is ignored (with the rest taken as written).
CpuFeatures detectCpuFeatures();
// Whether this CPU runs bfloat16 matrix products faster than float32 (AMX, or AVX-512 BF16
// on AMD, through oneDNN): detectCpuFeatures().bfloat16(), so the override above applies.
bool cpuHasBfloat16();

} // namespace unisearch::model
