// Fine-tuning through unisearch-cli and the engine's TrainingJob, on the fixture model:
// `train` learns made-up names from a CSV (held-out recall rises, the pack is active and
// `embed text` uses it), `adapters list|deactivate|export|import`, a pack for another
// base model and malformed data are refused with clear messages, and cancelling a job
// writes nothing and leaves the active pack as it was.
#include "engine/adapterpacks.h"
#include "engine/engine.h"
#include "engine/trainingjob.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/videogen.h"

#include <QDir>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <random>

using namespace unisearch;

namespace {

using Run = unisearch::test::CliRun;


const QStringList kWords = {QStringLiteral("zorblat"), QStringLiteral("quindle"), QStringLiteral("fremmix"),
                            QStringLiteral("blorpton"), QStringLiteral("snazzit"), QStringLiteral("wugglet"),
                            QStringLiteral("trimpo"), QStringLiteral("glarnish")};

} // namespace

class TestTrainerCli : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void trainQueryModeFromCsv();
    void adaptersListExportImport();
    void deactivateRestoresTheBaseModel();
    void packForAnotherBaseIsRefused();
    void malformedDataIsReported();
    void smallRunsAreFlagged();
    void adviceFollowsTheScores();
    void cancelWritesNothing();
    void searchUsesTheTrainedPack();

private:
    Run run(const QStringList &args, const QString &dataDir = {});
    QString m_cli;
    QTemporaryDir m_tmp;
    QString m_data;
    QString m_csv;
};

Run TestTrainerCli::run(const QStringList &args, const QString &dataDir)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), m_tmp.filePath(QStringLiteral("config")));
    env.insert(QStringLiteral("UNISEARCH_CPU_FEATURES"), QStringLiteral("none")); // auto = float32 (reference numbers)
    env.insert(QStringLiteral("XDG_CACHE_HOME"), m_tmp.filePath(QStringLiteral("cache")));
    env.insert(QStringLiteral("XDG_DATA_HOME"), m_tmp.filePath(QStringLiteral("share")));
    env.remove(QStringLiteral("UNISEARCH_DATA_DIR"));
    env.insert(QStringLiteral("OMP_WAIT_POLICY"), QStringLiteral("PASSIVE")); // no re-exec at start: faster runs
    return unisearch::test::runProgram(m_cli, QStringList{QStringLiteral("--data-dir"), dataDir.isEmpty() ? m_data : dataDir} + args, env, 300000);
}

void TestTrainerCli::initTestCase()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    QVERIFY(m_tmp.isValid());
    m_data = m_tmp.filePath(QStringLiteral("data"));
    const QString images = m_tmp.filePath(QStringLiteral("images"));
    QVERIFY(QDir().mkpath(images));
    QVERIFY(test::writePatternImages(images, static_cast<int>(kWords.size()), 5, 0));
    // Names attached to items: each becomes several caption templates.
    m_csv = QDir(images).filePath(QStringLiteral("names.csv"));
    QFile f(m_csv);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("path,caption,kind\n");
    for (int i = 0; i < kWords.size(); ++i)
        f.write(QStringLiteral("img%1.png,%2,name\n").arg(i).arg(kWords[i]).toUtf8());
    f.close();
    const Run r = run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
                       QStringLiteral("--name"), QStringLiteral("base"), QStringLiteral("--architecture"),
                       test::caseArchitectureJson(QStringLiteral("retrieval-image"))});
    VERIFY_RUN(r, 0);
}

