#include "adapterpack_p.h"
#include "backend_p.h"

#include <filesystem>

namespace unisearch::model {

namespace {

constexpr const char *kFormatKey = "unisearch.pack";
constexpr const char *kFormatVersion = "1";

std::string valueOr(const std::map<std::string, std::string> &map, const std::string &key, const std::string &fallback = {})
{
    auto it = map.find(key);
    return it == map.end() ? fallback : it->second;
}

int intOr(const std::map<std::string, std::string> &map, const std::string &key)
{
    try {
        return std::stoi(valueOr(map, key, "0"));
    } catch (const std::exception &) {
        return 0;
    }
}

std::string shortFingerprint(const std::string &fp)
{
    return detail::excerpt(std::string_view(fp).substr(0, 12)); // from the file: escaped
}

} // namespace

std::map<std::string, std::string> packMetadataMap(const PackMetadata &m)
{
    return {{"format", "pt"},
            {kFormatKey, kFormatVersion},
            {"name", m.name},
            {"base_model", m.baseModel},
            {"base_fingerprint", m.baseFingerprint},
            {"task", m.task},
            {"mode", m.mode},
            {"architecture", m.architectureJson},
            {"train_examples", std::to_string(m.trainExamples)},
            {"validation_examples", std::to_string(m.validationExamples)},
            {"metrics", m.metricsJson},
            {"created_at", m.createdAt},
            {"app_version", m.appVersion},
            {"touches_vision", m.touchesVision ? "true" : "false"}};
}

PackMetadata packMetadataFrom(const std::map<std::string, std::string> &map)
{
    PackMetadata m;
    m.name = valueOr(map, "name");
    m.baseModel = valueOr(map, "base_model");
    m.baseFingerprint = valueOr(map, "base_fingerprint");
    m.task = valueOr(map, "task");
    m.mode = valueOr(map, "mode");
    m.architectureJson = valueOr(map, "architecture");
    m.trainExamples = intOr(map, "train_examples");
    m.validationExamples = intOr(map, "validation_examples");
    m.metricsJson = valueOr(map, "metrics", "{}");
    m.createdAt = valueOr(map, "created_at");
    m.appVersion = valueOr(map, "app_version");
    m.touchesVision = valueOr(map, "touches_vision") == "true";
    return m;
}

PackInfo impl::readPack(const std::string &path)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw PackError("cannot read the adapter pack '" + path + "': no such file");
    std::map<std::string, std::string> meta;
    StateDict dict;
    try {
        dict = loadSafetensors(path, &meta);
    } catch (const std::exception &e) {
        throw PackError("'" + path + "' is not a readable adapter pack: " + e.what());
    }
    if (valueOr(meta, kFormatKey) != kFormatVersion)
        throw PackError("'" + path
                        + "' is not a Unisearch adapter pack (its metadata lacks unisearch.pack = 1); "
                          "export packs with `adapters export` or train one with `train`");
    PackInfo info;
    info.path = path;
    info.metadata = packMetadataFrom(meta);
    if (info.metadata.baseFingerprint.empty() || (info.metadata.task != "retrieval" && info.metadata.task != "vqa"))
        throw PackError("the adapter pack '" + path + "' is damaged: it does not say which model and task it is for");
    if (dict.empty())
        throw PackError("the adapter pack '" + path + "' holds no tensors");
    for (const auto &[name, t] : dict.tensors()) {
        info.tensors.push_back(name);
        info.parameterCount += t.numel();
    }
    return info;
}

void impl::checkPackFits(const PackInfo &pack, const std::string &baseFingerprint, const std::string &baseName)
{
    // The name, base model and fingerprint come from the pack's file: shown as excerpts.
    if (pack.metadata.baseFingerprint != baseFingerprint)
        throw PackError("the adapter pack '" + detail::excerpt(pack.metadata.name) + "' was trained for another base model ("
                        + (pack.metadata.baseModel.empty() ? std::string("unknown")
                                                           : "'" + detail::excerpt(pack.metadata.baseModel) + "'")
                        + ", fingerprint " + shortFingerprint(pack.metadata.baseFingerprint) + "…), not for '"
                        + baseName + "' (fingerprint " + shortFingerprint(baseFingerprint)
                        + "…); activate that model first, or train a new pack on this one");
}

void applyPack(UniAdapterModelImpl &model, const StateDict &pack, const std::string &packPath)
{
    torch::NoGradGuard noGrad;
    std::map<std::string, torch::Tensor> byName;
    for (const auto &item : model.named_parameters(true))
        byName.emplace(item.key(), item.value());
    for (const auto &[name, src] : pack.tensors()) {
        if (name == "temp")
            continue;
        auto it = byName.find(name);
        if (it == byName.end())
            throw PackError("the adapter pack '" + packPath + "' holds " + name
                            + ", which this model does not have (a pack for another kind of model?)");
        if (it->second.sizes() != src.sizes())
            throw PackError("the adapter pack '" + packPath + "' holds " + name + " " + formatShape(src.sizes())
                            + " but the model's is " + formatShape(it->second.sizes()));
        it->second.copy_(src.to(it->second.device(), it->second.scalar_type()));
        markMappedWritten(it->second);
    }
    // No re-fusing: a fused attention's q/k/v parameters are views of its fused weight, so
    // the copy above already reached it (and fusing every tower here would copy them all).
}

} // namespace unisearch::model
