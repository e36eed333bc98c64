#pragma once
// Adapter fine-tuning of a UniAdapter model (retrieval or VQA), behind a torch-free
// interface. Only the adapters, the projections and the ITM head (plus the contrastive
// temperature) are trained; every other tensor stays frozen (requires_grad = false) and
// bit-identical.
//
// Objectives, as the reference trains them (RERV/UniAdapter models/blip_retrieval.py,
// blip_vqa.py), without the momentum encoder and its queues (a few dozen examples fit in
// one batch; the queue would mostly hold duplicates):
//  - retrieval: image-text contrastive loss with a learnable temperature clamped to
//    [0.001, 0.5], positives by image identity; plus (full mode) image-text matching on
//    hard negatives sampled by similarity (one negative image per text, one negative
//    text per image), cross entropy over {no match, match}.
//  - VQA: answer generation loss (teacher forcing, label smoothing 0.1) per answer,
//    weighted by the answer's share among the question's answers, summed / questions.
//
// Modes:
//  - Query: the image side is frozen and the image features (retrieval: the normalised
//    embeddings the index stores; VQA: the image tokens) are computed once (or given),
//    so stored image vectors stay valid. Trained: the adapters' text branch (`up_proj`;
//    VQA also `multi_up_proj` and the cross-modal norm, and the video key/value
//    adapters), `text_proj`, the temperature. The shared `down_proj` and input norm also
//    feed the image encoder, so they stay frozen here.
//  - Full: every adapter tensor (visual, text, multimodal, video K/V), vision_proj,
//    text_proj, itm_head and the temperature; images go through the encoder each step.
//
// AdamW (weight decay 0.05), linear warm-up then cosine decay, gradient clipping,
// activation checkpointing (TrainParams::checkpointActivations),
// deterministic with a seed (same data + seed + thread count → identical weights).
// The progress callback runs after every step; returning false stops training at once
// (the model keeps the weights of the last finished step; nothing is written).
#include "model/architecture.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace unisearch::model {

struct TrainError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class TrainTask { Retrieval, Vqa };
enum class TrainMode { Query, Full };

std::string toString(TrainTask task);
std::string toString(TrainMode mode);

struct TrainParams {
    TrainTask task = TrainTask::Retrieval;
    TrainMode mode = TrainMode::Query;
    int epochs = 10;
    int batchSize = 8;
    double learningRate = 1e-3;  // peak, after warm-up (adapters from a trained checkpoint
                                 // move little; a few dozen examples need a larger step)
    double minLearningRate = 0.0;
    double weightDecay = 0.05;
    double warmupFraction = 0.1; // of all steps
    double clipNorm = 5.0;       // gradient clipping (global L2 norm); <= 0: off
    double initialTemperature = 0.07;
    unsigned long long seed = 42;
    std::string device = "cpu";  // cpu | cuda | cuda:N
    bool bfloat16 = false;       // autocast matrix products to bfloat16 (weights stay float32)
    bool doublePrecision = false; // float64 model (finite-difference checks in tests)
    // Full mode: recompute each transformer block's activations during backward instead of
    // keeping them (less memory at batch 8, for one more forward pass per step; numbers in
    // docs/performance.md). Same loss and gradients up to rounding; inference unaffected.
    // Query mode keeps only text-sized activations and never checkpoints.
    bool checkpointActivations = true;
};

// One image (or video frame) in the model's input format: CHW float32, normalised,
// 3 × S × S (S = the architecture's image size).
using Pixels = std::vector<float>;

struct RetrievalExample {
    std::vector<int64_t> ids; // tokenized caption, [CLS] ... [SEP]
    int image = -1;           // index into RetrievalData::images / imageFeatures
};

struct RetrievalData {
    std::vector<Pixels> images;                    // full mode (and query mode without features)
    std::vector<std::vector<float>> imageFeatures; // query mode: cached normalised features
    std::vector<RetrievalExample> examples;
};

struct VqaExample {
    std::vector<int64_t> question;             // tokenized question, [CLS] ... [SEP]
    int image = -1;
    std::vector<std::vector<int64_t>> answers; // tokenized answers, [CLS] ... [SEP]
    std::vector<float> weights;                // per answer (share of annotators); empty: equal
};

struct VqaData {
    std::vector<Pixels> images;
    std::vector<VqaExample> examples;
};

