#include "uniadapter_p.h"
#include "cpuconversion_p.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

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
                                          bool keepConversions, unsigned within)
{
    parts &= ~m_preparedParts;
    if (!parts)
        return 0;
    torch::NoGradGuard noGrad;
    int64_t count = 0;
    std::vector<std::pair<std::string, torch::Tensor>> toConvert;
    for (const auto &item : named_parameters(true)) {
        torch::Tensor p = item.value();
        const unsigned usedBy = partsOfParameter(item.key());
        if (!(usedBy & parts) || (usedBy & ~within) || !m_preparedTensors.insert(p.unsafeGetTensorImpl()).second)
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
        convertOnCpu(toConvert, dtype, keepConversions ? partsTag(parts) : std::string());
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

} // namespace unisearch::model
