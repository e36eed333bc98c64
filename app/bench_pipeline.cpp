// `unisearch-bench pipeline`: the numbers of docs/performance.md for indexing and search.
//
// efficiency: N photos of 4000×3000 (12 MP) are generated as JPEGs (smooth shapes plus
//   grain, ~2–4 MB each, like camera files), then indexed by the real IndexJob with the
//   full-size UniAdapter (random weights) at batch B. Model-only images/s runs the same
//   number of batches of ready-made pixels through ModelRunner::imageFeatures, before and
//   after the pipeline run (their mean is the reference). The pipeline number counts from
//   the first decode to the last commit (IndexResult::indexingSeconds); the scan before it
//   is reported separately. The files were just written, so they are in the page cache:
//   this measures decode/inference overlap, not the disk.
// query: a catalog with --items items and segments (written with one prepared statement,
//   not through the Catalog API, to keep set-up time down) and a store of as many random
//   unit vectors; Searcher::search with the full-size text encoder in float32, warm.
// memory: --rss-images photos of 640×480 indexed with a small random model of the same
//   input size (384) and embedding size (256): memory flatness is a property of the
//   pipeline, and the full model would take hours on a CPU for 10,000 photos.
// load (--load F, 0 < F <= 1): --load-images 12-MP photos indexed with the full-size model
//   (random weights) idle and while a child process keeps one core F busy (busy/sleep duty
//   cycle in 10 ms periods), for the adaptive default (indexing/adaptive.h), fixed batch 8
//   and fixed batch 1 (the old defaults otherwise: LibTorch and decode threads = cores), in
//   float32 and bfloat16: seconds per image from the first decode to the last commit.
#include "bench_pipeline.h"
#include "bench_pipeline_p.h"
#include "benchsupport.h"

#include "catalog/catalog.h"
#include "catalog/database_p.h"
#include "engine/indexjob.h"
#include "engine/retrievalmodel.h"
#include "engine/search.h"
#include "index/vectorstore.h"
#include "model/modelrunner.h"
#include "model/runtime.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QLinearGradient>
#include <QPainter>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QThread>
#include <QtConcurrent/QtConcurrentMap>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <csignal>
#include <ctime>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace unisearch;

namespace unisearch::bench::pipeline {

void usage(FILE *out)
{
    std::fprintf(out,
                 "usage: unisearch-bench pipeline [options]\n"
                 "  --only efficiency|query|memory   run one part (default: all three)\n"
                 "  --load F           only the load part: indexing idle and with one core F busy\n"
                 "                     (0 < F <= 1), adaptive / batch 8 / batch 1, float32 and bfloat16\n"
                 "  --load-images N    12-MP photos per run of the load part (default 16)\n"
                 "  --load-precision float32|bfloat16|both   precisions of the load part (default both)\n"
                 "  --images N         12-MP JPEGs indexed for the efficiency run (default 32)\n"
                 "  --size WxH         their size (default 4000x3000)\n"
                 "  --batch B          model batch size (default 8)\n"
                 "  --decode-threads N decode threads of the job (default: number of cores)\n"
                 "  --threads N        LibTorch threads (default: number of cores)\n"
                 "  --items N          catalog rows and store vectors for the query run (default 1000000)\n"
                 "  --queries N        timed searches (default 200)\n"
                 "  --rss-images N     photos indexed for the memory run (default 10000)\n"
                 "  --tmp DIR          working directory (default: system temp)\n"
                 "  --json             one JSON document on stdout\n");
}

bool parse(int argc, char **argv, Options &o)
{
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char * { return unisearch::bench::optionValue("pipeline", argc, argv, i); };
        if (a == "--only") {
            const std::string v = value();
            o.efficiency = v == "efficiency";
            o.query = v == "query";
            o.memory = v == "memory";
            if (!o.efficiency && !o.query && !o.memory) {
                std::fprintf(stderr, "unisearch-bench pipeline: --only takes efficiency, query or memory\n");
                return false;
            }
        } else if (a == "--load") {
            o.load = std::atof(value());
            if (!(o.load > 0 && o.load <= 1)) {
                std::fprintf(stderr, "unisearch-bench pipeline: --load takes a fraction in (0, 1]\n");
                return false;
            }
            o.efficiency = o.query = o.memory = false;
        } else if (a == "--load-images") o.loadImages = std::atoi(value());
        else if (a == "--load-precision") {
            const std::string v = value();
            o.loadFloat32 = v != "bfloat16";
            o.loadBfloat16 = v != "float32";
        }
        else if (a == "--images") o.images = std::atoi(value());
        else if (a == "--size") {
            if (std::sscanf(value(), "%dx%d", &o.width, &o.height) != 2 || o.width < 16 || o.height < 16) {
                std::fprintf(stderr, "unisearch-bench pipeline: --size takes WxH\n");
                return false;
            }
        } else if (a == "--batch") o.batch = std::atoi(value());
        else if (a == "--decode-threads") o.decodeThreads = std::atoi(value());
        else if (a == "--threads") o.threads = std::atoi(value());
        else if (a == "--items") o.items = std::atoll(value());
        else if (a == "--queries") o.queries = std::atoi(value());
        else if (a == "--rss-images") o.rssImages = std::atoi(value());
        else if (a == "--tmp") o.tmp = QString::fromLocal8Bit(value());
        else if (a == "--json") o.json = true;
        else if (a == "--help" || a == "-h") {
            usage(stdout);
            std::exit(0);
        } else {
            std::fprintf(stderr, "unisearch-bench pipeline: unknown option %s\n", a.c_str());
            usage(stderr);
            return false;
        }
    }
    if (o.images < 1 || o.loadImages < 1 || o.batch < 1 || o.items < 1 || o.queries < 1 || o.rssImages < 1) {
        std::fprintf(stderr, "unisearch-bench pipeline: sizes must be positive\n");
        return false;
    }
    return true;
}

