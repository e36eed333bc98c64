#include "bert_p.h"

namespace unisearch::model {

torch::Tensor additiveMask(const torch::Tensor &mask01, torch::ScalarType dtype)
{
    return (1.0 - mask01.to(dtype)) * -10000.0;
}

void SelfCache::reorder(const torch::Tensor &index)
{
    for (auto &k : keys)
        k = k.index_select(0, index);
    for (auto &v : values)
        v = v.index_select(0, index);
}

// --- BertSelfAttention -------------------------------------------------------------

BertSelfAttentionImpl::BertSelfAttentionImpl(int64_t hidden, int64_t heads, int64_t keyWidth, bool cross)
    : m_heads(heads)
    , m_cross(cross)
{
    if (heads <= 0 || hidden % heads != 0)
        throw std::invalid_argument("text hidden size must be a multiple of heads");
    m_query = register_module("query", Dense(hidden, hidden));
    m_key = register_module("key", Dense(keyWidth, hidden));
    m_value = register_module("value", Dense(keyWidth, hidden));
}

namespace {

// The tensors as one, when they already lie back to back in one storage (contiguous, same
// trailing shape), as a view; else undefined.
torch::Tensor adjacentView(const std::vector<torch::Tensor> &parts)
{
    int64_t rows = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
        const torch::Tensor &t = parts[i];
        if (!t.defined() || !t.is_contiguous() || t.dim() < 1 || t.scalar_type() != parts[0].scalar_type()
            || t.sizes().slice(1) != parts[0].sizes().slice(1) || !t.storage().is_alias_of(parts[0].storage()))
            return {};
        if (i > 0 && t.storage_offset() != parts[i - 1].storage_offset() + parts[i - 1].numel())
            return {};
        rows += t.size(0);
    }
    std::vector<int64_t> sizes = parts[0].sizes().vec();
    sizes[0] = rows;
    return parts[0].as_strided(sizes, parts[0].strides(), parts[0].storage_offset());
}

// fuseDense without its copy when the weights (and the biases) are adjacent already, as
// UniAdapterModelImpl::prepareParts lays them out.
std::pair<torch::Tensor, torch::Tensor> fuseAdjacent(std::vector<Dense> layers)
{
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> weights, biases;
    for (const auto &l : layers) {
        weights.push_back(l->weight);
        biases.push_back(l->bias);
    }
    torch::Tensor w = adjacentView(weights), b = adjacentView(biases);
    if (!w.defined() || !b.defined())
        return fuseDense(layers);
    int64_t offset = 0;
    for (auto &l : layers) {
        const int64_t n = l->weight.size(0);
        l->rebind(w.narrow(0, offset, n), b.narrow(0, offset, n));
        offset += n;
    }
    return {w, b};
}

} // namespace

void BertSelfAttentionImpl::fuse()
{
    std::tie(m_fusedWeight, m_fusedBias) = m_cross ? fuseAdjacent({m_key, m_value})
                                                   : fuseAdjacent({m_query, m_key, m_value});
}

void BertSelfAttentionImpl::randomize()
{
    for (auto *d : {&m_query, &m_key, &m_value})
        (*d)->randomize(0.02);
}

torch::Tensor BertSelfAttentionImpl::selfForward(const torch::Tensor &x, const torch::Tensor &mask,
                                                 torch::Tensor *cacheK, torch::Tensor *cacheV) const
{
    const int64_t b = x.size(0), l = x.size(1), w = x.size(2);
    torch::Tensor q, k, v;
    if (m_fusedWeight.defined()) {
        // One matmul for q, k and v: [B,L,3W] → [3,B,h,L,d]
        torch::Tensor qkv = torch::linear(x, m_fusedWeight, m_fusedBias)
                                .view({b, l, 3, m_heads, w / m_heads})
                                .permute({2, 0, 3, 1, 4});
        q = qkv[0];
        k = qkv[1];
        v = qkv[2];
    } else {
        q = splitHeads(m_query->forward(x), m_heads);
        k = splitHeads(m_key->forward(x), m_heads);
        v = splitHeads(m_value->forward(x), m_heads);
    }
    if (cacheK && cacheK->defined()) {
        k = torch::cat({*cacheK, k}, 2);
        v = torch::cat({*cacheV, v}, 2);
    }
    if (cacheK) {
        *cacheK = k;
        *cacheV = v;
    }
    return attention(q, k, v, mask);
}

