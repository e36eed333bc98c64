#pragma once
// Text inside pictures: a Tesseract 5 wrapper (QImage in, text out). The image is
// converted to 8-bit grey and downscaled so its long edge is at most OcrOptions::maxEdge
// first (Tesseract's cost grows with the pixels; text a person can read at that size
// stays readable). No Tesseract type leaks out of this header.
//
// Threads: an OcrEngine holds one Tesseract instance, which is not thread-safe: use one
// engine per thread.
#include <QImage>
#include <QString>
#include <QStringList>

#include <memory>
#include <optional>

namespace unisearch::media {

struct OcrOptions {
    QStringList languages{QStringLiteral("eng")};  // tessdata names, e.g. eng, deu
    int maxEdge = 1600;      // long edge in pixels the image is downscaled to (never scaled up)
    int minEdge = 16;        // smaller images hold no readable text: skipped
    int minConfidence = 50;  // words Tesseract is less sure of (0..100) are dropped
    int maxChars = 8000;     // text kept per image
};

// The languages installed for Tesseract (its tessdata folder: TESSDATA_PREFIX or the
// system one), sorted, without "osd" (orientation detection, not a language).
QStringList installedOcrLanguages();

class OcrEngine
{
public:
    // Loads Tesseract with options.languages; null with *error when one is not installed
    // or Tesseract cannot start.
    static std::unique_ptr<OcrEngine> create(const OcrOptions &options = {}, QString *error = nullptr);
    ~OcrEngine();
    OcrEngine(const OcrEngine &) = delete;
    OcrEngine &operator=(const OcrEngine &) = delete;

    // The words read in image (downscaled first), separated by single spaces and newlines;
    // empty when none. nullopt with *error when Tesseract fails on it.
    std::optional<QString> read(const QImage &image, QString *error = nullptr);

    const OcrOptions &options() const;

private:
    struct Private;
    explicit OcrEngine(std::unique_ptr<Private> d);
    std::unique_ptr<Private> d;
};

} // namespace unisearch::media
