// .safetensors reader and writer: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the raw little-endian tensor bytes (offsets relative to the end of the header).
#include "statedict_p.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <limits>
#include <memory>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 // Linux 5.14; older headers lack the name
#endif

namespace unisearch::model {

namespace {

constexpr uint64_t kMaxHeader = uint64_t(100) << 20; // the format's own limit
// {name: {"shape": [...]}} is three levels; anything deeper is not a header.
constexpr int kMaxHeaderDepth = 8;

struct DType {
    const char *name;
    torch::ScalarType type;
    int64_t size;
};

constexpr DType kDTypes[] = {
    {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2}, {"BF16", torch::kBFloat16, 2},
    {"F64", torch::kFloat64, 8}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DType *dtypeByName(const std::string &name)
{
    for (const auto &d : kDTypes)
        if (name == d.name)
            return &d;
    return nullptr;
}

const DType *dtypeByType(torch::ScalarType type)
{
    for (const auto &d : kDTypes)
        if (type == d.type)
            return &d;
    return nullptr;
}

// Closes the descriptor on every path out.
class Fd
{
public:
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const { return m_fd; }
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd;
};

void readAt(int fd, void *dst, uint64_t size, uint64_t offset, const std::string &what)
{
    auto *out = static_cast<char *>(dst);
    while (size > 0) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, uint64_t(1) << 30));
        const ssize_t n = ::pread(fd, out, chunk, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw CheckpointError("cannot read " + what + (n < 0 ? std::string(": ") + std::strerror(errno)
                                                                : std::string(": unexpected end of file")));
        out += n;
        offset += static_cast<uint64_t>(n);
        size -= static_cast<uint64_t>(n);
    }
}

void writeAll(int fd, const void *src, uint64_t size)
{
    auto *in = static_cast<const char *>(src);
    while (size > 0) {
        const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, uint64_t(1) << 30));
        const ssize_t n = ::write(fd, in, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw CheckpointError(std::string("write failed: ") + (n < 0 ? std::strerror(errno) : "no progress"));
        in += n;
        size -= static_cast<uint64_t>(n);
    }
}

// A string as JSON text, quoted and escaped; throws nlohmann's type_error for invalid UTF-8.
std::string jsonString(const std::string &s)
{
    return nlohmann::json(s).dump();
}

bool nonNegativeInt(const nlohmann::json &j, uint64_t *out)
{
    if (j.is_number_unsigned()) {
        *out = j.get<uint64_t>();
        return true;
    }
    if (j.is_number_integer() && j.get<int64_t>() >= 0) {
        *out = static_cast<uint64_t>(j.get<int64_t>());
        return true;
    }
    return false;
}

struct Entry {
    std::string name;
    const DType *dtype = nullptr;
    std::vector<int64_t> shape;
    uint64_t begin = 0;
    uint64_t end = 0;
};

// A file whose header was read and checked: every entry's dtype, shape, size and offsets
// (inside the data, no two overlapping).
struct Parsed {
    std::unique_ptr<Fd> fd;
    uint64_t fileSize = 0;
    uint64_t dataStart = 0;
    std::vector<Entry> entries;
};

