#pragma once
// Activation checkpointing of one transformer block (a reentrant checkpoint in the
// manner of torch.utils.checkpoint, which LibTorch lacks in C++): the block's forward
// runs without recording a graph, keeping only its inputs; backward runs the block again
// with gradients enabled and differentiates that recomputation. Memory: one block's
// activations at a time instead of every block's, for about one more forward pass.
// Internal to us_model.
#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace unisearch::model {

// Shared by the blocks of one model while checkpointing is on (null: off).
struct CheckpointStats {
    std::atomic<long long> recomputed{0}; // blocks recomputed in backward so far
};
using CheckpointSwitch = std::shared_ptr<CheckpointStats>;

// A block as a function of its tensors (undefined ones are passed through as undefined).
using BlockFn = std::function<torch::Tensor(const std::vector<torch::Tensor> &)>;

// Whether a block is worth checkpointing now: checkpointing is on, gradients are being
// recorded, and one of the inputs or of the block's parameters requires a gradient.
// Fills `trainable` with those parameters.
bool shouldCheckpoint(const CheckpointSwitch &on, const torch::nn::Module &block,
                      const std::vector<torch::Tensor> &inputs, std::vector<torch::Tensor> &trainable);

// fn(inputs) with its activations recomputed during backward. `trainable`: the parameters
// fn reads that require a gradient (they receive theirs through the autograd graph, like
// the inputs that require one). The autocast state (CPU and CUDA) of this call is restored
// for the recomputation. The blocks must not draw random numbers (this model has no
// dropout; a block that did would need its generator state saved and restored too).
torch::Tensor checkpointBlock(const BlockFn &fn, const std::vector<torch::Tensor> &inputs,
                              const std::vector<torch::Tensor> &trainable, const CheckpointSwitch &stats);

} // namespace unisearch::model
