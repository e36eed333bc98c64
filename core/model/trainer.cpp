#include "trainer.h"

#include "backend_p.h"

#include "adapterpack_p.h"
#include "statedict_p.h"
#include "uniadapter_p.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

namespace unisearch::model {

namespace {

constexpr double kTempMin = 0.001, kTempMax = 0.5; // the reference's clamp
constexpr double kLabelSmoothing = 0.1;

bool startsWith(const std::string &s, const std::string &p)
{
    return s.compare(0, p.size(), p) == 0;
}

bool contains(const std::string &s, const std::string &p)
{
    return s.find(p) != std::string::npos;
}

bool isVideoKv(const std::string &name)
{
    return contains(name, "video_key_adapter.") || contains(name, "video_value_adapter.");
}

// Whether a tensor (by its canonical name) is trained for this task and mode. See trainer.h.
bool isTrainable(const std::string &name, TrainTask task, TrainMode mode)
{
    const bool adapter = startsWith(name, "adapters.");
    if (task == TrainTask::Retrieval) {
        if (mode == TrainMode::Query)
            return (adapter && contains(name, ".up_proj.")) || startsWith(name, "text_proj.");
        return adapter || (isVideoKv(name) && startsWith(name, "text_encoder."))
            || startsWith(name, "vision_proj.") || startsWith(name, "text_proj.") || startsWith(name, "itm_head.");
    }
    if (mode == TrainMode::Query)
        return (adapter
                && (contains(name, ".up_proj.") || contains(name, ".multi_up_proj.")
                    || contains(name, ".adapter_layer_norm_cross_modal.")))
            || isVideoKv(name);
    return adapter || isVideoKv(name);
}

// Mixed precision for the forward pass (matrix products in bfloat16, weights float32).
class Autocast
{
public:
    Autocast(bool enable, torch::Device device)
        : m_on(enable)
        , m_cuda(device.is_cuda())
    {
        if (!m_on)
            return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
        const auto type = m_cuda ? at::kCUDA : at::kCPU;
        at::autocast::set_autocast_dtype(type, at::kBFloat16);
        at::autocast::set_autocast_enabled(type, true);
#else
        if (m_cuda) {
            at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
            at::autocast::set_enabled(true);
        } else {
            at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
            at::autocast::set_cpu_enabled(true);
        }
#endif
    }
    ~Autocast()
    {
        if (!m_on)
            return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
        at::autocast::set_autocast_enabled(m_cuda ? at::kCUDA : at::kCPU, false);
#else
        if (m_cuda)
            at::autocast::set_enabled(false);
        else
            at::autocast::set_cpu_enabled(false);
#endif
        at::autocast::clear_cache();
    }
    Autocast(const Autocast &) = delete;
    Autocast &operator=(const Autocast &) = delete;

private:
    bool m_on;
    bool m_cuda;
};

struct Losses {
    torch::Tensor total;
    double itc = 0, itm = 0;
};

} // namespace

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

