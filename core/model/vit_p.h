#pragma once
// The ViT image encoder (BLIP's `visual_encoder`), with the visual branch of the shared
// UniAdapters. Internal to us_model.
#include "adapter_p.h"
#include "architecture.h"
#include "checkpoint_p.h"

namespace unisearch::model {

class VitAttentionImpl : public torch::nn::Module
{
public:
    VitAttentionImpl(int64_t width, int64_t heads, bool qkvBias);
    // x, residual: [B,N,W] → residual + proj(attention(x)) [B,N,W]
    torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &residual) const;
    void randomize();

private:
    torch::Tensor headMajorQkv(const torch::Tensor &x) const; // [B,N,W] → q,k,v as [3,B,h,N,d]
    int64_t m_heads;
    Dense m_qkv{nullptr}, m_proj{nullptr};
};
TORCH_MODULE(VitAttention);

class VitMlpImpl : public torch::nn::Module
{
public:
    VitMlpImpl(int64_t width, int64_t hidden);
    // GELU(fc1(x)); the block adds fc2 of it into its sum (fc2(GELU(fc1(x))) in all)
    torch::Tensor hidden(const torch::Tensor &x) const;
    const Dense &fc2() const { return m_fc2; }
    void randomize();

private:
    Dense m_fc1{nullptr}, m_fc2{nullptr};
};
TORCH_MODULE(VitMlp);

class VitBlockImpl : public torch::nn::Module
{
public:
    // adapter may be null (plain BLIP); it is registered as `adapter` (a shared module).
    VitBlockImpl(const VisionConfig &config, UniAdapter adapter);
    // x = x + attn(norm1(x)); a = visual(x); x = x + (mlp(norm2(x)) + a)
    torch::Tensor forward(const torch::Tensor &x) const;
    void randomize();

private:
    Norm m_norm1{nullptr}, m_norm2{nullptr};
    VitAttention m_attn{nullptr};
    VitMlp m_mlp{nullptr};
    UniAdapter m_adapter{nullptr};
};
TORCH_MODULE(VitBlock);

class VisionTransformerImpl : public torch::nn::Module
{
public:
    // adapters: the model's shared list (also registered here as `adapters`, as the
    // reference does), or null for plain BLIP.
    VisionTransformerImpl(const VisionConfig &config, torch::nn::ModuleList adapters);
    // pixels: [B,3,S,S] normalised → tokens [B,1+(S/P)^2,W] after the final norm (CLS first).
    torch::Tensor forward(const torch::Tensor &pixels) const;
    void randomize();
    const VisionConfig &config() const { return m_config; }
    // Non-null: blocks that need gradients recompute their activations in backward.
    void setCheckpointing(CheckpointSwitch on) { m_checkpoint = std::move(on); }

private:
    VisionConfig m_config;
    torch::Tensor m_clsToken; // [1,1,W]
    torch::Tensor m_posEmbed; // [1,N+1,W]
    torch::Tensor m_patchWeight, m_patchBias; // patch_embed.proj: [W,3,P,P], [W]
    std::vector<VitBlock> m_blocks;
    Norm m_norm{nullptr};
    CheckpointSwitch m_checkpoint;
};
TORCH_MODULE(VisionTransformer);

} // namespace unisearch::model
