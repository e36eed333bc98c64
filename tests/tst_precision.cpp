// Precision "auto" (issue 13): bfloat16 exactly where the CPU computes it natively (a stubbed
// CPU description) or on CUDA, float32 elsewhere; an explicit choice wins and survives a
// restart (a new unisearch-cli process reads it back, and the loaded model reports it);
// every stored vector records the precision that made it, and the migration keeps an old
// catalog's vectors as float32.
#include "catalog/catalog.h"
#include "engine/inference.h"
#include "model/bundle.h"
#include "model/modelrunner.h"
#include "model/runtime.h"
#include "support/catalogfixture.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/modelfixture.h"
#include "support/workspace.h"
#include "util/settings.h"

#include <QDir>
#include <QImage>
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <sqlite3.h>

#include <cmath>
#include <memory>
#include <vector>

#include <dlfcn.h>

using namespace unisearch;
using test::CliRun;

namespace {

// Sets an environment variable for one scope and restores it after.
class ScopedEnv
{
public:
    ScopedEnv(const char *name, const QByteArray &value) : m_name(name), m_had(qEnvironmentVariableIsSet(name))
    {
        m_old = qgetenv(name);
        qputenv(name, value);
    }
    ~ScopedEnv()
    {
        if (m_had)
            qputenv(m_name, m_old);
        else
            qunsetenv(m_name);
    }

private:
    const char *m_name;
    bool m_had;
    QByteArray m_old;
};

} // namespace

class TestPrecision : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();
    void autoResolvesFromTheCpu_data();
    void autoResolvesFromTheCpu();
    void autoRunsTheAnswerDecoderInBfloat16();
    void cpuDescriptionCanBeStubbed();
    void blasKernelsFollowTheCpu_data();
    void blasKernelsFollowTheCpu();
    void blasThreadsSleepAtOnce();
    void settingDefaultsToAuto();
    void choiceSurvivesARestart();
    void commandLineChoiceWins();
    void indexingRecordsThePrecision();
    void migrationKeepsOldVectorsAsFloat32();

private:
    void registerModel();
    CliRun cli(const QStringList &args, const QByteArray &cpuFeatures);
    QString settingsFile() const;

    QString m_cli;
    QTemporaryDir m_shared;
    model::BundleInfo m_bundle;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_photos;
};

void TestPrecision::initTestCase()
{
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    m_bundle = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval", "fixture",
                                     m_shared.filePath(QStringLiteral("models")))
                   .bundle;
}

void TestPrecision::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_photos, QStringLiteral("photos")));
}

void TestPrecision::cleanup()
{
    m_tmp.reset();
}

void TestPrecision::registerModel()
{
    QString error;
    QVERIFY2(test::registerActiveModel(m_data, m_bundle, QStringLiteral("fixture"), QStringLiteral("retrieval"), &error),
             qPrintable(error));
}

// unisearch-cli in this test's workspace on a CPU described by cpuFeatures
// (UNISEARCH_CPU_FEATURES: "none", "avx512bf16", "amx").
CliRun TestPrecision::cli(const QStringList &args, const QByteArray &cpuFeatures)
{
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp->path());
    env.insert(QStringLiteral("UNISEARCH_CPU_FEATURES"), QString::fromLatin1(cpuFeatures));
    return test::runProgram(m_cli, QStringList{QStringLiteral("--threads"), QStringLiteral("1")} + args, env);
}

// The settings file unisearch-cli reads in this workspace (QSettings IniFormat, user scope:
// $XDG_CONFIG_HOME/unisearch/unisearch.ini).
QString TestPrecision::settingsFile() const
{
    return m_tmp->filePath(QStringLiteral("config/unisearch/unisearch.ini"));
}

