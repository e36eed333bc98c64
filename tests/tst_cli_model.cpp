// Black-box tests of unisearch-cli's model commands: `model import` the fixture
// checkpoints (architecture from each case.json), then `embed image|text|frames`, `itm`
// and `ask` must reproduce the reference numbers of ../shared/fixtures/uniadapter.
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/npy.h"
#include "support/rawargs.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <set>

using namespace unisearch;

namespace {

constexpr double kTolerance = 1e-4;

using Run = unisearch::test::CliRun;

QString casePath(const QString &caseName, const QString &file)
{
    return test::caseDir(caseName) + QLatin1Char('/') + file;
}

QStringList captionsOf(const QString &caseName)
{
    QStringList out;
    const auto spec = test::readCase(caseName); // named: a range-for would not keep a temporary alive
    for (const auto &c : spec.at("captions"))
        out.append(QString::fromStdString(c.get<std::string>()));
    return out;
}

test::Npy npyOf(const QString &caseName, const char *output)
{
    const auto c = test::readCase(caseName);
    return test::readNpy(casePath(caseName, QString::fromStdString(c.at("outputs").at(output).get<std::string>())));
}

// Max |a - b| between a JSON array of numbers and row `row` of a 2-D npy (or the whole
// 1-D npy when row < 0); infinity when the sizes differ.
double maxError(const QJsonArray &got, const test::Npy &expected, int64_t row)
{
    const int64_t n = row < 0 ? expected.numel() : expected.numel() / expected.shape.at(0);
    const int64_t offset = row < 0 ? 0 : row * n;
    if (got.size() != n)
        return std::numeric_limits<double>::infinity();
    double worst = 0;
    for (int64_t i = 0; i < n; ++i)
        worst = std::max(worst, std::abs(got.at(i).toDouble() - double(expected.f32.at(size_t(offset + i)))));
    return worst;
}

#define VERIFY_CLOSE(label, err)                                                                              \
    do {                                                                                                      \
        const double e_ = (err);                                                                              \
        qInfo("%s: max abs error %.3g", qPrintable(label), e_);                                               \
        QVERIFY2(e_ <= kTolerance, qPrintable(QStringLiteral("%1 differs by %2").arg(label).arg(e_)));         \
    } while (false)


} // namespace

class TestCliModel : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void importReportsWhatItImported_data();
    void importReportsWhatItImported();
    void importTextOutput();
    void listShowsModelsAndActiveOnes();
    void activateSwitchesTheActiveModel();
    void importMismatchListsTensors();
    void importNameClashFails();
    void importNonCheckpointFails();
    void embedImageReproducesFixture();
    void embedTextReproducesFixture();
    void itmImageReproducesFixture();
    void embedFramesReproducesFixture();
    void itmFramesReproducesFixture_data();
    void itmFramesReproducesFixture();
    void noAdapterModelReproducesFixture();
    void bfloat16PrecisionSetting();
    void askRanksAnswers_data();
    void askRanksAnswers();
    void askGeneratesGreedily();
    void askGeneratesWithBeams();
    void corruptImageIsNamed_data();
    void corruptImageIsNamed();
    void unknownModelFails();
    void noModelImportedAdvisesImport();
    void wrongTaskModelFails();
    void usageErrors_data();
    void usageErrors();
    void nonUtf8FileNamesAsArguments();
    void controlCharactersInPathsAreEscaped();
    void nonRegularFilesAreRefused_data();
    void nonRegularFilesAreRefused();
    void modelRuntimeLoadsOnlyWhenNeeded();

private:
    Run run(const QStringList &args, const QString &dataDir = {});
    Run runIn(const QProcessEnvironment &env, const QStringList &args);
    // As run(), with the bytes raw in place of each test::rawPlaceholder argument.
    Run runRaw(const QStringList &args, const QByteArray &raw);
    QProcessEnvironment environment() const;
    QString m_cli;
    QTemporaryDir m_tmp;
    QString m_data;
    QMap<QString, Run> m_imports; // by model name
};

Run TestCliModel::run(const QStringList &args, const QString &dataDir)
{
    return unisearch::test::runProgram(m_cli, QStringList{QStringLiteral("--data-dir"), dataDir.isEmpty() ? m_data : dataDir} + args, environment(), 300000);
}

Run TestCliModel::runIn(const QProcessEnvironment &env, const QStringList &args)
{
    return unisearch::test::runProgram(m_cli, QStringList{QStringLiteral("--data-dir"), m_data} + args, env, 300000);
}

Run TestCliModel::runRaw(const QStringList &args, const QByteArray &raw)
{
    const test::RawCommand c =
        test::withRawArgument(m_cli, QStringList{QStringLiteral("--data-dir"), m_data} + args, raw);
    return unisearch::test::runProgram(c.program, c.args, environment(), 300000);
}

QProcessEnvironment TestCliModel::environment() const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    // Never touch the real data dir or settings of whoever runs the tests.
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), m_tmp.filePath(QStringLiteral("config")));
    env.insert(QStringLiteral("UNISEARCH_CPU_FEATURES"), QStringLiteral("none")); // auto = float32 (reference numbers)
    env.insert(QStringLiteral("XDG_CACHE_HOME"), m_tmp.filePath(QStringLiteral("cache")));
    env.insert(QStringLiteral("XDG_DATA_HOME"), m_tmp.filePath(QStringLiteral("share")));
    env.remove(QStringLiteral("UNISEARCH_DATA_DIR"));
    env.remove(QStringLiteral("DISPLAY"));
    env.remove(QStringLiteral("WAYLAND_DISPLAY"));
    return env;
}

void TestCliModel::initTestCase()
{
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    QVERIFY(m_tmp.isValid());
    m_data = m_tmp.filePath(QStringLiteral("data"));

    // The architecture three ways: inline JSON, @file with the object, @case.json.
    const QString archFile = m_tmp.filePath(QStringLiteral("noadapter-arch.json"));
    QFile f(archFile);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(test::caseArchitectureJson(QStringLiteral("retrieval-noadapter")).toUtf8());
    f.close();
    m_imports[QStringLiteral("retrieval")] =
        run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
             QStringLiteral("--architecture"), test::caseArchitectureJson(QStringLiteral("retrieval-image")), QStringLiteral("--json")});
    m_imports[QStringLiteral("noadapter")] =
        run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-noadapter")),
             QStringLiteral("--name"), QStringLiteral("noadapter"), QStringLiteral("--task"), QStringLiteral("retrieval"),
             QStringLiteral("--architecture"), QLatin1Char('@') + archFile, QStringLiteral("--json")});
    m_imports[QStringLiteral("vqa")] =
        run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("vqa")),
             QStringLiteral("--architecture"), QLatin1Char('@') + casePath(QStringLiteral("vqa"), QStringLiteral("case.json")),
             QStringLiteral("--json")});
    for (auto it = m_imports.cbegin(); it != m_imports.cend(); ++it)
        QVERIFY2(it->exitCode == 0, qPrintable(QStringLiteral("%1: exit %2, %3 %4").arg(it.key()).arg(it->exitCode).arg(it->err, it->out.left(500))));
}

