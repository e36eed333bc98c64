// Model bundles (models/<name>/model.json + weights.safetensors): importing the fixture
// checkpoints, what a bundle keeps and drops, model.json round trip, and the failures a
// person must be able to act on (name clash, wrong architecture, not a checkpoint).
#include "model/adapterpack.h"
#include "model/bundle.h"
#include "model/modelrunner.h"
#include "model/sha256.h"
#include "support/fixtures.h"
#include "support/npy.h"

#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace unisearch;
using namespace unisearch::model;

namespace {

constexpr double kTolerance = 1e-4;

Architecture archOf(const QString &caseName)
{
    return Architecture::fromJson(test::readCase(caseName).at("architecture"));
}

// The tensor names of a .safetensors file, read from its JSON header (no torch needed).
std::vector<std::string> safetensorsKeys(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        throw std::runtime_error("cannot open " + path.toStdString());
    const QByteArray head = f.read(8);
    if (head.size() != 8)
        throw std::runtime_error("short safetensors file");
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i)
        len = (len << 8) | static_cast<unsigned char>(head[i]);
    const nlohmann::json j = nlohmann::json::parse(f.read(static_cast<qint64>(len)).toStdString());
    std::vector<std::string> keys;
    for (const auto &[key, value] : j.items())
        if (key != "__metadata__")
            keys.push_back(key);
    return keys;
}

bool hasMomentumComponent(const std::string &key)
{
    for (const QString &part : QString::fromStdString(key).split(QLatin1Char('.')))
        if (part.size() > 2 && part.endsWith(QStringLiteral("_m")))
            return true;
    return false;
}

QStringList entriesOf(const QString &dir)
{
    return QDir(dir).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot);
}

std::vector<std::vector<float>> fixtureRows(const test::Npy &npy)
{
    std::vector<std::vector<float>> rows(static_cast<size_t>(npy.shape.at(0)));
    const int64_t n = npy.numel() / npy.shape.at(0);
    for (size_t i = 0; i < rows.size(); ++i)
        rows[i].assign(npy.f32.begin() + static_cast<int64_t>(i) * n, npy.f32.begin() + (static_cast<int64_t>(i) + 1) * n);
    return rows;
}

// A .safetensors file from a header; every tensor's data is zeros.
QString writeSafetensors(const QString &path, const std::string &header, size_t dataBytes)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        throw std::runtime_error("cannot write " + path.toStdString());
    QByteArray len(8, '\0');
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
    f.write(len);
    f.write(header.data(), static_cast<qint64>(header.size()));
    f.write(QByteArray(static_cast<qsizetype>(dataBytes), '\0'));
    return path;
}

// Files written by this process may not grow past `bytes` while it lives (EFBIG instead).
class FileSizeLimit
{
public:
    explicit FileSizeLimit(rlim_t bytes)
    {
        getrlimit(RLIMIT_FSIZE, &m_old);
        m_oldHandler = std::signal(SIGXFSZ, SIG_IGN); // else the process is killed
        rlimit limit = m_old;
        limit.rlim_cur = bytes;
        setrlimit(RLIMIT_FSIZE, &limit);
    }
    ~FileSizeLimit()
    {
        setrlimit(RLIMIT_FSIZE, &m_old);
        std::signal(SIGXFSZ, m_oldHandler);
    }
    FileSizeLimit(const FileSizeLimit &) = delete;
    FileSizeLimit &operator=(const FileSizeLimit &) = delete;

private:
    rlimit m_old{};
    void (*m_oldHandler)(int) = nullptr;
};

// The id of a process that has just exited (and been reaped): no process has it now.
pid_t deadPid()
{
    const pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, nullptr, 0);
    return child;
}

} // namespace