void TestPrecision::autoResolvesFromTheCpu_data()
{
    QTest::addColumn<QString>("setting");
    QTest::addColumn<QString>("device");
    QTest::addColumn<bool>("avx512bf16");
    QTest::addColumn<bool>("amx");
    QTest::addColumn<bool>("intel");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<bool>("bfloat16Decoder"); // the answer decoder alone in bfloat16 (bfloat16Parts)
    const QString f32 = QStringLiteral("float32"), bf16 = QStringLiteral("bfloat16"), au = QStringLiteral("auto");
    const QString cpu = QStringLiteral("cpu"), cuda = QStringLiteral("cuda");
    QTest::newRow("auto, plain CPU") << au << cpu << false << false << false << f32 << false;
    QTest::newRow("auto, AMD with AVX512_BF16") << au << cpu << true << false << false << bf16 << false;
    // Intel's AVX512_BF16 runs on its float32 FMA units: slower than float32 without AMX,
    // except for the answer decoder's steps, which wait on memory: half the bytes.
    QTest::newRow("auto, Intel with AVX512_BF16, no AMX") << au << cpu << true << false << true << f32 << true;
    QTest::newRow("auto, Intel with AMX") << au << cpu << true << true << true << bf16 << false;
    QTest::newRow("auto, AMX") << au << cpu << false << true << false << bf16 << false;
    QTest::newRow("auto, CUDA, plain CPU") << au << cuda << false << false << false << bf16 << false;
    QTest::newRow("auto, CUDA, Intel CPU") << au << cuda << true << false << true << bf16 << false;
    QTest::newRow("float32 wins on AVX512_BF16") << f32 << cpu << true << true << false << f32 << false;
    QTest::newRow("float32 wins on Intel without AMX") << f32 << cpu << true << false << true << f32 << false;
    QTest::newRow("float32 wins on CUDA") << f32 << cuda << false << false << false << f32 << false;
    QTest::newRow("bfloat16 wins on a plain CPU") << bf16 << cpu << false << false << false << bf16 << false;
    QTest::newRow("bfloat16 wins on Intel without AMX") << bf16 << cpu << true << false << true << bf16 << false;
}

void TestPrecision::autoResolvesFromTheCpu()
{
    QFETCH(QString, setting);
    QFETCH(QString, device);
    QFETCH(bool, avx512bf16);
    QFETCH(bool, amx);
    QFETCH(bool, intel);
    QFETCH(QString, expected);
    QFETCH(bool, bfloat16Decoder);
    model::CpuFeatures cpu;
    cpu.avx512bf16 = avx512bf16;
    cpu.amxbf16 = amx;
    cpu.intel = intel;
    QCOMPARE(engine::resolvePrecision(setting, device, cpu), expected);
    QCOMPARE(engine::bfloat16Parts(setting, device, cpu),
             bfloat16Decoder ? unsigned(model::ModelRunner::Decoder) : 0u);
}

void TestPrecision::autoRunsTheAnswerDecoderInBfloat16()
{
    // What `ask` reports it ran: auto on an Intel CPU with AVX512_BF16 and no AMX is a float32
    // model with a bfloat16 answer decoder; an explicit float32 is float32 throughout; auto
    // where bfloat16 is faster is bfloat16 throughout.
    const QString vqaCase = QStringLiteral("vqa");
    const model::BundleInfo vqa =
        test::importCaseModel(vqaCase, "vqa", "fixture-vqa", m_shared.filePath(QStringLiteral("vqa-models"))).bundle;
    QString error;
    QVERIFY2(test::registerActiveModel(m_data, vqa, QStringLiteral("fixture-vqa"), QStringLiteral("vqa"), &error),
             qPrintable(error));
    const nlohmann::json spec = test::readCase(vqaCase);
    const QString image = test::caseDir(vqaCase) + QLatin1Char('/') + QString::fromStdString(spec.at("images").at(0));
    const QStringList ask{QStringLiteral("ask"), image, QStringLiteral("what is it?"), QStringLiteral("--json")};
    struct Case {
        QStringList precision;
        QByteArray cpu;
        QString model, decoder;
    };
    const QString f32 = QStringLiteral("float32"), bf16 = QStringLiteral("bfloat16");
    for (const Case &c : {Case{{}, "avx512bf16,intel", f32, bf16}, Case{{}, "none", f32, f32},
                          Case{{QStringLiteral("--precision"), f32}, "avx512bf16,intel", f32, f32},
                          Case{{}, "avx512bf16", bf16, bf16}}) {
        const CliRun r = cli(c.precision + ask, c.cpu);
        VERIFY_RUN(r, 0);
        const QJsonObject o = r.json();
        QVERIFY2(!o.value(QStringLiteral("answer")).toString().isEmpty(), qPrintable(r.out.left(500)));
        QCOMPARE(o.value(QStringLiteral("precision")).toString(), c.model);
        QCOMPARE(o.value(QStringLiteral("decoderPrecision")).toString(), c.decoder);
    }
}

