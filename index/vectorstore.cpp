#include "vectorstore.h"

#include <faiss/Index.h>

namespace unisearch::index {

std::string faissVersion()
{
    return std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "."
        + std::to_string(FAISS_VERSION_PATCH);
}

} // namespace unisearch::index
