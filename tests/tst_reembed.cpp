// Activating a full-mode search pack re-embeds the library, and search switches only when
// that is complete (issue 7), through unisearch-cli on the fixture model:
//  - the re-embed is SIGKILLed after its first committed batches: search still serves the
//    old vectors (results identical to before), the pack is pending, not active;
//  - running `adapters activate` again continues (only the rest is embedded), then the pack
//    is active and search scores are those of the pack's own image and text features;
//  - deactivating goes back to the base vectors, still complete; a video keeps its base
//    segments and vectors through the re-embed (search for videos is unchanged midway
//    and after going back);
//  - a query-mode pack activates at once and keeps the stored vectors;
//  - `index` while a pack is pending: new and changed files end up with the pack's vectors
//    too (a changed file's old pack vector is not kept), the re-embed goes on and switches;
//    a pack's vectors deleted take its video moments with them (no segment without vectors).
#include "catalog/catalog.h"
#include "engine/adapterpacks.h"
#include "engine/engine.h"
#include "engine/reembed.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/videogen.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <random>

using namespace unisearch;

namespace {

using Run = unisearch::test::CliRun;


const QStringList kWords = {QStringLiteral("zorblat"), QStringLiteral("quindle"), QStringLiteral("fremmix"),
                            QStringLiteral("blorpton"), QStringLiteral("snazzit"), QStringLiteral("wugglet")};
constexpr int kImages = 128;

std::vector<double> featureOf(const QJsonValue &v)
{
    std::vector<double> f;
    for (const QJsonValue &x : v.toArray())
        f.push_back(x.toDouble());
    return f;
}

} // namespace

class TestReembed : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void fullModeSwitchesOnlyWhenComplete();
    void queryModeKeepsStoredVectors();
    void indexingWhilePendingKeepsEveryItem();

private:
    // Items (indexed) without a vector of fingerprint, and segments without any vector.
    QPair<int, int> missingVectors(const QString &fingerprint);
    QProcessEnvironment env() const;
    Run run(const QStringList &args);
    QJsonArray searchResults(const QString &query, bool videos = false);
    QJsonObject indexStatus();
    QJsonObject pack(const QString &name);

    QString m_cli;
    QTemporaryDir m_tmp;
    QString m_data;
    QString m_images;
    QString m_csv;
    QString m_baseFingerprint;
    int m_baseVectors = 0;
};

QProcessEnvironment TestReembed::env() const
{
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    e.insert(QStringLiteral("XDG_CONFIG_HOME"), m_tmp.filePath(QStringLiteral("config")));
    e.insert(QStringLiteral("UNISEARCH_CPU_FEATURES"), QStringLiteral("none")); // auto = float32 (reference numbers)
    e.insert(QStringLiteral("XDG_CACHE_HOME"), m_tmp.filePath(QStringLiteral("cache")));
    e.insert(QStringLiteral("XDG_DATA_HOME"), m_tmp.filePath(QStringLiteral("share")));
    e.remove(QStringLiteral("UNISEARCH_DATA_DIR"));
    e.insert(QStringLiteral("OMP_WAIT_POLICY"), QStringLiteral("PASSIVE"));
    e.insert(QStringLiteral("UNISEARCH_PROGRESS_MS"), QStringLiteral("0")); // a line per committed batch
    return e;
}

Run TestReembed::run(const QStringList &args)
{
    return unisearch::test::runProgram(m_cli, QStringList{QStringLiteral("--data-dir"), m_data} + args, env(), 300000);
}

QJsonArray TestReembed::searchResults(const QString &query, bool videos)
{
    const Run r = run({QStringLiteral("search"), query, QStringLiteral("--top"), QStringLiteral("8"), QStringLiteral("--type"),
                       videos ? QStringLiteral("video") : QStringLiteral("image"), QStringLiteral("--json")});
    if (r.exitCode != 0)
        qWarning("search failed: %s", qPrintable(r.err));
    return r.json().value(QStringLiteral("results")).toArray();
}

QJsonObject TestReembed::indexStatus()
{
    const Run r = run({QStringLiteral("status"), QStringLiteral("--json")});
    return r.json().value(QStringLiteral("index")).toObject();
}

QJsonObject TestReembed::pack(const QString &name)
{
    const Run r = run({QStringLiteral("adapters"), QStringLiteral("list"), QStringLiteral("--json")});
    return test::namedEntry(r.json().value(QStringLiteral("adapters")).toArray(), name);
}

