#pragma once
// Image preprocessing of BLIP/UniAdapter's test transform:
//   Resize((S, S), BICUBIC) as PIL does it → ToTensor → Normalize(mean, std),
// producing CHW float32 planes. The resampling reproduces PIL's: separable (horizontal
// then vertical), Keys cubic with a = -0.5, the kernel widened by the scale factor when
// shrinking (antialiasing), 8-bit fixed-point weights and rounding to uint8 after each pass.
#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace unisearch::model {

// Tightly packed RGB888 rows, top to bottom: rgb.size() == width * height * 3.
struct RgbImage {
    int width = 0;
    int height = 0;
    std::vector<uint8_t> rgb;
};

struct PreprocessParams {
    int size = 384;                                              // output is size × size
    std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f}; // BLIP's (CLIP's) values
    std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

struct PreprocessError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// PIL's Image.resize((width, height), Image.BICUBIC) for an RGB image; a copy when the
// size does not change. Throws PreprocessError for an empty or inconsistent image.
RgbImage resizeBicubic(const RgbImage &image, int width, int height);

// 3 × size × size floats, channel-major. Throws PreprocessError for an empty or
// inconsistent image, a non-positive size or a zero std.
std::vector<float> preprocess(const RgbImage &image, const PreprocessParams &params = {});
// The same, written to out[0 .. 3·size·size).
void preprocessInto(const RgbImage &image, const PreprocessParams &params, float *out);
// N images into out[0 .. N·3·size·size), ready to be wrapped as an N×3×S×S tensor.
void preprocessBatch(const std::vector<RgbImage> &images, const PreprocessParams &params, float *out);

inline size_t preprocessedSize(const PreprocessParams &params)
{
    return size_t(3) * size_t(params.size) * size_t(params.size);
}

} // namespace unisearch::model
