#pragma once
// What the decode pool does with one file before the model: the type check, then the
// image stage (imagestage.h) or the video stage (videostage.h). A stage that runs on
// every file before the model (EXIF metadata, OCR) is called from prepareFile() and
// fills its own field of Processed (record.h). Private to core/engine.
#include "engine/indexing/record.h"
#include "engine/indexing/videostage.h"
#include "media/imagedecoder.h"
#include "model/preprocess.h"

#include <atomic>

namespace unisearch::engine::indexing {

// The stages' settings for one run, taken from the job's params and the model.
struct StageSettings {
    media::DecodeParams decode;     // images
    model::PreprocessParams pre;    // images and video frames
    VideoSettings video;
};

// Runs on a decode thread: everything a file needs before the model. Never throws:
// whatever a file made go wrong (out of memory, a size beyond any limit) fails that
// file, recorded like any other, not the job. Skipped once interrupt is set.
Processed prepareFile(const WorkItem &w, const StageSettings &settings, const std::atomic<bool> &interrupt);

} // namespace unisearch::engine::indexing
