// Loading a model: image tokens kept for a re-rank, a random full-structure checkpoint
// that the loader accepts.
#include "model/modelrunner.h"
#include "model/uniadapter_p.h"
#include "support/fixtures.h"
#include "support/npy.h"
#include "support/tensorcompare.h"

#include <QtTest>
#include <QTemporaryDir>

using namespace unisearch;
using namespace unisearch::model;

namespace {

constexpr double kTolerance = 1e-4;

std::string weightsPath(const QString &caseName, const nlohmann::json &spec)
{
    return test::caseDir(caseName).toStdString() + "/" + spec.at("weights").get<std::string>();
}

std::vector<const float *> imagePointers(const torch::Tensor &pixels) // [N,3,S,S] contiguous
{
    std::vector<const float *> out;
    for (int64_t i = 0; i < pixels.size(0); ++i)
        out.push_back(pixels.data_ptr<float>() + i * pixels[0].numel());
    return out;
}

std::vector<int64_t> firstText(const torch::Tensor &ids) // [B,L] padded with 0
{
    std::vector<int64_t> row;
    for (int64_t j = 0; j < ids.size(1); ++j)
        if (ids[0][j].item<int64_t>() != 0)
            row.push_back(ids[0][j].item<int64_t>());
    return row;
}

torch::Tensor flat(const std::vector<std::pair<double, double>> &logits)
{
    std::vector<float> v;
    for (const auto &[no, yes] : logits) {
        v.push_back(static_cast<float>(no));
        v.push_back(static_cast<float>(yes));
    }
    return torch::tensor(v).view({-1, 2});
}

} // namespace

class TestModelLoad : public QObject
{
    Q_OBJECT
private slots:
    void imageTokensGiveTheSameItm();
    void randomCheckpointLoads();
};

void TestModelLoad::imageTokensGiveTheSameItm()
{
    // A re-rank cache keeps image tokens and matches new texts against them: the logits
    // must be those of the pixels.
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    RunnerOptions opts;
    opts.bfloat16 = false;
    auto runner = ModelRunner::load(Architecture::fromJson(c.at("architecture")), weightsPath(name, c), opts);
    torch::Tensor pixels = test::caseOutput(name, c, "pixels").contiguous();
    const auto images = imagePointers(pixels);
    const auto ids = firstText(test::caseOutput(name, c, "text_input_ids"));

    auto batch = runner->imageTokensBatch(images);
    QCOMPARE(batch.size(), images.size());
    std::vector<std::shared_ptr<const VisualTokens>> singles;
    for (const float *image : images)
        singles.push_back(runner->imageTokens(image));
    const size_t tokens = static_cast<size_t>(32 / Architecture::fromJson(c.at("architecture")).vision.patchSize);
    QVERIFY(visualTokensBytes(*singles.front()) >= (tokens * tokens + 1) * sizeof(float));

    const torch::Tensor expected = flat(runner->itmLogitsImages(images, ids));
    COMPARE_TENSORS("itm from batched tokens", flat(runner->itmLogitsTokens(batch, ids)), expected, kTolerance);
    COMPARE_TENSORS("itm from single tokens", flat(runner->itmLogitsTokens(singles, ids)), expected, kTolerance);
    // The reversed order gives the reversed logits.
    std::vector<std::shared_ptr<const VisualTokens>> reversed(singles.rbegin(), singles.rend());
    COMPARE_TENSORS("itm reversed", flat(runner->itmLogitsTokens(reversed, ids)), expected.flip(0), kTolerance);
    QVERIFY(runner->itmLogitsTokens({}, ids).empty());
    QVERIFY_THROWS_EXCEPTION(ModelError, runner->itmLogitsTokens({nullptr}, ids));
}

void TestModelLoad::randomCheckpointLoads()
{
    const auto c = test::readCase(QStringLiteral("retrieval-image"));
    const Architecture arch = Architecture::fromJson(c.at("architecture"));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    for (bool vqa : {false, true}) {
        const std::string path = dir.filePath(vqa ? "vqa.safetensors" : "retrieval.safetensors").toStdString();
        writeRandomCheckpoint(arch, path, vqa, 7);
        LoadReport report;
        auto runner = ModelRunner::load(arch, path, {}, &report);
        QVERIFY2(report.ok(), "the random checkpoint matches the model");
        QCOMPARE(runner->hasVqa(), vqa);
        QCOMPARE(runner->hasRetrieval(), !vqa);
        QVERIFY(runner->hasAdapters());
    }
}

QTEST_GUILESS_MAIN(TestModelLoad)
#include "tst_modelload.moc"
