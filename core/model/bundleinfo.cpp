// Reading and listing model bundles (model.json): no LibTorch, so `status` and `model
// list` do not load it. Importing is in bundle.cpp.
#include "bundle.h"

#include "bundle_p.h"
#include "fileinput_p.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <unistd.h>

namespace fs = std::filesystem;

namespace unisearch::model {

using namespace bundles;

namespace {

constexpr uintmax_t kMaxBundleFile = 1 << 20; // model.json is a few hundred bytes
constexpr int kMaxBundleDepth = 16;

// A temporary folder of a pre-pid version (".NAME.import-NNN") has no owner to ask; one
// untouched this long belongs to no import still running.
constexpr auto kLegacyTempAge = std::chrono::hours(24);


struct TempName {
    std::string bundle; // NAME
    bool old = false;   // .old-: a replaced bundle
    pid_t pid = 0;      // 0: a pre-pid name (".NAME.import-NNN")
};

std::optional<TempName> parseTempName(const std::string &file)
{
    if (file.size() < 3 || file.front() != '.')
        return std::nullopt;
    for (const char *kind : {".import-", ".old-"}) {
        const size_t at = file.rfind(kind);
        if (at == std::string::npos || at < 2)
            continue;
        const std::string_view rest = std::string_view(file).substr(at + std::strlen(kind));
        const size_t dash = rest.find('-');
        auto digits = [](std::string_view v) {
            return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
        };
        TempName t{file.substr(1, at - 1), kind[1] == 'o', 0};
        if (dash == std::string_view::npos) {
            if (!digits(rest))
                return std::nullopt;
            return t;
        }
        const std::string_view pid = rest.substr(0, dash);
        long long value = 0;
        if (!digits(pid) || !digits(rest.substr(dash + 1))
            || std::from_chars(pid.data(), pid.data() + pid.size(), value).ec != std::errc() || value <= 0
            || value > std::numeric_limits<pid_t>::max())
            return std::nullopt;
        t.pid = static_cast<pid_t>(value);
        return t;
    }
    return std::nullopt;
}

bool processAlive(pid_t pid)
{
    return ::kill(pid, 0) == 0 || errno == EPERM; // EPERM: alive, someone else's
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

} // namespace

namespace bundles {

bool validName(const std::string &name)
{
    if (name.empty() || name.size() > 100 || name == "." || name == ".." || name.front() == '.')
        return false;
    for (unsigned char c : name)
        if (c == '/' || c == '\\' || c < 0x20)
            return false;
    return true;
}

fs::path tempDir(const fs::path &modelsDir, const std::string &name, const char *kind, std::mt19937_64 &rng)
{
    return modelsDir / ("." + name + "." + kind + "-" + std::to_string(::getpid()) + "-"
                        + std::to_string(rng() % 1000000000));
}


void sweepStaleImports(const fs::path &modelsDir)
{
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(modelsDir, ec)) {
        const auto temp = parseTempName(entry.path().filename().string());
        std::error_code ignore;
        if (!temp || !entry.is_directory(ignore) || entry.is_symlink(ignore))
            continue;
        if (temp->pid > 0 ? processAlive(temp->pid)
                          : fs::last_write_time(entry.path(), ignore) > fs::file_time_type::clock::now() - kLegacyTempAge)
            continue;
        if (temp->old && validName(temp->bundle) && !fs::exists(modelsDir / temp->bundle, ignore)) {
            fs::rename(entry.path(), modelsDir / temp->bundle, ignore);
            continue;
        }
        fs::remove_all(entry.path(), ignore);
    }
}

} // namespace bundles

BundleInfo readBundle(const std::string &bundleDir)
{
    const fs::path dir(bundleDir);
    std::ifstream f(dir / kBundleFile, std::ios::binary);
    if (!f)
        throw BundleError("'" + bundleDir + "' is not a model bundle (no model.json)");
    try {
        std::error_code sizeError;
        if (fs::file_size(dir / kBundleFile, sizeError) > kMaxBundleFile && !sizeError)
            throw BundleError("'" + (dir / kBundleFile).string() + "' is too large to be a model.json");
        const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        BundleInfo b = bundleFromJson(detail::parseJson(text, kMaxBundleDepth), dir);
        std::error_code ec;
        if (!fs::is_regular_file(b.weightsPath, ec))
            throw BundleError("the model bundle '" + bundleDir + "' has lost its weights (" + b.weightsPath
                              + "); import the model again");
        return b;
    } catch (const BundleError &) {
        throw;
    } catch (const CheckpointError &e) {
        throw BundleError("'" + (dir / kBundleFile).string() + "' is damaged: " + e.what());
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
    sweepStaleImports(modelsDir);
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