void TestCliModel::importReportsWhatItImported_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("caseName");
    QTest::addColumn<QString>("task");
    QTest::addColumn<bool>("adapters");
    QTest::addColumn<bool>("active");
    QTest::newRow("retrieval") << QStringLiteral("retrieval") << QStringLiteral("retrieval-image")
                               << QStringLiteral("retrieval") << true << true;
    // Imported second: the retrieval task already had an active model.
    QTest::newRow("noadapter") << QStringLiteral("noadapter") << QStringLiteral("retrieval-noadapter")
                               << QStringLiteral("retrieval") << false << false;
    QTest::newRow("vqa") << QStringLiteral("vqa") << QStringLiteral("vqa") << QStringLiteral("vqa") << true << true;
}

void TestCliModel::importReportsWhatItImported()
{
    QFETCH(QString, name);
    QFETCH(QString, caseName);
    QFETCH(QString, task);
    QFETCH(bool, adapters);
    QFETCH(bool, active);
    const Run &r = m_imports[name];
    const QJsonObject o = r.json();
    QCOMPARE(o.value(QStringLiteral("name")).toString(), name);
    QCOMPARE(o.value(QStringLiteral("task")).toString(), task);
    QCOMPARE(o.value(QStringLiteral("hasAdapters")).toBool(), adapters);
    QCOMPARE(o.value(QStringLiteral("active")).toBool(), active);
    QVERIFY(o.value(QStringLiteral("parameters")).toInteger() > 0);
    QVERIFY(o.value(QStringLiteral("ignored")).toInt() > 0); // momentum copies, queues, ...
    QCOMPARE(o.value(QStringLiteral("fingerprint")).toString().size(), 64);
    QCOMPARE(QFileInfo(o.value(QStringLiteral("source")).toString()), QFileInfo(test::caseWeights(caseName)));
    QVERIFY(QFileInfo(o.value(QStringLiteral("path")).toString() + QStringLiteral("/model.json")).isFile());
    QVERIFY(QFileInfo(o.value(QStringLiteral("path")).toString() + QStringLiteral("/weights.safetensors")).isFile());
    // The architecture as given (4 heads), not as inferred (width / 64 = 1).
    const auto expected = test::readCase(caseName).at("architecture");
    const QJsonObject a = o.value(QStringLiteral("architecture")).toObject();
    QCOMPARE(a.value(QStringLiteral("vision")).toObject().value(QStringLiteral("heads")).toInt(),
             expected.at("vision").at("heads").get<int>());
    QCOMPARE(a.value(QStringLiteral("text")).toObject().value(QStringLiteral("layers")).toInt(),
             expected.at("text").at("layers").get<int>());
    QCOMPARE(a.value(QStringLiteral("embed_dim")).toInt(), expected.at("embed_dim").get<int>());
}

void TestCliModel::importTextOutput()
{
    QTemporaryDir data;
    const Run r = run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
                       QStringLiteral("--name"), QStringLiteral("plain")},
                      data.path());
    VERIFY_RUN(r, 0);
    QVERIFY2(r.out.contains(QStringLiteral("Imported 'plain' (retrieval model")), qPrintable(r.out));
    QVERIFY2(r.out.contains(QStringLiteral("Parameters:")), qPrintable(r.out));
    QVERIFY2(r.out.contains(QRegularExpression(QStringLiteral("Ignored: +\\d+ entries"))), qPrintable(r.out));
    QVERIFY2(r.out.contains(QStringLiteral("momentum encoder")), qPrintable(r.out));
    // Inferred: heads = width / 64.
    QVERIFY2(r.out.contains(QStringLiteral("ViT width 64, 2 layers, 1 heads")), qPrintable(r.out));
}

void TestCliModel::listShowsModelsAndActiveOnes()
{
    const Run r = run({QStringLiteral("model"), QStringLiteral("list"), QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    const QJsonObject o = r.json();
    QStringList names;
    for (const QJsonValue &m : o.value(QStringLiteral("models")).toArray()) {
        names.append(m.toObject().value(QStringLiteral("name")).toString());
        QVERIFY(!m.toObject().contains(QStringLiteral("problem")));
    }
    QCOMPARE(names, (QStringList{QStringLiteral("noadapter"), QStringLiteral("retrieval"), QStringLiteral("vqa")}));
    const QJsonObject active = o.value(QStringLiteral("active")).toObject();
    QCOMPARE(active.value(QStringLiteral("retrieval")).toString(), QStringLiteral("retrieval"));
    QCOMPARE(active.value(QStringLiteral("vqa")).toString(), QStringLiteral("vqa"));

    const Run text = run({QStringLiteral("model"), QStringLiteral("list")});
    VERIFY_RUN(text, 0);
    QVERIFY2(text.out.contains(QRegularExpression(QStringLiteral("^\\* retrieval +retrieval"), QRegularExpression::MultilineOption)),
             qPrintable(text.out));
    QVERIFY2(text.out.contains(QRegularExpression(QStringLiteral("^  noadapter +retrieval"), QRegularExpression::MultilineOption)),
             qPrintable(text.out));
    QVERIFY2(text.out.contains(QRegularExpression(QStringLiteral("^\\* vqa +vqa"), QRegularExpression::MultilineOption)),
             qPrintable(text.out));

    const Run status = run({QStringLiteral("status"), QStringLiteral("--json")});
    VERIFY_RUN(status, 0);
    QCOMPARE(status.json().value(QStringLiteral("activeModel")).toString(), QStringLiteral("retrieval"));
    QCOMPARE(status.json().value(QStringLiteral("activeVqaModel")).toString(), QStringLiteral("vqa"));
}

void TestCliModel::activateSwitchesTheActiveModel()
{
    VERIFY_RUN(run({QStringLiteral("model"), QStringLiteral("activate"), QStringLiteral("noadapter")}), 0);
    Run r = run({QStringLiteral("model"), QStringLiteral("list"), QStringLiteral("--json")});
    QCOMPARE(r.json().value(QStringLiteral("active")).toObject().value(QStringLiteral("retrieval")).toString(),
             QStringLiteral("noadapter"));
    VERIFY_RUN(run({QStringLiteral("model"), QStringLiteral("activate"), QStringLiteral("retrieval")}), 0);
    r = run({QStringLiteral("model"), QStringLiteral("list"), QStringLiteral("--json")});
    QCOMPARE(r.json().value(QStringLiteral("active")).toObject().value(QStringLiteral("retrieval")).toString(),
             QStringLiteral("retrieval"));
    const Run unknown = run({QStringLiteral("model"), QStringLiteral("activate"), QStringLiteral("nosuch")});
    VERIFY_RUN(unknown, 1);
    QVERIFY2(unknown.err.contains(QStringLiteral("'nosuch'")), qPrintable(unknown.err));
}

void TestCliModel::importMismatchListsTensors()
{
    auto arch = test::readCase(QStringLiteral("retrieval-image")).at("architecture");
    arch["embed_dim"] = 16;
    const Run r = run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
                       QStringLiteral("--name"), QStringLiteral("wrong"), QStringLiteral("--architecture"),
                       QString::fromStdString(arch.dump()), QStringLiteral("--json")});
    VERIFY_RUN(r, 1);
    QVERIFY(r.out.isEmpty());
    QVERIFY2(r.err.contains(QStringLiteral("vision_proj.weight [32, 64] (the model expects [16, 64])")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("unexpected tensors")), qPrintable(r.err));
    QVERIFY(!QFileInfo::exists(m_data + QStringLiteral("/models/wrong")));
    const QStringList leftovers = QDir(m_data + QStringLiteral("/models"))
                                      .entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot);
    QCOMPARE(leftovers, (QStringList{QStringLiteral("noadapter"), QStringLiteral("retrieval"), QStringLiteral("vqa")}));

    // An invalid architecture is refused before anything is read.
    const Run bad = run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
                         QStringLiteral("--name"), QStringLiteral("wrong"), QStringLiteral("--architecture"),
                         QStringLiteral("{not json")});
    VERIFY_RUN(bad, 1);
    QVERIFY2(bad.err.contains(QStringLiteral("architecture")), qPrintable(bad.err));
}

