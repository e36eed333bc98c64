// `unisearch-bench pipeline --load F`: indexing 12-MP JPEGs with the full-size model (random
// weights) idle and while a child process keeps one core F busy (see bench_pipeline.cpp).
#include "bench_pipeline_p.h"
#include "benchsupport.h"

#include "engine/indexjob.h"
#include "engine/retrievalmodel.h"
#include "model/modelrunner.h"

#include <QStringList>
#include <QThread>

#include <csignal>
#include <ctime>
#include <memory>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace unisearch;

namespace unisearch::bench::pipeline {

namespace {

// --- (d) load -----------------------------------------------------------------------------

// A child process that keeps one core `fraction` busy: in each 10 ms period it spins for
// fraction × 10 ms and sleeps the rest. It dies with this process (PR_SET_PDEATHSIG).
class CoreLoad
{
public:
    explicit CoreLoad(double fraction)
    {
        m_pid = fork();
        if (m_pid != 0)
            return;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        const long periodNs = 10'000'000;
        const long busyNs = static_cast<long>(fraction * double(periodNs));
        volatile unsigned sink = 0;
        while (true) {
            timespec start{}, now{};
            clock_gettime(CLOCK_MONOTONIC, &start);
            do {
                for (int i = 0; i < 1000; ++i)
                    sink = sink + unsigned(i);
                clock_gettime(CLOCK_MONOTONIC, &now);
            } while ((now.tv_sec - start.tv_sec) * 1'000'000'000L + (now.tv_nsec - start.tv_nsec) < busyNs);
            if (periodNs > busyNs) {
                const timespec rest{0, periodNs - busyNs};
                nanosleep(&rest, nullptr);
            }
        }
    }
    ~CoreLoad()
    {
        if (m_pid > 0) {
            kill(m_pid, SIGKILL);
            waitpid(m_pid, nullptr, 0);
        }
    }
    bool ok() const { return m_pid > 0; }

private:
    pid_t m_pid = -1;
};

struct LoadRun {
    QString label;     // adaptive, batch 8, batch 1
    int batch = 0;     // 0: adaptive
    double idle = 0;   // s/image
    double loaded = 0;
    QString idleChoice, loadedChoice;  // the adaptive job's final configuration
};

// One index run of the photos into a fresh data dir; seconds per image (< 0: failed).
double indexOnce(const QString &photos, const QString &dataDir, const std::shared_ptr<engine::RetrievalModel> &model,
                 int batch, int images, QString *choice)
{
    engine::IndexParams params;
    params.dataDir = dataDir;
    params.paths = {photos};
    params.model = model;
    params.ocr = false;
    if (batch > 0) {  // the old fixed configuration: every core for the model and for decoding
        params.batchSize = batch;
        params.modelThreads = QThread::idealThreadCount();
        params.decodeThreads = QThread::idealThreadCount();
    }
    engine::IndexJob job(params);
    const engine::IndexResult r = job.run();
    if (!r.ok || r.embedded != images) {
        progress(QStringLiteral("indexing failed: %1 (%2 embedded)").arg(r.error).arg(r.embedded));
        return -1;
    }
    *choice = QStringLiteral("batch %1, %2 model + %3 decode threads, %4 probes")
                  .arg(r.batchSize).arg(r.modelThreads).arg(r.decodeThreads).arg(r.adaptiveProbes);
    return r.indexingSeconds / double(r.embedded);
}

} // namespace

QString runLoad(const Options &o, const QString &tmp, QString *jsonOut)
{
    progress(QStringLiteral("load: writing %1 photos of %2x%3 ...").arg(o.loadImages).arg(o.width).arg(o.height));
    const QString photos = tmp + QStringLiteral("/photos-load");
    writePhotos(photos, o.loadImages, o.width, o.height, 1);
    QString text = QStringLiteral("Indexing under load (%1 JPEGs of %2x%3, full-size model with random weights; "
                                  "load: one core %4 % busy in 10 ms periods)\n")
                       .arg(o.loadImages).arg(o.width).arg(o.height).arg(fmt(100 * o.load, 0));
    QStringList json;
    int runNo = 0;
    for (const bool bf16 : {false, true}) {
        if (!(bf16 ? o.loadBfloat16 : o.loadFloat32))
            continue;
        model::RunnerOptions ro;
        ro.bfloat16 = bf16;
        QString error;
        auto model = engine::RetrievalModel::fromRunner(model::ModelRunner::random(model::Architecture{}, ro),
                                                        QStringLiteral("bench-random"),
                                                        QStringLiteral("bench-random-full"), &error);
        if (!model) {
            progress(error);
            return {};
        }
        const QString precision = bf16 ? QStringLiteral("bfloat16") : QStringLiteral("float32");
        std::vector<LoadRun> runs(3);
        runs[0].label = QStringLiteral("adaptive");
        runs[1].label = QStringLiteral("batch 8");
        runs[1].batch = 8;
        runs[2].label = QStringLiteral("batch 1");
        runs[2].batch = 1;
        for (LoadRun &run : runs) {
            for (const bool loaded : {false, true}) {
                progress(QStringLiteral("load: %1, %2, %3 (load average %4) ...")
                             .arg(precision, run.label, loaded ? QStringLiteral("under load") : QStringLiteral("idle"))
                             .arg(fmt(loadAverage(), 2)));
                std::optional<CoreLoad> busy;
                if (loaded)
                    busy.emplace(o.load);
                QString choice;
                const double s = indexOnce(photos, tmp + QStringLiteral("/data-load-%1").arg(runNo++), model, run.batch,
                                           o.loadImages, &choice);
                if (s < 0)
                    return {};
                (loaded ? run.loaded : run.idle) = s;
                (loaded ? run.loadedChoice : run.idleChoice) = choice;
                progress(QStringLiteral("  %1 s/image (%2)").arg(fmt(s, 3), choice));
            }
            text += QStringLiteral("  %1 %2  idle %3 s/image, under load %4 s/image%5\n")
                        .arg(precision.leftJustified(9), run.label.leftJustified(9), fmt(run.idle, 3), fmt(run.loaded, 3),
                             run.batch == 0 ? QStringLiteral("  (ended at: idle %1; loaded %2)")
                                                  .arg(run.idleChoice, run.loadedChoice)
                                            : QString());
            json.append(QStringLiteral("{\"precision\": \"%1\", \"config\": \"%2\", \"idleSecondsPerImage\": %3, "
                                       "\"loadedSecondsPerImage\": %4}")
                            .arg(precision, run.label, fmt(run.idle, 4), fmt(run.loaded, 4)));
        }
    }
    *jsonOut = QStringLiteral("\"load\": {\"images\": %1, \"busyFraction\": %2, \"runs\": [%3]}")
                   .arg(o.loadImages).arg(fmt(o.load, 2), json.join(QStringLiteral(", ")));
    return text;
}

} // namespace unisearch::bench::pipeline
