// Adapter fine-tuning on the fixture model: only the trainable tensors move (and get
// gradients that agree with finite differences), made-up words are learned in both modes
// (held-out recall@1 from chance to >= 0.9), runs are reproducible from a seed, packs
// round-trip into the inference engine exactly and a pack for another base model or a
// damaged file is refused with a clear message, cancelling stops at a step, and activation
// checkpointing changes neither the loss, the gradients nor the trained weights.
#include "model/adapterpack.h"
#include "model/modelrunner.h"
#include "model/sha256.h"
#include "model/tokenizer.h"
#include "model/trainer.h"
#include "support/fixtures.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <random>
#include <sys/resource.h>
#include <set>

using namespace unisearch;
using namespace unisearch::model;

namespace {

// Made-up words the base model has never been taught to tie to anything.
const std::vector<std::string> kWords = {"zorblat", "quindle", "fremmix", "blorpton",
                                         "snazzit", "wugglet", "trimpo", "glarnish"};

struct SyntheticTask {
    RetrievalData train;      // four caption templates per image
    RetrievalData validation; // a third, held-out template; the same images
};

std::string weightsPath(const char *file)
{
    return (test::uniadapterDir() + QStringLiteral("/weights/") + QString::fromLatin1(file)).toStdString();
}

Architecture fixtureArchitecture(const QString &caseName)
{
    return Architecture::fromJson(test::readCase(caseName).at("architecture"));
}

// One image per made-up word: random smooth patterns, so the images are distinct.
std::vector<Pixels> makeImages(int count, int size, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<Pixels> out;
    for (int i = 0; i < count; ++i) {
        Pixels p(static_cast<size_t>(3 * size * size));
        const float base[3] = {normal(rng), normal(rng), normal(rng)};
        const float fx = normal(rng), fy = normal(rng);
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < size; ++y)
                for (int x = 0; x < size; ++x)
                    p[static_cast<size_t>((c * size + y) * size + x)] =
                        base[c] + 0.8f * std::sin(fx * x * 0.3f + fy * y * 0.3f + c) + 0.1f * normal(rng);
        out.push_back(std::move(p));
    }
    return out;
}

SyntheticTask makeTask(const Tokenizer &tok, int imageSize)
{
    SyntheticTask t;
    t.train.images = makeImages(static_cast<int>(kWords.size()), imageSize, 7);
    t.validation.images = t.train.images;
    for (size_t i = 0; i < kWords.size(); ++i) {
        const int img = static_cast<int>(i);
        for (const char *prefix : {"", "a photo of ", "an image of ", "this is "})
            t.train.examples.push_back({tok.encode(prefix + kWords[i]), img});
        t.validation.examples.push_back({tok.encode("a picture of " + kWords[i]), img});
    }
    return t;
}

TrainParams params(TrainMode mode, int epochs)
{
    TrainParams p;
    p.task = TrainTask::Retrieval;
    p.mode = mode;
    p.epochs = epochs;
    p.batchSize = 8;
    p.learningRate = 5e-3;
    p.seed = 1234;
    return p;
}

PackMetadata metadataFor(const Trainer &trainer, const std::string &fingerprint)
{
    PackMetadata m;
    m.name = "words";
    m.baseModel = "fixture";
    m.baseFingerprint = fingerprint;
    m.task = toString(trainer.params().task);
    m.mode = toString(trainer.params().mode);
    m.architectureJson = "{}";
    m.trainExamples = 16;
    m.createdAt = "2026-01-01T00:00:00Z";
    m.appVersion = "test";
    m.touchesVision = trainer.params().mode == TrainMode::Full;
    return m;
}

double maxAbsDiff(const std::vector<std::vector<float>> &a, const std::vector<std::vector<float>> &b)
{
    if (a.size() != b.size())
        return 1e9;
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].size() != b[i].size())
            return 1e9;
        for (size_t j = 0; j < a[i].size(); ++j)
            m = std::max(m, std::abs(double(a[i][j]) - double(b[i][j])));
    }
    return m;
}

// Three questions about three images, two weighted answers each.
VqaData makeVqaData(const Tokenizer &tok, int imageSize)
{
    VqaData data;
    data.images = makeImages(3, imageSize, 3);
    const std::vector<std::pair<std::string, std::string>> qa = {
        {"what is the zorblat doing?", "sleeping"}, {"what color is it?", "red"}, {"how many are there?", "two"}};
    for (int i = 0; i < 3; ++i) {
        VqaExample e;
        e.question = tok.encode(qa[static_cast<size_t>(i)].first);
        e.image = i;
        e.answers = {tok.encode(qa[static_cast<size_t>(i)].second), tok.encode("yes")};
        e.weights = {0.75f, 0.25f};
        data.examples.push_back(e);
    }
    return data;
}

