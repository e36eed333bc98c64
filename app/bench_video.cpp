// `unisearch-bench video`: what frame sampling costs on a long 1080p clip, against the naive
// way (decode every frame). The clip is generated with the ffmpeg program into a temporary
// folder (or given with --clip), so the numbers can be reproduced anywhere.
#include "bench_video.h"

#include "media/videodecoder.h"
#include "engine/indexjob.h"
#include "engine/retrievalmodel.h"
#include "model/architecture.h"
#include "model/modelrunner.h"

#include <QByteArray>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

using namespace unisearch::media;

namespace {

struct Params {
    double minutes = 10;
    int width = 1920, height = 1080;
    int fps = 30;
    int gop = 60;               // frames between keyframes: 2 s at 30 fps, as phones and cameras do
    QString preset = QStringLiteral("ultrafast");
    double segmentSec = 4.0;    // the indexer's default sampling
    int uniformCount = 8;       // frames for the video-level feature
    int maxShortSide = 384;     // conversion straight to about the model's input size
    int threads = 0;            // 0: FFmpeg's choice
    bool naive = true;
    bool singleThread = true;   // also measure with one decoder thread
    QString clip;               // use this file instead of generating one
    QString keep;               // keep the generated clip here
    double modelMsPerFrame = 0; // optional: the model's time per frame, for the decode share
    bool json = false;
    bool index = false;         // also index the clip with a full-size random float32 model
    int imageSize = 384;        // the model's input for --index
};

void usage(FILE *out)
{
    std::fprintf(out,
                 "usage: unisearch-bench video [options]\n"
                 "Generates a clip with ffmpeg (testsrc2, H.264 %s), then times frame sampling with\n"
                 "seeking against decoding every frame.\n"
                 "  --minutes M         clip length (10)\n"
                 "  --size WxH          frame size (1920x1080)\n"
                 "  --fps N             frame rate (30)\n"
                 "  --gop N             frames between keyframes (60)\n"
                 "  --preset P          x264 preset (ultrafast)\n"
                 "  --segment S         seconds per sampled segment (4)\n"
                 "  --uniform T         frames for the video-level feature (8)\n"
                 "  --max-short-side N  convert to at most N pixels on the short side (384; 0: full size)\n"
                 "  --threads N         decoder threads (0: FFmpeg's choice)\n"
                 "  --no-naive          skip decoding every frame\n"
                 "  --no-single-thread  skip the one-thread run\n"
                 "  --clip FILE         measure this file instead of generating one\n"
                 "  --keep FILE         keep the generated clip as FILE\n"
                 "  --model-ms X        model time per frame (ms), to report decoding's share\n"
                 "  --index             also run the indexing job on the clip with a full-size random\n"
                 "                      float32 model: decoding time against the model's time on the\n"
                 "                      same frames (slow on a CPU: minutes)\n"
                 "  --image-size N      the model's input size for --index (384)\n"
                 "  --json              one JSON document on stdout\n",
                 "ultrafast");
}

std::optional<Params> parse(int argc, char **argv, int &exitCode)
{
    Params p;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char * {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "unisearch-bench video: %s needs a value\n", a.c_str());
                return nullptr;
            }
            return argv[++i];
        };
        const char *v = nullptr;
        if (a == "--help" || a == "-h") {
            usage(stdout);
            exitCode = 0;
            return std::nullopt;
        } else if (a == "--json") {
            p.json = true;
        } else if (a == "--no-naive") {
            p.naive = false;
        } else if (a == "--no-single-thread") {
            p.singleThread = false;
        } else if (a == "--index") {
            p.index = true;
        } else if (a == "--image-size" && (v = value())) {
            p.imageSize = std::atoi(v);
        } else if (a == "--minutes" && (v = value())) {
            p.minutes = std::atof(v);
        } else if (a == "--size" && (v = value())) {
            if (std::sscanf(v, "%dx%d", &p.width, &p.height) != 2)
                v = nullptr;
        } else if (a == "--fps" && (v = value())) {
            p.fps = std::atoi(v);
        } else if (a == "--gop" && (v = value())) {
            p.gop = std::atoi(v);
        } else if (a == "--preset" && (v = value())) {
            p.preset = QString::fromLocal8Bit(v);
        } else if (a == "--segment" && (v = value())) {
            p.segmentSec = std::atof(v);
        } else if (a == "--uniform" && (v = value())) {
            p.uniformCount = std::atoi(v);
        } else if (a == "--max-short-side" && (v = value())) {
            p.maxShortSide = std::atoi(v);
        } else if (a == "--threads" && (v = value())) {
            p.threads = std::atoi(v);
        } else if (a == "--clip" && (v = value())) {
            p.clip = QString::fromLocal8Bit(v);
        } else if (a == "--keep" && (v = value())) {
            p.keep = QString::fromLocal8Bit(v);
        } else if (a == "--model-ms" && (v = value())) {
            p.modelMsPerFrame = std::atof(v);
        } else {
            std::fprintf(stderr, "unisearch-bench video: unknown or incomplete option '%s'\n", a.c_str());
            usage(stderr);
            exitCode = 2;
            return std::nullopt;
        }
        if (a != "--json" && a != "--no-naive" && a != "--no-single-thread" && a != "--index" && !v) {
            std::fprintf(stderr, "unisearch-bench video: bad value for %s\n", a.c_str());
            exitCode = 2;
            return std::nullopt;
        }
    }
    if (p.minutes <= 0 || p.width <= 0 || p.height <= 0 || p.fps <= 0 || p.gop <= 0 || p.segmentSec <= 0) {
        std::fprintf(stderr, "unisearch-bench video: sizes, rates and lengths must be positive\n");
        exitCode = 2;
        return std::nullopt;
    }
    return p;
}

