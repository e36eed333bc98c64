#pragma once
// ModelRunner: the loaded UniAdapter model on its device, behind a torch-free interface
// that runs its forwards, for the indexer, the search, VQA and the CLI. One inference
// thread owns a runner; calls are not reentrant.
//
// Inputs: pixels are one preprocessed image in CHW float32 (3 × S × S, normalised, S =
// imageSize()); token ids are the tokenizer's output, unpadded, `[CLS] ... [SEP]`. The
// runner swaps the first id for [ENC] (ITM, questions) or [DEC] (answers) itself.
// Errors: ModelError with a sentence a person can act on; bad input never crashes.
#include "model/architecture.h"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace unisearch::model {

struct ModelError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What loading a checkpoint into the model found. Entries are "name [d0, d1, ...]".
struct LoadReport {
    std::vector<std::string> missing;    // model tensors the checkpoint lacks
    std::vector<std::string> unexpected; // checkpoint tensors the model has no place for
    std::vector<std::string> ignored;    // training-only / unused entries, with the rule
    std::vector<std::string> notes;      // e.g. position embeddings interpolated
    size_t loaded = 0;                   // checkpoint tensors copied into the model
    bool hasAdapters = false;            // UniAdapter tensors present (else: plain BLIP)
    bool hasVideoAdapters = false;       // video_key/value_adapter present
    bool hasRetrieval = false;           // vision_proj, text_proj, itm_head
    bool hasVqa = false;                 // text_decoder
    bool ok() const { return missing.empty() && unexpected.empty(); }
};

struct RunnerOptions {
    std::string device = "cpu"; // "cpu", "cuda", "cuda:N"
    bool bfloat16 = false;      // weights cast once to bfloat16; outputs stay float
    int threads = 0;            // intra-op threads; 0 leaves LibTorch's setting alone
    // An adapter pack (.safetensors) whose tensors overlay the loaded weights; empty: none.
    // Whether it fits the base model is the caller's check (adapterpack.h: checkPackFits).
    std::string adapterPack = {};
    // Keep a part converted to another dtype on the CPU beside the weights file (a
    // bundle's folder, which must be writable) and map it from there in later runs.
    bool keepConversions = false;
    // ModelRunner::Part bits whose own weights are bfloat16 although the runner is float32
    // (CPU only; ignored with bfloat16 or on another device). For the answer decoder
    // (Decoder): its beam steps multiply a few rows by every weight, products that wait on
    // memory, so half the bytes is faster even where bfloat16 arithmetic is not (an Intel
    // CPU with AVX512_BF16 without AMX). Weights another part shares (the adapters) stay
    // float32; activations are cast where a part begins.
    unsigned bfloat16Parts = 0;
};

struct GenerateParams {
    int numBeams = 1;           // 1: greedy
    int maxLength = 10;         // tokens including the leading [DEC]
    int minLength = 1;          // [SEP] is forbidden before this length
    double lengthPenalty = 1.0; // scores are sum(log p) / length^lengthPenalty
};

struct GeneratedAnswer {
    std::vector<int64_t> ids; // [DEC] first; ends with [SEP] unless maxLength was reached
    double score = 0.0;       // sum of token log-probabilities / length^lengthPenalty
};

// The visual encoder's tokens of one image ([1,N+1,W] on the runner's device, in its
// dtype), kept by a caller (a re-rank cache) to run ITM again without the vision tower.
// Opaque; only the runner that made them can use them.
struct VisualTokens;
// Bytes the tokens hold (for a cache's byte bound).
size_t visualTokensBytes(const VisualTokens &tokens);

// Writes a full-size-able model with random weights (normal, as ModelRunner::random) as a
// .safetensors under the reference's key names, that `unisearch-cli model import` accepts:
// retrieval heads (vqa false) or the VQA decoder (vqa true), adapters as the architecture
// says. For benchmarks. Seeds LibTorch's global generator with seed. Throws ModelError.
void writeRandomCheckpoint(const Architecture &architecture, const std::string &path, bool vqa, uint64_t seed);

