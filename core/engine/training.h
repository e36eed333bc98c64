#pragma once
// Fine-tuning at the engine's edge: training data files, the training job (progress,
// cancel, validation report before/after), and adapter packs under <dataDir>/adapters/
// (list, activate, deactivate, export, import). The CLI's `train` and `adapters` and the
// GUI's wizard use this. Nothing here throws; errors are messages a person can act on.
//
// The active pack of a model is recorded in the catalog's meta table
// ("adapter_pack/active/<model name>" = the pack's path); Engine::inference() and
// RetrievalModel::loadActive() load it over the base weights. A pack trained in query
// mode leaves the image side untouched, so the stored image vectors stay valid (they are
// keyed by the base model's fingerprint). A full-mode retrieval pack changes the image
// side: its vectors are kept under their own key (vectorFingerprint()), next to the old
// ones. Activating it records it as *pending* ("adapter_pack/pending/<model name>");
// continueReembed() then embeds the library with it (an IndexJob: batches committed, a
// kill loses at most one, a rerun continues) while search keeps using the active pack and
// its vectors, and when every indexed item has a new vector it switches in ONE catalog
// transaction (pending -> active). VQA packs have no stored vectors and activate at once.
#include "engine/indexjob.h"

#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine {

class Engine;

// One labelled example.
struct LabelledExample {
    QString path;        // the image, absolute
    QString text;        // retrieval: a caption; vqa: the question
    QStringList answers; // vqa: the answers given (a repeated answer counts more)
    QString name;        // retrieval: the name this caption was made from (nameTemplates), if any
};

// Caption templates for a name attached to items ("Shrek" → "Shrek", "a photo of Shrek", ...).
QStringList nameTemplates(const QString &name);

// Reads training examples from a file, by content:
//  - CSV (fields may be "quoted"; a first line starting with `path,` is a header):
//    retrieval `path,caption` (an optional third column `name` marks the text as a name,
//    expanded with nameTemplates()); vqa `path,question,answer` (answers separated by `|`).
//  - JSON, COCO captions: {"images":[{"id","file_name"}], "annotations":[{"image_id","caption"}]}.
//  - JSON, the reference's lists: [{"image": path, "caption": text or [texts]}] (retrieval),
//    [{"image": path, "question": q, "answer": a or [answers]}] (vqa).
// Relative paths are resolved against the file's folder. nullopt with *error naming the
// line or entry when the file is malformed or an image is missing.
std::optional<QList<LabelledExample>> readTrainingFile(const QString &file, const QString &task, QString *error);

// Labels in the catalog (`labels` table): a training run stores the examples of library
// items there (captions, names, question/answer pairs), and a later run can train on them.
// Returns how many labels were added (identical ones are kept once).
int storeLabels(catalog::Catalog &catalog, const QList<LabelledExample> &examples, const QString &task);
QList<LabelledExample> labelsFromCatalog(const catalog::Catalog &catalog, const QString &task);

// Below this many examples a run is flagged: a few dozen teach a word reliably.
constexpr int fewTrainingExamples = 20;
// Below this many held-out examples the before/after scores are flagged as rough.
constexpr int fewValidationExamples = 10;

// The peak learning rate when a request leaves it at 0.
constexpr double queryModeLearningRate = 5e-3;
constexpr double fullModeLearningRate = 2e-3;

struct TrainRequest {
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
};

