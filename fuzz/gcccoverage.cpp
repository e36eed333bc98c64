// Coverage feedback for libFuzzer in a GCC build.
//
// Why GCC: LibTorch 1.13's headers do not compile with clang (14 and 16 tried) in C++20
// (std::vector<c10::IValue> of an incomplete type in ATen/core/List.h), so the sanitizer
// build, which must hold us_model, is a GCC build. GCC has no -fsanitize=fuzzer, and the
// libFuzzer of libclang-rt-14-dev refuses GCC's -fsanitize-coverage=trace-pc. So our
// libraries are compiled with -fsanitize-coverage=trace-pc,trace-cmp, this file turns
// each call of __sanitizer_cov_trace_pc into a hit of one of 64 Ki counters in the section
// libFuzzer reads as "extra counters" (coverage it uses like its own), and fuzz/CMakeLists.txt
// links a copy of libFuzzer whose own __sanitizer_cov_trace_pc is made weak. The
// comparison hooks (trace-cmp) go to libFuzzer's implementations, which give it the
// constants inputs are compared with; the weak no-ops below serve the test executables,
// which link our libraries without libFuzzer.
#include <cstdint>

extern "C" {

// Coverage is a hit count per hashed basic-block address; collisions only merge features.
__attribute__((section("__libfuzzer_extra_counters"), used)) uint8_t unisearchPcCounters[1 << 16];

__attribute__((no_sanitize_address, no_sanitize_undefined, no_sanitize_coverage)) void __sanitizer_cov_trace_pc()
{
    const auto pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
    const uintptr_t h = (pc ^ (pc >> 16)) * 0x9E3779B1u;
    unisearchPcCounters[(h >> 8) & ((1u << 16) - 1)]++;
}

#define US_WEAK_NOOP __attribute__((weak, no_sanitize_address, no_sanitize_undefined, no_sanitize_coverage))
US_WEAK_NOOP void __sanitizer_cov_trace_cmp1(uint8_t, uint8_t) {}
US_WEAK_NOOP void __sanitizer_cov_trace_cmp2(uint16_t, uint16_t) {}
US_WEAK_NOOP void __sanitizer_cov_trace_cmp4(uint32_t, uint32_t) {}
US_WEAK_NOOP void __sanitizer_cov_trace_cmp8(uint64_t, uint64_t) {}
US_WEAK_NOOP void __sanitizer_cov_trace_const_cmp1(uint8_t, uint8_t) {}
US_WEAK_NOOP void __sanitizer_cov_trace_const_cmp2(uint16_t, uint16_t) {}
US_WEAK_NOOP void __sanitizer_cov_trace_const_cmp4(uint32_t, uint32_t) {}
US_WEAK_NOOP void __sanitizer_cov_trace_const_cmp8(uint64_t, uint64_t) {}
US_WEAK_NOOP void __sanitizer_cov_trace_switch(uint64_t, uint64_t *) {}
// GCC also reports floating-point comparisons; libFuzzer has no use for them.
US_WEAK_NOOP void __sanitizer_cov_trace_cmpf(float, float) {}
US_WEAK_NOOP void __sanitizer_cov_trace_cmpd(double, double) {}

} // extern "C"