Parsed parseFile(const std::string &path, std::map<std::string, std::string> *metadata)
{
    auto fdHolder = std::make_unique<Fd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    Fd &fd = *fdHolder;
    if (fd.get() < 0)
        throw CheckpointError(std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        throw CheckpointError("not a regular file");
    const uint64_t fileSize = static_cast<uint64_t>(st.st_size);
    if (fileSize < 8)
        throw CheckpointError("too short to be a .safetensors file (" + std::to_string(fileSize) + " bytes)");

    unsigned char lenBytes[8];
    readAt(fd.get(), lenBytes, 8, 0, "the header length");
    uint64_t headerLen = 0;
    for (int i = 0; i < 8; ++i)
        headerLen |= uint64_t(lenBytes[i]) << (8 * i);
    if (headerLen > fileSize - 8)
        throw CheckpointError("header length " + std::to_string(headerLen) + " is larger than the file ("
                              + std::to_string(fileSize) + " bytes); the file is truncated or not .safetensors");
    if (headerLen > kMaxHeader)
        throw CheckpointError("header of " + std::to_string(headerLen) + " bytes exceeds the format's 100 MB limit");
    std::string headerText(headerLen, '\0');
    readAt(fd.get(), headerText.data(), headerLen, 8, "the header");

    nlohmann::json header;
    try {
        header = detail::parseJson(headerText, kMaxHeaderDepth);
    } catch (const CheckpointError &e) {
        throw CheckpointError(std::string("its header is unusable: ") + e.what());
    }
    headerText = std::string();
    if (!header.is_object())
        throw CheckpointError("header is not a JSON object");

    const uint64_t dataStart = 8 + headerLen;
    const uint64_t dataSize = fileSize - dataStart;
    std::vector<Entry> entries;
    if (metadata)
        metadata->clear();
    for (const auto &[name, info] : header.items()) {
        if (name == "__metadata__") {
            if (!info.is_object())
                throw CheckpointError("__metadata__ is not a JSON object");
            for (const auto &[k, v] : info.items()) {
                if (!v.is_string())
                    throw CheckpointError("__metadata__ value '" + detail::excerpt(k) + "' is not a string");
                if (metadata)
                    (*metadata)[k] = v.get<std::string>();
            }
            continue;
        }
        const std::string shown = "tensor '" + detail::excerpt(name) + "'";
        if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets"))
            throw CheckpointError(shown + " lacks dtype, shape or data_offsets");
        Entry e;
        e.name = name;
        if (!info["dtype"].is_string() || !(e.dtype = dtypeByName(info["dtype"].get<std::string>())))
            throw CheckpointError(shown + " has dtype " + detail::jsonExcerpt(info["dtype"])
                                  + ", not one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL");
        const auto &shape = info["shape"];
        if (!shape.is_array() || shape.size() > 64)
            throw CheckpointError(shown + " has an invalid shape");
        int64_t bytes = e.dtype->size;
        for (const auto &d : shape) {
            uint64_t v = 0;
            if (!nonNegativeInt(d, &v) || v > uint64_t(std::numeric_limits<int64_t>::max())
                || __builtin_mul_overflow(bytes, static_cast<int64_t>(v), &bytes))
                throw CheckpointError(shown + " has an invalid shape " + detail::jsonExcerpt(shape));
            e.shape.push_back(static_cast<int64_t>(v));
        }
        const auto &offsets = info["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2 || !nonNegativeInt(offsets[0], &e.begin)
            || !nonNegativeInt(offsets[1], &e.end) || e.end < e.begin)
            throw CheckpointError(shown + " has invalid data_offsets " + detail::jsonExcerpt(offsets));
        if (e.end > dataSize)
            throw CheckpointError(shown + " has data_offsets " + detail::jsonExcerpt(offsets) + " past the end of the file ("
                                  + std::to_string(dataSize) + " data bytes); the file is truncated or damaged");
        if (e.end - e.begin != static_cast<uint64_t>(bytes))
            throw CheckpointError(shown + " has " + std::to_string(e.end - e.begin) + " bytes of data, but shape "
                                  + formatShape(e.shape) + " of " + e.dtype->name + " needs " + std::to_string(bytes));
        entries.push_back(std::move(e));
    }

    // Two tensors over the same bytes mean a damaged or hand-crafted file.
    std::vector<const Entry *> byOffset;
    for (const auto &e : entries)
        if (e.end > e.begin)
            byOffset.push_back(&e);
    std::sort(byOffset.begin(), byOffset.end(), [](const Entry *a, const Entry *b) { return a->begin < b->begin; });
    for (size_t i = 1; i < byOffset.size(); ++i)
        if (byOffset[i]->begin < byOffset[i - 1]->end)
            throw CheckpointError("tensors '" + detail::excerpt(byOffset[i - 1]->name) + "' and '"
                                  + detail::excerpt(byOffset[i]->name) + "' have overlapping data_offsets");
    return Parsed{std::move(fdHolder), fileSize, dataStart, std::move(entries)};
}

// A tensor read into memory it owns (bool bytes normalised to 0/1).
torch::Tensor readEntry(int fd, uint64_t dataStart, const Entry &e)
{
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    const uint64_t n = e.end - e.begin;
    if (n > 0)
        readAt(fd, t.data_ptr(), n, dataStart + e.begin, "tensor '" + detail::excerpt(e.name) + "'");
    if constexpr (std::endian::native == std::endian::big)
        detail::swapBytes(t.data_ptr(), t.numel(), e.dtype->size);
    if (e.dtype->type == torch::kBool) {
        // A bool byte other than 0/1 is undefined behaviour for torch's kernels.
        auto *p = static_cast<uint8_t *>(t.data_ptr());
        for (uint64_t i = 0; i < n; ++i)
            p[i] = p[i] != 0;
    }
    return t;
}

StateDict loadImpl(const std::string &path, std::map<std::string, std::string> *metadata)
{
    const Parsed parsed = parseFile(path, metadata);
    StateDict out;
    for (const auto &e : parsed.entries)
        out.insert(e.name, readEntry(parsed.fd->get(), parsed.dataStart, e));
    return out;
}

// The whole file mapped copy-on-write: pages are read from the file when first touched,
// and a write (an adapter pack overlay, training) goes to a private copy, never the file.
struct Mapping {
    void *base = MAP_FAILED;
    size_t size = 0;
    int fd = -1;                       // the file, for copyMappedInto; -1: none
    std::atomic<bool> written{false};  // a tensor was written (markMappedWritten)
    MappedFile file;                   // which file, and which version of it
    ~Mapping()
    {
        if (base != MAP_FAILED)
            ::munmap(base, size);
        if (fd >= 0)
            ::close(fd);
    }
};

// Every mapped tensor's storage has this deleter; its context keeps the mapping alive.
void releaseMappingRef(void *context)
{
    delete static_cast<std::shared_ptr<Mapping> *>(context);
}

StateDict mapImpl(const std::string &path, std::map<std::string, std::string> *metadata)
{
    const Parsed parsed = parseFile(path, metadata);
    auto mapping = std::make_shared<Mapping>();
    mapping->size = static_cast<size_t>(parsed.fileSize);
    mapping->base = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, parsed.fd->get(), 0);
    if (mapping->base == MAP_FAILED)
        throw CheckpointError(std::string("cannot map the file: ") + std::strerror(errno));
    mapping->fd = ::fcntl(parsed.fd->get(), F_DUPFD_CLOEXEC, 0); // -1 only disables copyMappedInto
    mapping->file.path = path;
    struct stat st {};
    if (::fstat(parsed.fd->get(), &st) == 0)
        mapping->file.version = std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':'
                                + std::to_string(st.st_size) + ':' + std::to_string(st.st_mtim.tv_sec) + '.'
                                + std::to_string(st.st_mtim.tv_nsec);
    StateDict out;
    for (const auto &e : parsed.entries) {
        const uint64_t offset = parsed.dataStart + e.begin;
        // A view needs the element alignment and the file's byte order; bool bytes are
        // normalised, which would write. Those are read into owned memory instead.
        const bool copy = std::endian::native == std::endian::big || e.dtype->type == torch::kBool
                          || offset % static_cast<uint64_t>(e.dtype->size) != 0 || e.end == e.begin;
        if (copy) {
            out.insert(e.name, readEntry(parsed.fd->get(), parsed.dataStart, e));
            continue;
        }
        void *data = static_cast<char *>(mapping->base) + offset;
        auto *context = new std::shared_ptr<Mapping>(mapping);
        c10::DataPtr ptr(data, context, &releaseMappingRef, c10::Device(c10::DeviceType::CPU));
        c10::Storage storage(c10::Storage::use_byte_size_t(), static_cast<size_t>(e.end - e.begin), std::move(ptr),
                             /*allocator=*/nullptr, /*resizable=*/false);
        out.insert(e.name, torch::empty({0}, torch::TensorOptions().dtype(e.dtype->type))
                               .set_(storage, 0, e.shape, c10::contiguous_strides(e.shape)));
    }
    return out;
}