void TestCliModel::importNameClashFails()
{
    const Run r = run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
                       QStringLiteral("--name"), QStringLiteral("retrieval")});
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("'retrieval' already exists")) && r.err.contains(QStringLiteral("--name")),
             qPrintable(r.err));
}

void TestCliModel::importNonCheckpointFails()
{
    const QString path = m_tmp.filePath(QStringLiteral("notes.pth"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not a checkpoint\n");
    f.close();
    const Run r = run({QStringLiteral("model"), QStringLiteral("import"), path});
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(path) && r.err.contains(QStringLiteral("neither a PyTorch checkpoint")), qPrintable(r.err));
    const Run missing = run({QStringLiteral("model"), QStringLiteral("import"), path + QStringLiteral(".missing")});
    VERIFY_RUN(missing, 1);
    QVERIFY2(missing.err.contains(QStringLiteral("no such file")), qPrintable(missing.err));
}

void TestCliModel::embedImageReproducesFixture()
{
    const QString c = QStringLiteral("retrieval-image");
    const auto spec = test::readCase(c);
    QStringList files;
    for (const auto &img : spec.at("images"))
        files.append(casePath(c, QString::fromStdString(img.get<std::string>())));
    const Run r = run(QStringList{QStringLiteral("embed"), QStringLiteral("image")} + files + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    const QJsonObject o = r.json();
    QCOMPARE(o.value(QStringLiteral("model")).toString(), QStringLiteral("retrieval"));
    QCOMPARE(o.value(QStringLiteral("device")).toString(), QStringLiteral("cpu"));
    QCOMPARE(o.value(QStringLiteral("precision")).toString(), QStringLiteral("float32"));
    QCOMPARE(o.value(QStringLiteral("dim")).toInt(), 32);
    const QJsonArray items = o.value(QStringLiteral("items")).toArray();
    const test::Npy expected = npyOf(c, "image_feat");
    QCOMPARE(items.size(), qsizetype(expected.shape.at(0)));
    for (qsizetype i = 0; i < items.size(); ++i) {
        QCOMPARE(items[i].toObject().value(QStringLiteral("file")).toString(), files[i]);
        VERIFY_CLOSE(QStringLiteral("image_feat[%1]").arg(i),
                     maxError(items[i].toObject().value(QStringLiteral("feature")).toArray(), expected, i));
    }
}

void TestCliModel::embedTextReproducesFixture()
{
    // The fixture padded the captions to 35 tokens with an attention mask; the CLI does
    // not pad at all, which the mask makes equivalent.
    const QString c = QStringLiteral("retrieval-image");
    const QStringList captions = captionsOf(c);
    const Run r = run(QStringList{QStringLiteral("embed"), QStringLiteral("text")} + captions + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    const QJsonArray items = r.json().value(QStringLiteral("items")).toArray();
    const test::Npy expected = npyOf(c, "text_feat");
    QCOMPARE(items.size(), captions.size());
    for (qsizetype t = 0; t < items.size(); ++t) {
        QCOMPARE(items[t].toObject().value(QStringLiteral("text")).toString(), captions[t]);
        VERIFY_CLOSE(QStringLiteral("text_feat[%1]").arg(t),
                     maxError(items[t].toObject().value(QStringLiteral("feature")).toArray(), expected, t));
    }
    // One text at a time gives the same features as the batch.
    const Run single = run({QStringLiteral("embed"), QStringLiteral("text"), captions.last(), QStringLiteral("--json")});
    VERIFY_RUN(single, 0);
    VERIFY_CLOSE(QStringLiteral("text_feat[last] alone"),
                 maxError(single.json().value(QStringLiteral("items")).toArray().at(0).toObject().value(QStringLiteral("feature")).toArray(),
                          expected, captions.size() - 1));
}

void TestCliModel::itmImageReproducesFixture()
{
    const QString c = QStringLiteral("retrieval-image");
    const auto spec = test::readCase(c);
    const QStringList captions = captionsOf(c);
    const test::Npy logits = npyOf(c, "itm_logits"); // [image][text][2]
    const test::Npy prob = npyOf(c, "itm_prob");     // [image][text]
    QStringList textArgs;
    for (const QString &t : captions)
        textArgs << QStringLiteral("--text") << t;
    const auto images = spec.at("images");
    for (int64_t i = 0; i < int64_t(images.size()); ++i) {
        const QString file = casePath(c, QString::fromStdString(images.at(size_t(i)).get<std::string>()));
        const Run r = run(QStringList{QStringLiteral("itm"), QStringLiteral("--image"), file} + textArgs + QStringList{QStringLiteral("--json")});
        VERIFY_RUN(r, 0);
        const QJsonObject o = r.json();
        QCOMPARE(o.value(QStringLiteral("image")).toString(), file);
        QCOMPARE(o.value(QStringLiteral("frameAware")).toBool(), false);
        const QJsonArray results = o.value(QStringLiteral("results")).toArray();
        QCOMPARE(results.size(), captions.size());
        for (qsizetype t = 0; t < results.size(); ++t) {
            const QJsonObject res = results[t].toObject();
            QCOMPARE(res.value(QStringLiteral("text")).toString(), captions[t]);
            const QJsonArray l = res.value(QStringLiteral("logits")).toArray();
            QCOMPARE(l.size(), 2);
            VERIFY_CLOSE(QStringLiteral("itm_logits[%1][%2][0]").arg(i).arg(t),
                         std::abs(l[0].toDouble() - logits.at({i, t, 0})));
            VERIFY_CLOSE(QStringLiteral("itm_logits[%1][%2][1]").arg(i).arg(t),
                         std::abs(l[1].toDouble() - logits.at({i, t, 1})));
            VERIFY_CLOSE(QStringLiteral("itm_prob[%1][%2]").arg(i).arg(t),
                         std::abs(res.value(QStringLiteral("probability")).toDouble() - prob.at({i, t})));
        }
    }
}

void TestCliModel::embedFramesReproducesFixture()
{
    const QString c = QStringLiteral("retrieval-video");
    const auto videos = test::readCase(c).at("frames");
    const test::Npy expected = npyOf(c, "video_feat"); // [video][embed]
    for (int64_t v = 0; v < int64_t(videos.size()); ++v) {
        QStringList frames;
        for (const auto &f : videos.at(size_t(v)))
            frames.append(casePath(c, QString::fromStdString(f.get<std::string>())));
        const Run r = run(QStringList{QStringLiteral("embed"), QStringLiteral("frames")} + frames + QStringList{QStringLiteral("--json")});
        VERIFY_RUN(r, 0);
        const QJsonObject o = r.json();
        QCOMPARE(o.value(QStringLiteral("frames")).toArray().size(), frames.size());
        VERIFY_CLOSE(QStringLiteral("video_feat[%1]").arg(v), maxError(o.value(QStringLiteral("feature")).toArray(), expected, v));
    }
    // Each frame alone is an image: frame_feat.
    const test::Npy frameFeat = npyOf(c, "frame_feat"); // [video][frame][embed]
    QStringList frames;
    for (const auto &f : videos.at(1))
        frames.append(casePath(c, QString::fromStdString(f.get<std::string>())));
    const Run r = run(QStringList{QStringLiteral("embed"), QStringLiteral("image")} + frames + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    const QJsonArray items = r.json().value(QStringLiteral("items")).toArray();
    QCOMPARE(items.size(), frames.size());
    for (qsizetype t = 0; t < items.size(); ++t) {
        const QJsonArray got = items[t].toObject().value(QStringLiteral("feature")).toArray();
        double worst = 0;
        for (qsizetype j = 0; j < got.size(); ++j)
            worst = std::max(worst, std::abs(got[j].toDouble() - frameFeat.at({1, t, j})));
        QCOMPARE(got.size(), qsizetype(frameFeat.shape.at(2)));
        VERIFY_CLOSE(QStringLiteral("frame_feat[1][%1]").arg(t), worst);
    }
}

void TestCliModel::itmFramesReproducesFixture_data()
{
    QTest::addColumn<bool>("frameAware");
    QTest::newRow("concatenated frames") << false;
    QTest::newRow("frame-aware attention") << true;
}

void TestCliModel::itmFramesReproducesFixture()
{
    QFETCH(bool, frameAware);
    const QString c = QStringLiteral("retrieval-video");
    const auto videos = test::readCase(c).at("frames");
    const QStringList captions = captionsOf(c);
    const test::Npy logits = npyOf(c, frameAware ? "itm_logits_frame_aware" : "itm_logits"); // [video][text][2]
    for (int64_t v = 0; v < int64_t(videos.size()); ++v) {
        QStringList frames;
        for (const auto &f : videos.at(size_t(v)))
            frames.append(casePath(c, QString::fromStdString(f.get<std::string>())));
        // --frames FIRST, the others as arguments (the usage's --frames FILE...).
        QStringList args{QStringLiteral("itm"), QStringLiteral("--frames")};
        args += frames;
        for (const QString &t : captions)
            args << QStringLiteral("--text") << t;
        if (frameAware)
            args << QStringLiteral("--frame-aware");
        args << QStringLiteral("--json");
        const Run r = run(args);
        VERIFY_RUN(r, 0);
        const QJsonObject o = r.json();
        QCOMPARE(o.value(QStringLiteral("frames")).toArray().size(), frames.size());
        QCOMPARE(o.value(QStringLiteral("frames")).toArray().at(3).toString(), frames.at(3));
        QCOMPARE(o.value(QStringLiteral("frameAware")).toBool(), frameAware);
        const QJsonArray results = o.value(QStringLiteral("results")).toArray();
        QCOMPARE(results.size(), captions.size());
        for (qsizetype t = 0; t < results.size(); ++t) {
            const QJsonArray l = results[t].toObject().value(QStringLiteral("logits")).toArray();
            const double err = std::max(std::abs(l[0].toDouble() - logits.at({v, t, 0})),
                                        std::abs(l[1].toDouble() - logits.at({v, t, 1})));
            VERIFY_CLOSE(QStringLiteral("%1[%2][%3]").arg(frameAware ? "itm_logits_frame_aware" : "itm_logits").arg(v).arg(t), err);
            const double p = 1.0 / (1.0 + std::exp(double(logits.at({v, t, 0})) - double(logits.at({v, t, 1}))));
            VERIFY_CLOSE(QStringLiteral("probability[%1][%2]").arg(v).arg(t),
                         std::abs(results[t].toObject().value(QStringLiteral("probability")).toDouble() - p));
        }
    }
}

void TestCliModel::noAdapterModelReproducesFixture()
{
    // Not the active model: chosen with --model. It runs as plain BLIP.
    const QString c = QStringLiteral("retrieval-noadapter");
    const auto spec = test::readCase(c);
    QStringList files;
    for (const auto &img : spec.at("images"))
        files.append(casePath(c, QString::fromStdString(img.get<std::string>())));
    const QStringList model{QStringLiteral("--model"), QStringLiteral("noadapter")};

    Run r = run(QStringList{QStringLiteral("embed"), QStringLiteral("image")} + files + model + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("model")).toString(), QStringLiteral("noadapter"));
    QJsonArray items = r.json().value(QStringLiteral("items")).toArray();
    const test::Npy imageFeat = npyOf(c, "image_feat");
    QCOMPARE(items.size(), files.size());
    for (qsizetype i = 0; i < items.size(); ++i)
        VERIFY_CLOSE(QStringLiteral("noadapter image_feat[%1]").arg(i),
                     maxError(items[i].toObject().value(QStringLiteral("feature")).toArray(), imageFeat, i));

    const QStringList captions = captionsOf(c);
    r = run(QStringList{QStringLiteral("embed"), QStringLiteral("text")} + captions + model + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    items = r.json().value(QStringLiteral("items")).toArray();
    const test::Npy textFeat = npyOf(c, "text_feat");
    QCOMPARE(items.size(), captions.size());
    for (qsizetype t = 0; t < items.size(); ++t)
        VERIFY_CLOSE(QStringLiteral("noadapter text_feat[%1]").arg(t),
                     maxError(items[t].toObject().value(QStringLiteral("feature")).toArray(), textFeat, t));

    const test::Npy logits = npyOf(c, "itm_logits");
    QStringList textArgs;
    for (const QString &t : captions)
        textArgs << QStringLiteral("--text") << t;
    for (qsizetype i = 0; i < files.size(); ++i) {
        r = run(QStringList{QStringLiteral("itm"), QStringLiteral("--image"), files[i]} + textArgs + model + QStringList{QStringLiteral("--json")});
        VERIFY_RUN(r, 0);
        const QJsonArray results = r.json().value(QStringLiteral("results")).toArray();
        QCOMPARE(results.size(), captions.size());
        for (qsizetype t = 0; t < results.size(); ++t) {
            const QJsonArray l = results[t].toObject().value(QStringLiteral("logits")).toArray();
            VERIFY_CLOSE(QStringLiteral("noadapter itm_logits[%1][%2]").arg(i).arg(t),
                         std::max(std::abs(l[0].toDouble() - logits.at({i, t, 0})),
                                  std::abs(l[1].toDouble() - logits.at({i, t, 1}))));
        }
    }
}

void TestCliModel::bfloat16PrecisionSetting()
{
    // The "engine/precision" setting: bfloat16 weights, features close to float32's.
    const QString ini = m_tmp.filePath(QStringLiteral("config/unisearch/unisearch.ini"));
    QVERIFY(QDir().mkpath(QFileInfo(ini).absolutePath()));
    QFile f(ini);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("[engine]\nprecision=bfloat16\n");
    f.close();
    const QString c = QStringLiteral("retrieval-image");
    const Run r = run({QStringLiteral("embed"), QStringLiteral("image"), casePath(c, QStringLiteral("img0.png")),
                       casePath(c, QStringLiteral("img1.png")), QStringLiteral("--json")});
    QVERIFY(QFile::remove(ini));
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("precision")).toString(), QStringLiteral("bfloat16"));
    const test::Npy expected = npyOf(c, "image_feat");
    const QJsonArray items = r.json().value(QStringLiteral("items")).toArray();
    QCOMPARE(items.size(), 2);
    for (qsizetype i = 0; i < items.size(); ++i) {
        const QJsonArray got = items[i].toObject().value(QStringLiteral("feature")).toArray();
        double dot = 0, a = 0, b = 0;
        for (qsizetype j = 0; j < got.size(); ++j) {
            const double x = got[j].toDouble(), y = expected.at({i, j});
            dot += x * y;
            a += x * x;
            b += y * y;
        }
        const double cosine = dot / std::sqrt(a * b);
        qInfo("bfloat16 image_feat[%lld]: cosine %.5f to float32", qlonglong(i), cosine);
        QVERIFY2(cosine >= 0.995, qPrintable(QString::number(cosine)));
    }
}

void TestCliModel::askRanksAnswers_data()
{
    QTest::addColumn<bool>("jsonArray");
    QTest::newRow("one answer per line") << false;
    QTest::newRow("JSON array") << true;
}

void TestCliModel::askRanksAnswers()
{
    QFETCH(bool, jsonArray);
    const QString c = QStringLiteral("vqa");
    const auto spec = test::readCase(c);
    QStringList answers;
    for (const auto &a : spec.at("answer_list"))
        answers.append(QString::fromStdString(a.get<std::string>()));
    const QString answersFile = m_tmp.filePath(jsonArray ? QStringLiteral("answers.json") : QStringLiteral("answers.txt"));
    QFile f(answersFile);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(jsonArray ? QJsonDocument(QJsonArray::fromStringList(answers)).toJson()
                      : (answers.join(QLatin1Char('\n')) + QStringLiteral("\n\n")).toUtf8());
    f.close();

    const int k = spec.at("k").get<int>();
    const test::Npy topkIds = npyOf(c, "topk_ids");            // [question][k]
    const test::Npy topkScores = npyOf(c, "topk_log_prob_sum"); // [question][k]
    const test::Npy firstTokenProb = npyOf(c, "first_token_prob"); // [question][answer]
    for (size_t q = 0; q < spec.at("questions").size(); ++q) {
        const QString image = casePath(c, QString::fromStdString(spec.at("images").at(q).get<std::string>()));
        const QString question = QString::fromStdString(spec.at("questions").at(q).get<std::string>());
        const Run r = run({QStringLiteral("ask"), image, question, QStringLiteral("--answers"), answersFile,
                           QStringLiteral("--top-k"), QString::number(k), QStringLiteral("--json")});
        VERIFY_RUN(r, 0);
        const QJsonObject o = r.json();
        QCOMPARE(o.value(QStringLiteral("model")).toString(), QStringLiteral("vqa"));
        QCOMPARE(o.value(QStringLiteral("mode")).toString(), QStringLiteral("rank"));
        QCOMPARE(o.value(QStringLiteral("question")).toString(), question);
        QCOMPARE(o.value(QStringLiteral("answer")).toString(), QString::fromStdString(spec.at("answers").at(q).get<std::string>()));
        const QJsonArray candidates = o.value(QStringLiteral("candidates")).toArray();
        QCOMPARE(candidates.size(), qsizetype(k));
        std::set<int64_t> expectedIds, gotIds;
        double bestExpected = -std::numeric_limits<double>::infinity();
        for (int j = 0; j < k; ++j) {
            expectedIds.insert(topkIds.i64.at(q * size_t(k) + size_t(j)));
            bestExpected = std::max(bestExpected, double(topkScores.at({int64_t(q), j})));
        }
        for (const QJsonValue &v : candidates) {
            const QJsonObject cand = v.toObject();
            const int index = cand.value(QStringLiteral("index")).toInt();
            gotIds.insert(index);
            QCOMPARE(cand.value(QStringLiteral("answer")).toString(), answers.value(index));
            // Its score is the fixture's for the same answer.
            int slot = -1;
            for (int j = 0; j < k; ++j)
                if (topkIds.i64.at(q * size_t(k) + size_t(j)) == index)
                    slot = j;
            QVERIFY(slot >= 0);
            VERIFY_CLOSE(QStringLiteral("topk_log_prob_sum[%1][%2]").arg(q).arg(slot),
                         std::abs(cand.value(QStringLiteral("score")).toDouble() - topkScores.at({int64_t(q), slot})));
            VERIFY_CLOSE(QStringLiteral("first_token_prob[%1][%2]").arg(q).arg(index),
                         std::abs(cand.value(QStringLiteral("firstTokenProb")).toDouble()
                                  - firstTokenProb.at({int64_t(q), index})));
        }
        QVERIFY(gotIds == expectedIds);
        // Best first.
        VERIFY_CLOSE(QStringLiteral("best score[%1]").arg(q),
                     std::abs(candidates[0].toObject().value(QStringLiteral("score")).toDouble() - bestExpected));
    }

    // Without --top-k every candidate (up to 128) is scored; the text output is the answer.
    const QString image = casePath(c, QString::fromStdString(spec.at("images").at(0).get<std::string>()));
    const Run all = run({QStringLiteral("ask"), image, QString::fromStdString(spec.at("questions").at(0).get<std::string>()),
                         QStringLiteral("--answers"), answersFile, QStringLiteral("--json")});
    VERIFY_RUN(all, 0);
    QCOMPARE(all.json().value(QStringLiteral("candidates")).toArray().size(), answers.size());
    const Run text = run({QStringLiteral("ask"), image, QString::fromStdString(spec.at("questions").at(0).get<std::string>()),
                          QStringLiteral("--answers"), answersFile});
    VERIFY_RUN(text, 0);
    QCOMPARE(text.out.trimmed(), all.json().value(QStringLiteral("answer")).toString());
}

void TestCliModel::askGeneratesGreedily()
{
    const QString c = QStringLiteral("vqa");
    const auto spec = test::readCase(c);
    // The vocabulary, to spell out what the fixture's token ids say.
    QFile vocabFile(test::vocabPath());
    QVERIFY(vocabFile.open(QIODevice::ReadOnly));
    const QStringList vocab = QString::fromUtf8(vocabFile.readAll()).split(QLatin1Char('\n'));
    for (size_t q = 0; q < spec.at("questions").size(); ++q) {
        const QString image = casePath(c, QString::fromStdString(spec.at("images").at(q).get<std::string>()));
        const QString question = QString::fromStdString(spec.at("questions").at(q).get<std::string>());
        const Run r = run({QStringLiteral("ask"), image, question, QStringLiteral("--beams"), QStringLiteral("1"),
                           QStringLiteral("--json")});
        VERIFY_RUN(r, 0);
        const QJsonObject o = r.json();
        QCOMPARE(o.value(QStringLiteral("mode")).toString(), QStringLiteral("generate"));
        const QJsonArray hyps = o.value(QStringLiteral("hypotheses")).toArray();
        QCOMPARE(hyps.size(), 1);
        QList<qint64> got;
        for (const QJsonValue &v : hyps[0].toObject().value(QStringLiteral("tokenIds")).toArray())
            got.append(v.toInteger());
        // Spelled as the reference's tokenizer.decode(ids, skip_special_tokens=True) does:
        // tokens joined by spaces, then " ##" removed (a leading "##" piece keeps its ##).
        QList<qint64> expected;
        QStringList tokens;
        for (const auto &id : spec.at("greedy_token_ids").at(q)) {
            expected.append(id.get<qint64>());
            if (id.get<qint64>() >= 30522 || id.get<qint64>() == 102)
                continue; // [DEC], [SEP]
            tokens.append(vocab.at(id.get<qsizetype>()).trimmed());
        }
        const QString spelled = tokens.join(QLatin1Char(' ')).replace(QStringLiteral(" ##"), QString());
        QCOMPARE(got, expected);
        QCOMPARE(o.value(QStringLiteral("answer")).toString(), spelled);
        QCOMPARE(hyps[0].toObject().value(QStringLiteral("answer")).toString(), spelled);
    }
}

void TestCliModel::askGeneratesWithBeams()
{
    // The default (3 beams, as the reference's VQA inference) runs and answers in words.
    const QString c = QStringLiteral("vqa");
    const auto spec = test::readCase(c);
    const QString image = casePath(c, QString::fromStdString(spec.at("images").at(0).get<std::string>()));
    const Run r = run({QStringLiteral("ask"), image, QString::fromStdString(spec.at("questions").at(0).get<std::string>()),
                       QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    const QJsonArray hyps = r.json().value(QStringLiteral("hypotheses")).toArray();
    QVERIFY(!hyps.isEmpty());
    QCOMPARE(hyps[0].toObject().value(QStringLiteral("tokenIds")).toArray().at(0).toInteger(), 30522); // [DEC]
    QCOMPARE(r.json().value(QStringLiteral("answer")).toString(), hyps[0].toObject().value(QStringLiteral("answer")).toString());
}

void TestCliModel::corruptImageIsNamed_data()
{
    QTest::addColumn<QStringList>("args"); // FILE stands for the corrupt image
    QTest::newRow("embed image") << QStringList{QStringLiteral("embed"), QStringLiteral("image"), QStringLiteral("FILE"),
                                                QStringLiteral("--json")};
    QTest::newRow("embed frames") << QStringList{QStringLiteral("embed"), QStringLiteral("frames"), QStringLiteral("OK"),
                                                 QStringLiteral("FILE"), QStringLiteral("--json")};
    QTest::newRow("itm") << QStringList{QStringLiteral("itm"), QStringLiteral("--image"), QStringLiteral("FILE"),
                                        QStringLiteral("--text"), QStringLiteral("a dog"), QStringLiteral("--json")};
    QTest::newRow("ask") << QStringList{QStringLiteral("ask"), QStringLiteral("FILE"), QStringLiteral("what is it?"),
                                        QStringLiteral("--json")};
}

void TestCliModel::corruptImageIsNamed()
{
    QFETCH(QStringList, args);
    // A PNG cut off after its header and part of its data.
    QFile good(casePath(QStringLiteral("retrieval-image"), QStringLiteral("img0.png")));
    QVERIFY(good.open(QIODevice::ReadOnly));
    const QByteArray png = good.readAll();
    const QString corrupt = m_tmp.filePath(QStringLiteral("corrupt.png"));
    QFile f(corrupt);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(png.left(png.size() / 3));
    f.close();
    for (QString &a : args) {
        if (a == QLatin1String("FILE"))
            a = corrupt;
        else if (a == QLatin1String("OK"))
            a = good.fileName();
    }
    const Run r = run(args);
    VERIFY_RUN(r, 1);
    QVERIFY(r.out.isEmpty()); // no half JSON document
    // (Qt's PNG reader may log a libpng warning before it.)
    QVERIFY2(r.err.contains(QStringLiteral("unisearch-cli: Cannot read the image %1: ").arg(corrupt)), qPrintable(r.err));

    const Run missing = run(QStringList{QStringLiteral("embed"), QStringLiteral("image"), corrupt + QStringLiteral(".none")});
    VERIFY_RUN(missing, 1);
    QVERIFY2(missing.err.contains(corrupt + QStringLiteral(".none")), qPrintable(missing.err));
}

void TestCliModel::unknownModelFails()
{
    const Run r = run({QStringLiteral("embed"), QStringLiteral("text"), QStringLiteral("a dog"), QStringLiteral("--model"),
                       QStringLiteral("nosuch"), QStringLiteral("--json")});
    VERIFY_RUN(r, 1);
    QVERIFY(r.out.isEmpty());
    QVERIFY2(r.err.contains(QStringLiteral("no model named 'nosuch'")) && r.err.contains(QStringLiteral("retrieval")),
             qPrintable(r.err));
}

void TestCliModel::noModelImportedAdvisesImport()
{
    QTemporaryDir empty;
    Run r = run({QStringLiteral("embed"), QStringLiteral("text"), QStringLiteral("a dog"), QStringLiteral("--json")}, empty.path());
    VERIFY_RUN(r, 1);
    QVERIFY(r.out.isEmpty());
    QVERIFY2(r.err.contains(QStringLiteral("unisearch-cli model import FILE")), qPrintable(r.err));
    r = run({QStringLiteral("ask"), casePath(QStringLiteral("vqa"), QStringLiteral("img0.png")), QStringLiteral("what?")},
            empty.path());
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("model import FILE --task vqa")), qPrintable(r.err));
    r = run({QStringLiteral("model"), QStringLiteral("list")}, empty.path());
    VERIFY_RUN(r, 0);
    QVERIFY2(r.out.contains(QStringLiteral("No model imported yet")), qPrintable(r.out));
}

void TestCliModel::wrongTaskModelFails()
{
    const Run r = run({QStringLiteral("ask"), casePath(QStringLiteral("vqa"), QStringLiteral("img0.png")), QStringLiteral("what?"),
                       QStringLiteral("--model"), QStringLiteral("retrieval")});
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("VQA")), qPrintable(r.err));
    const Run e = run({QStringLiteral("embed"), QStringLiteral("text"), QStringLiteral("a dog"), QStringLiteral("--model"),
                       QStringLiteral("vqa")});
    VERIFY_RUN(e, 1);
    QVERIFY2(e.err.contains(QStringLiteral("'vqa'")), qPrintable(e.err));
}

