// JPEG XL through libjxl: the first frame, oriented by the decoder (its default: the
// stored orientation is applied and the basic info's size is the upright one).
#include "media/formats_p.h"

#ifdef UNISEARCH_HAVE_LIBJXL
#include <jxl/decode.h>
#include <jxl/decode_cxx.h>
#endif

namespace unisearch::media::formats {

#ifdef UNISEARCH_HAVE_LIBJXL

namespace {

// Runs the decoder over the whole input until the first full frame; fills result.
void runJxl(JxlDecoder *decoder, const DecodeParams &params, DecodedImage &result)
{
    JxlBasicInfo info{};
    for (;;) {
        const JxlDecoderStatus status = JxlDecoderProcessInput(decoder);
        if (status == JXL_DEC_ERROR) {
            result.error = QStringLiteral("truncated or corrupt JPEG XL (the decoder refused the data)");
            return;
        }
        if (status == JXL_DEC_NEED_MORE_INPUT) {
            result.error = QStringLiteral("truncated or corrupt JPEG XL: the file ends before the image data does");
            return;
        }
        if (status == JXL_DEC_BASIC_INFO) {
            if (JxlDecoderGetBasicInfo(decoder, &info) != JXL_DEC_SUCCESS) {
                result.error = QStringLiteral("corrupt JPEG XL: unreadable header");
                return;
            }
            result.originalSize = QSize(int(qMin<quint32>(info.xsize, INT_MAX)), int(qMin<quint32>(info.ysize, INT_MAX)));
            if (const QString tooBig = pixelLimitError(info.xsize, info.ysize, params.maxPixels); !tooBig.isEmpty()) {
                result.error = tooBig;
                return;
            }
        } else if (status == JXL_DEC_NEED_IMAGE_OUT_BUFFER) {
            result.image = QImage(int(info.xsize), int(info.ysize), QImage::Format_RGBA8888);
            if (result.image.isNull()) {
                result.error = QStringLiteral("not enough memory for a %1 JPEG XL").arg(describeImageSize(result.originalSize));
                return;
            }
            const JxlPixelFormat format{4, JXL_TYPE_UINT8, JXL_NATIVE_ENDIAN, size_t(result.image.bytesPerLine())};
            if (JxlDecoderSetImageOutBuffer(decoder, &format, result.image.bits(), size_t(result.image.sizeInBytes()))
                != JXL_DEC_SUCCESS) {
                result.image = QImage();
                result.error = QStringLiteral("cannot decode JPEG XL: the decoder refused the output buffer");
                return;
            }
        } else if (status == JXL_DEC_FULL_IMAGE || status == JXL_DEC_SUCCESS) {
            if (result.image.isNull())
                result.error = QStringLiteral("corrupt JPEG XL: no image in the file");
            else if (!info.alpha_bits)
                result.image = result.image.convertToFormat(QImage::Format_RGB888);
            return;
        }
    }
}

} // namespace

DecodedImage decodeJxl(const QByteArray &data, const DecodeParams &params)
{
    DecodedImage result;
    result.format = "jxl";
    JxlDecoderPtr decoder = JxlDecoderMake(nullptr);
    if (!decoder
        || JxlDecoderSubscribeEvents(decoder.get(), JXL_DEC_BASIC_INFO | JXL_DEC_FULL_IMAGE) != JXL_DEC_SUCCESS
        || JxlDecoderSetInput(decoder.get(), reinterpret_cast<const uint8_t *>(data.constData()), size_t(data.size()))
               != JXL_DEC_SUCCESS) {
        result.error = QStringLiteral("cannot start the JPEG XL decoder");
        return result;
    }
    JxlDecoderCloseInput(decoder.get());
    runJxl(decoder.get(), params, result);
    if (!result.error.isEmpty())
        result.image = QImage();
    return result;
}

#else

DecodedImage decodeJxl(const QByteArray &, const DecodeParams &)
{
    return missingLibrary("jxl", QStringLiteral("JPEG XL"), QStringLiteral("libjxl"), QStringLiteral("libjxl-dev"));
}

#endif

} // namespace unisearch::media::formats
