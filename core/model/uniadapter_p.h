#pragma once
// The UniAdapter model (BLIP-base + shared adapters) with its retrieval heads
// (vision_proj, text_proj, itm_head) and its VQA answer decoder (text_decoder).
// Parameters carry the reference state_dict's names, shared modules under every path
// the reference registers them (adapters.i = visual_encoder.adapters.i =
// visual_encoder.blocks.i.adapter = text_encoder.encoder.layer.i.adapter = ...).
// Internal to us_model.
#include "bert_p.h"
#include "modelrunner.h"
#include "statedict_p.h"
#include "vit_p.h"

#include <set>

namespace unisearch::model {

struct ModelHeads {
    bool retrieval = true;
    bool vqa = false;
};

// Why a checkpoint key is deliberately not loaded (empty: it is not ignored). The one
// place that lists these rules:
//  - `*_m.*`: momentum-encoder copies (training only)
//  - image_queue, text_queue, idx_queue, ptr_queue: contrastive queues (training only)
//  - temp: contrastive temperature (features are compared by cosine at inference)
//  - adapters_dec.*: built by the reference BLIP_VQA but never used (its decoder uses `adapters`)
//  - *.embeddings.position_ids: a constant arange buffer
std::string ignoredKeyReason(const std::string &key);

// What a state dict holds, read from its key names.
struct CheckpointLayout {
    bool adapters = false;
    bool videoAdapters = false;
    bool retrieval = false;
    bool vqa = false;
};
CheckpointLayout detectLayout(const StateDict &dict);

// The architecture a checkpoint runs with: adapter sizes zeroed when it has none.
Architecture effectiveArchitecture(const Architecture &architecture, const CheckpointLayout &layout);

struct GeneratedSequence {
    std::vector<int64_t> ids; // [DEC] first
    double score = 0.0;       // sum log p / (length without the final [SEP])^lengthPenalty
    double sumLogProb = 0.0;
};

struct RankOutput {
    torch::Tensor firstTokenProb; // [Q,A] probability of each answer's first token after [DEC]
    torch::Tensor topkIds;        // [Q,k] answer indices, by first-token probability
    torch::Tensor topkScores;     // [Q,k] -(smoothed loss summed over tokens)
    torch::Tensor best;           // [Q] answer index with the highest score
};

class UniAdapterModelImpl : public torch::nn::Module
{
public:
    // architecture.adapter.bottleneck == 0: plain BLIP; videoKvBottleneck == 0: no LoRA K/V.
    UniAdapterModelImpl(const Architecture &architecture, const ModelHeads &heads);

    const Architecture &architecture() const { return m_arch; }
    const ModelHeads &heads() const { return m_heads; }
    bool hasAdapters() const { return static_cast<bool>(m_adapters); }

    // Copies the checkpoint's tensors into the parameters (by name, shapes checked),
    // fills `report`; leaves parameters absent from the checkpoint untouched.
    void loadFrom(const StateDict &dict, LoadReport &report);
    // The same without fusing, and without copying where it can: a checkpoint tensor of the
    // parameter's dtype becomes the parameter (set_data; a mapped view stays a view, its
    // pages untouched); another dtype is converted now; pos_embed interpolation copies.
    void bindFrom(const StateDict &dict, LoadReport &report);
    // Parts (ModelRunner::Part bits) not prepared yet among `parts` are made ready on
    // device/dtype: their parameters not converted yet are converted (a mapped source's
    // pages are dropped after a copy; a zero-copy view's pages are faulted in), then their
    // attention is fused. Returns how many parameter values were made ready now.
    // keepConversions (CPU): a conversion is stored beside the mapped weights file and
    // mapped from there next time (StoredConversion); for a bundle's own folder.
    // within: only parameters that no part outside it uses are taken (a part prepared in
    // another dtype than the rest leaves the weights it shares to the rest).
    int64_t prepareParts(unsigned parts, torch::Device device, torch::ScalarType dtype, bool keepConversions = false,
                         unsigned within = ~0u);
    unsigned preparedParts() const { return m_preparedParts; }
    // The ModelRunner::Part bits a parameter of this name is used by.
    static unsigned partsOfParameter(const std::string &name);
    void randomize();
    // Casts every parameter once (device and dtype), then re-fuses the attention weights.
    void castTo(torch::Device device, torch::ScalarType dtype);
    // Re-points q/k/v weights at fused tensors; call after loading or casting.
    void fuse();
    torch::ScalarType dtype() const;
    torch::Device device() const;
    // Activation checkpointing of every transformer block (ViT, text encoder, decoder)
    // while gradients are recorded; null turns it off (the default: inference never uses it).
    void setCheckpointing(const CheckpointSwitch &on);