void TestTrainerCli::trainQueryModeFromCsv()
{
    const Run before = run({QStringLiteral("embed"), QStringLiteral("text"), kWords[0], QStringLiteral("--json")});
    VERIFY_RUN(before, 0);
    const Run r = run({QStringLiteral("train"), QStringLiteral("--task"), QStringLiteral("retrieval"), QStringLiteral("--mode"),
                       QStringLiteral("query"), QStringLiteral("--data"), m_csv, QStringLiteral("--epochs"),
                       QStringLiteral("40"), QStringLiteral("--name"), QStringLiteral("names"), QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    const QJsonObject o = r.json();
    QCOMPARE(o.value(QStringLiteral("pack")).toString(), QStringLiteral("names"));
    QVERIFY(o.value(QStringLiteral("activated")).toBool());
    QCOMPARE(o.value(QStringLiteral("train_examples")).toInt() + o.value(QStringLiteral("validation_examples")).toInt(),
             5 * int(kWords.size()));
    QCOMPARE(o.value(QStringLiteral("validation_examples")).toInt(), 8);
    const double r1Before = o.value(QStringLiteral("before")).toObject().value(QStringLiteral("recall_at_1")).toDouble();
    const double r1After = o.value(QStringLiteral("after")).toObject().value(QStringLiteral("recall_at_1")).toDouble();
    qInfo("held-out recall@1 %.3f -> %.3f", r1Before, r1After);
    // The fixture model is tiny and random: a held-out template unlike the trained ones of
    // its name generalises only partly. One example per photo is held out, a random one of
    // the five templates; the bare name "X" held out while "a photo of X", ... were trained
    // is the one most often missed. Held-out recall@1 here: 1.0 with the default seed (42),
    // 0.5-0.875 with seeds 1, 2, 3, 7, 11, so only a rise is asserted; the trainer's test
    // holds out "a picture of X" with the bare name trained, and pins >= 0.9.
    QVERIFY(r1Before <= 0.5);
    QVERIFY(r1After > r1Before);
    QVERIFY(o.value(QStringLiteral("after")).toObject().value(QStringLiteral("recall_at_5")).toDouble()
            >= o.value(QStringLiteral("before")).toObject().value(QStringLiteral("recall_at_5")).toDouble());
    QVERIFY(r.err.contains(QStringLiteral("step ")));
    QVERIFY(QFileInfo(m_data + QStringLiteral("/adapters/names.safetensors")).isFile());
    // The validation curve: the held-out recall@1 at each epoch's end, the last one the "after".
    const QJsonArray curve = o.value(QStringLiteral("validation_curve")).toArray();
    QCOMPARE(curve.size(), 40);
    const int stepsPerEpoch = o.value(QStringLiteral("steps")).toInt() / 40;
    QVERIFY(stepsPerEpoch >= 1);
    for (qsizetype i = 0; i < curve.size(); ++i) {
        const QJsonObject point = curve[i].toObject();
        QCOMPARE(point.value(QStringLiteral("epoch")).toInt(), int(i) + 1);
        QCOMPARE(point.value(QStringLiteral("step")).toInt(), int(i + 1) * stepsPerEpoch);
        const double value = point.value(QStringLiteral("value")).toDouble(-1);
        QVERIFY(value >= 0 && value <= 1);
    }
    QCOMPARE(curve.last().toObject().value(QStringLiteral("value")).toDouble(), r1After);
    QVERIFY2(r.err.contains(QStringLiteral("epoch 40/40: held-out recall@1 ")), qPrintable(r.err));
    // 40 examples are enough; 8 held out are few to judge by; the score rose.
    QVERIFY(!o.value(QStringLiteral("held_out_score_fell")).toBool(true));
    const QStringList advice = o.value(QStringLiteral("advice")).toVariant().toStringList();
    QCOMPARE(advice.size(), 1);
    QVERIFY2(advice.first().contains(QStringLiteral("8 examples held out")), qPrintable(advice.first()));

    // The active pack is what the model now runs with.
    const Run after = run({QStringLiteral("embed"), QStringLiteral("text"), kWords[0], QStringLiteral("--json")});
    VERIFY_RUN(after, 0);
    QVERIFY(before.json().value(QStringLiteral("items")) != after.json().value(QStringLiteral("items")));
    // A second run under the same name is refused.
    const Run again = run({QStringLiteral("train"), QStringLiteral("--data"), m_csv, QStringLiteral("--name"),
                           QStringLiteral("names")});
    VERIFY_RUN(again, 1);
    QVERIFY2(again.err.contains(QStringLiteral("already exists")), qPrintable(again.err));
}

void TestTrainerCli::adaptersListExportImport()
{
    Run r = run({QStringLiteral("adapters"), QStringLiteral("list"), QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    QJsonArray packs = r.json().value(QStringLiteral("adapters")).toArray();
    QCOMPARE(packs.size(), 1);
    QJsonObject p = packs[0].toObject();
    QCOMPARE(p.value(QStringLiteral("name")).toString(), QStringLiteral("names"));
    QVERIFY(p.value(QStringLiteral("active")).toBool());
    QCOMPARE(p.value(QStringLiteral("task")).toString(), QStringLiteral("retrieval"));
    QCOMPARE(p.value(QStringLiteral("mode")).toString(), QStringLiteral("query"));
    QCOMPARE(p.value(QStringLiteral("base_model")).toString(), QStringLiteral("base"));
    QVERIFY(!p.value(QStringLiteral("touches_vision")).toBool());
    QVERIFY(p.value(QStringLiteral("metrics")).toObject().contains(QStringLiteral("after")));

    const QString exported = m_tmp.filePath(QStringLiteral("exported.safetensors"));
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("export"), QStringLiteral("names"), exported}), 0);
    QVERIFY(QFileInfo(exported).isFile());
    r = run({QStringLiteral("adapters"), QStringLiteral("import"), exported, QStringLiteral("--name"), QStringLiteral("copy")});
    VERIFY_RUN(r, 0);
    r = run({QStringLiteral("adapters"), QStringLiteral("list"), QStringLiteral("--json")});
    packs = r.json().value(QStringLiteral("adapters")).toArray();
    QCOMPARE(packs.size(), 2);
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("copy")}), 0);
    r = run({QStringLiteral("adapters"), QStringLiteral("list")});
    QVERIFY2(r.out.contains(QStringLiteral("* copy")), qPrintable(r.out));
    QVERIFY2(!r.out.contains(QStringLiteral("* names")), qPrintable(r.out));
    r = run({QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("nosuchpack")});
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("adapters list")), qPrintable(r.err));
}

