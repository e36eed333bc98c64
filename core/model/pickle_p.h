#pragma once
// A restricted unpickler for the data.pkl inside PyTorch checkpoints. Internal to us_model.
//
// It is not a Python unpickler: it knows only the opcodes and the handful of globals a
// state dict needs, builds plain values, and never calls anything. Tensors come out as
// descriptions (storage key, offset, sizes, strides); pth.cpp reads their bytes. Any other
// global or opcode is refused with a CheckpointError (declared in statedict_p.h) that names it.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace unisearch::model::pickle {

// The storage classes torch.save references (torch.FloatStorage, ...).
enum class StorageType { Float, Double, Half, BFloat16, Long, Int, Short, Char, Byte, Bool };
int64_t elementSize(StorageType type);
const char *storageTypeName(StorageType type); // "FloatStorage"

// One storage a persistent id names: ('storage', torch.FloatStorage, '3', 'cpu', 1024).
struct StorageRef {
    std::string key;   // the entry data/<key> in the archive
    StorageType type = StorageType::Float;
    int64_t numel = 0; // elements, as the pickle states them
};

// What torch._utils._rebuild_tensor_v2 would have built: a strided view of a storage.
struct TensorRef {
    size_t storage = 0;            // index into Unpickler::storages()
    int64_t offset = 0;            // in elements
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;
    // Elements of the storage the view touches, i.e. 1 + the largest element index it
    // reaches (0 for an empty tensor); checked against the storage by the caller, who
    // knows the tensor's name.
    int64_t extent = 0;
};

enum class GlobalKind { OrderedDict, RebuildTensorV2, RebuildParameter, Storage };

struct Value {
    enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor };
    Kind kind = Kind::None;
    bool boolean = false;
    int64_t integer = 0;
    double real = 0.0;
    std::string text;                              // String, Bytes, Global ("module.name")
    std::vector<Value *> items;                    // Tuple, List
    std::vector<std::pair<Value *, Value *>> entries; // Dict, in insertion order (may repeat keys)
    GlobalKind global = GlobalKind::OrderedDict;   // Global
    StorageType storageType = StorageType::Float;  // Global of kind Storage
    size_t index = 0;                              // Storage → storages(), Tensor → tensors()

    bool isString() const { return kind == Kind::String; }
    // The value of the last entry whose key is the string `key` (Python's dict semantics
    // when a key is set twice), or nullptr.
    const Value *find(std::string_view key) const;
};

struct Limits {
    size_t maxBytes = size_t(64) << 20;   // data.pkl of a real BLIP checkpoint is < 1 MB
    size_t maxValues = 2'000'000;         // ~20 per tensor in practice (~100 bytes each)
    size_t maxDims = 64;                  // tensor rank
    // Bytes held by what maxValues does not count: strings, the stack, marks, the memo and
    // the items of lists, tuples and dicts (a 2-byte GET adds a pointer to any of them).
    // Counted as they are added, never given back: a bound, not a measure. A real BLIP
    // data.pkl needs a few MB.
    size_t maxMemory = size_t(128) << 20;
};

class Cursor; // pickle.cpp: bounds-checked reading of the opcode stream

class Unpickler
{
public:
    explicit Unpickler(Limits limits = {}) : m_limits(limits) {}
    Unpickler(const Unpickler &) = delete;
    Unpickler &operator=(const Unpickler &) = delete;

    // Parses one pickle and returns its top-level value, owned by this object (values
    // form a graph: memoized objects are shared). Throws CheckpointError.
    const Value *load(std::string_view data);

    const std::vector<StorageRef> &storages() const { return m_storages; }
    const std::vector<TensorRef> &tensors() const { return m_tensors; }

private:
    Value *make(Value::Kind kind);
    void charge(size_t bytes);
    void push(Value *v);
    void memoize(uint64_t key, Value *v);
    Value *pop();
    Value *top();
    std::vector<Value *> popToMark();
    Value *global(std::string module, std::string name);
    Value *persistentLoad(Value *pid);
    Value *reduce(Value *callable, Value *args);
    Value *rebuildTensor(const Value *args);
    Value *readScalar(uint8_t op, Cursor &in);
    bool buildContainer(uint8_t op);

    Limits m_limits;
    std::deque<Value> m_values; // the arena: stable addresses, flat destruction, cycles harmless
    std::vector<Value *> m_stack;
    std::vector<size_t> m_marks;
    std::unordered_map<uint64_t, Value *> m_memo;
    std::vector<StorageRef> m_storages;
    std::map<std::string, size_t> m_storageByKey;
    std::vector<TensorRef> m_tensors;
    size_t m_pos = 0; // offset of the opcode being executed, for messages
    size_t m_memory = 0; // charged so far, against Limits::maxMemory
};

} // namespace unisearch::model::pickle