// Largest |a - b| over the tensor, relative to the tensor's largest |a|.
double relativeDiff(const std::vector<double> &a, const std::vector<double> &b)
{
    if (a.size() != b.size())
        return 1e9;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(a[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

// Two trainers with the same settings, activation checkpointing on (first) and off.
std::pair<std::unique_ptr<Trainer>, std::unique_ptr<Trainer>> withAndWithoutCheckpointing(const Architecture &arch,
                                                                                          const std::string &weights,
                                                                                          TrainParams p)
{
    p.checkpointActivations = true;
    auto on = Trainer::create(arch, weights, p);
    p.checkpointActivations = false;
    return {std::move(on), Trainer::create(arch, weights, p)};
}

// The loss and the gradient of every trainable tensor agree between the two trainers
// (float64: up to the rounding of a different summation order).
void compareLossAndGradients(Trainer &on, Trainer &off, double lossOn, double lossOff)
{
    QVERIFY2(std::abs(lossOn - lossOff) <= 1e-12 * std::abs(lossOff),
             qPrintable(QStringLiteral("loss %1 vs %2").arg(lossOn, 0, 'g', 17).arg(lossOff, 0, 'g', 17)));
    const auto names = off.trainableNames();
    QCOMPARE(on.trainableNames(), names);
    for (const auto &name : names) {
        const auto a = on.gradient(name), b = off.gradient(name);
        QVERIFY2(std::any_of(b.begin(), b.end(), [](double v) { return v != 0.0; }), ("no gradient reaches " + name).c_str());
        const double rel = relativeDiff(a, b);
        QVERIFY2(rel <= 1e-12, qPrintable(QStringLiteral("%1: gradients differ by %2 (relative)")
                                              .arg(QString::fromStdString(name)).arg(rel)));
    }
}

} // namespace

class TestTrainer : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void trainableNamesFollowTheMode();
    void onlyTrainableTensorsMove();
    void gradientsMatchFiniteDifferences();
    void lossDecreases();
    void sameSeedSameWeights();
    void queryModeLearnsNewWords();
    void fullModeLearnsNewWords();
    void packRoundTrips();
    void packForAnotherBaseIsRefused();
    void failedPackWriteKeepsTheOldPack();
    void malformedPacksAreRefused();
    void cancelStopsAtTheStep();
    void vqaLearnsAnswersTrainingOnlyAdapters();
    void vqaHeldOutAccuracyRises();
    void epochEndEvaluationChangesNothing();
    void badDataIsReported();
    void checkpointingKeepsLossAndGradients();
    void checkpointingKeepsTrainedWeights();
    void checkpointingKeepsBfloat16Autocast();

private:
    std::unique_ptr<Tokenizer> m_tok;
    Architecture m_arch;
    SyntheticTask m_task;
};

void TestTrainer::initTestCase()
{
    m_tok = std::make_unique<Tokenizer>(Tokenizer::fromFile(test::vocabPath().toStdString()));
    m_arch = fixtureArchitecture(QStringLiteral("retrieval-image"));
    m_task = makeTask(*m_tok, m_arch.vision.imageSize);
}

void TestTrainer::trainableNamesFollowTheMode()
{
    auto query = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Query, 1));
    auto full = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Full, 1));
    const auto q = query->trainableNames();
    const auto f = full->trainableNames();
    auto has = [](const std::vector<std::string> &names, const std::string &n) {
        return std::find(names.begin(), names.end(), n) != names.end();
    };
    // Query: the text branch only; the shared down projection feeds the image encoder.
    QVERIFY(has(q, "adapters.0.up_proj.weight"));
    QVERIFY(has(q, "text_proj.weight"));
    QVERIFY(has(q, "temp"));
    QVERIFY(!has(q, "adapters.0.down_proj.weight"));
    QVERIFY(!has(q, "adapters.0.visual_up_proj.weight"));
    QVERIFY(!has(q, "vision_proj.weight"));
    QVERIFY(!has(q, "itm_head.weight"));
    // Full: every adapter tensor (video K/V included), the projections and the ITM head.
    for (const char *n : {"adapters.0.down_proj.weight", "adapters.1.visual_up_proj.weight",
                          "adapters.1.multi_up_proj.bias", "adapters.0.adapter_layer_norm_before.weight",
                          "text_encoder.encoder.video_key_adapter.down_proj.weight",
                          "text_encoder.encoder.video_value_adapter.scale", "vision_proj.weight", "text_proj.bias",
                          "itm_head.weight", "temp"})
        QVERIFY2(has(f, n), n);
    for (const auto &n : f)
        QVERIFY2(n.rfind("visual_encoder.blocks.0.attn", 0) != 0 && n.rfind("text_encoder.embeddings", 0) != 0,
                 n.c_str());
}

