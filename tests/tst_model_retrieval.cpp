// The UniAdapter retrieval model against the reference fixtures (retrieval-image,
// retrieval-video, retrieval-noadapter): visual tokens, contrastive features, similarity,
// ITM logits with and without frame-aware attention; the engine facade; bfloat16.
#include "model/modelrunner.h"
#include "model/uniadapter_p.h"
#include "support/fixtures.h"
#include "support/npy.h"
#include "support/tensorcompare.h"

#include <QtTest>

using namespace unisearch;
using namespace unisearch::model;

namespace {

constexpr double kTolerance = 1e-4;

torch::Tensor fixture(const QString &caseName, const nlohmann::json &c, const char *output)
{
    return test::caseOutput(caseName, c, output);
}

#define COMPARE_OUTPUT(label, got, expected) COMPARE_TENSORS(label, got, expected, kTolerance)

struct LoadedCase {
    nlohmann::json spec;
    Architecture arch;
    UniAdapterModel model{nullptr};
    LoadReport report;
};

LoadedCase loadCase(const QString &caseName)
{
    LoadedCase lc;
    lc.spec = test::readCase(caseName);
    lc.arch = Architecture::fromJson(lc.spec.at("architecture"));
    const std::string weights = test::caseDir(caseName).toStdString() + "/" + lc.spec.at("weights").get<std::string>();
    const StateDict dict = loadCheckpoint(weights);
    const CheckpointLayout layout = detectLayout(dict);
    lc.model = UniAdapterModel(effectiveArchitecture(lc.arch, layout), ModelHeads{layout.retrieval, layout.vqa});
    lc.model->loadFrom(dict, lc.report);
    lc.model->eval();
    return lc;
}

std::string weightsPath(const QString &caseName, const nlohmann::json &spec)
{
    return test::caseDir(caseName).toStdString() + "/" + spec.at("weights").get<std::string>();
}

// ids [B,L] padded with 0 → unpadded rows
std::vector<std::vector<int64_t>> unpadded(const torch::Tensor &ids)
{
    std::vector<std::vector<int64_t>> rows;
    for (int64_t i = 0; i < ids.size(0); ++i) {
        std::vector<int64_t> row;
        for (int64_t j = 0; j < ids.size(1); ++j)
            if (ids[i][j].item<int64_t>() != 0)
                row.push_back(ids[i][j].item<int64_t>());
        rows.push_back(row);
    }
    return rows;
}

torch::Tensor stackRows(const std::vector<std::vector<float>> &rows)
{
    std::vector<torch::Tensor> t;
    for (const auto &r : rows)
        t.push_back(torch::tensor(r));
    return torch::stack(t);
}

std::vector<const float *> imagePointers(const torch::Tensor &pixels) // [N,3,S,S] contiguous
{
    std::vector<const float *> out;
    for (int64_t i = 0; i < pixels.size(0); ++i)
        out.push_back(pixels.data_ptr<float>() + i * pixels[0].numel());
    return out;
}

} // namespace

class TestModelRetrieval : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void loadReport();
    void imageCase();
    void videoCase();
    void noAdapterCase();
    void engineImage();
    void engineVideo();
    void engineErrors();
    void bfloat16Features();
    void positionInterpolation();
};

void TestModelRetrieval::initTestCase()
{
    at::set_num_threads(2);
    torch::manual_seed(0);
}

void TestModelRetrieval::loadReport()
{
    LoadedCase lc = loadCase(QStringLiteral("retrieval-image"));
    for (const auto &m : lc.report.missing)
        qWarning("missing: %s", m.c_str());
    for (const auto &u : lc.report.unexpected)
        qWarning("unexpected: %s", u.c_str());
    QVERIFY(lc.report.ok());
    QVERIFY(lc.report.hasAdapters);
    QVERIFY(lc.report.hasVideoAdapters);
    QVERIFY(lc.report.hasRetrieval);
    QVERIFY(!lc.report.hasVqa);
    QVERIFY(lc.model->hasAdapters());
    // The checkpoint carries momentum copies and queues, as the official scripts save them.
    bool sawMomentum = false, sawQueue = false;
    for (const auto &i : lc.report.ignored) {
        sawMomentum = sawMomentum || i.rfind("visual_encoder_m.", 0) == 0;
        sawQueue = sawQueue || i.rfind("image_queue", 0) == 0;
    }
    QVERIFY(sawMomentum);
    QVERIFY(sawQueue);
    qInfo("retrieval.pth: %zu tensors loaded, %zu ignored", lc.report.loaded, lc.report.ignored.size());
}