bool generateClip(const Params &p, const QString &path)
{
    const QString ffmpeg = QStandardPaths::findExecutable(QStringLiteral("ffmpeg"));
    if (ffmpeg.isEmpty()) {
        std::fprintf(stderr, "unisearch-bench video: the ffmpeg program is needed to generate the clip "
                             "(apt-get install ffmpeg), or pass --clip FILE\n");
        return false;
    }
    const QStringList args{
        QStringLiteral("-hide_banner"), QStringLiteral("-loglevel"), QStringLiteral("error"), QStringLiteral("-nostdin"),
        QStringLiteral("-y"), QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"),
        QStringLiteral("testsrc2=size=%1x%2:rate=%3:duration=%4").arg(p.width).arg(p.height).arg(p.fps).arg(p.minutes * 60),
        QStringLiteral("-c:v"), QStringLiteral("libx264"), QStringLiteral("-preset"), p.preset, QStringLiteral("-g"),
        QString::number(p.gop), QStringLiteral("-pix_fmt"), QStringLiteral("yuv420p"), path};
    std::fprintf(stderr, "generating a %.0f-minute %dx%d clip (ffmpeg %s)...\n", p.minutes, p.width, p.height,
                 qPrintable(args.join(QLatin1Char(' '))));
    QElapsedTimer t;
    t.start();
    QProcess proc;
    proc.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    proc.start(ffmpeg, args);
    if (!proc.waitForFinished(-1) || proc.exitStatus() != QProcess::NormalExit || proc.exitCode() != 0) {
        std::fprintf(stderr, "unisearch-bench video: ffmpeg failed\n");
        return false;
    }
    std::fprintf(stderr, "generated in %.1f s\n", t.elapsed() / 1000.0);
    return true;
}

struct Run {
    QString name;
    int requested = 0;
    int taken = 0;
    DecodeStats stats;
    double seconds = 0;
    double cpuSeconds = 0; // all threads: comparable across runs even on a busy machine
    QString error;
};

double processCpuSeconds()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + ts.tv_nsec / 1e9;
}

Run measure(const QString &name, const QString &path, DecodeOptions options, const std::vector<double> &times)
{
    Run r;
    r.name = name;
    r.requested = int(times.size());
    // No budget: this measures, it does not protect.
    options.limits.callBudgetSec = 1e9;
    options.limits.timeBudgetSec = 1e9;
    VideoDecoder decoder(options);
    QElapsedTimer t;
    t.start();
    const double cpu0 = processCpuSeconds();
    const auto info = decoder.open(path, &r.error);
    if (!info)
        return r;
    const SampleResult s = decoder.sample(times);
    r.seconds = t.nsecsElapsed() / 1e9;
    r.cpuSeconds = processCpuSeconds() - cpu0;
    r.taken = int(s.frames.size());
    r.stats = decoder.stats();
    if (!s.ok())
        r.error = s.errorString;
    else if (!s.failedTimes.empty())
        r.error = s.failedReason;
    std::fprintf(stderr, "  %-34s %.2f s (CPU %.2f s)\n", qPrintable(name), r.seconds, r.cpuSeconds);
    return r;
}