class ModelRunner
{
public:
    using Options = RunnerOptions;
    using GenerateParams = model::GenerateParams;
    using Hypothesis = GeneratedAnswer;

    struct RankedAnswer {
        int index = -1;              // into the candidate answer list
        double score = 0.0;          // reference rank_answer score (negated smoothed loss)
        double firstTokenProb = 0.0; // probability of the answer's first token after [DEC]
    };

    // Loads weights (.pth or .safetensors). Which heads exist (retrieval, VQA) and whether
    // adapters are used follows from the checkpoint's tensors. Throws ModelError naming
    // missing/unexpected tensors or the unreadable file.
    static std::unique_ptr<ModelRunner> load(const Architecture &architecture, const std::string &weightsPath,
                                             const Options &options = {}, LoadReport *report = nullptr);
    // Full model (adapters, retrieval heads and VQA decoder) with random weights: benchmarks.
    static std::unique_ptr<ModelRunner> random(const Architecture &architecture, const Options &options = {});
    // Reads a checkpoint and reports how it maps onto the model, without keeping it.
    static LoadReport inspect(const Architecture &architecture, const std::string &weightsPath);

    virtual ~ModelRunner() = default;
    ModelRunner(const ModelRunner &) = delete;
    ModelRunner &operator=(const ModelRunner &) = delete;

    // The model's parts. A loaded model's weights stay in the mapped file until a forward
    // first needs a part; the part is then cast to the runner's device and precision (a
    // float32 CPU runner uses the mapped weights as they are) and its attention fused.
    // Text: text encoder (embeddings, self-attention, FFN), text adapter layers, text_proj.
    // Vision: visual encoder, visual adapter layers, vision_proj. Cross: the text encoder's
    // cross-attention, video key/value adapters, multimodal adapter layers, itm_head.
    // Decoder: text_decoder. imageFeatures/videoFeature/imageTokens need Vision,
    // textFeatures Text, itmLogits* Vision+Text+Cross (itmLogitsTokens Text+Cross),
    // rankAnswers/generate all.
    enum Part : unsigned { Text = 1u, Vision = 2u, Cross = 4u, Decoder = 8u, AllParts = 15u };
    using Parts = unsigned;
    // Prepares these parts now (a warm-up, e.g. from the window's inference thread after
    // start): converted, or their mapped pages read in, so that the first query waits for
    // neither. Not reentrant, like every call. Throws ModelError.
    virtual void prepare(Parts parts) = 0;
    virtual Parts preparedParts() const = 0;
    // How many parameter values the parts prepared so far hold (each shared tensor counted
    // once): what was converted or read into memory. Parameters of parts never prepared
    // are not counted; their pages were never touched.
    virtual int64_t materializedParameterCount() const = 0;

    virtual int imageSize() const = 0;
    // The architecture in use (adapter sizes are 0 when the checkpoint has no adapters).
    virtual const Architecture &architecture() const = 0;
    virtual bool hasAdapters() const = 0;
    virtual bool hasVqa() const = 0;
    virtual bool hasRetrieval() const = 0;
    virtual std::string device() const = 0;
    virtual bool isBfloat16() const = 0;
    // The parts whose weights are bfloat16: every part of a bfloat16 runner, the options'
    // bfloat16Parts of a float32 CPU runner, none otherwise.
    virtual Parts bfloat16Parts() const = 0;

    // Normalised embedDim features, one per image (a batch runs as one forward).
    virtual std::vector<std::vector<float>> imageFeatures(const std::vector<const float *> &pixelsCHW) = 0;
    // One video feature: normalize(vision_proj(mean over frames of the CLS tokens)).
    virtual std::vector<float> videoFeature(const std::vector<const float *> &framesCHW) = 0;
    // Per-frame features of a video (as imageFeatures, batched).
    virtual std::vector<std::vector<float>> frameFeatures(const std::vector<const float *> &framesCHW) = 0;
    // Normalised text features; the batch is padded to its longest text internally.
    virtual std::vector<std::vector<float>> textFeatures(const std::vector<std::vector<int64_t>> &ids) = 0;

