#include "storefile_p.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static_assert(std::endian::native == std::endian::little,
              "the vector store file is written in native byte order, which must be little-endian");

namespace unisearch::index::detail {

namespace {

constexpr char kMagic[8] = {'U', 'S', 'V', 'S', 'T', 'O', 'R', 'E'};
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kP3 = 0x165667B19E3779F9ULL;

inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

inline uint64_t round64(uint64_t acc, uint64_t input)
{
    return std::rotl(acc + input * kP2, 31) * kP1;
}

std::string errnoText(int err)
{
    return std::strerror(err);
}

// RAII for a POSIX descriptor: the writer needs fsync and rename semantics that
// iostreams do not offer.
class Fd {
public:
    explicit Fd(int fd = -1) : m_fd(fd) {}
    ~Fd() { reset(); }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const { return m_fd; }
    void reset()
    {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = -1;
    }
    int release()
    {
        const int fd = m_fd;
        m_fd = -1;
        return fd;
    }

private:
    int m_fd;
};

void writeAll(int fd, const void *data, size_t bytes, const std::filesystem::path &path)
{
    auto *p = static_cast<const unsigned char *>(data);
    while (bytes > 0) {
        // Linux writes at most ~2 GiB per call; loop for partial writes and EINTR.
        const ssize_t n = ::write(fd, p, std::min<size_t>(bytes, size_t(1) << 30));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw FileError(StoreStatus::IoError, "cannot write " + path.string() + ": " + errnoText(errno));
        }
        p += n;
        bytes -= size_t(n);
    }
}

void readAll(int fd, void *data, size_t bytes, uint64_t offset, const std::filesystem::path &path)
{
    auto *p = static_cast<unsigned char *>(data);
    while (bytes > 0) {
        const ssize_t n = ::pread(fd, p, std::min<size_t>(bytes, size_t(1) << 30), off_t(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw FileError(StoreStatus::IoError, "cannot read " + path.string() + ": " + errnoText(errno));
        }
        if (n == 0) // the file shrank under us
            throw FileError(StoreStatus::Corrupt, path.string() + " is truncated");
        p += n;
        bytes -= size_t(n);
        offset += uint64_t(n);
    }
}

void put32(unsigned char *p, uint32_t v) { std::memcpy(p, &v, 4); }
void put64(unsigned char *p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
uint64_t get64(const unsigned char *p) { return load64(p); }

uint64_t payloadChecksum(std::span<const int64_t> ids, std::span<const float> vectors)
{
    const uint64_t h = checksum64(ids.data(), ids.size_bytes(), 0);
    return checksum64(vectors.data(), vectors.size_bytes(), h);
}

} // namespace

uint64_t checksum64(const void *data, size_t bytes, uint64_t seed)
{
    const auto *p = static_cast<const unsigned char *>(data);
    const unsigned char *const end = p + bytes;
    uint64_t h;
    if (bytes >= 32) {
        // Four independent lanes keep the multipliers busy: ~10 GB/s, so checking a
        // 1 GB store costs a fraction of reading it.
        uint64_t v1 = seed + kP1 + kP2, v2 = seed + kP2, v3 = seed, v4 = seed - kP1;
        for (; p + 32 <= end; p += 32) {
            v1 = round64(v1, load64(p));
            v2 = round64(v2, load64(p + 8));
            v3 = round64(v3, load64(p + 16));
            v4 = round64(v4, load64(p + 24));
        }
        h = std::rotl(v1, 1) + std::rotl(v2, 7) + std::rotl(v3, 12) + std::rotl(v4, 18);
        for (uint64_t v : {v1, v2, v3, v4})
            h = (h ^ round64(0, v)) * kP1 + kP3;
    } else {
        h = seed + kP3;
    }
    h += uint64_t(bytes);
    for (; p + 8 <= end; p += 8)
        h = std::rotl(h ^ round64(0, load64(p)), 27) * kP1 + kP3;
    for (; p < end; ++p)
        h = std::rotl(h ^ (uint64_t(*p) * kP3), 11) * kP1;
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP3;
    h ^= h >> 32;
    return h;
}

void writeStoreFile(const std::filesystem::path &path, uint32_t dim, uint64_t generation,
                    std::span<const int64_t> ids, std::span<const float> vectors)
{
    if (vectors.size() != ids.size() * dim)
        throw std::logic_error("writeStoreFile: ids and vectors disagree");

    unsigned char header[kHeaderSize] = {};
    std::memcpy(header, kMagic, 8);
    put32(header + 8, kFormatVersion);
    put32(header + 12, dim);
    put64(header + 16, ids.size());
    put64(header + 24, generation);
    put64(header + 32, payloadChecksum(ids, vectors));
    put64(header + 56, checksum64(header, 56, 0));

    std::filesystem::path dir = path.parent_path();
    if (dir.empty())
        dir = ".";
    // Same directory as the target, so that rename() is atomic (same file system).
    std::string tmpl = (dir / (path.filename().string() + ".tmp-XXXXXX")).string();
    Fd fd(::mkstemp(tmpl.data()));
    if (fd.get() < 0)
        throw FileError(StoreStatus::IoError,
                        "cannot create a temporary file in " + dir.string() + ": " + errnoText(errno));
    const std::filesystem::path tmpPath = tmpl;
    try {
        writeAll(fd.get(), header, kHeaderSize, tmpPath);
        writeAll(fd.get(), ids.data(), ids.size_bytes(), tmpPath);
        writeAll(fd.get(), vectors.data(), vectors.size_bytes(), tmpPath);
        // Data must be on disk before the rename makes it visible, or a power cut
        // could leave a complete-looking name over missing blocks.
        if (::fsync(fd.get()) != 0)
            throw FileError(StoreStatus::IoError, "cannot sync " + tmpPath.string() + ": " + errnoText(errno));
        if (::close(fd.release()) != 0)
            throw FileError(StoreStatus::IoError, "cannot close " + tmpPath.string() + ": " + errnoText(errno));
        if (::rename(tmpPath.c_str(), path.c_str()) != 0)
            throw FileError(StoreStatus::IoError,
                            "cannot rename " + tmpPath.string() + " to " + path.string() + ": " + errnoText(errno));
    } catch (...) {
        fd.reset();
        ::unlink(tmpPath.c_str());
        throw;
    }
    // Persist the rename itself. Failing here leaves a valid file (old or new), so it
    // is not reported as an error.
    Fd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dirFd.get() >= 0)
        ::fsync(dirFd.get());
}

StoreFileContents readStoreFile(const std::filesystem::path &path, uint32_t expectedDim,
                                uint64_t expectedGeneration)
{
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        const int err = errno;
        if (err == ENOENT)
            throw FileError(StoreStatus::Missing, path.string() + " does not exist");
        throw FileError(StoreStatus::IoError, "cannot open " + path.string() + ": " + errnoText(err));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        throw FileError(StoreStatus::IoError, "cannot stat " + path.string() + ": " + errnoText(errno));
    if (!S_ISREG(st.st_mode))
        throw FileError(StoreStatus::Corrupt, path.string() + " is not a regular file");
    const uint64_t fileSize = uint64_t(st.st_size);
    if (fileSize < kHeaderSize)
        throw FileError(StoreStatus::Corrupt, path.string() + " is truncated (" + std::to_string(fileSize)
                                                  + " bytes, shorter than the header)");

    unsigned char header[kHeaderSize];
    readAll(fd.get(), header, kHeaderSize, 0, path);
    if (std::memcmp(header, kMagic, 8) != 0)
        throw FileError(StoreStatus::Corrupt, path.string() + " is not a Unisearch vector store");
    if (get64(header + 56) != checksum64(header, 56, 0))
        throw FileError(StoreStatus::Corrupt, path.string() + " has a damaged header (checksum mismatch)");
    const uint32_t version = get32(header + 8);
    if (version != kFormatVersion)
        throw FileError(StoreStatus::Corrupt, path.string() + " has format version " + std::to_string(version)
                                                  + ", this build reads version " + std::to_string(kFormatVersion));

    StoreFileContents out;
    out.dim = get32(header + 12);
    const uint64_t count = get64(header + 16);
    out.generation = get64(header + 24);
    const uint64_t expectedChecksum = get64(header + 32);

    if (out.dim != expectedDim)
        throw FileError(StoreStatus::DimensionMismatch,
                        path.string() + " holds " + std::to_string(out.dim) + "-dimensional vectors, expected "
                            + std::to_string(expectedDim));
    if (out.generation != expectedGeneration)
        throw FileError(StoreStatus::Stale, path.string() + " is generation " + std::to_string(out.generation)
                                                + ", the catalog expects " + std::to_string(expectedGeneration));

    // Compare sizes without overflow before allocating anything from `count`.
    const uint64_t perItem = 8 + uint64_t(out.dim) * 4;
    const uint64_t maxCount = (std::numeric_limits<uint64_t>::max() - kHeaderSize) / perItem;
    if (count > maxCount || kHeaderSize + count * perItem != fileSize)
        throw FileError(StoreStatus::Corrupt,
                        path.string() + " has " + std::to_string(fileSize) + " bytes, its header announces "
                            + std::to_string(count) + " vectors (truncated or damaged)");

    out.ids.reserve(withHeadroom(count));
    out.ids.resize(count);
    out.vectors.reserve(withHeadroom(count) * out.dim);
    out.vectors.resize(count * out.dim);
    readAll(fd.get(), out.ids.data(), count * 8, kHeaderSize, path);
    readAll(fd.get(), out.vectors.data(), count * out.dim * 4, kHeaderSize + count * 8, path);
    if (payloadChecksum(out.ids, out.vectors) != expectedChecksum)
        throw FileError(StoreStatus::Corrupt, path.string() + " is damaged (payload checksum mismatch)");
    return out;
}

} // namespace unisearch::index::detail
