#include "model/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace unisearch::model {
namespace {

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX *ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

struct FileCloser {
    void operator()(std::FILE *f) const { std::fclose(f); }
};

MdCtx newSha256Context()
{
    MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("SHA-256: cannot initialise OpenSSL digest");
    return ctx;
}

std::string finishHex(EVP_MD_CTX *ctx)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx, digest, &length) != 1)
        throw std::runtime_error("SHA-256: OpenSSL digest failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        hex.push_back(kHex[digest[i] >> 4]);
        hex.push_back(kHex[digest[i] & 0x0f]);
    }
    return hex;
}

} // namespace

std::string sha256Hex(const void *data, size_t size)
{
    MdCtx ctx = newSha256Context();
    if (size > 0 && EVP_DigestUpdate(ctx.get(), data, size) != 1)
        throw std::runtime_error("SHA-256: OpenSSL digest failed");
    return finishHex(ctx.get());
}

std::string sha256File(const std::string &path)
{
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file)
        throw std::runtime_error("cannot open " + path + " for hashing: " + std::strerror(errno));
    MdCtx ctx = newSha256Context();
    std::vector<unsigned char> buffer(1 << 20);
    for (;;) {
        const size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
        if (n > 0 && EVP_DigestUpdate(ctx.get(), buffer.data(), n) != 1)
            throw std::runtime_error("SHA-256: OpenSSL digest failed");
        if (n < buffer.size()) {
            // A directory opens fine with fopen but fails on read: report it, do not hash "".
            if (std::ferror(file.get()))
                throw std::runtime_error("cannot read " + path + " for hashing: " + std::strerror(errno));
            break;
        }
    }
    return finishHex(ctx.get());
}

} // namespace unisearch::model