class TestBundle : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void importsFixtureCheckpoints_data();
    void importsFixtureCheckpoints();
    void inferArchitectureFromShapes_data();
    void inferArchitectureFromShapes();
    void importWithInferredArchitecture();
    void nameClashFails();
    void mismatchedArchitectureFails_data();
    void mismatchedArchitectureFails();
    void nonCheckpointFails_data();
    void nonCheckpointFails();
    void wrongTaskFails();
    void unusableNameFails_data();
    void unusableNameFails();
    void listSkipsForeignFolders();
    void staleImportFoldersSwept();
    void hostileSafetensorsFail();
    void architectureBoundedByCheckpoint();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString modelsDir() const { return m_tmp->filePath(QStringLiteral("models")); }
    // The message of the BundleError that importing `checkpoint` (default options) throws;
    // "(imported)" when it throws none.
    QString importError(const QString &checkpoint) const
    {
        try {
            importModel(checkpoint.toStdString(), modelsDir().toStdString(), {});
        } catch (const BundleError &e) {
            qDebug("as expected: %s", e.what());
            return QString::fromUtf8(e.what());
        }
        return QStringLiteral("(imported)");
    }
};

void TestBundle::init()
{
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
}

void TestBundle::importsFixtureCheckpoints_data()
{
    QTest::addColumn<QString>("caseName");
    QTest::addColumn<QString>("task");
    QTest::addColumn<bool>("adapters");
    QTest::newRow("retrieval") << QStringLiteral("retrieval-image") << QStringLiteral("retrieval") << true;
    QTest::newRow("noadapter") << QStringLiteral("retrieval-noadapter") << QStringLiteral("retrieval") << false;
    QTest::newRow("vqa") << QStringLiteral("vqa") << QStringLiteral("vqa") << true;
}

void TestBundle::importsFixtureCheckpoints()
{
    QFETCH(QString, caseName);
    QFETCH(QString, task);
    QFETCH(bool, adapters);
    const Architecture arch = archOf(caseName);
    const QString checkpoint = test::caseWeights(caseName);

    ImportOptions options;
    options.name = "m-" + caseName.toStdString();
    options.architecture = arch;
    ImportReport report;
    try {
        report = importModel(checkpoint.toStdString(), modelsDir().toStdString(), options);
    } catch (const BundleError &e) {
        QFAIL(e.what());
    }
    const BundleInfo &b = report.bundle;
    QCOMPARE(QString::fromStdString(b.name), QString::fromStdString(options.name));
    QCOMPARE(QString::fromStdString(b.task), task);
    QCOMPARE(QDir(QString::fromStdString(b.dir)).absolutePath(),
             QDir(modelsDir() + QLatin1Char('/') + QString::fromStdString(options.name)).absolutePath());
    QVERIFY(QFile::exists(QString::fromStdString(b.dir) + QStringLiteral("/model.json")));
    QCOMPARE(b.weightsPath, b.dir + "/weights.safetensors");
    QCOMPARE(b.fingerprint, sha256File(b.weightsPath));
    QCOMPARE(b.hasAdapters, adapters);
    QVERIFY(b.parameterCount > 0);
    QVERIFY(b.architecture.toJson() == arch.toJson());
    // Only the bundle folder: no temporary import folder left behind.
    QCOMPARE(entriesOf(modelsDir()), QStringList{QString::fromStdString(options.name)});

    // model.json round-trips.
    const BundleInfo read = readBundle(b.dir);
    QCOMPARE(read.name, b.name);
    QCOMPARE(read.task, b.task);
    QCOMPARE(read.fingerprint, b.fingerprint);
    QCOMPARE(read.weightsPath, b.weightsPath);
    QCOMPARE(read.source, b.source);
    QCOMPARE(read.importedAt, b.importedAt);
    QCOMPARE(read.hasAdapters, b.hasAdapters);
    QCOMPARE(read.parameterCount, b.parameterCount);
    QVERIFY(read.architecture.toJson() == arch.toJson());
    QCOMPARE(QString::fromStdString(read.source), QFileInfo(checkpoint).absoluteFilePath());
    const std::vector<BundleInfo> listed = listBundles(modelsDir().toStdString());
    QCOMPARE(listed.size(), size_t(1));
    QCOMPARE(listed.front().name, b.name);

    // Training-only entries are dropped: the checkpoints hold momentum copies and queues.
    QVERIFY(!report.ignored.empty());
    bool sawMomentum = false, sawQueue = false;
    for (const std::string &entry : report.ignored) {
        const std::string key = entry.substr(0, entry.find(' '));
        QVERIFY2(isTrainingOnlyKey(key), entry.c_str());
        sawMomentum = sawMomentum || hasMomentumComponent(key);
        sawQueue = sawQueue || key.find("queue") != std::string::npos;
    }
    // BLIP_VQA trains without momentum encoders; its checkpoint carries other dropped
    // entries (the unused adapters_dec, position-id buffers).
    if (task == QLatin1String("retrieval")) {
        QVERIFY(sawMomentum);
        QVERIFY(sawQueue);
    }
    const std::vector<std::string> keys = safetensorsKeys(QString::fromStdString(b.weightsPath));
    QVERIFY(!keys.empty());
    for (const std::string &key : keys) {
        QVERIFY2(!hasMomentumComponent(key), key.c_str());
        QVERIFY2(key.find("queue") == std::string::npos, key.c_str());
        QVERIFY2(!isTrainingOnlyKey(key), key.c_str());
    }
    if (adapters)
        QVERIFY(report.aliases > 0); // shared adapters stored once

    // The bundle maps completely onto the model and computes the reference numbers.
    const LoadReport inspected = ModelRunner::inspect(b.architecture, b.weightsPath);
    QVERIFY(inspected.ok());
    QCOMPARE(inspected.hasAdapters, adapters);
    if (task == QLatin1String("retrieval")) {
        auto engine = ModelRunner::load(read.architecture, read.weightsPath);
        const test::Npy pixels = test::readNpy(test::caseDir(caseName) + QStringLiteral("/pixels.npy"));
        const test::Npy expected = test::readNpy(test::caseDir(caseName) + QStringLiteral("/image_feat.npy"));
        const int64_t per = pixels.numel() / pixels.shape.at(0);
        std::vector<const float *> images;
        for (int64_t i = 0; i < pixels.shape.at(0); ++i)
            images.push_back(pixels.f32.data() + i * per);
        const auto got = engine->imageFeatures(images);
        const auto want = fixtureRows(expected);
        QCOMPARE(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i) {
            QCOMPARE(got[i].size(), want[i].size());
            for (size_t j = 0; j < got[i].size(); ++j)
                QVERIFY2(std::abs(got[i][j] - want[i][j]) <= kTolerance,
                         qPrintable(QStringLiteral("image %1 [%2]: %3 vs %4").arg(i).arg(j).arg(got[i][j]).arg(want[i][j])));
        }
    }
}

