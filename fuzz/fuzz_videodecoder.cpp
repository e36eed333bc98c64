// libFuzzer target: the video wrapper (media/videodecoder.h) on a file of arbitrary bytes:
// open/probe, then frames at a few times, as indexing and thumbnails take them. Bounded in
// time (DecodeLimits budgets of a few seconds), memory (maxPixels, small output size) and
// work (a fixed number of times, whatever duration the file claims: a duration is a claim).
#include "fuzzcheck.h"
#include "qtapp.h"
#include "fuzzsupport.h"

#include "media/videodecoder.h"


#include <algorithm>
#include <cmath>

namespace media = unisearch::media;

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    unisearch::fuzz::ensureCoreApplication();
    media::installFfmpegLogHandler(); // FFmpeg's complaints about broken input are expected
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const auto path = unisearch::fuzz::writeInput("input.video", data, size);
    media::DecodeOptions options;
    options.maxLongSide = 64;
    options.maxShortSide = 64;
    options.threads = 1;
    options.limits.callBudgetSec = 2;
    options.limits.timeBudgetSec = 4;
    options.limits.timeBudgetPerVideoSec = 0;
    options.limits.maxPixels = 1920LL * 1088;
    media::VideoDecoder decoder(options);
    QString error;
    const auto info = decoder.open(QString::fromStdString(path.string()), &error);
    if (!info) {
        unisearch::fuzz::checkMessage(error.toStdString());
        return 0;
    }
    const double duration = info->durationSec;
    std::vector<double> times = media::uniformTimes(std::isfinite(duration) ? duration : 0, 3);
    times.push_back(0);
    const media::SampleResult sampled = decoder.sample(times);
    if (sampled.frames.size() > times.size())
        unisearch::fuzz::fail("sample() returned more frames than times", {});
    for (const media::VideoFrame &f : sampled.frames)
        if (f.image.width() > 64 || f.image.height() > 64)
            unisearch::fuzz::fail("a frame is larger than maxLongSide", {});
    if (!sampled.ok())
        unisearch::fuzz::checkMessage(sampled.errorString.toStdString());
    const auto last = decoder.frameAt(std::isfinite(duration) ? duration + 1 : 1e9, &error);
    if (!last)
        unisearch::fuzz::checkMessage(error.toStdString());
    return 0;
}
