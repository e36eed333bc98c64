#pragma once
// Scalar-quantised (int8) scoring kernels of the approximate index.
//
// Why not FAISS here: the Debian build of FAISS 1.7.3 is compiled for baseline x86-64
// (SSE only, no AVX2 code paths), and its own SQ8 and PQ-fast-scan scanners measured
// 80 ms and 28 ms per query over only 200k × 256 vectors on this machine. One
// hand-written loop, dispatched at run time to an AVX2 version where the CPU has it,
// scans 1M codes in ~16 ms of one core, which is close to the memory bandwidth limit.
#include <cstddef>
#include <cstdint>

namespace unisearch::index::detail {

// Codes are padded with zeros to a multiple of this many bytes, so that the kernels
// never need a tail loop.
inline constexpr size_t kCodeAlign = 16;

inline size_t codeStride(size_t dim)
{
    return (dim + kCodeAlign - 1) / kCodeAlign * kCodeAlign;
}

// Symmetric per-vector quantisation: code = round(x · 127 / max|x|). Writes `stride`
// bytes (zero padding after dim) and returns the scale max|x| / 127 (0 for a zero vector),
// so that x ≈ code · scale.
float quantize(const float *x, size_t dim, size_t stride, int8_t *code);

// The query side is kept as int16 so the kernel can multiply-add pairs without
// saturating (int8 × int8 pair sums overflow int16 in the u8·s8 instructions).
void quantizeQuery(const float *x, size_t dim, size_t stride, int16_t *code);

// out[i] = dot(codes[i], query) · scales[i] for n consecutive codes of `stride` bytes.
// The query's own scale is left out: it is the same for every item and does not
// change the ranking.
void scoreCodes(const int8_t *codes, const float *scales, size_t n, size_t stride,
                const int16_t *query, float *out);

// Name of the kernel picked for this CPU ("avx2" or "generic"), for the benchmark.
const char *kernelName();

} // namespace unisearch::index::detail
