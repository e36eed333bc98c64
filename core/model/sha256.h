#pragma once
// SHA-256 digests as lowercase hex, for verifying downloads, vocabularies and weights.
#include <cstddef>
#include <string>

namespace unisearch::model {

// Streams the file in blocks, so multi-GB checkpoints need no more than a small buffer.
// Throws std::runtime_error when the file cannot be opened or read.
std::string sha256File(const std::string &path);
std::string sha256Hex(const void *data, size_t size);

} // namespace unisearch::model
