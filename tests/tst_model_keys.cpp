// The model's parameter names and shapes against every state_dict key of the official
// full-size checkpoints (fixtures/uniadapter/full-size-keys.json): the full-size retrieval
// (384 px) and VQA (480 px) models must cover all keys except the deliberately ignored
// ones (ignoredKeyReason), and have no parameter the checkpoints lack. Also the fixture
// checkpoints map completely.
#include "model/modelrunner.h"
#include "model/uniadapter_p.h"
#include "support/fixtures.h"

#include <QFile>
#include <QtTest>

#include <map>
#include <set>

using namespace unisearch;
using namespace unisearch::model;

namespace {

using ShapeMap = std::map<std::string, std::vector<int64_t>>;

nlohmann::json readKeys()
{
    QFile f(test::uniadapterDir() + QStringLiteral("/full-size-keys.json"));
    if (!f.open(QIODevice::ReadOnly))
        throw std::runtime_error("cannot read " + f.fileName().toStdString());
    return nlohmann::json::parse(f.readAll().toStdString());
}

ShapeMap shapesOf(const nlohmann::json &entries)
{
    ShapeMap out;
    for (const auto &[key, shape] : entries.items())
        out[key] = shape.get<std::vector<int64_t>>();
    return out;
}

std::string shapeText(const std::vector<int64_t> &s)
{
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i)
        out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

// The architecture the official checkpoint implies, read from a few tensor shapes.
Architecture impliedArchitecture(const ShapeMap &keys)
{
    Architecture a; // BLIP-base defaults
    const auto &pos = keys.at("visual_encoder.pos_embed");
    const int64_t grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pos[1] - 1))));
    a.vision.imageSize = static_cast<int>(grid * a.vision.patchSize);
    a.vision.width = static_cast<int>(pos[2]);
    a.text.vocabSize = static_cast<int>(keys.at("text_encoder.embeddings.word_embeddings.weight")[0]);
    a.text.maxPositions = static_cast<int>(keys.at("text_encoder.embeddings.position_embeddings.weight")[0]);
    a.adapter.bottleneck = static_cast<int>(keys.at("adapters.0.down_proj.weight")[0]);
    a.adapter.videoKvBottleneck = static_cast<int>(keys.at("text_encoder.encoder.video_key_adapter.down_proj.weight")[0]);
    if (keys.count("vision_proj.weight"))
        a.embedDim = static_cast<int>(keys.at("vision_proj.weight")[0]);
    return a;
}

// Checks the model against the key list; returns the number of ignored keys by rule.
std::map<std::string, int> checkCoverage(const ShapeMap &keys, UniAdapterModelImpl &model, bool &ok)
{
    ok = true;
    ShapeMap params;
    for (const auto &item : model.named_parameters(true))
        params[item.key()] = item.value().sizes().vec();
    for (const auto &item : model.named_buffers(true))
        params[item.key()] = item.value().sizes().vec();

    std::map<std::string, int> ignored;
    for (const auto &[key, shape] : keys) {
        const std::string reason = ignoredKeyReason(key);
        if (!reason.empty()) {
            ++ignored[reason];
            if (params.count(key)) {
                qWarning("ignored key %s is also a model parameter", key.c_str());
                ok = false;
            }
            continue;
        }
        auto it = params.find(key);
        if (it == params.end()) {
            qWarning("checkpoint key without a model parameter: %s %s", key.c_str(), shapeText(shape).c_str());
            ok = false;
        } else if (it->second != shape) {
            qWarning("shape mismatch for %s: checkpoint %s, model %s", key.c_str(), shapeText(shape).c_str(),
                     shapeText(it->second).c_str());
            ok = false;
        }
    }
    for (const auto &[name, shape] : params) {
        if (!keys.count(name)) {
            qWarning("model parameter absent from the checkpoint: %s %s", name.c_str(), shapeText(shape).c_str());
            ok = false;
        }
    }
    qInfo("%zu checkpoint keys, %zu model names", keys.size(), params.size());
    for (const auto &[reason, count] : ignored)
        qInfo("  ignored %d: %s", count, reason.c_str());
    return ignored;
}

} // namespace