    void collectParameters()
    {
        // Query mode keeps only text-sized activations (a few MiB at batch 8): recomputing
        // them would cost time (~1.5x per step) and save nothing.
        if (params.checkpointActivations && params.mode == TrainMode::Full) {
            checkpointing = std::make_shared<CheckpointStats>();
            model->setCheckpointing(checkpointing);
        }
        std::map<const c10::TensorImpl *, std::pair<std::string, torch::Tensor>> unique;
        for (const auto &item : model->named_parameters(true)) {
            auto [it, inserted] = unique.emplace(item.value().unsafeGetTensorImpl(), std::make_pair(item.key(), item.value()));
            if (!inserted && item.key() < it->second.first)
                it->second.first = item.key();
        }
        for (auto &[impl, entry] : unique)
            all.push_back(entry);
        std::sort(all.begin(), all.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
        for (auto &[name, t] : all) {
            const bool train = isTrainable(name, params.task, params.mode);
            t.set_requires_grad(train);
            if (train)
                trainable.emplace_back(name, t);
        }
        if (params.task == TrainTask::Retrieval) {
            temp = torch::full({}, params.initialTemperature, torch::TensorOptions().dtype(dtype).device(device));
            temp.set_requires_grad(true);
            trainable.emplace_back("temp", temp);
        }
    }

    std::pair<torch::Tensor, torch::Tensor> batch(const std::vector<const std::vector<int64_t> *> &texts) const
    {
        size_t longest = 0;
        for (const auto *t : texts)
            longest = std::max(longest, t->size());
        const auto n = static_cast<int64_t>(texts.size());
        torch::Tensor ids = torch::full({n, static_cast<int64_t>(longest)}, static_cast<int64_t>(arch.special.pad), torch::kLong);
        torch::Tensor mask = torch::zeros({n, static_cast<int64_t>(longest)}, torch::kLong);
        for (int64_t i = 0; i < n; ++i) {
            const auto &t = *texts[static_cast<size_t>(i)];
            std::copy(t.begin(), t.end(), ids[i].data_ptr<int64_t>());
            mask[i].narrow(0, 0, static_cast<int64_t>(t.size())).fill_(1);
        }
        return {ids.to(device), mask.to(device)};
    }

    void checkIds(const std::vector<int64_t> &ids, const std::string &what) const
    {
        if (ids.size() < 2)
            throw TrainError(what + " has no tokens");
        if (static_cast<int64_t>(ids.size()) > arch.text.maxPositions)
            throw TrainError(what + " is longer than the model's " + std::to_string(arch.text.maxPositions) + " tokens");
        for (int64_t id : ids)
            if (id < 0 || id >= arch.text.vocabSize)
                throw TrainError(what + " has a token id outside the vocabulary");
    }

    torch::Tensor pixelTensor(const std::vector<Pixels> &images) const
    {
        const int64_t s = arch.vision.imageSize;
        const auto size = static_cast<size_t>(3 * s * s);
        torch::Tensor t = torch::empty({static_cast<int64_t>(images.size()), 3, s, s}, torch::kFloat32);
        for (size_t i = 0; i < images.size(); ++i) {
            if (images[i].size() != size)
                throw TrainError("image " + std::to_string(i) + " has " + std::to_string(images[i].size())
                                 + " values; the model takes 3 x " + std::to_string(s) + " x " + std::to_string(s));
            std::copy(images[i].begin(), images[i].end(), t[static_cast<int64_t>(i)].data_ptr<float>());
        }
        return t.to(device, dtype);
    }

    // Frozen image encoder over many images, in chunks (no gradients).
    torch::Tensor encodeImagesNoGrad(const torch::Tensor &px, bool tokens)
    {
        torch::NoGradGuard noGrad;
        std::vector<torch::Tensor> out;
        for (int64_t i = 0; i < px.size(0); i += 16) {
            torch::Tensor emb = model->encodeImage(px.narrow(0, i, std::min<int64_t>(16, px.size(0) - i)));
            out.push_back(tokens ? emb : model->imageFeature(emb.select(1, 0)));
        }
        return torch::cat(out, 0);
    }

    void prepare(const RetrievalData &data)
    {
        if (!model->heads().retrieval)
            throw TrainError("this model has no retrieval heads (it is a VQA model); choose a retrieval model");
        const size_t numImages = std::max(data.images.size(), data.imageFeatures.size());
        if (data.examples.empty())
            throw TrainError("there are no training examples");
        for (size_t i = 0; i < data.examples.size(); ++i) {
            const auto &e = data.examples[i];
            if (e.image < 0 || static_cast<size_t>(e.image) >= numImages)
                throw TrainError("example " + std::to_string(i) + " refers to image " + std::to_string(e.image)
                                 + ", but there are " + std::to_string(numImages));
            checkIds(e.ids, "caption " + std::to_string(i));
        }
        pixels = torch::Tensor();
        imageFeats = torch::Tensor();
        if (query() && !data.imageFeatures.empty()) {
            const int64_t e = arch.embedDim;
            torch::Tensor f = torch::empty({static_cast<int64_t>(data.imageFeatures.size()), e}, torch::kFloat32);
            for (size_t i = 0; i < data.imageFeatures.size(); ++i) {
                if (static_cast<int64_t>(data.imageFeatures[i].size()) != e)
                    throw TrainError("image feature " + std::to_string(i) + " has "
                                     + std::to_string(data.imageFeatures[i].size()) + " values; the model's have "
                                     + std::to_string(e));
                std::copy(data.imageFeatures[i].begin(), data.imageFeatures[i].end(), f[static_cast<int64_t>(i)].data_ptr<float>());
            }
            imageFeats = f.to(device, dtype);
            return;
        }
        pixels = pixelTensor(data.images);
        if (query())
            imageFeats = encodeImagesNoGrad(pixels, false);
    }

    // cache = false: checks the data only (evaluation), keeping the cached tensors.
    void prepare(const VqaData &data, bool cache = true)
    {
        if (!model->heads().vqa)
            throw TrainError("this model has no answer decoder (it is a retrieval model); choose a VQA model");
        if (data.examples.empty())
            throw TrainError("there are no training examples");
        for (size_t i = 0; i < data.examples.size(); ++i) {
            const auto &e = data.examples[i];
            if (e.image < 0 || static_cast<size_t>(e.image) >= data.images.size())
                throw TrainError("question " + std::to_string(i) + " refers to image " + std::to_string(e.image)
                                 + ", but there are " + std::to_string(data.images.size()));
            checkIds(e.question, "question " + std::to_string(i));
            if (e.answers.empty())
                throw TrainError("question " + std::to_string(i) + " has no answer");
            if (!e.weights.empty() && e.weights.size() != e.answers.size())
                throw TrainError("question " + std::to_string(i) + " has " + std::to_string(e.weights.size())
                                 + " answer weights for " + std::to_string(e.answers.size()) + " answers");
            for (const auto &a : e.answers)
                checkIds(a, "an answer of question " + std::to_string(i));
        }
        if (!cache)
            return;
        pixels = pixelTensor(data.images);
        imageTokens = query() ? encodeImagesNoGrad(pixels, true) : torch::Tensor();
    }

    torch::Tensor indexTensor(const std::vector<int64_t> &v) const
    {
        return torch::tensor(v, torch::kLong).to(device);
    }

    // The reference's BLIP_Retrieval.forward (without momentum distillation and queues).
    Losses retrievalLoss(const RetrievalData &data, const std::vector<int> &rows, at::Generator &gen)
    {
        Losses out;
        std::vector<const std::vector<int64_t> *> texts;
        std::vector<int64_t> imageIdx;
        for (int r : rows) {
            texts.push_back(&data.examples[static_cast<size_t>(r)].ids);
            imageIdx.push_back(data.examples[static_cast<size_t>(r)].image);
        }
        const auto b = static_cast<int64_t>(rows.size());
        auto [ids, mask] = batch(texts);
        torch::Tensor idx = indexTensor(imageIdx);
        {
            torch::NoGradGuard noGrad;
            temp.clamp_(kTempMin, kTempMax);
        }
        Autocast autocast(params.bfloat16, device);
        torch::Tensor textFeat = model->textFeature(model->encodeText(ids, mask)); // [B,E]
        torch::Tensor imageEmbeds, imageFeat;
        if (imageFeats.defined()) {
            imageFeat = imageFeats.index_select(0, idx);
        } else {
            imageEmbeds = model->encodeImage(pixels.index_select(0, idx)); // [B,N+1,W]
            imageFeat = model->imageFeature(imageEmbeds.select(1, 0));
        }
        torch::Tensor t = temp.to(textFeat.scalar_type());
        torch::Tensor simI2T = torch::matmul(imageFeat, textFeat.t()) / t; // [B,B]
        torch::Tensor simT2I = torch::matmul(textFeat, imageFeat.t()) / t;
        const auto lossType = lossDtype();
        torch::Tensor pos = idx.unsqueeze(1).eq(idx.unsqueeze(0)).to(lossType); // [B,B]
        torch::Tensor targets = pos / pos.sum(1, true);
        torch::Tensor lossI2T = -(torch::log_softmax(simI2T.to(lossType), 1) * targets).sum(1).mean();
        torch::Tensor lossT2I = -(torch::log_softmax(simT2I.to(lossType), 1) * targets).sum(1).mean();
        torch::Tensor itc = (lossI2T + lossT2I) / 2;
        out.itc = itc.item<double>();
        out.total = itc;
        if (!imageEmbeds.defined() || b < 2)
            return out;

        // ITM: the positive pairs, then a hard negative image per text and a hard negative
        // text per image, drawn by similarity among the batch's other images/texts.
        torch::Tensor posLogits = model->itmLogits(imageEmbeds, ids, mask); // [B,2]
        std::vector<int64_t> negImageOfText, textRows, negTextOfImage, imageRows;
        {
            torch::NoGradGuard noGrad;
            torch::Tensor wT2I = torch::softmax(simT2I.to(torch::kFloat64), 1).masked_fill(pos.to(torch::kBool), 0).cpu();
            torch::Tensor wI2T = torch::softmax(simI2T.to(torch::kFloat64), 1).masked_fill(pos.to(torch::kBool), 0).cpu();
            for (int64_t i = 0; i < b; ++i) {
                if (wT2I[i].sum().item<double>() > 0) {
                    negImageOfText.push_back(torch::multinomial(wT2I[i], 1, false, gen).item<int64_t>());
                    textRows.push_back(i);
                }
                if (wI2T[i].sum().item<double>() > 0) {
                    negTextOfImage.push_back(torch::multinomial(wI2T[i], 1, false, gen).item<int64_t>());
                    imageRows.push_back(i);
                }
            }
        }
        if (textRows.empty() && imageRows.empty())
            return out; // every text of the batch shows the same image: no negatives
        torch::Tensor embedsNeg = torch::cat({imageEmbeds.index_select(0, indexTensor(negImageOfText)),
                                              imageEmbeds.index_select(0, indexTensor(imageRows))});
        torch::Tensor idsNeg = torch::cat({ids.index_select(0, indexTensor(textRows)),
                                           ids.index_select(0, indexTensor(negTextOfImage))});
        torch::Tensor maskNeg = torch::cat({mask.index_select(0, indexTensor(textRows)),
                                            mask.index_select(0, indexTensor(negTextOfImage))});
        torch::Tensor negLogits = model->itmLogits(embedsNeg, idsNeg, maskNeg);
        torch::Tensor logits = torch::cat({posLogits, negLogits}).to(lossType);
        torch::Tensor labels = torch::cat({torch::ones({b}, torch::kLong), torch::zeros({negLogits.size(0)}, torch::kLong)}).to(device);
        torch::Tensor itm = torch::nn::functional::cross_entropy(logits, labels);
        out.itm = itm.item<double>();
        out.total = itc + itm;
        return out;
    }

    // The reference's BLIP_VQA.forward (train): weighted, label-smoothed answer loss.
    Losses vqaLoss(const VqaData &data, const std::vector<int> &rows)
    {
        std::vector<const std::vector<int64_t> *> questions, answers;
        std::vector<int64_t> imageIdx, owner;
        std::vector<float> weights;
        for (size_t q = 0; q < rows.size(); ++q) {
            const auto &e = data.examples[static_cast<size_t>(rows[q])];
            questions.push_back(&e.question);
            imageIdx.push_back(e.image);
            for (size_t a = 0; a < e.answers.size(); ++a) {
                answers.push_back(&e.answers[a]);
                owner.push_back(static_cast<int64_t>(q));
                weights.push_back(e.weights.empty() ? 1.0f / static_cast<float>(e.answers.size()) : e.weights[a]);
            }
        }
        auto [qIds, qMask] = batch(questions);
        auto [aIds, aMask] = batch(answers);
        aIds.select(1, 0).fill_(static_cast<int64_t>(arch.special.decBos));
        torch::Tensor idx = indexTensor(imageIdx);
        Autocast autocast(params.bfloat16, device);
        torch::Tensor tokens = imageTokens.defined() ? imageTokens.index_select(0, idx)
                                                     : model->encodeImage(pixels.index_select(0, idx));
        torch::Tensor states = model->encodeQuestion(qIds, qMask, tokens); // [Q,L,W]
        torch::Tensor own = indexTensor(owner);
        torch::Tensor logits = model->decoderLogits(aIds, aMask, states.index_select(0, own), qMask.index_select(0, own));
        const int64_t n = aIds.size(0), la = aIds.size(1), vocab = logits.size(2);
        torch::Tensor targets = aIds.narrow(1, 1, la - 1).masked_fill(aMask.narrow(1, 1, la - 1).eq(0), -100);
        torch::Tensor ce = torch::nn::functional::cross_entropy(
            logits.narrow(1, 0, la - 1).reshape({-1, vocab}).to(lossDtype()), targets.reshape({-1}),
            torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(kLabelSmoothing).reduction(torch::kNone));
        torch::Tensor perAnswer = ce.view({n, la - 1}).sum(1);
        Losses out;
        out.total = (torch::tensor(weights, torch::kFloat32).to(device, lossDtype()) * perAnswer).sum() / static_cast<double>(rows.size());
        return out;
    }

    template <typename Data, typename LossFn>
    TrainResult run(const Data &data, const ProgressFn &progress, LossFn lossFn)
    {
        TrainResult result;
        const int n = static_cast<int>(data.examples.size());
        const int batchSize = std::max(1, params.batchSize);
        const int stepsPerEpoch = (n + batchSize - 1) / batchSize;
        const int epochs = std::max(1, params.epochs);
        const int total = stepsPerEpoch * epochs;
        const int warmup = static_cast<int>(std::lround(total * std::clamp(params.warmupFraction, 0.0, 1.0)));

        std::vector<torch::Tensor> tensors;
        for (auto &[name, t] : trainable)
            tensors.push_back(t);
        if (tensors.empty())
            throw TrainError("this model has nothing to train in " + toString(params.mode)
                             + " mode (a checkpoint without adapters?)");
        torch::optim::AdamW optimizer(tensors, torch::optim::AdamWOptions(params.learningRate).weight_decay(params.weightDecay));
        std::mt19937_64 rng(params.seed);
        at::Generator gen = at::detail::createCPUGenerator(params.seed);
        std::vector<int> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), 0);

