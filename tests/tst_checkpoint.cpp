// Checkpoint readers: the fixture .pth files (key sets and shapes derived independently
// from full-size-keys.json and case.json's architecture), the restricted unpickler against
// hand-built hostile pickles, and .safetensors reading/writing against a parser of its own.
// LibTorch comes before Qt: Qt's keyword macros must not reach torch's headers.
#include <torch/torch.h>

#include "model/pickle_p.h"
#include "model/statedict_p.h"
#include "support/fixtures.h"

#include <nlohmann/json.hpp>
#include <zip.h>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QtTest>

#include <bit>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <set>

namespace m = unisearch::model;
using nlohmann::json;

namespace {

std::string le32(uint32_t v)
{
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i)
        s[i] = static_cast<char>(v >> (8 * i));
    return s;
}

std::string le64(uint64_t v)
{
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i)
        s[i] = static_cast<char>(v >> (8 * i));
    return s;
}

template <class T>
std::string rawBytes(const std::vector<T> &values)
{
    std::string s(values.size() * sizeof(T), '\0');
    if (!s.empty())
        std::memcpy(s.data(), values.data(), s.size());
    return s;
}

// Emits pickle opcodes by hand, so that the tests do not depend on any pickler.
class PickleWriter
{
public:
    PickleWriter &op(uint8_t c) { m_b += static_cast<char>(c); return *this; }
    PickleWriter &raw(const std::string &s) { m_b += s; return *this; }
    PickleWriter &proto(uint8_t v) { return op(0x80).op(v); }
    PickleWriter &global(const std::string &module, const std::string &name)
    {
        return op('c').raw(module + "\n" + name + "\n");
    }
    PickleWriter &str(const std::string &s) { return op('X').raw(le32(static_cast<uint32_t>(s.size()))).raw(s); }
    PickleWriter &shortStr(const std::string &s) { return op(0x8c).op(static_cast<uint8_t>(s.size())).raw(s); }
    PickleWriter &int1(uint8_t v) { return op('K').op(v); }
    PickleWriter &int4(int32_t v) { return op('J').raw(le32(static_cast<uint32_t>(v))); }
    PickleWriter &long1(int64_t v) { return op(0x8a).op(8).raw(le64(static_cast<uint64_t>(v))); }
    PickleWriter &real(double v)
    {
        const uint64_t u = std::bit_cast<uint64_t>(v);
        op('G');
        for (int i = 7; i >= 0; --i)
            op(static_cast<uint8_t>(u >> (8 * i)));
        return *this;
    }
    PickleWriter &mark() { return op('('); }
    PickleWriter &tuple() { return op('t'); }
    PickleWriter &tuple1() { return op(0x85); }
    PickleWriter &emptyDict() { return op('}'); }
    PickleWriter &emptyTuple() { return op(')'); }
    PickleWriter &setItem() { return op('s'); }
    PickleWriter &setItems() { return op('u'); }
    PickleWriter &reduce() { return op('R'); }
    PickleWriter &stop() { return op('.'); }
    PickleWriter &newFalse() { return op(0x89); }
    PickleWriter &newTrue() { return op(0x88); }
    PickleWriter &none() { return op('N'); }
    PickleWriter &binput(uint8_t i) { return op('q').op(i); }
    PickleWriter &binget(uint8_t i) { return op('h').op(i); }
    PickleWriter &ints(const std::vector<int64_t> &v)
    {
        mark();
        for (int64_t x : v)
            long1(x);
        return tuple();
    }
    // _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride,
    //                    False, OrderedDict()) exactly as torch.save lays it out.
    PickleWriter &tensor(const std::string &key, const std::string &storageClass, int64_t numel, int64_t offset,
                         const std::vector<int64_t> &sizes, const std::vector<int64_t> &strides,
                         const std::string &location = "cpu")
    {
        global("torch._utils", "_rebuild_tensor_v2").mark();
        mark().str("storage").global("torch", storageClass).str(key).str(location).long1(numel).tuple().op('Q');
        long1(offset).ints(sizes).ints(strides).newFalse();
        global("collections", "OrderedDict").emptyTuple().reduce();
        return tuple().reduce();
    }
    const std::string &bytes() const { return m_b; }

private:
    std::string m_b;
};

using Entries = std::vector<std::pair<std::string, std::string>>;

// Writes a zip with stored (uncompressed) entries, as torch.save does.
bool writeZip(const QString &path, const Entries &entries)
{
    int code = 0;
    zip_t *za = zip_open(QFile::encodeName(path).constData(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (!za)
        return false;
    for (const auto &[name, data] : entries) {
        zip_source_t *src = zip_source_buffer(za, data.data(), data.size(), 0);
        const zip_int64_t index = src ? zip_file_add(za, name.c_str(), src, ZIP_FL_ENC_UTF_8) : -1;
        if (index < 0) {
            if (src)
                zip_source_free(src);
            zip_discard(za);
            return false;
        }
        zip_set_file_compression(za, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
    }
    return zip_close(za) == 0;
}

// A torch-style archive: archive/data.pkl, archive/data/<key>, archive/version.
Entries torchArchive(const std::string &pickle, const Entries &storages, const std::string &prefix = "archive/")
{
    Entries e{{prefix + "data.pkl", pickle}};
    for (const auto &[key, data] : storages)
        e.emplace_back(prefix + "data/" + key, data);
    e.emplace_back(prefix + "version", "3\n");
    return e;
}

bool writeFile(const QString &path, const std::string &data)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return false;
    return f.write(data.data(), static_cast<qint64>(data.size())) == static_cast<qint64>(data.size());
}

std::string readFile(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    const QByteArray b = f.readAll();
    return std::string(b.constData(), static_cast<size_t>(b.size()));
}

// The message of the CheckpointError f throws; nullopt when it throws none. Any other
// exception type is a failure of the "clear error at the edge" contract.
template <class F>
std::optional<std::string> errorOf(F &&f)
{
    try {
        f();
    } catch (const m::CheckpointError &e) {
        return std::string(e.what());
    } catch (const std::exception &e) {
        return std::string("WRONG EXCEPTION TYPE: ") + e.what();
    }
    return std::nullopt;
}

#define EXPECT_CHECKPOINT_ERROR(expr, ...)                                                             \
    do {                                                                                               \
        const auto err_ = errorOf([&] { (void)(expr); });                                              \
        QVERIFY2(err_.has_value(), "expected a CheckpointError from " #expr);                          \
        QVERIFY2(err_->rfind("WRONG EXCEPTION TYPE", 0) != 0, err_->c_str());                          \
        qDebug("as expected: %s", err_->c_str()); /* the log shows what a person would read */        \
        for (const std::string &part_ : std::vector<std::string>{__VA_ARGS__})                         \
            QVERIFY2(err_->find(part_) != std::string::npos,                                           \
                     (*err_ + "\n   (expected it to mention: " + part_ + ")").c_str());                \
    } while (0)

std::vector<int64_t> sizesOf(const torch::Tensor &t)
{
    return t.sizes().vec();
}

// Full-size official shapes (full-size-keys.json) mapped onto a fixture's architecture.
struct ShapeMapper {
    json arch;
    int64_t fullImageSize = 384;

    std::optional<std::vector<int64_t>> map(const std::string &key, const std::vector<int64_t> &full) const
    {
        if (key.ends_with("_queue"))
            return std::nullopt; // queue length is a training setting, not architecture
        const auto &v = arch["vision"];
        const auto &t = arch["text"];
        const int64_t width = v["width"];
        const int64_t hidden = t["hidden"];
        const bool visual = key.starts_with("visual_encoder");
        const int64_t side = v["image_size"].get<int64_t>() / v["patch_size"].get<int64_t>();
        const int64_t fullTokens = (fullImageSize / 16) * (fullImageSize / 16) + 1;
        std::vector<int64_t> out;
        for (int64_t d : full) {
            if (d == 768)
                d = visual ? width : hidden;
            else if (d == 2304)
                d = 3 * width;
            else if (d == 3072)
                d = visual ? static_cast<int64_t>(v["mlp_ratio"].get<double>() * width) : t["intermediate"].get<int64_t>();
            else if (d == fullTokens)
                d = side * side + 1;
            else if (d == 256)
                d = arch["embed_dim"];
            else if (d == 64)
                d = arch["adapter"]["video_kv_bottleneck"];
            else if (d == 512)
                d = key.find("position_") != std::string::npos ? t["max_positions"].get<int64_t>()
                                                               : arch["adapter"]["bottleneck"].get<int64_t>();
            out.push_back(d);
        }
        return out;
    }
};

// The keys of a full-size model restricted to a fixture's depth.
std::map<std::string, std::vector<int64_t>> expectedKeys(const json &full, const json &arch, bool withAdapters)
{
    static const std::regex layered(R"((?:^|\.)(blocks|layer|adapters\w*)\.(\d+)\.)");
    const int64_t depth = arch["vision"]["depth"];
    const int64_t layers = arch["text"]["layers"];
    std::map<std::string, std::vector<int64_t>> out;
    for (const auto &[key, shape] : full.items()) {
        std::smatch match;
        if (std::regex_search(key, match, layered)) {
            const int64_t index = std::stoll(match[2].str());
            const int64_t limit = match[1].str() == "blocks" ? depth : layers;
            if (index >= limit)
                continue;
        }
        if (!withAdapters && key.find("adapter") != std::string::npos)
            continue;
        out[key] = shape.get<std::vector<int64_t>>();
    }
    return out;
}

struct FixtureCase {
    QString weights;
    json caseJson;
};

FixtureCase fixtureCase(const QString &name)
{
    FixtureCase c;
    c.caseJson = unisearch::test::readCase(name);
    c.weights = QDir(unisearch::test::caseDir(name)).absoluteFilePath(
        QString::fromStdString(c.caseJson["weights"].get<std::string>()));
    if (!QFileInfo::exists(c.weights))
        throw std::runtime_error("fixture weights missing: " + c.weights.toStdString());
    return c;
}

json fullSizeKeys()
{
    QFile f(unisearch::test::uniadapterDir() + QStringLiteral("/full-size-keys.json"));
    if (!f.open(QIODevice::ReadOnly))
        throw std::runtime_error("cannot read full-size-keys.json");
    return json::parse(f.readAll().toStdString());
}

bool bitIdentical(const torch::Tensor &a, const torch::Tensor &b)
{
    if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes())
        return false;
    const torch::Tensor ca = a.contiguous();
    const torch::Tensor cb = b.contiguous();
    // An empty tensor has no data pointer, and memcmp of a null pointer is undefined even for 0 bytes.
    return ca.numel() == 0
           || std::memcmp(ca.data_ptr(), cb.data_ptr(), static_cast<size_t>(ca.numel()) * ca.element_size()) == 0;
}

// Declares `var` from a fixture helper; a missing fixture is a test failure, never a skip.
#define FIXTURE(var, expr)                                                                             \
    decltype(expr) var;                                                                                \
    try {                                                                                              \
        var = expr;                                                                                    \
    } catch (const std::exception &e) {                                                                \
        QFAIL((std::string("fixture error: ") + e.what()).c_str());                                    \
    }

} // namespace

class TestCheckpoint : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void stateDictApi();
    void fixtureCheckpoints_data();
    void fixtureCheckpoints();
    void sharedStorages();
    void pthMetadata();
    void safetensorsRoundTrip();
    void craftedArchive();
    void craftedProtocol4();
    void refusesOsSystem();
    void refusesGlobals_data();
    void refusesGlobals();
    void refusesOpcodes_data();
    void refusesOpcodes();
    void truncatedZip();
    void badStorages();
    void notACheckpoint();
    void absurdPickles();
    void badSafetensors_data();
    void badSafetensors();
    void messageExcerpts();
    void deepSafetensorsHeaders_data();
    void deepSafetensorsHeaders();
    void hostileNamesInMessages();
    void repeatingViews();
    void zipBomb();
    void unpicklerMemoryBudget();
    void metadataNamesBounded();
    void manyTensorsRoundTrip();
};