class TestModelKeys : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { at::set_num_threads(2); }
    void retrievalFullSize();
    void vqaFullSize();
    void ignoreRules();
    void fixtureCheckpoints();
};

void TestModelKeys::retrievalFullSize()
{
    const ShapeMap keys = shapesOf(readKeys().at("retrieval_384"));
    const Architecture arch = impliedArchitecture(keys);
    QCOMPARE(arch.vision.imageSize, 384);
    QCOMPARE(arch.adapter.bottleneck, 512);
    QCOMPARE(arch.adapter.videoKvBottleneck, 64);
    QCOMPARE(arch.embedDim, 256);
    UniAdapterModel model(arch, ModelHeads{true, false});
    bool ok = false;
    const auto ignored = checkCoverage(keys, *model, ok);
    QVERIFY(ok);
    // Momentum encoders, the four queues and temp are what a retrieval checkpoint drops.
    QVERIFY(ignored.count("momentum encoder (training only)"));
    QCOMPARE(ignored.at("contrastive queue (training only)"), 4);
    QCOMPARE(ignored.at("contrastive temperature (unused at inference)"), 1);
}

void TestModelKeys::vqaFullSize()
{
    const ShapeMap keys = shapesOf(readKeys().at("vqa_480"));
    const Architecture arch = impliedArchitecture(keys);
    QCOMPARE(arch.vision.imageSize, 480);
    UniAdapterModel model(arch, ModelHeads{false, true});
    bool ok = false;
    const auto ignored = checkCoverage(keys, *model, ok);
    QVERIFY(ok);
    QVERIFY(ignored.count("decoder adapters the reference builds but never uses"));
    QVERIFY(!ignored.count("momentum encoder (training only)"));
}

void TestModelKeys::ignoreRules()
{
    QVERIFY(!ignoredKeyReason("visual_encoder_m.blocks.0.norm1.weight").empty());
    QVERIFY(!ignoredKeyReason("adapters_m.3.up_proj.bias").empty());
    QVERIFY(!ignoredKeyReason("text_proj_m.weight").empty());
    QVERIFY(!ignoredKeyReason("ptr_queue").empty());
    QVERIFY(!ignoredKeyReason("text_decoder.bert.embeddings.position_ids").empty());
    QVERIFY(!ignoredKeyReason("adapters_dec.0.down_proj.weight").empty());
    QVERIFY(ignoredKeyReason("adapters.0.down_proj.weight").empty());
    QVERIFY(ignoredKeyReason("visual_encoder.norm.weight").empty());
    QVERIFY(ignoredKeyReason("text_encoder.encoder.layer.0.attention.self.key.weight").empty());
    QVERIFY(ignoredKeyReason("itm_head.weight").empty());
}

void TestModelKeys::fixtureCheckpoints()
{
    for (const char *caseName : {"retrieval-image", "retrieval-noadapter", "vqa"}) {
        const auto spec = test::readCase(QString::fromLatin1(caseName));
        const std::string path = test::caseDir(QString::fromLatin1(caseName)).toStdString() + "/"
            + spec.at("weights").get<std::string>();
        const LoadReport r = ModelRunner::inspect(Architecture::fromJson(spec.at("architecture")), path);
        qInfo("%s: %zu loaded, %zu ignored, adapters %d, video adapters %d, retrieval %d, vqa %d", path.c_str(),
              r.loaded, r.ignored.size(), r.hasAdapters, r.hasVideoAdapters, r.hasRetrieval, r.hasVqa);
        for (const auto &m : r.missing)
            qWarning("  missing %s", m.c_str());
        for (const auto &u : r.unexpected)
            qWarning("  unexpected %s", u.c_str());
        QVERIFY(r.ok());
        QVERIFY(r.loaded > 0);
    }
}

QTEST_GUILESS_MAIN(TestModelKeys)
#include "tst_model_keys.moc"