void TestTrainer::onlyTrainableTensorsMove()
{
    auto trainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Full, 1));
    const auto before = trainer->snapshot(false);
    const auto names = trainer->trainableNames();
    const std::set<std::string> trainable(names.begin(), names.end());

    // Every trainable tensor gets a gradient from one batch of the full objective.
    trainer->lossOf(m_task.train, 5, true);
    for (const auto &n : names) {
        const auto g = trainer->gradient(n);
        const bool nonzero = std::any_of(g.begin(), g.end(), [](double v) { return v != 0.0; });
        QVERIFY2(nonzero, ("no gradient reaches " + n).c_str());
    }

    const auto result = trainer->train(m_task.train);
    QCOMPARE(result.steps, 4);
    const auto after = trainer->snapshot(false);
    QCOMPARE(after.size(), before.size());
    int frozen = 0;
    for (const auto &[name, values] : before) {
        if (trainable.count(name)) {
            QVERIFY2(after.at(name) != values, ("trainable tensor did not change: " + name).c_str());
        } else {
            ++frozen;
            QVERIFY2(after.at(name) == values, ("frozen tensor changed: " + name).c_str());
        }
    }
    QVERIFY(frozen > 50);
}

void TestTrainer::gradientsMatchFiniteDifferences()
{
    TrainParams p = params(TrainMode::Full, 1);
    p.doublePrecision = true;
    auto trainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), p);
    RetrievalData batch = m_task.train;
    batch.examples.clear();
    for (size_t i = 0; i < m_task.train.examples.size(); i += 5) // several images, some twice
        batch.examples.push_back(m_task.train.examples[i]);
    trainer->lossOf(batch, 11, true);
    const double h = 1e-5;
    int checked = 0;
    for (const std::string name : {"adapters.0.up_proj.weight", "adapters.1.down_proj.weight",
                                   "adapters.0.visual_up_proj.bias", "text_encoder.encoder.video_key_adapter.up_proj.weight",
                                   "itm_head.weight", "vision_proj.weight", "temp"}) {
        const auto grad = trainer->gradient(name);
        for (int64_t index : {int64_t(0), int64_t(grad.size() / 2)}) {
            trainer->perturb(name, index, h);
            const double plus = trainer->lossOf(batch, 11, false);
            trainer->perturb(name, index, -2 * h);
            const double minus = trainer->lossOf(batch, 11, false);
            trainer->perturb(name, index, h);
            const double numeric = (plus - minus) / (2 * h);
            const double analytic = grad[static_cast<size_t>(index)];
            const double tolerance = 1e-5 + 1e-3 * std::abs(numeric);
            QVERIFY2(std::abs(numeric - analytic) <= tolerance,
                     qPrintable(QStringLiteral("%1[%2]: analytic %3, numeric %4")
                                    .arg(QString::fromStdString(name)).arg(index).arg(analytic).arg(numeric)));
            ++checked;
        }
    }
    QCOMPARE(checked, 14);
}

void TestTrainer::lossDecreases()
{
    auto trainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Full, 6));
    const auto result = trainer->train(m_task.train);
    QCOMPARE(result.steps, 24);
    const double first = (result.losses[0] + result.losses[1] + result.losses[2] + result.losses[3]) / 4;
    const double last = (result.losses[20] + result.losses[21] + result.losses[22] + result.losses[23]) / 4;
    QVERIFY2(last < 0.75 * first, qPrintable(QStringLiteral("loss %1 -> %2").arg(first).arg(last)));
}

void TestTrainer::sameSeedSameWeights()
{
    auto a = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Full, 2));
    auto b = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Full, 2));
    TrainParams other = params(TrainMode::Full, 2);
    other.seed = 99;
    auto c = Trainer::create(m_arch, weightsPath("retrieval.pth"), other);
    a->train(m_task.train);
    b->train(m_task.train);
    c->train(m_task.train);
    QVERIFY(a->snapshot(true) == b->snapshot(true));
    QVERIFY(a->snapshot(true) != c->snapshot(true));
}