void TestCheckpoint::stateDictApi()
{
    m::StateDict sd;
    QVERIFY(sd.empty());
    sd.insert("visual_encoder.pos_embed", torch::zeros({1, 577, 768}));
    sd.insert("visual_encoder.blocks.0.attn.qkv.weight", torch::ones({6, 2}));
    sd.insert("visual_encoder_m.cls_token", torch::zeros({1}));
    sd.insert("text_proj.weight", torch::zeros({2, 2}));
    QCOMPARE(sd.size(), size_t(4));
    QVERIFY(sd.contains("text_proj.weight"));
    QVERIFY(!sd.contains("text_proj"));

    // get with a shape: the message names the key and both shapes.
    EXPECT_CHECKPOINT_ERROR(sd.get("visual_encoder.pos_embed", {1, 5, 64}),
                            "visual_encoder.pos_embed: checkpoint has [1, 577, 768], model expects [1, 5, 64]");
    QCOMPARE(sizesOf(sd.get("visual_encoder.pos_embed", {1, 577, 768})), (std::vector<int64_t>{1, 577, 768}));
    EXPECT_CHECKPOINT_ERROR(sd.get("missing.weight"), "missing.weight");
    EXPECT_CHECKPOINT_ERROR(sd.get("missing.weight", {1}), "missing.weight");

    // select strips the prefix and must not pick up "visual_encoder_m." for "visual_encoder.".
    const m::StateDict ve = sd.select("visual_encoder.");
    QCOMPARE(ve.keys(), (std::vector<std::string>{"blocks.0.attn.qkv.weight", "pos_embed"}));
    QCOMPARE(ve.get("blocks.0.attn.qkv.weight").sum().item<float>(), 12.0f);
    QVERIFY(sd.select("nothing.").empty());
    QVERIFY(sd.hasPrefix("visual_encoder_m."));
    QVERIFY(sd.hasPrefix("text_"));
    QVERIFY(!sd.hasPrefix("text_encoder."));
    QVERIFY(!sd.hasPrefix("zzz"));
    QCOMPARE(sd.keys().size(), size_t(4));
    QCOMPARE(sd.keys().front(), std::string("text_proj.weight")); // sorted

    // insert replaces, as a Python dict does; erase removes.
    sd.insert("text_proj.weight", torch::ones({3}));
    QCOMPARE(sizesOf(sd.get("text_proj.weight")), (std::vector<int64_t>{3}));
    sd.erase("text_proj.weight");
    QVERIFY(!sd.contains("text_proj.weight"));
    QCOMPARE(m::formatShape(std::vector<int64_t>{}), std::string("[]"));
}

void TestCheckpoint::fixtureCheckpoints_data()
{
    QTest::addColumn<QString>("caseName");
    QTest::addColumn<QString>("fullName");
    QTest::addColumn<int>("fullImageSize");
    QTest::addColumn<bool>("adapters");
    QTest::addColumn<bool>("momentum");
    QTest::newRow("retrieval") << "retrieval-image" << "retrieval_384" << 384 << true << true;
    QTest::newRow("retrieval-noadapter") << "retrieval-noadapter" << "retrieval_384" << 384 << false << true;
    QTest::newRow("vqa") << "vqa" << "vqa_480" << 480 << true << false;
}

void TestCheckpoint::fixtureCheckpoints()
{
    QFETCH(QString, caseName);
    QFETCH(QString, fullName);
    QFETCH(int, fullImageSize);
    QFETCH(bool, adapters);
    QFETCH(bool, momentum);

    FIXTURE(fc, fixtureCase(caseName))
    FIXTURE(full, fullSizeKeys())
    const json &arch = fc.caseJson["architecture"];

    m::StateDict sd;
    try {
        sd = m::loadCheckpoint(fc.weights.toStdString());
    } catch (const m::CheckpointError &e) {
        QFAIL(e.what());
    }

    // Exactly the official key set at this depth: nothing lost, nothing invented.
    const auto expected = expectedKeys(full[fullName.toStdString()], arch, adapters);
    QCOMPARE(sd.size(), expected.size());
    for (const auto &[key, fullShape] : expected) {
        QVERIFY2(sd.contains(key), ("missing key " + key).c_str());
        const auto shape = ShapeMapper{arch, fullImageSize}.map(key, fullShape);
        const torch::Tensor t = sd.get(key);
        if (shape)
            QVERIFY2(sizesOf(t) == *shape, (key + ": got " + m::formatShape(t.sizes()) + ", expected "
                                            + m::formatShape(*shape)).c_str());
        else
            QCOMPARE(t.dim(), static_cast<int64_t>(fullShape.size()));
    }

    // Spot checks written out from the architecture alone.
    const int64_t width = arch["vision"]["width"];
    const int64_t side = arch["vision"]["image_size"].get<int64_t>() / arch["vision"]["patch_size"].get<int64_t>();
    QCOMPARE(sizesOf(sd.get("visual_encoder.pos_embed")), (std::vector<int64_t>{1, side * side + 1, width}));
    QCOMPARE(sizesOf(sd.get("text_encoder.embeddings.word_embeddings.weight")),
             (std::vector<int64_t>{arch["text"]["vocab_size"].get<int64_t>(), arch["text"]["hidden"].get<int64_t>()}));
    QCOMPARE(sd.get("visual_encoder.pos_embed").scalar_type(), torch::kFloat32);

    // position_ids is a LongStorage holding arange(max_positions): checks integer content.
    const int64_t positions = arch["text"]["max_positions"];
    const torch::Tensor ids = sd.get("text_encoder.embeddings.position_ids", {1, positions});
    QCOMPARE(ids.scalar_type(), torch::kInt64);
    QVERIFY(torch::equal(ids, torch::arange(positions, torch::kInt64).unsqueeze(0)));

    // Random non-trivial weights: finite, and LayerNorm weights not all equal to their init.
    for (const auto &[key, t] : sd.tensors())
        if (t.is_floating_point())
            QVERIFY2(torch::isfinite(t).all().item<bool>(), (key + " has non-finite values").c_str());
    const torch::Tensor ln = sd.get("visual_encoder.norm.weight", {width});
    QVERIFY(!torch::allclose(ln, torch::ones_like(ln)));

    // The loader returns momentum copies (filtering is the model's job); each mirrors its
    // model tensor's shape.
    QCOMPARE(sd.hasPrefix("visual_encoder_m."), momentum);
    int mirrored = 0;
    for (const auto &[key, t] : sd.tensors()) {
        const auto pos = key.find("_m.");
        if (pos == std::string::npos)
            continue;
        const std::string base = key.substr(0, pos) + key.substr(pos + 2);
        QVERIFY2(sd.contains(base), ("momentum key without a model key: " + key).c_str());
        QCOMPARE(sizesOf(sd.get(base)), sizesOf(t));
        ++mirrored;
    }
    QCOMPARE(mirrored > 0, momentum);

    if (!adapters) {
        for (const auto &key : sd.keys())
            QVERIFY2(key.find("adapter") == std::string::npos, key.c_str());
    } else {
        QVERIFY(sd.hasPrefix("adapters.0."));
    }

    // Two loads give the same bits.
    const m::StateDict again = m::loadPth(fc.weights.toStdString());
    QCOMPARE(again.keys(), sd.keys());
    for (const auto &[key, t] : sd.tensors())
        QVERIFY2(bitIdentical(t, again.get(key)), key.c_str());
}

