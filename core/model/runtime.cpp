#include "runtime.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>
#include <dlfcn.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace unisearch::model {

namespace {
std::optional<CpuFeatures> cpuFeaturesFromEnvironment()
{
    const char *env = std::getenv("UNISEARCH_CPU_FEATURES");
    if (!env || !*env)
        return std::nullopt;
    CpuFeatures f;
    std::string_view rest(env);
    while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view word = rest.substr(0, comma);
        if (word == "avx512bf16")
            f.avx512bf16 = true;
        else if (word == "amx" || word == "amxbf16")
            f.amxbf16 = true;
        else if (word == "intel")
            f.intel = true;
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    return f;
}
} // namespace

CpuFeatures detectCpuFeatures()
{
    if (const std::optional<CpuFeatures> f = cpuFeaturesFromEnvironment())
        return *f;
    CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
    f.intel = __builtin_cpu_is("intel");
    // GCC 12's __builtin_cpu_supports does not know AMX: CPUID leaf 7, EDX bit 22 (AMX-BF16).
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        f.amxbf16 = (edx >> 22) & 1u;
#endif
    return f;
}

bool cpuHasBfloat16()
{
    return detectCpuFeatures().bfloat16();
}

// OpenBLAS picks its kernels by CPU model when it starts (before main()). Debian 12's 0.3.21
// does not know CPUs newer than itself and gives them its generic SSE3 kernels: on an
// Emerald Rapids Xeon (family 6, model 207) a float32 matrix product ran at 66 GFLOPS
// against 314 with the AVX-512 ones, and an image embedding took 2.15 s against 0.62 s.
// OPENBLAS_CORETYPE names the kernels, but OpenBLAS reads it only in its constructor, so
// chooseBlasKernels sets it and runs OpenBLAS's own selection again (gotoblas_dynamic_quit
// and gotoblas_dynamic_init, exported by its DYNAMIC_ARCH builds such as Debian's: the one
// pointer to its kernel table is dropped and chosen anew; a build without them is left
// alone), before any BLAS call has been made. No
// library does this choice for us; a restart with the variable would cost every command
// the dynamic loader's work again.
namespace {
using NameFunction = char *(*)();
using VoidFunction = void (*)();
using IntFunction = int (*)();

template <typename F>
F openblasFunction(const char *name)
{
    return reinterpret_cast<F>(::dlsym(RTLD_DEFAULT, name));
}

constexpr std::string_view kPreAvx2Kernels[] = {"Unknown", "Katmai",  "Coppermine", "Northwood", "Prescott",
                                               "Banias",  "Atom",    "Core2",      "Penryn",    "Dunnington",
                                               "Nehalem", "Athlon",  "Opteron",    "Opteron_SSE3",
                                               "Barcelona", "Nano", "Bobcat"};
} // namespace

std::string blasKernels()
{
    const auto name = openblasFunction<NameFunction>("openblas_get_corename");
    const char *kernels = name ? name() : nullptr;
    return kernels ? std::string(kernels) : std::string();
}

std::string blasDescription()
{
    const auto config = openblasFunction<NameFunction>("openblas_get_config");
    const char *text = config ? config() : nullptr;
    if (!text)
        return {};
    // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64": its first two words.
    std::string_view words(text, ::strnlen(text, 200));
    const size_t first = words.find(' ');
    const size_t second = first == std::string_view::npos ? first : words.find(' ', first + 1);
    std::string out(words.substr(0, second));
    if (const std::string kernels = blasKernels(); !kernels.empty())
        out += ", " + kernels + " kernels";
    return out;
}

std::string betterBlasKernels(const std::string &current, bool avx2, bool avx512, bool avx512bf16)
{
    if (std::find(std::begin(kPreAvx2Kernels), std::end(kPreAvx2Kernels), current) == std::end(kPreAvx2Kernels))
        return {}; // OpenBLAS knew this CPU (or chose AVX kernels for it): its choice stands
    if (avx512)
        return avx512bf16 ? "Cooperlake" : "SkylakeX";
    return avx2 ? "Haswell" : std::string();
}

