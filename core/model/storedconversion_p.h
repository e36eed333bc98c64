#pragma once
// A part's parameters converted once and kept beside the weights they came from.
// Internal to us_model (exposes LibTorch types).
#include "statedict_p.h"

#include <string>
#include <utility>
#include <vector>

namespace unisearch::model {

// Parameters converted to another dtype on the CPU, stored beside the mapped weights file
// they came from ("weights.text.bf16.cache.safetensors" beside "weights.safetensors") and
// mapped by later runs instead of converted again: converting a full-size text tower
// (350 MB of float32) took 0.3-0.5 s; mapping its stored 175 MB, page cache warm, takes
// a few milliseconds. A stored copy holds for the version of the weights file it was made
// from (MappedFile::version, in its metadata); one that does not match or does not read
// is ignored and replaced.
class StoredConversion
{
public:
    // params: the (name, parameter) pairs about to be converted to dtype. Unless all of
    // them are mapped from one file not written in memory (an adapter pack overlays the
    // weights), nothing is adopted or stored. tag names the parts ("text", "vision+cross").
    StoredConversion(const std::vector<std::pair<std::string, torch::Tensor>> &params, torch::ScalarType dtype,
                     const std::string &tag);
    // The parameters the stored copy holds (the same name, shape and dtype) become its
    // mapped tensors, their pages read now, and leave params.
    void adopt(std::vector<std::pair<std::string, torch::Tensor>> &params);
    // After the rest of params was converted: stores those parameters when no valid copy
    // was found. Best effort: a read-only folder or a full disk leaves no file (not even
    // part of one) and throws nothing; the conversion in memory is used either way.
    void saveIfMissing(const std::vector<std::pair<std::string, torch::Tensor>> &converted) const;
    // The file a conversion of weightsPath's tag parts to dtype is stored in.
    static std::string pathFor(const std::string &weightsPath, const std::string &tag, torch::ScalarType dtype);

private:
    std::string m_path;    // empty: no stored copy can be used or made
    std::string m_version; // of the weights file
    torch::ScalarType m_dtype;
    StateDict m_stored;
    bool m_found = false;
};

} // namespace unisearch::model
