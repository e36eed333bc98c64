// TorchTrainer's training losses: the reference's BLIP_Retrieval.forward (ITC, ITM with hard
// negatives) and BLIP_VQA.forward (weighted, label-smoothed answer loss).
#include "trainer_p.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>

namespace unisearch::model {

namespace {

constexpr double kLabelSmoothing = 0.1;

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

} // namespace

std::pair<torch::Tensor, torch::Tensor> TorchTrainer::Private::batch(const std::vector<const std::vector<int64_t> *> &texts) const
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

torch::Tensor TorchTrainer::Private::indexTensor(const std::vector<int64_t> &v) const
{
    return torch::tensor(v, torch::kLong).to(device);
}

// The reference's BLIP_Retrieval.forward (without momentum distillation and queues).
Losses TorchTrainer::Private::retrievalLoss(const RetrievalData &data, const std::vector<int> &rows, at::Generator &gen)
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
Losses TorchTrainer::Private::vqaLoss(const VqaData &data, const std::vector<int> &rows)
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

} // namespace unisearch::model
