// PyTorch .pth reader: the zip archive torch.save writes since 1.6, its data.pkl read by
// our restricted unpickler (pickle.cpp), each storage read once straight into tensor memory.
#include "pickle_p.h"
#include "statedict_p.h"

#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <new>

namespace unisearch::model {

namespace {

using pickle::StorageRef;
using pickle::StorageType;
using pickle::TensorRef;
using pickle::Value;
using detail::excerpt;

// No storage of a BLIP-sized model comes near this (its word embeddings are 94 MB).
constexpr uint64_t kMaxStorageBytes = uint64_t(8) << 30;
// Compressed entries (torch.save writes none, a re-zipped archive has them) may inflate
// past their compressed size by this much in total, or by the archive's size if larger:
// a 1 MB zip bomb must not become gigabytes of tensors.
constexpr uint64_t kInflationAllowance = uint64_t(64) << 20;
// All names together may view at most this many times the bytes the archive stores for
// them: whoever copies or writes the state dict materialises each name on its own. Tied
// weights (a decoder sharing its embeddings, an adapter under four names) take real
// checkpoints above 1, never near 2.
constexpr uint64_t kMaxViewFactor = 2;
constexpr uint64_t kViewSlack = uint64_t(1) << 20; // small files: a few tied biases

torch::ScalarType scalarType(StorageType type)
{
    switch (type) {
    case StorageType::Float: return torch::kFloat32;
    case StorageType::Double: return torch::kFloat64;
    case StorageType::Half: return torch::kFloat16;
    case StorageType::BFloat16: return torch::kBFloat16;
    case StorageType::Long: return torch::kInt64;
    case StorageType::Int: return torch::kInt32;
    case StorageType::Short: return torch::kInt16;
    case StorageType::Char: return torch::kInt8;
    case StorageType::Byte: return torch::kUInt8;
    case StorageType::Bool: return torch::kBool;
    }
    return torch::kFloat32;
}

std::string zipErrorString(int code)
{
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    std::string s = zip_error_strerror(&error);
    zip_error_fini(&error);
    return s;
}

// Read-only view of a zip archive (RAII over libzip).
class ZipArchive
{
public:
    explicit ZipArchive(const std::string &path)
    {
        int code = 0;
        m_zip = zip_open(path.c_str(), ZIP_RDONLY, &code);
        if (!m_zip)
            throw CheckpointError("cannot read it as a zip archive (" + zipErrorString(code)
                                  + "); the file may be truncated or damaged");
    }
    ~ZipArchive()
    {
        if (m_zip)
            zip_discard(m_zip); // opened read-only: nothing to write back
    }
    ZipArchive(const ZipArchive &) = delete;
    ZipArchive &operator=(const ZipArchive &) = delete;

