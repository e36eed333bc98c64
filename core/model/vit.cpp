#include "vit_p.h"

namespace unisearch::model {

VitAttentionImpl::VitAttentionImpl(int64_t width, int64_t heads, bool qkvBias)
    : m_heads(heads)
{
    m_qkv = register_module("qkv", Dense(width, 3 * width, qkvBias));
    m_proj = register_module("proj", Dense(width, width));
}

namespace {
struct Product {
    const torch::Tensor &input; // [..., in]
    const Dense &layer;
    double alpha = 1.0;
};

// x + Σ alpha·layer(input). The products accumulate in place (addmm_) into x plus the sum of
// the biases, instead of each being written after linear's copy of its bias into its output
// and read back by an addition. Under autocast (training) plain additions: its products come
// in another dtype than x.
torch::Tensor plusProducts(const torch::Tensor &x, const std::vector<Product> &products)
{
    bool sameType = x.is_contiguous() && !autocastEnabled();
    for (const auto &p : products)
        sameType = sameType && p.input.scalar_type() == x.scalar_type() && p.layer->weight.scalar_type() == x.scalar_type();
    torch::Tensor sum = x;
    if (!sameType) {
        for (const auto &p : products)
            sum = p.alpha == 1.0 ? sum + p.layer->forward(p.input) : sum + p.layer->forward(p.input) * p.alpha;
        return sum;
    }
    torch::Tensor bias;
    for (const auto &p : products) {
        if (!p.layer->bias.defined())
            continue;
        torch::Tensor b = p.alpha == 1.0 ? p.layer->bias : p.layer->bias * p.alpha;
        bias = bias.defined() ? bias + b : b;
    }
    sum = bias.defined() ? x + bias : x.clone();
    torch::Tensor rows = sum.view({-1, sum.size(-1)});
    for (const auto &p : products)
        rows.addmm_(p.input.reshape({-1, p.input.size(-1)}), p.layer->weight.t(), 1.0, p.alpha);
    return sum;
}
} // namespace

torch::Tensor VitAttentionImpl::headMajorQkv(const torch::Tensor &x) const
{
    const int64_t b = x.size(0), n = x.size(1), d = x.size(2) / m_heads;
    // [B,N,3W] → [3,B,h,N,d]; the checkpoint's qkv is already one fused matmul.
    // One copy into head-major order: q, k and v then reach matmul contiguous (k transposed
    // by strides only) instead of being copied one by one inside it.
    const std::vector<int64_t> order{2, 0, 3, 1, 4};
    if (!m_qkv->bias.defined() || torch::GradMode::is_enabled() || autocastEnabled())
        return m_qkv->forward(x).view({b, n, 3, m_heads, d}).permute(order).contiguous();
    // Without autograd (out= has none) and autocast (linear's rounding) the bias is added by that copy: one pass over [B,N,3W]
    // instead of two (linear's copy of the bias into its output, then the copy).
    torch::Tensor product = torch::matmul(x, m_qkv->weight.t()).view({b, n, 3, m_heads, d}).permute(order);
    torch::Tensor out = torch::empty({3, b, m_heads, n, d}, x.options());
    return torch::add_out(out, product, m_qkv->bias.view({3, 1, m_heads, 1, d}));
}

torch::Tensor VitAttentionImpl::forward(const torch::Tensor &x, const torch::Tensor &residual) const
{
    torch::Tensor qkv = headMajorQkv(x);
    torch::Tensor ctx = attention(qkv[0], qkv[1], qkv[2], torch::Tensor());
    return plusProducts(residual, {{ctx, m_proj}});
}

void VitAttentionImpl::randomize()
{
    m_qkv->randomize(0.02);
    m_proj->randomize(0.02);
}

VitMlpImpl::VitMlpImpl(int64_t width, int64_t hidden)
{
    m_fc1 = register_module("fc1", Dense(width, hidden));
    m_fc2 = register_module("fc2", Dense(hidden, width));
}

torch::Tensor VitMlpImpl::hidden(const torch::Tensor &x) const
{
    return torch::gelu(m_fc1->forward(x)); // GELU with erf, as nn.GELU
}

void VitMlpImpl::randomize()
{
    m_fc1->randomize(0.02);
    m_fc2->randomize(0.02);
}

VitBlockImpl::VitBlockImpl(const VisionConfig &config, UniAdapter adapter)
{
    const int64_t w = config.width;
    m_norm1 = register_module("norm1", Norm(w, config.layerNormEps));
    m_attn = register_module("attn", VitAttention(w, config.heads, config.qkvBias));
    m_norm2 = register_module("norm2", Norm(w, config.layerNormEps));
    m_mlp = register_module("mlp", VitMlp(w, static_cast<int64_t>(w * config.mlpRatio)));
    if (adapter)
        m_adapter = register_module("adapter", adapter);
}

torch::Tensor VitBlockImpl::forward(const torch::Tensor &input) const
{
    torch::Tensor x = m_attn->forward(m_norm1->forward(input), input);
    torch::Tensor hidden = m_mlp->hidden(m_norm2->forward(x));
    if (!m_adapter)
        return plusProducts(x, {{hidden, m_mlp->fc2()}});
    if (!m_adapter->visualIsProjection())
        return plusProducts(x, {{hidden, m_mlp->fc2()}}) + m_adapter->forward(x, AdapterMode::Visual);
    const torch::Tensor down = m_adapter->bottleneck(x);
    return plusProducts(x, {{hidden, m_mlp->fc2()}, {down, m_adapter->visualUp(), m_adapter->scale()}});
}

void VitBlockImpl::randomize()
{
    m_norm1->randomize();
    m_norm2->randomize();
    m_attn->randomize();
    m_mlp->randomize();
}

VisionTransformerImpl::VisionTransformerImpl(const VisionConfig &config, torch::nn::ModuleList adapters)
    : m_config(config)
{
    const int64_t w = config.width, p = config.patchSize;
    if (config.imageSize <= 0 || p <= 0 || config.imageSize % p != 0)
        throw std::invalid_argument("vision image_size must be a positive multiple of patch_size");
    if (config.heads <= 0 || w % config.heads != 0)
        throw std::invalid_argument("vision width must be a multiple of heads");
    const int64_t grid = config.imageSize / p;

    m_clsToken = register_parameter("cls_token", torch::empty({1, 1, w}), false);
    m_posEmbed = register_parameter("pos_embed", torch::empty({1, grid * grid + 1, w}), false);
    if (adapters)
        register_module("adapters", adapters);
    auto patchEmbed = register_module("patch_embed", std::make_shared<torch::nn::Module>());
    auto proj = patchEmbed->register_module("proj", std::make_shared<torch::nn::Module>());
    m_patchWeight = proj->register_parameter("weight", torch::empty({w, 3, p, p}), false);
    m_patchBias = proj->register_parameter("bias", torch::empty({w}), false);

    auto blocks = register_module("blocks", torch::nn::ModuleList());
    for (int i = 0; i < config.depth; ++i) {
        UniAdapter adapter{nullptr};
        if (adapters)
            adapter = UniAdapter(adapters->ptr<UniAdapterImpl>(i));
        m_blocks.push_back(VitBlock(config, adapter));
        blocks->push_back(m_blocks.back());
    }
    m_norm = register_module("norm", Norm(w, config.layerNormEps));
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor &pixels) const
{
    const int64_t b = pixels.size(0);
    // [B,3,S,S] → [B,W,g,g] → [B,g*g,W]
    torch::Tensor x = torch::conv2d(pixels, m_patchWeight, m_patchBias, m_config.patchSize)
                          .flatten(2)
                          .transpose(1, 2);
    x = torch::cat({m_clsToken.expand({b, -1, -1}), x}, 1);
    x = x + m_posEmbed.narrow(1, 0, x.size(1));
    std::vector<torch::Tensor> trainable;
    for (const auto &block : m_blocks) {
        if (m_checkpoint && shouldCheckpoint(m_checkpoint, *block, {x}, trainable))
            x = checkpointBlock([block](const std::vector<torch::Tensor> &in) { return block->forward(in[0]); }, {x},
                                trainable, m_checkpoint);
        else
            x = block->forward(x);
    }
    return m_norm->forward(x);
}

void VisionTransformerImpl::randomize()
{
    torch::NoGradGuard noGrad;
    m_clsToken.normal_(0.0, 0.02);
    m_posEmbed.normal_(0.0, 0.02);
    m_patchWeight.normal_(0.0, 0.02);
    m_patchBias.normal_(0.0, 0.02);
    for (auto &block : m_blocks)
        block->randomize();
    m_norm->randomize();
}

} // namespace unisearch::model
