#pragma once
// The image stage (on a decode thread): read the file once, hash it, decode it (size
// limits against decompression bombs) and preprocess it into the model's input.
// Private to core/engine.
#include "media/imagedecoder.h"
#include "model/preprocess.h"

namespace unisearch::engine::indexing {

struct WorkItem;
struct Processed;

// Embedded with its pixels, or Failed (read, decode).
Processed processImage(const WorkItem &w, const media::DecodeParams &decode, const model::PreprocessParams &pre);

} // namespace unisearch::engine::indexing
