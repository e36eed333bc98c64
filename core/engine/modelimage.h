#pragma once
// QImage → the model's input image: media's PIL-style conversion to RGB (media/imageconvert.h)
// handed over as model::RgbImage. Here rather than in core/media, which does not know the model.
#include "media/imageconvert.h"
#include "model/preprocess.h"

#include <QImage>

#include <utility>

namespace unisearch::engine {

inline model::RgbImage toModelImage(media::RgbImage image)
{
    return model::RgbImage{image.width, image.height, std::move(image.rgb)};
}

inline model::RgbImage toModelImage(const QImage &image)
{
    return toModelImage(media::toRgbImage(image));
}

} // namespace unisearch::engine