void TestModelRetrieval::imageCase()
{
    const QString name = QStringLiteral("retrieval-image");
    LoadedCase lc = loadCase(name);
    QVERIFY(lc.report.ok());
    c10::InferenceMode guard;
    const auto &c = lc.spec;
    torch::Tensor pixels = fixture(name, c, "pixels");
    torch::Tensor ids = fixture(name, c, "text_input_ids");
    torch::Tensor mask = fixture(name, c, "text_attention_mask");

    torch::Tensor imageEmbeds = lc.model->encodeImage(pixels);
    COMPARE_OUTPUT("image_embeds", imageEmbeds, fixture(name, c, "image_embeds"));
    torch::Tensor imageFeat = lc.model->imageFeature(imageEmbeds.select(1, 0));
    COMPARE_OUTPUT("image_feat", imageFeat, fixture(name, c, "image_feat"));

    torch::Tensor textHidden = lc.model->encodeText(ids, mask);
    COMPARE_OUTPUT("text_hidden", textHidden, fixture(name, c, "text_hidden"));
    torch::Tensor textFeat = lc.model->textFeature(textHidden);
    COMPARE_OUTPUT("text_feat", textFeat, fixture(name, c, "text_feat"));
    COMPARE_OUTPUT("sim_i2t", imageFeat.matmul(textFeat.t()), fixture(name, c, "sim_i2t"));

    std::vector<torch::Tensor> logits;
    for (int64_t i = 0; i < imageEmbeds.size(0); ++i)
        logits.push_back(lc.model->itmLogits(imageEmbeds.narrow(0, i, 1), ids, mask));
    torch::Tensor itm = torch::stack(logits);
    COMPARE_OUTPUT("itm_logits", itm, fixture(name, c, "itm_logits"));
    COMPARE_OUTPUT("itm_prob", itm.softmax(-1).select(-1, 1), fixture(name, c, "itm_prob"));
}