void TestTrainerCli::deactivateRestoresTheBaseModel()
{
    const QString data = m_tmp.filePath(QStringLiteral("data-base"));
    VERIFY_RUN(run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
                    QStringLiteral("--name"), QStringLiteral("base"), QStringLiteral("--architecture"),
                    test::caseArchitectureJson(QStringLiteral("retrieval-image"))},
                   data),
               0);
    const Run base = run({QStringLiteral("embed"), QStringLiteral("text"), kWords[1], QStringLiteral("--json")}, data);
    VERIFY_RUN(base, 0);
    const Run withPack = run({QStringLiteral("embed"), QStringLiteral("text"), kWords[1], QStringLiteral("--json")});
    VERIFY_RUN(withPack, 0);
    QVERIFY(base.json().value(QStringLiteral("items")) != withPack.json().value(QStringLiteral("items")));
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("deactivate")}), 0);
    const Run restored = run({QStringLiteral("embed"), QStringLiteral("text"), kWords[1], QStringLiteral("--json")});
    VERIFY_RUN(restored, 0);
    QCOMPARE(restored.json().value(QStringLiteral("items")), base.json().value(QStringLiteral("items")));
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("names")}), 0);
}

void TestTrainerCli::packForAnotherBaseIsRefused()
{
    // A library whose only model is another checkpoint (plain BLIP).
    const QString other = m_tmp.filePath(QStringLiteral("data-other"));
    VERIFY_RUN(run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-noadapter")),
                    QStringLiteral("--name"), QStringLiteral("plain"), QStringLiteral("--task"), QStringLiteral("retrieval"),
                    QStringLiteral("--architecture"), test::caseArchitectureJson(QStringLiteral("retrieval-noadapter"))},
                   other),
               0);
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("import"), m_data + QStringLiteral("/adapters/names.safetensors")},
                   other),
               0);
    const Run r = run({QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("names")}, other);
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("another base model")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("'plain'")), qPrintable(r.err));
}

void TestTrainerCli::malformedDataIsReported()
{
    const QString bad = m_tmp.filePath(QStringLiteral("images/bad.csv"));
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("img0.png,a zorblat\njust-one-field\n");
    f.close();
    Run r = run({QStringLiteral("train"), QStringLiteral("--data"), bad, QStringLiteral("--name"), QStringLiteral("bad")});
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("line 2")), qPrintable(r.err));
    QFile g(bad);
    QVERIFY(g.open(QIODevice::WriteOnly));
    g.write("missing.png,a zorblat\n");
    g.close();
    r = run({QStringLiteral("train"), QStringLiteral("--data"), bad, QStringLiteral("--name"), QStringLiteral("bad")});
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("missing.png")) && r.err.contains(QStringLiteral("does not exist")), qPrintable(r.err));
    const QString junk = m_tmp.filePath(QStringLiteral("junk.safetensors"));
    QFile j(junk);
    QVERIFY(j.open(QIODevice::WriteOnly));
    j.write("not a pack");
    j.close();
    r = run({QStringLiteral("adapters"), QStringLiteral("import"), junk});
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("adapter pack")), qPrintable(r.err));
    r = run({QStringLiteral("train"), QStringLiteral("--task"), QStringLiteral("retrieval")});
    VERIFY_RUN(r, 2);
    r = run({QStringLiteral("train"), QStringLiteral("--labels"), QStringLiteral("--name"), QStringLiteral("bad")});
    VERIFY_RUN(r, 1); // this library's photos are not indexed, so it has no labels
    QVERIFY2(r.err.contains(QStringLiteral("no caption or name labels")), qPrintable(r.err));
    QVERIFY(!QFileInfo(m_data + QStringLiteral("/adapters/bad.safetensors")).exists());
}

