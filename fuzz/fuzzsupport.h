#pragma once
// Helpers shared by the libFuzzer targets (not a library of the project).
//
// The readers under test take a path, so each input is written to a file in a private
// directory of this process first (one directory per fuzzing job: -jobs=N runs several
// processes side by side). Everything stays under $TMPDIR (tmpfs on most CI machines).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace unisearch::fuzz {

// This process's scratch directory, created on first use and removed at exit.
const std::filesystem::path &scratchDir();

// Writes data to scratchDir()/name (replacing it) and returns its path.
std::filesystem::path writeInput(const std::string &name, const uint8_t *data, size_t size);

// The project's source tree (UNISEARCH_SOURCE_DIR at build time, or the environment
// variable of that name), for the vocabulary under resources/.
std::filesystem::path sourceDir();

} // namespace unisearch::fuzz