void TestModelRetrieval::videoCase()
{
    const QString name = QStringLiteral("retrieval-video");
    LoadedCase lc = loadCase(name);
    QVERIFY(lc.report.ok());
    c10::InferenceMode guard;
    const auto &c = lc.spec;
    torch::Tensor pixels = fixture(name, c, "pixels"); // [V,T,3,S,S]
    torch::Tensor ids = fixture(name, c, "text_input_ids");
    torch::Tensor mask = (ids != 0).to(torch::kLong);
    const int64_t videos = pixels.size(0), frames = pixels.size(1);

    torch::Tensor frameEmbeds = lc.model->encodeImage(pixels.flatten(0, 1));
    frameEmbeds = frameEmbeds.view({videos, frames, frameEmbeds.size(1), frameEmbeds.size(2)});
    COMPARE_OUTPUT("frame_embeds", frameEmbeds, fixture(name, c, "frame_embeds"));
    torch::Tensor frameFeat = lc.model->imageFeature(frameEmbeds.select(2, 0)); // [V,T,E]
    COMPARE_OUTPUT("frame_feat", frameFeat, fixture(name, c, "frame_feat"));
    torch::Tensor videoFeat = lc.model->imageFeature(frameEmbeds.select(2, 0).mean(1));
    COMPARE_OUTPUT("video_feat", videoFeat, fixture(name, c, "video_feat"));

    torch::Tensor textFeat = lc.model->textFeature(lc.model->encodeText(ids, mask));
    COMPARE_OUTPUT("text_feat (video case)", textFeat, fixture(name, c, "text_feat"));
    COMPARE_OUTPUT("sim_v2t", videoFeat.matmul(textFeat.t()), fixture(name, c, "sim_v2t"));

    std::vector<torch::Tensor> plain, aware;
    for (int64_t v = 0; v < videos; ++v) {
        torch::Tensor tokens = frameEmbeds[v].reshape({1, -1, frameEmbeds.size(3)}); // T·(N+1) tokens
        plain.push_back(lc.model->itmLogits(tokens, ids, mask));
        torch::Tensor weights = UniAdapterModelImpl::frameAwareWeights(textFeat, frameFeat.narrow(0, v, 1));
        QVERIFY(weights.dim() == 2 && weights.size(0) == ids.size(0) && weights.size(1) == frames);
        // T·softmax: the weights of one text sum to T.
        QVERIFY((weights.sum(1) - static_cast<double>(frames)).abs().max().item<double>() < 1e-4);
        aware.push_back(lc.model->itmLogits(tokens, ids, mask, weights));
    }
    torch::Tensor itmPlain = torch::stack(plain), itmAware = torch::stack(aware);
    COMPARE_OUTPUT("itm_logits (video)", itmPlain, fixture(name, c, "itm_logits"));
    COMPARE_OUTPUT("itm_logits_frame_aware", itmAware, fixture(name, c, "itm_logits_frame_aware"));
    // Frame-aware attention must change something, or the test above proves nothing.
    QVERIFY(test::maxAbsError(itmPlain, itmAware) > 1e-3);
}

void TestModelRetrieval::noAdapterCase()
{
    const QString name = QStringLiteral("retrieval-noadapter");
    LoadedCase lc = loadCase(name);
    QVERIFY(lc.report.ok());
    QVERIFY(!lc.report.hasAdapters);
    QVERIFY(!lc.report.hasVideoAdapters);
    QVERIFY(!lc.model->hasAdapters());
    QCOMPARE(lc.model->architecture().adapter.bottleneck, 0);
    for (const auto &item : lc.model->named_parameters())
        QVERIFY2(item.key().find("adapter") == std::string::npos, item.key().c_str());

    c10::InferenceMode guard;
    const auto &c = lc.spec;
    torch::Tensor pixels = fixture(name, c, "pixels");
    torch::Tensor ids = fixture(name, c, "text_input_ids");
    torch::Tensor mask = (ids != 0).to(torch::kLong);
    torch::Tensor imageEmbeds = lc.model->encodeImage(pixels);
    COMPARE_OUTPUT("image_feat (no adapter)", lc.model->imageFeature(imageEmbeds.select(1, 0)),
                   fixture(name, c, "image_feat"));
    COMPARE_OUTPUT("text_feat (no adapter)", lc.model->textFeature(lc.model->encodeText(ids, mask)),
                   fixture(name, c, "text_feat"));
    std::vector<torch::Tensor> logits;
    for (int64_t i = 0; i < imageEmbeds.size(0); ++i)
        logits.push_back(lc.model->itmLogits(imageEmbeds.narrow(0, i, 1), ids, mask));
    COMPARE_OUTPUT("itm_logits (no adapter)", torch::stack(logits), fixture(name, c, "itm_logits"));
}

