// PyTorch .pth reader: the zip archive torch.save writes since 1.6, its data.pkl read by
// our restricted unpickler (pickle.cpp), each storage read once straight into tensor memory.
#include "pickle_p.h"
#include "statedict_p.h"

#include <zip.h>

#include <cstdio>
#include <deque>
#include <new>

namespace unisearch::model {

namespace {

using pickle::StorageRef;
using pickle::StorageType;
using pickle::TensorRef;
using pickle::Value;

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
    uint64_t size(int64_t index, const std::string &name) const
    {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(m_zip, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
            throw CheckpointError("cannot read the size of '" + name + "' in the archive");
        return st.size;
    }
    // Reads exactly `size` bytes of an entry into dst and verifies its CRC.
    void read(int64_t index, const std::string &name, void *dst, uint64_t size) const
    {
        zip_file_t *file = zip_fopen_index(m_zip, static_cast<zip_uint64_t>(index), 0);
        if (!file)
            throw CheckpointError("cannot open '" + name + "' in the archive: " + zip_strerror(m_zip));
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
            throw CheckpointError("cannot read '" + name + "' in the archive (" + error
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
            return what + " maps '" + key->text.substr(0, 200) + "' to a " + describe(value) + ", not a tensor";
    }
    return what + " is not a dictionary of tensors";
}

// Top-level scalars outside the state dict (config, epoch), nested dicts flattened with '.'.
// The graph comes from the file: it may be cyclic, and a dict holding itself n times would
// cost n^depth visits. So: breadth-first (shallow values first), bounded in depth, visits
// and output, without recursion.
void collectMetadata(const Value *root, const Value *skip, std::map<std::string, std::string> &out)
{
    struct Item {
        const Value *value;
        std::string name;
        int depth;
    };
    std::deque<Item> queue;
    for (const auto &[key, value] : root->entries)
        if (key->kind == Value::Kind::String && value != skip)
            queue.push_back({value, key->text, 1});
    size_t budget = 100000;
    while (!queue.empty() && budget-- > 0 && out.size() < 10000) {
        const Item item = std::move(queue.front());
        queue.pop_front();
        const Value *v = item.value;
        switch (v->kind) {
        case Value::Kind::None: out[item.name] = "null"; break;
        case Value::Kind::Bool: out[item.name] = v->boolean ? "true" : "false"; break;
        case Value::Kind::Int: out[item.name] = std::to_string(v->integer); break;
        case Value::Kind::Float: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", v->real);
            out[item.name] = buf;
            break;
        }
        case Value::Kind::String: out[item.name] = v->text; break;
        case Value::Kind::Dict:
            if (item.depth >= 8 || queue.size() > 100000)
                break;
            for (const auto &[key, value] : v->entries)
                if (key->kind == Value::Kind::String)
                    queue.push_back({value, item.name + "." + key->text, item.depth + 1});
            break;
        default: break;
        }
    }
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
            throw CheckpointError("its byteorder entry says '" + order + "', expected 'little' or 'big'");
        bigEndian = order == "big";
    }

    const std::string pklName = prefix + "data.pkl";
    const int64_t pklIndex = zip.locate(pklName);
    if (pklIndex < 0)
        throw CheckpointError("cannot locate '" + pklName + "' in the archive");
    pickle::Unpickler unpickler;
    const uint64_t pklSize = zip.size(pklIndex, pklName);
    if (pklSize > pickle::Limits{}.maxBytes)
        throw CheckpointError("its data.pkl is " + std::to_string(pklSize) + " bytes, larger than any state dict needs");
    std::string pkl(pklSize, '\0');
    zip.read(pklIndex, pklName, pkl.data(), pklSize);
    const Value *root = unpickler.load(pkl);

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
                    keys += (keys.empty() ? "'" : ", '") + key->text.substr(0, 64) + "'";
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

    if (metadata) {
        metadata->clear();
        if (dict != root)
            collectMetadata(root, dict, *metadata);
    }

    const auto &storages = unpickler.storages();
    const auto &refs = unpickler.tensors();
    std::vector<torch::Tensor> storageTensors(storages.size());
    std::vector<torch::Tensor> tensors(refs.size()); // one per pickled tensor: tied weights stay tied

    auto loadStorage = [&](size_t index) -> torch::Tensor {
        const StorageRef &s = storages[index];
        const std::string entry = prefix + "data/" + s.key;
        const std::string shown = "storage 'data/" + s.key + "'";
        const int64_t zi = zip.locate(entry);
        if (zi < 0)
            throw CheckpointError(shown + " is missing from the archive");
        const int64_t elem = pickle::elementSize(s.type);
        const uint64_t expected = static_cast<uint64_t>(s.numel) * static_cast<uint64_t>(elem); // checked by the unpickler
        const uint64_t actual = zip.size(zi, entry);
        if (actual != expected)
            throw CheckpointError(shown + " holds " + std::to_string(actual) + " bytes, but the checkpoint says "
                                  + std::to_string(s.numel) + " elements of " + pickle::storageTypeName(s.type)
                                  + " (" + std::to_string(expected) + " bytes)");
        torch::Tensor t = torch::empty({s.numel}, torch::TensorOptions().dtype(scalarType(s.type)));
        if (expected > 0)
            zip.read(zi, entry, t.data_ptr(), expected);
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

    StateDict out;
    for (const auto &[key, value] : dict->entries) {
        const size_t ti = value->index;
        if (!tensors[ti].defined()) {
            const TensorRef &ref = refs[ti];
            const StorageRef &s = storages[ref.storage];
            if (ref.extent > s.numel)
                throw CheckpointError("tensor '" + key->text + "' " + formatShape(ref.sizes) + " at offset "
                                      + std::to_string(ref.offset) + " reaches past the end of its storage 'data/"
                                      + s.key + "' (" + std::to_string(s.numel) + " elements)");
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
    try {
        return loadPthImpl(path, metadata);
    } catch (const CheckpointError &e) {
        throw CheckpointError(path + ": " + e.what());
    } catch (const std::bad_alloc &) {
        throw CheckpointError(path + ": not enough memory to load this checkpoint");
    } catch (const c10::Error &e) {
        throw CheckpointError(path + ": " + e.what_without_backtrace());
    }
}

} // namespace unisearch::model