std::pair<torch::Tensor, torch::Tensor> BertSelfAttentionImpl::projectKeyValue(const torch::Tensor &e) const
{
    if (m_fusedWeight.defined()) {
        auto kv = torch::linear(e, m_fusedWeight, m_fusedBias).chunk(2, -1);
        return {kv[0], kv[1]};
    }
    return {m_key->forward(e), m_value->forward(e)};
}

torch::Tensor BertSelfAttentionImpl::crossForward(const torch::Tensor &x, const torch::Tensor &k,
                                                  const torch::Tensor &v, const torch::Tensor &mask) const
{
    return attention(splitHeads(m_query->forward(x), m_heads), k, v, mask);
}

// --- BertAttention -------------------------------------------------------------------

BertAttentionImpl::BertAttentionImpl(const BertParams &params, bool cross)
{
    const int64_t w = params.text.hidden;
    self = register_module("self", BertSelfAttention(w, params.text.heads, cross ? params.encoderWidth : w, cross));
    auto output = register_module("output", std::make_shared<torch::nn::Module>());
    outputDense = output->register_module("dense", Dense(w, w));
    outputNorm = output->register_module("LayerNorm", Norm(w, params.text.layerNormEps));
}

torch::Tensor BertAttentionImpl::finish(const torch::Tensor &context, const torch::Tensor &x) const
{
    return outputNorm->forward(outputDense->forward(context) + x);
}

void BertAttentionImpl::randomize()
{
    self->randomize();
    outputDense->randomize(0.02);
    outputNorm->randomize();
}

// --- BertLayer -----------------------------------------------------------------------

BertLayerImpl::BertLayerImpl(const BertParams &params, UniAdapter adapter)
{
    const int64_t w = params.text.hidden;
    attention = register_module("attention", BertAttention(params, false));
    crossattention = register_module("crossattention", BertAttention(params, true));
    auto intermediate = register_module("intermediate", std::make_shared<torch::nn::Module>());
    m_intermediate = intermediate->register_module("dense", Dense(w, params.text.intermediate));
    auto output = register_module("output", std::make_shared<torch::nn::Module>());
    m_outputDense = output->register_module("dense", Dense(params.text.intermediate, w));
    m_outputNorm = output->register_module("LayerNorm", Norm(w, params.text.layerNormEps));
    if (adapter)
        m_adapter = register_module("adapter", adapter);
}

torch::Tensor BertLayerImpl::feedForward(const torch::Tensor &h) const
{
    return m_outputNorm->forward(m_outputDense->forward(torch::gelu(m_intermediate->forward(h))) + h);
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor &x, const torch::Tensor &selfMask, TextMode mode,
                                     const torch::Tensor &crossK, const torch::Tensor &crossV,
                                     const torch::Tensor &crossMask, torch::Tensor *cacheK,
                                     torch::Tensor *cacheV) const
{
    torch::Tensor h = attention->finish(attention->self->selfForward(x, selfMask, cacheK, cacheV), x);
    if (mode == TextMode::Text) {
        torch::Tensor out = feedForward(h);
        if (m_adapter)
            out = out + m_adapter->forward(h, AdapterMode::Text);
        return out;
    }
    // The text branch reads the query before cross-attention ("query residual learning").
    torch::Tensor textBranch = m_adapter ? m_adapter->forward(h, AdapterMode::Text) : torch::Tensor();
    torch::Tensor h2 = crossattention->finish(crossattention->self->crossForward(h, crossK, crossV, crossMask), h);
    torch::Tensor out = feedForward(h2);
    if (m_adapter)
        out = out + textBranch + m_adapter->forward(h2, AdapterMode::Multimodal);
    return out;
}

void BertLayerImpl::randomize()
{
    attention->randomize();
    crossattention->randomize();
    m_intermediate->randomize(0.02);
    m_outputDense->randomize(0.02);
    m_outputNorm->randomize();
}

// --- BertEncoder ---------------------------------------------------------------------

BertEncoderImpl::BertEncoderImpl(const BertParams &params, torch::nn::ModuleList adapters)
{
    auto list = register_module("layer", torch::nn::ModuleList());
    for (int i = 0; i < params.text.layers; ++i) {
        UniAdapter adapter = adapters ? UniAdapter(adapters->ptr<UniAdapterImpl>(i)) : UniAdapter(nullptr);
        m_layers.push_back(BertLayer(params, adapter));
        list->push_back(m_layers.back());
    }
    if (params.videoKvBottleneck > 0) {
        // Adapter_Lora is built with d_model=768 in the reference; it reads the encoder tokens.
        m_videoKey = register_module("video_key_adapter", LoraAdapter(params.encoderWidth, params.videoKvBottleneck));
        m_videoValue = register_module("video_value_adapter", LoraAdapter(params.encoderWidth, params.videoKvBottleneck));
    }
}

