#include "bundle.h"

#include "backend_p.h"
#include "bundle_p.h"

#include "modelrunner.h"
#include "sha256.h"
#include "statedict_p.h"
#include "textclean.h"
#include "uniadapter_p.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <tuple>
#include <unistd.h>

namespace fs = std::filesystem;

namespace unisearch::model {

using namespace bundles;

namespace {

constexpr int kHeadSize = 64; // BLIP-base and its relatives: heads = width / 64
// How much larger than its checkpoint a model may be before it is built (see checkAgainst).
constexpr double kModelRoom = 4;
constexpr double kModelSlack = 4e6;
using detail::excerpt;

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
    // Sizes read from a file: the same checks as for a model.json (zero widths, heads).
    try {
        return Architecture::fromJson(a.toJson());
    } catch (const std::runtime_error &e) {
        throw BundleError(std::string("cannot infer the architecture from the tensor shapes (") + e.what()
                          + "); pass --architecture");
    }
}

// A lower bound on the parameter count of a model of this architecture: its weight
// matrices and embeddings (not biases, norms or pos_embed, which may be interpolated).
// A checkpoint holding fewer values cannot fill the model, whose construction would
// allocate all of them first: an architecture inferred from a crafted file (a thousand
// blocks of empty tensors) must not cost more memory than the file provides.
double minimumParameters(const Architecture &a, const ModelHeads &heads)
{
    const double w = a.vision.width, h = a.text.hidden, p = a.vision.patchSize;
    const double mlp = double(static_cast<int64_t>(a.vision.width * a.vision.mlpRatio));
    const double vocab = a.text.vocabSize, inter = a.text.intermediate;
    const double textLayers = a.text.layers * (4 * h * h + 2 * h * inter) + vocab * h;
    double n = a.vision.depth * (4 * w * w + 2 * mlp * w) + 3 * p * p * w + textLayers;
    if (a.adapter.bottleneck > 0) {
        n += a.vision.depth * 4.0 * a.adapter.bottleneck * w; // down, up, multi_up, visual_up
        n += 4.0 * a.adapter.videoKvBottleneck * w;         // video key and value: down, up
    }
    if (heads.retrieval)
        n += a.embedDim * (w + h);
    if (heads.vqa)
        n += textLayers;
    return n;
}

// Maps the tensors onto a model of the architecture, in memory: what the written bundle
// will hold, checked before a byte of it is written.
LoadReport checkAgainst(const Architecture &architecture, const StateDict &dict)
{
    LoadReport report;
    const CheckpointLayout layout = detectLayout(dict);
    if (!layout.retrieval && !layout.vqa) {
        report.unexpected = dict.keys();
        return report;
    }
    const Architecture effective = effectiveArchitecture(architecture, layout);
    const ModelHeads heads{layout.retrieval, layout.vqa};
    double values = 0;
    for (const auto &[key, tensor] : dict.tensors())
        values += double(tensor.numel());
    // A little room, so that a near miss (twice the width) still gets the tensor-by-tensor
    // report below; a model many times the checkpoint is refused before it is allocated.
    const double needed = minimumParameters(effective, heads);
    if (needed > kModelRoom * values + kModelSlack)
        throw BundleError("the checkpoint does not match the architecture: a model of these sizes has at least "
                          + std::to_string(static_cast<long long>(needed)) + " parameters, far more than the "
                          + std::to_string(static_cast<long long>(values)) + " values the checkpoint holds"
                          + "\n(pass --architecture with the model's sizes if they were inferred wrongly)");
    UniAdapterModel model(effective, heads);
    model->loadFrom(dict, report);
    return report;
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

namespace impl {

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

} // namespace impl

namespace {

StateDict keptTensors(const StateDict &dict, ImportReport &out)
{
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
    return kept;
}

LoadReport checkBundleFits(const Architecture &arch, const StateDict &kept, const std::string &task)
{
    // The full load check, before anything is written: every tensor the bundle keeps must
    // map onto the model with its shape, so that a crafted view (or a checkpoint of another
    // model) is refused before it is made contiguous and written.
    LoadReport report;
    try {
        report = checkAgainst(arch, kept);
    } catch (const BundleError &) {
        throw;
    } catch (const std::exception &e) {
        throw BundleError(std::string("the checkpoint does not fit the architecture: ") + e.what());
    }
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

    return report;
}

} // namespace

ImportReport impl::importModel(const std::string &checkpointPath, const std::string &modelsDir, const ImportOptions &options)
{
    ImportReport out;
    const fs::path src(checkpointPath);
    std::string name = options.name.empty() ? src.stem().string() : options.name;
    if (!validName(name))
        throw BundleError("'" + excerpt(name, 100)
                          + "' is not a usable model name (no '/', no leading '.', at most 100 characters)");
    std::error_code ec;
    if (!fs::is_regular_file(src, ec))
        throw BundleError("cannot read '" + checkpointPath + "': no such file");
    const fs::path finalDir = fs::path(modelsDir) / name;
    sweepStaleImports(modelsDir); // before looking: a swept .old- folder may come back as NAME
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

    StateDict kept = keptTensors(dict, out);
    dict = StateDict();

    const LoadReport report = checkBundleFits(arch, kept, task);

    fs::create_directories(modelsDir, ec);
    if (ec)
        throw BundleError("cannot create '" + modelsDir + "': " + ec.message());
    std::mt19937_64 rng(std::random_device{}());
    const fs::path tmpDir = tempDir(modelsDir, name, "import", rng);
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
            oldDir = tempDir(modelsDir, name, "old", rng);
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

} // namespace unisearch::model
