#include "uniadapter_p.h"
#include "storedconversion_p.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <sys/mman.h>

namespace unisearch::model {

namespace {

std::string shapeText(at::IntArrayRef shape)
{
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < shape.size(); ++i)
        out << (i ? ", " : "") << shape[i];
    out << ']';
    return out.str();
}

std::string entryText(const std::string &name, const torch::Tensor &t)
{
    return name + ' ' + shapeText(t.sizes());
}

bool startsWith(const std::string &s, const std::string &prefix)
{
    return s.compare(0, prefix.size(), prefix) == 0;
}

bool endsWith(const std::string &s, const std::string &suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// True when some dot-separated component of the key ends with "_m" (visual_encoder_m,
// text_proj_m, adapters_m, ...): the reference's momentum encoders.
bool hasMomentumComponent(const std::string &key)
{
    size_t start = 0;
    while (start <= key.size()) {
        size_t end = key.find('.', start);
        if (end == std::string::npos)
            end = key.size();
        const std::string part = key.substr(start, end - start);
        if (part.size() > 2 && endsWith(part, "_m"))
            return true;
        start = end + 1;
    }
    return false;
}

bool isAdapterKey(const std::string &key)
{
    return key.find("adapter") != std::string::npos && key.find("video_") == std::string::npos;
}

// Bicubic resize of ViT position embeddings to another grid, as the reference's
// interpolate_pos_embed does (CLS kept, patch grid interpolated, align_corners=False).
torch::Tensor interpolatePosEmbed(const torch::Tensor &pos, int64_t targetTokens)
{
    const int64_t w = pos.size(2);
    const int64_t from = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pos.size(1) - 1))));
    const int64_t to = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(targetTokens - 1))));
    if (from * from != pos.size(1) - 1 || to * to != targetTokens - 1)
        return {};
    torch::Tensor cls = pos.narrow(1, 0, 1);
    torch::Tensor grid = pos.narrow(1, 1, from * from).reshape({1, from, from, w}).permute({0, 3, 1, 2}).to(torch::kFloat32);
    grid = torch::nn::functional::interpolate(
        grid, torch::nn::functional::InterpolateFuncOptions()
                  .size(std::vector<int64_t>{to, to})
                  .mode(torch::kBicubic)
                  .align_corners(false));
    grid = grid.permute({0, 2, 3, 1}).reshape({1, to * to, w}).to(pos.scalar_type());
    return torch::cat({cls, grid}, 1);
}

// A converted parameter's place in its block: per module, the weights first, then the
// biases, so the query/key/value weights of an attention lie side by side and fuse as a
// view (BertSelfAttentionImpl::fuse) instead of a copy.
std::pair<std::string, bool> blockOrder(const std::string &name)
{
    const size_t leaf = name.rfind('.');                                             // ".weight"
    const size_t layer = leaf == std::string::npos || leaf == 0 ? std::string::npos : name.rfind('.', leaf - 1); // ".query"
    return {layer == std::string::npos ? std::string() : name.substr(0, layer), endsWith(name, ".bias")};
}

// Asks for transparent huge pages over the whole 2 MiB pages of a fresh block (only where the
// system leaves it to madvise; nothing happens elsewhere). A 4 KiB page fault each is the
// larger part of converting a full-size model (240,000 faults for its 1 GB of bfloat16).
void adviseHugePages(const torch::Tensor &block)
{
    constexpr uintptr_t huge = uintptr_t(2) << 20;
    const auto begin = reinterpret_cast<uintptr_t>(block.data_ptr());
    const uintptr_t end = begin + static_cast<uintptr_t>(block.numel()) * block.element_size();
    const uintptr_t first = (begin + huge - 1) & ~(huge - 1), last = end & ~(huge - 1);
    if (last > first)
        ::madvise(reinterpret_cast<void *>(first), last - first, MADV_HUGEPAGE);
}

// An uninitialised CPU tensor of n elements in memory of its own, 2 MiB-aligned and advised
// for transparent huge pages: a block from the heap got them in about half the runs (its
// edges straddle other allocations), 4 KiB pages fault 85,000 times for a 350 MB part.
torch::Tensor hugePageBlock(int64_t n, torch::ScalarType dtype)
{
    constexpr size_t huge = size_t(2) << 20;
    const size_t bytes = static_cast<size_t>(n) * c10::elementSize(dtype);
    const size_t reserved = bytes + huge;
    void *raw = ::mmap(nullptr, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        torch::Tensor block = torch::empty({n}, torch::TensorOptions().dtype(dtype));
        adviseHugePages(block);
        return block;
    }
    auto *aligned = reinterpret_cast<void *>((reinterpret_cast<uintptr_t>(raw) + huge - 1) & ~(uintptr_t(huge) - 1));
    ::madvise(aligned, (bytes + huge - 1) & ~(huge - 1), MADV_HUGEPAGE);
    return torch::from_blob(
        aligned, {n}, [raw, reserved](void *) { ::munmap(raw, reserved); }, torch::TensorOptions().dtype(dtype));
}

