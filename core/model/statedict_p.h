#pragma once
// A checkpoint's tensors by name. Internal to us_model (exposes LibTorch types).
#include "fileinput_p.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace unisearch::model {

class StateDict
{
public:
    // Replaces an existing entry of the same name (as a Python dict does).
    void insert(std::string name, torch::Tensor tensor);
    bool contains(const std::string &name) const;
    // Throws CheckpointError naming the key when missing.
    torch::Tensor get(const std::string &name) const;
    // Also checks the shape; a mismatch names both shapes.
    torch::Tensor get(const std::string &name, at::IntArrayRef expectedShape) const;
    // The entries whose key starts with prefix, with the prefix removed
    // (select("visual_encoder.") → "blocks.0.attn.qkv.weight", ...).
    StateDict select(const std::string &prefix) const;
    bool hasPrefix(const std::string &prefix) const;
    std::vector<std::string> keys() const;
    size_t size() const { return m_tensors.size(); }
    bool empty() const { return m_tensors.empty(); }
    const std::map<std::string, torch::Tensor> &tensors() const { return m_tensors; }
    void erase(const std::string &name) { m_tensors.erase(name); }

private:
    std::map<std::string, torch::Tensor> m_tensors;
};

// "[1, 577, 768]"; "[]" for a scalar. Used in shape-mismatch messages.
std::string formatShape(at::IntArrayRef shape);


// Reads a checkpoint by content (zip archive → PyTorch .pth through the restricted
// unpickler; otherwise .safetensors). For a .pth holding {'model': state_dict, ...}
// returns the 'model' entry; a bare state dict is returned as is. Throws CheckpointError.
StateDict loadCheckpoint(const std::string &path);
StateDict loadPth(const std::string &path);
// The same, also filling *metadata (when not null): for a .safetensors file its
// "__metadata__"; for a .pth the other top-level scalar values, nested dicts flattened with
// '.' ("config.image_size" → "32", "epoch" → "0"; strings as is, bools "true"/"false",
// None "null"). Lists and tensors outside the state dict are left out.
StateDict loadCheckpoint(const std::string &path, std::map<std::string, std::string> *metadata);
StateDict loadPth(const std::string &path, std::map<std::string, std::string> *metadata);
StateDict loadSafetensors(const std::string &path, std::map<std::string, std::string> *metadata = nullptr);
// The same checks, but the tensors are views of the file mapped copy-on-write
// (MAP_PRIVATE): nothing is read until touched, and writing to a tensor (an adapter pack
// overlay) changes a private copy of the page, never the file. Tensors whose bytes cannot
// be viewed (offset not a multiple of the element size, bool, a big-endian host) are copied.
StateDict mapSafetensors(const std::string &path, std::map<std::string, std::string> *metadata = nullptr);
// loadCheckpoint, with .safetensors files mapped (mapSafetensors); .pth files are read.
StateDict mapCheckpoint(const std::string &path);
// Whether t's storage is a view of a mapped file.
bool isMapped(const torch::Tensor &t);
// For a mapped tensor (else nothing): release false faults its pages in now (a warm-up);
// release true drops its whole pages from memory (MADV_DONTNEED) once a converted copy
// replaced it. Never release a tensor that was written to (the write would be lost).
void adviseMapped(const torch::Tensor &t, bool release);
// Copies (and converts) a mapped tensor's values into `into` (contiguous, as many elements)
// by reading its file with pread through a 4 MB buffer: no page of the mapping is touched,
// which in a VM costs several times the copy (a bfloat16 part prepared from float32
// weights). False, with `into` undefined, when t is not mapped, was written since it was
// mapped (markMappedWritten), or the read fails; then copy through the mapping.
bool copyMappedInto(const torch::Tensor &source, const torch::Tensor &into);
// The file a mapped tensor views and its version there (device, inode, size, modification
// time): a stored conversion of it is valid while the version is the same.
struct MappedFile {
    std::string path;
    std::string version;
};
// False when t is not mapped, or its mapping was written in memory (markMappedWritten).
bool mappedFileOf(const torch::Tensor &t, MappedFile *file);
// Records that a mapped tensor was written in memory (an adapter pack overlay): its file
// no longer holds its values, so copyMappedInto refuses its whole mapping.
void markMappedWritten(const torch::Tensor &t);
// Runs a checkpoint reader and names the file in whatever it throws, once, here: its own
// CheckpointError, running out of memory ("not enough memory to load <what>") and torch's
// errors, each as a CheckpointError "<path>: ...".
template <typename Load>
StateDict namingTheFile(const std::string &path, const char *what, Load &&load)
{
    try {
        return load();
    } catch (const CheckpointError &e) {
        throw CheckpointError(path + ": " + e.what());
    } catch (const std::bad_alloc &) {
        throw CheckpointError(path + ": not enough memory to load " + what);
    } catch (const c10::Error &e) {
        throw CheckpointError(path + ": " + e.what_without_backtrace());
    }
}

// Writes atomically (temp file + rename). Tensors are written contiguous, in their dtype.
void saveSafetensors(const std::string &path, const StateDict &dict,
                     const std::map<std::string, std::string> &metadata = {});

} // namespace unisearch::model
