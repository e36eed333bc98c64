#include "checkpoint_p.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <set>

namespace unisearch::model {

namespace {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define US_AUTOCAST_BY_DEVICE 1
#endif

// The thread-local autocast settings (mixed precision for CPU and CUDA) and whether
// autocast caches its weight casts.
struct AutocastState {
    bool cpu = false, cuda = false, cache = true;
    at::ScalarType cpuType = at::kBFloat16, cudaType = at::kHalf;

    static AutocastState current()
    {
        AutocastState s;
#ifdef US_AUTOCAST_BY_DEVICE
        s.cpu = at::autocast::is_autocast_enabled(at::kCPU);
        s.cuda = at::autocast::is_autocast_enabled(at::kCUDA);
        s.cpuType = at::autocast::get_autocast_dtype(at::kCPU);
        s.cudaType = at::autocast::get_autocast_dtype(at::kCUDA);
#else
        s.cpu = at::autocast::is_cpu_enabled();
        s.cuda = at::autocast::is_enabled();
        s.cpuType = at::autocast::get_autocast_cpu_dtype();
        s.cudaType = at::autocast::get_autocast_gpu_dtype();
#endif
        s.cache = at::autocast::is_autocast_cache_enabled();
        return s;
    }

    void apply() const
    {
#ifdef US_AUTOCAST_BY_DEVICE
        at::autocast::set_autocast_dtype(at::kCPU, cpuType);
        at::autocast::set_autocast_enabled(at::kCPU, cpu);
        at::autocast::set_autocast_dtype(at::kCUDA, cudaType);
        at::autocast::set_autocast_enabled(at::kCUDA, cuda);
#else
        at::autocast::set_autocast_cpu_dtype(cpuType);
        at::autocast::set_cpu_enabled(cpu);
        at::autocast::set_autocast_gpu_dtype(cudaType);
        at::autocast::set_enabled(cuda);
#endif
        at::autocast::set_autocast_cache_enabled(cache);
    }
};

// Applies a state for a scope, then puts the previous one back.
class AutocastScope
{
public:
    explicit AutocastScope(AutocastState state)
        : m_previous(AutocastState::current())
    {
        state.apply();
    }
    ~AutocastScope() { m_previous.apply(); }
    AutocastScope(const AutocastScope &) = delete;
    AutocastScope &operator=(const AutocastScope &) = delete;

private:
    AutocastState m_previous;
};

// What backward needs besides the saved inputs; owned by the autograd node.
struct Block : torch::CustomClassHolder {
    BlockFn fn;
    size_t arity = 0;                  // fn's argument count
    std::vector<size_t> positions;     // fn's argument index of each defined input
    std::vector<bool> inputNeedsGrad;  // per defined input
    std::vector<torch::Tensor> params; // trainable parameters fn reads
    AutocastState autocast;            // as at the forward call, cache off
    CheckpointSwitch stats;

    std::vector<torch::Tensor> arguments(const std::vector<torch::Tensor> &defined) const
    {
        std::vector<torch::Tensor> args(arity);
        for (size_t i = 0; i < positions.size(); ++i)
            args[positions[i]] = defined[i];
        return args;
    }
};

// Inputs of the autograd function: the block (not a tensor), then its defined inputs,
// then its trainable parameters (so that the node is recorded, and their gradients flow
// back through it, even when no input requires a gradient).
struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, c10::intrusive_ptr<Block> block,
                                 at::TensorList tensors)
    {
        const size_t n = block->positions.size();
        std::vector<torch::Tensor> inputs(tensors.begin(), tensors.begin() + static_cast<std::ptrdiff_t>(n));
        torch::Tensor out;
        {
            // Runs without a graph (Function::apply disables it). Autocast must not cache
            // the weight casts made here: a cached cast without a graph would be handed to
            // a later use of the weight that needs one.
            AutocastScope scope(block->autocast);
            out = block->fn(block->arguments(inputs));
        }
        ctx->save_for_backward(inputs);
        ctx->saved_data["block"] = c10::IValue::make_capsule(block);
        return out;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        const auto capsule = ctx->saved_data["block"].toCapsule();
        const auto *block = static_cast<const Block *>(capsule.get());
        const std::vector<torch::Tensor> saved = ctx->get_saved_variables();
        const size_t n = saved.size();

        std::vector<torch::Tensor> inputs, wrt;
        for (size_t i = 0; i < n; ++i) {
            torch::Tensor d = saved[i].detach();
            d.requires_grad_(block->inputNeedsGrad[i]);
            if (block->inputNeedsGrad[i])
                wrt.push_back(d);
            inputs.push_back(d);
        }
        for (const auto &p : block->params)
            wrt.push_back(p);

        torch::Tensor out;
        {
            torch::AutoGradMode enable(true);
            AutocastScope scope(block->autocast);
            out = block->fn(block->arguments(inputs));
        }
        if (block->stats)
            ++block->stats->recomputed;

        // One (undefined) gradient for the block argument, then one per tensor.
        torch::autograd::variable_list result(1 + n + block->params.size());
        if (!out.requires_grad() || wrt.empty())
            return result;
        const auto grads = torch::autograd::grad({out}, wrt, {gradOutputs[0]}, /*retain_graph=*/false,
                                                 /*create_graph=*/false, /*allow_unused=*/true);
        size_t g = 0;
        for (size_t i = 0; i < n; ++i)
            if (block->inputNeedsGrad[i])
                result[1 + i] = grads[g++];
        for (size_t j = 0; j < block->params.size(); ++j)
            result[1 + n + j] = grads[g++];
        return result;
    }
};

} // namespace

bool shouldCheckpoint(const CheckpointSwitch &on, const torch::nn::Module &block,
                      const std::vector<torch::Tensor> &inputs, std::vector<torch::Tensor> &trainable)
{
    trainable.clear();
    if (!on || !torch::GradMode::is_enabled())
        return false;
    // A shared tensor is listed once: it gets one gradient from the recomputation.
    std::set<const c10::TensorImpl *> seen;
    for (const auto &p : block.parameters())
        if (p.requires_grad() && seen.insert(p.unsafeGetTensorImpl()).second)
            trainable.push_back(p);
    if (!trainable.empty())
        return true;
    for (const auto &t : inputs)
        if (t.defined() && t.requires_grad())
            return true;
    return false;
}

torch::Tensor checkpointBlock(const BlockFn &fn, const std::vector<torch::Tensor> &inputs,
                              const std::vector<torch::Tensor> &trainable, const CheckpointSwitch &stats)
{
    auto block = c10::make_intrusive<Block>();
    block->fn = fn;
    block->arity = inputs.size();
    block->params = trainable;
    block->stats = stats;
    block->autocast = AutocastState::current();
    block->autocast.cache = false;
    std::vector<torch::Tensor> tensors;
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i].defined())
            continue;
        block->positions.push_back(i);
        block->inputNeedsGrad.push_back(inputs[i].requires_grad());
        tensors.push_back(inputs[i]);
    }
    tensors.insert(tensors.end(), trainable.begin(), trainable.end());
    return CheckpointFunction::apply(std::move(block), at::TensorList(tensors));
}

} // namespace unisearch::model