void TestTrainer::queryModeLearnsNewWords()
{
    auto trainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Query, 40));
    // Query mode trains on the stored image vectors: give it the features, not the pixels.
    RetrievalData train = m_task.train, validation = m_task.validation;
    train.imageFeatures = trainer->imageFeatures(train.images);
    train.images.clear();
    validation.imageFeatures = train.imageFeatures;
    validation.images.clear();

    const RetrievalMetrics before = trainer->evaluate(validation);
    qInfo("query mode: held-out recall@1 before %.3f", before.recallAt1);
    QVERIFY(before.recallAt1 <= 0.5);
    const auto result = trainer->train(train);
    QVERIFY(!result.cancelled);
    const RetrievalMetrics after = trainer->evaluate(validation);
    qInfo("query mode: held-out recall@1 after %.3f (%d steps, loss %.3f -> %.3f)", after.recallAt1, result.steps,
          result.losses.front(), result.losses.back());
    QVERIFY(after.recallAt1 >= 0.9);
    QCOMPARE(after.queries, 8);
    // The image side is untouched: the vectors the index stores stay valid, bit for bit.
    QVERIFY(trainer->imageFeatures(m_task.train.images) == train.imageFeatures);
}

void TestTrainer::fullModeLearnsNewWords()
{
    auto trainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Full, 25));
    const RetrievalMetrics before = trainer->evaluate(m_task.validation);
    qInfo("full mode: held-out recall@1 before %.3f", before.recallAt1);
    QVERIFY(before.recallAt1 <= 0.5);
    const auto result = trainer->train(m_task.train);
    const RetrievalMetrics after = trainer->evaluate(m_task.validation);
    qInfo("full mode: held-out recall@1 after %.3f (%d steps, loss %.3f -> %.3f)", after.recallAt1, result.steps,
          result.losses.front(), result.losses.back());
    QVERIFY(after.recallAt1 >= 0.9);
}

void TestTrainer::packRoundTrips()
{
    QTemporaryDir tmp;
    const std::string weights = weightsPath("retrieval.pth");
    const std::string fingerprint = sha256File(weights);
    auto trainer = Trainer::create(m_arch, weights, params(TrainMode::Full, 2));
    trainer->train(m_task.train);
    const std::string pack = (tmp.path() + QStringLiteral("/words.safetensors")).toStdString();
    trainer->savePack(pack, metadataFor(*trainer, fingerprint));

    const PackInfo info = readPack(pack);
    QCOMPARE(info.metadata.baseFingerprint, fingerprint);
    QCOMPARE(info.metadata.task, std::string("retrieval"));
    QCOMPARE(info.metadata.mode, std::string("full"));
    QVERIFY(info.metadata.touchesVision);
    QCOMPARE(info.tensors.size(), trainer->trainableNames().size());
    checkPackFits(info, fingerprint, "fixture"); // does not throw

    // A trainer started from the pack holds exactly the trained tensors.
    auto reloaded = Trainer::create(m_arch, weights, params(TrainMode::Full, 1), pack);
    QVERIFY(reloaded->snapshot(true) == trainer->snapshot(true));

    // The inference engine with the pack reproduces the trained model's features.
    RunnerOptions options;
    options.adapterPack = pack;
    auto engine = ModelRunner::load(m_arch, weights, options);
    std::vector<std::vector<int64_t>> ids;
    for (const auto &e : m_task.validation.examples)
        ids.push_back(e.ids);
    QVERIFY(maxAbsDiff(engine->textFeatures(ids), trainer->textFeatures(ids)) < 1e-5);
    std::vector<const float *> px;
    for (const auto &img : m_task.train.images)
        px.push_back(img.data());
    QVERIFY(maxAbsDiff(engine->imageFeatures(px), trainer->imageFeatures(m_task.train.images)) < 1e-5);
    // ... and differs from the base model's.
    auto base = ModelRunner::load(m_arch, weights);
    QVERIFY(maxAbsDiff(base->textFeatures(ids), engine->textFeatures(ids)) > 1e-3);
}

