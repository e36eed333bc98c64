#include "runtime.h"

#include <thread>

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

} // namespace unisearch::model