// One allocation for all the parameters being converted on the CPU (each a view of it), in
// blockOrder; each mapped source is mapped in one call, converted, then dropped.
void convertIntoBlock(std::vector<std::pair<std::string, torch::Tensor>> &params, torch::ScalarType dtype)
{
    if (params.empty())
        return;
    std::stable_sort(params.begin(), params.end(),
                     [](const auto &a, const auto &b) { return blockOrder(a.first) < blockOrder(b.first); });
    constexpr int64_t align = 64; // elements: every view starts on a cache line
    std::vector<int64_t> offsets;
    int64_t total = 0;
    for (const auto &[name, p] : params) {
        offsets.push_back(total);
        total += (p.numel() + align - 1) / align * align;
    }
    torch::Tensor block = hugePageBlock(total, dtype);
    std::vector<torch::Tensor> converted;
    for (size_t i = 0; i < params.size(); ++i)
        converted.push_back(block.narrow(0, offsets[i], params[i].second.numel()).view(params[i].second.sizes()));
    // Read from the file and converted by every intra-op thread at once, a share of the
    // tensors each (pread is one thread's copy; a part's 350 MB took 0.4 s on one).
    std::vector<char> read(params.size(), 0);
    at::parallel_for(0, static_cast<int64_t>(params.size()), 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            read[i] = copyMappedInto(params[i].second.detach(), converted[i]);
    });
    for (size_t i = 0; i < params.size(); ++i) {
        torch::Tensor &p = params[i].second;
        torch::Tensor source = p.detach();
        if (!read[i]) {
            adviseMapped(source, /*release=*/false);
            converted[i].copy_(source); // the same rounding as Tensor::to
        }
        p.set_data(converted[i]);
        adviseMapped(source, /*release=*/true); // only the converted copy stays resident
    }
}

// "text", "vision+cross": the parts a stored conversion holds.
std::string partsTag(unsigned parts)
{
    std::string tag;
    for (const auto &[bit, name] : {std::pair{unsigned(ModelRunner::Text), "text"},
                                    std::pair{unsigned(ModelRunner::Vision), "vision"},
                                    std::pair{unsigned(ModelRunner::Cross), "cross"},
                                    std::pair{unsigned(ModelRunner::Decoder), "decoder"}})
        if (parts & bit)
            tag += (tag.empty() ? "" : "+") + std::string(name);
    return tag;
}

} // namespace

std::string ignoredKeyReason(const std::string &key)
{
    if (hasMomentumComponent(key))
        return "momentum encoder (training only)";
    if (key == "image_queue" || key == "text_queue" || key == "idx_queue" || key == "ptr_queue")
        return "contrastive queue (training only)";
    if (key == "temp")
        return "contrastive temperature (unused at inference)";
    if (startsWith(key, "adapters_dec."))
        return "decoder adapters the reference builds but never uses";
    if (endsWith(key, "embeddings.position_ids"))
        return "constant position-id buffer";
    return {};
}

CheckpointLayout detectLayout(const StateDict &dict)
{
    CheckpointLayout layout;
    for (const auto &[key, tensor] : dict.tensors()) {
        if (!ignoredKeyReason(key).empty())
            continue;
        if (isAdapterKey(key))
            layout.adapters = true;
        if (key.find("video_key_adapter") != std::string::npos || key.find("video_value_adapter") != std::string::npos)
            layout.videoAdapters = true;
        if (startsWith(key, "vision_proj.") || startsWith(key, "text_proj.") || startsWith(key, "itm_head."))
            layout.retrieval = true;
        if (startsWith(key, "text_decoder."))
            layout.vqa = true;
    }
    return layout;
}

Architecture effectiveArchitecture(const Architecture &architecture, const CheckpointLayout &layout)
{
    Architecture a = architecture;
    if (!layout.adapters)
        a.adapter.bottleneck = 0;
    if (!layout.videoAdapters)
        a.adapter.videoKvBottleneck = 0;
    return a;
}

// --- construction --------------------------------------------------------------------

