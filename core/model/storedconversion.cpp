#include "storedconversion_p.h"

#include <filesystem>
#include <map>

namespace unisearch::model {

namespace {

constexpr const char *kVersionKey = "unisearch.conversion_of";
constexpr const char *kFormatKey = "unisearch.conversion_format";
constexpr const char *kFormat = "1";

const char *dtypeTag(torch::ScalarType dtype)
{
    switch (dtype) {
    case torch::kBFloat16:
        return "bf16";
    case torch::kHalf:
        return "f16";
    case torch::kFloat32:
        return "f32";
    default:
        return nullptr;
    }
}

} // namespace

std::string StoredConversion::pathFor(const std::string &weightsPath, const std::string &tag, torch::ScalarType dtype)
{
    const std::filesystem::path weights(weightsPath);
    return (weights.parent_path()
            / (weights.stem().string() + '.' + tag + '.' + dtypeTag(dtype) + ".cache.safetensors"))
        .string();
}

StoredConversion::StoredConversion(const std::vector<std::pair<std::string, torch::Tensor>> &params,
                                   torch::ScalarType dtype, const std::string &tag)
    : m_dtype(dtype)
{
    if (params.empty() || !dtypeTag(dtype))
        return;
    MappedFile file;
    for (const auto &[name, p] : params) {
        MappedFile each;
        if (!mappedFileOf(p.detach(), &each)
            || (!file.path.empty() && (each.path != file.path || each.version != file.version)))
            return;
        file = each;
    }
    m_path = pathFor(file.path, tag, dtype);
    m_version = file.version;
    std::error_code ec;
    if (!std::filesystem::exists(m_path, ec))
        return;
    try {
        std::map<std::string, std::string> metadata;
        StateDict stored = mapSafetensors(m_path, &metadata);
        if (metadata[kVersionKey] == m_version && metadata[kFormatKey] == kFormat) {
            m_stored = std::move(stored);
            m_found = true;
        }
    } catch (const CheckpointError &) {
        // Damaged or cut short: converted again and replaced.
    }
}

void StoredConversion::adopt(std::vector<std::pair<std::string, torch::Tensor>> &params)
{
    if (!m_found)
        return;
    std::vector<std::pair<std::string, torch::Tensor>> rest;
    for (auto &[name, p] : params) {
        if (!m_stored.contains(name)) {
            rest.emplace_back(name, p);
            continue;
        }
        const torch::Tensor stored = m_stored.get(name);
        if (stored.scalar_type() != m_dtype || stored.sizes() != p.sizes() || !isMapped(stored)) {
            rest.emplace_back(name, p);
            continue;
        }
        adviseMapped(stored, /*release=*/false);
        p.set_data(stored);
    }
    params = std::move(rest);
}

void StoredConversion::saveIfMissing(const std::vector<std::pair<std::string, torch::Tensor>> &converted) const
{
    if (m_path.empty() || m_found || converted.empty())
        return;
    StateDict dict;
    for (const auto &[name, p] : converted) {
        if (p.scalar_type() != m_dtype || !p.device().is_cpu())
            return;
        dict.insert(name, p.detach());
    }
    try {
        saveSafetensors(m_path, dict, {{kVersionKey, m_version}, {kFormatKey, kFormat}});
    } catch (const std::exception &) {
        // A read-only folder, a full disk: converted again next time.
    }
}

} // namespace unisearch::model
