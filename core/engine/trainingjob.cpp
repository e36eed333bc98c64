#include "engine/trainingjob.h"

#include "catalog/catalog.h"
#include "engine/adapterpacks.h"
#include "engine/adapterpacks_p.h"
#include "engine/engine.h"
#include "engine/inference.h"
#include "engine/models.h"
#include "engine/modelimage.h"
#include "media/imageconvert.h"
#include "media/imagedecoder.h"
#include "model/bundle.h"
#include "model/preprocess.h"
#include "model/textclean.h"
#include "model/tokenizer.h"
#include "model/trainer.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMutexLocker>
#include <QThreadPool>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <vector>

namespace unisearch::engine {

namespace {
constexpr int kMaxTextTokens = 35; // BLIP's training text length
} // namespace

bool TrainingResult::heldOutScoreFell() const
{
    // The headline score: recall@1, or accuracy for questions.
    auto score = [](const QJsonObject &m) {
        return m.contains(QStringLiteral("accuracy")) ? m.value(QStringLiteral("accuracy")).toDouble()
                                                      : m.value(QStringLiteral("recall_at_1")).toDouble();
    };
    return !before.isEmpty() && !after.isEmpty() && score(after) < score(before) - 1e-9;
}

QStringList TrainingResult::advice() const
{
    QStringList out;
    auto examplesText = [](int n) {
        return n == 1 ? QStringLiteral("1 example") : QStringLiteral("%1 examples").arg(n);
    };
    const int examples = trainExamples + validationExamples;
    if (examples < fewTrainingExamples)
        out << QStringLiteral("Only %1: a few dozen teach a word reliably.").arg(examplesText(examples));
    if (validationExamples > 0 && validationExamples < fewValidationExamples)
        out << QStringLiteral("The before/after scores rest on %1 held out: take them as rough.")
                   .arg(examplesText(validationExamples));
    if (heldOutScoreFell())
        out << QStringLiteral("The held-out score fell: add examples (several photos per name) or train more passes.");
    return out;
}

QJsonObject TrainingResult::toJson() const
{
    QJsonArray l;
    for (double v : losses)
        l.append(v);
    QJsonArray curve;
    for (const ValidationPoint &p : validationCurve)
        curve.append(QJsonObject{{QStringLiteral("step"), p.step}, {QStringLiteral("epoch"), p.epoch},
                                 {QStringLiteral("value"), p.value}});
    return QJsonObject{{QStringLiteral("cancelled"), cancelled},
                       {QStringLiteral("pack"), packName},
                       {QStringLiteral("path"), packPath},
                       {QStringLiteral("activated"), activated},
                       {QStringLiteral("note"), note},
                       {QStringLiteral("train_examples"), trainExamples},
                       {QStringLiteral("validation_examples"), validationExamples},
                       {QStringLiteral("steps"), steps},
                       {QStringLiteral("stored_image_vectors"), storedImageVectors},
                       {QStringLiteral("stored_labels"), storedLabels},
                       {QStringLiteral("seconds"), seconds},
                       {QStringLiteral("losses"), l},
                       {QStringLiteral("validation_curve"), curve},
                       {QStringLiteral("before"), before},
                       {QStringLiteral("after"), after},
                       {QStringLiteral("advice"), QJsonArray::fromStringList(advice())},
                       {QStringLiteral("held_out_score_fell"), heldOutScoreFell()}};
}

// One run of the job, step by step: each step returns false with error set when the run
// cannot go on.
struct TrainingJob::Run {
    Run(TrainingJob &job, Engine &engine, const ProgressFn &progress)
        : job(job)
        , engine(engine)
        , rq(job.m_params)
        , progress(progress)
        , vqa(rq.task == vqaTask)
        , query(rq.mode == QLatin1String("query"))
    {
    }

    bool execute();
    bool checkRequest();
    bool choosePackName();
    bool loadExamples();
    void splitValidation();
    bool prepareImages();
    model::TrainParams trainParams() const;
    bool train();
    void buildData(model::Trainer &trainer);
    QJsonObject metrics(model::Trainer &trainer);
    void savePack(model::Trainer &trainer);
    void activate();

    void report(const Progress &p)
    {
        if (progress)
            progress(p);
    }
    bool fail(const QString &message)
    {
        error = message;
        return false;
    }

    TrainingJob &job;
    Engine &engine;
    const Params &rq;
    const ProgressFn &progress;
    const bool vqa;
    const bool query;
    QString error;
    Result out;

    std::optional<ModelInfo> base;
    QString packName, outPath;
    QList<LabelledExample> examples;
    std::vector<int> order; // the examples' indices: the held-out ones first
    int numValidation = 0;

