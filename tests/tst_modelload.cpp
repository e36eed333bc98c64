// Loading a model: weights mapped from the file, parts prepared when first used, image
// tokens kept for a re-rank, a random checkpoint that the loader accepts.
#include "model/modelrunner.h"
#include "model/storedconversion_p.h"
#include "model/uniadapter_p.h"
#include "support/fixtures.h"
#include "support/npy.h"
#include "support/tensorcompare.h"

#include <QtTest>
#include <QCryptographicHash>
#include <QFile>
#include <QTemporaryDir>

#include <cctype>
#include <QDir>
#include <QFileInfo>
#include <sys/stat.h>
#include <cstring>
#include <set>

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

// The fixture case's model, loaded at the given precision.
std::unique_ptr<ModelRunner> loadCase(const QString &caseName, const nlohmann::json &spec, bool bfloat16)
{
    RunnerOptions opts;
    opts.bfloat16 = bfloat16;
    return ModelRunner::load(Architecture::fromJson(spec.at("architecture")), weightsPath(caseName, spec), opts);
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

// A small architecture whose towers span many pages: the text tower (31 MB of word
// embeddings) and the vision tower (~7 MB) of a generated checkpoint.
Architecture pagedArchitecture(const Architecture &base)
{
    Architecture a = base;
    a.vision.width = a.text.hidden = 256;
    a.vision.imageSize = 64;
    a.text.intermediate = 1024;
    return a;
}

// Resident bytes of the mappings of `path` in this process (/proc/self/smaps).
int64_t residentBytesOf(const std::string &path)
{
    QFile f(QStringLiteral("/proc/self/smaps"));
    if (!f.open(QIODevice::ReadOnly | QIODevice::Text))
        return -1;
    int64_t total = 0;
    bool inside = false;
    const QByteArray target = QByteArray::fromStdString(path);
    for (const QByteArray &line : f.readAll().split('\n')) {
        if (!line.isEmpty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.contains('-'))
            inside = line.endsWith(target); // a mapping's first line ends with its file
        else if (inside && line.startsWith("Rss:"))
            total += line.mid(4).trimmed().split(' ').front().toLongLong() * 1024;
    }
    return total;
}

// Values of the model's distinct parameters used by any of `parts`.
int64_t valuesOfParts(const Architecture &arch, const ModelHeads &heads, unsigned parts)
{
    UniAdapterModel model(arch, heads);
    std::set<const c10::TensorImpl *> seen;
    int64_t n = 0;
    for (const auto &item : model->named_parameters(true))
        if ((UniAdapterModelImpl::partsOfParameter(item.key()) & parts)
            && seen.insert(item.value().unsafeGetTensorImpl()).second)
            n += item.value().numel();
    return n;
}

QByteArray sha256Of(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    QCryptographicHash h(QCryptographicHash::Sha256);
    h.addData(&f);
    return h.result();
}

// A .safetensors file from a header and data bytes.
// The tensors saved as dir/weights.safetensors, the file a bundle holds (and maps); its path.
std::string storedAsSafetensors(const StateDict &tensors, const QTemporaryDir &dir)
{
    const std::string path = dir.filePath(QStringLiteral("weights.safetensors")).toStdString();
    saveSafetensors(path, tensors);
    return path;
}

void writeRaw(const QString &path, std::string header, const std::string &data)
{
    header.append((8 - header.size() % 8) % 8, ' '); // the data starts 8-byte aligned in the file
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    char len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
    f.write(len, 8);
    f.write(header.data(), static_cast<qint64>(header.size()));
    f.write(data.data(), static_cast<qint64>(data.size()));
}

} // namespace

class TestModelLoad : public QObject
{
    Q_OBJECT
private slots:
    void imageTokensGiveTheSameItm();
    void videoTokensGiveTheSameItm();
    void randomCheckpointLoads();
    void textOnlyUsePreparesOnlyText();
    void textOnlyUseLeavesOtherPagesUnread();
    void mappedEqualsCopied();
    void bfloat16StaysClose();
    void bfloat16ReadFromTheFileEqualsTheCast();
    void storedConversionIsMappedNextTime();
    void damagedFilesAreRefused();
    void unalignedAndBoolTensorsAreCopied();
    void adapterPackLeavesTheFileUnchanged();
};

