#pragma once
// Checks and excerpts for what files give us (checkpoint headers, model.json, pack
// metadata). Internal to us_model; no LibTorch.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace unisearch::model {

// Thrown for any unreadable, malformed or refused checkpoint; what() is a sentence a
// person can act on (it names the file part, the tensor or the refused pickle global).
struct CheckpointError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace detail {
// Reverses the byte order of count elements of elementSize bytes each, in place
// (big-endian archives; safetensors on a big-endian host).
void swapBytes(void *data, int64_t count, int64_t elementSize);

// Text taken from a file, made fit for a message: at most `most` bytes of it, every byte
// outside printable ASCII (and the backslash) written as \xNN, and "... (N bytes)" when
// it was cut. A file can hold names of megabytes, or bytes that rewrite a terminal.
std::string excerpt(std::string_view text, size_t most = 60);
// The same for a JSON value from a file (its compact text, cut).
std::string jsonExcerpt(const nlohmann::json &value, size_t most = 60);

// Parses JSON from a file, refusing nesting deeper than maxDepth before parsing:
// nlohmann's dump() and comparisons recurse, so a value nested 100,000 deep would crash
// whatever touches it later. Throws CheckpointError whose message says where and why
// (with an excerpt, never the whole offending text).
nlohmann::json parseJson(std::string_view text, int maxDepth);
} // namespace detail

} // namespace unisearch::model