void TestCliModel::usageErrors_data()
{
    const QString img = casePath(QStringLiteral("retrieval-image"), QStringLiteral("img0.png"));
    QTest::addColumn<QStringList>("args");
    QTest::newRow("itm without text") << QStringList{QStringLiteral("itm"), QStringLiteral("--image"), img};
    QTest::newRow("itm image and frames") << QStringList{QStringLiteral("itm"), QStringLiteral("--image"), img,
                                                         QStringLiteral("--frames"), img, QStringLiteral("--text"),
                                                         QStringLiteral("x")};
    QTest::newRow("itm nothing to match") << QStringList{QStringLiteral("itm"), QStringLiteral("--text"), QStringLiteral("x")};
    QTest::newRow("frame-aware image") << QStringList{QStringLiteral("itm"), QStringLiteral("--image"), img,
                                                      QStringLiteral("--text"), QStringLiteral("x"),
                                                      QStringLiteral("--frame-aware")};
    QTest::newRow("embed nothing") << QStringList{QStringLiteral("embed"), QStringLiteral("image"), QStringLiteral("--json")};
    QTest::newRow("ask without question") << QStringList{QStringLiteral("ask"), img};
    QTest::newRow("ask bad top-k") << QStringList{QStringLiteral("ask"), img, QStringLiteral("what?"),
                                                  QStringLiteral("--top-k"), QStringLiteral("0")};
    QTest::newRow("import bad task") << QStringList{QStringLiteral("model"), QStringLiteral("import"), img,
                                                    QStringLiteral("--task"), QStringLiteral("captions")};
}