void TestPrecision::cpuDescriptionCanBeStubbed()
{
    {
        ScopedEnv env("UNISEARCH_CPU_FEATURES", "none");
        QVERIFY(!model::detectCpuFeatures().bfloat16());
        QVERIFY(!model::cpuHasBfloat16());
        QCOMPARE(engine::resolvePrecision(QStringLiteral("auto"), QStringLiteral("cpu")), QStringLiteral("float32"));
    }
    {
        ScopedEnv env("UNISEARCH_CPU_FEATURES", "avx512bf16");
        QVERIFY(model::detectCpuFeatures().avx512bf16);
        QVERIFY(!model::detectCpuFeatures().amxbf16);
        QCOMPARE(engine::resolvePrecision(QStringLiteral("auto"), QStringLiteral("cpu")), QStringLiteral("bfloat16"));
    }
    {
        ScopedEnv env("UNISEARCH_CPU_FEATURES", "avx512bf16,intel");
        QVERIFY(model::detectCpuFeatures().avx512bf16);
        QVERIFY(model::detectCpuFeatures().intel);
        QCOMPARE(engine::resolvePrecision(QStringLiteral("auto"), QStringLiteral("cpu")), QStringLiteral("float32"));
    }
    {
        ScopedEnv env("UNISEARCH_CPU_FEATURES", "amx");
        QVERIFY(model::detectCpuFeatures().amxbf16);
        QVERIFY(!model::detectCpuFeatures().avx512bf16);
        QCOMPARE(engine::resolvePrecision(QStringLiteral("auto"), QStringLiteral("cpu")), QStringLiteral("bfloat16"));
    }
}

void TestPrecision::blasKernelsFollowTheCpu_data()
{
    QTest::addColumn<QString>("current");
    QTest::addColumn<bool>("avx2");
    QTest::addColumn<bool>("avx512");
    QTest::addColumn<bool>("bf16");
    QTest::addColumn<QString>("expected");
    // OpenBLAS's fallback for a CPU newer than it knows, on CPUs with more.
    QTest::newRow("generic, AVX-512 BF16") << "Prescott" << true << true << true << "Cooperlake";
    QTest::newRow("generic, AVX-512") << "Prescott" << true << true << false << "SkylakeX";
    QTest::newRow("generic, AVX2") << "Core2" << true << false << false << "Haswell";
    QTest::newRow("generic AMD, AVX2") << "Opteron_SSE3" << true << false << false << "Haswell";
    // The generic kernels are right for a CPU without AVX2; a known CPU keeps OpenBLAS's choice.
    QTest::newRow("generic, SSE only") << "Prescott" << false << false << false << "";
    QTest::newRow("known, AVX-512") << "Haswell" << true << true << false << "";
    QTest::newRow("known, AVX-512 BF16") << "SkylakeX" << true << true << true << "";
    QTest::newRow("Zen") << "Zen" << true << false << false << "";
}

