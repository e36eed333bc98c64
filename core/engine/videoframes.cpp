#include "engine/videoframes_p.h"

#include "engine/inference.h"
#include "engine/modelimage.h"

#include <QDir>
#include <QRegularExpression>

#include <algorithm>
#include <cmath>

namespace unisearch::engine::detail {

media::DecodeOptions modelDecodeOptions(int imageSize, const media::DecodeLimits &limits, int threads)
{
    media::DecodeOptions o;
    o.maxShortSide = imageSize;
    o.threads = threads;
    o.limits = limits;
    return o;
}

void appendPixels(const std::vector<media::VideoFrame> &frames, const model::PreprocessParams &pre,
                  std::vector<float> &out)
{
    const size_t per = model::preprocessedSize(pre);
    for (const media::VideoFrame &f : frames) {
        const size_t at = out.size();
        out.resize(at + per);
        model::preprocessInto(toModelImage(f.image), pre, out.data() + at);
    }
}

VideoPixels sampleVideoPixels(const QString &path, const model::PreprocessParams &pre, int count,
                              std::optional<double> atSec, const media::DecodeLimits &limits)
{
    VideoPixels r;
    const QString name = QDir::toNativeSeparators(path);
    media::VideoDecoder decoder(modelDecodeOptions(pre.size, limits));
    QString why;
    const auto opened = decoder.open(path, &why);
    if (!opened) {
        r.error = QStringLiteral("Cannot read the video %1: %2").arg(name, why);
        return r;
    }
    r.info = *opened;
    std::vector<double> times;
    if (atSec) {
        if (*atSec < 0 || (r.info.durationSec > 0 && *atSec > r.info.durationSec)) {
            r.error = QStringLiteral("%1 lasts %2 s: the time %3 s lies outside it.")
                          .arg(name)
                          .arg(r.info.durationSec, 0, 'f', 2)
                          .arg(*atSec, 0, 'f', 2);
            return r;
        }
        times = {*atSec};
    } else {
        times = media::uniformTimes(r.info.durationSec, std::max(1, count));
        if (times.empty()) {
            r.error = QStringLiteral("Cannot sample the video %1: its duration is unknown or zero.").arg(name);
            return r;
        }
    }
    const media::SampleResult sampled = decoder.sample(times);
    if (!sampled.ok() || sampled.frames.size() != times.size()) {
        const QString why = !sampled.ok() ? sampled.errorString
                                          : (sampled.failedReason.isEmpty() ? QStringLiteral("damaged frames")
                                                                            : sampled.failedReason);
        r.error = QStringLiteral("Cannot take frames from the video %1: %2").arg(name, why);
        return r;
    }
    try {
        appendPixels(sampled.frames, pre, r.pixels);
    } catch (const std::exception &e) {
        r.error = QStringLiteral("Cannot use the frames of %1: %2").arg(name, QString::fromUtf8(e.what()));
        r.pixels.clear();
        return r;
    }
    for (const media::VideoFrame &f : sampled.frames)
        r.times.push_back(f.timeSec);
    return r;
}

} // namespace unisearch::engine::detail

namespace unisearch::engine {

std::optional<double> parseVideoTime(const QString &text)
{
    // seconds | mm:ss | hh:mm:ss; the last part may have a fraction; minutes and seconds
    // after a colon stay below 60 (the first part may be any size: 90:00 is 90 minutes).
    static const QRegularExpression number(QStringLiteral("^\\d+$"));
    static const QRegularExpression seconds(QStringLiteral("^(\\d+(\\.\\d*)?|\\.\\d+)$"));
    const QStringList parts = text.trimmed().split(QLatin1Char(':'));
    if (parts.size() > 3 || !seconds.match(parts.last()).hasMatch())
        return std::nullopt;
    double t = 0;
    for (qsizetype i = 0; i + 1 < parts.size(); ++i) {
        if (!number.match(parts[i]).hasMatch())
            return std::nullopt;
        const double v = parts[i].toDouble();
        if (i > 0 && v >= 60)
            return std::nullopt;
        t = t * 60 + v;
    }
    const double s = parts.last().toDouble();
    if (parts.size() > 1 && s >= 60)
        return std::nullopt;
    t = t * 60 * (parts.size() > 1 ? 1 : 0) + s;
    return std::isfinite(t) ? std::optional<double>(t) : std::nullopt;
}

} // namespace unisearch::engine