    // --- retrieval ---
    // pixels [B,3,S,S] → visual_encoder tokens [B,N+1,W]
    torch::Tensor encodeImage(const torch::Tensor &pixels) const;
    // CLS tokens [...,W] → normalize(vision_proj) [...,E]
    torch::Tensor imageFeature(const torch::Tensor &cls) const;
    // ids, mask [B,L] → text-mode hidden states [B,L,W]
    torch::Tensor encodeText(const torch::Tensor &ids, const torch::Tensor &mask) const;
    // hidden [B,L,W] → normalize(text_proj(hidden[:,0])) [B,E]
    torch::Tensor textFeature(const torch::Tensor &hidden) const;
    // textFeat [B,E], frameFeat [B or 1,T,E] → T·softmax_t(textFeat·frameFeat_t / 4) [B,T]
    static torch::Tensor frameAwareWeights(const torch::Tensor &textFeat, const torch::Tensor &frameFeat);
    // visual tokens [Bc,S,W] (Bc = 1: shared by all texts) with ids/mask [B,L] ([CLS] first;
    // replaced by [ENC]) → itm logits [B,2]. frameWeights [B,T] or undefined.
    torch::Tensor itmLogits(const torch::Tensor &visualTokens, const torch::Tensor &ids, const torch::Tensor &mask,
                            const torch::Tensor &frameWeights = {}) const;

    // --- VQA ---
    // ids/mask [B,L] (first id replaced by [ENC]), visual tokens [Bc,S,W] → [B,L,W]
    torch::Tensor encodeQuestion(const torch::Tensor &ids, const torch::Tensor &mask,
                                 const torch::Tensor &visualTokens) const;
    // BLIP_VQA.rank_answer. questionStates [Q,L,W], questionMask [Q,L]; answerIds/Mask [A,La]
    // (first id replaced by [DEC], padding 0).
    RankOutput rankAnswers(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                           const torch::Tensor &answerIds, const torch::Tensor &answerMask, int64_t k) const;
    // Greedy (numBeams 1) or beam search for one question: questionStates [1,L,W],
    // questionMask [1,L] or undefined. Hypotheses best first.
    std::vector<GeneratedSequence> generate(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                                            const GenerateParams &options) const;
    // Greedy decoding without beam bookkeeping (the reference's num_beams=1 path).
    GeneratedSequence greedy(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                             int maxLength, int minLength, double lengthPenalty = 1.0) const;
    // Teacher-forced decoder logits (training): ids/mask [B,La] ([DEC] first, 0/1 mask),
    // questionStates [B,L,W] with questionMask [B,L] → [B,La,V] (float, the model's dtype).
    torch::Tensor decoderLogits(const torch::Tensor &ids, const torch::Tensor &mask, const torch::Tensor &questionStates,
                                const torch::Tensor &questionMask) const;

    // Teacher-forced sum of log p(ids[t] | ids[<t]) for t ≥ 1, without a cache (tests).
    double sequenceLogProb(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                           const std::vector<int64_t> &ids) const;

private:
    BertParams bertParams() const;
    // The decoder's cross-attention keys/values over question states [B,L,W] (cast to the
    // decoder's dtype, which may differ from the question encoder's: RunnerOptions::bfloat16Parts).
    CrossState decoderCross(const torch::Tensor &questionStates, const torch::Tensor &questionMask) const;
    // One decoder step over new ids [B,l] with the cache → logits of the last position [B,V].
    torch::Tensor decoderStep(const torch::Tensor &ids, const CrossState &cross, SelfCache &cache) const;

    Architecture m_arch;
    ModelHeads m_heads;
    torch::nn::ModuleList m_adapters{nullptr};
    VisionTransformer m_visual{nullptr};
    BertModel m_text{nullptr};
    Dense m_visionProj{nullptr}, m_textProj{nullptr}, m_itmHead{nullptr};
    BertLMHead m_decoder{nullptr};
    unsigned m_preparedParts = 0;
    std::set<const c10::TensorImpl *> m_preparedTensors;
};
TORCH_MODULE(UniAdapterModel);

} // namespace unisearch::model