void TestPrecision::blasKernelsFollowTheCpu()
{
    QFETCH(QString, current);
    QFETCH(bool, avx2);
    QFETCH(bool, avx512);
    QFETCH(bool, bf16);
    QFETCH(QString, expected);
    QCOMPARE(QString::fromStdString(model::betterBlasKernels(current.toStdString(), avx2, avx512, bf16)), expected);
}

// OpenBLAS's idle threads sleep at once instead of spinning beside LibTorch's threads, and
// the products after their restart are still right.
void TestPrecision::blasThreadsSleepAtOnce()
{
    // CI's BLAS is OpenBLAS's pthread build (scripts/install-deps.sh); tst_cli checks --version names it.
    QVERIFY2(!model::blasKernels().empty(), "the BLAS is not OpenBLAS");
    QCOMPARE(model::blasThreadTimeout(), 0); // a test executable starts with OpenBLAS's default
    {
        const ScopedEnv chosen("OPENBLAS_THREAD_TIMEOUT", "20"); // the user's own choice stands
        QVERIFY(!model::shortenBlasThreadWait());
        QCOMPARE(model::blasThreadTimeout(), 0);
    }
    QVERIFY(model::shortenBlasThreadWait());
    QCOMPARE(model::blasThreadTimeout(), 4);
    QVERIFY(!qEnvironmentVariableIsSet("OPENBLAS_THREAD_TIMEOUT")); // not passed on to children

    // A product large enough for OpenBLAS to split between its threads, against a plain loop.
    using Sgemm = void (*)(const char *, const char *, const int *, const int *, const int *, const float *,
                           const float *, const int *, const float *, const int *, const float *, float *, const int *);
    const auto sgemm = reinterpret_cast<Sgemm>(::dlsym(RTLD_DEFAULT, "sgemm_"));
    QVERIFY(sgemm);
    const int n = 384;
    std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n, -1.0f);
    for (size_t i = 0; i < a.size(); ++i) {
        a[i] = float((i * 7919) % 97) / 97.0f - 0.5f;
        b[i] = float((i * 104729) % 89) / 89.0f - 0.5f;
    }
    const float one = 1.0f, zero = 0.0f;
    for (int round = 0; round < 3; ++round) { // the threads start again, then are woken twice
        sgemm("N", "N", &n, &n, &n, &one, a.data(), &n, b.data(), &n, &zero, c.data(), &n);
        for (int col = 0; col < n; col += 37)
            for (int row = 0; row < n; row += 41) {
                double expected = 0;
                for (int k = 0; k < n; ++k)
                    expected += double(a[size_t(k) * n + row]) * double(b[size_t(col) * n + k]);
                QVERIFY2(std::abs(c[size_t(col) * n + row] - expected) < 1e-3,
                         qPrintable(QStringLiteral("C[%1,%2] = %3, expected %4")
                                        .arg(row).arg(col).arg(c[size_t(col) * n + row]).arg(expected)));
            }
    }
}

void TestPrecision::settingDefaultsToAuto()
{
    Settings s(m_tmp->filePath(QStringLiteral("settings.ini")));
    QCOMPARE(s.value(settings::precision), QStringLiteral("auto"));
    QVERIFY(!s.setValue(settings::precision, QStringLiteral("float64")));
    QCOMPARE(s.value(settings::precision), QStringLiteral("auto"));
    QVERIFY(s.setValue(settings::precision, QStringLiteral("float32")));
    QCOMPARE(s.value(settings::precision), QStringLiteral("float32"));
}

