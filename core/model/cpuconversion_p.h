#pragma once
// Converting a model part's parameters to another dtype on the CPU. Internal to us_model
// (exposes LibTorch types).
#include "statedict_p.h"

#include <string>
#include <utility>
#include <vector>

namespace unisearch::model {

// Converts each (name, parameter) of params to dtype on the CPU, in place (set_data): all of
// them into one allocation of transparent huge pages, read from their mapped file by every
// intra-op thread, the mapped source pages released after. With a storeTag ("text",
// "vision+cross"), a conversion stored beside the mapped weights file (StoredConversion) is
// used instead where it is valid, and one is stored where none was.
void convertOnCpu(std::vector<std::pair<std::string, torch::Tensor>> &params, torch::ScalarType dtype,
                  const std::string &storeTag = std::string());

} // namespace unisearch::model
