#pragma once
// What every target checks beyond "no crash, no sanitizer report": an error message built
// from a hostile file must stay short (issue 14: a 200 KB header once produced a 100 KB
// message), and only the exception type a reader documents may leave it.
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace unisearch::fuzz {

// Longer than any sentence a person reads; long enough for a path and a few names.
inline constexpr size_t maxMessageBytes = 4096;

[[noreturn]] inline void fail(const char *what, std::string_view detail)
{
    std::fprintf(stderr, "FUZZ CHECK FAILED: %s: %.*s\n", what, int(detail.size() > 2000 ? 2000 : detail.size()),
                 detail.data());
    std::abort(); // libFuzzer saves the input as crash-*
}

inline void checkMessage(std::string_view message)
{
    if (message.empty())
        fail("empty error message", {});
    if (message.size() > maxMessageBytes)
        fail("error message longer than 4096 bytes", message.substr(0, 300));
}

} // namespace unisearch::fuzz