// Two photos named once each (10 examples, 2 held out): trained, but the summary says
// that is few, and that two held-out examples say little.
void TestTrainerCli::smallRunsAreFlagged()
{
    const QString small = m_tmp.filePath(QStringLiteral("images/small.csv"));
    QFile f(small);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("img0.png,zorblat,name\nimg1.png,quindle,name\n");
    f.close();
    const QStringList args = {QStringLiteral("train"), QStringLiteral("--data"), small, QStringLiteral("--epochs"),
                              QStringLiteral("2"), QStringLiteral("--no-activate")};
    Run r = run(args + QStringList{QStringLiteral("--name"), QStringLiteral("small"), QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    const QJsonObject o = r.json();
    QCOMPARE(o.value(QStringLiteral("train_examples")).toInt() + o.value(QStringLiteral("validation_examples")).toInt(), 10);
    const QStringList advice = o.value(QStringLiteral("advice")).toVariant().toStringList();
    QVERIFY2(advice.size() >= 2, qPrintable(advice.join(QLatin1Char('|'))));
    QVERIFY2(advice[0].startsWith(QStringLiteral("Only 10 examples")), qPrintable(advice[0]));
    QVERIFY2(advice[1].contains(QStringLiteral("2 examples held out")), qPrintable(advice[1]));
    // The same notes under the summary for a person.
    r = run(args + QStringList{QStringLiteral("--name"), QStringLiteral("small2")});
    VERIFY_RUN(r, 0);
    QVERIFY2(r.out.contains(QStringLiteral("note: Only 10 examples: a few dozen teach a word reliably.")), qPrintable(r.out));
}

// The advice follows the held-out scores: recall@1 for search, accuracy for questions.
void TestTrainerCli::adviceFollowsTheScores()
{
    engine::TrainingResult o;
    o.trainExamples = 40;
    o.validationExamples = 10;
    QVERIFY(o.advice().isEmpty()); // no scores (no held-out set): nothing to say
    o.before = QJsonObject{{QStringLiteral("recall_at_1"), 0.5}, {QStringLiteral("recall_at_5"), 0.6}};
    o.after = QJsonObject{{QStringLiteral("recall_at_1"), 0.4}, {QStringLiteral("recall_at_5"), 0.9}};
    QVERIFY(o.heldOutScoreFell());
    QCOMPARE(o.advice().size(), 1);
    QVERIFY(o.advice().first().contains(QStringLiteral("fell")));
    QVERIFY(o.toJson().value(QStringLiteral("held_out_score_fell")).toBool());
    o.after[QStringLiteral("recall_at_1")] = 0.5; // the same is not worse
    QVERIFY(!o.heldOutScoreFell());
    o.before = QJsonObject{{QStringLiteral("accuracy"), 0.75}};
    o.after = QJsonObject{{QStringLiteral("accuracy"), 0.5}};
    QVERIFY(o.heldOutScoreFell());
    o.after = QJsonObject{{QStringLiteral("accuracy"), 1.0}};
    QVERIFY(!o.heldOutScoreFell());
    QVERIFY(o.advice().isEmpty());
    o.trainExamples = 18;
    o.validationExamples = 1;
    QCOMPARE(o.advice(), (QStringList{QStringLiteral("Only 19 examples: a few dozen teach a word reliably."),
                                      QStringLiteral("The before/after scores rest on 1 example held out: take them as rough.")}));
}

void TestTrainerCli::cancelWritesNothing()
{
    engine::Engine e;
    engine::Engine::Options options;
    options.dataDir = m_data;
    options.device = QStringLiteral("cpu");
    QVERIFY2(e.open(options), qPrintable(e.errorString()));
    const QString activeBefore = engine::activeAdapterPackPath(*e.catalog(), QStringLiteral("base"));
    QVERIFY(!activeBefore.isEmpty());
    engine::TrainingParams rq;
    rq.dataFile = m_csv;
    rq.epochs = 50;
    rq.name = QStringLiteral("cancelled");
    engine::TrainingJob job(e, rq);
    int steps = 0;
    const engine::TrainingResult outcome = job.run([&](const engine::TrainingProgress &p) {
        if (p.stage == QLatin1String("training") && ++steps == 2)
            job.requestInterruption();
    });
    QVERIFY2(outcome.ok, qPrintable(outcome.error));
    QVERIFY(outcome.cancelled);
    QCOMPARE(outcome.steps, 2);
    QVERIFY(outcome.packPath.isEmpty());
    QVERIFY(!QFileInfo(m_data + QStringLiteral("/adapters/cancelled.safetensors")).exists());
    QCOMPARE(engine::activeAdapterPackPath(*e.catalog(), QStringLiteral("base")), activeBefore);
}

void TestTrainerCli::searchUsesTheTrainedPack()
{
    // An indexed library: query mode trains on the stored image vectors, and the search
    // (which compares against those same vectors) then finds the named photos.
    const QString data = m_tmp.filePath(QStringLiteral("data-search"));
    VERIFY_RUN(run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
                    QStringLiteral("--name"), QStringLiteral("base"), QStringLiteral("--architecture"),
                    test::caseArchitectureJson(QStringLiteral("retrieval-image"))},
                   data),
               0);
    VERIFY_RUN(run({QStringLiteral("index"), m_tmp.filePath(QStringLiteral("images"))}, data), 0);
    auto topHits = [&]() {
        int correct = 0;
        for (int i = 0; i < kWords.size(); ++i) {
            const Run s = run({QStringLiteral("search"), kWords[i], QStringLiteral("--top"), QStringLiteral("1"),
                               QStringLiteral("--json")},
                              data);
            if (s.exitCode != 0)
                return -1;
            const QString top = s.json().value(QStringLiteral("results")).toArray().at(0).toObject().value(QStringLiteral("path")).toString();
            correct += QFileInfo(top).fileName() == QStringLiteral("img%1.png").arg(i);
        }
        return correct;
    };
    const int before = topHits();
    const Run r = run({QStringLiteral("train"), QStringLiteral("--data"), m_csv, QStringLiteral("--epochs"),
                       QStringLiteral("40"), QStringLiteral("--name"), QStringLiteral("names"), QStringLiteral("--json")},
                      data);
    VERIFY_RUN(r, 0);
    QCOMPARE(r.json().value(QStringLiteral("stored_image_vectors")).toInt(), int(kWords.size()));
    // The names of library items are now labels in the catalog; a later run can use them.
    QCOMPARE(r.json().value(QStringLiteral("stored_labels")).toInt(), int(kWords.size()));
    const Run fromLabels = run({QStringLiteral("train"), QStringLiteral("--labels"), QStringLiteral("--epochs"),
                                QStringLiteral("1"), QStringLiteral("--name"), QStringLiteral("again"),
                                QStringLiteral("--no-activate"), QStringLiteral("--json")},
                               data);
    VERIFY_RUN(fromLabels, 0);
    QCOMPARE(fromLabels.json().value(QStringLiteral("train_examples")).toInt()
                 + fromLabels.json().value(QStringLiteral("validation_examples")).toInt(),
             5 * int(kWords.size()));
    const int after = topHits();
    qInfo("search: the named photo first for %d of %d names before training, %d after", before, int(kWords.size()), after);
    QVERIFY(before >= 0 && after >= 0);
    QVERIFY(after >= 6);
    QVERIFY(after > before);

    // Without --json, the held-out metric of each epoch is a line of the output.
    const Run text = run({QStringLiteral("train"), QStringLiteral("--labels"), QStringLiteral("--epochs"), QStringLiteral("2"),
                          QStringLiteral("--name"), QStringLiteral("curve"), QStringLiteral("--no-activate")},
                         data);
    VERIFY_RUN(text, 0);
    QVERIFY2(text.out.contains(QStringLiteral("epoch 1/2: held-out recall@1 ")), qPrintable(text.out));
    QVERIFY2(text.out.contains(QStringLiteral("epoch 2/2: held-out recall@1 ")), qPrintable(text.out));
}

QTEST_GUILESS_MAIN(TestTrainerCli)
#include "tst_trainer_cli.moc"