void TestCliModel::usageErrors()
{
    QFETCH(QStringList, args);
    const Run r = run(args);
    VERIFY_RUN(r, 2);
    QVERIFY2(r.err.contains(QStringLiteral("Usage")), qPrintable(r.err));
}

void TestCliModel::nonUtf8FileNamesAsArguments()
{
    // A folder and files whose names are Latin-1, not UTF-8, given as arguments: each
    // command reaches them (as it reaches such names found inside an indexed folder).
    const QString c = QStringLiteral("retrieval-image");
    const QString firstImage =
        casePath(c, QString::fromStdString(test::readCase(c).at("images").at(0).get<std::string>()));
    QFile png(firstImage);
    QVERIFY(png.open(QIODevice::ReadOnly));
    const QByteArray dir = QFile::encodeName(m_tmp.path()) + "/Caf\xe9";
    QVERIFY(test::makeRawDir(dir));
    const QByteArray image = dir + "/\xe9t\xe9.png";
    QVERIFY(test::writeRawFile(image, png.readAll()));
    const QString raw = test::rawPlaceholder;

    const Run embed = runRaw({QStringLiteral("embed"), QStringLiteral("image"), raw, QStringLiteral("--json")}, image);
    VERIFY_RUN(embed, 0);
    const QJsonArray items = embed.json().value(QStringLiteral("items")).toArray();
    QCOMPARE(items.size(), 1);
    VERIFY_CLOSE(QStringLiteral("image_feat[0] of the Latin-1 name"),
                 maxError(items[0].toObject().value(QStringLiteral("feature")).toArray(), npyOf(c, "image_feat"), 0));

    const Run itm = runRaw({QStringLiteral("itm"), QStringLiteral("--image"), raw, QStringLiteral("--text"),
                            QStringLiteral("a photo"), QStringLiteral("--json")},
                           image);
    VERIFY_RUN(itm, 0);
    QCOMPARE(itm.json().value(QStringLiteral("results")).toArray().size(), 1);

    const Run ask = runRaw({QStringLiteral("ask"), raw, QStringLiteral("what is it?"), QStringLiteral("--beams"),
                            QStringLiteral("1"), QStringLiteral("--json")},
                           image);
    VERIFY_RUN(ask, 0);
    QVERIFY(ask.json().contains(QStringLiteral("answer")));

    const QByteArray weights = dir + "/w\xe9ights.pth";
    QFile checkpoint(test::caseWeights(c));
    QVERIFY(checkpoint.open(QIODevice::ReadOnly));
    QVERIFY(test::writeRawFile(weights, checkpoint.readAll()));
    const Run import = runRaw({QStringLiteral("model"), QStringLiteral("import"), raw, QStringLiteral("--name"),
                               QStringLiteral("latin1"), QStringLiteral("--architecture"),
                               test::caseArchitectureJson(c), QStringLiteral("--json")},
                              weights);
    VERIFY_RUN(import, 0);
    QCOMPARE(import.json().value(QStringLiteral("name")).toString(), QStringLiteral("latin1"));

    const Run index = runRaw({QStringLiteral("index"), raw, QStringLiteral("--json")}, dir);
    VERIFY_RUN(index, 0);
    QCOMPARE(index.json().value(QStringLiteral("embedded")).toInt(), 1);
    const Run similar = runRaw({QStringLiteral("similar"), raw, QStringLiteral("--json")}, image);
    VERIFY_RUN(similar, 0);
    QCOMPARE(similar.json().value(QStringLiteral("source")).toString().isEmpty(), false);
}