void TestPrecision::choiceSurvivesARestart()
{
    registerModel();
    const QStringList embed{QStringLiteral("embed"), QStringLiteral("text"), QStringLiteral("a red circle"),
                            QStringLiteral("--json")};
    // No choice: auto, which follows the CPU.
    CliRun r = cli(embed, "none");
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("precision")).toString(), QStringLiteral("float32"));
    r = cli(embed, "avx512bf16");
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("precision")).toString(), QStringLiteral("bfloat16"));
    r = cli({QStringLiteral("status"), QStringLiteral("--json")}, "avx512bf16");
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("precision")).toString(), QStringLiteral("bfloat16"));

    // An explicit choice in the settings (what the model manager writes) is read back by
    // every new process, whatever the CPU.
    for (const QString &choice : {QStringLiteral("bfloat16"), QStringLiteral("float32")}) {
        {
            Settings s(settingsFile());
            QVERIFY(s.setValue(settings::precision, choice));
            s.sync();
        }
        for (const QByteArray &cpu : {QByteArray("none"), QByteArray("avx512bf16")}) {
            r = cli(embed, cpu);
            VERIFY_RUN(r, 0);
            QCOMPARE(r.json().value(QStringLiteral("precision")).toString(), choice);
            r = cli({QStringLiteral("status"), QStringLiteral("--json")}, cpu);
            VERIFY_RUN(r, 0);
            QCOMPARE(r.json().value(QStringLiteral("precision")).toString(), choice);
        }
    }
}

void TestPrecision::commandLineChoiceWins()
{
    registerModel();
    {
        Settings s(settingsFile());
        QVERIFY(s.setValue(settings::precision, QStringLiteral("float32")));
        s.sync();
    }
    CliRun r = cli({QStringLiteral("--precision"), QStringLiteral("bfloat16"), QStringLiteral("embed"),
                    QStringLiteral("text"), QStringLiteral("a red circle"), QStringLiteral("--json")},
                   "none");
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("precision")).toString(), QStringLiteral("bfloat16"));
    r = cli({QStringLiteral("--precision"), QStringLiteral("auto"), QStringLiteral("status"), QStringLiteral("--json")},
            "amx");
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("precision")).toString(), QStringLiteral("bfloat16"));
    // The plain status says it on its Device line: auto on an Intel CPU without AMX, and a choice.
    const QRegularExpression deviceLine(QStringLiteral("^Device: +cpu, \\d+ threads, (\\w+)$"),
                                        QRegularExpression::MultilineOption);
    {
        Settings s(settingsFile());
        QVERIFY(s.setValue(settings::precision, QStringLiteral("auto")));
        s.sync();
    }
    r = cli({QStringLiteral("status")}, "avx512bf16,intel");
    VERIFY_RUN(r, 0);
    QCOMPARE(deviceLine.match(r.out).captured(1), QStringLiteral("float32"));
    r = cli({QStringLiteral("--precision"), QStringLiteral("bfloat16"), QStringLiteral("status")}, "avx512bf16,intel");
    VERIFY_RUN(r, 0);
    QCOMPARE(deviceLine.match(r.out).captured(1), QStringLiteral("bfloat16"));
    // A value it does not know is a usage error that names it, and nothing runs.
    r = cli({QStringLiteral("--precision"), QStringLiteral("float64"), QStringLiteral("status")}, "none");
    VERIFY_RUN(r, 2);
    QVERIFY2(r.err.contains(QStringLiteral("float64")) && r.err.contains(QStringLiteral("float32")), qPrintable(r.err));
}