struct TrainProgressInfo {
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

struct TrainOutcome {
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
    QJsonObject toJson() const; // with "advice" and "held_out_score_fell"
};

class TrainingJob
{
public:
    using ProgressFn = std::function<void(const TrainProgressInfo &)>;
    TrainingJob(Engine &engine, TrainRequest request);
    // Runs to the end (blocking: call it on a worker thread in a GUI). The catalog is used
    // at the start (model, stored vectors) and the end (activation) on the calling thread.
    std::optional<TrainOutcome> run(const ProgressFn &progress, QString *error);
    // Stops training after the current step; nothing is written and the active pack stays.
    void requestInterruption() { m_interrupt = true; }
    bool isInterruptionRequested() const { return m_interrupt; }

private:
    Engine &m_engine;
    TrainRequest m_request;
    std::atomic<bool> m_interrupt{false};
};

struct AdapterPackInfo {
    QString name;       // file name without .safetensors
    QString path;
    QString baseModel, baseFingerprint, task, mode, createdAt, appVersion;
    int trainExamples = 0, validationExamples = 0;
    qint64 parameterCount = 0;
    QJsonObject metrics;
    bool touchesVision = false;
    bool active = false;
    bool pending = false; // activated, waiting for the library to be re-embedded with it
    QString problem;    // non-empty: unreadable
    QJsonObject toJson() const; // `adapters list --json` entry
};

QString adaptersDir(const Engine &engine);
QList<AdapterPackInfo> adapterPacks(const Engine &engine, QString *error = nullptr);
// Makes the pack active for its base model (which must be imported and match the pack's
// fingerprint). A full-mode retrieval pack that is not active yet becomes the pending one
// instead (*reembedPending = true): continueReembed() finishes its activation. Either way
// a pending re-embed of another pack is cancelled and its vectors deleted.
bool activateAdapterPack(Engine &engine, const QString &name, QString *error = nullptr,
                         bool *reembedPending = nullptr);
// Removes the active pack of a model (empty: the active model of each task), and cancels
// a pending re-embed.
bool deactivateAdapterPack(Engine &engine, const QString &modelName, QString *error = nullptr);
bool exportAdapterPack(const Engine &engine, const QString &name, const QString &destination, QString *error = nullptr);
// Copies a pack into the adapters folder (checked first); name empty: the file's name.
std::optional<AdapterPackInfo> importAdapterPack(Engine &engine, const QString &file, const QString &name = {},
                                                 QString *error = nullptr);
// The active pack's path of a model ("" when none), from the catalog.
QString activeAdapterPackPath(const catalog::Catalog &catalog, const QString &modelName);
// The pack waiting for its re-embed to finish ("" when none).
QString pendingAdapterPackPath(const catalog::Catalog &catalog, const QString &modelName);
// The key of the stored vectors (catalog and vectors/<key>.faiss) of a retrieval model
// running with the pack at packPath: the base fingerprint for no pack, a query-mode pack
// or a VQA pack; "<base>+<16 hex digits of the pack file's sha256>" for a pack that
// changes the image side. An unreadable pack counts as none.
QString vectorFingerprint(const QString &baseFingerprint, const QString &packPath);

struct ReembedParams {
    int batchSize = 8;
    QString device; // empty: the engine's
};

struct ReembedOutcome {
    QString packName;        // the pending pack; empty: nothing was pending
    QString fingerprint;     // the key of its vectors
    bool cancelled = false;  // committed batches are kept; the next run continues
    bool switched = false;   // the pack is active now
    qint64 embedded = 0;     // items embedded by this run
    qint64 vectors = 0;      // vectors stored under fingerprint
    qint64 missing = 0;      // indexed items still without one (not switched)
    QJsonObject toJson() const;
};

// The same in two halves, for a caller that runs the IndexJob itself (the GUI, on its
// pool): the job's parameters (nullopt with *error when nothing is pending or it cannot
// run), then, after a job that was not cancelled, the switch when the re-embed is complete.
std::optional<IndexParams> reembedJobParams(Engine &engine, const ReembedParams &params, QString *error);
std::optional<ReembedOutcome> finishReembed(Engine &engine, QString *error);

// Runs (or continues) the pending re-embed of the active retrieval model on the calling
// thread, over the library's folders, and switches when it is complete. progress returns
// false to stop (the pack stays pending). nullopt with *error when it cannot run.
std::optional<ReembedOutcome> continueReembed(Engine &engine, const ReembedParams &params,
                                              const std::function<bool(const IndexProgress &)> &progress,
                                              QString *error);

} // namespace unisearch::engine
