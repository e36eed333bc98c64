#include "cpuconversion_p.h"
#include "storedconversion_p.h"

#include <algorithm>
#include <optional>

#include <sys/mman.h>

namespace unisearch::model {

namespace {

// A converted parameter's place in its block: per module, the weights first, then the
// biases, so the query/key/value weights of an attention lie side by side and fuse as a
// view (BertSelfAttentionImpl::fuse) instead of a copy.
std::pair<std::string, bool> blockOrder(const std::string &name)
{
    const size_t leaf = name.rfind('.');                                             // ".weight"
    const size_t layer = leaf == std::string::npos || leaf == 0 ? std::string::npos : name.rfind('.', leaf - 1); // ".query"
    return {layer == std::string::npos ? std::string() : name.substr(0, layer), name.ends_with(".bias")};
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

} // namespace

void convertOnCpu(std::vector<std::pair<std::string, torch::Tensor>> &params, torch::ScalarType dtype,
                  const std::string &storeTag)
{
    std::optional<StoredConversion> stored;
    if (!storeTag.empty() && !params.empty()) {
        stored.emplace(params, dtype, storeTag);
        stored->adopt(params);
    }
    convertIntoBlock(params, dtype);
    if (stored)
        stored->saveIfMissing(params);
}

} // namespace unisearch::model