CrossState BertEncoderImpl::prepareCross(const torch::Tensor &e, const torch::Tensor &encoderMask,
                                         const torch::Tensor &frameWeights) const
{
    CrossState state;
    torch::Tensor loraK, loraV;
    if (m_videoKey) {
        loraK = m_videoKey->forward(e);
        loraV = m_videoValue->forward(e);
    }
    if (encoderMask.defined())
        state.mask = additiveMask(encoderMask, e.scalar_type()).unsqueeze(1).unsqueeze(1);

    // Frame-aware attention: the keys of each frame's patch tokens (not its CLS) are
    // scaled by that frame's weight; one weight row per query text.
    torch::Tensor frameScale;
    int64_t frames = 0;
    if (frameWeights.defined()) {
        frames = frameWeights.size(1);
        const int64_t s = e.size(1);
        TORCH_CHECK(frames > 0 && s % frames == 0, "frame-aware attention: ", s,
                    " encoder tokens do not split into ", frames, " frames");
        frameScale = torch::ones({frameWeights.size(0), 1, frames, s / frames, 1}, e.options());
        frameScale.narrow(3, 1, s / frames - 1)
            .copy_(frameWeights.to(e.scalar_type()).view({-1, 1, frames, 1, 1}).expand({-1, 1, frames, s / frames - 1, 1}));
    }

    for (const auto &layer : m_layers) {
        auto &self = layer->crossattention->self;
        auto [k, v] = self->projectKeyValue(e);
        if (loraK.defined()) {
            k = k + loraK;
            v = v + loraV;
        }
        const int64_t h = self->heads();
        k = splitHeads(k, h);
        v = splitHeads(v, h);
        if (frameScale.defined()) {
            const int64_t bc = k.size(0), s = k.size(2), d = k.size(3);
            k = (k.reshape({bc, h, frames, s / frames, d}) * frameScale).reshape({-1, h, s, d});
        }
        state.keys.push_back(k.contiguous());
        state.values.push_back(v.contiguous());
    }
    return state;
}

torch::Tensor BertEncoderImpl::forward(torch::Tensor x, const torch::Tensor &selfMask, TextMode mode,
                                       const CrossState *cross, SelfCache *cache) const
{
    if (mode == TextMode::Multimodal)
        TORCH_CHECK(cross && cross->keys.size() == m_layers.size(), "multimodal mode needs cross-attention inputs");
    if (cache && cache->keys.size() != m_layers.size()) {
        cache->keys.assign(m_layers.size(), torch::Tensor());
        cache->values.assign(m_layers.size(), torch::Tensor());
    }
    const bool mm = mode == TextMode::Multimodal;
    std::vector<torch::Tensor> trainable;
    for (size_t i = 0; i < m_layers.size(); ++i) {
        if (m_checkpoint && !cache) {
            // Cross-attention keys/values that require a gradient (from a trained image
            // encoder, question encoder or video adapter) get theirs through the checkpoint.
            std::vector<torch::Tensor> in{x, selfMask, mm ? cross->keys[i] : torch::Tensor(),
                                          mm ? cross->values[i] : torch::Tensor(), mm ? cross->mask : torch::Tensor()};
            if (shouldCheckpoint(m_checkpoint, *m_layers[i], in, trainable)) {
                x = checkpointBlock(
                    [layer = m_layers[i], mode](const std::vector<torch::Tensor> &a) {
                        return layer->forward(a[0], a[1], mode, a[2], a[3], a[4], nullptr, nullptr);
                    },
                    in, trainable, m_checkpoint);
                continue;
            }
        }
        x = m_layers[i]->forward(x, selfMask, mode, mm ? cross->keys[i] : torch::Tensor(),
                                 mm ? cross->values[i] : torch::Tensor(), mm ? cross->mask : torch::Tensor(),
                                 cache ? &cache->keys[i] : nullptr, cache ? &cache->values[i] : nullptr);
    }
    return x;
}

void BertEncoderImpl::randomize()
{
    for (auto &layer : m_layers)
        layer->randomize();
    if (m_videoKey) {
        m_videoKey->randomize();
        m_videoValue->randomize();
    }
}

// --- BertModel -----------------------------------------------------------------------

