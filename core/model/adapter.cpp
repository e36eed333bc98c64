#include "adapter_p.h"

namespace unisearch::model {

namespace {
// nn.LayerNorm's default: the adapters' norms do not take the model's eps.
constexpr double kAdapterNormEps = 1e-5;
} // namespace

UniAdapterImpl::UniAdapterImpl(const AdapterParams &params)
    : m_params(params)
{
    if (params.layernorm == "in" || params.layernorm == "out")
        m_normBefore = register_module("adapter_layer_norm_before", Norm(params.width, kAdapterNormEps));
    m_normCrossModal = register_module("adapter_layer_norm_cross_modal", Norm(params.width, kAdapterNormEps));
    m_down = register_module("down_proj", Dense(params.width, params.bottleneck));
    m_up = register_module("up_proj", Dense(params.bottleneck, params.width));
    m_multiUp = register_module("multi_up_proj", Dense(params.bottleneck, params.width));
    m_visualUp = register_module("visual_up_proj", Dense(params.bottleneck, params.width));
}

torch::Tensor UniAdapterImpl::bottleneck(const torch::Tensor &x) const
{
    torch::Tensor in = m_params.layernorm == "in" ? m_normBefore->forward(x) : x;
    return torch::relu(m_down->forward(in));
}

torch::Tensor UniAdapterImpl::forward(const torch::Tensor &x, AdapterMode mode) const
{
    torch::Tensor down = bottleneck(x);
    torch::Tensor up;
    switch (mode) {
    case AdapterMode::Visual:
        up = m_visualUp->forward(down);
        break;
    case AdapterMode::Text:
        up = m_up->forward(down);
        break;
    case AdapterMode::Multimodal:
        up = m_normCrossModal->forward(m_multiUp->forward(down) + m_up->forward(down));
        break;
    }
    up = up * m_params.scale;
    if (m_params.layernorm == "out")
        up = m_normBefore->forward(up);
    return up;
}

void UniAdapterImpl::randomize()
{
    for (auto *d : {&m_down, &m_up, &m_multiUp, &m_visualUp})
        (*d)->randomize(0.02);
    if (m_normBefore)
        m_normBefore->randomize();
    m_normCrossModal->randomize();
}

LoraAdapterImpl::LoraAdapterImpl(int64_t width, int64_t bottleneck)
{
    m_scale = register_parameter("scale", torch::ones({1}), false);
    m_down = register_module("down_proj", Dense(width, bottleneck));
    m_up = register_module("up_proj", Dense(bottleneck, width));
}

torch::Tensor LoraAdapterImpl::forward(const torch::Tensor &x) const
{
    return m_up->forward(m_down->forward(x)) * m_scale;
}

void LoraAdapterImpl::randomize()
{
    m_down->randomize(0.02);
    m_up->randomize(0.02);
    torch::NoGradGuard noGrad;
    m_scale.fill_(0.5);
}

} // namespace unisearch::model
