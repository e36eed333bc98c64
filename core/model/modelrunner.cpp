#include "modelrunner.h"

#include "backend_p.h"

#include "adapterpack_p.h"
#include "uniadapter_p.h"

#include <cstring>
#include <sstream>

namespace unisearch::model {

namespace {

constexpr size_t kListedEntries = 12; // how many missing/unexpected names an error lists

std::string listEntries(const std::vector<std::string> &entries)
{
    std::ostringstream out;
    for (size_t i = 0; i < entries.size() && i < kListedEntries; ++i)
        out << (i ? "; " : "") << entries[i];
    if (entries.size() > kListedEntries)
        out << "; and " << entries.size() - kListedEntries << " more";
    return out.str();
}

std::string describeProblems(const LoadReport &report, const std::string &path)
{
    std::ostringstream out;
    out << "the checkpoint " << path << " does not match the model architecture";
    if (!report.missing.empty())
        out << "; " << report.missing.size() << " tensor(s) missing: " << listEntries(report.missing);
    if (!report.unexpected.empty())
        out << "; " << report.unexpected.size() << " unexpected tensor(s): " << listEntries(report.unexpected);
    out << ". Check the model's architecture (model.json) or re-import the checkpoint.";
    return out.str();
}

torch::Device parseDevice(const std::string &name)
{
    torch::Device device(torch::kCPU);
    try {
        device = torch::Device(name.empty() ? std::string("cpu") : name);
    } catch (const std::exception &) {
        throw ModelError("unknown device \"" + name + "\" (use cpu or cuda)");
    }
    if (device.is_cuda() && !torch::cuda::is_available())
        throw ModelError("device \"" + name + "\" requested but CUDA is not available in this build or machine");
    return device;
}

// Runs f, turning any LibTorch or standard exception into a ModelError with context.
template <typename F>
auto guarded(const char *what, F &&f) -> decltype(f())
{
    try {
        return f();
    } catch (const ModelError &) {
        throw;
    } catch (const c10::Error &e) {
        throw ModelError(std::string(what) + " failed: " + e.what_without_backtrace());
    } catch (const std::exception &e) {
        throw ModelError(std::string(what) + " failed: " + e.what());
    }
}

std::vector<std::vector<float>> rowsOf(const torch::Tensor &t)
{
    torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    std::vector<std::vector<float>> rows(static_cast<size_t>(c.size(0)));
    const float *p = c.data_ptr<float>();
    const int64_t n = c.size(1);
    for (size_t i = 0; i < rows.size(); ++i)
        rows[i].assign(p + static_cast<int64_t>(i) * n, p + (static_cast<int64_t>(i) + 1) * n);
    return rows;
}

// The checkpoint's tensors; an unreadable checkpoint is a ModelError.
StateDict readCheckpoint(const std::string &weightsPath)
{
    try {
        return mapCheckpoint(weightsPath);
    } catch (const CheckpointError &e) {
        throw ModelError(e.what());
    }
}

} // namespace

struct VisualTokens {
    torch::Tensor tokens; // [1,N+1,W] (a video: [1,T·(N+1),W]), on the runner's device and in its dtype
    torch::Tensor frameFeatures; // a video of 2+ frames: [1,T,E], for frame-aware attention
};

size_t impl::visualTokensBytes(const VisualTokens &tokens)
{
    size_t bytes = static_cast<size_t>(tokens.tokens.numel()) * tokens.tokens.element_size();
    if (tokens.frameFeatures.defined())
        bytes += static_cast<size_t>(tokens.frameFeatures.numel()) * tokens.frameFeatures.element_size();
    return bytes;
}

// The LibTorch implementation of ModelRunner (the module behind backend_p.h makes it).
class TorchRunner final : public ModelRunner
{
public:
    struct Private;
    static std::unique_ptr<TorchRunner> load(const Architecture &architecture, const std::string &weightsPath,
                                             const Options &options, LoadReport *report);
    static std::unique_ptr<TorchRunner> random(const Architecture &architecture, const Options &options);
    static LoadReport inspect(const Architecture &architecture, const std::string &weightsPath);
    ~TorchRunner() override;

