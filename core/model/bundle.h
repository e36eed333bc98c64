#pragma once
// Model bundles: models/<name>/model.json + weights.safetensors under the data dir.
// `model import` turns a BLIP/UniAdapter checkpoint (.pth or .safetensors) into a bundle:
// training-only entries dropped, every tensor verified against the architecture.
#include "model/architecture.h"

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace unisearch::model {

struct BundleError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ImportOptions {
    std::string name;                         // default: checkpoint file name without extension
    std::string task;                         // "retrieval" | "vqa" | "" (infer from tensors)
    std::optional<Architecture> architecture; // default: inferred from tensor shapes
    bool overwrite = false;
};

struct BundleInfo {
    std::string name;
    std::string task;          // retrieval | vqa
    std::string fingerprint;   // sha256 of the weights file
    std::string dir;
    std::string weightsPath;
    std::string source;        // the imported file
    std::string importedAt;    // ISO 8601 UTC
    Architecture architecture;
    bool hasAdapters = false;
    long long parameterCount = 0;
};

struct ImportReport {
    BundleInfo bundle;
    std::vector<std::string> ignored; // entries dropped: "name [shape]: reason" (training-only, unused)
    size_t aliases = 0;               // names of shared tensors stored once (adapters under 4 names)
};

// Infers the architecture from a checkpoint's tensor shapes (heads = width / 64).
Architecture inferArchitecture(const std::string &checkpointPath, std::string *task = nullptr);
// Throws BundleError with a message a person can act on (missing/unexpected tensors by
// name and shape, unreadable file, name clash...). Writes atomically: a failed import
// leaves no partial bundle behind.
ImportReport importModel(const std::string &checkpointPath, const std::string &modelsDir,
                         const ImportOptions &options = {});
BundleInfo readBundle(const std::string &bundleDir);
std::vector<BundleInfo> listBundles(const std::string &modelsDir);
// True for entries a bundle drops: momentum copies (*_m.*), queues, the temperature,
// unused decoder adapters and constant buffers (the rules: ignoredKeyReason in uniadapter_p.h).
bool isTrainingOnlyKey(const std::string &key);

} // namespace unisearch::model
