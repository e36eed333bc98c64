#include "layers_p.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>

namespace unisearch::model {

DenseImpl::DenseImpl(int64_t in, int64_t out, bool withBias)
{
    // Parameters start uninitialised: they are either loaded from a checkpoint or
    // randomised on purpose (randomize()); filling them twice would waste seconds at full size.
    weight = register_parameter("weight", torch::empty({out, in}), /*requires_grad=*/false);
    if (withBias)
        bias = register_parameter("bias", torch::empty({out}), /*requires_grad=*/false);
}

torch::Tensor DenseImpl::forward(const torch::Tensor &x) const
{
    const auto dtype = x.scalar_type();
    if (dtype == weight.scalar_type() || !x.is_floating_point() || autocastEnabled())
        return torch::linear(x, weight, bias);
    if (torch::GradMode::is_enabled()) // a copy kept across steps would leave the graph stale
        return torch::linear(x, weight.to(dtype), bias.defined() ? bias.to(dtype) : torch::Tensor());
    if (!m_cast.weight.defined() || m_cast.weight.scalar_type() != dtype || m_cast.source != weight.data_ptr()) {
        m_cast.weight = weight.to(dtype).contiguous();
        m_cast.bias = bias.defined() ? bias.to(dtype).contiguous() : torch::Tensor();
        m_cast.source = weight.data_ptr();
    }
    return torch::linear(x, m_cast.weight, m_cast.bias);
}

void DenseImpl::rebind(const torch::Tensor &newWeight, const torch::Tensor &newBias)
{
    TORCH_CHECK(newWeight.sizes() == weight.sizes(), "Dense::rebind: weight shape mismatch");
    weight = newWeight;
    parameters_["weight"] = newWeight;
    m_cast = {};
    if (bias.defined()) {
        TORCH_CHECK(newBias.defined() && newBias.sizes() == bias.sizes(), "Dense::rebind: bias shape mismatch");
        bias = newBias;
        parameters_["bias"] = newBias;
    }
}

void DenseImpl::randomize(double std)
{
    torch::NoGradGuard noGrad;
    weight.normal_(0.0, std);
    if (bias.defined())
        bias.normal_(0.0, std);
}

NormImpl::NormImpl(int64_t dim, double eps_)
    : eps(eps_)
{
    // Uninitialised, as Dense: loaded or randomised before any use (a norm the checkpoint
    // lacks is a load error, never a silent identity).
    weight = register_parameter("weight", torch::empty({dim}), false);
    bias = register_parameter("bias", torch::empty({dim}), false);
}

torch::Tensor NormImpl::forward(const torch::Tensor &x) const
{
    if (x.scalar_type() == torch::kBFloat16 && x.device().is_cpu()) {
        // LibTorch 1.13's CPU layer_norm has no vectorised bfloat16 kernel: normalising in
        // float32 and rounding once is both exact-er and ~7x faster ([577,768]: 0.4 ms vs 3.1 ms).
        return torch::layer_norm(x.to(torch::kFloat32), {weight.size(0)}, weight.to(torch::kFloat32),
                                 bias.to(torch::kFloat32), eps)
            .to(torch::kBFloat16);
    }
    return torch::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

void NormImpl::randomize()
{
    torch::NoGradGuard noGrad;
    weight.normal_(1.0, 0.05);
    bias.normal_(0.0, 0.05);
}

std::pair<torch::Tensor, torch::Tensor> fuseDense(std::vector<Dense> layers)
{
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> weights, biases;
    bool withBias = true;
    for (const auto &l : layers) {
        weights.push_back(l->weight);
        withBias = withBias && l->bias.defined();
        biases.push_back(l->bias);
    }
    torch::Tensor w = torch::cat(weights, 0);
    torch::Tensor b = withBias ? torch::cat(biases, 0) : torch::Tensor();
    int64_t offset = 0;
    for (auto &l : layers) {
        const int64_t n = l->weight.size(0);
        l->rebind(w.narrow(0, offset, n), withBias ? b.narrow(0, offset, n) : torch::Tensor());
        offset += n;
    }
    return {w, b};
}

bool autocastEnabled()
{
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    return at::autocast::is_autocast_enabled(at::kCPU) || at::autocast::is_autocast_enabled(at::kCUDA);
#else
    return at::autocast::is_cpu_enabled() || at::autocast::is_enabled();
#endif
}

torch::Tensor splitHeads(const torch::Tensor &x, int64_t heads)
{
    const int64_t b = x.size(0), l = x.size(1), w = x.size(2);
    return x.view({b, l, heads, w / heads}).permute({0, 2, 1, 3});
}

namespace {
torch::Tensor softmaxLastDim(const torch::Tensor &scores)
{
    // LibTorch's softmax accumulates bfloat16 in float32 and rounds once (CPU since 1.13's
    // vectorised kernel, CUDA always): the same values (measured: 1 in 10^5 differs by one ulp)
    // as softmax(float32) rounded, at half the time and without a float32 copy of the scores
    // ([12,577,577]: 3.8 ms vs 6.1 ms). Half on CPU has no such kernel: float32, rounded.
    if (scores.scalar_type() == torch::kHalf && scores.device().is_cpu())
        return scores.softmax(-1, torch::kFloat32).to(scores.scalar_type());
    return scores.softmax(-1);
}

// Scores per piece of the batch at most: a batch of 8 images at 384 px in one piece makes
// 32 M scores (64 MB bfloat16) per layer, blocks glibc returns to the system and the next
// layer faults in again (measured 2 M page faults and 12 s of system time per batch of 8),
// and that leave the caches between the two products. [12,577,577] is 4.0 M.
constexpr int64_t kMaxScoresPerPiece = int64_t(1) << 22;

// softmax(q·kᵀ + mask)·v for q, k, v, mask of one piece of the batch. q is already scaled.
torch::Tensor attentionProducts(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                                const torch::Tensor &additiveMask)
{
    torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2));
    if (additiveMask.defined())
        scores.add_(additiveMask);
    return torch::matmul(softmaxLastDim(scores), v);
}

// Rows [i, i+n) of a tensor with a batch dimension of `batch`, or the tensor itself when it
// broadcasts over the batch (size 1).
torch::Tensor batchRows(const torch::Tensor &t, int64_t batch, int64_t i, int64_t n)
{
    return t.defined() && t.size(0) == batch && batch > 1 ? t.narrow(0, i, n) : t;
}
} // namespace

