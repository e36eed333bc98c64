#pragma once
// Process-wide LibTorch settings, behind a torch-free header.
#include <string>

namespace unisearch::model {

std::string libtorchVersion();
// Sets LibTorch's intra-op threads; n <= 0 means "number of cores".
void setThreads(int n);
int threads();
bool cudaAvailable();

} // namespace unisearch::model
