// `unisearch-bench timeline`: the numbers of docs/performance.md for the timeline.
//
// The library: N items (rows only: no files, no vectors) spread over ten years of file times,
// written through the catalog API in one transaction. The timeline model and view are opened
// offscreen at a window size and scrolled from top to bottom one viewport at a time, each
// step painted (which reads the pages in sight). Thumbnails are not decoded (there are no
// files): the cost measured is the timeline's own (keys, pages, layout, painting cells).
#include "bench_timeline.h"
#include "benchsupport.h"

#include "catalog/catalog.h"
#include "ui/timelinemodel.h"
#include "ui/timelineview.h"

#include <QApplication>
#include <QPixmap>
#include <QScrollBar>
#include <QTemporaryDir>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

using namespace unisearch;

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double peakRssMiB()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;
}

// Resident memory now (not the peak: generating the catalog costs more than viewing it).
double rssMiB()
{
    long pages = 0, resident = 0;
    if (FILE *f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        std::fclose(f);
    }
    return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

struct Options {
    int items = 100'000;
    int width = 1280;
    int height = 800;
};

bool generate(const QString &dataDir, int items, QString *error)
{
    catalog::OpenResult opened = catalog::Catalog::open(dataDir);
    if (!opened) {
        *error = opened.error;
        return false;
    }
    catalog::Catalog &c = *opened.catalog;
    std::mt19937_64 random(7);
    const std::int64_t now = 1'780'000'000'000;  // 2026
    const std::int64_t tenYears = 10LL * 365 * 86'400'000;
    c.transaction([&] {
        const std::int64_t root = c.addRoot(QStringLiteral("/photos"));
        for (int i = 0; i < items; ++i) {
            catalog::Item item;
            item.rootId = root;
            item.path = QStringLiteral("/photos/%1/IMG_%2.jpg").arg(i / 1000).arg(i, 6, 10, QLatin1Char('0'));
            item.mtimeMs = now - std::int64_t(random() % std::uint64_t(tenYears));
            item.size = 3'000'000;
            item.width = 4000;
            item.height = 3000;
            item.status = catalog::ItemStatus::Indexed;
            c.upsertItem(item);
        }
    });
    return true;
}

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, std::size_t(p * double(v.size() - 1) + 0.5))];
}

} // namespace

int runTimelineBench(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; ++i) {
        auto value = [&] { return bench::optionValue("timeline", argc, argv, i); };
        if (!std::strcmp(argv[i], "--items"))
            o.items = std::atoi(value());
        else if (!std::strcmp(argv[i], "--width"))
            o.width = std::atoi(value());
        else if (!std::strcmp(argv[i], "--height"))
            o.height = std::atoi(value());
        else {
            std::printf("usage: unisearch-bench timeline [--items N] [--width PX] [--height PX]\n");
            return std::strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (o.items < 1 || o.items > 10'000'000 || o.width < 200 || o.height < 200) {
        std::fprintf(stderr, "unisearch-bench timeline: --items 1..10000000, --width/--height >= 200\n");
        return 2;
    }
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    int qargc = 1;
    QApplication app(qargc, argv);
    QTemporaryDir dir;
    QString error;
    auto t0 = Clock::now();
    if (!generate(dir.path(), o.items, &error)) {
        std::fprintf(stderr, "unisearch-bench timeline: %s\n", qPrintable(error));
        return 1;
    }
    const double generateMs = msSince(t0);
    const double rssBefore = rssMiB();

    t0 = Clock::now();
    ui::TimelineModel model;
    if (!model.open(dir.path(), &error)) {
        std::fprintf(stderr, "unisearch-bench timeline: %s\n", qPrintable(error));
        return 1;
    }
    const double openMs = msSince(t0);
    ui::TimelineView view;
    view.resize(o.width, o.height);
    view.setTimelineModel(&model);
    view.show();
    // grab() paints the viewport now, as the screen would (offscreen windows may defer it).
    QPixmap shot = view.viewport()->grab();
    const double firstViewMs = msSince(t0);

    std::vector<double> steps;
    QScrollBar *bar = view.verticalScrollBar();
    while (bar->value() < bar->maximum()) {
        const auto s0 = Clock::now();
        bar->setValue(std::min(bar->maximum(), bar->value() + bar->pageStep()));
        shot = view.viewport()->grab();
        steps.push_back(msSince(s0));
    }
    std::printf("timeline: %d items (generated in %.1f s), %d months, window %dx%d, %d columns\n", model.rowCount(),
                generateMs / 1000, int(model.months().size()), o.width, o.height, view.columnCount());
    std::printf("  catalog keys and months read in %.1f ms; first view painted %.1f ms after opening\n", openMs,
                firstViewMs);
    std::printf("  %zu scroll steps of one screen: p50 %.2f ms, p95 %.2f ms, max %.2f ms\n",
                steps.size(), percentile(steps, 0.5), percentile(steps, 0.95),
                steps.empty() ? 0 : *std::max_element(steps.begin(), steps.end()));
    std::printf("  pages read %d, held %d (at most %d of %d rows); resident %.0f MiB after scrolling, %.0f MiB "
                "before opening the timeline (+%.0f); peak RSS %.0f MiB (generating the catalog)\n",
                model.pagesRead(), model.cachedPageCount(), ui::TimelineModel::maxCachedPages,
                ui::TimelineModel::pageSize, rssMiB(), rssBefore, rssMiB() - rssBefore, peakRssMiB());
    return 0;
}