        const auto start = std::chrono::steady_clock::now();
        int step = 0;
        long long seen = 0;
        model->train();
        for (int epoch = 0; epoch < epochs; ++epoch) {
            std::shuffle(order.begin(), order.end(), rng);
            for (int s = 0; s < stepsPerEpoch; ++s) {
                const double lr = step < warmup
                    ? params.learningRate * (step + 1) / warmup
                    : params.minLearningRate + (params.learningRate - params.minLearningRate) * 0.5
                        * (1.0 + std::cos(M_PI * (step - warmup) / std::max(1, total - warmup)));
                for (auto &group : optimizer.param_groups())
                    static_cast<torch::optim::AdamWOptions &>(group.options()).lr(lr);
                std::vector<int> rows(order.begin() + s * batchSize,
                                      order.begin() + std::min(n, (s + 1) * batchSize));
                optimizer.zero_grad();
                Losses losses = lossFn(rows, gen);
                losses.total.backward();
                if (params.clipNorm > 0)
                    torch::nn::utils::clip_grad_norm_(tensors, params.clipNorm);
                optimizer.step();
                if (temp.defined()) {
                    torch::NoGradGuard noGrad;
                    temp.clamp_(kTempMin, kTempMax);
                }
                ++step;
                seen += static_cast<long long>(rows.size());
                const double loss = losses.total.item<double>();
                result.losses.push_back(loss);
                result.steps = step;
                const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                result.seconds = elapsed;
                if (progress) {
                    TrainProgress p;
                    p.step = step;
                    p.totalSteps = total;
                    p.epoch = epoch + 1;
                    p.loss = loss;
                    p.itcLoss = losses.itc;
                    p.itmLoss = losses.itm;
                    p.learningRate = lr;
                    p.temperature = temp.defined() ? temp.item<double>() : 0.0;
                    p.secondsPerStep = elapsed / step;
                    p.examplesPerSecond = elapsed > 0 ? seen / elapsed : 0.0;
                    p.etaSeconds = p.secondsPerStep * (total - step);
                    p.epochEnd = s == stepsPerEpoch - 1;
                    if (!progress(p)) {
                        result.cancelled = true;
                        model->eval();
                        return result;
                    }
                }
            }
        }
        model->eval();
        return result;
    }
};

