#pragma once
// Faults on purpose, for the tests that prove a crash loses nothing committed
// (tests/tst_faults.cpp; docs/reliability.md lists the points). With
// UNISEARCH_FAULT_POINT=NAME or NAME:N in the environment, the process kills itself with
// SIGKILL (no handler, no destructor, no flush: as a crash, the OOM killer or a power cut
// to the process would) the Nth time it reaches faultPoint(NAME), the first when N is
// not given. Without the variable a point costs one getenv; the points sit in write
// phases (once per batch or transaction), never in inner loops.
//
// Header only and without Qt, so that any library of the project can name a point.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string_view>

namespace unisearch::util {

inline void faultPoint(std::string_view name)
{
    const char *spec = std::getenv("UNISEARCH_FAULT_POINT");
    if (!spec)
        return;
    const std::string_view s(spec);
    const size_t colon = s.find(':');
    if (s.substr(0, colon) != name)
        return;
    const long wanted = colon == std::string_view::npos ? 1 : std::strtol(spec + colon + 1, nullptr, 10);
    // One counter for the program: only one point is armed at a time.
    static std::atomic<long> hits{0};
    if (++hits >= wanted)
        std::raise(SIGKILL);
}

} // namespace unisearch::util
