#include "engine/indexing/imagestage.h"

#include "engine/indexing/common.h"
#include "engine/indexing/record.h"
#include "engine/modelimage.h"
#include "media/contenthash.h"
#include "media/filepath.h"

#include <QFile>

namespace unisearch::engine::indexing {

namespace {

// Files up to this size are read once into memory, hashed and decoded from there (one
// read instead of two). Larger ones (rare for photos) are hashed and decoded from disk.
constexpr qint64 maxInMemoryRead = 256LL * 1024 * 1024;

} // namespace

Processed processImage(const WorkItem &w, const media::DecodeParams &decode, const model::PreprocessParams &pre)
{
    Processed p;
    p.work = &w;
    QImage image;
    media::DecodedImage decoded;
    if (w.size <= maxInMemoryRead) {
        QFile file;
        QString error;
        if (!media::openForReading(file, w.path, &error))
            return fail(w, QStringLiteral("read"), QStringLiteral("%1: %2").arg(readErrorPrefix, error));
        const QByteArray data = file.readAll();
        if (file.error() != QFileDevice::NoError)
            return fail(w, QStringLiteral("read"), QStringLiteral("%1: %2").arg(readErrorPrefix, file.errorString()));
        p.hash = media::contentHashOfData(data);
        decoded = media::decodeImageData(data, decode);
    } else {
        const media::ContentHash h = media::contentHash(w.path);
        if (!h.ok())
            return fail(w, QStringLiteral("read"), QStringLiteral("%1: %2").arg(readErrorPrefix, h.error));
        p.hash = h.hash;
        decoded = media::decodeImage(w.path, decode);
    }
    if (!decoded.ok()) {
        Processed f = fail(w, QStringLiteral("decode"), decoded.error.isEmpty() ? QStringLiteral("cannot decode the image")
                                                                                : decoded.error);
        f.hash = p.hash;
        f.width = decoded.originalSize.width();
        f.height = decoded.originalSize.height();
        return f;
    }
    try {
        const model::RgbImage rgb = toModelImage(decoded.image);
        decoded.image = QImage();  // free the decoded pixels before allocating the tensor
        p.pixels.resize(model::preprocessedSize(pre));
        model::preprocessInto(rgb, pre, p.pixels.data());
    } catch (const std::exception &e) {
        Processed f = fail(w, QStringLiteral("decode"), QStringLiteral("cannot prepare the image: %1")
                                                            .arg(QString::fromUtf8(e.what())));
        f.hash = p.hash;
        return f;
    }
    p.outcome = Outcome::Embedded;
    p.width = decoded.originalSize.width();
    p.height = decoded.originalSize.height();
    return p;
}

} // namespace unisearch::engine::indexing