    // Image-text matching of one visual item (an image: one frame; a video: its frames,
    // whose tokens are concatenated) against several texts. Logits are {no match, match};
    // frameAware applies frame-aware attention (videos of 2+ frames).
    virtual std::vector<std::pair<double, double>> itmLogits(const std::vector<const float *> &framesCHW,
                                                     const std::vector<std::vector<int64_t>> &ids,
                                                     bool frameAware = false) = 0;
    // softmax(itm logits)[match] per text.
    virtual std::vector<double> itmProbability(const std::vector<const float *> &framesCHW,
                                       const std::vector<std::vector<int64_t>> &ids, bool frameAware = false) = 0;
    // One text against several images (a search re-rank), the images in one batch: one
    // {no match, match} logit pair per image.
    virtual std::vector<std::pair<double, double>> itmLogitsImages(const std::vector<const float *> &pixelsCHW,
                                                           const std::vector<int64_t> &ids) = 0;

    // The visual encoder's tokens of images, to be matched later with itmLogitsTokens.
    virtual std::shared_ptr<const VisualTokens> imageTokens(const float *pixelsCHW) = 0;
    virtual std::vector<std::shared_ptr<const VisualTokens>> imageTokensBatch(const std::vector<const float *> &pixelsCHW) = 0;
    // ITM of one text against several images given as tokens (one batch): {no match, match}
    // per image, the numbers itmLogitsImages gives on their pixels.
    virtual std::vector<std::pair<double, double>> itmLogitsTokens(const std::vector<std::shared_ptr<const VisualTokens>> &images,
                                                           const std::vector<int64_t> &ids) = 0;
    // The visual encoder's tokens of a video's frames (one item: the frames' tokens
    // concatenated) with their frame features (for frame-aware attention), to be matched
    // later with itmLogitsVideoTokens. Needs Vision.
    virtual std::shared_ptr<const VisualTokens> videoTokens(const std::vector<const float *> &framesCHW) = 0;
    // ITM of one video given as tokens against several texts: the numbers itmLogits gives
    // on its frames. Needs Text and Cross only.
    virtual std::vector<std::pair<double, double>> itmLogitsVideoTokens(const std::shared_ptr<const VisualTokens> &video,
                                                                const std::vector<std::vector<int64_t>> &ids,
                                                                bool frameAware = false) = 0;

    // VQA by ranking a candidate list (BLIP's rank_answer): the k answers whose first token
    // is likeliest are scored by the decoder; returned best first.
    virtual std::vector<RankedAnswer> rankAnswers(const std::vector<const float *> &framesCHW,
                                          const std::vector<int64_t> &questionIds,
                                          const std::vector<std::vector<int64_t>> &answerIds, int k = 128) = 0;
    // VQA by generation: greedy (numBeams 1) or beam search; hypotheses best first.
    virtual std::vector<Hypothesis> generate(const std::vector<const float *> &framesCHW,
                                     const std::vector<int64_t> &questionIds, const GenerateParams &params = {}) = 0;
    // The visual encoder's tokens of an image (or of frames, concatenated) for questions about
    // it: rankAnswers and generate given them skip the vision tower, so a second question
    // about the same photo runs only the question encoder and the decoder. Needs Vision.
    virtual std::shared_ptr<const VisualTokens> questionTokens(const std::vector<const float *> &framesCHW) = 0;
    // rankAnswers and generate over such tokens: the numbers those give on the frames.
    virtual std::vector<RankedAnswer> rankAnswersTokens(const std::shared_ptr<const VisualTokens> &visual,
                                          const std::vector<int64_t> &questionIds,
                                          const std::vector<std::vector<int64_t>> &answerIds, int k = 128) = 0;
    virtual std::vector<Hypothesis> generateTokens(const std::shared_ptr<const VisualTokens> &visual,
                                     const std::vector<int64_t> &questionIds, const GenerateParams &params = {}) = 0;

protected:
    ModelRunner() = default;
};


} // namespace unisearch::model
