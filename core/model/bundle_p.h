#pragma once
// What bundle.cpp (import, LibTorch) and bundleinfo.cpp (reading and listing bundles, no
// LibTorch) share. Internal to us_model.
#include <filesystem>
#include <random>
#include <string>

namespace unisearch::model::bundles {

inline constexpr const char *kBundleFile = "model.json";
inline constexpr const char *kWeightsFile = "weights.safetensors";
inline constexpr int kBundleFormat = 1; // model.json's layout version

// A bundle's name: a folder name of at most 100 bytes, no separators or control bytes.
bool validName(const std::string &name);
// Temporary folders carry the importing process's id (".NAME.import-PID-RANDOM", and
// ".NAME.old-PID-RANDOM" for a replaced bundle on its way out), so that a later run can
// tell an interrupted import (SIGKILL leaves gigabytes) from one still running.
std::filesystem::path tempDir(const std::filesystem::path &modelsDir, const std::string &name, const char *kind,
                              std::mt19937_64 &rng);
// Removes the temporary folders of imports whose process is gone. A replaced bundle
// moved aside (.old-) by an import killed before the new one took its place goes back.
void sweepStaleImports(const std::filesystem::path &modelsDir);

} // namespace unisearch::model::bundles
