#include "model/preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>

// x86-64's baseline has no 32-bit vector multiply; an AVX2 clone, picked when the library
// loads, makes the resampling kernel about twice as fast on CPUs that have it.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define US_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define US_VECTOR_CLONES
#endif

namespace unisearch::model {
namespace {

// PIL keeps 8-bit resampling weights as fixed point with 22 fractional bits, which leaves
// room for 8-bit pixels times weights summing to a little over 1 in a 32-bit int.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr int32_t kHalf = int32_t(1) << (kPrecisionBits - 1);

// Keys' cubic convolution kernel with a = -0.5 (PIL's BICUBIC), support 2.
double cubicKernel(double x)
{
    constexpr double a = -0.5;
    x = std::abs(x);
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

// For each output sample along one axis: the first input sample it reads, how many it
// reads and their fixed-point weights.
struct AxisWeights {
    int taps = 0;                 // weights stored per output sample
    std::vector<int> first;
    std::vector<int> count;
    std::vector<int32_t> weights; // outSize × taps
};

AxisWeights computeAxisWeights(int inSize, int outSize)
{
    const double scale = double(inSize) / double(outSize);
    // Shrinking widens the kernel by the scale factor, which is what antialiases.
    const double filterScale = std::max(scale, 1.0);
    const double support = 2.0 * filterScale;
    const double invFilterScale = 1.0 / filterScale;

    AxisWeights w;
    w.taps = int(std::ceil(support)) * 2 + 1;
    w.first.resize(size_t(outSize));
    w.count.resize(size_t(outSize));
    w.weights.assign(size_t(outSize) * size_t(w.taps), 0);
    std::vector<double> k(size_t(w.taps));
    for (int i = 0; i < outSize; ++i) {
        const double center = (i + 0.5) * scale;
        // Truncating casts, as PIL does: they decide which samples are read.
        const int lo = std::max(int(center - support + 0.5), 0);
        const int n = std::min(std::min(int(center + support + 0.5), inSize) - lo, w.taps);
        double total = 0.0;
        for (int x = 0; x < n; ++x) {
            k[size_t(x)] = cubicKernel((x + lo - center + 0.5) * invFilterScale);
            total += k[size_t(x)];
        }
        int32_t *dst = w.weights.data() + size_t(i) * size_t(w.taps);
        for (int x = 0; x < n; ++x) {
            const double v = total != 0.0 ? k[size_t(x)] / total : k[size_t(x)];
            const double scaled = v * double(1 << kPrecisionBits);
            dst[x] = int32_t(v < 0 ? scaled - 0.5 : scaled + 0.5); // round half away from zero
        }
        w.first[size_t(i)] = lo;
        w.count[size_t(i)] = std::max(n, 0);
    }
    return w;
}

inline uint8_t clip8(int32_t sum)
{
    const int32_t v = sum >> kPrecisionBits; // arithmetic shift: floor for negatives
    return uint8_t(std::clamp(v, 0, 255));
}

// Resamples along the rows: output row i = Σ weights × input rows first[i]..; each row is
// rowLen bytes. The inner loop runs over whole contiguous rows, so it vectorises.
US_VECTOR_CLONES
void resampleRows(const uint8_t *src, size_t rowLen, const AxisWeights &w, int outRows,
                  uint8_t *dst, int32_t *acc)
{
    for (int i = 0; i < outRows; ++i) {
        std::fill(acc, acc + rowLen, kHalf);
        const int32_t *k = w.weights.data() + size_t(i) * size_t(w.taps);
        for (int t = 0, n = w.count[size_t(i)]; t < n; ++t) {
            const uint8_t *row = src + size_t(w.first[size_t(i)] + t) * rowLen;
            const int32_t weight = k[t];
            for (size_t j = 0; j < rowLen; ++j)
                acc[j] += row[j] * weight;
        }
        uint8_t *out = dst + size_t(i) * rowLen;
        for (size_t j = 0; j < rowLen; ++j)
            out[j] = clip8(acc[j]);
    }
}

// dst (cols × rows pixels) = transpose of src (rows × cols pixels), 3 bytes per pixel.
void transposeRgb(const uint8_t *src, int rows, int cols, uint8_t *dst)
{
    constexpr int kTile = 16;
    for (int y0 = 0; y0 < rows; y0 += kTile) {
        const int y1 = std::min(y0 + kTile, rows);
        for (int x0 = 0; x0 < cols; x0 += kTile) {
            const int x1 = std::min(x0 + kTile, cols);
            for (int x = x0; x < x1; ++x) {
                uint8_t *d = dst + (size_t(x) * size_t(rows) + size_t(y0)) * 3;
                const uint8_t *s = src + (size_t(y0) * size_t(cols) + size_t(x)) * 3;
                for (int y = y0; y < y1; ++y, d += 3, s += size_t(cols) * 3) {
                    d[0] = s[0];
                    d[1] = s[1];
                    d[2] = s[2];
                }
            }
        }
    }
}

// Output height rows of outW pixels from rows of inW pixels. A direct version gathers
// three channels per tap with scalar multiplies; instead each strip of rows is transposed
// so that the same row kernel as the vertical pass does the work, then transposed back.
// The integer sums are the same, so is the result.
void resampleHorizontal(const uint8_t *src, int inW, int height, int outW, uint8_t *dst)
{
    const AxisWeights w = computeAxisWeights(inW, outW);
    constexpr int kStrip = 64; // a strip of a 4000-pixel-wide photo still fits in L2
    std::vector<uint8_t> strip(size_t(inW) * kStrip * 3);
    std::vector<uint8_t> stripOut(size_t(outW) * kStrip * 3);
    std::vector<int32_t> acc(size_t(kStrip) * 3);
    for (int y0 = 0; y0 < height; y0 += kStrip) {
        const int rows = std::min(kStrip, height - y0);
        transposeRgb(src + size_t(y0) * size_t(inW) * 3, rows, inW, strip.data());
        resampleRows(strip.data(), size_t(rows) * 3, w, outW, stripOut.data(), acc.data());
        transposeRgb(stripOut.data(), outW, rows, dst + size_t(y0) * size_t(outW) * 3);
    }
}

void resampleVertical(const uint8_t *src, int width, int inH, int outH, uint8_t *dst)
{
    const AxisWeights w = computeAxisWeights(inH, outH);
    std::vector<int32_t> acc(size_t(width) * 3);
    resampleRows(src, size_t(width) * 3, w, outH, dst, acc.data());
}

void validate(const RgbImage &image)
{
    if (image.width <= 0 || image.height <= 0)
        throw PreprocessError("image is empty (" + std::to_string(image.width) + "×"
                              + std::to_string(image.height) + ")");
    const size_t expected = size_t(image.width) * size_t(image.height) * 3;
    if (image.rgb.size() != expected)
        throw PreprocessError("image of " + std::to_string(image.width) + "×"
                              + std::to_string(image.height) + " pixels holds "
                              + std::to_string(image.rgb.size()) + " bytes, expected "
                              + std::to_string(expected));
}

void validate(const PreprocessParams &params)
{
    if (params.size <= 0)
        throw PreprocessError("preprocess size must be positive, got " + std::to_string(params.size));
    for (float s : params.std)
        if (s == 0.0f || !std::isfinite(s))
            throw PreprocessError("normalisation std must be finite and non-zero");
}

// Resizes into `out` (outW × outH × 3), using `tmp` for the intermediate of a two-pass
// resize. Returns a pointer to the resized pixels (the source itself when no resize).
const uint8_t *resizeTo(const RgbImage &image, int outW, int outH, std::vector<uint8_t> &out,
                        std::vector<uint8_t> &tmp)
{
    const bool horizontal = outW != image.width;
    const bool vertical = outH != image.height;
    if (!horizontal && !vertical)
        return image.rgb.data();
    out.resize(size_t(outW) * size_t(outH) * 3);
    if (horizontal && vertical) {
        tmp.resize(size_t(outW) * size_t(image.height) * 3);
        resampleHorizontal(image.rgb.data(), image.width, image.height, outW, tmp.data());
        resampleVertical(tmp.data(), outW, image.height, outH, out.data());
    } else if (horizontal) {
        resampleHorizontal(image.rgb.data(), image.width, image.height, outW, out.data());
    } else {
        resampleVertical(image.rgb.data(), image.width, image.height, outH, out.data());
    }
    return out.data();
}

} // namespace

RgbImage resizeBicubic(const RgbImage &image, int width, int height)
{
    validate(image);
    if (width <= 0 || height <= 0)
        throw PreprocessError("resize target must be positive, got " + std::to_string(width) + "×"
                              + std::to_string(height));
    RgbImage result;
    result.width = width;
    result.height = height;
    std::vector<uint8_t> tmp;
    const uint8_t *pixels = resizeTo(image, width, height, result.rgb, tmp);
    if (pixels == image.rgb.data())
        result.rgb = image.rgb;
    return result;
}

void preprocessInto(const RgbImage &image, const PreprocessParams &params, float *out)
{
    validate(image);
    validate(params);
    const int s = params.size;
    // Reused per thread: indexing calls this for every image from a few worker threads.
    thread_local std::vector<uint8_t> resized, tmp;
    const uint8_t *pixels = resizeTo(image, s, s, resized, tmp);

    // ToTensor (v / 255 in float32) then Normalize ((x - mean) / std in float32): with
    // only 256 possible inputs per channel a table gives bit-identical values cheaply.
    float table[3][256];
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v)
            table[c][v] = (float(v) / 255.0f - params.mean[size_t(c)]) / params.std[size_t(c)];

    const size_t plane = size_t(s) * size_t(s);
    float *r = out, *g = out + plane, *b = out + 2 * plane;
    for (size_t i = 0; i < plane; ++i) {
        r[i] = table[0][pixels[3 * i]];
        g[i] = table[1][pixels[3 * i + 1]];
        b[i] = table[2][pixels[3 * i + 2]];
    }
}

std::vector<float> preprocess(const RgbImage &image, const PreprocessParams &params)
{
    validate(params);
    std::vector<float> out(preprocessedSize(params));
    preprocessInto(image, params, out.data());
    return out;
}

void preprocessBatch(const std::vector<RgbImage> &images, const PreprocessParams &params, float *out)
{
    validate(params);
    const size_t stride = preprocessedSize(params);
    for (size_t i = 0; i < images.size(); ++i)
        preprocessInto(images[i], params, out + i * stride);
}

} // namespace unisearch::model
