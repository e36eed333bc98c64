#include "support/images.h"

#include <QColor>
#include <QPainter>
#include <QRandomGenerator>

namespace unisearch::test {

QImage randomImage(int width, int height, quint32 seed, bool noise)
{
    QRandomGenerator rng(seed);
    QImage img(width, height, QImage::Format_RGB32);
    img.fill(QColor::fromRgb(rng.generate()));
    QPainter p(&img);
    for (int i = 0; i < 6; ++i)
        p.fillRect(rng.bounded(width), rng.bounded(height), 1 + rng.bounded(width), 1 + rng.bounded(height),
                   QColor::fromRgb(rng.generate()));
    p.end();
    if (noise) {
        for (int i = 0; i < width * height / 16; ++i)
            img.setPixel(rng.bounded(width), rng.bounded(height), rng.generate());
    }
    return img;
}

} // namespace unisearch::test