// A pack written over an existing one (the active pack, say) on a disk that fills up
// midway: a clear error, the old pack byte for byte, and no temporary file left behind.
void TestTrainer::failedPackWriteKeepsTheOldPack()
{
    QTemporaryDir tmp;
    const std::string weights = weightsPath("retrieval.pth");
    const std::string fingerprint = sha256File(weights);
    auto trainer = Trainer::create(m_arch, weights, params(TrainMode::Query, 1));
    const QString pack = tmp.path() + QStringLiteral("/active.safetensors");
    trainer->savePack(pack.toStdString(), metadataFor(*trainer, fingerprint));
    QFile f(pack);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray before = f.readAll();
    f.close();
    trainer->train(m_task.train); // new weights to write over it

    // The file size limit stands in for the full disk: writes past it fail (EFBIG) as
    // they would with ENOSPC.
    rlimit old{};
    QVERIFY(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    const auto previousHandler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old;
    small.rlim_cur = rlim_t(before.size() / 2);
    QVERIFY(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    QString error;
    try {
        trainer->savePack(pack.toStdString(), metadataFor(*trainer, fingerprint));
    } catch (const TrainError &e) {
        error = QString::fromUtf8(e.what());
    }
    QVERIFY(::setrlimit(RLIMIT_FSIZE, &old) == 0);
    std::signal(SIGXFSZ, previousHandler);
    QVERIFY2(error.contains(QStringLiteral("write failed")), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("File too large")), qPrintable(error));

    QVERIFY(f.open(QIODevice::ReadOnly));
    QVERIFY(f.readAll() == before);
    f.close();
    QCOMPARE(QDir(tmp.path()).entryList(QDir::Files | QDir::Hidden), QStringList{QStringLiteral("active.safetensors")});
    // With room again it writes the new pack.
    trainer->savePack(pack.toStdString(), metadataFor(*trainer, fingerprint));
    QVERIFY(readPack(pack.toStdString()).tensors.size() == trainer->trainableNames().size());
    QVERIFY(f.open(QIODevice::ReadOnly));
    QVERIFY(f.readAll() != before);
}

void TestTrainer::packForAnotherBaseIsRefused()
{
    QTemporaryDir tmp;
    auto trainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Query, 1));
    const std::string pack = (tmp.path() + QStringLiteral("/p.safetensors")).toStdString();
    trainer->savePack(pack, metadataFor(*trainer, std::string(64, 'a')));
    const PackInfo info = readPack(pack);
    try {
        checkPackFits(info, sha256File(weightsPath("retrieval.pth")), "fixture");
        QFAIL("a pack for another base model was accepted");
    } catch (const PackError &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("another base model")), e.what());
        QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("'fixture'")), e.what());
    }
}

void TestTrainer::malformedPacksAreRefused()
{
    QTemporaryDir tmp;
    const QString junk = tmp.path() + QStringLiteral("/junk.safetensors");
    QFile f(junk);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("this is not a safetensors file at all");
    f.close();
    QVERIFY_THROWS_EXCEPTION(PackError, readPack(junk.toStdString()));
    QVERIFY_THROWS_EXCEPTION(PackError, readPack((tmp.path() + QStringLiteral("/missing.safetensors")).toStdString()));
    // A checkpoint is not a pack.
    try {
        readPack(weightsPath("retrieval.pth"));
        QFAIL("a checkpoint was read as a pack");
    } catch (const PackError &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("adapter pack")), e.what());
    }
    // A VQA pack holds decoder tensors a retrieval model lacks: the engine refuses it.
    const Architecture vqaArch = fixtureArchitecture(QStringLiteral("vqa"));
    TrainParams p = params(TrainMode::Full, 1);
    p.task = TrainTask::Vqa;
    auto vqa = Trainer::create(vqaArch, weightsPath("vqa.pth"), p);
    const std::string pack = (tmp.path() + QStringLiteral("/vqa.safetensors")).toStdString();
    vqa->savePack(pack, metadataFor(*vqa, sha256File(weightsPath("vqa.pth"))));
    RunnerOptions options;
    options.adapterPack = pack;
    try {
        ModelRunner::load(m_arch, weightsPath("retrieval.pth"), options);
        QFAIL("a VQA pack was applied to a retrieval model");
    } catch (const ModelError &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("does not have")), e.what());
    }
}

void TestTrainer::cancelStopsAtTheStep()
{
    auto trainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Query, 10));
    std::vector<TrainProgress> seen;
    const auto result = trainer->train(m_task.train, [&](const TrainProgress &p) {
        seen.push_back(p);
        return p.step < 3;
    });
    QVERIFY(result.cancelled);
    QCOMPARE(result.steps, 3);
    QCOMPARE(seen.size(), size_t(3));
    QCOMPARE(seen.back().totalSteps, 40);
    QVERIFY(seen.back().etaSeconds >= 0);
    QVERIFY(seen.back().examplesPerSecond > 0);
    QVERIFY(seen.front().learningRate < seen.back().learningRate); // warming up
}

