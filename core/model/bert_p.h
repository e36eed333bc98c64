#pragma once
// BLIP's BERT ("med"): the text encoder (`text_encoder`, BertModel) and the answer
// decoder (`text_decoder`, BertLMHeadModel), with the text/multimodal branches of the
// shared UniAdapters and the cross-attention key/value LoRA adapters.
// Internal to us_model.
#include "adapter_p.h"
#include "architecture.h"
#include "checkpoint_p.h"

#include <optional>

namespace unisearch::model {

enum class TextMode {
    Text,       // self-attention only (contrastive text features)
    Multimodal, // self-attention, then cross-attention to image (or question) tokens
};

struct BertParams {
    TextConfig text;
    int64_t encoderWidth = 768;   // width of the tokens cross-attention reads (the ViT's)
    int64_t videoKvBottleneck = 0; // 0: no video_key/value_adapter
};

// The cross-attention keys and values of every layer for one set of encoder tokens,
// projected once and reused (ITM over several texts, every decoding step).
struct CrossState {
    std::vector<torch::Tensor> keys, values; // per layer [Bc,h,S,d], Bc = 1 or the query batch
    torch::Tensor mask;                      // additive [Bc,1,1,S], or undefined (attend to all)
};

// Self-attention keys/values of the tokens decoded so far (one entry per layer).
struct SelfCache {
    std::vector<torch::Tensor> keys, values; // per layer [B,h,L,d]
    int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
    // Keeps the rows `index` (beam search reordering).
    void reorder(const torch::Tensor &index);
};

// attention.self / crossattention.self: query, key, value.
class BertSelfAttentionImpl : public torch::nn::Module
{
public:
    BertSelfAttentionImpl(int64_t hidden, int64_t heads, int64_t keyWidth, bool cross);
    // Re-points query/key/value (self) or key/value (cross) at one fused weight.
    void fuse();
    void randomize();
    // Self-attention. x: [B,L,W]; mask: additive, broadcastable to [B,h,L,Lk];
    // cacheK/V (optional): past keys/values [B,h,P,d], replaced by the extended ones.
    torch::Tensor selfForward(const torch::Tensor &x, const torch::Tensor &mask,
                              torch::Tensor *cacheK, torch::Tensor *cacheV) const;
    // Cross-attention projections of encoder tokens e: [B,S,We] → {K, V} each [B,S,W].
    std::pair<torch::Tensor, torch::Tensor> projectKeyValue(const torch::Tensor &e) const;
    // Cross-attention with per-head keys/values [Bc,h,S,d]. x: [B,L,W] → context [B,L,W].
    torch::Tensor crossForward(const torch::Tensor &x, const torch::Tensor &k, const torch::Tensor &v,
                               const torch::Tensor &mask) const;
    int64_t heads() const { return m_heads; }

private:
    int64_t m_heads;
    bool m_cross;
    Dense m_query{nullptr}, m_key{nullptr}, m_value{nullptr};
    torch::Tensor m_fusedWeight, m_fusedBias; // qkv (self) or kv (cross)
};
TORCH_MODULE(BertSelfAttention);

// attention / crossattention: `self` + `output` {dense, LayerNorm} (post-LN residual).
class BertAttentionImpl : public torch::nn::Module
{
public:
    BertAttentionImpl(const BertParams &params, bool cross);
    BertSelfAttention self{nullptr};
    Dense outputDense{nullptr};
    Norm outputNorm{nullptr};
    // LayerNorm(dense(context) + x)
    torch::Tensor finish(const torch::Tensor &context, const torch::Tensor &x) const;
    void randomize();
};
TORCH_MODULE(BertAttention);

class BertLayerImpl : public torch::nn::Module
{
public:
    BertLayerImpl(const BertParams &params, UniAdapter adapter);
    // x: [B,L,W] → [B,L,W].
    // text:       h = selfattn(x); out = ffn(h) + text(h)
    // multimodal: h = selfattn(x); a = text(h); h2 = crossattn(h); out = ffn(h2) + a + multimodal(h2)
    torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &selfMask, TextMode mode,
                          const torch::Tensor &crossK, const torch::Tensor &crossV,
                          const torch::Tensor &crossMask, torch::Tensor *cacheK, torch::Tensor *cacheV) const;
    BertAttention attention{nullptr}, crossattention{nullptr};
    void randomize();

private:
    torch::Tensor feedForward(const torch::Tensor &h) const;
    Dense m_intermediate{nullptr}, m_outputDense{nullptr};
    Norm m_outputNorm{nullptr};
    UniAdapter m_adapter{nullptr};
};
TORCH_MODULE(BertLayer);