// Resident and peak resident memory of this process, in MiB (Linux).
struct Rss {
    double current = 0;
    double peak = 0;
};
Rss readRss()
{
    Rss r;
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return r;
    for (const QByteArray &line : f.readAll().split('\n')) {
        auto kb = [&](const char *key) { return line.mid(qsizetype(std::strlen(key))).trimmed().split(' ').value(0).toDouble() / 1024.0; };
        if (line.startsWith("VmRSS:"))
            r.current = kb("VmRSS:");
        else if (line.startsWith("VmHWM:"))
            r.peak = kb("VmHWM:");
    }
    return r;
}

// A camera-like picture: smooth gradients and shapes (compress like a photo) plus grain.
QImage photoLike(int w, int h, quint32 seed)
{
    QRandomGenerator rng(seed);
    QImage img(w, h, QImage::Format_RGB32);
    QPainter p(&img);
    QLinearGradient g(0, 0, w, h);
    g.setColorAt(0, QColor::fromRgb(rng.generate()));
    g.setColorAt(1, QColor::fromRgb(rng.generate()));
    p.fillRect(img.rect(), g);
    p.setRenderHint(QPainter::Antialiasing);
    for (int i = 0; i < 40; ++i) {
        QColor c = QColor::fromRgb(rng.generate());
        c.setAlpha(60 + int(rng.bounded(150)));
        p.setBrush(c);
        p.setPen(Qt::NoPen);
        p.drawEllipse(QPointF(rng.bounded(w), rng.bounded(h)), 20 + rng.bounded(w / 4), 20 + rng.bounded(h / 4));
    }
    p.end();
    // Grain on every pixel (cheap xorshift), as sensor noise keeps real JPEGs from being tiny.
    quint32 x = seed * 2654435761u + 1;
    for (int y = 0; y < h; ++y) {
        auto *line = reinterpret_cast<QRgb *>(img.scanLine(y));
        for (int i = 0; i < w; ++i) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            const int n = int(x & 15) - 8;
            const QRgb v = line[i];
            line[i] = qRgb(std::clamp(qRed(v) + n, 0, 255), std::clamp(qGreen(v) + n, 0, 255),
                           std::clamp(qBlue(v) + n, 0, 255));
        }
    }
    return img;
}

