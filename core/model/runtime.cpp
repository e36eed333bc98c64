#include "runtime.h"

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>
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
    char *next[kMostVariables + 3];
    for (size_t i = 0; i < count; ++i)
        next[i] = envp[i];
    next[count] = const_cast<char *>("OMP_WAIT_POLICY=PASSIVE");
    next[count + 1] = const_cast<char *>("UNISEARCH_NO_REEXEC=1"); // never loop
    next[count + 2] = nullptr;
    ::execve("/proc/self/exe", argv, next);
    // exec failed (no /proc): carry on; ensureThreadEnvironment may try again.
}

[[gnu::used, gnu::section(".preinit_array")]] void (*const kPresetThreadEnvironment)(int, char **, char **) =
    presetThreadEnvironment;
} // namespace
#endif

void ensureThreadEnvironment(char **argv, bool willRunModel)
{
    keepFreedMemoryInHeap();
#ifdef __linux__
    if (!willRunModel || std::getenv("OMP_WAIT_POLICY") || std::getenv("UNISEARCH_NO_REEXEC"))
        return;
    // Only an environment the process starts with reaches libgomp: it reads the variable in
    // its constructor, and a setenv() from the executable's .preinit_array (tried) is undone
    // when libc initialises its environment after it. So: set it and start again, once.
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("UNISEARCH_NO_REEXEC", "1", 1); // never loop, even if the variable is dropped
    execv("/proc/self/exe", argv);
    // exec failed (no /proc): carry on with the default policy.
#else
    (void)argv;
    (void)willRunModel;
#endif
}

} // namespace unisearch::model