void TestCheckpoint::sharedStorages()
{
    // UniAdapter(i) is one module shared by ViT block i, text layer i and decoder layer i,
    // so torch.save writes its storage once; the loaded tensors must share memory too.
    FIXTURE(retrieval, fixtureCase(QStringLiteral("retrieval-image")))
    FIXTURE(vqa, fixtureCase(QStringLiteral("vqa")))
    const m::StateDict r = m::loadPth(retrieval.weights.toStdString());
    const m::StateDict q = m::loadPth(vqa.weights.toStdString());
    const int64_t depth = retrieval.caseJson["architecture"]["vision"]["depth"];
    for (int64_t i = 0; i < depth; ++i) {
        for (const char *p : {"down_proj.weight", "up_proj.bias", "adapter_layer_norm_before.weight"}) {
            const std::string n = std::to_string(i);
            const torch::Tensor a = r.get("adapters." + n + "." + p);
            for (const std::string &other : {"visual_encoder.blocks." + n + ".adapter." + p,
                                             "text_encoder.encoder.layer." + n + ".adapter." + p}) {
                const torch::Tensor b = r.get(other);
                QCOMPARE(b.data_ptr(), a.data_ptr());
                QVERIFY(torch::equal(a, b));
            }
            QCOMPARE(q.get("text_decoder.bert.encoder.layer." + n + ".adapter." + p).data_ptr(),
                     q.get("adapters." + n + "." + p).data_ptr());
        }
    }
    // The decoder's output projection is tied to its word embeddings (BERT LM head).
    QCOMPARE(q.get("text_decoder.cls.predictions.decoder.weight").data_ptr(),
             q.get("text_decoder.bert.embeddings.word_embeddings.weight").data_ptr());
    // Untied tensors do not alias.
    QVERIFY(r.get("visual_encoder.pos_embed").data_ptr() != r.get("visual_encoder_m.pos_embed").data_ptr());
}

void TestCheckpoint::pthMetadata()
{
    // The checkpoint's 'config' must agree with the config case.json records for it.
    FIXTURE(fc, fixtureCase(QStringLiteral("retrieval-image")))
    std::map<std::string, std::string> meta;
    const m::StateDict sd = m::loadPth(fc.weights.toStdString(), &meta);
    QVERIFY(!sd.empty());
    const json &cfg = fc.caseJson["adapter_config"];
    QVERIFY(cfg.is_object() && !cfg.empty());
    for (const auto &[key, value] : cfg.items()) {
        const std::string k = "config." + key;
        QVERIFY2(meta.count(k), ("metadata lacks " + k).c_str());
        const std::string expected = value.is_string() ? value.get<std::string>() : value.dump();
        QVERIFY2(meta[k] == expected, (k + " = " + meta[k] + ", case.json says " + expected).c_str());
    }
    QCOMPARE(meta["epoch"], std::string("0"));
    QVERIFY(!meta.count("model"));

    // A checkpoint holding only {'model': ...} has no metadata.
    FIXTURE(plain, fixtureCase(QStringLiteral("retrieval-noadapter")))
    m::loadCheckpoint(plain.weights.toStdString(), &meta);
    QVERIFY(meta.empty());
}

void TestCheckpoint::safetensorsRoundTrip()
{
    FIXTURE(fc, fixtureCase(QStringLiteral("vqa")))
    const m::StateDict sd = m::loadPth(fc.weights.toStdString());
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("pack.safetensors"));
    const std::map<std::string, std::string> meta{
        {"name", "Shrek the cat"}, {"task", "vqa"}, {"empty", ""}, {"unicode", "caf\xc3\xa9 \xe7\x8c\xab"},
        {"json", "{\"a\": [1, 2]}"}};

    QVERIFY(writeFile(path, "old contents")); // replaced atomically
    m::saveSafetensors(path.toStdString(), sd, meta);
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{QStringLiteral("pack.safetensors")});

    std::map<std::string, std::string> readMeta;
    const m::StateDict back = m::loadSafetensors(path.toStdString(), &readMeta);
    QCOMPARE(readMeta, meta);
    QCOMPARE(back.keys(), sd.keys());
    for (const auto &[key, t] : sd.tensors())
        QVERIFY2(bitIdentical(t, back.get(key)), key.c_str());
    // Sniffed by content, whatever the name.
    const QString renamed = dir.filePath(QStringLiteral("weights.bin"));
    QVERIFY(QFile::copy(path, renamed));
    std::map<std::string, std::string> sniffedMeta;
    QCOMPARE(m::loadCheckpoint(renamed.toStdString(), &sniffedMeta).size(), sd.size());
    QCOMPARE(sniffedMeta, meta);

    // Check the file against the format with our own reading of it.
    const std::string file = readFile(path);
    QVERIFY(file.size() >= 8);
    uint64_t headerLen = 0;
    for (int i = 0; i < 8; ++i)
        headerLen |= uint64_t(static_cast<uint8_t>(file[i])) << (8 * i);
    QCOMPARE(headerLen % 8, uint64_t(0));
    QVERIFY(8 + headerLen <= file.size());
    const std::string headerText = file.substr(8, headerLen);
    QCOMPARE(headerText.front(), '{');
    const json header = json::parse(headerText);
    const auto headerMeta = header["__metadata__"].get<std::map<std::string, std::string>>();
    QCOMPARE(headerMeta, meta);
    QCOMPARE(header.size(), sd.size() + 1);
    uint64_t covered = 0;
    for (const auto &[key, t] : sd.tensors()) {
        const json &info = header[key];
        QCOMPARE(info["dtype"].get<std::string>(), std::string(t.scalar_type() == torch::kInt64 ? "I64" : "F32"));
        QCOMPARE(info["shape"].get<std::vector<int64_t>>(), sizesOf(t));
        const uint64_t begin = info["data_offsets"][0], end = info["data_offsets"][1];
        const torch::Tensor c = t.contiguous();
        QCOMPARE(end - begin, static_cast<uint64_t>(c.numel() * c.element_size()));
        QVERIFY(end == begin || std::memcmp(file.data() + 8 + headerLen + begin, c.data_ptr(), end - begin) == 0);
        covered += end - begin;
    }
    QCOMPARE(8 + headerLen + covered, static_cast<uint64_t>(file.size())); // no holes, no slack

    // Other dtypes, views and an empty tensor survive too.
    m::StateDict mixed;
    mixed.insert("half", torch::arange(6, torch::kFloat16).reshape({2, 3}));
    mixed.insert("bf16", torch::linspace(-1, 1, 5).to(torch::kBFloat16));
    mixed.insert("f64", torch::tensor({1.5, -2.25}, torch::kFloat64));
    mixed.insert("i32", torch::tensor({-7, 9}, torch::kInt32));
    mixed.insert("i16", torch::tensor({-3}, torch::kInt16));
    mixed.insert("i8", torch::tensor({-128, 127}, torch::kInt8));
    mixed.insert("u8", torch::tensor({0, 255}, torch::kUInt8));
    mixed.insert("bool", torch::tensor({true, false, true}));
    mixed.insert("transposed", torch::arange(12, torch::kFloat32).reshape({3, 4}).t());
    mixed.insert("empty", torch::zeros({0, 4}));
    mixed.insert("scalar", torch::tensor(3.0f));
    const QString mixedPath = dir.filePath(QStringLiteral("mixed.safetensors"));
    m::saveSafetensors(mixedPath.toStdString(), mixed);
    const m::StateDict mixedBack = m::loadSafetensors(mixedPath.toStdString());
    QCOMPARE(mixedBack.keys(), mixed.keys());
    for (const auto &[key, t] : mixed.tensors())
        QVERIFY2(bitIdentical(t, mixedBack.get(key)), key.c_str());
    QCOMPARE(mixedBack.get("transposed")[0][1].item<float>(), 4.0f);

    // Unsupported dtypes and a missing directory fail cleanly, leaving nothing behind.
    m::StateDict complex;
    complex.insert("c", torch::zeros({2}, torch::kComplexFloat));
    EXPECT_CHECKPOINT_ERROR(m::saveSafetensors(dir.filePath(QStringLiteral("c.safetensors")).toStdString(), complex),
                            "'c'");
    QVERIFY(!QFileInfo::exists(dir.filePath(QStringLiteral("c.safetensors"))));
    EXPECT_CHECKPOINT_ERROR(m::saveSafetensors(dir.filePath(QStringLiteral("no/such/dir/x.safetensors")).toStdString(), mixed),
                            "no/such/dir");
}

