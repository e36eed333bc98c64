#include "bundle.h"

#include "engine.h"
#include "sha256.h"
#include "statedict_p.h"
#include "textclean.h"
#include "uniadapter_p.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <tuple>

namespace fs = std::filesystem;

namespace unisearch::model {

namespace {

constexpr const char *kBundleFile = "model.json";
constexpr const char *kWeightsFile = "weights.safetensors";
constexpr int kBundleFormat = 1; // model.json's layout version
constexpr int kHeadSize = 64; // BLIP-base and its relatives: heads = width / 64

int countIndexed(const StateDict &dict, const std::string &prefix)
{
    // Layers are numbered 0..n-1 directly after the prefix ("blocks.7.").
    int n = 0;
    while (dict.hasPrefix(prefix + std::to_string(n) + "."))
        ++n;
    return n;
}

int64_t dimOf(const StateDict &dict, const std::string &key, int dim, const char *what)
{
    if (!dict.contains(key))
        throw BundleError(std::string("cannot infer the architecture: the checkpoint has no '") + key + "' ("
                          + what + "); pass --architecture");
    const torch::Tensor t = dict.get(key);
    if (t.dim() <= dim)
        throw BundleError("cannot infer the architecture: '" + key + "' has shape " + formatShape(t.sizes()));
    return t.size(dim);
}

// A file name is bytes, but model.json and the safetensors header are UTF-8: a name that
// is not UTF-8 is recorded with U+FFFD for each byte that does not decode.
std::string utf8Name(const std::string &bytes)
{
    return pyunicode::toUtf8(pyunicode::fromUtf8(bytes));
}

std::string nowIso()
{
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

bool validName(const std::string &name)
{
    if (name.empty() || name.size() > 100 || name == "." || name == ".." || name.front() == '.')
        return false;
    for (unsigned char c : name)
        if (c == '/' || c == '\\' || c < 0x20)
            return false;
    return true;
}

Architecture inferFrom(const StateDict &dict, std::string *task)
{
    Architecture a;
    const StateDict vis = dict.select("visual_encoder.");
    if (vis.empty())
        throw BundleError("not a BLIP/UniAdapter checkpoint: it has no visual_encoder.* tensors");
    a.vision.width = int(dimOf(vis, "cls_token", 2, "vision width"));
    a.vision.patchSize = int(dimOf(vis, "patch_embed.proj.weight", 2, "patch size"));
    const int64_t tokens = dimOf(vis, "pos_embed", 1, "image size") - 1;
    const int grid = int(std::lround(std::sqrt(double(tokens))));
    if (grid * grid != tokens)
        throw BundleError("cannot infer the image size: pos_embed holds " + std::to_string(tokens) + " patches");
    a.vision.imageSize = grid * a.vision.patchSize;
    a.vision.depth = countIndexed(vis, "blocks.");
    a.vision.heads = std::max(1, a.vision.width / kHeadSize);
    a.vision.mlpRatio = double(dimOf(vis, "blocks.0.mlp.fc1.weight", 0, "MLP size")) / a.vision.width;
    a.vision.qkvBias = vis.contains("blocks.0.attn.qkv.bias");

    const bool vqa = dict.hasPrefix("text_decoder.");
    const StateDict text = dict.select("text_encoder.");
    if (text.empty())
        throw BundleError("not a BLIP/UniAdapter checkpoint: it has no text_encoder.* tensors");
    a.text.vocabSize = int(dimOf(text, "embeddings.word_embeddings.weight", 0, "vocabulary size"));
    a.text.hidden = int(dimOf(text, "embeddings.word_embeddings.weight", 1, "text width"));
    a.text.maxPositions = int(dimOf(text, "embeddings.position_embeddings.weight", 0, "max positions"));
    a.text.layers = countIndexed(text, "encoder.layer.");
    a.text.heads = std::max(1, a.text.hidden / kHeadSize);
    a.text.intermediate = int(dimOf(text, "encoder.layer.0.intermediate.dense.weight", 0, "intermediate size"));

    if (dict.contains("vision_proj.weight"))
        a.embedDim = int(dict.get("vision_proj.weight").size(0));
    if (dict.contains("adapters.0.down_proj.weight"))
        a.adapter.bottleneck = int(dict.get("adapters.0.down_proj.weight").size(0));
    else if (dict.contains("text_encoder.encoder.layer.0.adapter.down_proj.weight"))
        a.adapter.bottleneck = int(dict.get("text_encoder.encoder.layer.0.adapter.down_proj.weight").size(0));
    else
        a.adapter.bottleneck = 0;
    const std::string kv = "text_encoder.encoder.video_key_adapter.down_proj.weight";
    a.adapter.videoKvBottleneck = dict.contains(kv) ? int(dict.get(kv).size(0)) : 0;
    if (task)
        *task = vqa ? "vqa" : "retrieval";
    return a;
}

BundleInfo bundleFromJson(const nlohmann::json &j, const fs::path &dir)
{
    BundleInfo b;
    b.name = j.value("name", dir.filename().string());
    b.task = j.value("task", "retrieval");
    b.fingerprint = j.value("fingerprint", "");
    b.source = j.value("source", "");
    b.importedAt = j.value("imported_at", "");
    b.hasAdapters = j.value("has_adapters", false);
    b.parameterCount = j.value("parameter_count", 0LL);
    b.dir = dir.string();
    b.weightsPath = (dir / j.value("weights", std::string(kWeightsFile))).string();
    b.architecture = Architecture::fromJson(j.at("architecture"));
    return b;
}

std::string joinSome(const std::vector<std::string> &items, size_t most)
{
    std::string out;
    for (size_t i = 0; i < items.size() && i < most; ++i)
        out += "\n  " + items[i];
    if (items.size() > most)
        out += "\n  … and " + std::to_string(items.size() - most) + " more";
    return out;
}

} // namespace

bool isTrainingOnlyKey(const std::string &key)
{
    return !ignoredKeyReason(key).empty();
}

Architecture inferArchitecture(const std::string &checkpointPath, std::string *task)
{
    try {
        return inferFrom(loadCheckpoint(checkpointPath), task);
    } catch (const CheckpointError &e) {
        throw BundleError(e.what());
    }
}

ImportReport importModel(const std::string &checkpointPath, const std::string &modelsDir, const ImportOptions &options)
{
    ImportReport out;
    const fs::path src(checkpointPath);
    std::string name = options.name.empty() ? src.stem().string() : options.name;
    if (!validName(name))
        throw BundleError("'" + name + "' is not a usable model name (no '/', no leading '.', at most 100 characters)");
    std::error_code ec;
    if (!fs::is_regular_file(src, ec))
        throw BundleError("cannot read '" + checkpointPath + "': no such file");
    const fs::path finalDir = fs::path(modelsDir) / name;
    if (fs::exists(finalDir, ec) && !options.overwrite)
        throw BundleError("a model named '" + name + "' already exists; choose another --name");

    StateDict dict;
    try {
        dict = loadCheckpoint(checkpointPath);
    } catch (const CheckpointError &e) {
        throw BundleError(e.what());
    }

    std::string inferredTask = dict.hasPrefix("text_decoder.") ? "vqa" : "retrieval";
    const Architecture arch = options.architecture ? *options.architecture : inferFrom(dict, nullptr);
    std::string task = options.task.empty() ? inferredTask : options.task;
    if (task != "retrieval" && task != "vqa")
        throw BundleError("unknown task '" + task + "' (use retrieval or vqa)");
    if (task != inferredTask)
        throw BundleError("the checkpoint is a " + inferredTask + " model, not " + task);

    // Keep only what the model uses: momentum copies and queues double the size for nothing.
    // A UniAdapter checkpoint also stores each shared adapter under up to four names
    // (adapters.i, visual_encoder.blocks.i.adapter, ...text_encoder...layer.i.adapter, the
    // decoder's) that all point at one storage; the bundle keeps the first name (the map is
    // sorted, so "adapters.i.*") and the loader maps it onto every alias.
    StateDict kept;
    std::map<std::tuple<const void *, std::vector<int64_t>, std::vector<int64_t>, int>, std::string> seen;
    for (const auto &[key, tensor] : dict.tensors()) {
        if (const std::string reason = ignoredKeyReason(key); !reason.empty()) {
            out.ignored.push_back(key + " " + formatShape(tensor.sizes()) + ": " + reason);
            continue;
        }
        const auto identity = std::make_tuple(static_cast<const void *>(tensor.data_ptr()), tensor.sizes().vec(),
                                              tensor.strides().vec(), static_cast<int>(tensor.scalar_type()));
        // Only adapters: other shared storage (a decoder tied to its word embeddings) is
        // not shared in our model, which then needs every name.
        const bool adapterKey = key.starts_with("adapters.") || key.find(".adapter.") != std::string::npos;
        if (adapterKey && tensor.numel() > 0 && !seen.emplace(identity, key).second) {
            ++out.aliases;
            continue;
        }
        kept.insert(key, tensor);
    }
    dict = StateDict();

    fs::create_directories(modelsDir, ec);
    if (ec)
        throw BundleError("cannot create '" + modelsDir + "': " + ec.message());
    std::mt19937_64 rng(std::random_device{}());
    const fs::path tmpDir = fs::path(modelsDir) / ("." + name + ".import-" + std::to_string(rng() % 1000000000));
    fs::create_directories(tmpDir, ec);
    if (ec)
        throw BundleError("cannot create '" + tmpDir.string() + "': " + ec.message());
    auto cleanup = [&] { std::error_code ignore; fs::remove_all(tmpDir, ignore); };

    try {
        const fs::path weights = tmpDir / kWeightsFile;
        saveSafetensors(weights.string(), kept,
                        {{"format", "pt"}, {"unisearch.task", task}, {"unisearch.source", utf8Name(src.filename().string())}});
        long long params = 0;
        for (const auto &[key, tensor] : kept.tensors())
            params += tensor.numel();
        kept = StateDict();

        // The full load check: the written bundle must map onto the model completely.
        LoadReport report = ModelEngine::inspect(arch, weights.string());
        if (!report.ok()) {
            // Sorted, so that the listed few are predictable (the model's order is not).
            std::sort(report.missing.begin(), report.missing.end());
            std::sort(report.unexpected.begin(), report.unexpected.end());
            std::string msg = "the checkpoint does not match the architecture";
            if (!report.missing.empty())
                msg += "\nmissing tensors (" + std::to_string(report.missing.size()) + "):" + joinSome(report.missing, 20);
            if (!report.unexpected.empty())
                msg += "\nunexpected tensors (" + std::to_string(report.unexpected.size())
                    + "):" + joinSome(report.unexpected, 20);
            msg += "\n(pass --architecture with the model's sizes if they were inferred wrongly)";
            throw BundleError(msg);
        }
        if (task == "retrieval" && !report.hasRetrieval)
            throw BundleError("the checkpoint has no retrieval heads (vision_proj, text_proj, itm_head)");
        if (task == "vqa" && !report.hasVqa)
            throw BundleError("the checkpoint has no answer decoder (text_decoder.*)");

        BundleInfo &b = out.bundle;
        b.name = name;
        b.task = task;
        b.fingerprint = sha256File(weights.string());
        b.source = utf8Name(fs::absolute(src).string());
        b.importedAt = nowIso();
        b.architecture = arch;
        b.hasAdapters = report.hasAdapters;
        b.parameterCount = params;
        nlohmann::json j = {{"format", kBundleFormat},
                            {"name", b.name},
                            {"task", b.task},
                            {"architecture", arch.toJson()},
                            {"weights", kWeightsFile},
                            {"fingerprint", b.fingerprint},
                            {"source", b.source},
                            {"imported_at", b.importedAt},
                            {"has_adapters", b.hasAdapters},
                            {"parameter_count", b.parameterCount},
                            {"ignored_entries", out.ignored.size()}};
        {
            std::ofstream f(tmpDir / kBundleFile);
            f << j.dump(2) << '\n';
            if (!f.flush())
                throw BundleError("cannot write " + (tmpDir / kBundleFile).string() + " (disk full?)");
        }
        // Replacing: move the old bundle aside first, so a failed rename keeps it.
        fs::path oldDir;
        if (options.overwrite && fs::exists(finalDir, ec)) {
            oldDir = fs::path(modelsDir) / ("." + name + ".old-" + std::to_string(rng() % 1000000000));
            fs::rename(finalDir, oldDir, ec);
            if (ec)
                throw BundleError("cannot replace '" + finalDir.string() + "': " + ec.message());
        }
        fs::rename(tmpDir, finalDir, ec);
        if (ec) {
            if (!oldDir.empty()) {
                std::error_code ignore;
                fs::rename(oldDir, finalDir, ignore);
            }
            throw BundleError("cannot move the bundle into place at '" + finalDir.string() + "': " + ec.message());
        }
        if (!oldDir.empty())
            fs::remove_all(oldDir, ec);
        b.dir = finalDir.string();
        b.weightsPath = (finalDir / kWeightsFile).string();
    } catch (const BundleError &) {
        cleanup();
        throw;
    } catch (const std::exception &e) {
        cleanup();
        throw BundleError(e.what());
    }
    return out;
}

BundleInfo readBundle(const std::string &bundleDir)
{
    const fs::path dir(bundleDir);
    std::ifstream f(dir / kBundleFile);
    if (!f)
        throw BundleError("'" + bundleDir + "' is not a model bundle (no model.json)");
    try {
        BundleInfo b = bundleFromJson(nlohmann::json::parse(f), dir);
        std::error_code ec;
        if (!fs::is_regular_file(b.weightsPath, ec))
            throw BundleError("the model bundle '" + bundleDir + "' has lost its weights (" + b.weightsPath
                              + "); import the model again");
        return b;
    } catch (const nlohmann::json::exception &e) {
        throw BundleError("'" + (dir / kBundleFile).string() + "' is damaged: " + e.what());
    } catch (const std::runtime_error &e) {
        throw BundleError("'" + (dir / kBundleFile).string() + "': " + e.what());
    }
}

std::vector<BundleInfo> listBundles(const std::string &modelsDir)
{
    std::vector<BundleInfo> out;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(modelsDir, ec)) {
        if (!entry.is_directory() || entry.path().filename().string().front() == '.')
            continue;
        try {
            out.push_back(readBundle(entry.path().string()));
        } catch (const BundleError &) {
            // A half-deleted or foreign folder is not a model; `model list` shows only bundles.
        }
    }
    std::sort(out.begin(), out.end(), [](const BundleInfo &a, const BundleInfo &b) { return a.name < b.name; });
    return out;
}

} // namespace unisearch::model