    void prepare(Parts parts) override;
    Parts preparedParts() const override;
    int64_t materializedParameterCount() const override;
    int imageSize() const override;
    const Architecture &architecture() const override;
    bool hasAdapters() const override;
    bool hasVqa() const override;
    bool hasRetrieval() const override;
    std::string device() const override;
    bool isBfloat16() const override;
    Parts bfloat16Parts() const override;
    std::vector<std::vector<float>> imageFeatures(const std::vector<const float *> &pixelsCHW) override;
    std::vector<float> videoFeature(const std::vector<const float *> &framesCHW) override;
    std::vector<std::vector<float>> frameFeatures(const std::vector<const float *> &framesCHW) override;
    std::vector<std::vector<float>> textFeatures(const std::vector<std::vector<int64_t>> &ids) override;
    std::vector<std::pair<double, double>> itmLogits(const std::vector<const float *> &framesCHW,
                                                     const std::vector<std::vector<int64_t>> &ids,
                                                     bool frameAware = false) override;
    std::vector<double> itmProbability(const std::vector<const float *> &framesCHW,
                                       const std::vector<std::vector<int64_t>> &ids, bool frameAware = false) override;
    std::vector<std::pair<double, double>> itmLogitsImages(const std::vector<const float *> &pixelsCHW,
                                                           const std::vector<int64_t> &ids) override;
    std::shared_ptr<const VisualTokens> imageTokens(const float *pixelsCHW) override;
    std::vector<std::shared_ptr<const VisualTokens>> imageTokensBatch(const std::vector<const float *> &pixelsCHW) override;
    std::vector<std::pair<double, double>> itmLogitsTokens(const std::vector<std::shared_ptr<const VisualTokens>> &images,
                                                           const std::vector<int64_t> &ids) override;
    std::shared_ptr<const VisualTokens> videoTokens(const std::vector<const float *> &framesCHW) override;
    std::vector<std::pair<double, double>> itmLogitsVideoTokens(const std::shared_ptr<const VisualTokens> &video,
                                                                const std::vector<std::vector<int64_t>> &ids,
                                                                bool frameAware = false) override;
    std::vector<RankedAnswer> rankAnswers(const std::vector<const float *> &framesCHW,
                                          const std::vector<int64_t> &questionIds,
                                          const std::vector<std::vector<int64_t>> &answerIds, int k = 128) override;
    std::vector<Hypothesis> generate(const std::vector<const float *> &framesCHW,
                                     const std::vector<int64_t> &questionIds, const GenerateParams &params = {}) override;
    std::shared_ptr<const VisualTokens> questionTokens(const std::vector<const float *> &framesCHW) override;
    std::vector<RankedAnswer> rankAnswersTokens(const std::shared_ptr<const VisualTokens> &visual,
                                          const std::vector<int64_t> &questionIds,
                                          const std::vector<std::vector<int64_t>> &answerIds, int k = 128) override;
    std::vector<Hypothesis> generateTokens(const std::shared_ptr<const VisualTokens> &visual,
                                     const std::vector<int64_t> &questionIds, const GenerateParams &params = {}) override;

private:
    explicit TorchRunner(std::unique_ptr<Private> d);
    // Moves the built model to options' device and precision, in inference mode.
    static std::unique_ptr<TorchRunner> placed(std::unique_ptr<Private> p, const Options &options);
    std::unique_ptr<Private> d;
};

struct TorchRunner::Private {
    Architecture arch;
    UniAdapterModel model{nullptr};
    torch::Device device{torch::kCPU};
    torch::ScalarType dtype = torch::kFloat32;
    Parts bfloat16Parts = 0; // of a float32 CPU runner: these parts' own weights are bfloat16
    std::string deviceName;
    int64_t materialized = 0; // parameter values of the prepared parts
    bool keepConversions = false;

    void need(Parts parts)
    {
        // bfloat16 parts first, with only the weights no float32 part shares; the rest,
        // shared weights included, in the runner's dtype.
        if (const Parts own = parts & bfloat16Parts)
            materialized += model->prepareParts(own, device, torch::kBFloat16, keepConversions, /*within=*/own);
        if (const Parts rest = parts & ~bfloat16Parts)
            materialized += model->prepareParts(rest, device, dtype, keepConversions);
    }