void TestCheckpoint::craftedArchive()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    // Storage 0: 12 floats shared by three tensors (a 3×4 matrix, its transpose, a row at
    // an offset); storage 1: int64; storage 2: bool; storage 3: half; a Parameter.
    std::vector<float> floats(12);
    for (int i = 0; i < 12; ++i)
        floats[i] = 0.5f * static_cast<float>(i) - 1.0f;
    const std::vector<int64_t> longs{-5, 0, int64_t(1) << 40};
    const std::string bools{'\x01', '\x00', '\x07'}; // 7: not 0/1; must read as true
    const std::vector<uint16_t> halves{0x3c00, 0xc000}; // 1.0, -2.0

    PickleWriter p;
    p.proto(2).emptyDict().binput(0).mark();
    p.str("matrix").tensor("0", "FloatStorage", 12, 0, {3, 4}, {4, 1}, "cuda:0");
    p.str("transposed").tensor("0", "FloatStorage", 12, 0, {4, 3}, {1, 4});
    p.str("row2").tensor("0", "FloatStorage", 12, 8, {4}, {1});
    p.str("longs").tensor("1", "LongStorage", 3, 0, {3}, {1});
    p.str("bools").tensor("2", "BoolStorage", 3, 0, {3}, {1});
    p.str("half").tensor("3", "HalfStorage", 2, 0, {2}, {1});
    p.str("scalar").tensor("0", "FloatStorage", 12, 11, {}, {});
    p.str("param").global("torch._utils", "_rebuild_parameter").mark();
    p.tensor("0", "FloatStorage", 12, 4, {2, 2}, {2, 1}).newTrue();
    p.global("collections", "OrderedDict").emptyTuple().reduce().tuple().reduce();
    p.setItems().stop();

    const Entries storages{{"0", rawBytes(floats)}, {"1", rawBytes(longs)}, {"2", bools}, {"3", rawBytes(halves)}};
    const QString path = dir.filePath(QStringLiteral("bare.pth"));
    QVERIFY(writeZip(path, torchArchive(p.bytes(), storages, "bare/")));
    const m::StateDict sd = m::loadCheckpoint(path.toStdString());
    QCOMPARE(sd.size(), size_t(8));

    const torch::Tensor expectedMatrix = torch::from_blob(floats.data(), {3, 4}, torch::kFloat32);
    QVERIFY(torch::equal(sd.get("matrix", {3, 4}), expectedMatrix));
    QVERIFY(torch::equal(sd.get("transposed", {4, 3}), expectedMatrix.t()));
    QVERIFY(torch::equal(sd.get("row2", {4}), expectedMatrix[2]));
    QCOMPARE(sd.get("scalar", {}).item<float>(), floats[11]);
    QVERIFY(torch::equal(sd.get("param", {2, 2}), expectedMatrix[1].reshape({2, 2})));
    QVERIFY(torch::equal(sd.get("longs"), torch::tensor({int64_t(-5), int64_t(0), int64_t(1) << 40})));
    QVERIFY(torch::equal(sd.get("bools"), torch::tensor({true, false, true})));
    QCOMPARE(sd.get("bools").to(torch::kUInt8)[2].item<int>(), 1);
    QVERIFY(torch::equal(sd.get("half").to(torch::kFloat32), torch::tensor({1.0f, -2.0f})));
    // Views of one storage share memory, as in PyTorch.
    QCOMPARE(sd.get("transposed").data_ptr(), sd.get("matrix").data_ptr());

    // The same under {'state_dict': ...}, and with a big-endian byte order.
    PickleWriter q;
    q.proto(2).emptyDict().str("state_dict").emptyDict().str("w").tensor("0", "FloatStorage", 2, 0, {2}, {1});
    q.setItem().setItem().str("step").int4(-3).setItem().stop();
    std::string big = rawBytes(std::vector<float>{1.5f, -0.25f});
    for (size_t i = 0; i < big.size(); i += 4)
        std::reverse(big.begin() + static_cast<std::ptrdiff_t>(i), big.begin() + static_cast<std::ptrdiff_t>(i + 4));
    Entries entries = torchArchive(q.bytes(), {{"0", big}});
    entries.emplace_back("archive/byteorder", "big");
    const QString bigPath = dir.filePath(QStringLiteral("big.pth"));
    QVERIFY(writeZip(bigPath, entries));
    std::map<std::string, std::string> meta;
    const m::StateDict b = m::loadPth(bigPath.toStdString(), &meta);
    QVERIFY(torch::equal(b.get("w"), torch::tensor({1.5f, -0.25f})));
    QCOMPARE(meta["step"], std::string("-3"));
}

void TestCheckpoint::craftedProtocol4()
{
    // Protocol 4 as newer picklers write it: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL.
    PickleWriter body;
    body.emptyDict().op(0x94).shortStr("model").op(0x94).emptyDict().op(0x94);
    body.shortStr("w").shortStr("torch._utils").shortStr("_rebuild_tensor_v2").op(0x93).op(0x94).mark();
    body.mark().shortStr("storage").shortStr("torch").shortStr("DoubleStorage").op(0x93).shortStr("k").shortStr("cpu");
    body.int1(3).tuple().op('Q').int1(0).int1(3).tuple1().int1(1).tuple1().newFalse().emptyDict().tuple().reduce();
    body.op(0x94).setItem();                       // memo 4 = the tensor; model["w"] = it
    body.shortStr("tied").op('h').op(4).setItem(); // BINGET of the memoized tensor: stays tied
    body.setItem();                                // root["model"] = model
    body.shortStr("config").emptyDict().mark();
    body.shortStr("lr").real(1e-4).shortStr("big").long1(int64_t(1) << 40).shortStr("neg").op(0x8a).op(1).op(0xfe);
    body.shortStr("blob").op('C').op(2).raw(std::string("\x00\x01", 2)).shortStr("none").none();
    body.shortStr("list").op(']').int1(1).op('a').shortStr("nested").emptyDict().shortStr("deep").newTrue().setItem();
    body.setItems().setItem(); // config entries; root["config"] = config
    body.stop();
    PickleWriter p;
    p.proto(4).op(0x95).raw(le64(body.bytes().size())).raw(body.bytes());

    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("p4.pth"));
    QVERIFY(writeZip(path, torchArchive(p.bytes(), {{"k", rawBytes(std::vector<double>{0.1, -2.0, 3e300})}})));
    std::map<std::string, std::string> meta;
    const m::StateDict sd = m::loadPth(path.toStdString(), &meta);
    QCOMPARE(sd.keys(), (std::vector<std::string>{"tied", "w"}));
    QVERIFY(torch::equal(sd.get("w"), torch::tensor({0.1, -2.0, 3e300}, torch::kFloat64)));
    QCOMPARE(sd.get("tied").data_ptr(), sd.get("w").data_ptr());
    QCOMPARE(std::stod(meta["config.lr"]), 1e-4);
    QCOMPARE(meta["config.big"], std::to_string(int64_t(1) << 40));
    QCOMPARE(meta["config.neg"], std::string("-2"));
    QCOMPARE(meta["config.none"], std::string("null"));
    QCOMPARE(meta["config.nested.deep"], std::string("true"));
    QVERIFY(!meta.count("config.list") && !meta.count("config.blob"));
}

void TestCheckpoint::refusesOsSystem()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString marker = dir.filePath(QStringLiteral("pwned-marker"));
    const std::string command = "touch " + marker.toStdString();

    // What a malicious checkpoint looks like: os.system("touch ...") through REDUCE.
    PickleWriter p;
    p.proto(2).global("os", "system").str(command).tuple1().reduce().stop();
    const QString path = dir.filePath(QStringLiteral("evil.pth"));
    QVERIFY(writeZip(path, torchArchive(p.bytes(), {})));
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(path.toStdString()), "refusing checkpoint",
                            "pickle references global 'os.system'", "only tensors and dictionaries are allowed");

    // Hidden inside an otherwise valid state dict, after a tensor.
    PickleWriter q;
    q.proto(2).emptyDict().mark().str("w").tensor("0", "FloatStorage", 1, 0, {1}, {1});
    q.str("x").global("os", "system").str(command).tuple1().reduce().setItems().stop();
    const QString hidden = dir.filePath(QStringLiteral("hidden.pth"));
    QVERIFY(writeZip(hidden, torchArchive(q.bytes(), {{"0", rawBytes(std::vector<float>{1.0f})}})));
    EXPECT_CHECKPOINT_ERROR(m::loadPth(hidden.toStdString()), "os.system");

    QVERIFY2(!QFileInfo::exists(marker), "the pickle's command ran");
}