TorchTrainer::TorchTrainer(std::unique_ptr<Private> p)
    : d(std::move(p))
{
}

TorchTrainer::~TorchTrainer() = default;

namespace {
template <typename F>
auto guarded(const char *what, F &&f) -> decltype(f())
{
    try {
        return f();
    } catch (const TrainError &) {
        throw;
    } catch (const PackError &e) {
        throw TrainError(e.what());
    } catch (const c10::Error &e) {
        throw TrainError(std::string(what) + " failed: " + e.what_without_backtrace());
    } catch (const std::exception &e) {
        throw TrainError(std::string(what) + " failed: " + e.what());
    }
}
} // namespace

std::unique_ptr<Trainer> TorchTrainer::create(const Architecture &architecture, const std::string &weightsPath,
                                         const TrainParams &params, const std::string &startPack)
{
    return guarded("preparing training", [&] {
        torch::Device device(torch::kCPU);
        try {
            device = torch::Device(params.device.empty() ? std::string("cpu") : params.device);
        } catch (const std::exception &) {
            throw TrainError("unknown device \"" + params.device + "\" (use cpu or cuda)");
        }
        if (device.is_cuda() && !torch::cuda::is_available())
            throw TrainError("device \"" + params.device + "\" requested but CUDA is not available");
        StateDict dict;
        try {
            dict = loadCheckpoint(weightsPath);
        } catch (const CheckpointError &e) {
            throw TrainError(e.what());
        }
        const CheckpointLayout layout = detectLayout(dict);
        if (params.task == TrainTask::Retrieval && !layout.retrieval)
            throw TrainError("the model has no retrieval heads (vision_proj, text_proj, itm_head): train --task vqa, "
                             "or choose a retrieval model");
        if (params.task == TrainTask::Vqa && !layout.vqa)
            throw TrainError("the model has no answer decoder: train --task retrieval, or choose a VQA model");
        auto p = std::make_unique<Private>();
        p->params = params;
        p->arch = effectiveArchitecture(architecture, layout);
        p->model = UniAdapterModel(p->arch, ModelHeads{layout.retrieval, layout.vqa});
        LoadReport report;
        p->model->loadFrom(dict, report);
        if (!report.ok())
            throw TrainError("the weights " + weightsPath + " do not match the architecture ("
                             + std::to_string(report.missing.size()) + " missing, "
                             + std::to_string(report.unexpected.size()) + " unexpected tensors)");
        dict = StateDict();
        double startTemp = params.initialTemperature;
        if (!startPack.empty()) {
            std::map<std::string, std::string> meta;
            StateDict pack = loadSafetensors(startPack, &meta);
            applyPack(*p->model, pack, startPack);
            if (pack.contains("temp"))
                startTemp = pack.get("temp").to(torch::kFloat64).item<double>();
        }
        p->device = device;
        p->dtype = params.doublePrecision ? torch::kFloat64 : torch::kFloat32;
        p->model->castTo(device, p->dtype);
        p->params.initialTemperature = startTemp;
        p->collectParameters();
        p->model->eval();
        return std::make_unique<TorchTrainer>(std::move(p));
    });
}

