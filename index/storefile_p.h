#pragma once
// On-disk format of the vector store and its atomic writer.
//
// The file is a derived cache of the catalog (which keeps every vector), so the format
// favours detecting trouble over recovering from it: any doubt is reported and the
// caller rebuilds from the catalog.
//
//   offset  size  field
//        0     8  magic "USVSTORE"
//        8     4  format version (1)
//       12     4  dimension
//       16     8  count
//       24     8  generation (recorded by the catalog; a mismatch means stale)
//       32     8  payload checksum (ids, then vectors)
//       40    16  reserved, zero
//       56     8  header checksum (bytes 0..55)
//       64        ids: count × int64, then vectors: count × dimension × float32
//
// Little-endian, as every platform the app targets.
#include "vectorstore.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace unisearch::index::detail {

// Thrown inside the module, turned into a StoreResult by VectorStore::save/load.
class FileError : public std::runtime_error {
public:
    FileError(StoreStatus status, const std::string &message)
        : std::runtime_error(message), m_status(status) {}
    StoreStatus status() const { return m_status; }

private:
    StoreStatus m_status;
};

// Capacity reserved for n items after a bulk build or load, so that the indexer's
// next adds do not reallocate (and copy) a gigabyte under the write lock. Untouched
// reserved pages cost address space, not resident memory.
inline size_t withHeadroom(size_t n)
{
    return n + std::max<size_t>(n / 4, 4096);
}

inline constexpr size_t kHeaderSize = 64;
inline constexpr uint32_t kFormatVersion = 1;

// A fast non-cryptographic 64-bit hash (xxHash64-style lanes); it guards against
// truncation and bit rot, not against tampering.
uint64_t checksum64(const void *data, size_t bytes, uint64_t seed);

struct StoreFileContents {
    uint32_t dim = 0;
    uint64_t generation = 0;
    std::vector<int64_t> ids;
    std::vector<float> vectors; // ids.size() × dim
};

// Writes a temp file in the same directory, fsyncs it, renames it over `path` and
// fsyncs the directory: readers see the old file or the new one, never a mix.
void writeStoreFile(const std::filesystem::path &path, uint32_t dim, uint64_t generation,
                    std::span<const int64_t> ids, std::span<const float> vectors);

// Validates everything it can before allocating: header, dimension and generation
// first (cheap), then the exact file size, then the payload checksum.
StoreFileContents readStoreFile(const std::filesystem::path &path, uint32_t expectedDim,
                                uint64_t expectedGeneration);

} // namespace unisearch::index::detail