void TestCheckpoint::refusesGlobals_data()
{
    QTest::addColumn<QString>("module");
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("stackGlobal");
    QTest::newRow("builtins.eval") << "builtins" << "eval" << false;
    QTest::newRow("builtins.exec via STACK_GLOBAL") << "builtins" << "exec" << true;
    QTest::newRow("os.system via STACK_GLOBAL") << "os" << "system" << true;
    QTest::newRow("posix.system") << "posix" << "system" << false;
    QTest::newRow("subprocess.Popen") << "subprocess" << "Popen" << false;
    QTest::newRow("torch.nn.Module") << "torch.nn.modules.module" << "Module" << false;
    QTest::newRow("numpy reconstruct") << "numpy.core.multiarray" << "_reconstruct" << false;
    QTest::newRow("torch.load") << "torch" << "load" << false;
    QTest::newRow("rebuild v1") << "torch._utils" << "_rebuild_tensor" << false;
    QTest::newRow("collections.defaultdict") << "collections" << "defaultdict" << false;
    QTest::newRow("torch.Storage lookalike") << "torch" << "FloatStorageX" << false;
}

void TestCheckpoint::refusesGlobals()
{
    QFETCH(QString, module);
    QFETCH(QString, name);
    QFETCH(bool, stackGlobal);
    QTemporaryDir dir;
    const QString marker = dir.filePath(QStringLiteral("marker"));
    PickleWriter p;
    p.proto(stackGlobal ? 4 : 2);
    if (stackGlobal)
        p.shortStr(module.toStdString()).shortStr(name.toStdString()).op(0x93);
    else
        p.global(module.toStdString(), name.toStdString());
    p.str("__import__('os').system('touch " + marker.toStdString() + "')").tuple1().reduce().stop();
    const QString path = dir.filePath(QStringLiteral("evil.pth"));
    QVERIFY(writeZip(path, torchArchive(p.bytes(), {})));
    const std::string full = QStringLiteral("'%1.%2'").arg(module, name).toStdString();
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(path.toStdString()), "refusing checkpoint", full.c_str());
    QVERIFY(!QFileInfo::exists(marker));
}

void TestCheckpoint::refusesOpcodes_data()
{
    QTest::addColumn<QByteArray>("pickle");
    QTest::addColumn<QString>("expected");
    auto bytes = [](const PickleWriter &w) { return QByteArray::fromStdString(w.bytes()); };
    QTest::newRow("INST") << bytes(PickleWriter().proto(2).mark().op('i').raw("os\nsystem\n").stop()) << "INST";
    QTest::newRow("OBJ") << bytes(PickleWriter().proto(2).mark().global("collections", "OrderedDict").op('o').stop())
                         << "OBJ";
    QTest::newRow("NEWOBJ") << bytes(PickleWriter().proto(2).global("collections", "OrderedDict").emptyTuple().op(0x81).stop())
                            << "NEWOBJ";
    QTest::newRow("EXT1") << bytes(PickleWriter().proto(2).op(0x82).op(1).stop()) << "EXT1";
    QTest::newRow("EXT4") << bytes(PickleWriter().proto(2).op(0x84).raw(le32(1)).stop()) << "EXT4";
    QTest::newRow("PERSID text") << bytes(PickleWriter().proto(2).op('P').raw("x\n").stop()) << "PERSID";
    QTest::newRow("unknown 0xff") << bytes(PickleWriter().proto(2).op(0xff).stop()) << "unknown opcode 0xff";
    QTest::newRow("protocol 9") << bytes(PickleWriter().proto(9).emptyDict().stop()) << "protocol 9";
    QTest::newRow("call a string") << bytes(PickleWriter().proto(2).str("os.system").emptyTuple().reduce().stop())
                                   << "refusing checkpoint";
    QTest::newRow("call a storage class")
        << bytes(PickleWriter().proto(2).global("torch", "FloatStorage").emptyTuple().reduce().stop())
        << "torch.FloatStorage";
    QTest::newRow("BUILD on a list") << bytes(PickleWriter().proto(2).op(']').emptyDict().op('b').stop())
                                     << "refusing checkpoint";
}

void TestCheckpoint::refusesOpcodes()
{
    QFETCH(QByteArray, pickle);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("op.pth"));
    QVERIFY(writeZip(path, torchArchive(pickle.toStdString(), {})));
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(path.toStdString()), expected.toStdString().c_str());
}

void TestCheckpoint::truncatedZip()
{
    FIXTURE(fc, fixtureCase(QStringLiteral("retrieval-image")))
    const std::string whole = readFile(fc.weights);
    QVERIFY(whole.size() > 1000);
    QTemporaryDir dir;
    const QString half = dir.filePath(QStringLiteral("half.pth"));
    QVERIFY(writeFile(half, whole.substr(0, whole.size() / 2)));
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(half.toStdString()), "half.pth", "truncated or damaged");

    // Central directory intact, but one storage's bytes damaged: the CRC catches it.
    std::string damaged = whole;
    const size_t at = damaged.find("retrieval/data/1");
    QVERIFY(at != std::string::npos);
    damaged[at + 4096] ^= 0x55; // inside the data of the first stored entries
    const QString bad = dir.filePath(QStringLiteral("crc.pth"));
    QVERIFY(writeFile(bad, damaged));
    const auto err = errorOf([&] { m::loadCheckpoint(bad.toStdString()); });
    QVERIFY2(err && err->find("crc.pth") != std::string::npos, err ? err->c_str() : "loaded a damaged file");
    QVERIFY2(err->find("CRC") != std::string::npos, err->c_str());
    qDebug("as expected: %s", err->c_str());
}

void TestCheckpoint::badStorages()
{
    QTemporaryDir dir;
    auto archive = [&](const QString &name, const PickleWriter &p, const Entries &storages) {
        const QString path = dir.filePath(name);
        return writeZip(path, torchArchive(p.bytes(), storages)) ? path.toStdString() : std::string();
    };
    auto stateDict = [](int64_t numel, int64_t offset, std::vector<int64_t> size, std::vector<int64_t> stride) {
        PickleWriter p;
        p.proto(2).emptyDict().str("encoder.weight").tensor("7", "FloatStorage", numel, offset, size, stride);
        p.setItem().stop();
        return p;
    };

    // The storage entry is shorter than numel × 4.
    const std::string shortPath = archive("short.pth", stateDict(4, 0, {4}, {1}), {{"7", std::string(12, '\0')}});
    QVERIFY(!shortPath.empty());
    EXPECT_CHECKPOINT_ERROR(m::loadPth(shortPath), "short.pth", "data/7", "12 bytes", "4 elements");

    // The tensor reaches past its storage: offset 2 + 4 elements in a 4-element storage.
    const std::string pastPath = archive("past.pth", stateDict(4, 2, {4}, {1}), {{"7", std::string(16, '\0')}});
    EXPECT_CHECKPOINT_ERROR(m::loadPth(pastPath), "encoder.weight", "data/7", "past the end");
    // The same through a stride.
    const std::string stridePath = archive("stride.pth", stateDict(4, 0, {2, 2}, {3, 1}), {{"7", std::string(16, '\0')}});
    EXPECT_CHECKPOINT_ERROR(m::loadPth(stridePath), "encoder.weight", "past the end");

    // The storage entry does not exist.
    const std::string missing = archive("missing.pth", stateDict(4, 0, {4}, {1}), {});
    EXPECT_CHECKPOINT_ERROR(m::loadPth(missing), "data/7", "missing");

    // numel × element size overflows; sizes whose product overflows.
    const std::string huge = archive("huge.pth", stateDict(int64_t(1) << 62, 0, {1}, {1}), {});
    EXPECT_CHECKPOINT_ERROR(m::loadPth(huge), "huge.pth", "elements");
    const std::string wide = archive("wide.pth", stateDict(4, 0, {int64_t(1) << 40, int64_t(1) << 40}, {0, 0}),
                                     {{"7", std::string(16, '\0')}});
    EXPECT_CHECKPOINT_ERROR(m::loadPth(wide), "too large");

    // One storage key claimed with two sizes.
    PickleWriter twice;
    twice.proto(2).emptyDict().mark().str("a").tensor("7", "FloatStorage", 4, 0, {4}, {1});
    twice.str("b").tensor("7", "FloatStorage", 8, 0, {8}, {1}).setItems().stop();
    EXPECT_CHECKPOINT_ERROR(m::loadPth(archive("twice.pth", twice, {{"7", std::string(16, '\0')}})), "data/7");
}