torch::Tensor attention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                        const torch::Tensor &additiveMask)
{
    const int64_t b = q.size(0), h = q.size(1), lq = q.size(2), d = q.size(3);
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    const bool maskBroadcastsOverQueries = !additiveMask.defined()
        || (additiveMask.size(0) == 1 && additiveMask.size(-2) == 1);
    if (k.size(0) == 1 && b > 1 && maskBroadcastsOverQueries) {
        // One set of keys for many queries (an image against several texts, the question
        // states against k answers): fold the batch into the query length instead of
        // letting matmul materialise B copies of K and V.
        torch::Tensor qf = q.transpose(0, 1).reshape({1, h, b * lq, d}) * scale;
        torch::Tensor ctx = attentionProducts(qf, k, v, additiveMask); // [1,h,B*Lq,d]
        return ctx.view({h, b, lq, d}).permute({1, 2, 0, 3}).reshape({b, lq, h * d});
    }
    // Scaling q (L×d) instead of the scores (L×L) is L/d times less work, and the product
    // is contiguous, which spares matmul a copy of a permuted q.
    const torch::Tensor qs = q * scale;
    const int64_t lk = k.size(2);
    const int64_t perPiece = std::max<int64_t>(1, kMaxScoresPerPiece / std::max<int64_t>(1, h * lq * lk));
    if (perPiece >= b) {
        torch::Tensor ctx = attentionProducts(qs, k, v, additiveMask); // [B,h,Lq,d]
        return ctx.permute({0, 2, 1, 3}).reshape({b, lq, h * d});
    }
    // Large batches in pieces (kMaxScoresPerPiece); each piece's context goes straight to its
    // rows of the [B,Lq,h,d] result, the copy the one-piece path makes with reshape.
    torch::Tensor out = torch::empty({b, lq, h, d}, q.options());
    for (int64_t i = 0; i < b; i += perPiece) {
        const int64_t n = std::min(perPiece, b - i);
        torch::Tensor ctx = attentionProducts(qs.narrow(0, i, n), batchRows(k, b, i, n), batchRows(v, b, i, n),
                                              batchRows(additiveMask, b, i, n));
        out.narrow(0, i, n).copy_(ctx.permute({0, 2, 1, 3}));
    }
    return out.view({b, lq, h * d});
}

} // namespace unisearch::model