void TestBundle::inferArchitectureFromShapes_data()
{
    QTest::addColumn<QString>("caseName");
    QTest::addColumn<QString>("task");
    QTest::addColumn<bool>("adapters");
    QTest::addColumn<bool>("retrievalHeads");
    QTest::newRow("retrieval") << QStringLiteral("retrieval-image") << QStringLiteral("retrieval") << true << true;
    QTest::newRow("noadapter") << QStringLiteral("retrieval-noadapter") << QStringLiteral("retrieval") << false
                               << true;
    QTest::newRow("vqa") << QStringLiteral("vqa") << QStringLiteral("vqa") << true << false;
}

void TestBundle::inferArchitectureFromShapes()
{
    QFETCH(QString, caseName);
    QFETCH(QString, task);
    QFETCH(bool, adapters);
    QFETCH(bool, retrievalHeads);
    const Architecture expected = archOf(caseName);
    std::string inferredTask;
    const Architecture a = inferArchitecture(test::caseWeights(caseName).toStdString(), &inferredTask);
    QCOMPARE(QString::fromStdString(inferredTask), task);

    QCOMPARE(a.vision.imageSize, expected.vision.imageSize);
    QCOMPARE(a.vision.patchSize, expected.vision.patchSize);
    QCOMPARE(a.vision.width, expected.vision.width);
    QCOMPARE(a.vision.depth, expected.vision.depth);
    QCOMPARE(a.vision.mlpRatio, expected.vision.mlpRatio);
    QCOMPARE(a.vision.qkvBias, expected.vision.qkvBias);
    QCOMPARE(a.text.vocabSize, expected.text.vocabSize);
    QCOMPARE(a.text.hidden, expected.text.hidden);
    QCOMPARE(a.text.layers, expected.text.layers);
    QCOMPARE(a.text.intermediate, expected.text.intermediate);
    QCOMPARE(a.text.maxPositions, expected.text.maxPositions);
    // Heads cannot be read from shapes: the documented rule is width / 64 (BLIP-base:
    // 768 / 64 = 12). The fixture's tiny model uses 4 heads at width 64, so this differs.
    QCOMPARE(a.vision.heads, std::max(1, a.vision.width / 64));
    QCOMPARE(a.text.heads, std::max(1, a.text.hidden / 64));
    QCOMPARE(a.vision.heads, 1);
    if (retrievalHeads)
        QCOMPARE(a.embedDim, expected.embedDim);
    if (adapters) {
        QCOMPARE(a.adapter.bottleneck, expected.adapter.bottleneck);
        QCOMPARE(a.adapter.videoKvBottleneck, expected.adapter.videoKvBottleneck);
    } else {
        QCOMPARE(a.adapter.bottleneck, 0);
        QCOMPARE(a.adapter.videoKvBottleneck, 0);
    }
}