std::unique_ptr<Trainer> TorchTrainer::random(const Architecture &architecture, const TrainParams &params)
{
    return guarded("building a random model", [&] {
        auto p = std::make_unique<Private>();
        p->params = params;
        p->arch = architecture;
        p->model = UniAdapterModel(p->arch, ModelHeads{true, true});
        p->model->randomize();
        p->device = torch::Device(params.device.empty() ? std::string("cpu") : params.device);
        p->dtype = params.doublePrecision ? torch::kFloat64 : torch::kFloat32;
        p->model->castTo(p->device, p->dtype);
        p->collectParameters();
        p->model->eval();
        return std::make_unique<TorchTrainer>(std::move(p));
    });
}

const TrainParams &TorchTrainer::params() const
{
    return d->params;
}

const Architecture &TorchTrainer::architecture() const
{
    return d->arch;
}

TrainResult TorchTrainer::train(const RetrievalData &data, const ProgressFn &progress)
{
    if (d->params.task != TrainTask::Retrieval)
        throw TrainError("this trainer was set up for VQA, not retrieval");
    return guarded("training", [&] {
        d->prepare(data);
        return d->run(data, progress, [&](const std::vector<int> &rows, at::Generator &gen) {
            return d->retrievalLoss(data, rows, gen);
        });
    });
}