void TestCliModel::controlCharactersInPathsAreEscaped()
{
    // File names with a line break and a terminal escape: human-readable output shows
    // them escaped, one result per line, and never sends the raw control characters.
    const QString c = QStringLiteral("retrieval-image");
    const auto spec = test::readCase(c);
    const QString dir = m_tmp.filePath(QStringLiteral("control"));
    QVERIFY(QDir().mkpath(dir));
    const QStringList names{QStringLiteral("two\nlines.png"), QStringLiteral("\x1b[31mred.png")};
    for (qsizetype i = 0; i < names.size(); ++i)
        QVERIFY(QFile::copy(casePath(c, QString::fromStdString(spec.at("images").at(size_t(i)).get<std::string>())),
                            dir + QLatin1Char('/') + names[i]));
    const Run index = run({QStringLiteral("index"), dir, QStringLiteral("--json")});
    VERIFY_RUN(index, 0);
    QCOMPARE(index.json().value(QStringLiteral("embedded")).toInt(), 2);

    const Run search = run({QStringLiteral("search"), QStringLiteral("a photo"), QStringLiteral("--top"),
                            QStringLiteral("20"), QStringLiteral("--no-rerank")});
    VERIFY_RUN(search, 0);
    QVERIFY2(!search.out.contains(QChar(0x1b)), qPrintable(search.out));
    QVERIFY2(search.out.contains(dir + QStringLiteral("/two\\nlines.png")), qPrintable(search.out));
    QVERIFY2(search.out.contains(dir + QStringLiteral("/\\x1b[31mred.png")), qPrintable(search.out));
    static const QRegularExpression resultLine(QStringLiteral("^ *\\d+\\. "));
    for (const QString &line : search.out.split(QLatin1Char('\n'), Qt::SkipEmptyParts))
        QVERIFY2(resultLine.match(line).hasMatch(), qPrintable(QStringLiteral("not a result line: ") + line));

    const Run embed = run({QStringLiteral("embed"), QStringLiteral("image"), dir + QLatin1Char('/') + names[0]});
    VERIFY_RUN(embed, 0);
    QCOMPARE(embed.out.count(QLatin1Char('\n')), 1);
    QVERIFY2(embed.out.startsWith(dir + QStringLiteral("/two\\nlines.png\t")), qPrintable(embed.out));
}

