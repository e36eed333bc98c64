#include "fuzzsupport.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace unisearch::fuzz {

namespace {

struct Scratch {
    std::filesystem::path dir;
    Scratch()
    {
        const char *tmp = std::getenv("TMPDIR");
        dir = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / ("unisearch-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
    }
    ~Scratch()
    {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

} // namespace

const std::filesystem::path &scratchDir()
{
    static Scratch scratch;
    return scratch.dir;
}

std::filesystem::path writeInput(const std::string &name, const uint8_t *data, size_t size)
{
    const auto path = scratchDir() / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(size));
    out.close();
    // A full scratch disk would make every later input meaningless: stop loudly instead.
    if (!out)
        throw std::runtime_error("cannot write the fuzz input to " + path.string());
    return path;
}

std::filesystem::path sourceDir()
{
    if (const char *env = std::getenv("UNISEARCH_SOURCE_DIR"); env && *env)
        return env;
    return UNISEARCH_SOURCE_DIR;
}

} // namespace unisearch::fuzz