UniAdapterModelImpl::UniAdapterModelImpl(const Architecture &architecture, const ModelHeads &heads)
    : m_arch(architecture)
    , m_heads(heads)
{
    const auto &v = m_arch.vision;
    const auto &t = m_arch.text;
    if (m_arch.adapter.bottleneck > 0) {
        // One adapter serves both towers, so they must have the same width.
        if (v.width != t.hidden || v.depth != t.layers)
            throw std::invalid_argument("UniAdapter needs vision width/depth equal to text hidden/layers");
        AdapterParams ap;
        ap.width = v.width;
        ap.bottleneck = m_arch.adapter.bottleneck;
        ap.scale = m_arch.adapter.scale;
        ap.layernorm = m_arch.adapter.layernorm;
        m_adapters = register_module("adapters", torch::nn::ModuleList());
        for (int i = 0; i < v.depth; ++i)
            m_adapters->push_back(UniAdapter(ap));
    }
    m_visual = register_module("visual_encoder", VisionTransformer(v, m_adapters));
    m_text = register_module("text_encoder", BertModel(bertParams(), m_adapters));
    if (heads.retrieval) {
        m_visionProj = register_module("vision_proj", Dense(v.width, m_arch.embedDim));
        m_textProj = register_module("text_proj", Dense(t.hidden, m_arch.embedDim));
        m_itmHead = register_module("itm_head", Dense(t.hidden, 2));
    }
    if (heads.vqa)
        m_decoder = register_module("text_decoder", BertLMHead(bertParams(), m_adapters));
}

BertParams UniAdapterModelImpl::bertParams() const
{
    BertParams p;
    p.text = m_arch.text;
    p.encoderWidth = m_arch.vision.width;
    p.videoKvBottleneck = m_arch.adapter.bottleneck > 0 ? m_arch.adapter.videoKvBottleneck : 0;
    return p;
}

void UniAdapterModelImpl::randomize()
{
    m_visual->randomize();
    m_text->randomize();
    if (m_adapters)
        for (const auto &a : *m_adapters)
            a->as<UniAdapterImpl>()->randomize();
    if (m_heads.retrieval) {
        m_visionProj->randomize(0.02);
        m_textProj->randomize(0.02);
        m_itmHead->randomize(0.02);
    }
    if (m_decoder)
        m_decoder->randomize();
    fuse();
}

void UniAdapterModelImpl::fuse()
{
    apply([](torch::nn::Module &m) {
        if (auto *att = m.as<BertSelfAttentionImpl>())
            att->fuse();
    });
}

void UniAdapterModelImpl::castTo(torch::Device device, torch::ScalarType dtype)
{
    torch::NoGradGuard noGrad;
    // Shared modules appear under several names; the same TensorImpl is converted once
    // and every alias sees it.
    std::set<const c10::TensorImpl *> done;
    for (auto &p : parameters()) {
        if (!done.insert(p.unsafeGetTensorImpl()).second)
            continue;
        torch::Tensor converted = p.to(device, dtype, /*non_blocking=*/false, /*copy=*/false).contiguous();
        p.set_data(converted);
    }
    fuse();
}

void UniAdapterModelImpl::setCheckpointing(const CheckpointSwitch &on)
{
    m_visual->setCheckpointing(on);
    m_text->encoder->setCheckpointing(on);
    if (m_decoder)
        m_decoder->bert->encoder->setCheckpointing(on);
}

torch::ScalarType UniAdapterModelImpl::dtype() const
{
    return m_visual->parameters().front().scalar_type();
}

torch::Device UniAdapterModelImpl::device() const
{
    return m_visual->parameters().front().device();
}

// --- loading -------------------------------------------------------------------------

void UniAdapterModelImpl::loadFrom(const StateDict &dict, LoadReport &report)
{
    bindFrom(dict, report);
    fuse();
}

