#include "engine/computesupport.h"

#include "model/runtime.h"

namespace unisearch::engine {

ComputeSupport computeSupport()
{
    ComputeSupport s;
    s.cuda = model::cudaAvailable();
    if (!s.cuda)
        s.cudaUnavailableReason =
#ifdef UNISEARCH_CUDA
            QStringLiteral("No usable CUDA device was found (check the NVIDIA driver).");
#else
            QStringLiteral("This build of Unisearch uses a CPU-only LibTorch; CUDA needs a build with UNISEARCH_CUDA.");
#endif
    s.cpuBfloat16 = model::cpuHasBfloat16();
    return s;
}

} // namespace unisearch::engine