QPair<int, int> TestReembed::missingVectors(const QString &fingerprint)
{
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    if (!opened)
        return {-1, -1};
    int items = 0, segments = 0;
    for (const catalog::Root &root : opened.catalog->roots())
        for (const catalog::Item &item : opened.catalog->itemsInRoot(root.id)) {
            if (item.status != catalog::ItemStatus::Indexed)
                continue;
            bool has = false;
            for (const catalog::Segment &seg : opened.catalog->segments(item.id)) {
                const QStringList models = opened.catalog->vectorModels(seg.id);
                has = has || models.contains(fingerprint);
                segments += models.isEmpty();
            }
            items += !has;
        }
    return {items, segments};
}

void TestReembed::initTestCase()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    QVERIFY(m_tmp.isValid());
    m_data = m_tmp.filePath(QStringLiteral("data"));
    m_images = m_tmp.filePath(QStringLiteral("images"));
    QVERIFY(QDir().mkpath(m_images));
    QVERIFY(test::writePatternImages(m_images, kImages, 11, 3));
    m_csv = m_tmp.filePath(QStringLiteral("names.csv"));
    QFile f(m_csv);
    QVERIFY(f.open(QIODevice::WriteOnly));
    for (int i = 0; i < kWords.size(); ++i)
        f.write(QStringLiteral("%1/img%2.png,%3,name\n").arg(m_images).arg(i, 3, 10, QLatin1Char('0')).arg(kWords[i]).toUtf8());
    f.close();
    VERIFY_RUN(run({QStringLiteral("model"), QStringLiteral("import"), test::caseWeights(QStringLiteral("retrieval-image")),
                    QStringLiteral("--name"), QStringLiteral("base"), QStringLiteral("--architecture"),
                    test::caseArchitectureJson(QStringLiteral("retrieval-image"))}),
               0);
    // One video (three 4 s segments and a video-level vector, unless neighbours merge).
    const QString err = test::runFfmpeg({QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"),
                                         QStringLiteral("testsrc=size=64x64:rate=10:duration=10"), QStringLiteral("-c:v"),
                                         QStringLiteral("libx264"), QStringLiteral("-pix_fmt"), QStringLiteral("yuv420p"),
                                         QStringLiteral("-threads"), QStringLiteral("1"),
                                         QDir(m_images).filePath(QStringLiteral("clip.mp4"))});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    VERIFY_RUN(run({QStringLiteral("index"), m_images}), 0);
    const QJsonObject s = indexStatus();
    m_baseFingerprint = s.value(QStringLiteral("fingerprint")).toString();
    m_baseVectors = s.value(QStringLiteral("vectors")).toInt();
    QVERIFY(!m_baseFingerprint.isEmpty());
    QCOMPARE(s.value(QStringLiteral("indexedImages")).toInt(), kImages);
    QCOMPARE(s.value(QStringLiteral("indexedVideos")).toInt(), 1);
    QVERIFY(m_baseVectors > kImages);
}

