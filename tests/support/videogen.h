#pragma once
// Generating test videos. Videos are made by the tests themselves (never committed), with
// the `ffmpeg` program (Debian's ffmpeg package; FFMPEG=/path overrides) and, where the
// command line cannot express something, with libavformat directly.
#include <QColor>
#include <QImage>
#include <QString>
#include <QStringList>

namespace unisearch::test {

// The ffmpeg program to run, or an empty string when there is none.
QString ffmpegProgram();
// Whether `ffmpeg -encoders` lists the encoder (e.g. "libx264", "libx265", "ffv1").
bool hasEncoder(const QString &name);
// Runs ffmpeg with -hide_banner -loglevel error -nostdin -y before args. Returns an empty
// string on success, else a message with ffmpeg's error output.
QString runFfmpeg(const QStringList &args, int timeoutMs = 120000);

// Frame numbers burnt into the picture as `bits` black/white vertical stripes of stripeWidth
// pixels (bit k of the frame number in stripe k), so that a lossy codec keeps them readable.
// frameCounterSource() is an ffmpeg lavfi source (for -f lavfi -i) of such yuv420p frames,
// bits * stripeWidth by height pixels; readFrameCounter() reads the number back (-1 when a
// stripe is neither clearly black nor white). bits must be even.
QString frameCounterSource(double fps, double durationSec, int bits = 12, int stripeWidth = 64, int height = 64);
int readFrameCounter(const QImage &image, int bits = 10);

// Stream-copies src into dst and gives its video stream a display matrix: a clockwise
// rotation (degrees; 90 is what a phone held upright records, ffprobe shows "rotation of
// -90.00 degrees") and, when hflip, a left-right mirror applied after the rotation (as
// av_display_matrix_flip does). Uses libavformat, because ffmpeg 5.1 has no option for a
// flip, and its "-metadata:s:v rotate=N" tag turns the picture N degrees counter-clockwise.
// Returns an empty string on success, else an error message.
QString remuxWithDisplayMatrix(const QString &src, const QString &dst, int rotationCw, bool hflip);

// Writes the first `fraction` of src's bytes to dst (a partially downloaded file).
bool writeTruncatedCopy(const QString &src, const QString &dst, double fraction);
// Overwrites `count` bytes in the middle of the file with pseudo-random garbage (seeded).
bool corruptMiddle(const QString &path, qint64 count, unsigned seed = 1);

// Mean colour of a rectangle of an image (any format).
QColor meanColor(const QImage &image, const QRect &rect);
// Mean absolute difference per channel (0..255) between two images of the same size.
double meanAbsDiff(const QImage &a, const QImage &b);

// Writes count distinct 32 × 32 PNGs (a colour and a stripe pattern each, from seed) as
// dir/img<i>.png, i zero-padded to digits (0: no padding). False when one cannot be saved.
bool writePatternImages(const QString &dir, int count, unsigned seed, int digits = 0);

} // namespace unisearch::test
