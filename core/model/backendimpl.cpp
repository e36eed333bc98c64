// The LibTorch side's Backend (backend_p.h) and the module's entry point.
#include "backend_p.h"

#include <algorithm>
#include <cstring>

namespace unisearch::model {

namespace impl {

std::string libtorchVersion()
{
    return TORCH_VERSION;
}

void setThreads(int n)
{
    // LibTorch picks one thread on some machines unless told otherwise.
    at::set_num_threads(std::max(1, n));
}

int threads()
{
    return at::get_num_threads();
}

bool cudaAvailable()
{
    return torch::cuda::is_available();
}

void manualSeed(unsigned long long seed)
{
    torch::manual_seed(seed);
}

namespace {

class TorchBackend final : public Backend
{
public:
    std::string libtorchVersion() const override { return impl::libtorchVersion(); }
    void setThreads(int n) override { impl::setThreads(n); }
    int threads() const override { return impl::threads(); }
    bool cudaAvailable() const override { return impl::cudaAvailable(); }
    void manualSeed(unsigned long long seed) override { impl::manualSeed(seed); }

    std::unique_ptr<ModelRunner> loadRunner(const Architecture &architecture, const std::string &weightsPath,
                                            const RunnerOptions &options, LoadReport *report) override
    {
        return impl::loadRunner(architecture, weightsPath, options, report);
    }
    std::unique_ptr<ModelRunner> randomRunner(const Architecture &architecture, const RunnerOptions &options) override
    {
        return impl::randomRunner(architecture, options);
    }
    LoadReport inspect(const Architecture &architecture, const std::string &weightsPath) override
    {
        return impl::inspect(architecture, weightsPath);
    }
    size_t visualTokensBytes(const VisualTokens &tokens) const override { return impl::visualTokensBytes(tokens); }
    void writeRandomCheckpoint(const Architecture &architecture, const std::string &path, bool vqa,
                               uint64_t seed) override
    {
        impl::writeRandomCheckpoint(architecture, path, vqa, seed);
    }
    std::unique_ptr<Trainer> createTrainer(const Architecture &architecture, const std::string &weightsPath,
                                           const TrainParams &params, const std::string &startPack) override
    {
        return impl::createTrainer(architecture, weightsPath, params, startPack);
    }
    std::unique_ptr<Trainer> randomTrainer(const Architecture &architecture, const TrainParams &params) override
    {
        return impl::randomTrainer(architecture, params);
    }
    Architecture inferArchitecture(const std::string &checkpointPath, std::string *task) override
    {
        return impl::inferArchitecture(checkpointPath, task);
    }
    ImportReport importModel(const std::string &checkpointPath, const std::string &modelsDir,
                             const ImportOptions &options) override
    {
        return impl::importModel(checkpointPath, modelsDir, options);
    }
    bool isTrainingOnlyKey(const std::string &key) const override { return impl::isTrainingOnlyKey(key); }
    PackInfo readPack(const std::string &path) override { return impl::readPack(path); }
    void checkPackFits(const PackInfo &pack, const std::string &baseFingerprint,
                       const std::string &baseName) override
    {
        impl::checkPackFits(pack, baseFingerprint, baseName);
    }
};

} // namespace

Backend &torchBackend()
{
    static TorchBackend backend;
    return backend;
}

} // namespace impl

} // namespace unisearch::model

// The module's only exported symbol. Returns nullptr for a caller of another version.
extern "C" __attribute__((visibility("default"))) unisearch::model::Backend *unisearch_model_backend_v1(const char *version)
{
    if (!version || std::strcmp(version, UNISEARCH_VERSION_STRING) != 0)
        return nullptr;
    return &unisearch::model::impl::torchBackend();
}