void TestReembed::fullModeSwitchesOnlyWhenComplete()
{
    const QJsonArray before = searchResults(kWords[0]);
    QCOMPARE(before.size(), 8);
    const QJsonArray videosBefore = searchResults(kWords[0], true);
    QCOMPARE(videosBefore.size(), 1);

    // Training a full-mode search pack does not activate it: that needs the re-embed.
    const Run trained = run({QStringLiteral("train"), QStringLiteral("--mode"), QStringLiteral("full"), QStringLiteral("--data"),
                             m_csv, QStringLiteral("--epochs"), QStringLiteral("2"), QStringLiteral("--name"),
                             QStringLiteral("full"), QStringLiteral("--json")});
    VERIFY_RUN(trained, 0);
    QVERIFY(!trained.json().value(QStringLiteral("activated")).toBool());
    QVERIFY2(trained.json().value(QStringLiteral("note")).toString().contains(QStringLiteral("adapters activate full")),
             qPrintable(trained.out));
    QCOMPARE(searchResults(kWords[0]), before);

    // Start the re-embed one image per batch and kill it once batches are committed.
    QProcess p;
    p.setProcessEnvironment(env());
    p.start(m_cli, {QStringLiteral("--data-dir"), m_data, QStringLiteral("adapters"), QStringLiteral("activate"),
                    QStringLiteral("full"), QStringLiteral("--batch"), QStringLiteral("1")});
    QVERIFY(p.waitForStarted());
    QByteArray buffer;
    bool killed = false;
    QElapsedTimer t;
    t.start();
    while (!killed && t.elapsed() < 120000 && p.state() != QProcess::NotRunning) {
        p.waitForReadyRead(20);
        buffer += p.readAllStandardError();
        qsizetype nl;
        while (!killed && (nl = buffer.indexOf('\n')) >= 0) {
            const QByteArray line = buffer.left(nl);
            buffer.remove(0, nl + 1);
            if (line.startsWith("re-embedding: ") && !line.startsWith("re-embedding: 0/")) {
                ::kill(static_cast<pid_t>(p.processId()), SIGKILL);
                killed = true;
            }
        }
    }
    p.waitForFinished(30000);
    QVERIFY2(killed, "the re-embed finished before it could be killed");
    QCOMPARE(p.exitStatus(), QProcess::CrashExit);

    // Midway: some new vectors, search unchanged on the old ones, the pack pending.
    QJsonObject s = indexStatus();
    const QJsonObject reembed = s.value(QStringLiteral("reembed")).toObject();
    QCOMPARE(reembed.value(QStringLiteral("pack")).toString(), QStringLiteral("full"));
    const int midway = reembed.value(QStringLiteral("vectors")).toInt();
    qInfo("killed with %d of %d images re-embedded", midway, kImages);
    QVERIFY(midway > 0);
    QVERIFY(midway < kImages);
    QCOMPARE(s.value(QStringLiteral("fingerprint")).toString(), m_baseFingerprint);
    QCOMPARE(s.value(QStringLiteral("vectors")).toInt(), m_baseVectors);
    QCOMPARE(searchResults(kWords[0]), before);
    QCOMPARE(searchResults(kWords[0], true), videosBefore);
    QVERIFY(!pack(QStringLiteral("full")).value(QStringLiteral("active")).toBool());
    QVERIFY(pack(QStringLiteral("full")).value(QStringLiteral("pending")).toBool());
    const Run status = run({QStringLiteral("status")});
    QVERIFY2(status.out.contains(QStringLiteral("adapters activate full")), qPrintable(status.out));

    // Again: it continues with the rest, then switches.
    const Run resumed = run({QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("full"), QStringLiteral("--json")});
    VERIFY_RUN(resumed, 0);
    const QJsonObject o = resumed.json();
    QVERIFY(o.value(QStringLiteral("switched")).toBool());
    // Only what the killed run had not committed (images are one vector each; the video
    // is one item with several).
    const int resumedItems = o.value(QStringLiteral("embedded")).toInt();
    const int videoVectors = o.value(QStringLiteral("vectors")).toInt() - kImages;
    QVERIFY(videoVectors >= 2);
    const int doneIfVideoWaited = midway, doneIfVideoDone = midway - videoVectors + 1;
    QVERIFY2(resumedItems == kImages + 1 - doneIfVideoWaited || resumedItems == kImages + 1 - doneIfVideoDone,
             qPrintable(QStringLiteral("%1 items embedded after %2 vectors").arg(resumedItems).arg(midway)));
    QCOMPARE(o.value(QStringLiteral("missing")).toInt(), 0);
    QVERIFY(pack(QStringLiteral("full")).value(QStringLiteral("active")).toBool());
    QVERIFY(!pack(QStringLiteral("full")).value(QStringLiteral("pending")).toBool());
    s = indexStatus();
    const QString fullFingerprint = s.value(QStringLiteral("fingerprint")).toString();
    QVERIFY2(fullFingerprint.startsWith(m_baseFingerprint + QLatin1Char('+')), qPrintable(fullFingerprint));
    QCOMPARE(s.value(QStringLiteral("vectors")).toInt(), o.value(QStringLiteral("vectors")).toInt());
    QVERIFY(s.value(QStringLiteral("reembed")).isNull());
    QCOMPARE(searchResults(kWords[0], true).size(), 1);

    // Search now ranks by the pack's features: each score is the cosine of the pack's
    // text and image features (stored as float16).
    const QJsonArray after = searchResults(kWords[0]);
    QCOMPARE(after.size(), 8);
    QVERIFY(after != before);
    const Run text = run({QStringLiteral("embed"), QStringLiteral("text"), kWords[0], QStringLiteral("--json")});
    VERIFY_RUN(text, 0);
    const std::vector<double> q = featureOf(text.json().value(QStringLiteral("items")).toArray().at(0).toObject().value(QStringLiteral("feature")));
    QStringList paths;
    for (const QJsonValue &v : after)
        paths << v.toObject().value(QStringLiteral("path")).toString();
    const Run images = run(QStringList{QStringLiteral("embed"), QStringLiteral("image")} + paths + QStringList{QStringLiteral("--json")});
    VERIFY_RUN(images, 0);
    const QJsonArray items = images.json().value(QStringLiteral("items")).toArray();
    QCOMPARE(items.size(), after.size());
    for (qsizetype i = 0; i < after.size(); ++i) {
        const std::vector<double> f = featureOf(items.at(i).toObject().value(QStringLiteral("feature")));
        QCOMPARE(f.size(), q.size());
        double dot = 0;
        for (size_t k = 0; k < f.size(); ++k)
            dot += f[k] * q[k];
        const double score = after.at(i).toObject().value(QStringLiteral("score")).toDouble();
        QVERIFY2(std::abs(dot - score) < 5e-3, qPrintable(QStringLiteral("result %1: score %2, features give %3").arg(i).arg(score).arg(dot)));
    }

    // Deactivating goes back to the base model's vectors, which were kept; the pack's
    // vectors go, and the video's moments as the pack saw them with them.
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("deactivate")}), 0);
    QCOMPARE(missingVectors(m_baseFingerprint), qMakePair(0, 0));
    s = indexStatus();
    QCOMPARE(s.value(QStringLiteral("fingerprint")).toString(), m_baseFingerprint);
    QCOMPARE(s.value(QStringLiteral("vectors")).toInt(), m_baseVectors);
    QCOMPARE(searchResults(kWords[0]), before);
    QCOMPARE(searchResults(kWords[0], true), videosBefore);
}

