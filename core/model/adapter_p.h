#pragma once
// The UniAdapter bottleneck (one per layer index, shared by ViT block i, text-encoder
// layer i and decoder layer i) and the low-rank cross-attention key/value adapter.
// Internal to us_model.
#include "layers_p.h"

#include <string>

namespace unisearch::model {

enum class AdapterMode { Visual, Text, Multimodal };

struct AdapterParams {
    int64_t width = 768;
    int64_t bottleneck = 512;
    double scale = 0.1;
    std::string layernorm = "in"; // "in": LayerNorm on the input; "out": on the output; else none
};

// Checkpoint names: adapter_layer_norm_before, adapter_layer_norm_cross_modal, down_proj,
// up_proj, multi_up_proj, visual_up_proj.
class UniAdapterImpl : public torch::nn::Module
{
public:
    explicit UniAdapterImpl(const AdapterParams &params);
    // x: [B,L,W] → the adapter's contribution [B,L,W] (no residual):
    // d = ReLU(down(LN_in(x))); visual: s·visual_up(d); text: s·up(d);
    // multimodal: s·LN_cm(multi_up(d) + up(d)).
    torch::Tensor forward(const torch::Tensor &x, AdapterMode mode) const;
    void randomize();

    // For a caller that accumulates the visual contribution into a sum of its own (ViT
    // blocks, one matrix product less to write and read back): whether that contribution is
    // scale()·visualUp()(bottleneck(x)) (no norm on the output), and its pieces.
    bool visualIsProjection() const { return m_params.layernorm != "out"; }
    torch::Tensor bottleneck(const torch::Tensor &x) const; // ReLU(down(LN_in(x)))
    const Dense &visualUp() const { return m_visualUp; }
    double scale() const { return m_params.scale; }

private:
    AdapterParams m_params;
    Norm m_normBefore{nullptr};
    Norm m_normCrossModal{nullptr};
    Dense m_down{nullptr}, m_up{nullptr}, m_multiUp{nullptr}, m_visualUp{nullptr};
};
TORCH_MODULE(UniAdapter);

// `video_key_adapter` / `video_value_adapter`: scale·up(down(x)) with a learnable scalar
// scale and no activation (a LoRA term added to the cross-attention keys or values).
class LoraAdapterImpl : public torch::nn::Module
{
public:
    LoraAdapterImpl(int64_t width, int64_t bottleneck);
    // x: [B,S,W] → [B,S,W]
    torch::Tensor forward(const torch::Tensor &x) const;
    void randomize();

private:
    torch::Tensor m_scale; // [1]
    Dense m_down{nullptr}, m_up{nullptr};
};
TORCH_MODULE(LoraAdapter);

} // namespace unisearch::model