struct IndexRun {
    bool ran = false;
    QString error;
    unisearch::engine::IndexResult result;
};

// The real indexing job on the clip (segments every segmentSec s plus T uniform frames,
// decoded on the decode pool while the model embeds), with a full-size model of random
// float32 weights (the speed does not depend on the values).
IndexRun indexClip(const QString &path, const Params &p)
{
    using namespace unisearch;
    IndexRun out;
    out.ran = true;
    QTemporaryDir data;
    model::Architecture arch;  // BLIP-base: ViT-B/16, BERT-base, adapters, embed 256
    arch.vision.imageSize = p.imageSize;
    QString error;
    std::shared_ptr<engine::RetrievalModel> m;
    try {
        m = engine::RetrievalModel::fromRunner(model::ModelRunner::random(arch, {"cpu", false, 0}),
                                               QStringLiteral("random"), QStringLiteral("bench-random"), &error);
    } catch (const std::exception &e) {
        error = QString::fromUtf8(e.what());
    }
    if (!m) {
        out.error = error;
        return out;
    }
    engine::IndexParams ip;
    ip.dataDir = data.path();
    ip.paths = {path};
    ip.model = m;
    ip.videoSegmentSeconds = p.segmentSec;
    ip.videoFrames = p.uniformCount;
    std::fprintf(stderr, "indexing %s with a random %d px float32 model...\n", qPrintable(path), p.imageSize);
    engine::IndexJob job(ip);
    out.result = job.run([](const engine::IndexProgress &) { return true; });
    if (!out.result.ok)
        out.error = out.result.error;
    else if (out.result.failed > 0 && !out.result.errors.isEmpty())
        out.error = out.result.errors.front().message;
    return out;
}

} // namespace

