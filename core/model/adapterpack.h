#pragma once
// Adapter packs: the tensors a fine-tuning run trained (adapters, projections, ITM head,
// temperature), as .safetensors with metadata saying which base model they belong to.
// Loading a pack overlays the base model's weights (ModelRunner: RunnerOptions::adapterPack).
#include "model/trainer.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace unisearch::model {

struct PackError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct PackInfo {
    std::string path;
    PackMetadata metadata;
    std::vector<std::string> tensors; // names
    long long parameterCount = 0;
};

// Reads and checks a pack's metadata and tensor names. Throws PackError ("... is not an
// adapter pack", damaged file) with a message a person can act on.
PackInfo readPack(const std::string &path);

// Throws PackError when the pack was trained for another base model (fingerprint) or
// another architecture; baseName is used in the message.
void checkPackFits(const PackInfo &pack, const std::string &baseFingerprint, const std::string &baseName);

} // namespace unisearch::model
