#pragma once
// QImage → the model's RgbImage, with the semantics of PIL's Image.convert("RGB") that
// the reference preprocessing starts from: grey replicated to three channels, palettes
// expanded, alpha dropped (not composited onto any background).
#include "model/preprocess.h"

class QImage;

namespace unisearch::media {

// Returns an empty RgbImage (0×0) for a null QImage.
// Formats that store RGB unpremultiplied (RGB32, ARGB32, RGBA8888, RGB888, Indexed8,
// Grayscale8...) give the stored values exactly. Premultiplied formats have already lost
// the colour of transparent pixels; they are unpremultiplied as well as Qt can. 16-bit
// formats are rounded to 8 bits by Qt (PIL keeps the high byte of 16-bit RGB PNGs, so a
// value may differ by one).
model::RgbImage toRgbImage(const QImage &image);

} // namespace unisearch::media