void saveImpl(const std::string &path, const StateDict &dict, const std::map<std::string, std::string> &metadata)
{
    // Lay out the data first so that a bad tensor fails before any file exists.
    // The header's text is written here in one pass, nlohmann only escaping the strings:
    // building it as an ordered_json looked every key up on insertion (quadratic: 100,000
    // tensors took 12 s).
    std::string headerText = "{";
    try {
        if (!metadata.empty()) {
            headerText += "\"__metadata__\":{";
            for (auto it = metadata.begin(); it != metadata.end(); ++it) {
                if (it != metadata.begin())
                    headerText += ',';
                headerText += jsonString(it->first) + ':' + jsonString(it->second);
            }
            headerText += '}';
        }
    } catch (const nlohmann::json::exception &e) {
        throw CheckpointError(std::string("cannot encode the metadata (it must be UTF-8): ") + e.what());
    }
    std::vector<torch::Tensor> data;
    uint64_t offset = 0;
    for (const auto &[name, tensor] : dict.tensors()) {
        if (name == "__metadata__")
            throw CheckpointError("a tensor cannot be named __metadata__");
        if (!tensor.defined())
            throw CheckpointError("tensor '" + detail::excerpt(name) + "' is undefined");
        const DType *dtype = dtypeByType(tensor.scalar_type());
        if (!dtype)
            throw CheckpointError("tensor '" + detail::excerpt(name) + "' has dtype "
                                  + std::string(c10::toString(tensor.scalar_type()))
                                  + ", which .safetensors files here do not store");
        torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
        if constexpr (std::endian::native == std::endian::big) {
            t = t.clone();
            detail::swapBytes(t.data_ptr(), t.numel(), dtype->size);
        }
        const uint64_t bytes = static_cast<uint64_t>(t.numel()) * static_cast<uint64_t>(dtype->size);
        if (headerText.size() > 1)
            headerText += ',';
        try {
            headerText += jsonString(name);
        } catch (const nlohmann::json::exception &) {
            throw CheckpointError("cannot encode the name of tensor '" + detail::excerpt(name) + "' (it must be UTF-8)");
        }
        headerText += ":{\"dtype\":\"";
        headerText += dtype->name;
        headerText += "\",\"shape\":[";
        for (int64_t i = 0; i < t.dim(); ++i) {
            if (i)
                headerText += ',';
            headerText += std::to_string(t.size(i));
        }
        headerText += "],\"data_offsets\":[" + std::to_string(offset) + ',' + std::to_string(offset + bytes) + "]}";
        offset += bytes;
        data.push_back(std::move(t));
    }
    headerText += '}';
    // The format allows trailing spaces; 8-byte alignment lets readers map the data.
    headerText.append((8 - headerText.size() % 8) % 8, ' ');

    // Write a temp file beside the target and rename it over: a crash leaves either the
    // old file or the new one, never half of one.
    const std::filesystem::path target(path);
    std::filesystem::path dir = target.parent_path();
    if (dir.empty())
        dir = ".";
    // (Built by appending: GCC 12 warns falsely about "." + std::string&&.)
    std::string tmpName(1, '.');
    tmpName.append(target.filename().string()).append(".tmp-XXXXXX");
    std::string tmpl = (dir / tmpName).string();
    Fd fd(::mkstemp(tmpl.data()));
    if (fd.get() < 0)
        throw CheckpointError("cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno));
    try {
        unsigned char len[8];
        for (int i = 0; i < 8; ++i)
            len[i] = static_cast<unsigned char>(uint64_t(headerText.size()) >> (8 * i));
        writeAll(fd.get(), len, 8);
        writeAll(fd.get(), headerText.data(), headerText.size());
        for (const auto &t : data)
            writeAll(fd.get(), t.data_ptr(), static_cast<uint64_t>(t.numel()) * t.element_size());
        // mkstemp makes the file private; an adapter pack is an ordinary document.
        if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0)
            throw CheckpointError(std::string("cannot flush the file: ") + std::strerror(errno));
        if (::close(fd.release()) != 0)
            throw CheckpointError(std::string("cannot close the file: ") + std::strerror(errno));
        if (::rename(tmpl.c_str(), path.c_str()) != 0)
            throw CheckpointError(std::string("cannot rename the temporary file: ") + std::strerror(errno));
    } catch (...) {
        ::unlink(tmpl.c_str());
        throw;
    }
    // Make the rename itself durable.
    Fd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dirFd.get() >= 0)
        ::fsync(dirFd.get());
}

} // namespace