TrainResult TorchTrainer::train(const VqaData &data, const ProgressFn &progress)
{
    if (d->params.task != TrainTask::Vqa)
        throw TrainError("this trainer was set up for retrieval, not VQA");
    return guarded("training", [&] {
        d->prepare(data);
        return d->run(data, progress, [&](const std::vector<int> &rows, at::Generator &) { return d->vqaLoss(data, rows); });
    });
}

std::vector<std::vector<float>> TorchTrainer::imageFeatures(const std::vector<Pixels> &images)
{
    return guarded("embedding images", [&] {
        torch::Tensor f = d->encodeImagesNoGrad(d->pixelTensor(images), false).to(torch::kCPU, torch::kFloat32).contiguous();
        std::vector<std::vector<float>> out;
        for (int64_t i = 0; i < f.size(0); ++i)
            out.emplace_back(f[i].data_ptr<float>(), f[i].data_ptr<float>() + f.size(1));
        return out;
    });
}

std::vector<std::vector<float>> TorchTrainer::textFeatures(const std::vector<std::vector<int64_t>> &ids)
{
    return guarded("embedding texts", [&] {
        torch::NoGradGuard noGrad;
        std::vector<const std::vector<int64_t> *> texts;
        for (size_t i = 0; i < ids.size(); ++i) {
            d->checkIds(ids[i], "text " + std::to_string(i));
            texts.push_back(&ids[i]);
        }
        auto [t, mask] = d->batch(texts);
        torch::Tensor f = d->model->textFeature(d->model->encodeText(t, mask)).to(torch::kCPU, torch::kFloat32).contiguous();
        std::vector<std::vector<float>> out;
        for (int64_t i = 0; i < f.size(0); ++i)
            out.emplace_back(f[i].data_ptr<float>(), f[i].data_ptr<float>() + f.size(1));
        return out;
    });
}