    // [N,3,S,S] float32 on the device, from N CHW buffers.
    torch::Tensor pixels(const std::vector<const float *> &images) const
    {
        if (images.empty())
            throw ModelError("no image given");
        const int64_t s = arch.vision.imageSize;
        torch::Tensor t = torch::empty({static_cast<int64_t>(images.size()), 3, s, s}, torch::kFloat32);
        const size_t bytes = static_cast<size_t>(3 * s * s) * sizeof(float);
        for (size_t i = 0; i < images.size(); ++i) {
            if (!images[i])
                throw ModelError("image " + std::to_string(i) + " has no pixel data");
            std::memcpy(t[static_cast<int64_t>(i)].data_ptr<float>(), images[i], bytes);
        }
        return t.to(device);
    }

    // ids padded to the batch's longest with [PAD] and the matching 0/1 mask.
    std::pair<torch::Tensor, torch::Tensor> batch(const std::vector<std::vector<int64_t>> &texts,
                                                  const char *what) const
    {
        size_t longest = 0;
        for (size_t i = 0; i < texts.size(); ++i) {
            if (texts[i].empty())
                throw ModelError(std::string(what) + " " + std::to_string(i) + " has no tokens");
            for (int64_t id : texts[i])
                if (id < 0 || id >= arch.text.vocabSize)
                    throw ModelError(std::string(what) + " " + std::to_string(i) + " has token id " + std::to_string(id)
                                     + " outside the vocabulary (0.." + std::to_string(arch.text.vocabSize - 1) + ")");
            longest = std::max(longest, texts[i].size());
        }
        if (static_cast<int64_t>(longest) > arch.text.maxPositions)
            throw ModelError(std::string(what) + " of " + std::to_string(longest) + " tokens is longer than the model's "
                             + std::to_string(arch.text.maxPositions) + " positions");
        const auto n = static_cast<int64_t>(texts.size());
        torch::Tensor ids = torch::full({n, static_cast<int64_t>(longest)}, static_cast<int64_t>(arch.special.pad), torch::kLong);
        torch::Tensor mask = torch::zeros({n, static_cast<int64_t>(longest)}, torch::kLong);
        for (int64_t i = 0; i < n; ++i) {
            const auto &t = texts[static_cast<size_t>(i)];
            const auto len = static_cast<int64_t>(t.size());
            std::memcpy(ids[i].data_ptr<int64_t>(), t.data(), t.size() * sizeof(int64_t));
            mask[i].narrow(0, 0, len).fill_(1);
        }
        return {ids.to(device), mask.to(device)};
    }

    // Frames → tokens concatenated as one item [1,T·(N+1),W], plus the per-frame tokens.
    torch::Tensor visualTokens(const std::vector<const float *> &frames, torch::Tensor *perFrame = nullptr) const
    {
        torch::Tensor tokens = model->encodeImage(pixels(frames)); // [T,N+1,W]
        if (perFrame)
            *perFrame = tokens;
        return tokens.reshape({1, -1, tokens.size(2)});
    }

    // ITM of one text (ids) against visual tokens [B,N+1,W]: one logit pair per image.
    std::vector<std::pair<double, double>> itmOneText(const torch::Tensor &visual, const std::vector<int64_t> &ids) const
    {
        auto [t, mask] = batch({ids}, "text");
        const int64_t b = visual.size(0);
        torch::Tensor logits = model->itmLogits(visual, t.expand({b, -1}), mask.expand({b, -1}))
                                   .to(torch::kCPU, torch::kFloat32);
        std::vector<std::pair<double, double>> out;
        for (int64_t i = 0; i < b; ++i)
            out.emplace_back(logits[i][0].item<double>(), logits[i][1].item<double>());
        return out;
    }