int runVideoBench(int argc, char **argv)
{
    int exitCode = 0;
    const auto parsed = parse(argc, argv, exitCode);
    if (!parsed)
        return exitCode;
    const Params p = *parsed;

    std::optional<QCoreApplication> app; // QStandardPaths and QProcess want one
    if (!QCoreApplication::instance()) {
        static int fakeArgc = 1;
        static char name[] = "unisearch-bench";
        static char *fakeArgv[] = {name, nullptr};
        app.emplace(fakeArgc, fakeArgv);
    }

    QTemporaryDir tmp;
    QString path = p.clip;
    if (path.isEmpty()) {
        path = p.keep.isEmpty() ? tmp.filePath(QStringLiteral("bench.mp4")) : p.keep;
        if (!p.keep.isEmpty() && QFileInfo::exists(path)) {
            std::fprintf(stderr, "reusing %s\n", qPrintable(path));
        } else if (!generateClip(p, path)) {
            return 1;
        }
    }

    VideoDecoder probe;
    QString error;
    const auto info = probe.open(path, &error);
    if (!info) {
        std::fprintf(stderr, "unisearch-bench video: %s: %s\n", qPrintable(path), qPrintable(error));
        return 1;
    }
    probe.close();
    const qint64 bytes = QFileInfo(path).size();

    const auto segTimes = segmentTimes(info->durationSec, p.segmentSec);
    const auto uniTimes = uniformTimes(info->durationSec, p.uniformCount);
    DecodeOptions options;
    options.maxShortSide = p.maxShortSide;
    options.threads = p.threads;

    // Segment middles (2 s, 6 s, ...) fall on keyframes of a clip with a keyframe every 2 s:
    // the cheapest case. Moved to the middle between two keyframes they cost what a random
    // position costs on average (half a GOP decoded per sample), the figure to plan with.
    const double gopSec = double(p.gop) / p.fps;
    std::vector<double> shifted;
    for (double t : segTimes) {
        const double mid = std::floor(t / gopSec) * gopSec + gopSec / 2;
        if (mid < info->durationSec)
            shifted.push_back(mid);
    }

    std::fprintf(stderr, "measuring %s\n", qPrintable(path));
    std::vector<Run> runs;
    runs.push_back(measure(QStringLiteral("every %1 s, mid-GOP").arg(p.segmentSec), path, options, shifted));
    runs.push_back(measure(QStringLiteral("every %1 s, on keyframes").arg(p.segmentSec), path, options, segTimes));
    if (p.singleThread && p.threads != 1) {
        DecodeOptions one = options;
        one.threads = 1;
        runs.push_back(measure(QStringLiteral("every %1 s, mid-GOP, 1 thread").arg(p.segmentSec), path, one, shifted));
    }
    runs.push_back(measure(QStringLiteral("uniform, T = %1").arg(p.uniformCount), path, options, uniTimes));
    std::optional<Run> naive;
    if (p.naive) {
        DecodeOptions n = options;
        n.allowSeek = false;
        naive = measure(QStringLiteral("naive: every frame decoded"), path, n, shifted);
        runs.push_back(*naive);
    }
    const Run &sampled = runs.front();
    const double ratio = naive && sampled.seconds > 0 ? naive->seconds / sampled.seconds : 0;
    const double msPerSampled = sampled.taken > 0 ? 1000 * sampled.seconds / sampled.taken : 0;
    const double share = p.modelMsPerFrame > 0 ? msPerSampled / (msPerSampled + p.modelMsPerFrame) : 0;
    IndexRun indexed;
    if (p.index)
        indexed = indexClip(path, p);
    const auto &ir = indexed.result;
    const double indexDecodeOverModel = ir.videoModelSeconds > 0 ? ir.videoDecodeSeconds / ir.videoModelSeconds : 0;

    if (p.json) {
        QJsonObject clip{{QStringLiteral("path"), path},
                         {QStringLiteral("generated"), p.clip.isEmpty()},
                         {QStringLiteral("durationSec"), info->durationSec},
                         {QStringLiteral("width"), info->width},
                         {QStringLiteral("height"), info->height},
                         {QStringLiteral("frameRate"), info->frameRate},
                         {QStringLiteral("frames"), qint64(info->frameCountEstimate)},
                         {QStringLiteral("codec"), info->codec},
                         {QStringLiteral("bytes"), bytes},
                         {QStringLiteral("bitrateMbps"), bytes * 8.0 / info->durationSec / 1e6}};
        if (p.clip.isEmpty()) {
            clip.insert(QStringLiteral("x264Preset"), p.preset);
            clip.insert(QStringLiteral("gopFrames"), p.gop);
            clip.insert(QStringLiteral("gopSec"), gopSec);
        }
        QJsonArray rows;
        for (const Run &r : runs) {
            rows.append(QJsonObject{{QStringLiteral("name"), r.name},
                                    {QStringLiteral("framesRequested"), r.requested},
                                    {QStringLiteral("framesTaken"), r.taken},
                                    {QStringLiteral("framesDecoded"), qint64(r.stats.framesDecoded)},
                                    {QStringLiteral("seeks"), qint64(r.stats.seeks)},
                                    {QStringLiteral("seconds"), r.seconds},
                                    {QStringLiteral("cpuSeconds"), r.cpuSeconds},
                                    {QStringLiteral("msPerSampledFrame"), r.taken ? 1000 * r.seconds / r.taken : 0.0},
                                    {QStringLiteral("cpuMsPerSampledFrame"), r.taken ? 1000 * r.cpuSeconds / r.taken : 0.0},
                                    {QStringLiteral("convertMsPerFrame"),
                                     r.taken ? 1000 * r.stats.convertSeconds / r.taken : 0.0},
                                    {QStringLiteral("error"), r.error}});
        }
        QJsonObject doc{{QStringLiteral("suite"), QStringLiteral("video")},
                        {QStringLiteral("clip"), clip},
                        {QStringLiteral("maxShortSide"), p.maxShortSide},
                        {QStringLiteral("threads"), p.threads},
                        {QStringLiteral("segmentSec"), p.segmentSec},
                        {QStringLiteral("runs"), rows}};
        if (naive)
            doc.insert(QStringLiteral("naiveOverSampledMidGop"), ratio);
        if (p.modelMsPerFrame > 0) {
            doc.insert(QStringLiteral("modelMsPerFrame"), p.modelMsPerFrame);
            doc.insert(QStringLiteral("decodeShareOfIndexing"), share);
        }
        if (indexed.ran)
            doc.insert(QStringLiteral("index"),
                       QJsonObject{{QStringLiteral("error"), indexed.error},
                                   {QStringLiteral("imageSize"), p.imageSize},
                                   {QStringLiteral("framesEmbedded"), ir.framesEmbedded},
                                   {QStringLiteral("segmentsStored"), ir.segmentsStored},
                                   {QStringLiteral("indexingSeconds"), ir.indexingSeconds},
                                   {QStringLiteral("decodeSeconds"), ir.videoDecodeSeconds},
                                   {QStringLiteral("modelSeconds"), ir.videoModelSeconds},
                                   {QStringLiteral("decodeOverModel"), indexDecodeOverModel}});
        std::printf("%s\n", QJsonDocument(doc).toJson(QJsonDocument::Indented).constData());
        return indexed.error.isEmpty() ? 0 : 1;
    }

    std::printf("clip: %s\n", qPrintable(path));
    std::printf("      %.0f s, %dx%d %s, %.2f fps, %lld frames, %.1f MB (%.1f Mbit/s)", info->durationSec, info->width,
                info->height, qPrintable(info->codec), info->frameRate, (long long)info->frameCountEstimate,
                bytes / 1e6, bytes * 8.0 / info->durationSec / 1e6);
    if (p.clip.isEmpty())
        std::printf(", x264 %s, keyframe every %d frames (%.1f s)", qPrintable(p.preset), p.gop, gopSec);
    std::printf("\nconversion to at most %d px on the short side; decoder threads: %s\n\n", p.maxShortSide,
                p.threads > 0 ? std::to_string(p.threads).c_str() : "FFmpeg's choice");
    std::printf("%-32s %6s %8s %6s %8s %8s %10s %10s %10s\n", "run", "frames", "decoded", "seeks", "wall s", "CPU s",
                "wall ms/fr", "CPU ms/fr", "convert ms");
    for (const Run &r : runs) {
        const double n = std::max(1, r.taken);
        std::printf("%-32s %6d %8lld %6lld %8.2f %8.2f %10.1f %10.1f %10.2f%s%s\n", qPrintable(r.name), r.taken,
                    (long long)r.stats.framesDecoded, (long long)r.stats.seeks, r.seconds, r.cpuSeconds,
                    1000 * r.seconds / n, 1000 * r.cpuSeconds / n, 1000 * r.stats.convertSeconds / n,
                    r.error.isEmpty() ? "" : "  error: ", qPrintable(r.error));
    }
    std::printf("(ms/fr: per sampled frame, decoding and conversion; CPU: all decoder threads together)\n");
    if (naive)
        std::printf("\nnaive / sampled (mid-GOP): %.1fx\n", ratio);
    if (p.modelMsPerFrame > 0)
        std::printf("decoding share (mid-GOP) of indexing with a model at %.0f ms/frame: %.1f %%\n", p.modelMsPerFrame,
                    100 * share);
    if (indexed.ran) {
        const double n = std::max<qint64>(1, ir.framesEmbedded);
        std::printf("\nindexing job, random %d px float32 model: %lld frames embedded, %lld segments stored, %.1f s\n",
                    p.imageSize, (long long)ir.framesEmbedded, (long long)ir.segmentsStored, ir.indexingSeconds);
        std::printf("  decoding (decode pool, wall): %8.1f s  %8.1f ms/frame\n", ir.videoDecodeSeconds,
                    1000 * ir.videoDecodeSeconds / n);
        std::printf("  model (inference thread):     %8.1f s  %8.1f ms/frame\n", ir.videoModelSeconds,
                    1000 * ir.videoModelSeconds / n);
        std::printf("  decoding / model time: %.1f %% (target <= 25 %%)\n", 100 * indexDecodeOverModel);
        if (!indexed.error.isEmpty())
            std::printf("  error: %s\n", qPrintable(indexed.error));
    }
    return indexed.error.isEmpty() ? 0 : 1;
}