void TestTrainer::vqaLearnsAnswersTrainingOnlyAdapters()
{
    const Architecture vqaArch = fixtureArchitecture(QStringLiteral("vqa"));
    const VqaData data = makeVqaData(*m_tok, vqaArch.vision.imageSize);
    std::vector<std::vector<int64_t>> candidates;
    for (const char *a : {"sleeping", "red", "two", "yes", "blue"})
        candidates.push_back(m_tok->encode(a));
    for (TrainMode mode : {TrainMode::Query, TrainMode::Full}) {
        TrainParams p = params(mode, 30);
        p.task = TrainTask::Vqa;
        auto trainer = Trainer::create(vqaArch, weightsPath("vqa.pth"), p);
        const double accuracyBefore = trainer->vqaAccuracy(data, candidates);
        qInfo("vqa %s: accuracy on the training questions before %.3f", toString(mode).c_str(), accuracyBefore);
        QVERIFY(accuracyBefore < 0.5);
        const auto names = trainer->trainableNames();
        const std::set<std::string> trainable(names.begin(), names.end());
        QVERIFY(trainable.count("adapters.0.multi_up_proj.weight"));
        QCOMPARE(trainable.count("adapters.0.down_proj.weight"), size_t(mode == TrainMode::Full));
        const auto before = trainer->snapshot(false);
        const auto result = trainer->train(data);
        QCOMPARE(result.steps, 30);
        QVERIFY2(result.losses.back() < result.losses.front(),
                 qPrintable(QStringLiteral("%1 -> %2").arg(result.losses.front()).arg(result.losses.back())));
        const double accuracyAfter = trainer->vqaAccuracy(data, candidates);
        qInfo("vqa %s: accuracy on the training questions after %.3f (loss %.2f -> %.2f)", toString(mode).c_str(),
              accuracyAfter, result.losses.front(), result.losses.back());
        QCOMPARE(accuracyAfter, 1.0);
        const auto after = trainer->snapshot(false);
        for (const auto &[name, values] : before)
            if (!trainable.count(name))
                QVERIFY2(after.at(name) == values, ("frozen tensor changed: " + name).c_str());
    }
}

namespace {

// Groups of generated images: each group its own colours and stripes, each image of a
// group a shifted, noisier variant, so an unseen image of a group looks like its group.
std::vector<Pixels> makeGroupImages(int groups, int perGroup, int size, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::uniform_real_distribution<float> phase(0.f, 6.2832f);
    std::vector<Pixels> out;
    for (int g = 0; g < groups; ++g) {
        const float base[3] = {normal(rng), normal(rng), normal(rng)};
        const float fx = normal(rng), fy = normal(rng);
        for (int k = 0; k < perGroup; ++k) {
            const float shift = phase(rng);
            Pixels p(static_cast<size_t>(3 * size * size));
            for (int c = 0; c < 3; ++c)
                for (int y = 0; y < size; ++y)
                    for (int x = 0; x < size; ++x)
                        p[static_cast<size_t>((c * size + y) * size + x)] =
                            base[c] + 0.8f * std::sin(fx * x * 0.3f + fy * y * 0.3f + c + shift) + 0.2f * normal(rng);
            out.push_back(std::move(p));
        }
    }
    return out;
}

} // namespace

// The same question about every image; the answer is a made-up word per group of images.
// Trained on some images of each group, asked about the others: the answer has to come
// from what the image shows, and held-out accuracy rises from chance to >= 0.9.
void TestTrainer::vqaHeldOutAccuracyRises()
{
    const Architecture vqaArch = fixtureArchitecture(QStringLiteral("vqa"));
    const std::vector<std::string> answers = {"zorblat", "quindle", "fremmix", "blorpton"};
    constexpr int perGroup = 6, heldOutPerGroup = 2;
    // Held-out images are a data set of their own (evaluating it mid-training must not
    // disturb the training set's cached images).
    VqaData train, heldOut;
    const std::vector<Pixels> images =
        makeGroupImages(static_cast<int>(answers.size()), perGroup, vqaArch.vision.imageSize, 21);
    const std::vector<int64_t> question = m_tok->encode("what is in the picture?");
    std::vector<std::vector<int64_t>> candidates;
    for (size_t g = 0; g < answers.size(); ++g) {
        candidates.push_back(m_tok->encode(answers[g]));
        for (int k = 0; k < perGroup; ++k) {
            VqaData &set = k < heldOutPerGroup ? heldOut : train;
            VqaExample e;
            e.question = question;
            e.image = static_cast<int>(set.images.size());
            e.answers = {candidates.back()};
            set.images.push_back(images[g * perGroup + static_cast<size_t>(k)]);
            set.examples.push_back(e);
        }
    }
    for (TrainMode mode : {TrainMode::Query, TrainMode::Full}) {
        TrainParams p = params(mode, 60);
        p.task = TrainTask::Vqa;
        auto trainer = Trainer::create(vqaArch, weightsPath("vqa.pth"), p);
        const double before = trainer->vqaAccuracy(heldOut, candidates);
        std::vector<double> curve;
        const auto result = trainer->train(train, [&](const TrainProgress &progress) {
            if (progress.epochEnd)
                curve.push_back(trainer->vqaAccuracy(heldOut, candidates));
            return true;
        });
        const double after = trainer->vqaAccuracy(heldOut, candidates);
        qInfo("vqa %s: held-out accuracy %.3f -> %.3f (%d steps, loss %.3f -> %.3f)", toString(mode).c_str(), before,
              after, result.steps, result.losses.front(), result.losses.back());
        QVERIFY(before <= 0.5);
        QVERIFY(after >= 0.9);
        QCOMPARE(curve.size(), size_t(p.epochs));
        QCOMPARE(curve.back(), after);
    }
}

