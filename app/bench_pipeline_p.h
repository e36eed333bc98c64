#pragma once
// What the parts of `unisearch-bench pipeline` share (bench_pipeline.cpp: options, photos,
// output; bench_pipeline_load.cpp: the load part).
#include <QString>
#include <QtGlobal>

namespace unisearch::bench::pipeline {

struct Options {
    bool efficiency = true;
    bool query = true;
    bool memory = true;
    double load = 0;          // > 0: the load part, with one core this busy
    int loadImages = 16;      // 12 MP photos per run of the load part
    bool loadFloat32 = true;  // precisions of the load part
    bool loadBfloat16 = true;
    int images = 32;          // 12 MP photos for the efficiency run
    int width = 4000;
    int height = 3000;
    int batch = 8;
    int decodeThreads = 0;    // 0: the job's default (ideal thread count)
    int threads = 0;          // LibTorch threads; 0: number of cores
    long long items = 1'000'000;
    int queries = 200;
    int rssImages = 10'000;
    QString tmp;              // where photos and data dirs go (default: system temp)
    bool json = false;
};

// Writes count camera-like JPEGs into dir on the global pool; returns their total size in bytes.
qint64 writePhotos(const QString &dir, int count, int w, int h, quint32 seedBase);
QString fmt(double v, int decimals = 1);
// A line on stderr.
void progress(const QString &s);

// The load part (--load F): indexing idle and with one core F busy; its report, and its JSON
// member in *jsonOut; empty on failure.
QString runLoad(const Options &o, const QString &tmp, QString *jsonOut);

} // namespace unisearch::bench::pipeline