void TestCheckpoint::notACheckpoint()
{
    QTemporaryDir dir;
    FIXTURE(caseDir, unisearch::test::caseDir(QStringLiteral("retrieval-image")))
    const std::string png = caseDir.toStdString() + "/img0.png";
    QVERIFY(QFileInfo::exists(QString::fromStdString(png)));
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(png), "img0.png is neither a PyTorch checkpoint (.pth) nor a .safetensors file");

    const QString empty = dir.filePath(QStringLiteral("empty.pth"));
    QVERIFY(writeFile(empty, ""));
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(empty.toStdString()), "empty.pth is neither");
    EXPECT_CHECKPOINT_ERROR(m::loadPth(empty.toStdString()), "empty.pth");
    EXPECT_CHECKPOINT_ERROR(m::loadSafetensors(empty.toStdString()), "empty.pth");
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(dir.filePath(QStringLiteral("nope.pth")).toStdString()), "nope.pth",
                            "No such file");
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(dir.path().toStdString()), "not a regular");

    // Pre-1.6 torch.save output: a bare pickle stream.
    const QString legacy = dir.filePath(QStringLiteral("legacy.pth"));
    QVERIFY(writeFile(legacy, PickleWriter().proto(2).long1(0x1950a86a20f9469c).op('.').bytes()));
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(legacy.toStdString()), "legacy format");

    // A zip that is no torch archive.
    const QString other = dir.filePath(QStringLiteral("other.zip"));
    QVERIFY(writeZip(other, {{"readme.txt", "hello"}}));
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(other.toStdString()), "no data.pkl");

    // Pickles that parse but hold no state dict.
    auto check = [&](const char *name, const PickleWriter &p, const char *expected) {
        const QString path = dir.filePath(QString::fromLatin1(name));
        QVERIFY(writeZip(path, torchArchive(p.bytes(), {})));
        EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(path.toStdString()), "not a model checkpoint", expected);
    };
    check("scalars.pth", PickleWriter().proto(2).emptyDict().str("epoch").int1(3).setItem().stop(), "'epoch'");
    check("list.pth", PickleWriter().proto(2).op(']').stop(), "list");
    check("emptydict.pth", PickleWriter().proto(2).emptyDict().stop(), "empty");
    check("modelstr.pth", PickleWriter().proto(2).emptyDict().str("model").str("x").setItem().stop(), "'model'");
    PickleWriter mixed;
    mixed.proto(2).emptyDict().str("model").emptyDict().mark().str("w").tensor("0", "FloatStorage", 1, 0, {1}, {1});
    mixed.str("n").int1(1).setItems().setItem().stop();
    check("mixed.pth", mixed, "'n'");
}

void TestCheckpoint::absurdPickles()
{
    QTemporaryDir dir;
    auto load = [&](const char *name, const std::string &pickle, std::map<std::string, std::string> *meta = nullptr) {
        const QString path = dir.filePath(QString::fromLatin1(name));
        if (!writeZip(path, torchArchive(pickle, {{"0", rawBytes(std::vector<float>{1.0f})}})))
            throw std::runtime_error("cannot write zip");
        return m::loadPth(path.toStdString(), meta);
    };

    // A million nested lists: must neither recurse nor crash.
    {
        PickleWriter p;
        p.proto(2);
        const int n = 1'000'000;
        for (int i = 0; i < n; ++i)
            p.op(']');
        for (int i = 1; i < n; ++i)
            p.op('a');
        p.stop();
        EXPECT_CHECKPOINT_ERROR(load("deep.pth", p.bytes()), "not a model checkpoint");
    }
    // Deeply nested and self-referencing dicts in the config: loads, metadata bounded.
    {
        PickleWriter p;
        p.proto(2).emptyDict().str("model").emptyDict().str("w").tensor("0", "FloatStorage", 1, 0, {1}, {1});
        p.setItem().setItem();
        p.str("cycle").emptyDict().binput(9).mark();
        for (int i = 0; i < 200; ++i) // 200 self-references: 200^depth paths if walked naively
            p.str("self" + std::to_string(i)).binget(9);
        p.str("x").int1(1).setItems().setItem();
        p.str("deep");
        for (int i = 0; i < 100'000; ++i)
            p.emptyDict().str("k");
        p.int1(5);
        for (int i = 0; i < 100'000; ++i)
            p.setItem();
        p.setItem().stop();
        std::map<std::string, std::string> meta;
        QElapsedTimer timer;
        timer.start();
        const m::StateDict sd = load("cyclic.pth", p.bytes(), &meta);
        QVERIFY2(timer.elapsed() < 10000, "metadata walk is not bounded");
        QCOMPARE(sd.size(), size_t(1));
        QCOMPARE(meta["cycle.x"], std::string("1"));
        QVERIFY(meta.size() <= 10000);
    }
    // Too many objects (the limit, lowered here to keep the test small).
    {
        PickleWriter p;
        p.proto(2).op(']');
        for (int i = 0; i < 2000; ++i)
            p.op('N').op('a');
        p.stop();
        m::pickle::Unpickler small(m::pickle::Limits{.maxBytes = 1 << 20, .maxValues = 1000});
        EXPECT_CHECKPOINT_ERROR(small.load(p.bytes()), "more than 1000");
        m::pickle::Unpickler roomy;
        QCOMPARE(roomy.load(p.bytes())->items.size(), size_t(2000));
        m::pickle::Unpickler tight(m::pickle::Limits{.maxBytes = 100});
        EXPECT_CHECKPOINT_ERROR(tight.load(p.bytes()), "larger than");
    }
    // Truncated pickles, bad memo use, stack underflow, lengths past the end.
    EXPECT_CHECKPOINT_ERROR(load("nostop.pth", PickleWriter().proto(2).emptyDict().bytes()), "STOP");
    EXPECT_CHECKPOINT_ERROR(load("cut.pth", PickleWriter().proto(2).op('X').raw(le32(100)).raw("abc").bytes()), "truncated");
    EXPECT_CHECKPOINT_ERROR(load("memo.pth", PickleWriter().proto(2).binget(3).stop().bytes()), "memo");
    EXPECT_CHECKPOINT_ERROR(load("under.pth", PickleWriter().proto(2).op('s').stop().bytes()), "underflow");
    EXPECT_CHECKPOINT_ERROR(load("markless.pth", PickleWriter().proto(2).tuple().stop().bytes()), "MARK");
    EXPECT_CHECKPOINT_ERROR(load("neglen.pth", PickleWriter().proto(2).op('T').raw(le32(0xffffffffu)).stop().bytes()),
                            "truncated");
    EXPECT_CHECKPOINT_ERROR(load("frame.pth", PickleWriter().proto(4).op(0x95).raw(le64(100) + "}.").bytes()),
                            "FRAME runs past the end");
    // A persistent id that is not a storage tuple.
    EXPECT_CHECKPOINT_ERROR(load("pid.pth", PickleWriter().proto(2).str("x").op('Q').stop().bytes()), "persistent id");
}

void TestCheckpoint::badSafetensors_data()
{
    QTest::addColumn<QByteArray>("file");
    QTest::addColumn<QString>("expected");
    auto make = [](const std::string &header, size_t dataBytes, std::optional<uint64_t> length = {}) {
        const std::string f = le64(length.value_or(header.size())) + header + std::string(dataBytes, '\x01');
        return QByteArray::fromStdString(f);
    };
    const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    QTest::newRow("offsets past end") << make(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8)
                                      << "past the end";
    QTest::newRow("overlapping") << make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)
                                 << "overlapping";
    QTest::newRow("header longer than file") << make(ok, 8, 1000) << "larger than the file";
    QTest::newRow("huge header length") << make(ok, 8, ~uint64_t(0)) << "larger than the file";
    QTest::newRow("bad json") << make(R"({"a":{"dtype":"F32",)", 8) << "not valid JSON";
    QTest::newRow("not an object") << make("[1, 2, 3]", 0) << "not a JSON object";
    QTest::newRow("size mismatch") << make(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)
                                   << "needs 12";
    QTest::newRow("unknown dtype") << make(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2)
                                   << "F8_E4M3";
    QTest::newRow("negative shape") << make(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)
                                    << "invalid shape";
    QTest::newRow("shape overflow")
        << make(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8) << "invalid shape";
    QTest::newRow("reversed offsets") << make(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8)
                                      << "invalid data_offsets";
    QTest::newRow("missing fields") << make(R"({"a":{"dtype":"F32"}})", 0) << "lacks";
    QTest::newRow("metadata not strings")
        << make(R"({"__metadata__":{"n":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8) << "__metadata__";
    QTest::newRow("short file") << QByteArray("\x05\x00\x00", 3) << "too short";
}

void TestCheckpoint::badSafetensors()
{
    QFETCH(QByteArray, file);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("bad.safetensors"));
    QVERIFY(writeFile(path, file.toStdString()));
    EXPECT_CHECKPOINT_ERROR(m::loadSafetensors(path.toStdString()), "bad.safetensors", expected.toStdString().c_str());
    // Through the sniffing entry point: either the same error or "neither" — never a crash.
    EXPECT_CHECKPOINT_ERROR(m::loadCheckpoint(path.toStdString()), "bad.safetensors");
}

void TestCheckpoint::messageExcerpts()
{
    QCOMPARE(m::detail::excerpt("encoder.weight"), std::string("encoder.weight"));
    QCOMPARE(m::detail::excerpt(std::string("a\x1b[31m\\b\n\xff", 10)), std::string("a\\x1b[31m\\x5cb\\x0a\\xff"));
    QCOMPARE(m::detail::excerpt(std::string(100, 'x'), 4), std::string("xxxx... (100 bytes)"));
    // nlohmann writes BEL as \u0007; the backslash is then escaped once more.
    QCOMPARE(m::detail::jsonExcerpt(json::parse("[[1, 2], \"\\u0007\"]"), 12), std::string("[[1,2],\"\\x5cu00... (16 bytes)"));
}

// A header whose shape, dtype, data_offsets or metadata value is nested n arrays deep.
void TestCheckpoint::deepSafetensorsHeaders_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<int>("depth");
    for (const char *field : {"shape", "dtype", "data_offsets", "metadata"})
        for (int depth : {50'000, 100'000})
            QTest::addRow("%s %d", field, depth) << QString::fromLatin1(field) << depth;
}

