#pragma once
// Pictures the tests make.
#include <QImage>

namespace unisearch::test {

// A random-looking picture, different for every seed: a background colour and six blocks
// of colour, plus (noise) one pixel in sixteen set to a random colour.
QImage randomImage(int width, int height, quint32 seed, bool noise = true);

} // namespace unisearch::test