struct TrainProgress {
    int step = 0;         // finished steps, 1-based
    int totalSteps = 0;
    int epoch = 0;        // 1-based
    double loss = 0;      // of this step
    double itcLoss = 0, itmLoss = 0;
    double learningRate = 0;
    double temperature = 0;
    double examplesPerSecond = 0;
    double secondsPerStep = 0;
    double etaSeconds = 0;
    // The last step of an epoch: the callback may evaluate the current weights here
    // (evaluate(), vqaAccuracy()); that changes neither the weights nor the rest of the run.
    bool epochEnd = false;
};
using ProgressFn = std::function<bool(const TrainProgress &)>;

struct TrainResult {
    bool cancelled = false;
    int steps = 0;              // finished steps
    std::vector<double> losses; // per step
    double seconds = 0;
};

struct RetrievalMetrics {
    // Text → image: the caption's image among the top K of all images.
    double recallAt1 = 0, recallAt5 = 0, recallAt10 = 0;
    int queries = 0;
};

// What a trained pack records besides its tensors.
struct PackMetadata {
    std::string name;
    std::string baseModel;       // the base model's name
    std::string baseFingerprint; // sha256 of the base model's weights
    std::string task;            // retrieval | vqa
    std::string mode;            // query | full
    std::string architectureJson;
    int trainExamples = 0;
    int validationExamples = 0;
    std::string metricsJson = "{}"; // before/after validation numbers
    std::string createdAt;          // ISO 8601 UTC
    std::string appVersion;
    bool touchesVision = false;     // full mode: stored image vectors become stale
};

class Trainer
{
public:
    // Loads the base weights (a bundle's weights.safetensors or a checkpoint), then the
    // pack's tensors when startPack is given. Throws TrainError.
    static std::unique_ptr<Trainer> create(const Architecture &architecture, const std::string &weightsPath,
                                           const TrainParams &params, const std::string &startPack = {});
    // The full model (retrieval heads and VQA decoder) with random weights: benchmarks.
    static std::unique_ptr<Trainer> random(const Architecture &architecture, const TrainParams &params);
    virtual ~Trainer() = default;
    Trainer(const Trainer &) = delete;
    Trainer &operator=(const Trainer &) = delete;

    virtual const TrainParams &params() const = 0;
    virtual const Architecture &architecture() const = 0;

    // Trains on the data (validated first: TrainError names the bad example).
    virtual TrainResult train(const RetrievalData &data, const ProgressFn &progress = {}) = 0;
    virtual TrainResult train(const VqaData &data, const ProgressFn &progress = {}) = 0;

    // Evaluation with the current weights (no gradients).
    virtual RetrievalMetrics evaluate(const RetrievalData &data) = 0;
    // Share of questions whose best-ranked candidate (among candidates) is one of its answers.
    virtual double vqaAccuracy(const VqaData &data, const std::vector<std::vector<int64_t>> &candidates) = 0;
    virtual std::vector<std::vector<float>> imageFeatures(const std::vector<Pixels> &images) = 0;
    virtual std::vector<std::vector<float>> textFeatures(const std::vector<std::vector<int64_t>> &ids) = 0;

    // The names (one per tensor: the first of its aliases) that this task and mode train.
    virtual std::vector<std::string> trainableNames() const = 0;
    // Every parameter by name (aliases once), as float (tests: frozen stays frozen).
    virtual std::map<std::string, std::vector<float>> snapshot(bool trainableOnly) const = 0;
    virtual double temperature() const = 0;

    // Loss of the given examples as one batch, without updating anything, with the ITM
    // negatives drawn from a generator seeded with `seed`; gradients of the trainable
    // tensors are kept (gradient()). For finite-difference checks.
    virtual double lossOf(const RetrievalData &data, unsigned long long seed, bool withGradients) = 0;
    virtual double lossOf(const VqaData &data, bool withGradients) = 0;
    virtual std::vector<double> gradient(const std::string &name) const = 0;
    // Transformer blocks recomputed during backward so far (activation checkpointing at
    // work; stays 0 when it is off).
    virtual long long recomputedBlocks() const = 0;
    // Adds delta to element `index` of a trainable tensor (finite differences).
    virtual void perturb(const std::string &name, int64_t index, double delta) = 0;

    // Writes the trained tensors with the metadata atomically (temp file + rename).
    virtual void savePack(const std::string &path, const PackMetadata &metadata) const = 0;

protected:
    Trainer() = default;
};

} // namespace unisearch::model