void TestModelLoad::textOnlyUsePreparesOnlyText()
{
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    const Architecture arch = Architecture::fromJson(c.at("architecture"));
    RunnerOptions opts;
    opts.bfloat16 = false;
    auto runner = ModelRunner::load(arch, weightsPath(name, c), opts);
    QCOMPARE(runner->preparedParts(), 0u);
    QCOMPARE(runner->materializedParameterCount(), int64_t(0));
    const auto ids = firstText(test::caseOutput(name, c, "text_input_ids"));
    runner->textFeatures({ids});
    QCOMPARE(runner->preparedParts(), unsigned(ModelRunner::Text));
    const ModelHeads heads{true, false};
    const int64_t text = valuesOfParts(arch, heads, ModelRunner::Text);
    QCOMPARE(runner->materializedParameterCount(), text);
    QVERIFY(text < valuesOfParts(arch, heads, ModelRunner::AllParts));
    // An image then adds the vision tower, and ITM the cross-attention.
    torch::Tensor pixels = test::caseOutput(name, c, "pixels").contiguous();
    runner->imageFeatures({pixels.data_ptr<float>()});
    QCOMPARE(runner->preparedParts(), unsigned(ModelRunner::Text | ModelRunner::Vision));
    QCOMPARE(runner->materializedParameterCount(), valuesOfParts(arch, heads, ModelRunner::Text | ModelRunner::Vision));
    runner->itmLogits({pixels.data_ptr<float>()}, {ids});
    QCOMPARE(runner->preparedParts(), unsigned(ModelRunner::Text | ModelRunner::Vision | ModelRunner::Cross));
    runner->prepare(ModelRunner::AllParts);
    QCOMPARE(runner->materializedParameterCount(), valuesOfParts(arch, heads, ModelRunner::AllParts));
}

void TestModelLoad::textOnlyUseLeavesOtherPagesUnread()
{
    const Architecture arch = pagedArchitecture(Architecture::fromJson(test::readCase(QStringLiteral("retrieval-image")).at("architecture")));
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("paged.safetensors")).toStdString();
    writeRandomCheckpoint(arch, path, false, 3);
    RunnerOptions opts;
    opts.bfloat16 = false; // zero copy: the text tower is used from the mapping
    auto runner = ModelRunner::load(arch, path, opts);
    QVERIFY(residentBytesOf(path) < 1 << 20); // nothing read at load
    runner->textFeatures({{101, 2000, 2417, 4418, 102}});
    const ModelHeads heads{true, false};
    const int64_t textBytes = valuesOfParts(arch, heads, ModelRunner::Text) * 4;
    const int64_t visionBytes = (valuesOfParts(arch, heads, ModelRunner::AllParts) * 4) - textBytes;
    const int64_t resident = residentBytesOf(path);
    qInfo("text tower %lld bytes, the rest %lld bytes; mapping resident: %lld bytes", static_cast<long long>(textBytes),
          static_cast<long long>(visionBytes), static_cast<long long>(resident));
    QVERIFY(visionBytes > 4 << 20);
    QVERIFY(resident >= textBytes / 2);             // the text tower is read from the mapping
    QVERIFY(resident < textBytes + visionBytes / 2); // the rest mostly never is

    // bfloat16: the converted copy replaces the mapped pages, which are dropped.
    opts.bfloat16 = true;
    runner.reset();
    runner = ModelRunner::load(arch, path, opts);
    runner->textFeatures({{101, 2000, 2417, 4418, 102}});
    QVERIFY(residentBytesOf(path) < textBytes / 4);
}

void TestModelLoad::mappedEqualsCopied()
{
    // The same checkpoint read into owned memory and bound as the mapped runner does (the
    // text self-attention unfused) gives bit-identical float32 features.
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    const Architecture arch = Architecture::fromJson(c.at("architecture"));
    // The fixture is a .pth: stored as the .safetensors a bundle holds, which is mapped.
    const StateDict owned = loadCheckpoint(weightsPath(name, c));
    QTemporaryDir dir;
    const std::string stored = storedAsSafetensors(owned, dir);
    RunnerOptions opts;
    opts.bfloat16 = false;
    auto runner = ModelRunner::load(arch, stored, opts);
    UniAdapterModel copied(effectiveArchitecture(arch, detectLayout(owned)), ModelHeads{true, false});
    LoadReport report;
    copied->bindFrom(owned, report);
    QVERIFY(report.ok());
    copied->eval();
    for (const auto &[key, t] : owned.tensors())
        QVERIFY(!isMapped(t));

    const auto ids = firstText(test::caseOutput(name, c, "text_input_ids"));
    torch::Tensor pixels = test::caseOutput(name, c, "pixels").contiguous();
    const torch::Tensor mappedText = torch::tensor(runner->textFeatures({ids}).front());
    const torch::Tensor mappedImage = torch::tensor(runner->imageFeatures({imagePointers(pixels).front()}).front());
    torch::NoGradGuard noGrad;
    torch::Tensor idsT = torch::tensor(ids).unsqueeze(0);
    torch::Tensor text = copied->textFeature(copied->encodeText(idsT, torch::ones_like(idsT)));
    QVERIFY(torch::equal(mappedText, text[0]));
    torch::Tensor image = copied->imageFeature(copied->encodeImage(pixels.narrow(0, 0, 1)).select(1, 0));
    QVERIFY(torch::equal(mappedImage, image[0]));
    COMPARE_TENSORS("mapped image features", image, test::caseOutput(name, c, "image_feat").narrow(0, 0, 1), kTolerance);
}