void TestCliModel::nonRegularFilesAreRefused_data()
{
    // FILE: a FIFO with no writer, a directory, /dev/zero. The commands load the model and
    // then must refuse the file by its type, without opening (or reading) it.
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("kind");
    const QList<std::pair<const char *, QStringList>> commands{
        {"ask", {QStringLiteral("ask"), QStringLiteral("FILE"), QStringLiteral("what is it?")}},
        {"itm --image", {QStringLiteral("itm"), QStringLiteral("--image"), QStringLiteral("FILE"), QStringLiteral("--text"),
                         QStringLiteral("a dog"), QStringLiteral("--json")}},
        {"embed image", {QStringLiteral("embed"), QStringLiteral("image"), QStringLiteral("FILE"), QStringLiteral("--json")}},
        {"embed frames", {QStringLiteral("embed"), QStringLiteral("frames"), QStringLiteral("FILE"), QStringLiteral("--json")}},
    };
    for (const auto &[name, args] : commands)
        for (const char *kind : {"fifo", "directory", "zero"})
            QTest::addRow("%s, %s", name, kind) << args << QString::fromLatin1(kind);
}

void TestCliModel::nonRegularFilesAreRefused()
{
    QFETCH(QStringList, args);
    QFETCH(QString, kind);
    const QString fifo = m_tmp.filePath(QStringLiteral("fifo"));
    QVERIFY(QFileInfo::exists(fifo) || ::mkfifo(fifo.toLocal8Bit().constData(), 0600) == 0);
    const QString file = kind == QLatin1String("fifo")        ? fifo
                         : kind == QLatin1String("directory") ? m_tmp.path()
                                                              : QStringLiteral("/dev/zero");
    args.replaceInStrings(QStringLiteral("FILE"), file);
    const Run r = run(args);
    VERIFY_RUN(r, 1);
    QVERIFY(r.out.isEmpty());
    const QString expected =
        kind == QLatin1String("directory") ? QStringLiteral("is a directory") : QStringLiteral("not a regular file");
    QVERIFY2(r.err.contains(file + QStringLiteral(": ") + expected), qPrintable(r.err));
}

