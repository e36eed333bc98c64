// writeRandomCheckpoint: a model with random weights saved as the reference's state dict,
// so that benchmarks can import a full-size model without downloading one.
#include "backend_p.h"
#include "uniadapter_p.h"

namespace unisearch::model {

void impl::writeRandomCheckpoint(const Architecture &architecture, const std::string &path, bool vqa, uint64_t seed)
{
    try {
        torch::manual_seed(seed);
        UniAdapterModel model(architecture, ModelHeads{!vqa, vqa});
        model->randomize();
        // Every name a parameter has (a shared adapter is saved under each of its paths, as
        // PyTorch's state_dict does); the fused q/k/v slices are contiguous, so nothing is copied.
        StateDict dict;
        for (const auto &item : model->named_parameters(true))
            dict.insert(item.key(), item.value().detach());
        saveSafetensors(path, dict, {{"format", "pt"}});
    } catch (const std::exception &e) {
        throw ModelError(std::string("cannot write a random checkpoint: ") + e.what());
    }
}

} // namespace unisearch::model