void TestModelRetrieval::engineImage()
{
    // The facade with unpadded texts (padded to the batch's longest, not 35) and a batch of
    // images must give the fixture's numbers.
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    LoadReport report;
    auto engine = ModelRunner::load(Architecture::fromJson(c.at("architecture")), weightsPath(name, c), {}, &report);
    QVERIFY(report.ok());
    QVERIFY(engine->hasRetrieval());
    QVERIFY(!engine->hasVqa());
    QVERIFY(engine->hasAdapters());
    QCOMPARE(engine->imageSize(), 32);

    torch::Tensor pixels = fixture(name, c, "pixels").contiguous();
    const auto ids = unpadded(fixture(name, c, "text_input_ids"));
    COMPARE_OUTPUT("engine image features", stackRows(engine->imageFeatures(imagePointers(pixels))),
                   fixture(name, c, "image_feat"));
    COMPARE_OUTPUT("engine text features", stackRows(engine->textFeatures(ids)), fixture(name, c, "text_feat"));

    torch::Tensor expected = fixture(name, c, "itm_logits");
    torch::Tensor expectedProb = fixture(name, c, "itm_prob");
    const auto images = imagePointers(pixels);
    for (int64_t i = 0; i < pixels.size(0); ++i) {
        const auto logits = engine->itmLogits({images[static_cast<size_t>(i)]}, ids);
        const auto prob = engine->itmProbability({images[static_cast<size_t>(i)]}, ids);
        std::vector<float> flat, flatProb;
        for (size_t t = 0; t < logits.size(); ++t) {
            flat.push_back(static_cast<float>(logits[t].first));
            flat.push_back(static_cast<float>(logits[t].second));
            flatProb.push_back(static_cast<float>(prob[t]));
        }
        COMPARE_OUTPUT("engine itm logits", torch::tensor(flat).view({-1, 2}), expected[i]);
        COMPARE_OUTPUT("engine itm probability", torch::tensor(flatProb), expectedProb[i]);
    }
    // One text against the batch of images (search re-rank).
    for (size_t t = 0; t < ids.size(); ++t) {
        std::vector<float> flat;
        for (const auto &[no, yes] : engine->itmLogitsImages(images, ids[t])) {
            flat.push_back(static_cast<float>(no));
            flat.push_back(static_cast<float>(yes));
        }
        COMPARE_OUTPUT("engine itm, images batched", torch::tensor(flat).view({-1, 2}),
                       expected.select(1, static_cast<int64_t>(t)));
    }
}

void TestModelRetrieval::engineVideo()
{
    const QString name = QStringLiteral("retrieval-video");
    const auto c = test::readCase(name);
    auto engine = ModelRunner::load(Architecture::fromJson(c.at("architecture")), weightsPath(name, c));
    torch::Tensor pixels = fixture(name, c, "pixels").contiguous(); // [V,T,3,S,S]
    const auto ids = unpadded(fixture(name, c, "text_input_ids"));
    torch::Tensor videoFeat = fixture(name, c, "video_feat");
    torch::Tensor frameFeat = fixture(name, c, "frame_feat");
    torch::Tensor plain = fixture(name, c, "itm_logits"), aware = fixture(name, c, "itm_logits_frame_aware");
    for (int64_t v = 0; v < pixels.size(0); ++v) {
        torch::Tensor frames = pixels[v].contiguous();
        const auto ptrs = imagePointers(frames);
        COMPARE_OUTPUT("engine video feature", torch::tensor(engine->videoFeature(ptrs)), videoFeat[v]);
        COMPARE_OUTPUT("engine frame features", stackRows(engine->frameFeatures(ptrs)), frameFeat[v]);
        for (bool frameAware : {false, true}) {
            const auto logits = engine->itmLogits(ptrs, ids, frameAware);
            std::vector<float> flat;
            for (const auto &[no, yes] : logits) {
                flat.push_back(static_cast<float>(no));
                flat.push_back(static_cast<float>(yes));
            }
            COMPARE_OUTPUT(frameAware ? "engine itm frame-aware" : "engine itm video", torch::tensor(flat).view({-1, 2}),
                           (frameAware ? aware : plain)[v]);
        }
    }
}