// LibTorch is a module opened on first use: commands that never run the model start
// without it (status waits 0.6 s less), and one that needs it and cannot load it says so.
void TestCliModel::modelRuntimeLoadsOnlyWhenNeeded()
{
    // The dynamic loader's own log names every library it opens.
    QProcessEnvironment traced = environment();
    traced.insert(QStringLiteral("LD_DEBUG"), QStringLiteral("files"));
    const QString torchLibrary = QStringLiteral("libtorch_cpu.so");
#ifndef UNISEARCH_TORCH_IN_PROCESS // the sanitizer build links LibTorch in (core/model/CMakeLists.txt)
    for (const QStringList &args : {QStringList{QStringLiteral("status"), QStringLiteral("--json")},
                                    QStringList{QStringLiteral("model"), QStringLiteral("list"), QStringLiteral("--json")}}) {
        const Run r = runIn(traced, args);
        VERIFY_RUN(r, 0);
        QVERIFY2(!r.err.contains(torchLibrary), qPrintable(args.join(QLatin1Char(' ')) + QStringLiteral(" loaded LibTorch")));
    }
    const Run embed = runIn(traced, {QStringLiteral("embed"), QStringLiteral("text"), QStringLiteral("a red circle"),
                                     QStringLiteral("--json")});
    VERIFY_RUN(embed, 0);
    QVERIFY2(embed.err.contains(torchLibrary), "embed text ran the model without loading LibTorch?");
#endif

    // A command that runs the model starts (again, at once) with OpenMP's passive wait and
    // a short spin: libgomp's threads spin about 50 us (5000 spins), not 3 ms, before they
    // sleep, instead of spinning against the work on a few cores.
    QProcessEnvironment display = environment();
    display.remove(QStringLiteral("OMP_WAIT_POLICY"));
    display.remove(QStringLiteral("UNISEARCH_NO_REEXEC"));
    display.remove(QStringLiteral("GOMP_SPINCOUNT"));
    display.insert(QStringLiteral("OMP_DISPLAY_ENV"), QStringLiteral("verbose"));
    const QStringList embedArgs{QStringLiteral("embed"), QStringLiteral("text"), QStringLiteral("a red circle"),
                                QStringLiteral("--json")};
    const Run passive = runIn(display, embedArgs);
    VERIFY_RUN(passive, 0);
    QVERIFY2(passive.err.contains(QStringLiteral("OMP_WAIT_POLICY = 'PASSIVE'"))
                 && passive.err.contains(QStringLiteral("GOMP_SPINCOUNT = '5000'")),
             qPrintable(passive.err.left(2000)));
    // A spin count of the user's own stands.
    QProcessEnvironment own = display;
    own.insert(QStringLiteral("GOMP_SPINCOUNT"), QStringLiteral("0"));
    const Run ownSpin = runIn(own, embedArgs);
    VERIFY_RUN(ownSpin, 0);
    QVERIFY2(ownSpin.err.contains(QStringLiteral("GOMP_SPINCOUNT = '0'")), qPrintable(ownSpin.err.left(2000)));
    // A plain search (one short text query) does not start again: libgomp keeps its default.
    const Run search = runIn(display, {QStringLiteral("search"), QStringLiteral("a red circle"), QStringLiteral("--json")});
    VERIFY_RUN(search, 0);
    QVERIFY2(search.err.contains(QStringLiteral("GOMP_SPINCOUNT = '300000'")), qPrintable(search.err.left(2000)));

#ifndef UNISEARCH_TORCH_IN_PROCESS
    // Without the module: what needs no model still works; what needs it fails clearly.
    QProcessEnvironment missing = environment();
    const QString nowhere = m_tmp.filePath(QStringLiteral("nowhere/libunisearch-torch.so"));
    missing.insert(QStringLiteral("UNISEARCH_TORCH_MODULE"), nowhere);
    const Run list = runIn(missing, {QStringLiteral("model"), QStringLiteral("list"), QStringLiteral("--json")});
    VERIFY_RUN(list, 0);
    const Run listed = run({QStringLiteral("model"), QStringLiteral("list"), QStringLiteral("--json")});
    VERIFY_RUN(listed, 0);
    QVERIFY(list.json().value(QStringLiteral("models")).toArray().size() >= m_imports.size());
    QCOMPARE(list.json(), listed.json());
    const Run failed = runIn(missing, {QStringLiteral("embed"), QStringLiteral("text"), QStringLiteral("a red circle"),
                                       QStringLiteral("--json")});
    QVERIFY2(failed.exitCode > 0, qPrintable(QStringLiteral("exit %1").arg(failed.exitCode)));
    QVERIFY2(failed.err.contains(QStringLiteral("cannot load the model runtime")) && failed.err.contains(nowhere),
             qPrintable(failed.err));
#endif
}

QTEST_GUILESS_MAIN(TestCliModel)
#include "tst_cli_model.moc"