RetrievalMetrics TorchTrainer::evaluate(const RetrievalData &data)
{
    return guarded("evaluating", [&] {
        RetrievalMetrics m;
        if (data.examples.empty())
            return m;
        torch::NoGradGuard noGrad;
        Private::EvalScope evalScope(d->model);
        torch::Tensor imageFeat;
        if (!data.imageFeatures.empty()) {
            std::vector<torch::Tensor> rows;
            for (const auto &f : data.imageFeatures)
                rows.push_back(torch::tensor(f, torch::kFloat32));
            imageFeat = torch::stack(rows);
        } else {
            imageFeat = d->encodeImagesNoGrad(d->pixelTensor(data.images), false).to(torch::kCPU, torch::kFloat32);
        }
        std::vector<std::vector<int64_t>> ids;
        for (const auto &e : data.examples)
            ids.push_back(e.ids);
        const auto texts = textFeatures(ids);
        int hit1 = 0, hit5 = 0, hit10 = 0;
        for (size_t i = 0; i < texts.size(); ++i) {
            torch::Tensor sims = torch::matmul(imageFeat, torch::tensor(texts[i], torch::kFloat32)); // [N]
            const double own = sims[data.examples[i].image].item<double>();
            // Rank = images strictly more similar than the caption's own image.
            const int64_t rank = (sims > own).sum().item<int64_t>();
            hit1 += rank < 1;
            hit5 += rank < 5;
            hit10 += rank < 10;
        }
        m.queries = static_cast<int>(texts.size());
        m.recallAt1 = double(hit1) / m.queries;
        m.recallAt5 = double(hit5) / m.queries;
        m.recallAt10 = double(hit10) / m.queries;
        return m;
    });
}

double TorchTrainer::vqaAccuracy(const VqaData &data, const std::vector<std::vector<int64_t>> &candidates)
{
    return guarded("evaluating", [&] {
        if (data.examples.empty() || candidates.empty())
            return 0.0;
        d->prepare(data, false); // checks only: the training's cached tensors stay as they are
        torch::NoGradGuard noGrad;
        Private::EvalScope evalScope(d->model);
        std::vector<const std::vector<int64_t> *> cands;
        for (const auto &c : candidates)
            cands.push_back(&c);
        auto [aIds, aMask] = d->batch(cands);
        int correct = 0;
        int tokensOf = -1; // the image whose tokens are in `tokens` (questions about one image in a row)
        torch::Tensor tokens;
        for (const auto &e : data.examples) {
            auto [q, qMask] = d->batch({&e.question});
            if (e.image != tokensOf) {
                tokens = d->model->encodeImage(d->pixelTensor({data.images[static_cast<size_t>(e.image)]}));
                tokensOf = e.image;
            }
            torch::Tensor states = d->model->encodeQuestion(q, qMask, tokens);
            RankOutput r = d->model->rankAnswers(states, qMask, aIds, aMask, static_cast<int64_t>(candidates.size()));
            const auto &best = candidates[static_cast<size_t>(r.best[0].item<int64_t>())];
            correct += std::find(e.answers.begin(), e.answers.end(), best) != e.answers.end();
        }
        return double(correct) / static_cast<double>(data.examples.size());
    });
}

