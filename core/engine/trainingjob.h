#pragma once
// The training job: trains an adapter pack on labelled examples (trainingdata.h), reports
// the held-out scores before and after and a validation curve, saves the pack under
// <dataDir>/adapters/ and activates it (adapterpacks.h). The CLI's `train` runs it on its
// thread (run()); the wizard starts it on a pool (start()) and follows its signals.
// Nothing here throws; errors are messages a person can act on.
//
// The job has the shape of IndexJob (indexjob.h): Params, Result (ok, cancelled, error),
// progressUpdated, then finished (ok or cancelled) or failed, requestInterruption().
#include "engine/job.h"
#include "engine/trainingdata.h"

#include <QJsonObject>
#include <QList>
#include <QMutex>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QWaitCondition>

#include <atomic>
#include <functional>

class QThreadPool;

namespace unisearch::engine {

class Engine;

// The peak learning rate when a request leaves it at 0.
constexpr double queryModeLearningRate = 5e-3;
constexpr double fullModeLearningRate = 2e-3;

struct TrainingParams {
    QString task = QStringLiteral("retrieval"); // retrieval | vqa
    QString mode = QStringLiteral("query");     // query | full
    QString dataFile;
    QList<LabelledExample> examples; // used when dataFile is empty (the wizard)
    bool fromCatalog = false;        // dataFile and examples empty: the labels stored in the catalog
    QString modelName;               // empty: the task's active model
    QString name;                    // pack name; empty: "<task>-<mode>-<yyyyMMdd-hhmmss>"
    int epochs = 10;
    int batchSize = 8;
    double learningRate = 0;         // 0: queryModeLearningRate or fullModeLearningRate
    double validationFraction = 0.2; // held out for the before/after report (none below 5 examples)
    unsigned long long seed = 42;
    bool bfloat16 = false;
    QString device;                  // cpu | cuda; empty: the engine's
    bool activate = true;            // activate the pack when training finishes (when allowed)
    bool replace = false;            // overwrite a pack of the same name
    // For a job without an Engine (the constructor without one): the library it opens an
    // Engine of its own on (its own catalog connection, on the thread the job runs on).
    QString dataDir;
};

struct TrainingProgress {
    QString stage;        // "preparing", "evaluating", "training", "saving"
    int step = 0, totalSteps = 0, epoch = 0;
    double loss = 0;
    double examplesPerSecond = 0;
    double etaSeconds = 0;
    // At the end of an epoch, when there is a held-out set: the held-out recall@1
    // (retrieval) or accuracy (vqa) with the weights so far; < 0 otherwise.
    double validation = -1;
};

struct ValidationPoint {
    int step = 0, epoch = 0;
    double value = 0; // recall@1 (retrieval) or accuracy (vqa) on the held-out examples
};

struct TrainingResult {
    bool ok = false;            // ran to the end (or was cancelled cleanly)
    QString error;              // !ok: why the job failed
    bool cancelled = false;
    QString packName, packPath; // empty when cancelled
    bool activated = false;
    QString note;               // why it was not activated, etc.
    int trainExamples = 0, validationExamples = 0, steps = 0;
    int storedImageVectors = 0; // query-mode retrieval: images whose indexed vectors were used
    int storedLabels = 0;       // labels of library items added to the catalog
    double seconds = 0;
    QList<double> losses;
    QList<ValidationPoint> validationCurve; // one point per epoch (empty without a held-out set)
    QJsonObject before, after;  // retrieval: recall_at_1/5/10; vqa: accuracy
    // What the user should know about the run, a sentence each: few examples, too few
    // held out to judge by, a held-out score that fell. Empty when none applies.
    QStringList advice() const;
    // The held-out recall@1 (accuracy for questions) is lower after than before.
    bool heldOutScoreFell() const;
    QJsonObject toJson() const; // with "advice" and "held_out_score_fell" (not ok and error)
};

// The job control (start, wait, interruption, failed, params, result) is TypedJob's (job.h).
class TrainingJob : public TypedJob<TrainingParams, TrainingResult, TrainingProgress>
{
    Q_OBJECT

public:
    using ProgressFn = std::function<void(const Progress &)>;

    // Trains with engine's catalog and models: run() on the thread that uses engine. The
    // catalog is used at the start (model, stored vectors) and the end (activation).
    TrainingJob(Engine &engine, Params params, QObject *parent = nullptr);
    // Opens an Engine of its own on params.dataDir where it runs: for start() on a pool.
    explicit TrainingJob(Params params, QObject *parent = nullptr);
    // Requests interruption and waits for a started job.
    ~TrainingJob() override;

    // Runs to the end on the calling thread; progress is called on it. Never throws.
    Result run(const ProgressFn &progress = {});
    // Job::start after registering the signals' types.
    void start(QThreadPool *pool = nullptr);

    // requestInterruption() (Job's) stops training after the current step; nothing is
    // written and the active pack stays.

signals:
    void progressUpdated(const unisearch::engine::TrainingProgress &progress);
    void finished(const unisearch::engine::TrainingResult &result); // ok (or cancelled)

private:
    struct Run;
    Result runOn(Engine &engine, const ProgressFn &progress);
    void runOnPool() override { run(); }
    void emitFinished(const Result &result) override { emit finished(result); }

    Engine *m_engine = nullptr; // null: one of its own, opened on params.dataDir
};

} // namespace unisearch::engine

Q_DECLARE_METATYPE(unisearch::engine::TrainingProgress)
Q_DECLARE_METATYPE(unisearch::engine::TrainingResult)