void TestBundle::importWithInferredArchitecture()
{
    ImportOptions options;
    options.name = "inferred";
    const ImportReport r = importModel(test::caseWeights(QStringLiteral("retrieval-image")).toStdString(),
                                       modelsDir().toStdString(), options);
    QCOMPARE(r.bundle.task, std::string("retrieval"));
    QCOMPARE(r.bundle.architecture.vision.width, 64);
    QCOMPARE(r.bundle.architecture.vision.heads, 1); // width / 64
    QCOMPARE(readBundle(r.bundle.dir).architecture.vision.heads, 1);

    // Default name: the checkpoint's file name without its extension.
    const ImportReport d = importModel(test::caseWeights(QStringLiteral("vqa")).toStdString(), modelsDir().toStdString(), {});
    QCOMPARE(d.bundle.name, std::string("vqa"));
    QCOMPARE(d.bundle.task, std::string("vqa"));
}

void TestBundle::nameClashFails()
{
    ImportOptions options;
    options.name = "same";
    options.architecture = archOf(QStringLiteral("retrieval-image"));
    const std::string checkpoint = test::caseWeights(QStringLiteral("retrieval-image")).toStdString();
    const ImportReport first = importModel(checkpoint, modelsDir().toStdString(), options);
    try {
        importModel(checkpoint, modelsDir().toStdString(), options);
        QFAIL("a second import under the same name succeeded");
    } catch (const BundleError &e) {
        const QString msg = QString::fromUtf8(e.what());
        QVERIFY2(msg.contains(QStringLiteral("'same'")) && msg.contains(QStringLiteral("already exists")),
                 qPrintable(msg));
    }
    // The first bundle is untouched.
    QCOMPARE(readBundle(first.bundle.dir).fingerprint, first.bundle.fingerprint);
    QCOMPARE(entriesOf(modelsDir()), QStringList{QStringLiteral("same")});

    // Replacing on purpose works and leaves one bundle.
    options.overwrite = true;
    const ImportReport again = importModel(checkpoint, modelsDir().toStdString(), options);
    QCOMPARE(again.bundle.fingerprint, first.bundle.fingerprint);
    QCOMPARE(entriesOf(modelsDir()), QStringList{QStringLiteral("same")});
}

void TestBundle::mismatchedArchitectureFails_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<int>("value");
    QTest::addColumn<QStringList>("expectedInMessage"); // regular expressions
    // Width 128 in both towers: every tensor has the wrong size; the message names them
    // with the checkpoint's shape and the model's.
    QTest::newRow("width") << QStringLiteral("width") << 128
                           << QStringList{QStringLiteral(R"(unexpected tensors)"),
                                          QStringLiteral(R"([a-z_.0-9]+ \[[^\]]*64[^\]]*\] \(the model expects \[[^\]]*128[^\]]*\]\))")};
    QTest::newRow("embed_dim") << QStringLiteral("embed_dim") << 16
                               << QStringList{QStringLiteral(R"(vision_proj\.weight \[32, 64\] \(the model expects \[16, 64\]\))"),
                                              QStringLiteral(R"(text_proj\.bias \[32\] \(the model expects \[16\]\))")};
    // Deeper than the checkpoint (both towers, as one adapter serves a ViT block and a
    // text layer): the model's third layer has no weights.
    QTest::newRow("depth 3") << QStringLiteral("depth") << 3
                             << QStringList{QStringLiteral(R"(missing tensors)"),
                                            QStringLiteral(R"((adapters|visual_encoder\.blocks|text_encoder\.encoder\.layer)\.2\.\S+ \[\d+(, \d+)*\])")};
    // Shallower: the checkpoint's second layer has no place in the model.
    QTest::newRow("depth 1") << QStringLiteral("depth") << 1
                             << QStringList{QStringLiteral(R"(unexpected tensors)"),
                                            QStringLiteral(R"((adapters|visual_encoder\.blocks|text_encoder\.encoder\.layer)\.1\.\S+ \[\d+(, \d+)*\])")};
}

