// The public functions of core/model that need LibTorch, forwarded to the backend module
// (backend_p.h), which is opened the first time one of them is called. No LibTorch here.
#include "backend_p.h"
#include "runtime.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <unistd.h>

// Defined when the LibTorch side is linked into this binary (us_model_torch): then no
// module is opened.
extern "C" unisearch::model::Backend *unisearch_model_backend_v1(const char *version) __attribute__((weak));

namespace unisearch::model {

namespace {

namespace fs = std::filesystem;

constexpr const char *kModuleFile = "libunisearch-torch.so";

std::atomic<Backend *> g_backend{nullptr};
std::mutex g_loadMutex;
// Intra-op threads asked for before the backend was loaded (0: none asked); applied on load.
std::atomic<int> g_pendingThreads{0};

fs::path executableDir()
{
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : exe.parent_path();
}

// Where the module may be, in order: $UNISEARCH_TORCH_MODULE, beside the executable, the
// installed layout (bin/ → lib/unisearch/), the build tree.
std::vector<std::string> moduleCandidates()
{
    std::vector<std::string> out;
    if (const char *env = std::getenv("UNISEARCH_TORCH_MODULE"); env && *env) {
        out.emplace_back(env);
        return out; // an explicit choice: nothing else is tried
    }
    if (const fs::path dir = executableDir(); !dir.empty()) {
        out.push_back((dir / kModuleFile).string());
        out.push_back((dir / UNISEARCH_MODULE_INSTALL_RELDIR / kModuleFile).lexically_normal().string());
    }
    out.emplace_back(UNISEARCH_MODULE_BUILD_PATH);
    return out;
}

Backend *openModule()
{
    std::string tried;
    for (const std::string &path : moduleCandidates()) {
        std::error_code ec;
        if (!fs::is_regular_file(path, ec)) {
            tried += "\n  " + path + ": not found";
            continue;
        }
        void *handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            const char *why = ::dlerror();
            tried += "\n  " + path + ": " + (why ? std::string(why).substr(0, 300) : std::string("cannot be loaded"));
            continue;
        }
        using Entry = Backend *(*)(const char *);
        auto entry = reinterpret_cast<Entry>(::dlsym(handle, kBackendEntryPoint));
        Backend *b = entry ? entry(UNISEARCH_VERSION_STRING) : nullptr;
        if (!b) {
            tried += "\n  " + path + ": not the model runtime of this version (" UNISEARCH_VERSION_STRING ")";
            continue; // the handle stays open: unloading LibTorch is not safe
        }
        return b;
    }
    throw ModelError("cannot load the model runtime (LibTorch, " + std::string(kModuleFile)
                     + "); reinstall Unisearch or set UNISEARCH_TORCH_MODULE. Tried:" + tried);
}

int resolvedThreads(int n)
{
    return n > 0 ? n : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::thread g_preloader;
std::once_flag g_preloadOnce;

// The backend for a function whose callers expect its own error type: a runtime that
// cannot be loaded is reported as that type.
template <typename Error>
Backend &backendAs()
{
    try {
        return backend();
    } catch (const ModelError &e) {
        throw Error(e.what());
    }
}

} // namespace

Backend &backend()
{
    if (Backend *b = g_backend.load(std::memory_order_acquire))
        return *b;
    std::lock_guard lock(g_loadMutex);
    if (Backend *b = g_backend.load(std::memory_order_acquire))
        return *b;
    Backend *b = unisearch_model_backend_v1 ? unisearch_model_backend_v1(UNISEARCH_VERSION_STRING) : openModule();
    if (!b)
        throw ModelError("the model runtime linked into this program is not of this version");
    if (const int n = g_pendingThreads.load())
        b->setThreads(n);
    g_backend.store(b, std::memory_order_release);
    return *b;
}

bool backendLoaded()
{
    return g_backend.load(std::memory_order_acquire) != nullptr;
}

void preloadModelRuntime()
{
    if (backendLoaded())
        return;
    std::call_once(g_preloadOnce, [] {
        g_preloader = std::thread([] {
            try {
                backend();
            } catch (const std::exception &) {
                // The caller that needs the model calls backend() again and reports why.
            }
        });
    });
}

void finishPreload()
{
    // Joined before exit() runs the destructors of LibTorch's statics, which the loading
    // thread may still be using (an exit during the load hung in LibTorch's thread pool).
    if (g_preloader.joinable())
        g_preloader.join();
}

void exitSkippingTeardown(int code)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // LeakSanitizer's check runs at exit: the teardown stays.
    (void)code;
#else
    finishPreload();
    if (!backendLoaded())
        return;
    std::fflush(nullptr);
    ::_exit(code);
#endif
}

// runtime.h
std::string libtorchVersion()
{
    return backend().libtorchVersion();
}

void setThreads(int n)
{
    n = resolvedThreads(n);
    g_pendingThreads.store(n);
    if (backendLoaded())
        backend().setThreads(n);
}

int threads()
{
    if (backendLoaded())
        return backend().threads();
    return resolvedThreads(g_pendingThreads.load());
}

bool cudaAvailable()
{
#ifdef UNISEARCH_CUDA
    return backend().cudaAvailable();
#else
    return false; // a CPU-only build: no need to load LibTorch to know
#endif
}

void manualSeed(unsigned long long seed)
{
    backend().manualSeed(seed);
}

// modelrunner.h
std::unique_ptr<ModelRunner> ModelRunner::load(const Architecture &architecture, const std::string &weightsPath,
                                               const Options &options, LoadReport *report)
{
    return backend().loadRunner(architecture, weightsPath, options, report);
}

std::unique_ptr<ModelRunner> ModelRunner::random(const Architecture &architecture, const Options &options)
{
    return backend().randomRunner(architecture, options);
}

LoadReport ModelRunner::inspect(const Architecture &architecture, const std::string &weightsPath)
{
    return backend().inspect(architecture, weightsPath);
}

size_t visualTokensBytes(const VisualTokens &tokens)
{
    return backend().visualTokensBytes(tokens);
}

void writeRandomCheckpoint(const Architecture &architecture, const std::string &path, bool vqa, uint64_t seed)
{
    backend().writeRandomCheckpoint(architecture, path, vqa, seed);
}

// trainer.h
std::unique_ptr<Trainer> Trainer::create(const Architecture &architecture, const std::string &weightsPath,
                                         const TrainParams &params, const std::string &startPack)
{
    return backendAs<TrainError>().createTrainer(architecture, weightsPath, params, startPack);
}

std::unique_ptr<Trainer> Trainer::random(const Architecture &architecture, const TrainParams &params)
{
    return backendAs<TrainError>().randomTrainer(architecture, params);
}

// bundle.h
Architecture inferArchitecture(const std::string &checkpointPath, std::string *task)
{
    return backendAs<BundleError>().inferArchitecture(checkpointPath, task);
}

ImportReport importModel(const std::string &checkpointPath, const std::string &modelsDir, const ImportOptions &options)
{
    return backendAs<BundleError>().importModel(checkpointPath, modelsDir, options);
}

bool isTrainingOnlyKey(const std::string &key)
{
    return backend().isTrainingOnlyKey(key);
}

// adapterpack.h
PackInfo readPack(const std::string &path)
{
    return backendAs<PackError>().readPack(path);
}

void checkPackFits(const PackInfo &pack, const std::string &baseFingerprint, const std::string &baseName)
{
    backendAs<PackError>().checkPackFits(pack, baseFingerprint, baseName);
}

} // namespace unisearch::model