void TestCheckpoint::deepSafetensorsHeaders()
{
    QFETCH(QString, field);
    QFETCH(int, depth);
    const std::string deep = std::string(static_cast<size_t>(depth), '[') + std::string(static_cast<size_t>(depth), ']');
    std::map<std::string, std::string> info{{"dtype", "\"F32\""}, {"shape", "[0]"}, {"data_offsets", "[0,0]"}};
    std::string header;
    if (field == QLatin1String("metadata")) {
        header = "{\"__metadata__\":{\"k\":" + deep + "},";
    } else {
        info[field.toStdString()] = deep;
        header = "{";
    }
    header += "\"a\":{";
    for (const auto &[k, v] : info)
        header += "\"" + k + "\":" + v + (k == "shape" ? "" : ",");
    header += "}}";
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("deep.safetensors"));
    QVERIFY(writeFile(path, le64(header.size()) + header));
    // It used to recurse through dump() for the message (a crash at 100,000) or put the
    // whole value into it (100 KB of brackets at 50,000).
    for (int entry = 0; entry < 2; ++entry) {
        const auto err = errorOf([&] {
            entry == 0 ? m::loadSafetensors(path.toStdString()) : m::loadCheckpoint(path.toStdString());
        });
        QVERIFY2(err.has_value(), "a header nested this deep was accepted");
        qDebug("as expected: %s", err->c_str());
        QVERIFY2(err->find("deep.safetensors") != std::string::npos && err->find("levels deep") != std::string::npos,
                 err->c_str());
        QVERIFY2(err->size() < static_cast<size_t>(path.size()) + 200, err->c_str());
        QVERIFY(err->find("[[[[") == std::string::npos);
    }
}

void TestCheckpoint::hostileNamesInMessages()
{
    // Names and values from a file reach messages shortened and escaped: a 100 KB name with
    // terminal escapes must not be printed whole, nor its control bytes raw.
    QTemporaryDir dir;
    const std::string name = "\x1b]0;owned\x07\x1b[2J" + std::string(100'000, 'n');
    auto check = [&](const std::string &file, const std::string &content, auto load, const std::string &expected) {
        const QString path = dir.filePath(QString::fromStdString(file));
        QVERIFY(writeFile(path, content));
        const auto err = errorOf([&] { load(path.toStdString()); });
        QVERIFY2(err.has_value(), file.c_str());
        qDebug("as expected: %s", err->c_str());
        QVERIFY2(err->size() < 400, err->substr(0, 400).c_str());
        QVERIFY2(err->find('\x1b') == std::string::npos && err->find('\x07') == std::string::npos, err->c_str());
        QVERIFY2(err->find(expected) != std::string::npos, err->c_str());
    };
    auto safetensors = [](const std::string &header) { return le64(header.size()) + header; };
    const std::string quoted = json(name).dump();
    const auto loadSt = [](const std::string &p) { m::loadSafetensors(p); };
    check("dtype.safetensors", safetensors("{" + quoted + ":{\"dtype\":" + quoted + ",\"shape\":[],\"data_offsets\":[0,0]}}"),
          loadSt, "\\x1b]0;owned\\x07");
    check("shape.safetensors", safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + quoted + "],\"data_offsets\":[0,0]}}"),
          loadSt, "invalid shape");
    check("offsets.safetensors", safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[" + quoted + "]}}"),
          loadSt, "invalid data_offsets");
    check("meta.safetensors", safetensors("{\"__metadata__\":{" + quoted + ":1}}"), loadSt, "__metadata__");
    check("json.safetensors", safetensors("{\"a\":" + quoted.substr(0, quoted.size() - 1)), loadSt, "not valid JSON");

    // The same through a .pth: a tensor name in the "reaches past the end" message, a
    // refused global's name, a top-level key.
    PickleWriter past;
    past.proto(2).emptyDict().str(name).tensor("0", "FloatStorage", 1, 0, {2}, {1}).setItem().stop();
    const auto loadPth = [](const std::string &p) { m::loadPth(p); };
    const QString pastPath = dir.filePath(QStringLiteral("past.pth"));
    QVERIFY(writeZip(pastPath, torchArchive(past.bytes(), {{"0", rawBytes(std::vector<float>{1.0f})}})));
    check("past.pth", readFile(pastPath), loadPth, "past the end");
    PickleWriter global;
    global.proto(4).shortStr("os").str(name).op(0x93).stop();
    const QString globalPath = dir.filePath(QStringLiteral("global.pth"));
    QVERIFY(writeZip(globalPath, torchArchive(global.bytes(), {})));
    check("global.pth", readFile(globalPath), loadPth, "refusing checkpoint");
    PickleWriter keys;
    keys.proto(2).emptyDict().str(name).int1(1).setItem().stop();
    const QString keysPath = dir.filePath(QStringLiteral("keys.pth"));
    QVERIFY(writeZip(keysPath, torchArchive(keys.bytes(), {})));
    check("keys.pth", readFile(keysPath), loadPth, "not a model checkpoint");
}

void TestCheckpoint::repeatingViews()
{
    QTemporaryDir dir;
    auto archive = [&](const QString &name, const PickleWriter &p, const Entries &storages) {
        const QString path = dir.filePath(name);
        return writeZip(path, torchArchive(p.bytes(), storages)) ? path.toStdString() : std::string();
    };
    // 528 bytes of checkpoint: one float viewed as [2^28] through stride 0 passed the
    // extent check, and a gigabyte was made of it when the tensor was written contiguous.
    PickleWriter one;
    one.proto(2).emptyDict().str("visual_encoder.pos_embed");
    one.tensor("0", "FloatStorage", 1, 0, {int64_t(1) << 28}, {0}).setItem().stop();
    const std::string onePath = archive(QStringLiteral("stride0.pth"), one, {{"0", rawBytes(std::vector<float>{1.0f})}});
    EXPECT_CHECKPOINT_ERROR(m::loadPth(onePath), "stride0.pth", "stride");
    // Overlapping strides: [4, 4] over 7 stored elements.
    PickleWriter overlap;
    overlap.proto(2).emptyDict().str("w").tensor("0", "FloatStorage", 7, 0, {4, 4}, {1, 1}).setItem().stop();
    EXPECT_CHECKPOINT_ERROR(m::loadPth(archive(QStringLiteral("overlap.pth"), overlap,
                                               {{"0", rawBytes(std::vector<float>(7, 1.0f))}})),
                            "overlapping stride");
    // Many names for the same 2 MB: more than twice what the archive stores.
    const int64_t n = 512 * 1024;
    PickleWriter names;
    names.proto(2).emptyDict().mark();
    for (int i = 0; i < 3; ++i)
        names.str("copy" + std::to_string(i)).tensor("0", "FloatStorage", n, 0, {n}, {1});
    names.setItems().stop();
    EXPECT_CHECKPOINT_ERROR(m::loadPth(archive(QStringLiteral("names.pth"), names,
                                               {{"0", std::string(static_cast<size_t>(n) * 4, '\0')}})),
                            "names.pth", "many names");

    // What real checkpoints hold still loads: a size-1 dimension with any stride, an
    // expanded [1, 4] buffer (stride 0 on its size-1 dimension), a transpose, a slice,
    // and one storage under two names (tied weights).
    PickleWriter fine;
    fine.proto(2).emptyDict().mark();
    fine.str("ids").tensor("1", "LongStorage", 4, 0, {1, 4}, {0, 1});
    fine.str("col").tensor("0", "FloatStorage", 6, 1, {3, 1}, {2, 7});
    fine.str("t").tensor("0", "FloatStorage", 6, 0, {3, 2}, {1, 3});
    fine.str("tied").tensor("0", "FloatStorage", 6, 0, {3, 2}, {1, 3});
    fine.setItems().stop();
    const m::StateDict sd = m::loadPth(archive(QStringLiteral("fine.pth"), fine,
                                               {{"0", rawBytes(std::vector<float>{0, 1, 2, 3, 4, 5})},
                                                {"1", rawBytes(std::vector<int64_t>{7, 8, 9, 10})}}));
    QVERIFY(torch::equal(sd.get("ids"), torch::tensor(std::vector<int64_t>{7, 8, 9, 10}).reshape({1, 4})));
    QVERIFY(torch::equal(sd.get("col"), torch::tensor({1.0f, 3.0f, 5.0f}).reshape({3, 1})));
    QVERIFY(torch::equal(sd.get("t"), torch::tensor({0.0f, 3.0f, 1.0f, 4.0f, 2.0f, 5.0f}).reshape({3, 2})));
}