void TestBundle::mismatchedArchitectureFails()
{
    QFETCH(QString, field);
    QFETCH(int, value);
    QFETCH(QStringList, expectedInMessage);
    Architecture arch = archOf(QStringLiteral("retrieval-image"));
    if (field == QLatin1String("width")) {
        arch.vision.width = value;
        arch.text.hidden = value;
    } else if (field == QLatin1String("embed_dim")) {
        arch.embedDim = value;
    } else {
        arch.vision.depth = value;
        arch.text.layers = value;
    }
    ImportOptions options;
    options.name = "wrong";
    options.architecture = arch;
    try {
        // The tensors are checked against the architecture before anything is written:
        // with a 1 MB file size limit, writing the 17 MB bundle first would fail instead.
        FileSizeLimit limit(1 << 20);
        importModel(test::caseWeights(QStringLiteral("retrieval-image")).toStdString(), modelsDir().toStdString(), options);
        QFAIL("a checkpoint was imported with the wrong architecture");
    } catch (const BundleError &e) {
        const QString msg = QString::fromUtf8(e.what());
        for (const QString &pattern : expectedInMessage)
            QVERIFY2(msg.contains(QRegularExpression(pattern)),
                     qPrintable(QStringLiteral("/%1/ not in: %2").arg(pattern, msg)));
    }
    // No partial bundle (not even a hidden temporary folder) is left behind.
    QVERIFY2(entriesOf(modelsDir()).isEmpty(), qPrintable(entriesOf(modelsDir()).join(QLatin1Char(' '))));
    QVERIFY(listBundles(modelsDir().toStdString()).empty());
}

void TestBundle::nonCheckpointFails_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QString>("expected");
    QTest::newRow("text") << QByteArray("these are not the weights you are looking for\n")
                          << QStringLiteral("neither a PyTorch checkpoint");
    QTest::newRow("empty") << QByteArray() << QStringLiteral("empty");
    QTest::newRow("broken zip") << QByteArray("PK\x03\x04 truncated", 15) << QStringLiteral("zip");
    QTest::newRow("missing") << QByteArray("(none)") << QStringLiteral("no such file");
}

void TestBundle::nonCheckpointFails()
{
    QFETCH(QByteArray, content);
    QFETCH(QString, expected);
    const QString path = m_tmp->filePath(QStringLiteral("model.pth"));
    if (content != "(none)") {
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(content);
    }
    try {
        importModel(path.toStdString(), modelsDir().toStdString(), {});
        QFAIL("a file that is no checkpoint was imported");
    } catch (const BundleError &e) {
        const QString msg = QString::fromUtf8(e.what());
        QVERIFY2(msg.contains(expected, Qt::CaseInsensitive), qPrintable(msg));
        QVERIFY2(msg.contains(path), qPrintable(msg));
    }
    QVERIFY(entriesOf(modelsDir()).isEmpty());
    try {
        if (content != "(none)") {
            inferArchitecture(path.toStdString());
            QFAIL("inferred an architecture from a file that is no checkpoint");
        }
    } catch (const BundleError &) {
    }
}

