#pragma once
// Applying an adapter pack's tensors to a loaded model. Internal to us_model.
#include "adapterpack.h"
#include "statedict_p.h"
#include "uniadapter_p.h"

namespace unisearch::model {

// The metadata keys of a pack's safetensors header.
std::map<std::string, std::string> packMetadataMap(const PackMetadata &metadata);
PackMetadata packMetadataFrom(const std::map<std::string, std::string> &map);

// Copies the pack's tensors into the model's parameters (by any of their names; shapes
// checked; "temp" skipped: the caller handles it). Throws PackError naming the tensor.
void applyPack(UniAdapterModelImpl &model, const StateDict &pack, const std::string &packPath);

} // namespace unisearch::model
