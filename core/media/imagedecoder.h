#pragma once
// Decoding photos for indexing and display, with Qt's image reader, and HEIC/HEIF/AVIF,
// JPEG XL and camera RAW through libheif, libjxl and LibRaw (chosen by content, see
// formats_p.h; their own orientation rules apply: irot/imir, the JPEG XL header, the
// camera's flip; a RAW gives its embedded preview when large enough, else a half-size
// demosaic, so its image can be smaller than originalSize).
//
// - EXIF orientation is applied (a portrait phone photo comes out portrait).
// - JPEGs are decoded near the model's input size: libjpeg scales by M/8 inside the DCT,
//   which is several times faster than decoding 24 MP and shrinking. The scale is chosen so
//   the short side never drops below targetSize: the model's preprocessing still does the
//   final, antialiased resize. Other formats are decoded at full size (their readers would
//   only decode fully and then resample, which gains nothing and adds a second resample).
// - Decompression bombs are refused from the header, before any pixel memory is taken:
//   the pixel count is checked against maxPixels (and Qt's process-wide allocation limit is
//   raised to fit exactly that, as its default of 128 MB refuses ordinary 40 MP photos).
// - Truncated JPEGs are refused (Qt would silently fill the missing part with grey).
// - Every failure is a DecodedImage with an error a person understands; nothing throws.
//
// The image is returned in the format Qt decoded it to (RGB32 for JPEG incl. CMYK,
// ARGB32, Indexed8, Grayscale8/16, RGBA64 for 16-bit PNG, ...); converting it to the
// model's RGB is imageconvert's job. Thread-safe: decode from any number of threads.
#include <QByteArray>
#include <QImage>
#include <QSize>
#include <QString>

namespace unisearch::media {

struct DecodeParams {
    // Decode so that the short side is at least this many pixels, when the format can
    // decode scaled (JPEG). 0 or less: always full size.
    int targetSize = 384;
    // Refuse images with more pixels than this (width × height, from the header).
    qint64 maxPixels = 200'000'000;
};

struct DecodedImage {
    QImage image;         // null on failure
    QSize originalSize;   // full size after EXIF orientation, before scaling (the catalog's
                          // width/height); also set when only the pixel limit refused it
    QByteArray format;    // Qt's format name ("jpeg", "png", "gif", ...); empty if unknown
    QString error;        // why image is null, e.g. "truncated or corrupt JPEG: ..."
    bool ok() const { return !image.isNull(); }
};

// Decodes the file at path (any file name, see filepath.h). Animated images give their
// first frame.
DecodedImage decodeImage(const QString &path, const DecodeParams &params = {});
// The same from bytes in memory.
DecodedImage decodeImageData(const QByteArray &data, const DecodeParams &params = {});

// A display thumbnail: oriented, at most maxSide pixels on its long side, in
// Format_RGB32 or Format_ARGB32_Premultiplied (fast to paint). Null on failure, with the
// reason in *error.
QImage thumbnail(const QString &path, int maxSide, QString *error = nullptr);

// "30000×30000 (900 MP)" style text, used in error messages.
QString describeImageSize(const QSize &size);

} // namespace unisearch::media