void TestPrecision::indexingRecordsThePrecision()
{
    registerModel();
    for (quint32 i = 0; i < 2; ++i)
        QVERIFY(test::randomImage(64, 48, 100 + i).save(QDir(m_photos).filePath(QStringLiteral("p%1.png").arg(i))));
    // Auto on a CPU with AVX512_BF16: bfloat16 vectors.
    CliRun r = cli({QStringLiteral("index"), m_photos}, "avx512bf16");
    VERIFY_RUN(r, 0);
    r = cli({QStringLiteral("status"), QStringLiteral("--json")}, "avx512bf16");
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("vectorPrecisions")).toObject(),
             (QJsonObject{{QStringLiteral("bfloat16"), 2}}));

    // float32 and bfloat16 vectors of one model may mix: a precision change embeds only
    // what is new at the new precision and keeps the rest.
    QVERIFY(test::randomImage(64, 48, 200).save(QDir(m_photos).filePath(QStringLiteral("p2.png"))));
    r = cli({QStringLiteral("--precision"), QStringLiteral("float32"), QStringLiteral("index"), m_photos},
            "avx512bf16");
    VERIFY_RUN(r, 0);
    r = cli({QStringLiteral("status"), QStringLiteral("--json")}, "none");
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("vectorPrecisions")).toObject(),
             (QJsonObject{{QStringLiteral("bfloat16"), 2}, {QStringLiteral("float32"), 1}}));
    QCOMPARE(r.json().value(QStringLiteral("counts")).toObject().value(QStringLiteral("vectors")).toInt(), 3);
    // ... and a search finds all three.
    r = cli({QStringLiteral("search"), QStringLiteral("a picture"), QStringLiteral("--json")}, "none");
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("results")).toArray().size(), 3);
}

void TestPrecision::migrationKeepsOldVectorsAsFloat32()
{
    const std::vector<float> v{0.6f, 0.8f, 0.0f, 0.0f};
    std::int64_t segment = 0;
    {
        catalog::OpenResult opened = catalog::Catalog::open(m_data);
        QVERIFY2(opened.catalog, qPrintable(opened.error));
        const std::int64_t root = opened.catalog->addRoot(m_photos);
        catalog::Item item;
        item.rootId = root;
        item.path = QDir(m_photos).filePath(QStringLiteral("old.jpg"));
        item.type = catalog::ItemType::Image;
        item.size = 1234;
        item.mtimeMs = 1700000000000;
        const std::int64_t id = opened.catalog->upsertItem(item);
        segment = opened.catalog->addSegmentWithVector(id, 0, 0, QStringLiteral("fp"), v);
    }
    // Take the file back to schema 5, as a catalog written before vectors recorded a precision.
    {
        sqlite3 *db = nullptr;
        QCOMPARE(sqlite3_open(QDir(m_data).filePath(QStringLiteral("catalog.sqlite")).toUtf8().constData(), &db),
                 SQLITE_OK);
        char *err = nullptr;
        const int rc = sqlite3_exec(db,
                                    "DROP INDEX vectors_precision; ALTER TABLE vectors DROP COLUMN precision;"
                                    " PRAGMA user_version = 5;",
                                    nullptr, nullptr, &err);
        const QString message = err ? QString::fromUtf8(err) : QString();
        sqlite3_free(err);
        sqlite3_close(db);
        QVERIFY2(rc == SQLITE_OK, qPrintable(message));
    }
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened.catalog, qPrintable(opened.error));
    QCOMPARE(opened.catalog->schemaVersion(), catalog::Catalog::latestSchemaVersion());
    QCOMPARE(opened.catalog->vectorPrecisions(), (QMap<QString, std::int64_t>{{QStringLiteral("float32"), 1}}));
    const std::optional<std::vector<float>> back = opened.catalog->vector(segment, QStringLiteral("fp"));
    QVERIFY(back);
    QCOMPARE(back->size(), v.size());
    QVERIFY(std::abs((*back)[0] - 0.6f) < 1e-3f); // the data itself is untouched (float16 as stored)
    QVERIFY(std::abs((*back)[1] - 0.8f) < 1e-3f);
    // A vector written now records the connection's precision.
    opened.catalog->setVectorPrecision(QStringLiteral("bfloat16"));
    opened.catalog->putVector(segment, QStringLiteral("fp2"), v);
    QCOMPARE(opened.catalog->vectorPrecisions(),
             (QMap<QString, std::int64_t>{{QStringLiteral("float32"), 1}, {QStringLiteral("bfloat16"), 1}}));
}

QTEST_GUILESS_MAIN(TestPrecision)
#include "tst_precision.moc"