void UniAdapterModelImpl::bindFrom(const StateDict &dict, LoadReport &report)
{
    torch::NoGradGuard noGrad;
    const CheckpointLayout layout = detectLayout(dict);
    report.hasAdapters = layout.adapters;
    report.hasVideoAdapters = layout.videoAdapters;
    report.hasRetrieval = layout.retrieval;
    report.hasVqa = layout.vqa;

    // Group the model's names by tensor: a shared adapter is one tensor with several names.
    std::map<const c10::TensorImpl *, std::vector<std::string>> aliases;
    std::map<std::string, torch::Tensor> byName;
    for (const auto &item : named_parameters(true)) {
        aliases[item.value().unsafeGetTensorImpl()].push_back(item.key());
        byName.emplace(item.key(), item.value());
    }

    for (const auto &[impl, names] : aliases) {
        torch::Tensor param = byName.at(names.front());
        bool found = false;
        for (const auto &name : names) {
            if (!dict.contains(name))
                continue;
            torch::Tensor src = dict.get(name);
            if (src.sizes() != param.sizes() && endsWith(name, "pos_embed") && src.dim() == 3 && param.dim() == 3
                && src.size(2) == param.size(2)) {
                torch::Tensor resized = interpolatePosEmbed(src, param.size(1));
                if (resized.defined()) {
                    report.notes.push_back("interpolated " + name + " from " + shapeText(src.sizes()) + " to "
                                           + shapeText(param.sizes()));
                    src = resized;
                }
            }
            if (src.sizes() != param.sizes()) {
                report.unexpected.push_back(entryText(name, src) + " (the model expects " + shapeText(param.sizes())
                                            + ")");
                continue;
            }
            if (!found) {
                // set_data changes the parameter's TensorImpl, so every alias and every
                // module member holding it sees the new storage.
                if (src.scalar_type() == param.scalar_type() && src.device() == param.device() && src.is_contiguous())
                    param.set_data(src);
                else
                    param.set_data(src.to(param.device(), param.scalar_type()).contiguous());
            }
            found = true;
            ++report.loaded;
        }
        if (!found)
            report.missing.push_back(entryText(names.front(), param));
    }

    for (const auto &[key, tensor] : dict.tensors()) {
        const std::string reason = ignoredKeyReason(key);
        if (!reason.empty())
            report.ignored.push_back(entryText(key, tensor) + ": " + reason);
        else if (!byName.count(key))
            report.unexpected.push_back(entryText(key, tensor));
    }
}

unsigned UniAdapterModelImpl::partsOfParameter(const std::string &name)
{
    constexpr unsigned text = ModelRunner::Text, vision = ModelRunner::Vision, cross = ModelRunner::Cross,
                       decoder = ModelRunner::Decoder;
    if (isAdapterKey(name)) {
        // One UniAdapter serves every tower; each mode uses some of its layers.
        if (name.find(".visual_up_proj.") != std::string::npos)
            return vision;
        if (name.find(".multi_up_proj.") != std::string::npos || name.find("_norm_cross_modal.") != std::string::npos)
            return cross | decoder;
        if (name.find(".up_proj.") != std::string::npos)
            return text | cross | decoder;
        return text | vision | cross | decoder; // down_proj, the input norm
    }
    if (startsWith(name, "visual_encoder.") || startsWith(name, "vision_proj."))
        return vision;
    if (startsWith(name, "text_proj."))
        return text;
    if (startsWith(name, "itm_head."))
        return cross;
    if (startsWith(name, "text_decoder."))
        return decoder;
    if (startsWith(name, "text_encoder."))
        return name.find(".crossattention.") != std::string::npos || name.find("video_") != std::string::npos
                   ? cross
                   : text;
    return text | vision | cross | decoder;
}

int64_t UniAdapterModelImpl::prepareParts(unsigned parts, torch::Device device, torch::ScalarType dtype,
                                          bool keepConversions)
{
    parts &= ~m_preparedParts;
    if (!parts)
        return 0;
    torch::NoGradGuard noGrad;
    int64_t count = 0;
    std::vector<std::pair<std::string, torch::Tensor>> toConvert;
    for (const auto &item : named_parameters(true)) {
        torch::Tensor p = item.value();
        if (!(partsOfParameter(item.key()) & parts) || !m_preparedTensors.insert(p.unsafeGetTensorImpl()).second)
            continue;
        count += p.numel();
        // A query reads a few rows of a word table (BertModelImpl::forward casts them): on the
        // CPU its 30,524 rows are not converted to another dtype (94 MB float32 each).
        if (device.is_cpu() && p.device().is_cpu() && p.scalar_type() != dtype
            && endsWith(item.key(), ".embeddings.word_embeddings.weight"))
            continue;
        if (p.device() == device && p.scalar_type() == dtype && p.is_contiguous())
            adviseMapped(p, /*release=*/false); // zero copy: map the pages now, not at the first query
        else
            toConvert.emplace_back(item.key(), p);
    }
    if (device.is_cpu()) {
        std::optional<StoredConversion> stored;
        if (keepConversions && !toConvert.empty()) {
            stored.emplace(toConvert, dtype, partsTag(parts));
            stored->adopt(toConvert);
        }
        convertIntoBlock(toConvert, dtype);
        if (stored)
            stored->saveIfMissing(toConvert);
    } else {
        for (auto &[name, p] : toConvert) {
            torch::Tensor source = p.detach();
            p.set_data(p.to(device, dtype, /*non_blocking=*/false, /*copy=*/false).contiguous());
            adviseMapped(source, /*release=*/true); // only the converted copy stays resident
        }
    }
    m_preparedParts |= parts;
    // Fusing q/k/v (k/v) into one matmul copies the weights. The text encoder's
    // self-attention is left unfused: a search runs one short query, where three [L,768]
    // matmuls cost no more than one, while fusing would copy 85 MB (full size) that a
    // float32 model otherwise uses straight from the mapped file. The cross-attention
    // (k/v over the image's 577 tokens, per image) and the decoder (beam steps) are fused.
    apply([&](const std::string &name, torch::nn::Module &m) {
        auto *att = m.as<BertSelfAttentionImpl>();
        if (!att)
            return;
        const bool crossAttention = name.find(".crossattention.") != std::string::npos;
        if (!((parts & ModelRunner::Cross) && crossAttention && startsWith(name, "text_encoder."))
            && !((parts & ModelRunner::Decoder) && startsWith(name, "text_decoder.")))
            return;
        std::vector<torch::Tensor> unfused;
        for (const auto &t : att->parameters())
            unfused.push_back(t);
        att->fuse();
        std::set<const c10::TensorImpl *> inUse;
        for (const auto &t : att->parameters())
            inUse.insert(t.unsafeGetTensorImpl());
        for (const auto &t : unfused) // a zero-copy view the fused copy replaced (not the query)
            if (!inUse.count(t.unsafeGetTensorImpl()))
                adviseMapped(t, /*release=*/true);
    });
    return count;
}

