#include "runtime.h"

#include <cstdlib>
#include <thread>
#include <unistd.h>

namespace unisearch::model {

std::string libtorchVersion()
{
    return TORCH_VERSION;
}

void setThreads(int n)
{
    if (n <= 0)
        n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    // LibTorch picks one thread on some machines unless told otherwise.
    at::set_num_threads(n);
}

int threads()
{
    return at::get_num_threads();
}

bool cudaAvailable()
{
    return torch::cuda::is_available();
}

void manualSeed(unsigned long long seed)
{
    torch::manual_seed(seed);
}

bool cpuHasBfloat16()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

void ensureThreadEnvironment(char **argv)
{
#ifdef __linux__
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("UNISEARCH_NO_REEXEC"))
        return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("UNISEARCH_NO_REEXEC", "1", 1); // never loop, even if the variable is dropped
    execv("/proc/self/exe", argv);
    // exec failed (no /proc): carry on with the default policy.
#else
    (void)argv;
#endif
}

} // namespace unisearch::model
