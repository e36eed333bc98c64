#include "trainer_p.h"

#include "backend_p.h"

#include "adapterpack_p.h"
#include "statedict_p.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

namespace unisearch::model {

namespace {

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

} // namespace

void TorchTrainer::Private::collectParameters()
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

void TorchTrainer::Private::checkIds(const std::vector<int64_t> &ids, const std::string &what) const
{
    if (ids.size() < 2)
        throw TrainError(what + " has no tokens");
    if (static_cast<int64_t>(ids.size()) > arch.text.maxPositions)
        throw TrainError(what + " is longer than the model's " + std::to_string(arch.text.maxPositions) + " tokens");
    for (int64_t id : ids)
        if (id < 0 || id >= arch.text.vocabSize)
            throw TrainError(what + " has a token id outside the vocabulary");
}

torch::Tensor TorchTrainer::Private::pixelTensor(const std::vector<Pixels> &images) const
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
torch::Tensor TorchTrainer::Private::encodeImagesNoGrad(const torch::Tensor &px, bool tokens)
{
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < px.size(0); i += 16) {
        torch::Tensor emb = model->encodeImage(px.narrow(0, i, std::min<int64_t>(16, px.size(0) - i)));
        out.push_back(tokens ? emb : model->imageFeature(emb.select(1, 0)));
    }
    return torch::cat(out, 0);
}

void TorchTrainer::Private::prepare(const RetrievalData &data)
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
void TorchTrainer::Private::prepare(const VqaData &data, bool cache)
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

template <typename Data, typename LossFn>
TrainResult TorchTrainer::Private::run(const Data &data, const ProgressFn &progress, LossFn lossFn)
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