BertModelImpl::BertModelImpl(const BertParams &params, torch::nn::ModuleList adapters)
    : m_params(params)
{
    const int64_t w = params.text.hidden;
    auto embeddings = register_module("embeddings", std::make_shared<torch::nn::Module>());
    auto word = embeddings->register_module("word_embeddings", std::make_shared<torch::nn::Module>());
    m_wordEmbeddings = word->register_parameter("weight", torch::empty({params.text.vocabSize, w}), false);
    auto pos = embeddings->register_module("position_embeddings", std::make_shared<torch::nn::Module>());
    m_positionEmbeddings = pos->register_parameter("weight", torch::empty({params.text.maxPositions, w}), false);
    m_embeddingNorm = embeddings->register_module("LayerNorm", Norm(w, params.text.layerNormEps));
    encoder = register_module("encoder", BertEncoder(params, adapters));
}

torch::Tensor BertModelImpl::forward(const torch::Tensor &ids, const torch::Tensor &mask, TextMode mode,
                                     const CrossState *cross, bool causal, SelfCache *cache) const
{
    const int64_t b = ids.size(0), l = ids.size(1);
    const int64_t past = cache ? cache->length() : 0;
    if (past + l > m_positionEmbeddings.size(0))
        throw std::invalid_argument("text of " + std::to_string(past + l) + " tokens exceeds the model's "
                                    + std::to_string(m_positionEmbeddings.size(0)) + " positions");
    const auto dtype = this->dtype();

    // The word table may stay float32 on the CPU (prepareParts): its rows are cast as read.
    torch::Tensor x = torch::embedding(m_wordEmbeddings, ids).to(dtype) + m_positionEmbeddings.narrow(0, past, l);
    x = m_embeddingNorm->forward(x);

    // Additive self-attention mask, built only when something is masked.
    torch::Tensor selfMask;
    if (causal && l > 1) {
        auto opts = torch::TensorOptions().dtype(torch::kLong).device(ids.device());
        torch::Tensor rows = torch::arange(l, opts).unsqueeze(1) + past;      // [L,1]
        torch::Tensor cols = torch::arange(past + l, opts).unsqueeze(0);      // [1,P+L]
        torch::Tensor allowed = (cols <= rows).unsqueeze(0).unsqueeze(0);     // [1,1,L,P+L]
        if (mask.defined())
            allowed = allowed.logical_and(mask.unsqueeze(1).unsqueeze(1).to(torch::kBool));
        selfMask = additiveMask(allowed, dtype);
    } else if (mask.defined() && !mask.all().item<bool>()) {
        selfMask = additiveMask(mask, dtype).view({b, 1, 1, -1});
    }
    return encoder->forward(x, selfMask, mode, cross, cache);
}

void BertModelImpl::randomize()
{
    torch::NoGradGuard noGrad;
    m_wordEmbeddings.normal_(0.0, 0.02);
    m_positionEmbeddings.normal_(0.0, 0.02);
    m_embeddingNorm->randomize();
    encoder->randomize();
}

// --- BertLMHead ----------------------------------------------------------------------

BertLMHeadImpl::BertLMHeadImpl(const BertParams &params, torch::nn::ModuleList adapters)
{
    const int64_t w = params.text.hidden;
    bert = register_module("bert", BertModel(params, adapters));
    auto cls = register_module("cls", std::make_shared<torch::nn::Module>());
    auto predictions = cls->register_module("predictions", std::make_shared<torch::nn::Module>());
    auto transform = predictions->register_module("transform", std::make_shared<torch::nn::Module>());
    m_transform = transform->register_module("dense", Dense(w, w));
    m_transformNorm = transform->register_module("LayerNorm", Norm(w, params.text.layerNormEps));
    auto decoder = predictions->register_module("decoder", std::make_shared<torch::nn::Module>());
    m_decoderWeight = decoder->register_parameter("weight", torch::empty({params.text.vocabSize, w}), false);
    m_bias = predictions->register_parameter("bias", torch::empty({params.text.vocabSize}), false);
    // The reference ties decoder.bias to predictions.bias; both names are in checkpoints.
    decoder->register_parameter("bias", m_bias, false);
}

torch::Tensor BertLMHeadImpl::logits(const torch::Tensor &hidden) const
{
    torch::Tensor h = m_transformNorm->forward(torch::gelu(m_transform->forward(hidden)));
    return torch::linear(h, m_decoderWeight, m_bias);
}

void BertLMHeadImpl::randomize()
{
    bert->randomize();
    m_transform->randomize(0.02);
    m_transformNorm->randomize();
    torch::NoGradGuard noGrad;
    m_decoderWeight.normal_(0.0, 0.02);
    m_bias.normal_(0.0, 0.02);
}

} // namespace unisearch::model
