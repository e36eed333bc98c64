#pragma once
// Video frames as the model sees them: sampled with media::VideoDecoder, scaled during
// colour conversion so that the short side is the model's input size (area averaging:
// nothing the squash to S × S could use is lost, and 1080p/4K conversion stays cheap),
// then preprocessed (PIL-exact bicubic squash to S × S, normalisation) into CHW floats.
//
// Shared by the indexer (segments and the video-level frames), the search's video
// re-rank and the inference service (ask/itm/embed of a video file). Private to
// core/engine.
#include "media/videodecoder.h"
#include "model/preprocess.h"

#include <QString>

#include <optional>
#include <vector>

namespace unisearch::engine::detail {

// Decoder options for frames that go to a model of input size imageSize.
media::DecodeOptions modelDecodeOptions(int imageSize, const media::DecodeLimits &limits = {}, int threads = 0);

// Appends the preprocessed pixels of each frame to out (size() grows by
// preprocessedSize(pre) per frame). Throws model::PreprocessError on a bad frame.
void appendPixels(const std::vector<media::VideoFrame> &frames, const model::PreprocessParams &pre,
                  std::vector<float> &out);

struct VideoPixels {
    QString error;               // empty on success; a sentence naming the file
    media::VideoInfo info;
    std::vector<double> times;   // the frames' presentation times, seconds
    std::vector<float> pixels;   // times.size() × preprocessedSize(pre)
    bool ok() const { return error.isEmpty(); }
};

// T frames of a video file: T uniformly sampled (media::uniformTimes, as the model's video
// path takes them), or, with atSec, the one frame nearest atSec (which must lie inside the
// video). Never throws.
VideoPixels sampleVideoPixels(const QString &path, const model::PreprocessParams &pre, int count,
                              std::optional<double> atSec = std::nullopt, const media::DecodeLimits &limits = {});

} // namespace unisearch::engine::detail
