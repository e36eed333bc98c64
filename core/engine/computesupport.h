#pragma once
// What this machine and build can compute with, for choices offered to people (the model
// manager's device and precision), behind a torch-free header.
#include <QString>

namespace unisearch::engine {

struct ComputeSupport {
    bool cuda = false;             // a CUDA device is usable
    QString cudaUnavailableReason; // why not, in a sentence; empty when cuda
    bool cpuBfloat16 = false;      // the CPU runs bfloat16 matrix products faster than float32
};

ComputeSupport computeSupport();

} // namespace unisearch::engine
