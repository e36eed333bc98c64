#pragma once
// Basic layers of the UniAdapter model, registered under the checkpoint's names
// (`weight`, `bias`), plus the attention kernel shared by ViT and BERT.
// Internal to us_model: exposes LibTorch types.
#include <torch/torch.h>

namespace unisearch::model {

// A linear layer whose parameters can be re-pointed at views of a larger tensor, so
// that q/k/v (or k/v) of one attention share one contiguous weight and run as one
// matmul while each keeps its own checkpoint name.
class DenseImpl : public torch::nn::Module
{
public:
    DenseImpl(int64_t in, int64_t out, bool bias = true);
    // x: [..., in] → [..., out]. An x of another floating dtype than the weights (outside
    // autocast) is multiplied by a copy of them in its dtype, made at the first such call:
    // a part whose weights are bfloat16 in a float32 model (RunnerOptions::bfloat16Parts)
    // runs the adapter layers it shares with the float32 parts in bfloat16, as its own.
    torch::Tensor forward(const torch::Tensor &x) const;
    // Makes the registered parameters these tensors (same shapes), e.g. views of a fused weight.
    void rebind(const torch::Tensor &newWeight, const torch::Tensor &newBias);
    void randomize(double std);

    torch::Tensor weight; // [out, in]
    torch::Tensor bias;   // [out] or undefined

private:
    struct Cast {
        torch::Tensor weight, bias;
        const void *source = nullptr; // weight's data when the copy was made
    };
    mutable Cast m_cast; // the runner is used by one thread at a time (modelrunner.h)
};
TORCH_MODULE(Dense);

class NormImpl : public torch::nn::Module
{
public:
    NormImpl(int64_t dim, double eps);
    // x: [..., dim]
    torch::Tensor forward(const torch::Tensor &x) const;
    void randomize();

    torch::Tensor weight, bias;
    double eps;
};
TORCH_MODULE(Norm);

// Concatenates the given layers' weights and biases along dim 0 and re-points each layer
// at its slice, so nothing is stored twice. Returns {weight, bias} of the fused layer.
std::pair<torch::Tensor, torch::Tensor> fuseDense(std::vector<Dense> layers);

// Scaled dot-product attention written with matmul + softmax (LibTorch 1.13 has no fused
// kernel). q: [B,h,Lq,d], k/v: [Bk,h,Lk,d] with Bk == B or 1 (broadcast);
// additiveMask: broadcastable to [B,h,Lq,Lk] or undefined. Returns [B,Lq,h*d].
torch::Tensor attention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                        const torch::Tensor &additiveMask);

// Whether autocast (mixed precision, CPU or CUDA) is on in this thread: its products come in
// another dtype than their inputs, so paths that fuse by hand must give way to plain ops.
bool autocastEnabled();

// [B,L,h*d] → [B,h,L,d]
torch::Tensor splitHeads(const torch::Tensor &x, int64_t heads);

} // namespace unisearch::model