void TestReembed::queryModeKeepsStoredVectors()
{
    const Run trained = run({QStringLiteral("train"), QStringLiteral("--mode"), QStringLiteral("query"), QStringLiteral("--data"),
                             m_csv, QStringLiteral("--epochs"), QStringLiteral("5"), QStringLiteral("--name"),
                             QStringLiteral("query"), QStringLiteral("--json")});
    VERIFY_RUN(trained, 0);
    QVERIFY(trained.json().value(QStringLiteral("activated")).toBool());
    QVERIFY(pack(QStringLiteral("query")).value(QStringLiteral("active")).toBool());
    const QJsonObject s = indexStatus();
    QCOMPARE(s.value(QStringLiteral("fingerprint")).toString(), m_baseFingerprint);
    QCOMPARE(s.value(QStringLiteral("vectors")).toInt(), m_baseVectors);
    QVERIFY(s.value(QStringLiteral("reembed")).isNull());
    // Activating it again needs no re-embed either.
    const Run again = run({QStringLiteral("adapters"), QStringLiteral("activate"), QStringLiteral("query")});
    VERIFY_RUN(again, 0);
    QVERIFY2(!again.err.contains(QStringLiteral("Re-embedding")), qPrintable(again.err));
    QVERIFY(searchResults(kWords[0]).size() == 8);
}