std::vector<std::string> TorchTrainer::trainableNames() const
{
    std::vector<std::string> out;
    for (const auto &[name, t] : d->trainable)
        out.push_back(name);
    return out;
}

std::map<std::string, std::vector<float>> TorchTrainer::snapshot(bool trainableOnly) const
{
    std::map<std::string, std::vector<float>> out;
    for (const auto &[name, t] : trainableOnly ? d->trainable : d->all) {
        torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous().reshape({-1});
        out.emplace(name, std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()));
    }
    return out;
}

double TorchTrainer::temperature() const
{
    return d->temp.defined() ? d->temp.item<double>() : 0.0;
}

double TorchTrainer::lossOf(const RetrievalData &data, unsigned long long seed, bool withGradients)
{
    return guarded("computing the loss", [&] {
        d->prepare(data);
        std::vector<int> rows(data.examples.size());
        std::iota(rows.begin(), rows.end(), 0);
        at::Generator gen = at::detail::createCPUGenerator(seed);
        if (withGradients) // a loss without gradients keeps the last ones (finite differences)
            for (auto &[name, t] : d->trainable)
                if (t.grad().defined())
                    t.mutable_grad() = torch::Tensor();
        torch::AutoGradMode mode(withGradients);
        Losses l = d->retrievalLoss(data, rows, gen);
        if (withGradients)
            l.total.backward();
        return l.total.item<double>();
    });
}

double TorchTrainer::lossOf(const VqaData &data, bool withGradients)
{
    return guarded("computing the loss", [&] {
        d->prepare(data);
        std::vector<int> rows(data.examples.size());
        std::iota(rows.begin(), rows.end(), 0);
        if (withGradients) // a loss without gradients keeps the last ones (finite differences)
            for (auto &[name, t] : d->trainable)
                if (t.grad().defined())
                    t.mutable_grad() = torch::Tensor();
        torch::AutoGradMode mode(withGradients);
        Losses l = d->vqaLoss(data, rows);
        if (withGradients)
            l.total.backward();
        return l.total.item<double>();
    });
}

std::vector<double> TorchTrainer::gradient(const std::string &name) const
{
    for (const auto &[n, t] : d->trainable) {
        if (n != name)
            continue;
        if (!t.grad().defined())
            return std::vector<double>(static_cast<size_t>(t.numel()), 0.0);
        torch::Tensor g = t.grad().to(torch::kCPU, torch::kFloat64).contiguous().reshape({-1});
        return std::vector<double>(g.data_ptr<double>(), g.data_ptr<double>() + g.numel());
    }
    throw TrainError("no trainable tensor named " + name);
}

long long TorchTrainer::recomputedBlocks() const
{
    return d->checkpointing ? d->checkpointing->recomputed.load() : 0;
}

void TorchTrainer::perturb(const std::string &name, int64_t index, double delta)
{
    for (auto &[n, t] : d->trainable) {
        if (n != name)
            continue;
        torch::NoGradGuard noGrad;
        t.view({-1})[index].add_(delta);
        return;
    }
    throw TrainError("no trainable tensor named " + name);
}

void TorchTrainer::savePack(const std::string &path, const PackMetadata &metadata) const
{
    guarded("saving the adapter pack", [&] {
        StateDict dict;
        for (const auto &[name, t] : d->trainable)
            dict.insert(name, t.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone());
        saveSafetensors(path, dict, packMetadataMap(metadata));
        return 0;
    });
}

std::unique_ptr<Trainer> impl::createTrainer(const Architecture &architecture, const std::string &weightsPath,
                                             const TrainParams &params, const std::string &startPack)
{
    return TorchTrainer::create(architecture, weightsPath, params, startPack);
}

std::unique_ptr<Trainer> impl::randomTrainer(const Architecture &architecture, const TrainParams &params)
{
    return TorchTrainer::random(architecture, params);
}

} // namespace unisearch::model
