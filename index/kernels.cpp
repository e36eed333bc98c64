#include "kernels_p.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define US_HAVE_X86 1
#endif

namespace unisearch::index::detail {

float quantize(const float *x, size_t dim, size_t stride, int8_t *code)
{
    float maxAbs = 0.f;
    for (size_t j = 0; j < dim; ++j)
        maxAbs = std::max(maxAbs, std::fabs(x[j]));
    std::memset(code, 0, stride);
    if (maxAbs == 0.f)
        return 0.f;
    const float inv = 127.f / maxAbs;
    for (size_t j = 0; j < dim; ++j)
        code[j] = static_cast<int8_t>(std::lrintf(std::clamp(x[j] * inv, -127.f, 127.f)));
    return maxAbs / 127.f;
}

void quantizeQuery(const float *x, size_t dim, size_t stride, int16_t *code)
{
    // Same grid as the items: int8 precision on both sides keeps every product and
    // every pair sum inside what the int16 multiply-add handles exactly.
    float maxAbs = 0.f;
    for (size_t j = 0; j < dim; ++j)
        maxAbs = std::max(maxAbs, std::fabs(x[j]));
    std::fill(code, code + stride, int16_t(0));
    if (maxAbs == 0.f)
        return;
    const float inv = 127.f / maxAbs;
    for (size_t j = 0; j < dim; ++j)
        code[j] = static_cast<int16_t>(std::lrintf(std::clamp(x[j] * inv, -127.f, 127.f)));
}

namespace {

void scoreCodesGeneric(const int8_t *codes, const float *scales, size_t n, size_t stride,
                       const int16_t *query, float *out)
{
    // Plain loop: the compiler vectorises it with the baseline instruction set.
    for (size_t i = 0; i < n; ++i) {
        const int8_t *c = codes + i * stride;
        int32_t acc = 0;
        for (size_t j = 0; j < stride; ++j)
            acc += int32_t(c[j]) * int32_t(query[j]);
        out[i] = float(acc) * scales[i];
    }
}

#ifdef US_HAVE_X86
__attribute__((target("avx2"))) void scoreCodesAvx2(const int8_t *codes, const float *scales,
                                                    size_t n, size_t stride,
                                                    const int16_t *query, float *out)
{
    for (size_t i = 0; i < n; ++i) {
        const int8_t *c = codes + i * stride;
        __m256i acc = _mm256_setzero_si256();
        for (size_t j = 0; j < stride; j += 16) {
            const __m256i a = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(c + j)));
            const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(query + j));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
        }
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s = _mm_hadd_epi32(s, s);
        s = _mm_hadd_epi32(s, s);
        out[i] = float(_mm_cvtsi128_si32(s)) * scales[i];
    }
}
#endif

using ScoreFn = void (*)(const int8_t *, const float *, size_t, size_t, const int16_t *, float *);

struct Dispatch {
    ScoreFn fn = scoreCodesGeneric;
    const char *name = "generic";
    Dispatch()
    {
#ifdef US_HAVE_X86
        // Chosen once: the binary is built for baseline x86-64 and must run everywhere.
        if (__builtin_cpu_supports("avx2")) {
            fn = scoreCodesAvx2;
            name = "avx2";
        }
#endif
    }
};

const Dispatch &dispatch()
{
    static const Dispatch d;
    return d;
}

} // namespace

void scoreCodes(const int8_t *codes, const float *scales, size_t n, size_t stride,
                const int16_t *query, float *out)
{
    dispatch().fn(codes, scales, n, stride, query, out);
}

const char *kernelName()
{
    return dispatch().name;
}

} // namespace unisearch::index::detail