void TestBundle::wrongTaskFails()
{
    ImportOptions options;
    options.task = "retrieval";
    try {
        importModel(test::caseWeights(QStringLiteral("vqa")).toStdString(), modelsDir().toStdString(), options);
        QFAIL("a VQA checkpoint was imported as a retrieval model");
    } catch (const BundleError &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("vqa")), e.what());
    }
    options.task = "captioning";
    try {
        importModel(test::caseWeights(QStringLiteral("vqa")).toStdString(), modelsDir().toStdString(), options);
        QFAIL("an unknown task was accepted");
    } catch (const BundleError &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("captioning")), e.what());
    }
    QVERIFY(entriesOf(modelsDir()).isEmpty());
}

void TestBundle::unusableNameFails_data()
{
    QTest::addColumn<QString>("name");
    QTest::newRow("slash") << QStringLiteral("../escape");
    QTest::newRow("dot") << QStringLiteral(".hidden");
    QTest::newRow("dotdot") << QStringLiteral("..");
    QTest::newRow("long") << QString(101, QLatin1Char('x'));
}

void TestBundle::unusableNameFails()
{
    QFETCH(QString, name);
    ImportOptions options;
    options.name = name.toStdString();
    QVERIFY_THROWS_EXCEPTION(BundleError, importModel(test::caseWeights(QStringLiteral("retrieval-image")).toStdString(),
                                                      modelsDir().toStdString(), options));
    QVERIFY(!QFileInfo::exists(m_tmp->filePath(QStringLiteral("escape"))));
}

void TestBundle::listSkipsForeignFolders()
{
    QVERIFY(listBundles(modelsDir().toStdString()).empty()); // no models dir yet
    QVERIFY(QDir().mkpath(modelsDir() + QStringLiteral("/not-a-model")));
    ImportOptions options;
    options.name = "b";
    options.architecture = archOf(QStringLiteral("retrieval-image"));
    importModel(test::caseWeights(QStringLiteral("retrieval-image")).toStdString(), modelsDir().toStdString(), options);
    options.name = "a";
    importModel(test::caseWeights(QStringLiteral("retrieval-noadapter")).toStdString(), modelsDir().toStdString(), options);
    const auto listed = listBundles(modelsDir().toStdString());
    QCOMPARE(listed.size(), size_t(2));
    QCOMPARE(listed[0].name, std::string("a")); // sorted by name
    QCOMPARE(listed[1].name, std::string("b"));
    QVERIFY_THROWS_EXCEPTION(BundleError, readBundle((modelsDir() + QStringLiteral("/not-a-model")).toStdString()));

    // A bundle that lost its weights is reported, not loaded.
    QVERIFY(QFile::remove(modelsDir() + QStringLiteral("/a/weights.safetensors")));
    try {
        readBundle((modelsDir() + QStringLiteral("/a")).toStdString());
        QFAIL("a bundle without weights was read");
    } catch (const BundleError &e) {
        QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("import")), e.what());
    }
}

