#pragma once
// TorchTrainer, the LibTorch implementation of Trainer, and its state. Internal to us_model:
// trainer.cpp holds the trainer's interface, data preparation and training loop;
// trainerlosses.cpp the reference's training losses.
#include "trainer.h"

#include "uniadapter_p.h"

#include <ATen/core/Generator.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace unisearch::model {

// One training step's loss, and its parts where the task has several (retrieval: ITC, ITM).
struct Losses {
    torch::Tensor total;
    double itc = 0, itm = 0;
};

// The LibTorch implementation of Trainer (made by the module behind backend_p.h).
class TorchTrainer final : public Trainer
{
public:
    struct Private;
    static std::unique_ptr<Trainer> create(const Architecture &architecture, const std::string &weightsPath,
                                           const TrainParams &params, const std::string &startPack);
    static std::unique_ptr<Trainer> random(const Architecture &architecture, const TrainParams &params);
    explicit TorchTrainer(std::unique_ptr<Private> d);
    ~TorchTrainer() override;

    const TrainParams &params() const override;
    const Architecture &architecture() const override;
    TrainResult train(const RetrievalData &data, const ProgressFn &progress = {}) override;
    TrainResult train(const VqaData &data, const ProgressFn &progress = {}) override;
    RetrievalMetrics evaluate(const RetrievalData &data) override;
    double vqaAccuracy(const VqaData &data, const std::vector<std::vector<int64_t>> &candidates) override;
    std::vector<std::vector<float>> imageFeatures(const std::vector<Pixels> &images) override;
    std::vector<std::vector<float>> textFeatures(const std::vector<std::vector<int64_t>> &ids) override;
    std::vector<std::string> trainableNames() const override;
    std::map<std::string, std::vector<float>> snapshot(bool trainableOnly) const override;
    double temperature() const override;
    double lossOf(const RetrievalData &data, unsigned long long seed, bool withGradients) override;
    double lossOf(const VqaData &data, bool withGradients) override;
    std::vector<double> gradient(const std::string &name) const override;
    long long recomputedBlocks() const override;
    void perturb(const std::string &name, int64_t index, double delta) override;
    void savePack(const std::string &path, const PackMetadata &metadata) const override;

private:
    std::unique_ptr<Private> d;
};

struct TorchTrainer::Private {
    Architecture arch;
    TrainParams params;
    UniAdapterModel model{nullptr};
    torch::Device device{torch::kCPU};
    torch::ScalarType dtype = torch::kFloat32;
    torch::Tensor temp;                                          // scalar, learnable (retrieval)
    CheckpointSwitch checkpointing;                              // null: off
    std::vector<std::pair<std::string, torch::Tensor>> all;       // canonical name → tensor (aliases once)
    std::vector<std::pair<std::string, torch::Tensor>> trainable; // includes "temp" for retrieval

    // Cached per data set (pointer identity is not reliable; rebuilt per call).
    torch::Tensor pixels;     // [N,3,S,S] (full mode, or to compute features)
    torch::Tensor imageFeats; // [N,E] query-mode retrieval
    torch::Tensor imageTokens; // [N,S,W] query-mode VQA

    bool query() const { return params.mode == TrainMode::Query; }

    // Evaluation, possibly from inside a progress callback mid-training: inference mode
    // for its duration, and the training mode restored afterwards.
    struct EvalScope {
        UniAdapterModel &model;
        bool wasTraining;
        explicit EvalScope(UniAdapterModel &m)
            : model(m)
            , wasTraining(m->is_training())
        {
            model->eval();
        }
        ~EvalScope() { model->train(wasTraining); }
    };
    // Losses in float32 (float64 for a float64 model: finite-difference checks).
    torch::ScalarType lossDtype() const { return dtype == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32; }
    static constexpr double kTempMin = 0.001, kTempMax = 0.5; // the reference's clamp

    // Fills all and trainable (gradients on for what the task and mode train), and the
    // learnable temperature of retrieval.
    void collectParameters();
    // Token id lists padded to the longest: ids and attention mask [N,L], on the device.
    std::pair<torch::Tensor, torch::Tensor> batch(const std::vector<const std::vector<int64_t> *> &texts) const;
    void checkIds(const std::vector<int64_t> &ids, const std::string &what) const;
    torch::Tensor pixelTensor(const std::vector<Pixels> &images) const;
    // Frozen image encoder over many images, in chunks (no gradients).
    torch::Tensor encodeImagesNoGrad(const torch::Tensor &px, bool tokens);
    void prepare(const RetrievalData &data);
    // cache = false: checks the data only (evaluation), keeping the cached tensors.
    void prepare(const VqaData &data, bool cache = true);
    torch::Tensor indexTensor(const std::vector<int64_t> &v) const; // a long tensor on the device
    // The reference's BLIP_Retrieval.forward (without momentum distillation and queues).
    Losses retrievalLoss(const RetrievalData &data, const std::vector<int> &rows, at::Generator &gen);
    // The reference's BLIP_VQA.forward (train): weighted, label-smoothed answer loss.
    Losses vqaLoss(const VqaData &data, const std::vector<int> &rows);
    // The training loop (AdamW, warm-up then cosine learning rate, gradient clipping) over
    // lossFn(rows, generator) per batch; progress may cancel. In trainer.cpp, its only user.
    template <typename Data, typename LossFn>
    TrainResult run(const Data &data, const ProgressFn &progress, LossFn lossFn);
};

} // namespace unisearch::model