bool chooseBlasKernels()
{
    if (std::getenv("OPENBLAS_CORETYPE"))
        return false; // the user's choice
    const std::string current = blasKernels();
    if (current.empty())
        return false;
    bool avx2 = false, avx512 = false, avx512bf16 = false;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init(); // the real CPU: kernels it cannot run would end in SIGILL
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
             && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
             && __builtin_cpu_supports("avx512cd");
    avx512bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
#endif
    const std::string better = betterBlasKernels(current, avx2, avx512, avx512bf16);
    const auto quit = openblasFunction<VoidFunction>("gotoblas_dynamic_quit");
    const auto init = openblasFunction<VoidFunction>("gotoblas_dynamic_init");
    if (better.empty() || !quit || !init)
        return false;
    ::setenv("OPENBLAS_CORETYPE", better.c_str(), 1); // read by init; children inherit it
    // OpenBLAS's worker threads (its constructor starts them) end first, as its own fork
    // handler ends them: a worker runs gotoblas_dynamic_init itself on its first buffer, which
    // assigns the table pointer (null on the way, for a CPU it does not know), and nothing of
    // OpenBLAS may run beside quit/init. A crash inside init with that pointer null was seen
    // twice at start-up while tests ran side by side (docs/reliability.md); the next parallel
    // product starts the workers again.
    if (const auto shutdown = openblasFunction<IntFunction>("blas_thread_shutdown_"))
        shutdown();
    quit();
    init();
    return blasKernels() != current;
}

// OpenBLAS's pthread build (Debian's libopenblas0-pthread) keeps threads of its own beside
// LibTorch's OpenMP ones. After each matrix product they wait for the next one by calling
// sched_yield() for 2^28 CPU cycles (about 0.1 s) before they sleep; on a machine with few
// cores that takes time from LibTorch's element-wise work between two products (12 % of
// the samples of a float32 image embedding on 2 cores were in sched_yield). With the
// shortest wait OpenBLAS allows (OPENBLAS_THREAD_TIMEOUT=4: 16 cycles) they sleep at once
// and a product wakes them: `unisearch-bench model`, float32, 2 threads, 0.574 → 0.48-0.52 s
// per image, and a cold `search --rerank` 5.8-6.3 → 5.3-5.8 s (docs/performance.md).
// OpenBLAS reads the variable when it starts its threads, which happens before main(), so
// this reads it again (openblas_read_env) and stops them (blas_thread_shutdown_, what
// OpenBLAS's own fork handler does); the next parallel product starts them with the new
// wait. Both are exported by OpenBLAS but not documented; a BLAS without them, or one whose
// threads are OpenMP's, is left alone.
bool shortenBlasThreadWait()
{
    if (std::getenv("OPENBLAS_THREAD_TIMEOUT") || std::getenv("GOTO_THREAD_TIMEOUT"))
        return false; // the user's choice
    const auto parallel = openblasFunction<IntFunction>("openblas_get_parallel");
    const auto readEnvironment = openblasFunction<VoidFunction>("openblas_read_env");
    const auto shutdown = openblasFunction<IntFunction>("blas_thread_shutdown_");
    const auto timeout = openblasFunction<IntFunction>("openblas_thread_timeout");
    if (!parallel || parallel() != 1 || !readEnvironment || !shutdown || !timeout)
        return false; // not OpenBLAS, or single-threaded, or its threads are OpenMP's
    ::setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
    readEnvironment();
    // Children decide for themselves, as they do when started from a shell.
    ::unsetenv("OPENBLAS_THREAD_TIMEOUT");
    shutdown();
    return timeout() == 4;
}

int blasThreadTimeout()
{
    const auto timeout = openblasFunction<int (*)()>("openblas_thread_timeout");
    return timeout ? timeout() : -1;
}

namespace {
// LibTorch allocates and frees activations of several MiB per layer. By default glibc
// serves those with mmap/munmap (or trims them off the heap) and the next layer
// page-faults the same amount back in: measured 20–35 % of the CPU time of an image
// embedding on a 2-core machine (float32 2.31 → 1.46 CPU s, bfloat16 1.25 → 0.98).
// Keeping freed blocks in the heap costs resident memory that stays at its peak.
void keepFreedMemoryInHeap()
{
#ifdef __GLIBC__
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_"))
        return; // the user tuned glibc's allocator: leave it
    // 256 MiB: above every per-layer tensor of a batch of 8 at 384 px, and a bound on
    // how much freed memory the heap keeps at its top.
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}
} // namespace

#ifdef __linux__
// An entry point that runs the model defines this (main_cli.cpp, main_gui.cpp, main_bench.cpp):
// whether this run wants OMP_WAIT_POLICY=PASSIVE, from the raw arguments.
extern "C" bool unisearch_openmp_reexec_wanted(int argc, char **argv) __attribute__((weak));