void TestReembed::indexingWhilePendingKeepsEveryItem()
{
    // The full pack pending, its re-embed stopped after a few committed batches.
    QString fullFingerprint, changed;
    {
        engine::Engine e;
        engine::Engine::Options options;
        options.dataDir = m_data;
        options.device = QStringLiteral("cpu");
        QVERIFY2(e.open(options), qPrintable(e.errorString()));
        QString error;
        bool pending = false;
        QVERIFY2(engine::activateAdapterPack(e, QStringLiteral("full"), &error, &pending), qPrintable(error));
        QVERIFY(pending);
        engine::ReembedParams params;
        params.batchSize = 1;
        const auto stopped = engine::continueReembed(
            e, params, [](const engine::IndexProgress &p) { return p.filesDone < 12; }, &error);
        QVERIFY2(stopped.has_value(), qPrintable(error));
        QVERIFY(stopped->cancelled);
        fullFingerprint = engine::vectorFingerprint(m_baseFingerprint, m_data + QStringLiteral("/adapters/full.safetensors"));
        QVERIFY(fullFingerprint != m_baseFingerprint);
        // An image that has its pack vector already: it is about to change.
        for (int i = kWords.size(); i < kImages && changed.isEmpty(); ++i) {
            const QString path = QDir(m_images).filePath(QStringLiteral("img%1.png").arg(i, 3, 10, QLatin1Char('0')));
            const auto item = e.catalog()->itemByPath(QFileInfo(path).canonicalFilePath());
            QVERIFY(item);
            const auto segments = e.catalog()->segments(item->id);
            if (!segments.isEmpty() && e.catalog()->vector(segments.front().id, fullFingerprint))
                changed = path;
        }
        QVERIFY2(!changed.isEmpty(), "the stopped re-embed embedded no image");
    }
    QVERIFY(missingVectors(fullFingerprint).first > 0);

    // New files, and a changed one.
    QTemporaryDir fresh;
    QVERIFY(test::writePatternImages(fresh.path(), 4, 97, 0));
    for (int i = 0; i < 3; ++i)
        QVERIFY(QFile::copy(fresh.filePath(QStringLiteral("img%1.png").arg(i)),
                            QDir(m_images).filePath(QStringLiteral("new%1.png").arg(i))));
    QVERIFY(QFile::remove(changed));
    QVERIFY(QFile::copy(fresh.filePath(QStringLiteral("img3.png")), changed));

    // `index` indexes them with the active model, then continues the re-embed (which
    // embeds them with the pack) and switches.
    const Run indexed = run({QStringLiteral("index"), m_images, QStringLiteral("--json")});
    VERIFY_RUN(indexed, 0);
    const QJsonObject o = indexed.json();
    QCOMPARE(o.value(QStringLiteral("added")).toInt(), 3);
    QCOMPARE(o.value(QStringLiteral("modified")).toInt(), 1);
    const QJsonObject reembed = o.value(QStringLiteral("reembed")).toObject();
    QVERIFY2(reembed.value(QStringLiteral("switched")).toBool(), qPrintable(indexed.out));
    QCOMPARE(reembed.value(QStringLiteral("missing")).toInt(), 0);
    QVERIFY(pack(QStringLiteral("full")).value(QStringLiteral("active")).toBool());
    const QJsonObject s = indexStatus();
    QCOMPARE(s.value(QStringLiteral("fingerprint")).toString(), fullFingerprint);
    QCOMPARE(s.value(QStringLiteral("indexedImages")).toInt(), kImages + 3);
    QCOMPARE(missingVectors(fullFingerprint), qMakePair(0, 0));
    QCOMPARE(missingVectors(m_baseFingerprint).first, 0);

    // The changed file's pack vector is of its new content (the pack's feature of the file
    // now, as `embed image` computes it with the active pack), not of the old one.
    const Run embedded = run({QStringLiteral("embed"), QStringLiteral("image"), changed, QStringLiteral("--json")});
    VERIFY_RUN(embedded, 0);
    const std::vector<double> now =
        featureOf(embedded.json().value(QStringLiteral("items")).toArray().at(0).toObject().value(QStringLiteral("feature")));
    {
        catalog::OpenResult opened = catalog::Catalog::open(m_data);
        QVERIFY2(opened, qPrintable(opened.error));
        const auto item = opened.catalog->itemByPath(QFileInfo(changed).canonicalFilePath());
        QVERIFY(item);
        const auto stored = opened.catalog->vector(opened.catalog->segments(item->id).front().id, fullFingerprint);
        QVERIFY(stored);
        QCOMPARE(stored->size(), now.size());
        double dot = 0;
        for (size_t k = 0; k < now.size(); ++k)
            dot += now[k] * (*stored)[k];
        QVERIFY2(dot > 0.999, qPrintable(QStringLiteral("stored pack vector . feature of the new content = %1").arg(dot)));
    }

    // Back to the base vectors: complete, nothing orphaned.
    VERIFY_RUN(run({QStringLiteral("adapters"), QStringLiteral("deactivate")}), 0);
    QCOMPARE(missingVectors(m_baseFingerprint), qMakePair(0, 0));
    QCOMPARE(indexStatus().value(QStringLiteral("fingerprint")).toString(), m_baseFingerprint);
}

QTEST_GUILESS_MAIN(TestReembed)
#include "tst_reembed.moc"