// --- retrieval -----------------------------------------------------------------------

torch::Tensor UniAdapterModelImpl::encodeImage(const torch::Tensor &pixels) const
{
    const int64_t s = m_arch.vision.imageSize;
    if (pixels.dim() != 4 || pixels.size(1) != 3 || pixels.size(2) != s || pixels.size(3) != s)
        throw std::invalid_argument("pixels must be [B,3," + std::to_string(s) + "," + std::to_string(s) + "], got "
                                    + shapeText(pixels.sizes()));
    return m_visual->forward(pixels.to(dtype()));
}

torch::Tensor UniAdapterModelImpl::imageFeature(const torch::Tensor &cls) const
{
    TORCH_CHECK(m_heads.retrieval, "this model has no retrieval heads");
    return torch::nn::functional::normalize(m_visionProj->forward(cls),
                                            torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

torch::Tensor UniAdapterModelImpl::encodeText(const torch::Tensor &ids, const torch::Tensor &mask) const
{
    return m_text->forward(ids, mask, TextMode::Text);
}

torch::Tensor UniAdapterModelImpl::textFeature(const torch::Tensor &hidden) const
{
    TORCH_CHECK(m_heads.retrieval, "this model has no retrieval heads");
    return torch::nn::functional::normalize(m_textProj->forward(hidden.select(1, 0)),
                                            torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

torch::Tensor UniAdapterModelImpl::frameAwareWeights(const torch::Tensor &textFeat, const torch::Tensor &frameFeat)
{
    // sim_t2f = einsum('bc,btc->bt'); weights = T·softmax_t(sim / 4), in float32.
    torch::Tensor sim = torch::einsum("bc,btc->bt", {textFeat.to(torch::kFloat32),
                                                     frameFeat.to(torch::kFloat32).expand({textFeat.size(0), -1, -1})});
    const auto frames = static_cast<double>(frameFeat.size(1));
    return (sim / 4.0).softmax(-1) * frames;
}

torch::Tensor UniAdapterModelImpl::itmLogits(const torch::Tensor &visualTokens, const torch::Tensor &ids,
                                             const torch::Tensor &mask, const torch::Tensor &frameWeights) const
{
    TORCH_CHECK(m_heads.retrieval, "this model has no ITM head");
    torch::Tensor encIds = ids.clone();
    encIds.select(1, 0).fill_(static_cast<int64_t>(m_arch.special.enc));
    const CrossState cross = m_text->encoder->prepareCross(visualTokens, torch::Tensor(), frameWeights);
    torch::Tensor hidden = m_text->forward(encIds, mask, TextMode::Multimodal, &cross);
    return m_itmHead->forward(hidden.select(1, 0));
}

// --- VQA -----------------------------------------------------------------------------

torch::Tensor UniAdapterModelImpl::encodeQuestion(const torch::Tensor &ids, const torch::Tensor &mask,
                                                  const torch::Tensor &visualTokens) const
{
    torch::Tensor encIds = ids.clone();
    encIds.select(1, 0).fill_(static_cast<int64_t>(m_arch.special.enc));
    const CrossState cross = m_text->encoder->prepareCross(visualTokens, torch::Tensor(), torch::Tensor());
    return m_text->forward(encIds, mask, TextMode::Multimodal, &cross);
}

torch::Tensor UniAdapterModelImpl::decoderStep(const torch::Tensor &ids, const CrossState &cross,
                                               SelfCache &cache) const
{
    torch::Tensor hidden = m_decoder->bert->forward(ids, torch::Tensor(), TextMode::Multimodal, &cross,
                                                    /*causal=*/true, &cache);
    return m_decoder->logits(hidden.select(1, hidden.size(1) - 1)).to(torch::kFloat32);
}

RankOutput UniAdapterModelImpl::rankAnswers(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                                            const torch::Tensor &answerIds, const torch::Tensor &answerMask,
                                            int64_t k) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    const int64_t numQuestions = questionStates.size(0);
    const int64_t numAnswers = answerIds.size(0);
    TORCH_CHECK(numAnswers > 0 && answerIds.size(1) >= 2, "the answer list is empty");
    k = std::clamp<int64_t>(k, 1, numAnswers);
    const auto device = questionStates.device();
    constexpr double kSmoothing = 0.1; // label smoothing of the reference's decoder loss
    const int64_t vocab = m_arch.text.vocabSize;
    const auto pad = static_cast<int64_t>(m_arch.special.pad);

    torch::Tensor ids = answerIds.to(device).clone();
    ids.select(1, 0).fill_(static_cast<int64_t>(m_arch.special.decBos));
    torch::Tensor atts = answerMask.to(device);
    const torch::Tensor firstTokens = ids.select(1, 1);

    RankOutput out;
    out.firstTokenProb = torch::empty({numQuestions, numAnswers}, torch::TensorOptions().dtype(torch::kFloat32));
    out.topkIds = torch::empty({numQuestions, k}, torch::kLong);
    out.topkScores = torch::empty({numQuestions, k}, torch::kFloat32);
    out.best = torch::empty({numQuestions}, torch::kLong);

    for (int64_t q = 0; q < numQuestions; ++q) {
        // The question's states serve all of its candidates: project cross K/V once.
        const CrossState cross = m_decoder->bert->encoder->prepareCross(
            questionStates.narrow(0, q, 1), questionMask.defined() ? questionMask.narrow(0, q, 1) : torch::Tensor(),
            torch::Tensor());

        // First token after [DEC]: softmax over the vocabulary, read at each answer's first token.
        SelfCache cache;
        torch::Tensor startLogits = decoderStep(ids.narrow(0, 0, 1).narrow(1, 0, 1), cross, cache); // [1,V]
        torch::Tensor prob = startLogits.softmax(-1).index_select(1, firstTokens).squeeze(0);     // [A]
        auto [topProb, topIds] = prob.topk(k);

        // Score each top-k candidate: -(sum over tokens of the label-smoothed cross entropy),
        // padding (id 0) ignored, [SEP] included, as BertLMHeadModel(reduction='none') does.
        torch::Tensor candIds = ids.index_select(0, topIds); // [k,La]
        torch::Tensor candAtts = atts.index_select(0, topIds);
        // Columns that are padding for every selected candidate cost compute and change nothing.
        const int64_t len = std::max<int64_t>(2, candAtts.sum(1).max().item<int64_t>());
        candIds = candIds.narrow(1, 0, len);
        candAtts = candAtts.narrow(1, 0, len);
        const double tokenWeight = 1.0 - kSmoothing, classWeight = kSmoothing / static_cast<double>(vocab);

        // Position 0 ([DEC]) is the same for every candidate: its prediction is the start step's.
        torch::Tensor logp0 = startLogits.log_softmax(-1).squeeze(0); // [V]
        torch::Tensor first = candIds.select(1, 1);
        torch::Tensor loss = (tokenWeight * -logp0.index_select(0, first) + classWeight * -logp0.sum())
                                 .mul_((first != pad).to(torch::kFloat32)); // [k]

        if (len > 2) {
            // Positions 1..len-2 continue from the cached [DEC] step, all candidates at once.
            SelfCache shared;
            for (size_t i = 0; i < cache.keys.size(); ++i) {
                shared.keys.push_back(cache.keys[i].expand({k, -1, -1, -1}));
                shared.values.push_back(cache.values[i].expand({k, -1, -1, -1}));
            }
            torch::Tensor hidden = m_decoder->bert->forward(candIds.narrow(1, 1, len - 2), candAtts.narrow(1, 0, len - 1),
                                                            TextMode::Multimodal, &cross, /*causal=*/true, &shared);
            // Only positions with a target go through the vocabulary projection, and each
            // distinct prefix once (candidates often share their first words).
            torch::Tensor idsCpu = candIds.cpu();
            auto idsA = idsCpu.accessor<int64_t, 2>();
            std::map<std::vector<int64_t>, int64_t> prefixRow;
            std::vector<int64_t> uniqueRows, inverse, targetIds, candidateOf;
            for (int64_t i = 0; i < k; ++i) {
                for (int64_t j = 0; j < len - 2; ++j) {
                    const int64_t target = idsA[i][j + 2];
                    if (target == pad)
                        continue;
                    std::vector<int64_t> prefix(&idsA[i][0], &idsA[i][0] + j + 2);
                    auto [it, inserted] = prefixRow.emplace(std::move(prefix), static_cast<int64_t>(uniqueRows.size()));
                    if (inserted)
                        uniqueRows.push_back(i * (len - 2) + j);
                    inverse.push_back(it->second);
                    targetIds.push_back(target);
                    candidateOf.push_back(i);
                }
            }
            if (!uniqueRows.empty()) {
                auto longOpts = torch::TensorOptions().dtype(torch::kLong).device(device);
                torch::Tensor rows = torch::tensor(uniqueRows, longOpts);
                torch::Tensor inv = torch::tensor(inverse, longOpts);
                torch::Tensor h = hidden.reshape({-1, hidden.size(2)}).index_select(0, rows);   // [u,W]
                torch::Tensor logp = m_decoder->logits(h).to(torch::kFloat32).log_softmax(-1); // [u,V]
                torch::Tensor nll = -logp.index({inv, torch::tensor(targetIds, longOpts)});     // [n]
                torch::Tensor smooth = -logp.sum(-1).index_select(0, inv);                      // [n]
                loss.index_add_(0, torch::tensor(candidateOf, longOpts), tokenWeight * nll + classWeight * smooth);
            }
        }
        torch::Tensor scores = -loss; // [k]

        out.firstTokenProb[q].copy_(prob.cpu());
        out.topkIds[q].copy_(topIds.cpu());
        out.topkScores[q].copy_(scores.cpu());
        out.best[q] = topIds[scores.argmax()].cpu();
    }
    return out;
}

GeneratedSequence UniAdapterModelImpl::greedy(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                                              int maxLength, int minLength, double lengthPenalty) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    const CrossState cross = m_decoder->bert->encoder->prepareCross(questionStates, questionMask, torch::Tensor());
    const int64_t eos = static_cast<int64_t>(m_arch.special.sep);
    GeneratedSequence seq;
    seq.ids.push_back(static_cast<int64_t>(m_arch.special.decBos));
    SelfCache cache;
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(questionStates.device());
    while (static_cast<int>(seq.ids.size()) < maxLength) {
        torch::Tensor logp = decoderStep(torch::full({1, 1}, seq.ids.back(), opts), cross, cache).log_softmax(-1);
        if (static_cast<int>(seq.ids.size()) < minLength)
            logp.select(1, eos).fill_(-std::numeric_limits<float>::infinity());
        const int64_t next = logp.argmax(-1).item<int64_t>();
        seq.sumLogProb += logp[0][next].item<double>();
        seq.ids.push_back(next);
        if (next == eos)
            break;
    }
    const auto length = static_cast<double>(seq.ids.back() == eos ? seq.ids.size() - 1 : seq.ids.size());
    seq.score = seq.sumLogProb / std::pow(length, lengthPenalty);
    return seq;
}

std::vector<GeneratedSequence> UniAdapterModelImpl::generate(const torch::Tensor &questionStates,
                                                             const torch::Tensor &questionMask,
                                                             const GenerateParams &options) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    const int numBeams = std::max(1, options.numBeams);
    const int maxLength = std::max(2, options.maxLength);
    const int64_t eos = static_cast<int64_t>(m_arch.special.sep);
    const double lp = options.lengthPenalty;
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(questionStates.device());

    // Cross K/V of the question once (batch 1, broadcast over the beams).
    const CrossState cross = m_decoder->bert->encoder->prepareCross(questionStates, questionMask, torch::Tensor());

    // Beam search in the manner of Hugging Face's BeamSearchScorer (batch of one, no early
    // stopping): 2·beams candidates per step, [SEP] candidates ranked within the first
    // `beams` close a hypothesis, finished scores are sum log p / length^lengthPenalty.
    std::vector<std::vector<int64_t>> beams(numBeams, std::vector<int64_t>{static_cast<int64_t>(m_arch.special.decBos)});
    std::vector<double> beamScores(numBeams, -1e9);
    beamScores[0] = 0.0; // identical start beams: only the first may expand at step one
    std::vector<GeneratedSequence> finished;
    auto worstFinished = [&finished]() {
        double worst = std::numeric_limits<double>::infinity();
        for (const auto &f : finished)
            worst = std::min(worst, f.score);
        return worst;
    };
    auto addFinished = [&](std::vector<int64_t> ids, double sumLogProb, size_t scoredLength) {
        GeneratedSequence seq;
        seq.ids = std::move(ids);
        seq.sumLogProb = sumLogProb;
        seq.score = sumLogProb / std::pow(static_cast<double>(scoredLength), lp);
        if (static_cast<int>(finished.size()) < numBeams || seq.score > worstFinished()) {
            finished.push_back(std::move(seq));
            if (static_cast<int>(finished.size()) > numBeams) {
                auto worst = std::min_element(finished.begin(), finished.end(),
                                              [](const auto &a, const auto &b) { return a.score < b.score; });
                finished.erase(worst);
            }
        }
    };

    SelfCache cache;
    bool done = false;
    torch::Tensor lastTokens = torch::full({numBeams, 1}, static_cast<int64_t>(m_arch.special.decBos), opts);
    for (int curLen = 1; curLen < maxLength && !done; ++curLen) {
        torch::Tensor logp = decoderStep(lastTokens, cross, cache).log_softmax(-1).cpu(); // [nb,V]
        if (curLen < options.minLength)
            logp.select(1, eos).fill_(-std::numeric_limits<float>::infinity());
        torch::Tensor scores = logp + torch::tensor(beamScores, torch::kFloat64).to(torch::kFloat32).unsqueeze(1);
        const int64_t vocab = scores.size(1);
        auto [topScores, topIdx] = scores.view({-1}).topk(2 * numBeams);
        auto topScoresA = topScores.accessor<float, 1>();
        auto topIdxA = topIdx.accessor<int64_t, 1>();

        std::vector<int64_t> nextBeam, nextToken;
        std::vector<double> nextScores;
        for (int64_t r = 0; r < topIdx.size(0) && static_cast<int>(nextBeam.size()) < numBeams; ++r) {
            const int64_t beam = topIdxA[r] / vocab, token = topIdxA[r] % vocab;
            if (token == eos) {
                if (r >= numBeams)
                    continue;
                auto ids = beams[beam];
                const size_t scoredLength = ids.size(); // [SEP] not counted
                ids.push_back(eos);
                addFinished(std::move(ids), topScoresA[r], scoredLength);
            } else {
                nextBeam.push_back(beam);
                nextToken.push_back(token);
                nextScores.push_back(topScoresA[r]);
            }
        }
        // Done when no running beam can beat the worst kept hypothesis.
        if (static_cast<int>(finished.size()) >= numBeams) {
            const double best = topScoresA[0] / std::pow(static_cast<double>(curLen), lp);
            done = worstFinished() >= best;
        }
        if (done || nextBeam.empty())
            break;

        std::vector<std::vector<int64_t>> newBeams;
        for (size_t i = 0; i < nextBeam.size(); ++i) {
            newBeams.push_back(beams[nextBeam[i]]);
            newBeams.back().push_back(nextToken[i]);
        }
        beams = std::move(newBeams);
        beamScores = nextScores;
        cache.reorder(torch::tensor(nextBeam, opts));
        lastTokens = torch::tensor(nextToken, opts).unsqueeze(1);
    }
    if (!done) {
        for (size_t b = 0; b < beams.size(); ++b)
            if (beams[b].size() > 1)
                addFinished(beams[b], beamScores[b], beams[b].size());
    }
    std::sort(finished.begin(), finished.end(), [](const auto &a, const auto &b) { return a.score > b.score; });
    return finished;
}

torch::Tensor UniAdapterModelImpl::decoderLogits(const torch::Tensor &ids, const torch::Tensor &mask,
                                                 const torch::Tensor &questionStates,
                                                 const torch::Tensor &questionMask) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    const CrossState cross = m_decoder->bert->encoder->prepareCross(questionStates, questionMask, torch::Tensor());
    torch::Tensor hidden = m_decoder->bert->forward(ids, mask, TextMode::Multimodal, &cross, /*causal=*/true);
    return m_decoder->logits(hidden);
}

double UniAdapterModelImpl::sequenceLogProb(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                                            const std::vector<int64_t> &ids) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    TORCH_CHECK(ids.size() >= 2, "sequenceLogProb needs at least two ids");
    const CrossState cross = m_decoder->bert->encoder->prepareCross(questionStates, questionMask, torch::Tensor());
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(questionStates.device());
    torch::Tensor t = torch::tensor(ids, opts).unsqueeze(0);
    torch::Tensor hidden = m_decoder->bert->forward(t, torch::Tensor(), TextMode::Multimodal, &cross, true);
    torch::Tensor logp = m_decoder->logits(hidden.squeeze(0).narrow(0, 0, t.size(1) - 1)).to(torch::kFloat32).log_softmax(-1);
    return logp.gather(1, t.squeeze(0).narrow(0, 1, t.size(1) - 1).unsqueeze(1)).sum().item<double>();
}

} // namespace unisearch::model
