#pragma once
// Precompiled header for us_model: LibTorch's headers cost ~20 s per translation unit.
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <map>
#include <memory>
#include <optional>
#include <functional>
