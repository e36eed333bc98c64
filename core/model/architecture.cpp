#include "architecture.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace unisearch::model {

namespace {
template <typename T>
void readOpt(const nlohmann::json &j, const char *key, T &out)
{
    if (j.contains(key) && !j.at(key).is_null())
        out = j.at(key).get<T>();
}
} // namespace

Architecture Architecture::fromJson(const nlohmann::json &j)
{
    if (!j.is_object())
        throw std::runtime_error("architecture must be a JSON object");
    Architecture a;
    try {
        if (j.contains("vision")) {
            const auto &v = j.at("vision");
            readOpt(v, "image_size", a.vision.imageSize);
            readOpt(v, "patch_size", a.vision.patchSize);
            readOpt(v, "width", a.vision.width);
            readOpt(v, "depth", a.vision.depth);
            readOpt(v, "heads", a.vision.heads);
            readOpt(v, "mlp_ratio", a.vision.mlpRatio);
            readOpt(v, "qkv_bias", a.vision.qkvBias);
            readOpt(v, "layer_norm_eps", a.vision.layerNormEps);
        }
        if (j.contains("text")) {
            const auto &t = j.at("text");
            readOpt(t, "vocab_size", a.text.vocabSize);
            readOpt(t, "hidden", a.text.hidden);
            readOpt(t, "layers", a.text.layers);
            readOpt(t, "heads", a.text.heads);
            readOpt(t, "intermediate", a.text.intermediate);
            readOpt(t, "max_positions", a.text.maxPositions);
            readOpt(t, "layer_norm_eps", a.text.layerNormEps);
            readOpt(t, "hidden_act", a.text.hiddenAct);
        }
        readOpt(j, "embed_dim", a.embedDim);
        if (j.contains("adapter")) {
            const auto &ad = j.at("adapter");
            if (ad.is_null()) {
                a.adapter.bottleneck = 0;
                a.adapter.videoKvBottleneck = 0;
            } else {
                readOpt(ad, "bottleneck", a.adapter.bottleneck);
                readOpt(ad, "scale", a.adapter.scale);
                readOpt(ad, "layernorm", a.adapter.layernorm);
                readOpt(ad, "video_kv_bottleneck", a.adapter.videoKvBottleneck);
            }
        }
        if (j.contains("normalize")) {
            const auto &n = j.at("normalize");
            auto mean = n.at("mean").get<std::vector<float>>();
            auto std = n.at("std").get<std::vector<float>>();
            if (mean.size() != 3 || std.size() != 3)
                throw std::runtime_error("normalize.mean and normalize.std need 3 values");
            for (int i = 0; i < 3; ++i) {
                a.mean[i] = mean[i];
                a.std[i] = std[i];
            }
        }
        if (j.contains("special_tokens")) {
            const auto &s = j.at("special_tokens");
            readOpt(s, "pad", a.special.pad);
            readOpt(s, "cls", a.special.cls);
            readOpt(s, "sep", a.special.sep);
            readOpt(s, "unk", a.special.unk);
            readOpt(s, "dec_bos", a.special.decBos);
            readOpt(s, "enc", a.special.enc);
        }
    } catch (const nlohmann::json::exception &e) {
        throw std::runtime_error(std::string("bad architecture JSON: ") + e.what());
    }
    auto positive = [](int v, const char *what) {
        if (v <= 0)
            throw std::runtime_error(std::string("architecture: ") + what + " must be positive");
    };
    positive(a.vision.imageSize, "vision.image_size");
    positive(a.vision.patchSize, "vision.patch_size");
    positive(a.vision.width, "vision.width");
    positive(a.vision.depth, "vision.depth");
    positive(a.vision.heads, "vision.heads");
    positive(a.text.hidden, "text.hidden");
    positive(a.text.layers, "text.layers");
    positive(a.text.heads, "text.heads");
    positive(a.embedDim, "embed_dim");
    if (a.vision.imageSize % a.vision.patchSize != 0)
        throw std::runtime_error("architecture: vision.image_size must be a multiple of patch_size");
    if (a.vision.width % a.vision.heads != 0 || a.text.hidden % a.text.heads != 0)
        throw std::runtime_error("architecture: width must be a multiple of heads");
    return a;
}

nlohmann::json Architecture::toJson() const
{
    nlohmann::json j;
    j["vision"] = {{"image_size", vision.imageSize}, {"patch_size", vision.patchSize},
                   {"width", vision.width},          {"depth", vision.depth},
                   {"heads", vision.heads},          {"mlp_ratio", vision.mlpRatio},
                   {"qkv_bias", vision.qkvBias},     {"layer_norm_eps", vision.layerNormEps}};
    j["text"] = {{"vocab_size", text.vocabSize},       {"hidden", text.hidden},
                 {"layers", text.layers},              {"heads", text.heads},
                 {"intermediate", text.intermediate},  {"max_positions", text.maxPositions},
                 {"layer_norm_eps", text.layerNormEps}, {"hidden_act", text.hiddenAct}};
    j["embed_dim"] = embedDim;
    if (adapter.bottleneck > 0 || adapter.videoKvBottleneck > 0)
        j["adapter"] = {{"bottleneck", adapter.bottleneck}, {"scale", adapter.scale},
                        {"layernorm", adapter.layernorm},
                        {"video_kv_bottleneck", adapter.videoKvBottleneck}};
    else
        j["adapter"] = nullptr;
    j["normalize"] = {{"mean", mean}, {"std", std}};
    j["special_tokens"] = {{"pad", special.pad}, {"cls", special.cls}, {"sep", special.sep},
                           {"unk", special.unk}, {"dec_bos", special.decBos}, {"enc", special.enc}};
    return j;
}

} // namespace unisearch::model