    model::BundleInfo bundle;
    std::unique_ptr<model::Tokenizer> tok;
    model::PreprocessParams pre;
    std::map<QString, int> imageIndex;
    QStringList imagePaths;
    std::vector<std::vector<float>> storedFeatures;
    int stored = 0;
    std::vector<model::Pixels> pixels;

    model::RetrievalData rTrain, rVal;
    model::VqaData vTrain, vVal;
    std::vector<std::vector<int64_t>> candidates;
};

bool TrainingJob::Run::execute()
{
    if (!checkRequest() || !choosePackName() || !loadExamples())
        return false;
    splitValidation();
    if (!prepareImages())
        return false;
    out.storedImageVectors = stored == imagePaths.size() ? stored : 0;
    if (!rq.fromCatalog) {
        try {
            out.storedLabels = storeLabels(*engine.catalog(), examples, rq.task);
        } catch (const std::exception &) {
            out.storedLabels = 0; // the labels are a convenience; training goes on
        }
    }
    try {
        if (!train())
            return false;
    } catch (const std::exception &e) {
        return fail(QStringLiteral("Training failed: %1").arg(QString::fromUtf8(e.what())));
    }
    if (out.cancelled)
        return true;
    out.packName = packName;
    out.packPath = outPath;
    activate();
    return true;
}

// The request and the base model.
bool TrainingJob::Run::checkRequest()
{
    if (rq.task != retrievalTask && rq.task != vqaTask)
        return fail(QStringLiteral("Unknown task '%1' (use retrieval or vqa)").arg(rq.task));
    if (rq.mode != QLatin1String("query") && rq.mode != QLatin1String("full"))
        return fail(QStringLiteral("Unknown mode '%1' (use query or full)").arg(rq.mode));
    if (!engine.catalog())
        return fail(QStringLiteral("The library is not open: %1").arg(engine.errorString()));
    report({QStringLiteral("preparing")});

    // The base model.
    QString why;
    base = rq.modelName.isEmpty() ? engine.activeModel(rq.task) : engine.model(rq.modelName, &why);
    if (!base)
        return fail(!why.isEmpty() ? why
                                   : QStringLiteral("No %1 model imported: run 'unisearch-cli model import "
                                                    "FILE --task %1' first")
                                         .arg(rq.task));
    if (!base->problem.isEmpty())
        return fail(QStringLiteral("The model '%1' cannot be used: %2").arg(base->name, base->problem));
    if (base->task != rq.task)
        return fail(QStringLiteral("The model '%1' is a %2 model, not %3").arg(base->name, base->task, rq.task));
    return true;
}

bool TrainingJob::Run::choosePackName()
{
    packName = rq.name.isEmpty()
        ? QStringLiteral("%1-%2-%3").arg(rq.task, rq.mode, QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-hhmmss")))
        : rq.name;
    if (!detail::validPackName(packName))
        return fail(QStringLiteral("'%1' is not a usable pack name (letters, digits, . _ - and spaces, at "
                                   "most 100)")
                        .arg(packName));
    outPath = detail::packPath(engine, packName);
    const QString generated = packName;
    for (int n = 2; rq.name.isEmpty() && QFileInfo::exists(outPath); ++n) { // a generated name never clashes
        packName = QStringLiteral("%1-%2").arg(generated).arg(n);
        outPath = detail::packPath(engine, packName);
    }
    if (QFileInfo::exists(outPath) && !rq.replace)
        return fail(QStringLiteral("An adapter pack named '%1' already exists; choose another --name").arg(packName));
    return true;
}

// The examples: the file's, the request's (the wizard) or the catalog's labels.
bool TrainingJob::Run::loadExamples()
{
    examples = rq.examples;
    if (!rq.dataFile.isEmpty()) {
        auto read = readTrainingFile(rq.dataFile, rq.task, &error);
        if (!read)
            return false;
        examples = *read;
    } else if (examples.isEmpty() && rq.fromCatalog) {
        try {
            examples = labelsFromCatalog(*engine.catalog(), rq.task);
        } catch (const std::exception &e) {
            return fail(QStringLiteral("Cannot read the labels: %1").arg(QString::fromUtf8(e.what())));
        }
        for (const auto &e : examples)
            if (!QFileInfo(e.path).isFile())
                return fail(QStringLiteral("The labelled item %1 is missing; index the library again")
                                .arg(QDir::toNativeSeparators(e.path)));
    }
    if (examples.isEmpty())
        return fail(rq.fromCatalog ? QStringLiteral("The catalog holds no %1 labels yet: train once with "
                                                    "--data FILE on photos of the library")
                                         .arg(rq.task == vqaTask ? QStringLiteral("question/answer")
                                                                 : QStringLiteral("caption or name"))
                                   : QStringLiteral("There are no training examples"));
    return true;
}

// The examples split into training and validation (seeded).
void TrainingJob::Run::splitValidation()
{
    order.resize(static_cast<size_t>(examples.size()));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(rq.seed);
    std::shuffle(order.begin(), order.end(), rng);
    numValidation = examples.size() >= 5
        ? std::clamp(static_cast<int>(std::lround(examples.size() * rq.validationFraction)), 1, int(examples.size()) - 1)
        : 0;
    // The held-out examples are spread over the images (one per image in turn), and an
    // image keeps at least one training example while others can give one: a held-out
    // caption then asks for a name or phrase the training saw for that image, in other
    // words. Only when that runs out are examples of an image held out entirely.
    std::vector<std::vector<int>> groups;
    std::map<QString, size_t> groupOf;
    for (int i : order) {
        auto [it, inserted] = groupOf.emplace(examples[i].path, groups.size());
        if (inserted)
            groups.emplace_back();
        groups[it->second].push_back(i);
    }
    std::vector<int> held;
    std::vector<size_t> taken(groups.size(), 0);
    for (bool more = true; more && int(held.size()) < numValidation;) {
        more = false;
        for (size_t g = 0; g < groups.size() && int(held.size()) < numValidation; ++g)
            if (groups[g].size() - taken[g] > 1) {
                held.push_back(groups[g][taken[g]++]);
                more = true;
            }
    }
    const std::set<int> heldSet(held.begin(), held.end());
    for (int i : order)
        if (int(held.size()) < numValidation && !heldSet.count(i))
            held.push_back(i);
    const std::set<int> all(held.begin(), held.end());
    std::vector<int> split = held;
    for (int i : order)
        if (!all.count(i))
            split.push_back(i);
    order = std::move(split);
}

// Tokenizer and images.
bool TrainingJob::Run::prepareImages()
{
    const QString vocab = InferenceService::vocabularyPath();
    if (vocab.isEmpty())
        return fail(QStringLiteral("The tokenizer vocabulary was not found; set UNISEARCH_VOCAB or reinstall"));
    try {
        bundle = model::readBundle(base->path.toStdString());
        tok = std::make_unique<model::Tokenizer>(model::Tokenizer::fromFile(vocab.toStdString()));
    } catch (const std::exception &e) {
        return fail(QString::fromUtf8(e.what()));
    }
    pre.size = bundle.architecture.vision.imageSize;
    pre.mean = bundle.architecture.mean;
    pre.std = bundle.architecture.std;

    for (const auto &e : examples)
        if (imageIndex.emplace(e.path, static_cast<int>(imagePaths.size())).second)
            imagePaths << e.path;

    // Query-mode retrieval trains on the image vectors the index stores for this model
    // (bit-identical to what the search compares against); others are computed.
    storedFeatures.resize(static_cast<size_t>(imagePaths.size()));
    if (query && !vqa && activeAdapterPackPath(*engine.catalog(), base->name).isEmpty()) {
        try {
            for (qsizetype i = 0; i < imagePaths.size(); ++i) {
                const auto item = engine.catalog()->itemByPath(imagePaths[i]);
                if (!item)
                    continue;
                const auto segs = engine.catalog()->segments(item->id);
                if (segs.isEmpty())
                    continue;
                if (auto v = engine.catalog()->vector(segs.front().id, base->fingerprint)) {
                    storedFeatures[static_cast<size_t>(i)] = *v;
                    ++stored;
                }
            }
        } catch (const std::exception &) {
            stored = 0; // computed instead
        }
    }
    pixels.resize(static_cast<size_t>(imagePaths.size()));
    media::DecodeParams decode;
    decode.targetSize = 0;
    for (qsizetype i = 0; i < imagePaths.size(); ++i) {
        if (stored == imagePaths.size())
            break;
        const media::DecodedImage d = media::decodeImage(imagePaths[i], decode);
        if (!d.ok())
            return fail(QStringLiteral("Cannot read the image %1: %2").arg(imagePaths[i], d.error));
        try {
            pixels[static_cast<size_t>(i)] = model::preprocess(toModelImage(d.image), pre);
        } catch (const std::exception &e) {
            return fail(QStringLiteral("Cannot use the image %1: %2").arg(imagePaths[i], QString::fromUtf8(e.what())));
        }
    }
    return true;
}

model::TrainParams TrainingJob::Run::trainParams() const
{
    model::TrainParams params;
    params.task = vqa ? model::TrainTask::Vqa : model::TrainTask::Retrieval;
    params.mode = query ? model::TrainMode::Query : model::TrainMode::Full;
    params.epochs = std::max(1, rq.epochs);
    params.batchSize = std::max(1, rq.batchSize);
    // A few dozen examples need large steps; the image side (full mode) moves more carefully.
    params.learningRate = rq.learningRate > 0 ? rq.learningRate : query ? queryModeLearningRate : fullModeLearningRate;
    params.seed = rq.seed;
    params.bfloat16 = rq.bfloat16;
    params.device = !rq.device.isEmpty()       ? rq.device.toStdString()
                    : engine.device().isEmpty() ? std::string("cpu")
                                                : engine.device().toStdString();
    return params;
}

// The trainer's data: images (or their features) and the tokenized examples, the held-out
// ones apart.
void TrainingJob::Run::buildData(model::Trainer &trainer)
{
    auto ids = [&](const QString &text, bool question) {
        const std::string clean = question ? model::preQuestion(text.toStdString())
                                           : model::preCaption(text.toStdString(), 30);
        return tok->encode(clean, kMaxTextTokens, false);
    };
    if (!vqa) {
        if (stored == imagePaths.size()) {
            rTrain.imageFeatures = storedFeatures;
        } else if (query) {
            // The image side is frozen: its features once (the trainer would compute the
            // same), so each epoch's validation does not run the image encoder again.
            rTrain.imageFeatures = trainer.imageFeatures(pixels);
        } else {
            rTrain.images = pixels;
        }
        rVal.images = rTrain.images;
        rVal.imageFeatures = rTrain.imageFeatures;
    } else {
        vTrain.images = pixels;
        vVal.images = pixels;
    }
    std::set<std::vector<int64_t>> seenAnswers;
    for (size_t k = 0; k < order.size(); ++k) {
        const LabelledExample &e = examples[order[k]];
        const int img = imageIndex.at(e.path);
        const bool validation = static_cast<int>(k) < numValidation;
        if (!vqa) {
            (validation ? rVal : rTrain).examples.push_back({ids(e.text, false), img});
        } else {
            model::VqaExample v;
            v.question = ids(e.text, true);
            v.image = img;
            std::map<QString, int> counts;
            for (const QString &a : e.answers)
                ++counts[a.trimmed()];
            for (const auto &[a, n] : counts) {
                v.answers.push_back(tok->encode(a.toStdString()));
                v.weights.push_back(float(n) / float(e.answers.size()));
                if (seenAnswers.insert(v.answers.back()).second)
                    candidates.push_back(v.answers.back());
            }
            (validation ? vVal : vTrain).examples.push_back(std::move(v));
        }
    }
    out.trainExamples = static_cast<int>(vqa ? vTrain.examples.size() : rTrain.examples.size());
    out.validationExamples = numValidation;
}

// The held-out scores with the trainer's weights now (empty without a held-out set).
QJsonObject TrainingJob::Run::metrics(model::Trainer &trainer)
{
    QJsonObject m;
    if (numValidation == 0)
        return m;
    if (!vqa) {
        const auto r = trainer.evaluate(rVal);
        m.insert(QStringLiteral("recall_at_1"), r.recallAt1);
        m.insert(QStringLiteral("recall_at_5"), r.recallAt5);
        m.insert(QStringLiteral("recall_at_10"), r.recallAt10);
    } else {
        m.insert(QStringLiteral("accuracy"), trainer.vqaAccuracy(vVal, candidates));
    }
    return m;
}

// Before, the epochs (with the validation curve), after, and the pack saved. Throws what
// the trainer throws.
bool TrainingJob::Run::train()
{
    auto trainer = model::Trainer::create(bundle.architecture, bundle.weightsPath, trainParams());
    buildData(*trainer);
    report({QStringLiteral("evaluating")});
    out.before = metrics(*trainer);

    // The validation curve: the held-out metric with the weights at each epoch's end
    // (evaluated without gradients; the training itself is the same with or without it).
    QJsonObject lastMetrics;
    int lastMetricsStep = -1;
    auto onStep = [&](const model::TrainProgress &p) {
        Progress info;
        info.stage = QStringLiteral("training");
        info.step = p.step;
        info.totalSteps = p.totalSteps;
        info.epoch = p.epoch;
        info.loss = p.loss;
        info.examplesPerSecond = p.examplesPerSecond;
        info.etaSeconds = p.etaSeconds;
        if (p.epochEnd && numValidation > 0 && !job.m_interrupt.load()) {
            lastMetrics = metrics(*trainer);
            lastMetricsStep = p.step;
            info.validation = lastMetrics.value(vqa ? QStringLiteral("accuracy") : QStringLiteral("recall_at_1")).toDouble();
            out.validationCurve.append({p.step, p.epoch, info.validation});
        }
        report(info);
        return !job.m_interrupt.load();
    };
    const model::TrainResult result = vqa ? trainer->train(vTrain, onStep) : trainer->train(rTrain, onStep);
    out.steps = result.steps;
    out.seconds = result.seconds;
    for (double l : result.losses)
        out.losses.append(l);
    if (result.cancelled) {
        out.cancelled = true;
        return true;
    }
    if (lastMetricsStep == result.steps) {
        out.after = lastMetrics; // the last epoch's end: these weights were just evaluated
    } else {
        report({QStringLiteral("evaluating")});
        out.after = metrics(*trainer);
    }

    report({QStringLiteral("saving")});
    if (!QDir().mkpath(adaptersDir(engine)))
        return fail(QStringLiteral("Cannot create %1").arg(adaptersDir(engine)));
    savePack(*trainer);
    return true;
}

void TrainingJob::Run::savePack(model::Trainer &trainer)
{
    model::PackMetadata meta;
    meta.name = packName.toStdString();
    meta.baseModel = base->name.toStdString();
    meta.baseFingerprint = base->fingerprint.toStdString();
    meta.task = rq.task.toStdString();
    meta.mode = rq.mode.toStdString();
    meta.architectureJson = bundle.architecture.toJson().dump();
    meta.trainExamples = out.trainExamples;
    meta.validationExamples = out.validationExamples;
    meta.metricsJson = QJsonDocument(QJsonObject{{QStringLiteral("before"), out.before}, {QStringLiteral("after"), out.after}})
                           .toJson(QJsonDocument::Compact)
                           .toStdString();
    meta.createdAt = QDateTime::currentDateTimeUtc().toString(Qt::ISODate).toStdString();
#ifdef UNISEARCH_VERSION
    meta.appVersion = UNISEARCH_VERSION;
#endif
    meta.touchesVision = !query;
    trainer.savePack(outPath.toStdString(), meta);
}

void TrainingJob::Run::activate()
{
    if (rq.activate && !vqa && !query) {
        // Activation re-embeds the library: a job of its own, started by the user.
        out.note = QStringLiteral("a full-mode search pack is used once the library is re-embedded with it: run "
                                  "'unisearch-cli adapters activate %1'")
                       .arg(packName);
    } else if (rq.activate) {
        QString whyNot;
        out.activated = activateAdapterPack(engine, packName, &whyNot);
        out.note = whyNot;
    }
}

TrainingJob::TrainingJob(Engine &engine, Params params, QObject *parent)
    : TypedJob(std::move(params), parent)
    , m_engine(&engine)
{
}

TrainingJob::TrainingJob(Params params, QObject *parent)
    : TypedJob(std::move(params), parent)
{
}

TrainingJob::~TrainingJob()
{
    requestInterruption();
    wait();
}

TrainingJob::Result TrainingJob::runOn(Engine &engine, const ProgressFn &progress)
{
    Run r(*this, engine, progress);
    bool ok = false;
    try {
        ok = r.execute();
    } catch (const std::exception &e) {
        // The steps report errors as values; this is the last line of defence.
        ok = r.fail(QStringLiteral("Training failed: %1").arg(QString::fromUtf8(e.what())));
    }
    Result result = ok ? r.out : Result{};
    result.ok = ok;
    result.error = ok ? QString() : r.error;
    return result;
}

TrainingJob::Result TrainingJob::run(const ProgressFn &progress)
{
    markRunning();
    const ProgressFn report = [&](const Progress &p) {
        if (progress)
            progress(p);
        emit progressUpdated(p);
    };
    Result result;
    if (m_engine) {
        result = runOn(*m_engine, report);
    } else {
        // An Engine of its own: the caller's is used on the caller's thread only.
        Engine engine;
        Engine::Options options;
        options.dataDir = m_params.dataDir;
        options.device = m_params.device;
        if (engine.open(options))
            result = runOn(engine, report);
        else
            result.error = engine.errorString();
    }
    finish(result);
    return result;
}

void TrainingJob::start(QThreadPool *pool)
{
    qRegisterMetaType<TrainingProgress>();
    qRegisterMetaType<TrainingResult>();
    Job::start(pool);
}

} // namespace unisearch::engine
