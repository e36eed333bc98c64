#include "media/videodecoder_p.h"

extern "C" {
#include <libavutil/macros.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
}

#include <algorithm>
#include <chrono>
#include <cmath>
#include <new>
#include <string>

// Colour conversion of a decoded frame to an upright RGB888 QImage: swscale (resizing in
// the source format first), the colour matrix and range, the display orientation.

namespace unisearch::media {

namespace {

// Deprecated "J" formats mean full range; swscale wants the plain format plus the range flag.
AVPixelFormat unJpeg(AVPixelFormat fmt, bool &fullRange)
{
    switch (fmt) {
    case AV_PIX_FMT_YUVJ420P: fullRange = true; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: fullRange = true; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: fullRange = true; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: fullRange = true; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: fullRange = true; return AV_PIX_FMT_YUV411P;
    default: return fmt;
    }
}

// The YUV->RGB matrix swscale should use. Untagged streams follow what players do:
// BT.709 for HD sizes, BT.601 for SD.
int swsColorspace(AVColorSpace space, int width, int height)
{
    switch (space) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: return SWS_CS_ITU601;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return (width >= 1280 || height > 576) ? SWS_CS_ITU709 : SWS_CS_ITU601;
    }
}

// An RGB888 image whose rows have room to spare: swscale's SIMD converters write whole
// blocks of pixels, past the end of a row whose width is not a multiple of 16.
QImage paddedRgbImage(int width, int height)
{
    const qsizetype stride = FFALIGN(qsizetype(width) * 3 + 64, 64);
    auto *buffer = static_cast<uchar *>(av_malloc(size_t(stride) * height + 64));
    if (!buffer)
        throw std::bad_alloc();
    QImage image(buffer, width, height, stride, QImage::Format_RGB888, [](void *p) { av_free(p); }, buffer);
    if (image.isNull()) {
        av_free(buffer);
        throw std::bad_alloc();
    }
    return image;
}

} // namespace

namespace detail {

// Applies an orientation to an RGB888 image.
QImage orient(const QImage &src, const Orientation &o)
{
    if (o.isIdentity())
        return src;
    const int w = src.width(), h = src.height();
    const int ow = o.swapsAxes() ? h : w;
    const int oh = o.swapsAxes() ? w : h;
    QImage dst(ow, oh, QImage::Format_RGB888);
    if (dst.isNull())
        throw std::bad_alloc();
    // Offsets that bring the transformed coordinates back to [0, size).
    const int offX = -(std::min(0, o.a * (w - 1)) + std::min(0, o.c * (h - 1)));
    const int offY = -(std::min(0, o.b * (w - 1)) + std::min(0, o.d * (h - 1)));
    uchar *dbits = dst.bits();
    const qsizetype dstride = dst.bytesPerLine();
    for (int y = 0; y < h; ++y) {
        const uchar *s = src.constScanLine(y);
        for (int x = 0; x < w; ++x, s += 3) {
            const int dx = o.a * x + o.c * y + offX;
            const int dy = o.b * x + o.d * y + offY;
            uchar *p = dbits + dy * dstride + dx * 3;
            p[0] = s[0];
            p[1] = s[1];
            p[2] = s[2];
        }
    }
    return dst;
}

} // namespace detail

using detail::Clock;
using detail::fail;