void TestCheckpoint::zipBomb()
{
    // A storage entry compressed by deflate (torch.save writes none; a re-zipped archive
    // has them): 80 MB of zeros in a file of about 80 KB. Refused from the central
    // directory's sizes, before anything is allocated.
    const int64_t n = 20 * 1024 * 1024;
    PickleWriter p;
    p.proto(2).emptyDict().str("w").tensor("0", "FloatStorage", n, 0, {n}, {1}).setItem().stop();
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("bomb.pth"));
    {
        const std::string zeros(static_cast<size_t>(n) * 4, '\0');
        const Entries entries = torchArchive(p.bytes(), {{"0", zeros}});
        int code = 0;
        zip_t *za = zip_open(QFile::encodeName(path).constData(), ZIP_CREATE | ZIP_TRUNCATE, &code);
        QVERIFY(za);
        for (const auto &[name, data] : entries) {
            zip_source_t *src = zip_source_buffer(za, data.data(), data.size(), 0);
            const zip_int64_t index = zip_file_add(za, name.c_str(), src, ZIP_FL_ENC_UTF_8);
            QVERIFY(index >= 0);
            zip_set_file_compression(za, static_cast<zip_uint64_t>(index), ZIP_CM_DEFLATE, 9);
        }
        QCOMPARE(zip_close(za), 0);
    }
    QVERIFY(QFileInfo(path).size() < 1024 * 1024);
    EXPECT_CHECKPOINT_ERROR(m::loadPth(path.toStdString()), "bomb.pth", "data/0", "inflates");

    // A compressed archive of ordinary size still loads.
    PickleWriter small;
    small.proto(2).emptyDict().str("w").tensor("0", "FloatStorage", 3, 0, {3}, {1}).setItem().stop();
    const Entries entries = torchArchive(small.bytes(), {{"0", rawBytes(std::vector<float>{1, 2, 3})}});
    const QString smallPath = dir.filePath(QStringLiteral("deflated.pth"));
    int code = 0;
    zip_t *za = zip_open(QFile::encodeName(smallPath).constData(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    QVERIFY(za);
    for (const auto &[name, data] : entries)
        QVERIFY(zip_file_add(za, name.c_str(), zip_source_buffer(za, data.data(), data.size(), 0), 0) >= 0);
    QCOMPARE(zip_close(za), 0);
    QVERIFY(torch::equal(m::loadPth(smallPath.toStdString()).get("w"), torch::tensor({1.0f, 2.0f, 3.0f})));
}

void TestCheckpoint::unpicklerMemoryBudget()
{
    // GET is 2 bytes and puts an 8-byte pointer on the stack and, through APPENDS, another
    // into a list; MARK and PUT add to the marks and the memo. 24 MB of them went past
    // any budget before the state-dict check ever ran.
    PickleWriter p;
    p.proto(2).op(']').binput(0).mark();
    for (int i = 0; i < 12'000'000; ++i)
        p.binget(0);
    p.op('e').stop();
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("gets.pth"));
    QVERIFY(writeZip(path, torchArchive(p.bytes(), {})));
    EXPECT_CHECKPOINT_ERROR(m::loadPth(path.toStdString()), "gets.pth", "128 MB", "stack and memo");

    // The budget counts marks, the memo and strings too (lowered here to keep it small).
    PickleWriter marks;
    marks.proto(2);
    for (int i = 0; i < 2000; ++i)
        marks.mark();
    marks.emptyDict().stop();
    m::pickle::Unpickler tight(m::pickle::Limits{.maxMemory = 8000});
    EXPECT_CHECKPOINT_ERROR(tight.load(marks.bytes()), "stack and memo");
    PickleWriter memo;
    memo.proto(2).emptyDict();
    for (uint32_t i = 0; i < 1000; ++i)
        memo.op('r').raw(le32(i));
    memo.stop();
    m::pickle::Unpickler tightMemo(m::pickle::Limits{.maxMemory = 32000});
    EXPECT_CHECKPOINT_ERROR(tightMemo.load(memo.bytes()), "stack and memo");
    PickleWriter text;
    text.proto(2).str(std::string(10000, 's')).stop();
    m::pickle::Unpickler tightText(m::pickle::Limits{.maxMemory = 9000});
    EXPECT_CHECKPOINT_ERROR(tightText.load(text.bytes()), "stack and memo");
    m::pickle::Unpickler roomy;
    QCOMPARE(roomy.load(memo.bytes())->kind, m::pickle::Value::Kind::Dict);
}

void TestCheckpoint::metadataNamesBounded()
{
    // 25 KB of MARK/GET/PUT: a dict that holds itself under a 1 KB key, 6,000 times. The
    // breadth-first walk of the metadata made every queued name one key longer, level by
    // level: hundreds of MB of names, and names of kilobytes in the result.
    PickleWriter p;
    p.proto(2).emptyDict().str("model").emptyDict().str("w").tensor("0", "FloatStorage", 1, 0, {1}, {1});
    p.setItem().setItem();
    p.str("cfg").emptyDict().binput(1).mark().str(std::string(1000, 'k')).binput(2).binget(1);
    for (int i = 1; i < 6000; ++i)
        p.binget(2).binget(1);
    p.setItems();
    p.str("x").str("short").setItem(); // every expansion of cfg names one more string
    p.setItem().stop();
    QVERIFY(p.bytes().size() < 70'000);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("names.pth"));
    QVERIFY(writeZip(path, torchArchive(p.bytes(), {{"0", rawBytes(std::vector<float>{1.0f})}})));
    std::map<std::string, std::string> meta;
    QCOMPARE(m::loadPth(path.toStdString(), &meta).size(), size_t(1));
    size_t bytes = 0;
    for (const auto &[k, v] : meta) {
        QVERIFY2(k.size() <= 256, k.substr(0, 80).c_str());
        bytes += k.size() + v.size();
    }
    QVERIFY2(bytes <= 1024 * 1024, std::to_string(bytes).c_str());
    QCOMPARE(meta["cfg.x"], std::string("short"));
}

void TestCheckpoint::manyTensorsRoundTrip()
{
    // Writing the header was quadratic in the tensor count (100,000 tensors: 12 s); the
    // time is measured by hand (docs), this checks that the content survives.
    const int n = 100'000;
    m::StateDict dict;
    for (int i = 0; i < n; ++i) {
        const std::string name = "layer." + std::to_string(i) + (i % 3 == 0 ? ".weight" : ".bias \"q\"\\\u00e9");
        dict.insert(name, i % 2 ? torch::full({1}, static_cast<float>(i)) : torch::zeros({0, 3}, torch::kInt16));
    }
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("many.safetensors"));
    m::saveSafetensors(path.toStdString(), dict, {{"count", std::to_string(n)}, {"note", "tab\there"}});
    std::map<std::string, std::string> meta;
    const m::StateDict back = m::loadSafetensors(path.toStdString(), &meta);
    QCOMPARE(meta, (std::map<std::string, std::string>{{"count", std::to_string(n)}, {"note", "tab\there"}}));
    QCOMPARE(back.size(), dict.size());
    QCOMPARE(back.keys(), dict.keys());
    for (const auto &[name, t] : dict.tensors())
        QVERIFY2(bitIdentical(t, back.get(name)), name.c_str());
    // Laid out back to back in the map's order, as before.
    const std::string file = readFile(path);
    uint64_t headerLen = 0;
    for (int i = 0; i < 8; ++i)
        headerLen |= uint64_t(static_cast<uint8_t>(file[i])) << (8 * i);
    const json header = json::parse(file.substr(8, headerLen));
    uint64_t offset = 0;
    for (const auto &[name, t] : dict.tensors()) {
        const json &info = header.at(name);
        QCOMPARE(info["data_offsets"][0].get<uint64_t>(), offset);
        offset += static_cast<uint64_t>(t.numel() * t.element_size());
        QCOMPARE(info["data_offsets"][1].get<uint64_t>(), offset);
    }
    QCOMPARE(8 + headerLen + offset, static_cast<uint64_t>(file.size()));
}

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "tst_checkpoint.moc"