    int64_t count() const { return zip_get_num_entries(m_zip, 0); }
    std::string name(int64_t index) const
    {
        const char *n = zip_get_name(m_zip, static_cast<zip_uint64_t>(index), ZIP_FL_ENC_RAW);
        return n ? std::string(n) : std::string();
    }
    // Index of an entry, or -1.
    int64_t locate(const std::string &name) const { return zip_name_locate(m_zip, name.c_str(), ZIP_FL_ENC_RAW); }
    struct Stat {
        uint64_t size = 0;       // uncompressed
        uint64_t compressed = 0; // bytes in the file
        bool stored = true;      // not compressed
    };
    // What the central directory says, checked before anything is read or allocated.
    Stat stat(int64_t index, const std::string &name) const
    {
        zip_stat_t st;
        zip_stat_init(&st);
        const zip_uint64_t needed = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
        if (zip_stat_index(m_zip, static_cast<zip_uint64_t>(index), 0, &st) != 0 || (st.valid & needed) != needed)
            throw CheckpointError("cannot read the size of '" + excerpt(name) + "' in the archive");
        return {st.size, st.comp_size, st.comp_method == ZIP_CM_STORE};
    }
    uint64_t size(int64_t index, const std::string &name) const { return stat(index, name).size; }
    // Reads exactly `size` bytes of an entry into dst and verifies its CRC.
    void read(int64_t index, const std::string &name, void *dst, uint64_t size) const
    {
        zip_file_t *file = zip_fopen_index(m_zip, static_cast<zip_uint64_t>(index), 0);
        if (!file)
            throw CheckpointError("cannot open '" + excerpt(name) + "' in the archive: " + zip_strerror(m_zip));
        auto *out = static_cast<char *>(dst);
        uint64_t done = 0;
        std::string error;
        while (done < size) {
            const zip_int64_t n = zip_fread(file, out + done, size - done);
            if (n <= 0) {
                error = n < 0 ? zip_file_strerror(file) : "unexpected end of data";
                break;
            }
            done += static_cast<uint64_t>(n);
        }
        // One more read reaches the end of the entry, where libzip checks the CRC.
        if (error.empty()) {
            char extra;
            const zip_int64_t n = zip_fread(file, &extra, 1);
            if (n != 0)
                error = n < 0 ? zip_file_strerror(file) : "entry is longer than its stated size";
        }
        zip_fclose(file);
        if (!error.empty())
            throw CheckpointError("cannot read '" + excerpt(name) + "' in the archive (" + error
                                  + "); the file may be truncated or damaged");
    }

private:
    zip_t *m_zip = nullptr;
};

// torch.save names every entry "<archive>/...", where <archive> is the file's stem at
// save time; find it through data.pkl.
std::string archivePrefix(const ZipArchive &zip)
{
    std::string prefix;
    int found = 0;
    const int64_t n = zip.count();
    for (int64_t i = 0; i < n; ++i) {
        const std::string name = zip.name(i);
        if (name == "data.pkl" || (name.ends_with("/data.pkl") && name.find('/') == name.size() - 9)) {
            prefix = name.substr(0, name.size() - 8);
            ++found;
        }
    }
    if (found == 0)
        throw CheckpointError("the zip archive has no data.pkl, so it is not a PyTorch checkpoint");
    if (found > 1)
        throw CheckpointError("the zip archive holds more than one data.pkl");
    return prefix;
}

bool isTensorDict(const Value *v)
{
    if (!v || v->kind != Value::Kind::Dict || v->entries.empty())
        return false;
    for (const auto &[key, value] : v->entries)
        if (key->kind != Value::Kind::String || value->kind != Value::Kind::Tensor)
            return false;
    return true;
}

const char *describe(const Value *v)
{
    switch (v->kind) {
    case Value::Kind::Dict: return "dictionary";
    case Value::Kind::List: return "list";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::Tensor: return "tensor";
    case Value::Kind::String: return "string";
    case Value::Kind::Int:
    case Value::Kind::BigInt:
    case Value::Kind::Float:
    case Value::Kind::Bool: return "number";
    default: return "Python object";
    }
}

// Why a dict is not a state dict, for the error message.
std::string whyNotTensorDict(const std::string &what, const Value *v)
{
    if (v->kind != Value::Kind::Dict)
        return what + " is a " + describe(v) + ", not a dictionary of tensors";
    if (v->entries.empty())
        return what + " is empty";
    for (const auto &[key, value] : v->entries) {
        if (key->kind != Value::Kind::String)
            return what + " has a key that is not a string";
        if (value->kind != Value::Kind::Tensor)
            return what + " maps '" + excerpt(key->text) + "' to a " + describe(value) + ", not a tensor";
    }
    return what + " is not a dictionary of tensors";
}

// Top-level scalars outside the state dict (config, epoch), nested dicts flattened with '.'.
// The graph comes from the file: it may be cyclic, and a dict holding itself n times would
// cost n^depth visits. So: breadth-first (shallow values first), bounded in depth, visits
// and output, without recursion. Bytes are bounded too: a memoized string is one object
// however often the pickle refers to it, and a long key repeated through a self-referencing
// dict made every queued name longer (65 KB of pickle held most of a gigabyte of names).
void collectMetadata(const Value *root, const Value *skip, std::map<std::string, std::string> &out)
{
    constexpr size_t kMaxName = 256;          // a flattened name ("config.image_size")
    constexpr size_t kMaxValue = 4096;        // one value; longer ones are left out
    constexpr size_t kMaxTotal = size_t(1) << 20; // names and values of the output together
    size_t total = 0;
    struct Item {
        const Value *value;
        std::string name;
        int depth;
    };
    std::deque<Item> queue;
    auto put = [&](const std::string &name, std::string value) {
        // A key set twice keeps its last value, as in Python.
        const auto it = out.find(name);
        const size_t replaced = it == out.end() ? 0 : name.size() + it->second.size();
        const size_t after = total - replaced + name.size() + value.size();
        if (value.size() > kMaxValue || after > kMaxTotal)
            return;
        total = after;
        out[name] = std::move(value);
    };
    for (const auto &[key, value] : root->entries)
        if (key->kind == Value::Kind::String && value != skip && key->text.size() <= kMaxName)
            queue.push_back({value, key->text, 1});
    size_t budget = 100000;
    while (!queue.empty() && budget-- > 0 && out.size() < 10000 && total < kMaxTotal) {
        const Item item = std::move(queue.front());
        queue.pop_front();
        const Value *v = item.value;
        switch (v->kind) {
        case Value::Kind::None: put(item.name, "null"); break;
        case Value::Kind::Bool: put(item.name, v->boolean ? "true" : "false"); break;
        case Value::Kind::Int: put(item.name, std::to_string(v->integer)); break;
        case Value::Kind::Float: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", v->real);
            put(item.name, buf);
            break;
        }
        case Value::Kind::String:
            if (v->text.size() <= kMaxValue)
                put(item.name, v->text);
            break;
        case Value::Kind::Dict:
            if (item.depth >= 8 || queue.size() > 100000)
                break;
            for (const auto &[key, value] : v->entries)
                if (key->kind == Value::Kind::String && item.name.size() + 1 + key->text.size() <= kMaxName)
                    queue.push_back({value, item.name + "." + key->text, item.depth + 1});
            break;
        default: break;
        }
    }
}

// The state dict inside a checkpoint's top-level object; throws, saying why, when none is.
const Value *findStateDict(const Value *root)
{
    // {'model': state_dict, 'config': ..., 'epoch': ...} as the training scripts save it,
    // {'state_dict': ...} as some others do, or a bare state dict.
    const Value *dict = nullptr;
    std::string reason;
    if (root->kind == Value::Kind::Dict) {
        for (const char *key : {"model", "state_dict"}) {
            if (const Value *v = root->find(key)) {
                if (isTensorDict(v)) {
                    dict = v;
                    break;
                }
                reason = whyNotTensorDict(std::string("its '") + key + "' entry", v);
            }
        }
        if (!dict && isTensorDict(root))
            dict = root;
        if (!dict && reason.empty()) {
            std::string keys;
            for (const auto &[key, value] : root->entries) {
                if (keys.size() > 200) {
                    keys += ", ...";
                    break;
                }
                if (key->kind == Value::Kind::String)
                    keys += (keys.empty() ? "'" : ", '") + excerpt(key->text, 40) + "'";
            }
            reason = root->entries.empty() ? "it holds an empty dictionary"
                                           : "it has no 'model' or 'state_dict' entry and its top-level "
                                             "dictionary (keys " + keys + ") does not map names to tensors";
        }
    } else {
        reason = std::string("its top-level object is a ") + describe(root) + ", not a dictionary";
    }
    if (!dict)
        throw CheckpointError("not a model checkpoint: " + reason);
    return dict;
}

StateDict loadPthImpl(const std::string &path, std::map<std::string, std::string> *metadata)
{
    ZipArchive zip(path);
    const std::string prefix = archivePrefix(zip);

    bool bigEndian = false;
    if (const int64_t bo = zip.locate(prefix + "byteorder"); bo >= 0) {
        const uint64_t n = zip.size(bo, prefix + "byteorder");
        if (n > 16)
            throw CheckpointError("its byteorder entry is malformed");
        std::string order(n, '\0');
        zip.read(bo, prefix + "byteorder", order.data(), n);
        if (order != "little" && order != "big")
            throw CheckpointError("its byteorder entry says '" + excerpt(order) + "', expected 'little' or 'big'");
        bigEndian = order == "big";
    }

    const std::string pklName = prefix + "data.pkl";
    const int64_t pklIndex = zip.locate(pklName);
    if (pklIndex < 0)
        throw CheckpointError("cannot locate '" + excerpt(pklName) + "' in the archive");
    pickle::Unpickler unpickler;
    const uint64_t pklSize = zip.size(pklIndex, pklName);
    if (pklSize > pickle::Limits{}.maxBytes)
        throw CheckpointError("its data.pkl is " + std::to_string(pklSize) + " bytes, larger than any state dict needs");
    std::string pkl(pklSize, '\0');
    zip.read(pklIndex, pklName, pkl.data(), pklSize);
    const Value *root = unpickler.load(pkl);

    const Value *dict = findStateDict(root);

    if (metadata) {
        metadata->clear();
        if (dict != root)
            collectMetadata(root, dict, *metadata);
    }

    const auto &storages = unpickler.storages();
    const auto &refs = unpickler.tensors();

    // Check everything the central directory and the pickle say against each other before
    // a byte is allocated or read: each tensor within its storage, the names together
    // within what the archive stores, each storage's entry as large as the pickle says and
    // within what the archive file can hold.
    std::vector<bool> needed(storages.size(), false);
    uint64_t viewedBytes = 0;
    for (const auto &[key, value] : dict->entries) {
        const TensorRef &ref = refs[value->index];
        const StorageRef &s = storages[ref.storage];
        if (ref.extent > s.numel)
            throw CheckpointError("tensor '" + excerpt(key->text) + "' " + formatShape(ref.sizes) + " at offset "
                                  + std::to_string(ref.offset) + " reaches past the end of its storage 'data/"
                                  + excerpt(s.key) + "' (" + std::to_string(s.numel) + " elements)");
        needed[ref.storage] = true;
        int64_t numel = 1;
        for (const int64_t d : ref.sizes)
            numel *= d; // no overflow: the unpickler checked the product
        viewedBytes += static_cast<uint64_t>(numel) * static_cast<uint64_t>(pickle::elementSize(s.type));
    }
    std::error_code ec;
    const uint64_t fileSize = std::filesystem::file_size(path, ec);
    uint64_t storedBytes = 0, inflatedBytes = 0;
    std::vector<int64_t> entryIndex(storages.size(), -1);
    for (size_t i = 0; i < storages.size(); ++i) {
        if (!needed[i])
            continue;
        const StorageRef &s = storages[i];
        const std::string entry = prefix + "data/" + s.key;
        const std::string shown = "storage 'data/" + excerpt(s.key) + "'";
        entryIndex[i] = zip.locate(entry);
        if (entryIndex[i] < 0)
            throw CheckpointError(shown + " is missing from the archive");
        const uint64_t expected = static_cast<uint64_t>(s.numel) * static_cast<uint64_t>(pickle::elementSize(s.type));
        const ZipArchive::Stat st = zip.stat(entryIndex[i], entry);
        if (st.size != expected)
            throw CheckpointError(shown + " holds " + std::to_string(st.size) + " bytes, but the checkpoint says "
                                  + std::to_string(s.numel) + " elements of " + pickle::storageTypeName(s.type)
                                  + " (" + std::to_string(expected) + " bytes)");
        if (expected > kMaxStorageBytes)
            throw CheckpointError(shown + " claims " + std::to_string(expected) + " bytes, more than any storage of "
                                  "a model this program runs (" + std::to_string(kMaxStorageBytes >> 30) + " GB)");
        if (!ec && st.compressed > fileSize)
            throw CheckpointError(shown + " claims " + std::to_string(st.compressed) + " bytes in an archive of "
                                  + std::to_string(fileSize) + "; the file is truncated or damaged");
        if (!st.stored && st.size > st.compressed)
            inflatedBytes += st.size - st.compressed;
        if (inflatedBytes > std::max(kInflationAllowance, fileSize))
            throw CheckpointError(shown + " inflates from " + std::to_string(st.compressed) + " to "
                                  + std::to_string(st.size) + " bytes; compressed storages may grow by "
                                  + std::to_string(std::max(kInflationAllowance, fileSize) >> 20)
                                  + " MB in all (a zip bomb, not a checkpoint)");
        storedBytes += expected;
    }
    if (viewedBytes > kMaxViewFactor * storedBytes + kViewSlack)
        throw CheckpointError("its tensors view " + std::to_string(viewedBytes) + " bytes in all, more than "
                              + std::to_string(kMaxViewFactor) + " times the " + std::to_string(storedBytes)
                              + " bytes it stores (many names for the same data)");

    auto loadStorage = [&](size_t index) -> torch::Tensor {
        const StorageRef &s = storages[index];
        const int64_t elem = pickle::elementSize(s.type);
        const uint64_t bytes = static_cast<uint64_t>(s.numel) * static_cast<uint64_t>(elem); // checked above
        torch::Tensor t = torch::empty({s.numel}, torch::TensorOptions().dtype(scalarType(s.type)));
        if (bytes > 0)
            zip.read(entryIndex[index], prefix + "data/" + s.key, t.data_ptr(), bytes);
        if (bigEndian)
            detail::swapBytes(t.data_ptr(), s.numel, elem);
        if (s.type == StorageType::Bool) {
            // A bool byte other than 0/1 is undefined behaviour for torch's kernels.
            auto *p = static_cast<uint8_t *>(t.data_ptr());
            for (int64_t i = 0; i < s.numel; ++i)
                p[i] = p[i] != 0;
        }
        return t;
    };

    std::vector<torch::Tensor> storageTensors(storages.size());
    std::vector<torch::Tensor> tensors(refs.size()); // one per pickled tensor: tied weights stay tied
    StateDict out;
    for (const auto &[key, value] : dict->entries) {
        const size_t ti = value->index;
        if (!tensors[ti].defined()) {
            const TensorRef &ref = refs[ti];
            if (!storageTensors[ref.storage].defined())
                storageTensors[ref.storage] = loadStorage(ref.storage);
            tensors[ti] = storageTensors[ref.storage].as_strided(ref.sizes, ref.strides, ref.offset);
        }
        out.insert(key->text, tensors[ti]);
    }
    return out;
}

} // namespace

StateDict loadPth(const std::string &path)
{
    return loadPth(path, nullptr);
}

StateDict loadPth(const std::string &path, std::map<std::string, std::string> *metadata)
{
    // Everything below throws; the message gets the file's name here, once.
    return namingTheFile(path, "this checkpoint", [&] { return loadPthImpl(path, metadata); });
}

} // namespace unisearch::model