class BertEncoderImpl : public torch::nn::Module
{
public:
    BertEncoderImpl(const BertParams &params, torch::nn::ModuleList adapters);
    // e: encoder tokens [Bc,S,We]; encoderMask: 0/1 [Bc,S] or undefined (all attended);
    // frameWeights: [B,T] frame-aware attention weights (already T·softmax) or undefined.
    // The video LoRA terms are computed here once and added to every layer's K and V.
    CrossState prepareCross(const torch::Tensor &e, const torch::Tensor &encoderMask,
                            const torch::Tensor &frameWeights) const;
    torch::Tensor forward(torch::Tensor x, const torch::Tensor &selfMask, TextMode mode,
                          const CrossState *cross, SelfCache *cache) const;
    void randomize();
    int64_t layers() const { return static_cast<int64_t>(m_layers.size()); }
    // Non-null: layers that need gradients recompute their activations in backward (not
    // with a decoding cache, which is inference only).
    void setCheckpointing(CheckpointSwitch on) { m_checkpoint = std::move(on); }

private:
    std::vector<BertLayer> m_layers;
    LoraAdapter m_videoKey{nullptr}, m_videoValue{nullptr};
    CheckpointSwitch m_checkpoint;
};
TORCH_MODULE(BertEncoder);

// BertModel (no pooler): embeddings + encoder.
class BertModelImpl : public torch::nn::Module
{
public:
    BertModelImpl(const BertParams &params, torch::nn::ModuleList adapters);
    // ids: [B,L]; mask: 0/1 [B,P+L] over past + current tokens, or undefined (all ones);
    // causal: decoder self-attention; cache: decoder key/value cache (P = cache->length()).
    // Returns the last hidden states [B,L,W].
    torch::Tensor forward(const torch::Tensor &ids, const torch::Tensor &mask, TextMode mode,
                          const CrossState *cross = nullptr, bool causal = false,
                          SelfCache *cache = nullptr) const;
    BertEncoder encoder{nullptr};
    void randomize();
    const BertParams &params() const { return m_params; }
    // The dtype its hidden states are computed in (its position table's: the word table may
    // stay float32 on the CPU).
    torch::ScalarType dtype() const { return m_positionEmbeddings.scalar_type(); }

private:
    BertParams m_params;
    torch::Tensor m_wordEmbeddings, m_positionEmbeddings;
    Norm m_embeddingNorm{nullptr};
};
TORCH_MODULE(BertModel);

// BertLMHeadModel: `bert` + `cls.predictions` {transform.dense, transform.LayerNorm,
// decoder.weight, bias}; `cls.predictions.decoder.bias` is the same tensor as `bias`.
class BertLMHeadImpl : public torch::nn::Module
{
public:
    BertLMHeadImpl(const BertParams &params, torch::nn::ModuleList adapters);
    // hidden: [...,W] → vocabulary logits [...,V]
    torch::Tensor logits(const torch::Tensor &hidden) const;
    BertModel bert{nullptr};
    void randomize();

private:
    Dense m_transform{nullptr};
    Norm m_transformNorm{nullptr};
    torch::Tensor m_decoderWeight, m_bias;
};
TORCH_MODULE(BertLMHead);

// Additive mask from a 0/1 mask: (1 - m) · -10000, as BERT does, in `dtype`.
torch::Tensor additiveMask(const torch::Tensor &mask01, torch::ScalarType dtype);

} // namespace unisearch::model
