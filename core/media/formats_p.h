#pragma once
// Photo formats Qt does not read, each through the library made for it: HEIC/HEIF and AVIF
// (libheif), JPEG XL (libjxl) and camera RAW (LibRaw). Private to media/imagedecoder.cpp,
// which picks the reader from the content. When a library was not found at configure
// time its .cpp compiles a stub whose error names the Debian package to install.
#include "media/imagedecoder.h"

#include <QByteArray>
#include <QByteArrayView>

#include <optional>

namespace unisearch::media::formats {

enum class Family { Other, Heif, Jxl, Raw, Tiff };

// What the first bytes say: an ISO-BMFF image (HEIC, HEIF, AVIF), a JPEG XL codestream or
// container, a camera RAW with its own signature (CR3, RAF, ORF, RW2), a TIFF (which may be
// a DNG, CR2, NEF, ARW, PEF or SRW: only LibRaw can tell), or anything else.
Family sniff(QByteArrayView head);

// Each decodes the primary image upright (irot/imir, JPEG XL orientation, the camera's
// flip), refuses more than params.maxPixels before decoding, and sets format and
// originalSize (full size, upright). Nothing throws.
DecodedImage decodeHeif(const QByteArray &data, const DecodeParams &params);
DecodedImage decodeJxl(const QByteArray &data, const DecodeParams &params);
// A RAW: the embedded preview when its long edge is at least rawPreviewMinLongEdge and its
// short edge at least params.targetSize, else a half-size demosaic. With tiffFallback a
// TIFF LibRaw does not recognise as a camera RAW gives nullopt (Qt's TIFF reader is next).
inline constexpr int rawPreviewMinLongEdge = 512;
std::optional<DecodedImage> decodeRaw(const QByteArray &data, const DecodeParams &params, bool tiffFallback);

// The stubs' error when a library was not found at configure time, e.g. "cannot decode
// JPEG XL: Unisearch was built without libjxl (install libjxl-dev and rebuild)".
DecodedImage missingLibrary(const QByteArray &format, const QString &what, const QString &library,
                            const QString &package);

// "image is 30000×30000 (900 MP), above the 200 MP limit", or empty when within it.
QString pixelLimitError(qint64 width, qint64 height, qint64 maxPixels);

} // namespace unisearch::media::formats