// Evaluating at each epoch's end (the validation curve) changes neither the weights nor
// the run: same seed, same weights as without it.
void TestTrainer::epochEndEvaluationChangesNothing()
{
    TrainParams p = params(TrainMode::Full, 3);
    auto evaluated = Trainer::create(m_arch, weightsPath("retrieval.pth"), p);
    auto plain = Trainer::create(m_arch, weightsPath("retrieval.pth"), p);
    std::vector<int> ends;
    std::vector<double> curve;
    const auto result = evaluated->train(m_task.train, [&](const TrainProgress &progress) {
        if (progress.epochEnd) {
            ends.push_back(progress.step);
            curve.push_back(evaluated->evaluate(m_task.validation).recallAt1);
        }
        return true;
    });
    QCOMPARE(result.steps, 12);
    QCOMPARE(ends, (std::vector<int>{4, 8, 12}));
    for (double v : curve)
        QVERIFY(v >= 0 && v <= 1);
    QCOMPARE(curve.back(), evaluated->evaluate(m_task.validation).recallAt1);
    plain->train(m_task.train);
    QVERIFY(evaluated->snapshot(true) == plain->snapshot(true));
}

void TestTrainer::badDataIsReported()
{
    auto trainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), params(TrainMode::Full, 1));
    RetrievalData bad = m_task.train;
    bad.examples[3].image = 42;
    try {
        trainer->train(bad);
        QFAIL("an example pointing at a missing image was accepted");
    } catch (const TrainError &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("example 3")), e.what());
    }
    RetrievalData empty;
    QVERIFY_THROWS_EXCEPTION(TrainError, trainer->train(empty));
    TrainParams vqa = params(TrainMode::Full, 1);
    vqa.task = TrainTask::Vqa;
    QVERIFY_THROWS_EXCEPTION(TrainError, Trainer::create(m_arch, weightsPath("retrieval.pth"), vqa));
}

void TestTrainer::checkpointingKeepsLossAndGradients()
{
    // Retrieval, full mode: ITC + ITM, the image encoder and the video K/V adapters trained,
    // so the cross-attention keys/values reaching the checkpointed layers need gradients.
    TrainParams p = params(TrainMode::Full, 1);
    p.doublePrecision = true;
    auto [on, off] = withAndWithoutCheckpointing(m_arch, weightsPath("retrieval.pth"), p);
    RetrievalData batch = m_task.train;
    batch.examples.clear();
    for (size_t i = 0; i < m_task.train.examples.size(); i += 3)
        batch.examples.push_back(m_task.train.examples[i]);
    const double lossOn = on->lossOf(batch, 11, true);
    const double lossOff = off->lossOf(batch, 11, true);
    // Every ViT block and text layer (text pass, two ITM passes) was recomputed.
    QVERIFY2(on->recomputedBlocks() >= m_arch.vision.depth + 3 * m_arch.text.layers,
             qPrintable(QString::number(on->recomputedBlocks())));
    QCOMPARE(off->recomputedBlocks(), 0LL);
    compareLossAndGradients(*on, *off, lossOn, lossOff);
    // Without gradients nothing is checkpointed (inference paths run as before).
    const long long recomputed = on->recomputedBlocks();
    QCOMPARE(on->lossOf(batch, 11, false), lossOn);
    QCOMPARE(on->recomputedBlocks(), recomputed);
    // Query mode (text-sized activations only) never checkpoints.
    TrainParams query = params(TrainMode::Query, 1);
    query.doublePrecision = true;
    auto queryTrainer = Trainer::create(m_arch, weightsPath("retrieval.pth"), query);
    queryTrainer->lossOf(batch, 11, true);
    QCOMPARE(queryTrainer->recomputedBlocks(), 0LL);

    // VQA, full mode: image encoder, question encoder (cross-attention to the image) and
    // the answer decoder (cross-attention to the question states, causal self-attention).
    const Architecture vqaArch = fixtureArchitecture(QStringLiteral("vqa"));
    const VqaData vqa = makeVqaData(*m_tok, vqaArch.vision.imageSize);
    p.task = TrainTask::Vqa;
    auto [vqaOn, vqaOff] = withAndWithoutCheckpointing(vqaArch, weightsPath("vqa.pth"), p);
    const double vqaLossOn = vqaOn->lossOf(vqa, true);
    const double vqaLossOff = vqaOff->lossOf(vqa, true);
    QVERIFY2(vqaOn->recomputedBlocks() >= vqaArch.vision.depth + 2 * vqaArch.text.layers,
             qPrintable(QString::number(vqaOn->recomputedBlocks())));
    compareLossAndGradients(*vqaOn, *vqaOff, vqaLossOn, vqaLossOff);
}

