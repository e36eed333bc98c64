#pragma once
// Text inside pictures: the OCR pass of an index job, after the photos are embedded and
// searchable (indexjob.h). It reads the indexed images whose OCR is pending (new, changed,
// or read with other languages; catalog.h pendingOcr), runs Tesseract (media/ocr.h) on a
// small pool of low-priority threads (one Tesseract per thread), and stores the text in
// transactions of `commitEvery` images, so a kill loses at most the images in flight and a
// restart does not redo the done ones. A video is one unit: one frame per segment (its
// middle) is read and the video's text is the union of the frames' lines, repeated lines
// once (videoFrameTimes); a video that cannot be decoded is marked as an OCR error.
#include "media/ocr.h"

#include <QString>
#include <QList>
#include <QStringList>

#include <functional>

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine::indexing {

struct OcrPassSettings {
    QStringList languages{QStringLiteral("eng")};
    int threads = 0;          // 0: half the cores (at least 1): the pass stays in the background
    int commitEvery = 8;      // images per transaction
    int maxEdge = 1600;       // media::OcrOptions::maxEdge
    qint64 maxPixels = 200'000'000;  // larger images are not decoded (decompression bombs)
    int maxVideoFrames = 120;  // frames read per video: more segments are sampled evenly
};

struct OcrPassResult {
    bool ok = true;
    bool cancelled = false;
    QString error;       // !ok: why the pass stopped (e.g. a language is not installed)
    qint64 total = 0;    // images and videos pending at the start
    qint64 done = 0;     // images read (with or without text)
    qint64 withText = 0; // of them, with some text
    qint64 failed = 0;   // could not be decoded or read
    double seconds = 0;
};

// progress(done, total) after each transaction; false stops the pass (done images stay done).
using OcrProgressFn = std::function<bool(qint64 done, qint64 total)>;

// Never throws.
OcrPassResult runOcrPass(catalog::Catalog &catalog, const OcrPassSettings &settings, const OcrProgressFn &progress);

// The times (seconds) of the frames the pass reads in a video: the middle of each segment
// with a time range, in order, at most maxFrames (> 0) spread evenly.
QList<double> videoFrameTimes(const catalog::Catalog &catalog, std::int64_t itemId, int maxFrames);

// The languages as stored with the text: sorted, "+"-joined (e.g. "deu+eng").
QString ocrLanguageKey(const QStringList &languages);

} // namespace unisearch::engine::indexing