void TestModelRetrieval::engineErrors()
{
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    const Architecture arch = Architecture::fromJson(c.at("architecture"));
    auto engine = ModelRunner::load(arch, weightsPath(name, c));
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->textFeatures({{101, 40000, 102}}));
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->textFeatures({{}}));
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->textFeatures({std::vector<int64_t>(arch.text.maxPositions + 1, 1000)}));
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->imageFeatures({nullptr}));
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->imageFeatures({}));
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->rankAnswers({}, {101, 102}, {{101, 102}}));
    QVERIFY(engine->textFeatures({}).empty());

    // A checkpoint built for another size names the tensors that do not fit.
    Architecture wrong = arch;
    wrong.text.intermediate = 96;
    try {
        ModelRunner::load(wrong, weightsPath(name, c));
        QFAIL("a mismatching architecture was accepted");
    } catch (const ModelError &e) {
        const std::string what = e.what();
        qInfo("%s", what.substr(0, 300).c_str());
        QVERIFY(what.find("intermediate.dense.weight") != std::string::npos);
    }
    QVERIFY_THROWS_EXCEPTION(ModelError, ModelRunner::load(arch, "/nonexistent/weights.pth"));
    QVERIFY_THROWS_EXCEPTION(ModelError, ModelRunner::load(arch, weightsPath(name, c), ModelRunner::Options{"tpu"}));

    const LoadReport inspected = ModelRunner::inspect(wrong, weightsPath(name, c));
    QVERIFY(!inspected.ok());
    QVERIFY(!inspected.unexpected.empty());
}

void TestModelRetrieval::bfloat16Features()
{
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    const Architecture arch = Architecture::fromJson(c.at("architecture"));
    ModelRunner::Options bf;
    bf.bfloat16 = true;
    auto engine = ModelRunner::load(arch, weightsPath(name, c), bf);
    QVERIFY(engine->isBfloat16());
    torch::Tensor pixels = fixture(name, c, "pixels").contiguous();
    const auto ids = unpadded(fixture(name, c, "text_input_ids"));
    auto cosine = [](const torch::Tensor &a, const torch::Tensor &b) {
        return torch::nn::functional::cosine_similarity(
                   a, b, torch::nn::functional::CosineSimilarityFuncOptions().dim(-1))
            .min()
            .item<double>();
    };
    const double imageCos = cosine(stackRows(engine->imageFeatures(imagePointers(pixels))), fixture(name, c, "image_feat"));
    const double textCos = cosine(stackRows(engine->textFeatures(ids)), fixture(name, c, "text_feat"));
    qInfo("bfloat16: min cosine to float32 reference: images %.5f, texts %.5f", imageCos, textCos);
    QVERIFY(imageCos >= 0.995);
    QVERIFY(textCos >= 0.995);
    const auto logits = engine->itmLogits({imagePointers(pixels)[0]}, ids);
    torch::Tensor expected = fixture(name, c, "itm_logits")[0];
    double worst = 0;
    for (size_t t = 0; t < logits.size(); ++t)
        worst = std::max({worst, std::abs(logits[t].first - expected[t][0].item<double>()),
                          std::abs(logits[t].second - expected[t][1].item<double>())});
    qInfo("bfloat16: itm logits max abs error %.4f", worst);
    QVERIFY(worst < 0.1);
}

void TestModelRetrieval::positionInterpolation()
{
    // A checkpoint trained at another image size loads with its position embeddings
    // resized (bicubic, as the reference's interpolate_pos_embed): here 2×2 → 3×3 patches.
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    Architecture arch = Architecture::fromJson(c.at("architecture"));
    arch.vision.imageSize = 48;
    LoadReport report;
    auto engine = ModelRunner::load(arch, weightsPath(name, c), {}, &report);
    QVERIFY(report.ok());
    QCOMPARE(report.notes.size(), size_t(1));
    qInfo("%s", report.notes.front().c_str());
    QVERIFY(report.notes.front().find("visual_encoder.pos_embed") != std::string::npos);
    QCOMPARE(engine->imageSize(), 48);
    std::vector<float> pixels(3 * 48 * 48, 0.25f);
    const auto features = engine->imageFeatures({pixels.data()});
    double norm = 0;
    for (float v : features.front())
        norm += double(v) * v;
    QVERIFY(std::abs(norm - 1.0) < 1e-4);
}

QTEST_GUILESS_MAIN(TestModelRetrieval)
#include "tst_model_retrieval.moc"
