#pragma once
// QImage → tightly packed RGB888, with the semantics of PIL's Image.convert("RGB") that
// the reference preprocessing starts from: grey replicated to three channels, palettes
// expanded, alpha dropped (not composited onto any background). Media's own type: the
// engine hands it to the model as model::RgbImage (engine/modelimage.h).
#include <cstdint>
#include <vector>

class QImage;

namespace unisearch::media {

// Tightly packed RGB888 rows, top to bottom: rgb.size() == width * height * 3.
struct RgbImage {
    int width = 0;
    int height = 0;
    std::vector<uint8_t> rgb;
};

// Returns an empty RgbImage (0×0) for a null QImage.
// Formats that store RGB unpremultiplied (RGB32, ARGB32, RGBA8888, RGB888, Indexed8,
// Grayscale8...) give the stored values exactly. Premultiplied formats have already lost
// the colour of transparent pixels; they are unpremultiplied as well as Qt can. 16-bit
// formats are rounded to 8 bits by Qt (PIL keeps the high byte of 16-bit RGB PNGs, so a
// value may differ by one).
RgbImage toRgbImage(const QImage &image);

} // namespace unisearch::media
