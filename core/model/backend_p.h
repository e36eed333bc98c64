#pragma once
// The model layer's LibTorch side, behind an interface that carries no torch type.
//
// LibTorch costs about 0.6 s and 130 MB to load (Debian's libtorch_cpu pulls 287 shared
// libraries and binds them all at load time), so the executables do not link it: every
// public function of core/model that needs LibTorch forwards to a Backend, which lives in
// the module libunisearch-torch.so and is opened (dlopen) the first time one is called.
// Commands that never run the model (status, model list, labels ...) never load it.
//
// An executable that links the LibTorch side statically (us_model_torch: the tests of the
// model's internals, the fuzz targets) uses that copy and opens no module.
#include "model/adapterpack.h"
#include "model/bundle.h"
#include "model/modelrunner.h"
#include "model/trainer.h"

#include <cstdint>
#include <memory>
#include <string>

namespace unisearch::model {

// What the module exports. The version guards against a module from another build.
inline constexpr const char *kBackendEntryPoint = "unisearch_model_backend_v1";

class Backend
{
public:
    virtual ~Backend() = default;

    virtual std::string libtorchVersion() const = 0;
    virtual void setThreads(int n) = 0; // n >= 1
    virtual int threads() const = 0;
    virtual bool cudaAvailable() const = 0;
    virtual void manualSeed(unsigned long long seed) = 0;

    virtual std::unique_ptr<ModelRunner> loadRunner(const Architecture &architecture, const std::string &weightsPath,
                                                    const RunnerOptions &options, LoadReport *report) = 0;
    virtual std::unique_ptr<ModelRunner> randomRunner(const Architecture &architecture, const RunnerOptions &options) = 0;
    virtual LoadReport inspect(const Architecture &architecture, const std::string &weightsPath) = 0;
    virtual size_t visualTokensBytes(const VisualTokens &tokens) const = 0;
    virtual void writeRandomCheckpoint(const Architecture &architecture, const std::string &path, bool vqa,
                                       uint64_t seed) = 0;

    virtual std::unique_ptr<Trainer> createTrainer(const Architecture &architecture, const std::string &weightsPath,
                                                   const TrainParams &params, const std::string &startPack) = 0;
    virtual std::unique_ptr<Trainer> randomTrainer(const Architecture &architecture, const TrainParams &params) = 0;

    virtual Architecture inferArchitecture(const std::string &checkpointPath, std::string *task) = 0;
    virtual ImportReport importModel(const std::string &checkpointPath, const std::string &modelsDir,
                                     const ImportOptions &options) = 0;
    virtual bool isTrainingOnlyKey(const std::string &key) const = 0;
    virtual PackInfo readPack(const std::string &path) = 0;
    virtual void checkPackFits(const PackInfo &pack, const std::string &baseFingerprint,
                               const std::string &baseName) = 0;
};

// The backend, opened on first use (thread-safe; later calls return at once). Throws
// ModelError when the module cannot be found or loaded, naming where it looked.
Backend &backend();
// Whether backend() has succeeded already (never loads anything).
bool backendLoaded();

// The LibTorch side's implementations (us_model_torch), under their own names so that a
// binary linking both sides has one definition of each public function.
namespace impl {
Backend &torchBackend();
std::string libtorchVersion();
void setThreads(int n);
int threads();
bool cudaAvailable();
void manualSeed(unsigned long long seed);
std::unique_ptr<ModelRunner> loadRunner(const Architecture &architecture, const std::string &weightsPath,
                                        const RunnerOptions &options, LoadReport *report);
std::unique_ptr<ModelRunner> randomRunner(const Architecture &architecture, const RunnerOptions &options);
LoadReport inspect(const Architecture &architecture, const std::string &weightsPath);
size_t visualTokensBytes(const VisualTokens &tokens);
void writeRandomCheckpoint(const Architecture &architecture, const std::string &path, bool vqa, uint64_t seed);
std::unique_ptr<Trainer> createTrainer(const Architecture &architecture, const std::string &weightsPath,
                                       const TrainParams &params, const std::string &startPack);
std::unique_ptr<Trainer> randomTrainer(const Architecture &architecture, const TrainParams &params);
Architecture inferArchitecture(const std::string &checkpointPath, std::string *task);
ImportReport importModel(const std::string &checkpointPath, const std::string &modelsDir, const ImportOptions &options);
bool isTrainingOnlyKey(const std::string &key);
PackInfo readPack(const std::string &path);
void checkPackFits(const PackInfo &pack, const std::string &baseFingerprint, const std::string &baseName);
} // namespace impl

} // namespace unisearch::model