void TestModelLoad::bfloat16StaysClose()
{
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    auto runner = loadCase(name, c, /*bfloat16=*/true);
    const auto ids = firstText(test::caseOutput(name, c, "text_input_ids"));
    torch::Tensor text = torch::tensor(runner->textFeatures({ids}).front());
    torch::Tensor expected = test::caseOutput(name, c, "text_feat")[0].to(torch::kFloat32);
    const double cosine = (text * expected).sum().item<double>() / (text.norm() * expected.norm()).item<double>();
    QVERIFY2(cosine >= 0.995, qPrintable(QString::number(cosine)));
    QCOMPARE(runner->preparedParts(), unsigned(ModelRunner::Text));
}

void TestModelLoad::bfloat16ReadFromTheFileEqualsTheCast()
{
    // A bfloat16 part is converted from the file's bytes (pread, no page of the mapping
    // touched): the same values as casting tensors held in memory.
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    const Architecture arch = Architecture::fromJson(c.at("architecture"));
    const StateDict owned = loadCheckpoint(weightsPath(name, c));
    QTemporaryDir dir;
    const std::string stored = storedAsSafetensors(owned, dir);
    RunnerOptions opts;
    opts.bfloat16 = true;
    auto runner = ModelRunner::load(arch, stored, opts);
    const auto ids = firstText(test::caseOutput(name, c, "text_input_ids"));
    const torch::Tensor fromFile = torch::tensor(runner->textFeatures({ids}).front());

    UniAdapterModel copied(effectiveArchitecture(arch, detectLayout(owned)), ModelHeads{true, false});
    LoadReport report;
    copied->bindFrom(owned, report);
    QVERIFY(report.ok());
    copied->eval();
    copied->prepareParts(ModelRunner::Text, torch::kCPU, torch::kBFloat16);
    torch::NoGradGuard noGrad;
    torch::Tensor idsT = torch::tensor(ids).unsqueeze(0);
    torch::Tensor text = copied->textFeature(copied->encodeText(idsT, torch::ones_like(idsT))).to(torch::kFloat32);
    QVERIFY(torch::equal(fromFile, text[0]));

    // The reader itself: a mapped tensor is read from the file, converted; not once it was
    // written in memory (an adapter pack), nor an owned tensor.
    const StateDict mapped = mapSafetensors(stored);
    const torch::Tensor weight = mapped.get("text_proj.weight");
    QVERIFY(isMapped(weight));
    torch::Tensor into = torch::empty(weight.sizes(), torch::kBFloat16);
    QVERIFY(copyMappedInto(weight, into));
    QVERIFY(torch::equal(into, weight.to(torch::kBFloat16)));
    QVERIFY(!copyMappedInto(owned.get("text_proj.weight"), into));
    markMappedWritten(weight);
    QVERIFY(!copyMappedInto(mapped.get("vision_proj.weight"), torch::empty_like(mapped.get("vision_proj.weight"))));
}