void TestBundle::staleImportFoldersSwept()
{
    // An import killed midway (SIGKILL, power cut) leaves its temporary folder, gigabytes;
    // the folder's name says whose it was, and the next listing or import removes it
    // unless that process still runs.
    const QDir models(modelsDir());
    QVERIFY(models.mkpath(QStringLiteral(".")));
    const QString dead = QString::number(deadPid());
    const QString mine = QString::number(QCoreApplication::applicationPid());
    auto make = [&](const QString &name) {
        QVERIFY(models.mkpath(name));
        QFile f(models.filePath(name + QStringLiteral("/weights.safetensors")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("partial");
    };
    make(QStringLiteral(".big.import-%1-123456").arg(dead));
    make(QStringLiteral(".running.import-%1-42").arg(mine));
    make(QStringLiteral(".older.import-987654")); // an older version's name: recent, so kept
    // A bundle moved aside for a replacement by an import killed before the new one took
    // its place: it is the only copy, so it comes back.
    make(QStringLiteral(".solo.old-%1-7").arg(dead));
    make(QStringLiteral("dup"));
    make(QStringLiteral(".dup.old-%1-8").arg(dead)); // replaced: the new "dup" is in place

    QVERIFY(listBundles(modelsDir().toStdString()).empty()); // none is a complete bundle
    QCOMPARE(entriesOf(modelsDir()), (QStringList{QStringLiteral(".older.import-987654"),
                                                  QStringLiteral(".running.import-%1-42").arg(mine),
                                                  QStringLiteral("dup"), QStringLiteral("solo")}));
    QVERIFY(QFile::exists(models.filePath(QStringLiteral("solo/weights.safetensors"))));

    // An import sweeps too, and its own temporary folder carries its pid while it runs.
    make(QStringLiteral(".big.import-%1-654321").arg(dead));
    ImportOptions options;
    options.name = "fresh";
    options.architecture = archOf(QStringLiteral("retrieval-image"));
    importModel(test::caseWeights(QStringLiteral("retrieval-image")).toStdString(), modelsDir().toStdString(), options);
    QCOMPARE(entriesOf(modelsDir()), (QStringList{QStringLiteral(".older.import-987654"),
                                                  QStringLiteral(".running.import-%1-42").arg(mine),
                                                  QStringLiteral("dup"), QStringLiteral("fresh"), QStringLiteral("solo")}));
}

void TestBundle::hostileSafetensorsFail()
{
    // 200 KB: a shape nested 100,000 arrays deep. `model import` and `adapters import`
    // crashed (the message's dump() recursed); now a short, clear error.
    const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
    const QString path = writeSafetensors(m_tmp->filePath(QStringLiteral("deep.safetensors")),
                                          R"({"a":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,0]}})", 0);
    const QString msg = importError(path);
    QVERIFY2(msg.contains(QStringLiteral("levels deep")) && msg.contains(path) && msg.size() < path.size() + 200,
             qPrintable(msg.left(300)));
    try {
        readPack(path.toStdString());
        QFAIL("read a pack whose header is nested 100,000 deep");
    } catch (const PackError &e) {
        const QString msg = QString::fromUtf8(e.what());
        QVERIFY2(msg.contains(QStringLiteral("levels deep")) && msg.size() < 2 * path.size() + 200,
                 qPrintable(msg.left(300)));
    }
    QVERIFY(entriesOf(modelsDir()).isEmpty());
}

void TestBundle::architectureBoundedByCheckpoint()
{
    // A checkpoint of a few hundred bytes whose empty tensors name 5,000 ViT blocks and
    // text layers: the architecture inferred from it has 5e8 parameters (2 GB), which the
    // load check allocated before it found that none of them is in the file.
    const int depth = 5000;
    nlohmann::json header = nlohmann::json::object();
    uint64_t offset = 0;
    auto add = [&](const std::string &name, const std::vector<int64_t> &shape) {
        int64_t numel = 1;
        for (int64_t d : shape)
            numel *= d;
        header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + 4 * uint64_t(numel)}}};
        offset += 4 * uint64_t(numel);
    };
    add("visual_encoder.cls_token", {1, 1, 64});
    add("visual_encoder.patch_embed.proj.weight", {64, 3, 16, 0});
    add("visual_encoder.pos_embed", {1, 2, 0});
    add("visual_encoder.blocks.0.mlp.fc1.weight", {256, 0});
    add("text_encoder.embeddings.word_embeddings.weight", {1, 64});
    add("text_encoder.embeddings.position_embeddings.weight", {1, 0});
    add("text_encoder.encoder.layer.0.intermediate.dense.weight", {256, 0});
    for (int i = 1; i < depth; ++i) {
        add("visual_encoder.blocks." + std::to_string(i) + ".norm1.weight", {0});
        add("text_encoder.encoder.layer." + std::to_string(i) + ".output.dense.bias", {0});
    }
    for (const char *head : {"vision_proj.weight", "text_proj.weight"})
        add(head, {32, 0});
    add("itm_head.weight", {2, 0});
    const QString path = writeSafetensors(m_tmp->filePath(QStringLiteral("hollow.safetensors")), header.dump(), offset);
    const Architecture inferred = inferArchitecture(path.toStdString());
    QCOMPARE(inferred.vision.depth, depth);
    const QString msg = importError(path);
    QVERIFY2(msg.contains(QStringLiteral("does not match the architecture")) && msg.contains(QStringLiteral("far more than")),
             qPrintable(msg));
    QVERIFY(entriesOf(modelsDir()).isEmpty());
}

QTEST_GUILESS_MAIN(TestBundle)
#include "tst_bundle.moc"