StateDict loadSafetensors(const std::string &path, std::map<std::string, std::string> *metadata)
{
    return namingTheFile(path, "this file", [&] { return loadImpl(path, metadata); });
}

StateDict mapSafetensors(const std::string &path, std::map<std::string, std::string> *metadata)
{
    return namingTheFile(path, "this file", [&] { return mapImpl(path, metadata); });
}

bool isMapped(const torch::Tensor &t)
{
    return t.defined() && t.has_storage() && t.storage().data_ptr().get_deleter() == &releaseMappingRef;
}

namespace {
Mapping *mappingOf(const torch::Tensor &t)
{
    return isMapped(t) ? static_cast<std::shared_ptr<Mapping> *>(t.storage().data_ptr().get_context())->get() : nullptr;
}
} // namespace

bool mappedFileOf(const torch::Tensor &t, MappedFile *file)
{
    Mapping *m = mappingOf(t);
    if (!m || m->written || m->file.version.empty())
        return false;
    *file = m->file;
    return true;
}

void markMappedWritten(const torch::Tensor &t)
{
    if (Mapping *m = mappingOf(t))
        m->written = true;
}

bool copyMappedInto(const torch::Tensor &source, const torch::Tensor &into)
{
    Mapping *m = mappingOf(source);
    if (!m || m->fd < 0 || m->written || !source.is_contiguous() || !into.is_contiguous()
        || source.numel() != into.numel() || source.numel() == 0)
        return false;
    const auto elem = static_cast<uint64_t>(source.element_size());
    const uint64_t offset = static_cast<uint64_t>(static_cast<const char *>(source.data_ptr())
                                                  - static_cast<const char *>(m->base));
    const int64_t n = source.numel();
    constexpr int64_t kChunk = int64_t(1) << 20; // elements per read: 4 MB of float32
    torch::Tensor buffer = torch::empty({std::min(n, kChunk)}, torch::TensorOptions().dtype(source.scalar_type()));
    torch::Tensor flat = into.view({-1});
    for (int64_t i = 0; i < n; i += kChunk) {
        const int64_t k = std::min(kChunk, n - i);
        auto *dst = static_cast<char *>(buffer.data_ptr());
        const uint64_t want = static_cast<uint64_t>(k) * elem;
        for (uint64_t got = 0; got < want;) {
            const ssize_t r = ::pread(m->fd, dst + got, want - got,
                                      static_cast<off_t>(offset + static_cast<uint64_t>(i) * elem + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return false; // a short file: the caller copies through the mapping (and reports)
            got += static_cast<uint64_t>(r);
        }
        flat.narrow(0, i, k).copy_(buffer.narrow(0, 0, k));
    }
    return true;
}

void adviseMapped(const torch::Tensor &t, bool release)
{
    if (!isMapped(t) || t.numel() == 0)
        return;
    static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<uintptr_t>(t.storage().data());
    const uintptr_t end = begin + t.storage().nbytes();
    if (!release) {
        const uintptr_t first = begin & ~(page - 1);
        // One call maps every page (Linux 5.14+): a fault per 64 KiB costs more, most in a VM.
        if (::madvise(reinterpret_cast<void *>(first), end - first, MADV_POPULATE_READ) == 0)
            return;
        ::madvise(reinterpret_cast<void *>(first), end - first, MADV_WILLNEED);
        // Fault every page in now (a warm-up), so that the first query does not.
        volatile unsigned char sink = 0;
        for (uintptr_t p = begin; p < end; p += page)
            sink ^= *reinterpret_cast<const unsigned char *>(p);
        return;
    }
    // Only whole pages of this tensor: its neighbours' bytes may still be in use.
    const uintptr_t first = (begin + page - 1) & ~(page - 1);
    const uintptr_t last = end & ~(page - 1);
    if (last > first)
        ::madvise(reinterpret_cast<void *>(first), last - first, MADV_DONTNEED);
}

void saveSafetensors(const std::string &path, const StateDict &dict, const std::map<std::string, std::string> &metadata)
{
    try {
        saveImpl(path, dict, metadata);
    } catch (const CheckpointError &e) {
        throw CheckpointError("cannot save " + path + ": " + e.what());
    } catch (const std::bad_alloc &) {
        throw CheckpointError("cannot save " + path + ": not enough memory");
    } catch (const c10::Error &e) {
        throw CheckpointError("cannot save " + path + ": " + e.what_without_backtrace());
    }
}

} // namespace unisearch::model