void TestModelLoad::storedConversionIsMappedNextTime()
{
    // A bundle's bfloat16 text tower is converted once and kept beside its weights; the
    // next load maps that copy (its pages are this process's), with the same features.
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    const Architecture arch = Architecture::fromJson(c.at("architecture"));
    QTemporaryDir dir;
    const std::string weights = storedAsSafetensors(loadCheckpoint(weightsPath(name, c)), dir);
    const std::string stored = StoredConversion::pathFor(weights, "text", torch::kBFloat16);
    const QString storedFile = QString::fromStdString(stored);
    const auto ids = firstText(test::caseOutput(name, c, "text_input_ids"));
    RunnerOptions opts;
    opts.bfloat16 = true;
    auto features = [&](const RunnerOptions &o) {
        auto runner = ModelRunner::load(arch, weights, o);
        const torch::Tensor f = torch::tensor(runner->textFeatures({ids}).front());
        return std::make_pair(f, residentBytesOf(stored));
    };

    const torch::Tensor plain = features(opts).first;
    QVERIFY(!QFile::exists(storedFile)); // only where the caller keeps conversions
    opts.keepConversions = true;
    const auto [first, firstMapped] = features(opts);
    QVERIFY(torch::equal(first, plain));
    QVERIFY(QFile::exists(storedFile));
    QCOMPARE(firstMapped, int64_t(0)); // converted in memory, then stored
    const auto [second, secondMapped] = features(opts);
    QVERIFY(torch::equal(second, plain));
    QVERIFY2(secondMapped > 0, "the stored conversion was not used");

    // Another version of the weights file (the same values, written again): the stored copy
    // is not used, and is replaced.
    struct stat before {}, after {};
    QVERIFY(::stat(stored.c_str(), &before) == 0);
    storedAsSafetensors(loadSafetensors(weights), dir);
    const auto [third, thirdMapped] = features(opts);
    QVERIFY(torch::equal(third, plain));
    QCOMPARE(thirdMapped, int64_t(0));
    QVERIFY(::stat(stored.c_str(), &after) == 0);
    QVERIFY(after.st_ino != before.st_ino); // written again (a new file renamed over it)
    QVERIFY(features(opts).second > 0);

    // A damaged copy is not used, and is replaced.
    const qint64 fullSize = QFileInfo(storedFile).size();
    QVERIFY(QFile::resize(storedFile, fullSize / 2));
    QVERIFY(torch::equal(features(opts).first, plain));
    QCOMPARE(QFileInfo(storedFile).size(), fullSize);

    // A copy that cannot be stored (a folder in its place) changes nothing.
    QVERIFY(QFile::remove(storedFile));
    QVERIFY(QDir().mkdir(storedFile));
    QVERIFY(torch::equal(features(opts).first, plain));
    QVERIFY(QFileInfo(storedFile).isDir());
    QVERIFY(QDir(storedFile).removeRecursively());

    // An adapter pack changes the weights in memory: nothing is stored for that model.
    StateDict pack;
    pack.insert("adapters.0.up_proj.weight", loadSafetensors(weights).get("adapters.0.up_proj.weight") + 0.5);
    const QString packPath = dir.filePath(QStringLiteral("pack.safetensors"));
    saveSafetensors(packPath.toStdString(), pack);
    RunnerOptions packed = opts;
    packed.adapterPack = packPath.toStdString();
    QVERIFY(!torch::equal(features(packed).first, plain));
    QVERIFY(!QFile::exists(storedFile));
}

void TestModelLoad::damagedFilesAreRefused()
{
    QTemporaryDir dir;
    const QString truncated = dir.filePath(QStringLiteral("truncated.safetensors"));
    writeRaw(truncated, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
    const QString overlapping = dir.filePath(QStringLiteral("overlap.safetensors"));
    writeRaw(overlapping,
             R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
             std::string(12, '\0'));
    auto messageOf = [](const QString &path) -> std::string {
        try {
            mapSafetensors(path.toStdString());
        } catch (const CheckpointError &e) {
            return e.what();
        }
        return {};
    };
    QVERIFY(messageOf(truncated).find("truncated") != std::string::npos);
    QVERIFY(messageOf(overlapping).find("overlapping") != std::string::npos);
    // Through the runner: a ModelError that names the problem.
    const Architecture arch = Architecture::fromJson(test::readCase(QStringLiteral("retrieval-image")).at("architecture"));
    try {
        ModelRunner::load(arch, truncated.toStdString());
        QFAIL("a truncated file loaded");
    } catch (const ModelError &e) {
        QVERIFY2(std::string(e.what()).find("truncated") != std::string::npos, e.what());
    }
}

void TestModelLoad::unalignedAndBoolTensorsAreCopied()
{
    // "b" starts at byte 6 of the data: not a multiple of 4, so it cannot be a float view.
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("mixed.safetensors"));
    std::string data(14, '\0');
    const float one = 1.5f, two = -2.25f;
    std::memcpy(data.data(), &one, 4);  // a: F32 [1] at 0
    data[4] = 7;                         // c: BOOL [2] at 4 (7 → true)
    data[5] = 0;
    std::memcpy(data.data() + 6, &two, 4); // b: F32 [1] at 6
    std::memcpy(data.data() + 10, &one, 4); // d: F32 [1] at 10
    writeRaw(path,
             R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"c":{"dtype":"BOOL","shape":[2],"data_offsets":[4,6]},)"
             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[6,10]},"d":{"dtype":"F32","shape":[1],"data_offsets":[10,14]}})",
             data);
    const StateDict dict = mapSafetensors(path.toStdString());
    QCOMPARE(dict.get("a").item<float>(), one);
    QCOMPARE(dict.get("b").item<float>(), two);
    QCOMPARE(dict.get("d").item<float>(), one);
    QVERIFY(dict.get("c")[0].item<bool>());
    QVERIFY(!dict.get("c")[1].item<bool>());
    QVERIFY(!isMapped(dict.get("c")));
    QVERIFY(isMapped(dict.get("a")));  // aligned: a view of the file
    QVERIFY(!isMapped(dict.get("b"))); // misaligned: copied
    QVERIFY(!isMapped(dict.get("d")));
}