QImage VideoDecoder::Impl::convert(const AVFrame *frame)
{
    checkStop();
    const auto started = Clock::now();
    bool fullRange = frame->color_range == AVCOL_RANGE_JPEG;
    const AVPixelFormat srcFmt = unJpeg(AVPixelFormat(frame->format), fullRange);
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(srcFmt);
    if (!desc || frame->width <= 0 || frame->height <= 0)
        fail(DecodeError::DecodeFailed, "the decoder returned a frame without a usable format");

    // Output size: display geometry (sample aspect, orientation), scaled down per the options.
    AVRational sar = frame->sample_aspect_ratio;
    if (sar.num <= 0 || sar.den <= 0)
        sar = sampleAspect;
    const double srcDispW = frame->width * av_q2d(sar);
    const double srcDispH = frame->height;
    const double longSide = std::max(srcDispW, srcDispH), shortSide = std::min(srcDispW, srcDispH);
    double scale = 1.0;
    if (options.maxLongSide > 0)
        scale = std::min(scale, options.maxLongSide / longSide);
    if (options.maxShortSide > 0)
        scale = std::min(scale, options.maxShortSide / shortSide);
    const int dstW = std::max(1, int(std::lround(srcDispW * scale)));
    const int dstH = std::max(1, int(std::lround(srcDispH * scale)));

    const int cs = swsColorspace(frame->colorspace, frame->width, frame->height);
    const SwsKey key{frame->width, frame->height, int(srcFmt), dstW, dstH, cs, fullRange ? 1 : 0};
    const bool resize = dstW != frame->width || dstH != frame->height;
    if (!sws || !(key == swsKey)) {
        sws.reset();
        swsScale.reset();
        scaled.reset();
        // Resizing and converting in one swscale pass runs its generic, slow path (about 10 ms
        // for 1080p to 683x384 on one core); resizing in the source format first and then
        // converting the small picture takes a fifth of that. Subsampled chroma (4:2:0, 4:2:2)
        // is resized into 4:4:4: the source's chroma planes hold more than the output needs
        // (960x540 for 1080p), and keeping 4:2:0 at the output size would halve the colour
        // resolution of exactly the picture the model sees.
        if (resize) {
            const bool subsampled = !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3
                                    && (desc->log2_chroma_w > 0 || desc->log2_chroma_h > 0);
            midFmt = subsampled ? (desc->comp[0].depth > 8 ? AV_PIX_FMT_YUV444P16 : AV_PIX_FMT_YUV444P) : srcFmt;
            swsScale.reset(sws_getContext(frame->width, frame->height, srcFmt, dstW, dstH, midFmt, SWS_AREA, nullptr,
                                          nullptr, nullptr));
            scaled = ff::makeFrame();
            scaled->format = midFmt;
            scaled->width = dstW;
            scaled->height = dstH;
            if (!swsScale || av_frame_get_buffer(scaled.get(), 0) < 0)
                fail(DecodeError::DecodeFailed, std::string("cannot scale pixel format ") + desc->name);
        }
        sws.reset(sws_getContext(dstW, dstH, resize ? midFmt : srcFmt, dstW, dstH, AV_PIX_FMT_RGB24, SWS_BICUBIC,
                                 nullptr, nullptr, nullptr));
        if (!sws)
            fail(DecodeError::DecodeFailed, std::string("cannot convert pixel format ") + desc->name + " to RGB");
        if (!(desc->flags & AV_PIX_FMT_FLAG_RGB)) {
            // Limited ("TV") range stretches 16..235 to 0..255; full range is taken as is.
            sws_setColorspaceDetails(sws.get(), sws_getCoefficients(cs), fullRange ? 1 : 0,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
        }
        swsKey = key;
    }

    const AVFrame *src = frame;
    if (resize) {
        if (sws_scale(swsScale.get(), frame->data, frame->linesize, 0, frame->height, scaled->data,
                      scaled->linesize) <= 0)
            fail(DecodeError::DecodeFailed, "scaling failed");
        src = scaled.get();
    }
    QImage image = paddedRgbImage(dstW, dstH);
    uint8_t *dst[4] = {image.bits(), nullptr, nullptr, nullptr};
    int dstStride[4] = {int(image.bytesPerLine()), 0, 0, 0};
    if (sws_scale(sws.get(), src->data, src->linesize, 0, dstH, dst, dstStride) <= 0)
        fail(DecodeError::DecodeFailed, "colour conversion failed");
    ++stats.framesConverted;
    image = detail::orient(image, orientation);
    stats.convertSeconds += std::chrono::duration<double>(Clock::now() - started).count();
    return image;
}

} // namespace unisearch::media
