#pragma once
// The sizes of a UniAdapter/BLIP model, in the schema of a fixture's `architecture`
// object (see ../shared/fixtures/README.md). Also the content of model.json.
#include <nlohmann/json_fwd.hpp>
#include <array>
#include <string>

namespace unisearch::model {

struct VisionConfig {
    int imageSize = 384;
    int patchSize = 16;
    int width = 768;
    int depth = 12;
    int heads = 12;
    double mlpRatio = 4.0;
    bool qkvBias = true;
    double layerNormEps = 1e-6;
};

struct TextConfig {
    int vocabSize = 30524;
    int hidden = 768;
    int layers = 12;
    int heads = 12;
    int intermediate = 3072;
    int maxPositions = 512;
    double layerNormEps = 1e-12;
    std::string hiddenAct = "gelu";
};

struct AdapterConfig {
    int bottleneck = 512;        // UniAdapter down size; 0 = no adapters (plain BLIP)
    double scale = 0.1;
    std::string layernorm = "in";
    int videoKvBottleneck = 64;  // 0 = no video key/value adapters
};

struct SpecialTokens {
    long long pad = 0, cls = 101, sep = 102, unk = 100, decBos = 30522, enc = 30523;
};

struct Architecture {
    VisionConfig vision;
    TextConfig text;
    int embedDim = 256;
    AdapterConfig adapter;
    std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
    std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
    SpecialTokens special;

    static Architecture fromJson(const nlohmann::json &j); // throws std::runtime_error
    nlohmann::json toJson() const;
    bool operator==(const Architecture &) const = default;
};

} // namespace unisearch::model