// Writes count JPEGs into dir on the global pool; returns their total size in bytes.
qint64 writePhotos(const QString &dir, int count, int w, int h, quint32 seedBase)
{
    QDir().mkpath(dir);
    std::vector<int> indexes(static_cast<size_t>(count));
    std::iota(indexes.begin(), indexes.end(), 0);
    QtConcurrent::blockingMap(indexes, [&](int i) {
        const QString path = QStringLiteral("%1/%2/photo%3.jpg").arg(dir).arg(i / 1000).arg(i, 6, 10, QLatin1Char('0'));
        QDir().mkpath(QFileInfo(path).absolutePath());
        photoLike(w, h, seedBase + quint32(i)).save(path, "JPG", 90);
    });
    qint64 bytes = 0;
    for (int i = 0; i < count; ++i)
        bytes += QFileInfo(QStringLiteral("%1/%2/photo%3.jpg").arg(dir).arg(i / 1000).arg(i, 6, 10, QLatin1Char('0'))).size();
    return bytes;
}

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const double rank = p / 100.0 * double(v.size() - 1);
    const size_t lo = size_t(std::floor(rank)), hi = size_t(std::ceil(rank));
    return v[lo] + (v[hi] - v[lo]) * (rank - double(lo));
}

// Model-only throughput: `batches` forward passes of `batch` ready-made images.
double modelOnlyImagesPerSecond(model::ModelRunner &engine, int batch, int batches)
{
    const size_t n = size_t(3) * size_t(engine.imageSize()) * size_t(engine.imageSize());
    std::vector<std::vector<float>> pixels(static_cast<size_t>(batch), std::vector<float>(n));
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.f, 1.f);
    for (auto &p : pixels)
        for (float &x : p)
            x = dist(rng);
    std::vector<const float *> ptrs;
    for (const auto &p : pixels)
        ptrs.push_back(p.data());
    QElapsedTimer t;
    t.start();
    for (int b = 0; b < batches; ++b)
        engine.imageFeatures(ptrs);
    return double(batch) * double(batches) / (double(t.nsecsElapsed()) / 1e9);
}

QString fmt(double v, int decimals)
{
    return QString::number(v, 'f', decimals);
}

void print(const QString &s)
{
    std::fputs(s.toUtf8().constData(), stdout);
    std::fflush(stdout);
}

void progress(const QString &s)
{
    std::fputs((s + QLatin1Char('\n')).toUtf8().constData(), stderr);
}

// An indexing job over `photos` into `dataDir` with the options' batch size and decode threads.
engine::IndexParams indexParams(const Options &o, const QString &dataDir, const QString &photos,
                                const std::shared_ptr<engine::RetrievalModel> &model)
{
    engine::IndexParams params;
    params.dataDir = dataDir;
    params.paths = {photos};
    params.model = model;
    params.batchSize = o.batch;
    params.decodeThreads = o.decodeThreads;
    return params;
}

// --- (a) efficiency --------------------------------------------------------------------