void TestModelLoad::adapterPackLeavesTheFileUnchanged()
{
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    const Architecture arch = Architecture::fromJson(c.at("architecture"));
    QTemporaryDir dir;
    const QString weights = dir.filePath(QStringLiteral("weights.safetensors"));
    writeRandomCheckpoint(arch, weights.toStdString(), false, 5);
    const QByteArray before = sha256Of(weights);
    QVERIFY(!before.isEmpty());

    // A pack that changes the text adapter's up projection of layer 0.
    const StateDict base = loadSafetensors(weights.toStdString());
    const torch::Tensor up = base.get("adapters.0.up_proj.weight");
    StateDict pack;
    pack.insert("adapters.0.up_proj.weight", up + 0.5);
    const QString packPath = dir.filePath(QStringLiteral("pack.safetensors"));
    saveSafetensors(packPath.toStdString(), pack);

    const std::vector<int64_t> ids{101, 2000, 2417, 102};
    for (bool bf16 : {false, true}) {
        RunnerOptions plainOpts, packOpts;
        plainOpts.bfloat16 = packOpts.bfloat16 = bf16;
        packOpts.adapterPack = packPath.toStdString();
        auto plain = ModelRunner::load(arch, weights.toStdString(), plainOpts);
        auto packed = ModelRunner::load(arch, weights.toStdString(), packOpts);
        const auto a = plain->textFeatures({ids}).front();
        const auto b = packed->textFeatures({ids}).front();
        QVERIFY(a != b); // the pack is applied
    }
    QCOMPARE(sha256Of(weights), before);
    QVERIFY(torch::equal(loadSafetensors(weights.toStdString()).get("adapters.0.up_proj.weight"), up));
}

void TestModelLoad::imageTokensGiveTheSameItm()
{
    // A re-rank cache keeps image tokens and matches new texts against them: the logits
    // must be those of the pixels.
    const QString name = QStringLiteral("retrieval-image");
    const auto c = test::readCase(name);
    auto runner = loadCase(name, c, /*bfloat16=*/false);
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

void TestModelLoad::videoTokensGiveTheSameItm()
{
    // A re-rank cache keeps a video's frame tokens and matches new texts against them: the
    // logits must be the reference's for its frames, with and without frame-aware attention.
    const QString name = QStringLiteral("retrieval-video");
    const auto c = test::readCase(name);
    auto runner = loadCase(name, c, /*bfloat16=*/false);
    const torch::Tensor pixels = test::caseOutput(name, c, "pixels").contiguous(); // [V,T,3,S,S]
    const torch::Tensor idsTensor = test::caseOutput(name, c, "text_input_ids");
    std::vector<std::vector<int64_t>> ids;
    for (int64_t i = 0; i < idsTensor.size(0); ++i)
        ids.push_back(firstText(idsTensor.narrow(0, i, 1)));
    for (int64_t v = 0; v < pixels.size(0); ++v) {
        const torch::Tensor frames = pixels[v].contiguous();
        const auto tokens = runner->videoTokens(imagePointers(frames));
        QVERIFY(tokens);
        for (bool frameAware : {false, true}) {
            const torch::Tensor expected = test::caseOutput(name, c, frameAware ? "itm_logits_frame_aware" : "itm_logits")[v];
            COMPARE_TENSORS(frameAware ? "video itm from tokens, frame-aware" : "video itm from tokens",
                            flat(runner->itmLogitsVideoTokens(tokens, ids, frameAware)), expected.reshape({-1, 2}), kTolerance);
            COMPARE_TENSORS("video itm from frames", flat(runner->itmLogits(imagePointers(frames), ids, frameAware)),
                            expected.reshape({-1, 2}), kTolerance);
        }
    }
    QVERIFY(runner->itmLogitsVideoTokens(runner->videoTokens(imagePointers(pixels[0].contiguous())), {}, true).empty());
    QVERIFY_THROWS_EXCEPTION(ModelError, runner->itmLogitsVideoTokens(nullptr, ids, true));
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