    void requireRetrieval() const
    {
        if (!model->heads().retrieval)
            throw ModelError("this model has no retrieval heads (it is a VQA checkpoint); load a retrieval model");
    }
    void checkGenerateParams(const GenerateParams &params) const
    {
        if (params.maxLength < 2 || params.maxLength > arch.text.maxPositions)
            throw ModelError("maxLength must be between 2 and " + std::to_string(arch.text.maxPositions));
    }
    // Visual tokens [1,S,W] given back to this runner, checked to be its own; `what` names
    // them in the error.
    const torch::Tensor &checkedTokens(const std::shared_ptr<const VisualTokens> &visual, const std::string &what) const
    {
        static const torch::Tensor none;
        const torch::Tensor &t = visual ? visual->tokens : none;
        if (!t.defined() || t.dim() != 3 || t.size(0) != 1 || t.size(2) != arch.vision.width || t.device() != device
            || t.scalar_type() != dtype)
            throw ModelError("the tokens of " + what + " are missing or were made by another model or precision");
        return t;
    }
    void requireVqa() const
    {
        if (!model->heads().vqa)
            throw ModelError("this model has no answer decoder (it is a retrieval checkpoint); load a VQA model");
    }
};

TorchRunner::TorchRunner(std::unique_ptr<Private> p)
    : d(std::move(p))
{
}

TorchRunner::~TorchRunner() = default;

std::unique_ptr<TorchRunner> TorchRunner::placed(std::unique_ptr<Private> p, const Options &options)
{
    const torch::Device device = parseDevice(options.device);
    p->device = device;
    p->dtype = options.bfloat16 ? torch::kBFloat16 : torch::kFloat32;
    p->bfloat16Parts = !options.bfloat16 && device.is_cpu() ? options.bfloat16Parts & AllParts : 0u;
    p->deviceName = device.str();
    p->keepConversions = options.keepConversions;
    p->model->eval(); // the parts are cast when first needed (need())
    return std::unique_ptr<TorchRunner>(new TorchRunner(std::move(p)));
}

std::unique_ptr<TorchRunner> TorchRunner::load(const Architecture &architecture, const std::string &weightsPath,
                                               const Options &options, LoadReport *report)
{
    parseDevice(options.device); // a bad device name fails before anything is read
    if (options.threads > 0)
        at::set_num_threads(options.threads);
    return guarded("loading the model", [&] {
        StateDict dict = readCheckpoint(weightsPath);
        const CheckpointLayout layout = detectLayout(dict);
        if (!layout.retrieval && !layout.vqa)
            throw ModelError("the checkpoint " + weightsPath
                             + " has neither retrieval heads (vision_proj, text_proj, itm_head) nor an answer decoder"
                               " (text_decoder.*): it is not a BLIP/UniAdapter retrieval or VQA model");
        auto p = std::make_unique<Private>();
        p->arch = effectiveArchitecture(architecture, layout);
        p->model = UniAdapterModel(p->arch, ModelHeads{layout.retrieval, layout.vqa});
        LoadReport rep;
        p->model->bindFrom(dict, rep); // the parameters become the mapped tensors: nothing is read yet
        dict = StateDict();
        if (report)
            *report = rep;
        if (!rep.ok())
            throw ModelError(describeProblems(rep, weightsPath));
        if (!options.adapterPack.empty()) {
            try {
                applyPack(*p->model, loadSafetensors(options.adapterPack), options.adapterPack);
            } catch (const std::exception &e) {
                throw ModelError(std::string("cannot apply the adapter pack: ") + e.what());
            }
        }
        return placed(std::move(p), options);
    });
}

std::unique_ptr<TorchRunner> TorchRunner::random(const Architecture &architecture, const Options &options)
{
    parseDevice(options.device); // a bad device name fails before anything is read
    if (options.threads > 0)
        at::set_num_threads(options.threads);
    return guarded("building a random model", [&] {
        auto p = std::make_unique<Private>();
        p->arch = architecture;
        p->model = UniAdapterModel(p->arch, ModelHeads{true, true});
        p->model->randomize();
        auto runner = placed(std::move(p), options);
        runner->d->model->castTo(runner->d->device, runner->d->dtype); // re-fuses what randomize() fused
        runner->prepare(AllParts);
        return runner;
    });
}

LoadReport TorchRunner::inspect(const Architecture &architecture, const std::string &weightsPath)
{
    return guarded("inspecting the checkpoint", [&] {
        StateDict dict = readCheckpoint(weightsPath);
        const CheckpointLayout layout = detectLayout(dict);
        LoadReport rep;
        if (!layout.retrieval && !layout.vqa) {
            rep.notes.push_back("neither retrieval heads nor an answer decoder found");
            for (const auto &[key, t] : dict.tensors())
                rep.unexpected.push_back(key);
            return rep;
        }
        UniAdapterModel model(effectiveArchitecture(architecture, layout), ModelHeads{layout.retrieval, layout.vqa});
        model->bindFrom(dict, rep);
        return rep;
    });
}

void TorchRunner::prepare(Parts parts)
{
    guarded("preparing the model", [&] { d->need(parts); });
}

ModelRunner::Parts TorchRunner::preparedParts() const
{
    return d->model->preparedParts();
}

int64_t TorchRunner::materializedParameterCount() const
{
    return d->materialized;
}

int TorchRunner::imageSize() const
{
    return d->arch.vision.imageSize;
}

const Architecture &TorchRunner::architecture() const
{
    return d->arch;
}

bool TorchRunner::hasAdapters() const
{
    return d->model->hasAdapters();
}

bool TorchRunner::hasVqa() const
{
    return d->model->heads().vqa;
}

bool TorchRunner::hasRetrieval() const
{
    return d->model->heads().retrieval;
}

std::string TorchRunner::device() const
{
    return d->deviceName;
}

bool TorchRunner::isBfloat16() const
{
    return d->dtype == torch::kBFloat16;
}

ModelRunner::Parts TorchRunner::bfloat16Parts() const
{
    return isBfloat16() ? Parts(AllParts) : d->bfloat16Parts;
}

std::vector<std::vector<float>> TorchRunner::imageFeatures(const std::vector<const float *> &pixelsCHW)
{
    d->requireRetrieval();
    return guarded("embedding images", [&] {
        d->need(Vision); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        torch::Tensor tokens = d->model->encodeImage(d->pixels(pixelsCHW));
        return rowsOf(d->model->imageFeature(tokens.select(1, 0)));
    });
}

std::vector<std::vector<float>> TorchRunner::frameFeatures(const std::vector<const float *> &framesCHW)
{
    return imageFeatures(framesCHW);
}

std::vector<float> TorchRunner::videoFeature(const std::vector<const float *> &framesCHW)
{
    d->requireRetrieval();
    return guarded("embedding a video", [&] {
        d->need(Vision); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        torch::Tensor tokens = d->model->encodeImage(d->pixels(framesCHW));
        torch::Tensor cls = tokens.select(1, 0).mean(0, /*keepdim=*/true); // mean over frames of CLS
        return rowsOf(d->model->imageFeature(cls)).front();
    });
}

std::vector<std::vector<float>> TorchRunner::textFeatures(const std::vector<std::vector<int64_t>> &ids)
{
    d->requireRetrieval();
    if (ids.empty())
        return {};
    return guarded("embedding texts", [&] {
        d->need(Text); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        auto [t, mask] = d->batch(ids, "text");
        return rowsOf(d->model->textFeature(d->model->encodeText(t, mask)));
    });
}

std::vector<std::pair<double, double>> TorchRunner::itmLogits(const std::vector<const float *> &framesCHW,
                                                              const std::vector<std::vector<int64_t>> &ids,
                                                              bool frameAware)
{
    d->requireRetrieval();
    if (ids.empty())
        return {};
    return itmLogitsVideoTokens(videoTokens(framesCHW), ids, frameAware);
}

std::shared_ptr<const VisualTokens> TorchRunner::videoTokens(const std::vector<const float *> &framesCHW)
{
    d->requireRetrieval();
    return guarded("encoding video frames", [&] {
        d->need(Vision); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        torch::Tensor perFrame;
        VisualTokens out{d->visualTokens(framesCHW, &perFrame), {}};
        if (perFrame.size(0) > 1)
            out.frameFeatures = d->model->imageFeature(perFrame.select(1, 0)).unsqueeze(0); // [1,T,E]
        return std::make_shared<const VisualTokens>(std::move(out));
    });
}

std::vector<std::pair<double, double>> TorchRunner::itmLogitsVideoTokens(const std::shared_ptr<const VisualTokens> &video,
                                                                         const std::vector<std::vector<int64_t>> &ids,
                                                                         bool frameAware)
{
    d->requireRetrieval();
    if (ids.empty())
        return {};
    return guarded("image-text matching", [&] {
        d->need(Text | Cross); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        const torch::Tensor &visual = d->checkedTokens(video, "the video");
        auto [t, mask] = d->batch(ids, "text");
        torch::Tensor weights;
        if (frameAware && video->frameFeatures.defined()) {
            torch::Tensor textFeat = d->model->textFeature(d->model->encodeText(t, mask));
            weights = UniAdapterModelImpl::frameAwareWeights(textFeat, video->frameFeatures);
        }
        torch::Tensor logits = d->model->itmLogits(visual, t, mask, weights).to(torch::kCPU, torch::kFloat32);
        std::vector<std::pair<double, double>> out;
        for (int64_t i = 0; i < logits.size(0); ++i)
            out.emplace_back(logits[i][0].item<double>(), logits[i][1].item<double>());
        return out;
    });
}

std::vector<double> TorchRunner::itmProbability(const std::vector<const float *> &framesCHW,
                                                const std::vector<std::vector<int64_t>> &ids, bool frameAware)
{
    std::vector<double> out;
    for (const auto &[no, yes] : itmLogits(framesCHW, ids, frameAware)) {
        // softmax over {no, yes}, written to stay finite for large logits
        out.push_back(1.0 / (1.0 + std::exp(no - yes)));
    }
    return out;
}

std::vector<std::pair<double, double>> TorchRunner::itmLogitsImages(const std::vector<const float *> &pixelsCHW,
                                                                    const std::vector<int64_t> &ids)
{
    d->requireRetrieval();
    return guarded("image-text matching", [&] {
        d->need(Vision | Text | Cross); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        return d->itmOneText(d->model->encodeImage(d->pixels(pixelsCHW)), ids); // [B,N+1,W]
    });
}

std::shared_ptr<const VisualTokens> TorchRunner::imageTokens(const float *pixelsCHW)
{
    return imageTokensBatch({pixelsCHW}).front();
}

std::vector<std::shared_ptr<const VisualTokens>> TorchRunner::imageTokensBatch(const std::vector<const float *> &pixelsCHW)
{
    d->requireRetrieval();
    return guarded("encoding images", [&] {
        d->need(Vision); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        torch::Tensor visual = d->model->encodeImage(d->pixels(pixelsCHW)); // [B,N+1,W]
        std::vector<std::shared_ptr<const VisualTokens>> out;
        for (int64_t i = 0; i < visual.size(0); ++i) // own copies: a cache frees them one by one
            out.push_back(std::make_shared<const VisualTokens>(VisualTokens{visual.narrow(0, i, 1).clone(), {}}));
        return out;
    });
}

std::vector<std::pair<double, double>> TorchRunner::itmLogitsTokens(
    const std::vector<std::shared_ptr<const VisualTokens>> &images, const std::vector<int64_t> &ids)
{
    d->requireRetrieval();
    if (images.empty())
        return {};
    return guarded("image-text matching", [&] {
        d->need(Text | Cross); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        std::vector<torch::Tensor> parts;
        for (size_t i = 0; i < images.size(); ++i)
            parts.push_back(d->checkedTokens(images[i], "image " + std::to_string(i)));
        return d->itmOneText(torch::cat(parts, 0), ids);
    });
}

namespace {
void checkAnswers(const std::vector<std::vector<int64_t>> &answerIds)
{
    if (answerIds.empty())
        throw ModelError("the candidate answer list is empty");
    for (size_t i = 0; i < answerIds.size(); ++i)
        if (answerIds[i].size() < 2)
            throw ModelError("candidate answer " + std::to_string(i) + " has fewer than two tokens ([CLS] ... [SEP])");
}
} // namespace

std::vector<ModelRunner::RankedAnswer> TorchRunner::rankAnswers(const std::vector<const float *> &framesCHW,
                                                                const std::vector<int64_t> &questionIds,
                                                                const std::vector<std::vector<int64_t>> &answerIds,
                                                                int k)
{
    d->requireVqa();
    checkAnswers(answerIds); // before the vision tower runs for nothing
    return rankAnswersTokens(questionTokens(framesCHW), questionIds, answerIds, k);
}

std::vector<ModelRunner::Hypothesis> TorchRunner::generate(const std::vector<const float *> &framesCHW,
                                                           const std::vector<int64_t> &questionIds,
                                                           const GenerateParams &params)
{
    d->requireVqa();
    d->checkGenerateParams(params); // before the vision tower runs for nothing
    return generateTokens(questionTokens(framesCHW), questionIds, params);
}

std::shared_ptr<const VisualTokens> TorchRunner::questionTokens(const std::vector<const float *> &framesCHW)
{
    d->requireVqa();
    return guarded("encoding the image", [&] {
        d->need(Vision); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        return std::make_shared<const VisualTokens>(VisualTokens{d->visualTokens(framesCHW), {}});
    });
}

std::vector<ModelRunner::RankedAnswer> TorchRunner::rankAnswersTokens(const std::shared_ptr<const VisualTokens> &visual,
                                                                const std::vector<int64_t> &questionIds,
                                                                const std::vector<std::vector<int64_t>> &answerIds,
                                                                int k)
{
    d->requireVqa();
    checkAnswers(answerIds);
    return guarded("ranking answers", [&] {
        d->need(AllParts); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        const torch::Tensor &tokens = d->checkedTokens(visual, "the image");
        auto [q, qmask] = d->batch({questionIds}, "question");
        auto [a, amask] = d->batch(answerIds, "answer");
        torch::Tensor states = d->model->encodeQuestion(q, qmask, tokens);
        RankOutput r = d->model->rankAnswers(states, qmask, a, amask, k);
        std::vector<RankedAnswer> out;
        for (int64_t i = 0; i < r.topkIds.size(1); ++i) {
            RankedAnswer ra;
            ra.index = static_cast<int>(r.topkIds[0][i].item<int64_t>());
            ra.score = r.topkScores[0][i].item<double>();
            ra.firstTokenProb = r.firstTokenProb[0][ra.index].item<double>();
            out.push_back(ra);
        }
        std::stable_sort(out.begin(), out.end(), [](const auto &x, const auto &y) { return x.score > y.score; });
        return out;
    });
}

std::vector<ModelRunner::Hypothesis> TorchRunner::generateTokens(const std::shared_ptr<const VisualTokens> &visual,
                                                           const std::vector<int64_t> &questionIds,
                                                           const GenerateParams &params)
{
    d->requireVqa();
    d->checkGenerateParams(params);
    return guarded("generating an answer", [&] {
        d->need(AllParts); // outside InferenceMode: parameters stay normal tensors
        c10::InferenceMode guard;
        const torch::Tensor &tokens = d->checkedTokens(visual, "the image");
        auto [q, qmask] = d->batch({questionIds}, "question");
        torch::Tensor states = d->model->encodeQuestion(q, qmask, tokens);
        std::vector<GeneratedSequence> seqs;
        if (params.numBeams <= 1) {
            seqs.push_back(d->model->greedy(states, torch::Tensor(), params.maxLength, params.minLength,
                                             params.lengthPenalty));
        } else {
            seqs = d->model->generate(states, torch::Tensor(), params);
        }
        std::vector<Hypothesis> out;
        for (auto &s : seqs)
            out.push_back(Hypothesis{std::move(s.ids), s.score});
        return out;
    });
}

std::unique_ptr<ModelRunner> impl::loadRunner(const Architecture &architecture, const std::string &weightsPath,
                                              const RunnerOptions &options, LoadReport *report)
{
    return TorchRunner::load(architecture, weightsPath, options, report);
}

std::unique_ptr<ModelRunner> impl::randomRunner(const Architecture &architecture, const RunnerOptions &options)
{
    return TorchRunner::random(architecture, options);
}

LoadReport impl::inspect(const Architecture &architecture, const std::string &weightsPath)
{
    return TorchRunner::inspect(architecture, weightsPath);
}

} // namespace unisearch::model