QString runEfficiency(const Options &o, const QString &tmp, QString *jsonOut)
{
    progress(QStringLiteral("efficiency: writing %1 photos of %2x%3 ...").arg(o.images).arg(o.width).arg(o.height));
    const QString photos = tmp + QStringLiteral("/photos12mp");
    QElapsedTimer t;
    t.start();
    const qint64 bytes = writePhotos(photos, o.images, o.width, o.height, 1);
    progress(QStringLiteral("  written in %1 s (%2 MB)").arg(fmt(t.elapsed() / 1000.0)).arg(fmt(bytes / 1e6)));

    progress(QStringLiteral("efficiency: full-size model with random weights ..."));
    std::unique_ptr<model::ModelRunner> engine = model::ModelRunner::random(model::Architecture{});
    const int batches = (o.images + o.batch - 1) / o.batch;
    modelOnlyImagesPerSecond(*engine, o.batch, 1);  // warm-up
    progress(QStringLiteral("efficiency: model only, %1 batches of %2 ...").arg(batches).arg(o.batch));
    const double modelBefore = modelOnlyImagesPerSecond(*engine, o.batch, batches);

    QString error;
    auto model = engine::RetrievalModel::fromRunner(std::move(engine), QStringLiteral("bench-random"),
                                                    QStringLiteral("bench-random-full"), &error);
    if (!model) {
        progress(QStringLiteral("cannot set up the model: ") + error);
        return {};
    }
    engine::IndexParams params = indexParams(o, tmp + QStringLiteral("/data-efficiency"), photos, model);
    progress(QStringLiteral("efficiency: indexing through the pipeline ..."));
    engine::IndexJob job(params);
    const engine::IndexResult r = job.run();
    if (!r.ok || r.embedded != o.images) {
        progress(QStringLiteral("indexing failed: %1 (%2 embedded)").arg(r.error).arg(r.embedded));
        return {};
    }
    progress(QStringLiteral("efficiency: model only again ..."));
    const double modelAfter = model->withModel(
        [&](model::ModelRunner &runner) { return modelOnlyImagesPerSecond(runner, o.batch, batches); });
    const double modelIps = (modelBefore + modelAfter) / 2;
    const double pipelineIps = r.imagesPerSecond;
    const double ratio = pipelineIps / modelIps;
    const double scanSeconds = r.seconds - r.indexingSeconds;

    *jsonOut = QStringLiteral("\"efficiency\": {\"images\": %1, \"width\": %2, \"height\": %3, \"megabytes\": %4, "
                              "\"batch\": %5, \"modelOnlyImagesPerSecond\": %6, \"modelOnlyBefore\": %7, "
                              "\"modelOnlyAfter\": %8, \"pipelineImagesPerSecond\": %9, \"ratio\": %10, "
                              "\"indexingSeconds\": %11, \"scanSeconds\": %12}")
                   .arg(o.images)
                   .arg(o.width)
                   .arg(o.height)
                   .arg(fmt(bytes / 1e6))
                   .arg(o.batch)
                   .arg(fmt(modelIps, 3))
                   .arg(fmt(modelBefore, 3))
                   .arg(fmt(modelAfter, 3))
                   .arg(fmt(pipelineIps, 3))
                   .arg(fmt(ratio, 3))
                   .arg(fmt(r.indexingSeconds, 2))
                   .arg(fmt(scanSeconds, 2));
    return QStringLiteral("Pipeline efficiency (%1 JPEGs of %2x%3, %4 MB; full-size model, random weights, batch %5)\n"
                          "  model only:        %6 images/s (before %7, after %8)\n"
                          "  end to end:        %9 images/s (decode, preprocess, embed, commit; %10 s)\n"
                          "  efficiency:        %11 %  (target >= 90 %)\n"
                          "  scan + compare:    %12 s before the pipeline starts\n")
        .arg(o.images)
        .arg(o.width)
        .arg(o.height)
        .arg(fmt(bytes / 1e6))
        .arg(o.batch)
        .arg(fmt(modelIps, 3), fmt(modelBefore, 3), fmt(modelAfter, 3), fmt(pipelineIps, 3), fmt(r.indexingSeconds, 1),
             fmt(100 * ratio), fmt(scanSeconds, 2));
}

// --- (b) query latency ------------------------------------------------------------------