namespace {
constexpr char kPolicy[] = "OMP_WAIT_POLICY=";
constexpr char kNoReexec[] = "UNISEARCH_NO_REEXEC=";
constexpr char kSpinCount[] = "GOMP_SPINCOUNT=";
// What the programs start again with (unless the user set the variable). libgomp's spin
// count wins over the policy, so the passive policy (which other OpenMP runtimes read)
// becomes "spin for about 50 us, then sleep" (libgomp counts about 100,000 spins a ms): a
// beam search step runs hundreds of small operators in a row, each waking the other thread,
// and sleeping at once made the answer decoder's steps 40 % slower (docs/performance.md,
// "Threads"); 50 us is too short to take the core from OpenBLAS's threads in a product.
// libgomp spins so only while its threads are no more than the CPUs: with the passive policy
// a process whose several threads each keep a team sleeps at once, so the window's threads
// that run the model end when idle (engine::InferenceWorker, EngineController's pools).
constexpr char kOurSpinCount[] = "GOMP_SPINCOUNT=5000";

bool hasVariable(char **envp, const char *prefix, size_t length)
{
    for (char **e = envp; e && *e; ++e)
        if (std::strncmp(*e, prefix, length) == 0)
            return true;
    return false;
}

// Runs from the executable's .preinit_array: after the dynamic loader has mapped every
// library, before any library's constructor (libgomp reads OMP_WAIT_POLICY in its own) and
// before libc has set up getenv()/setenv(): the environment is the envp given here, and the
// new one is passed to execve() as an array. Starting again here costs the dynamic loader's
// work only (about 0.05 s), not a whole start of Qt and the rest (0.3 s measured).
void presetThreadEnvironment(int argc, char **argv, char **envp)
{
    if (!unisearch_openmp_reexec_wanted || !unisearch_openmp_reexec_wanted(argc, argv)
        || hasVariable(envp, kPolicy, sizeof kPolicy - 1) || hasVariable(envp, kNoReexec, sizeof kNoReexec - 1))
        return;
    size_t count = 0;
    while (envp && envp[count])
        ++count;
    constexpr size_t kMostVariables = 4096; // a larger environment: ensureThreadEnvironment's way
    if (count > kMostVariables)
        return;
    char *next[kMostVariables + 4];
    for (size_t i = 0; i < count; ++i)
        next[i] = envp[i];
    next[count++] = const_cast<char *>("OMP_WAIT_POLICY=PASSIVE");
    next[count++] = const_cast<char *>("UNISEARCH_NO_REEXEC=1"); // never loop
    if (!hasVariable(envp, kSpinCount, sizeof kSpinCount - 1))
        next[count++] = const_cast<char *>(kOurSpinCount);
    next[count] = nullptr;
    ::execve("/proc/self/exe", argv, next);
    // exec failed (no /proc): carry on; ensureThreadEnvironment may try again.
}

[[gnu::used, gnu::section(".preinit_array")]] void (*const kPresetThreadEnvironment)(int, char **, char **) =
    presetThreadEnvironment;
} // namespace
#endif

std::vector<std::string> threadRestartVariables()
{
#ifdef __linux__
    return {"OMP_WAIT_POLICY=PASSIVE", "UNISEARCH_NO_REEXEC=1", kOurSpinCount};
#else
    return {};
#endif
}

void ensureThreadEnvironment(char **argv, bool willRunModel)
{
    chooseBlasKernels();
    shortenBlasThreadWait();
    keepFreedMemoryInHeap();
#ifdef __linux__
    if (!willRunModel || std::getenv("OMP_WAIT_POLICY") || std::getenv("UNISEARCH_NO_REEXEC"))
        return;
    // Only an environment the process starts with reaches libgomp: it reads the variable in
    // its constructor, and a setenv() from the executable's .preinit_array (tried) is undone
    // when libc initialises its environment after it. So: set it and start again, once.
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("UNISEARCH_NO_REEXEC", "1", 1); // never loop, even if the variable is dropped
    setenv("GOMP_SPINCOUNT", kOurSpinCount + sizeof kSpinCount - 1, 0); // the user's value stands
    execv("/proc/self/exe", argv);
    // exec failed (no /proc): carry on with the default policy.
#else
    (void)argv;
    (void)willRunModel;
#endif
}

} // namespace unisearch::model
