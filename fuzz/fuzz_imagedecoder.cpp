// libFuzzer target: the photo decoding wrapper (media/imagedecoder.h) on bytes in memory,
// then what indexing does with a decoded photo (RGB conversion, the model's resize).
// The pixel limit is lowered so that a valid header for a huge picture is refused rather
// than hitting the fuzzer's memory limit; everything else runs as in the application.
#include "fuzzcheck.h"
#include "qtapp.h"

#include "engine/modelimage.h"
#include "media/imagedecoder.h"
#include "model/preprocess.h"

namespace media = unisearch::media;

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    unisearch::fuzz::ensureCoreApplication();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    media::DecodeParams params;
    params.targetSize = (data[0] & 1) ? 384 : (data[0] & 2) ? 0 : 32;
    params.maxPixels = 4'000'000;
    const QByteArray bytes(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    const media::DecodedImage decoded = media::decodeImageData(bytes, params);
    if (!decoded.ok()) {
        unisearch::fuzz::checkMessage(decoded.error.toStdString());
        return 0;
    }
    if (qint64(decoded.image.width()) * decoded.image.height() > params.maxPixels)
        unisearch::fuzz::fail("decoded more pixels than maxPixels", {});
    const unisearch::model::RgbImage rgb = unisearch::engine::toModelImage(decoded.image);
    unisearch::model::PreprocessParams pre;
    pre.size = 16;
    (void)unisearch::model::preprocess(rgb, pre);
    return 0;
}