QString runQuery(const Options &o, const QString &tmp, QString *jsonOut)
{
    const QString dataDir = tmp + QStringLiteral("/data-query");
    progress(QStringLiteral("query: catalog of %1 items ...").arg(o.items));
    QElapsedTimer t;
    t.start();
    {
        catalog::OpenResult opened = catalog::Catalog::open(dataDir);
        if (!opened) {
            progress(opened.error);
            return {};
        }
    }
    try {
        using catalog::detail::Database;
        Database db = Database::open(dataDir + QStringLiteral("/catalog.sqlite"), false);
        db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN");
        db.exec("INSERT INTO roots(id, path, added_at) VALUES (1, '/bench', 0)");
        auto item = db.prepare("INSERT INTO items(id, root_id, path, type, size, mtime_ms, width, height, status,"
                               " added_at, updated_at) VALUES (?, 1, ?, 'image', 3000000, ?, 4000, 3000, 'indexed', 0, 0)");
        auto segment = db.prepare("INSERT INTO segments(id, item_id, start_ms, end_ms) VALUES (?, ?, 0, 0)");
        for (long long i = 1; i <= o.items; ++i) {
            item.reset();
            item.bindAll(std::int64_t(i),
                         QStringLiteral("/bench/%1/IMG_%2.jpg").arg(i / 1000, 4, 10, QLatin1Char('0')).arg(i),
                         std::int64_t(1'500'000'000'000LL + i * 60'000));
            item.run();
            segment.reset();
            segment.bindAll(std::int64_t(i), std::int64_t(i));
            segment.run();
        }
        db.exec("COMMIT");
    } catch (const std::exception &e) {
        progress(QStringLiteral("catalog: %1").arg(QString::fromUtf8(e.what())));
        return {};
    }
    progress(QStringLiteral("  %1 s").arg(fmt(t.elapsed() / 1000.0)));

    progress(QStringLiteral("query: store of %1 random unit vectors ...").arg(o.items));
    t.restart();
    const int dim = 256;
    index::VectorStore store;
    {
        std::mt19937 rng(1);
        std::normal_distribution<float> dist(0.f, 1.f);
        constexpr long long chunk = 65536;
        std::vector<int64_t> ids;
        std::vector<float> v;
        for (long long start = 1; start <= o.items; start += chunk) {
            const long long n = std::min(chunk, o.items - start + 1);
            ids.resize(size_t(n));
            v.resize(size_t(n) * dim);
            for (long long j = 0; j < n; ++j) {
                ids[size_t(j)] = start + j;
                float norm = 0;
                float *row = v.data() + size_t(j) * dim;
                for (int k = 0; k < dim; ++k) {
                    row[k] = dist(rng);
                    norm += row[k] * row[k];
                }
                norm = std::sqrt(norm);
                for (int k = 0; k < dim; ++k)
                    row[k] /= norm;
            }
            store.add(ids, v);
        }
    }
    progress(QStringLiteral("  %1 s, %2 index, %3 MB").arg(fmt(t.elapsed() / 1000.0))
                 .arg(QString::fromLatin1(index::indexKindName(store.kind())))
                 .arg(fmt(double(store.memoryBytes()) / 1e6)));

    progress(QStringLiteral("query: full-size model with random weights ..."));
    QString error;
    auto model = engine::RetrievalModel::fromRunner(model::ModelRunner::random(model::Architecture{}),
                                                    QStringLiteral("bench-random"),
                                                    QStringLiteral("bench-random-full"), &error);
    if (!model) {
        progress(error);
        return {};
    }
    engine::Searcher searcher(dataDir, model, store);
    const QStringList subjects = {QStringLiteral("my dog asleep on the red sofa"),
                                  QStringLiteral("sunset over the sea with a sailing boat"),
                                  QStringLiteral("two children building a sandcastle"),
                                  QStringLiteral("a birthday cake with candles"),
                                  QStringLiteral("snowy mountains behind a wooden cabin"),
                                  QStringLiteral("grandma reading a book in the garden"),
                                  QStringLiteral("a cat looking out of the window"),
                                  QStringLiteral("street market at night with lanterns")};
    const QStringList extras = {QString(), QStringLiteral(" in summer"), QStringLiteral("!"),
                                QStringLiteral(", close-up"), QStringLiteral(" (blurry)")};
    auto queryText = [&](int i) {
        return subjects[i % subjects.size()] + extras[(i / subjects.size()) % extras.size()];
    };
    engine::SearchParams params;
    params.top = 20;
    params.rerank = false;
    for (int i = 0; i < 5; ++i) {  // warm
        params.text = queryText(i);
        searcher.search(params, &error);
    }
    progress(QStringLiteral("query: %1 searches ...").arg(o.queries));
    std::vector<double> total, clean, feature, storeMs, group;
    for (int i = 0; i < o.queries; ++i) {
        params.text = queryText(i);
        const auto r = searcher.search(params, &error);
        if (!r || r->hits.size() != 20) {
            progress(QStringLiteral("search failed: %1").arg(error));
            return {};
        }
        total.push_back(r->timings.totalMs);
        clean.push_back(r->timings.cleanMs);
        feature.push_back(r->timings.featureMs);
        storeMs.push_back(r->timings.storeMs);
        group.push_back(r->timings.groupMs);
    }
    // A folder filter: 1/1000 of the library (one folder of the synthetic tree).
    std::vector<double> filtered;
    params.filter.folders = {QStringLiteral("/bench/0001")};
    for (int i = 0; i < std::min(o.queries, 50); ++i) {
        params.text = queryText(i);
        const auto r = searcher.search(params, &error);
        if (!r) {
            progress(QStringLiteral("filtered search failed: %1").arg(error));
            return {};
        }
        filtered.push_back(r->timings.totalMs);
    }
    const Rss rss = readRss();
    // %1 items, %2 store kind, %3 queries, %4..%14 the percentiles (ms; `d` decimals for the
    // whole search, feature, store and filtered times), %15 resident MiB.
    auto fill = [&](const QString &text, int d) {
        return text.arg(o.items)
            .arg(QString::fromLatin1(index::indexKindName(store.kind())))
            .arg(o.queries)
            .arg(fmt(percentile(total, 50), d), fmt(percentile(total, 95), d), fmt(percentile(feature, 50), d),
                 fmt(percentile(feature, 95), d), fmt(percentile(storeMs, 50), d), fmt(percentile(storeMs, 95), d),
                 fmt(percentile(group, 50), 2), fmt(percentile(group, 95), 2), fmt(percentile(clean, 50), 3))
            .arg(fmt(percentile(filtered, 50), d), fmt(percentile(filtered, 95), d), fmt(rss.current, 0));
    };
    *jsonOut = fill(QStringLiteral("\"query\": {\"items\": %1, \"indexKind\": \"%2\", \"queries\": %3, "
                                   "\"totalP50\": %4, \"totalP95\": %5, \"featureP50\": %6, \"featureP95\": %7, "
                                   "\"storeP50\": %8, \"storeP95\": %9, \"groupP50\": %10, \"groupP95\": %11, "
                                   "\"cleanP50\": %12, \"folderFilterP50\": %13, \"folderFilterP95\": %14, "
                                   "\"rssMiB\": %15}"),
                    2);
    return fill(QStringLiteral("Search latency (%1 items, %2 store, top 20, no re-rank, full-size text encoder "
                               "float32, %3 queries)\n"
                               "  whole search:      p50 %4 ms, p95 %5 ms  (target p95 <= 100 ms)\n"
                               "    text feature:    p50 %6 ms, p95 %7 ms\n"
                               "    store:           p50 %8 ms, p95 %9 ms\n"
                               "    catalog/group:   p50 %10 ms, p95 %11 ms\n"
                               "    clean-up+tokens: p50 %12 ms\n"
                               "  folder filter (0.1 % of items): p50 %13 ms, p95 %14 ms\n"
                               "  resident memory:   %15 MiB\n"),
                1);
}

// --- (c) memory -------------------------------------------------------------------------

QString runMemory(const Options &o, const QString &tmp, QString *jsonOut)
{
    progress(QStringLiteral("memory: writing %1 photos of 640x480 ...").arg(o.rssImages));
    const QString photos = tmp + QStringLiteral("/photos-small");
    QElapsedTimer t;
    t.start();
    const qint64 bytes = writePhotos(photos, o.rssImages, 640, 480, 100);
    progress(QStringLiteral("  %1 s (%2 MB)").arg(fmt(t.elapsed() / 1000.0)).arg(fmt(bytes / 1e6)));

    // The input side and the embedding size of the real model, a thin network in between.
    model::Architecture arch;
    arch.vision.width = 64;
    arch.vision.depth = 1;
    arch.vision.heads = 1;
    arch.text.hidden = 64;
    arch.text.layers = 1;
    arch.text.heads = 1;
    arch.text.intermediate = 128;
    arch.adapter.bottleneck = 16;
    arch.adapter.videoKvBottleneck = 8;
    QString error;
    auto model = engine::RetrievalModel::fromRunner(model::ModelRunner::random(arch), QStringLiteral("bench-small"),
                                                    QStringLiteral("bench-random-small"), &error);
    if (!model) {
        progress(error);
        return {};
    }
    const Rss start = readRss();
    engine::IndexParams params = indexParams(o, tmp + QStringLiteral("/data-memory"), photos, model);
    params.progressIntervalMs = 0;
    std::vector<qint64> marks;
    for (const qint64 m : {1000LL, 5000LL, 10000LL})
        if (m <= o.rssImages)
            marks.push_back(m);
    if (marks.empty() || marks.back() != o.rssImages)
        marks.push_back(o.rssImages);
    std::vector<std::pair<qint64, Rss>> samples;
    size_t next = 0;
    progress(QStringLiteral("memory: indexing ..."));
    engine::IndexJob job(params);
    const engine::IndexResult r = job.run([&](const engine::IndexProgress &p) {
        while (next < marks.size() && p.filesDone >= marks[next]) {
            samples.emplace_back(marks[next], readRss());
            progress(QStringLiteral("  %1 files: RSS %2 MiB, peak %3 MiB")
                         .arg(marks[next])
                         .arg(fmt(samples.back().second.current, 0), fmt(samples.back().second.peak, 0)));
            ++next;
        }
        return true;
    });
    if (!r.ok || r.embedded != o.rssImages) {
        progress(QStringLiteral("indexing failed: %1 (%2 embedded)").arg(r.error).arg(r.embedded));
        return {};
    }
    const Rss end = readRss();
    QString text = QStringLiteral("Memory while indexing %1 photos of 640x480 (small random model, 384 px input, "
                                  "batch %2; %3 images/s)\n"
                                  "  before indexing:   RSS %4 MiB\n")
                       .arg(o.rssImages)
                       .arg(o.batch)
                       .arg(fmt(r.imagesPerSecond))
                       .arg(fmt(start.current, 0));
    QString samplesJson;
    for (const auto &[files, rss] : samples) {
        text += QStringLiteral("  after %1 files:%2RSS %3 MiB, peak so far %4 MiB\n")
                    .arg(files)
                    .arg(QString(qMax(1, 7 - int(QString::number(files).size())), QLatin1Char(' ')))
                    .arg(fmt(rss.current, 0), fmt(rss.peak, 0));
        samplesJson += QStringLiteral("%1{\"files\": %2, \"rssMiB\": %3, \"peakMiB\": %4}")
                           .arg(samplesJson.isEmpty() ? QString() : QStringLiteral(", "))
                           .arg(files)
                           .arg(fmt(rss.current, 0), fmt(rss.peak, 0));
    }
    text += QStringLiteral("  after the job:     RSS %1 MiB, peak %2 MiB\n").arg(fmt(end.current, 0), fmt(end.peak, 0));
    *jsonOut = QStringLiteral("\"memory\": {\"images\": %1, \"imagesPerSecond\": %2, \"startMiB\": %3, "
                              "\"samples\": [%4], \"endMiB\": %5, \"peakMiB\": %6}")
                   .arg(o.rssImages)
                   .arg(fmt(r.imagesPerSecond, 2), fmt(start.current, 0), samplesJson, fmt(end.current, 0),
                        fmt(end.peak, 0));
    return text;
}

} // namespace unisearch::bench::pipeline

int runPipelineBench(int argc, char **argv)
{
    using namespace unisearch::bench::pipeline;
    Options o;
    if (!parse(argc, argv, o))
        return 2;
    std::unique_ptr<QCoreApplication> app;
    if (!QCoreApplication::instance()) {
        static int qtArgc = 1;
        static char name[] = "unisearch-bench";
        static char *qtArgv[] = {name, nullptr};
        app = std::make_unique<QCoreApplication>(qtArgc, qtArgv);
    }
    model::setThreads(o.threads);
    QTemporaryDir tmp(o.tmp.isEmpty() ? QDir::tempPath() + QStringLiteral("/unisearch-bench-pipeline-XXXXXX")
                                      : o.tmp + QStringLiteral("/unisearch-bench-pipeline-XXXXXX"));
    if (!tmp.isValid()) {
        std::fprintf(stderr, "unisearch-bench pipeline: cannot create a temporary directory\n");
        return 1;
    }
    const QString header = QStringLiteral("unisearch-bench pipeline: %1 cores, LibTorch %2 threads, load average %3\n")
                               .arg(QThread::idealThreadCount())
                               .arg(model::threads())
                               .arg(fmt(bench::loadAverage(), 2));
    if (!o.json)
        print(header);
    QStringList json;
    bool ok = true;
    auto part = [&](bool enabled, QString (*fn)(const Options &, const QString &, QString *)) {
        if (!enabled || !ok)
            return;
        QString j;
        const QString text = fn(o, tmp.path(), &j);
        if (text.isEmpty()) {
            ok = false;
            return;
        }
        json.append(j);
        if (!o.json)
            print(text);
    };
    // Memory first: the full-size models of the other parts would stay in the heap.
    part(o.memory, runMemory);
    part(o.efficiency, runEfficiency);
    part(o.query, runQuery);
    part(o.load > 0, runLoad);
    if (o.json)
        print(QStringLiteral("{\"cores\": %1, \"threads\": %2, \"loadAverage\": %3, %4}\n")
                  .arg(QThread::idealThreadCount())
                  .arg(model::threads())
                  .arg(fmt(bench::loadAverage(), 2), json.join(QStringLiteral(", "))));
    return ok ? 0 : 1;
}