void TestTrainer::checkpointingKeepsTrainedWeights()
{
    TrainParams p = params(TrainMode::Full, 1); // 4 steps
    p.doublePrecision = true;
    auto [on, off] = withAndWithoutCheckpointing(m_arch, weightsPath("retrieval.pth"), p);
    const auto before = on->snapshot(false);
    const auto resultOn = on->train(m_task.train);
    const auto resultOff = off->train(m_task.train);
    QCOMPARE(resultOn.steps, 4);
    QVERIFY(on->recomputedBlocks() > 0);
    for (int s = 0; s < 4; ++s)
        QVERIFY(std::abs(resultOn.losses[s] - resultOff.losses[s]) <= 1e-9 * std::abs(resultOff.losses[s]));
    const auto names = on->trainableNames();
    const std::set<std::string> trainable(names.begin(), names.end());
    const auto afterOn = on->snapshot(false), afterOff = off->snapshot(false);
    for (const auto &[name, values] : before) {
        const auto &a = afterOn.at(name), &b = afterOff.at(name);
        if (!trainable.count(name)) {
            QVERIFY2(a == values && b == values, ("frozen tensor changed: " + name).c_str());
            continue;
        }
        QVERIFY2(a != values, ("trainable tensor did not change: " + name).c_str());
        // Snapshots are float: the float64 weights agree to float rounding.
        const double rel = relativeDiff(std::vector<double>(a.begin(), a.end()), std::vector<double>(b.begin(), b.end()));
        QVERIFY2(rel <= 1e-6, qPrintable(QStringLiteral("%1: weights differ by %2 (relative)")
                                             .arg(QString::fromStdString(name)).arg(rel)));
    }
}

// With bfloat16 autocast the recomputation runs at the forward's precision: the loss is
// the same bit for bit, and the gradients agree to far less than bfloat16's rounding
// (which a float32 recomputation would show: 1-8% on this batch).
void TestTrainer::checkpointingKeepsBfloat16Autocast()
{
    TrainParams p = params(TrainMode::Full, 1);
    p.bfloat16 = true;
    auto [on, off] = withAndWithoutCheckpointing(m_arch, weightsPath("retrieval.pth"), p);
    QCOMPARE(on->lossOf(m_task.train, 11, true), off->lossOf(m_task.train, 11, true));
    QVERIFY(on->recomputedBlocks() > 0);
    int checked = 0;
    for (const auto &name : on->trainableNames()) {
        if (name.rfind("adapters.", 0) != 0)
            continue;
        const double rel = relativeDiff(on->gradient(name), off->gradient(name));
        // Tensors read once per block see the same operations; those read twice (down/up
        // projections in multimodal layers) sum their two gradients in float32 rather
        // than through one cached bfloat16 cast.
        const bool once = name.find("visual_up_proj") != std::string::npos
            || name.find("adapter_layer_norm_cross_modal") != std::string::npos;
        QVERIFY2(rel <= (once ? 1e-4 : 1e-2), qPrintable(QStringLiteral("%1: gradients differ by %2 (relative)")
                                                             .arg(QString::fromStdString(name)).arg(rel)));
        checked += once;
    }
    QCOMPARE(checked, 4 * m_arch.vision.depth);
}

QTEST_GUILESS_MAIN(TestTrainer)
#include "tst_trainer.moc"
