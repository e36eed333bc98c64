// Duplicates (engine/duplicates.h), through its parts and through unisearch-cli as a
// person or a script uses it, with the fixture model (retrieval-image):
// - byte copies (same hash and size) are grouped, a hash with another size is not;
// - near copies are joined through chains (A~B, B~C: one group), distant vectors stay apart;
// - `duplicates --json` groups a byte copy, a resized and a recompressed copy with their
//   original and leaves distinct photos alone, at a threshold between the cosines the
//   test measures with `embed image` (so it holds for any correct arithmetic);
// - `--threshold` outside (0, 1] is a usage error; no model is a clear failure.
#include "engine/duplicates.h"
#include "index/vectorstore.h"
#include "model/bundle.h"
#include "support/catalogfixture.h"
#include "support/cliprocess.h"
#include "support/images.h"
#include "support/modelfixture.h"
#include "support/workspace.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <map>

using namespace unisearch;

class TestDuplicates : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void byteCopiesNeedSameHashAndSize();
    void nearCopiesJoinThroughChains();
    void cliGroupsCopiesAndLeavesDistinctPhotosApart();
    void thresholdIsValidated();
    void withoutModelTheErrorSaysWhatToDo();

private:
    test::CliRun run(const QStringList &args);
    void registerModel();
    QString photo(const QString &name) const { return m_photos + QLatin1Char('/') + name; }
    // path → feature, from `embed image --json`.
    std::map<QString, std::vector<double>> embed(const QStringList &paths);

    QString m_cli;
    QTemporaryDir m_shared;
    model::BundleInfo m_bundle;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_photos;
};

void TestDuplicates::initTestCase()
{
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    m_bundle = test::importCaseModel(QStringLiteral("retrieval-image"), "retrieval", "fixture",
                                     m_shared.filePath(QStringLiteral("models")))
                   .bundle;
}

void TestDuplicates::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_photos, QStringLiteral("photos")));
}

void TestDuplicates::cleanup()
{
    m_tmp.reset();
}

void TestDuplicates::registerModel()
{
    QString error;
    QVERIFY2(test::registerActiveModel(m_data, m_bundle, QStringLiteral("fixture"), QStringLiteral("retrieval"), &error),
             qPrintable(error));
}

test::CliRun TestDuplicates::run(const QStringList &args)
{
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp->path());
    return test::runProgram(m_cli, QStringList{QStringLiteral("--threads"), QStringLiteral("1")} + args, env, 180000);
}

std::map<QString, std::vector<double>> TestDuplicates::embed(const QStringList &paths)
{
    std::map<QString, std::vector<double>> out;
    const test::CliRun r = run(QStringList{QStringLiteral("embed"), QStringLiteral("image")} + paths
                               + QStringList{QStringLiteral("--json")});
    if (r.exitCode != 0)
        qWarning("embed image: %s", qPrintable(r.err));
    for (const QJsonValue &item : r.json().value(QStringLiteral("items")).toArray()) {
        std::vector<double> f;
        for (const QJsonValue &x : item.toObject().value(QStringLiteral("feature")).toArray())
            f.push_back(x.toDouble());
        out[item.toObject().value(QStringLiteral("file")).toString()] = f;
    }
    return out;
}

namespace {

double cosine(const std::vector<double> &a, const std::vector<double> &b)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    return ab / std::sqrt(aa * bb);
}

// The groups of a `duplicates --json` document as sets of file names.
QList<QSet<QString>> groupNames(const QJsonObject &doc)
{
    QList<QSet<QString>> out;
    for (const QJsonValue &g : doc.value(QStringLiteral("groups")).toArray()) {
        QSet<QString> names;
        for (const QJsonValue &i : g.toObject().value(QStringLiteral("items")).toArray())
            names.insert(QFileInfo(i.toObject().value(QStringLiteral("path")).toString()).fileName());
        out.append(names);
    }
    return out;
}

std::vector<float> unitVector(int dim, std::initializer_list<std::pair<int, float>> parts)
{
    std::vector<float> v(size_t(dim), 0.f);
    float n = 0;
    for (auto [i, x] : parts) {
        v[size_t(i)] = x;
        n += x * x;
    }
    for (float &x : v)
        x /= std::sqrt(n);
    return v;
}

} // namespace

void TestDuplicates::byteCopiesNeedSameHashAndSize()
{
    const std::vector<engine::DuplicateCandidate> c{
        {1, 0, QStringLiteral("aa"), 100}, {2, 0, QStringLiteral("bb"), 100}, {3, 0, QStringLiteral("aa"), 100},
        {4, 0, QStringLiteral("aa"), 101}, {5, 0, QString(), 100},           {6, 0, QString(), 100}};
    const auto links = engine::byteCopyLinks(c);
    const auto groups = engine::joinLinks(c.size(), links);
    QCOMPARE(groups.size(), size_t(1));
    QCOMPARE(groups[0], (std::vector<size_t>{0, 2}));  // not 4 (another size), not the hashless ones
    QCOMPARE(links[0].similarity, 1.0);
}

void TestDuplicates::nearCopiesJoinThroughChains()
{
    index::VectorStore::Params p;
    p.dim = 8;
    index::VectorStore store(p);
    // A~B (cos ≈ 0.995), B~C (≈ 0.995), A·C ≈ 0.98; D far from all, E a moment of a video
    // (no candidate) right next to D: it must not pull D into a group.
    const std::vector<std::vector<float>> v{unitVector(8, {{0, 1.f}}),
                                            unitVector(8, {{0, 1.f}, {1, 0.1f}}),
                                            unitVector(8, {{0, 1.f}, {1, 0.2f}}),
                                            unitVector(8, {{5, 1.f}}),
                                            unitVector(8, {{5, 1.f}, {6, 0.01f}})};
    std::vector<float> flat;
    for (const auto &x : v)
        flat.insert(flat.end(), x.begin(), x.end());
    const std::vector<std::int64_t> ids{11, 12, 13, 14, 15};
    store.add(ids, flat);
    const std::vector<engine::DuplicateCandidate> c{
        {1, 11, {}, 1}, {2, 12, {}, 2}, {3, 13, {}, 3}, {4, 14, {}, 4}, {5, 0, {}, 5}};
    engine::DuplicateParams params;
    params.threshold = 0.99;
    params.tables = 64;  // four vectors in 8-d: many small tables find every close pair
    params.bits = 4;
    int calls = 0;
    const auto links = engine::nearCopyLinks(store, c, params, [&](const engine::DuplicateProgress &pr) {
        ++calls;
        return pr.done <= pr.total;
    });
    QVERIFY(links);
    QCOMPARE(calls, 1 + 64);  // hashing, then each table
    QCOMPARE(engine::joinLinks(c.size(), *links), (std::vector<std::vector<size_t>>{{0, 1, 2}}));
    QCOMPARE(links->size(), size_t(2));  // enough to join A, B and C
    for (const engine::DuplicateLink &l : *links)
        QVERIFY(l.a < l.b && l.similarity >= 0.99);
    // Cancelled from the progress callback: no result.
    QVERIFY(!engine::nearCopyLinks(store, c, params, [](const engine::DuplicateProgress &) { return false; }));
}

void TestDuplicates::cliGroupsCopiesAndLeavesDistinctPhotosApart()
{
    registerModel();
    // Four distinct photos; a: a byte copy and a half-size copy; b: a JPEG at quality 60.
    const QStringList originals{QStringLiteral("a.png"), QStringLiteral("b.png"), QStringLiteral("c.png"),
                                QStringLiteral("d.png")};
    for (int i = 0; i < originals.size(); ++i)
        QVERIFY(test::randomImage(320, 240, 7000 + quint32(i) * 31, false).save(photo(originals[i])));
    QVERIFY(QFile::copy(photo(QStringLiteral("a.png")), photo(QStringLiteral("a copy.png"))));
    const QImage a(photo(QStringLiteral("a.png")));
    QVERIFY(a.scaled(160, 120, Qt::IgnoreAspectRatio, Qt::SmoothTransformation)
                .save(photo(QStringLiteral("a small.png"))));
    QVERIFY(QImage(photo(QStringLiteral("b.png"))).save(photo(QStringLiteral("b q60.jpg")), "JPEG", 60));

    // The threshold between the copies' cosines and the distinct photos', measured here.
    auto f = embed({photo(QStringLiteral("a.png")), photo(QStringLiteral("a small.png")),
                    photo(QStringLiteral("b.png")), photo(QStringLiteral("b q60.jpg")),
                    photo(QStringLiteral("c.png")), photo(QStringLiteral("d.png"))});
    QCOMPARE(f.size(), size_t(6));
    const double copies = std::min(cosine(f[photo(QStringLiteral("a.png"))], f[photo(QStringLiteral("a small.png"))]),
                                   cosine(f[photo(QStringLiteral("b.png"))], f[photo(QStringLiteral("b q60.jpg"))]));
    double distinct = -1;
    for (int i = 0; i < originals.size(); ++i)
        for (int j = i + 1; j < originals.size(); ++j)
            distinct = std::max(distinct, cosine(f[photo(originals[i])], f[photo(originals[j])]));
    // Copies must stand clearly apart from distinct photos, or no threshold is right.
    QVERIFY2(copies - distinct > 0.01, qPrintable(QStringLiteral("copies %1, distinct %2").arg(copies).arg(distinct)));
    const double threshold = (copies + distinct) / 2;
    qInfo("cosines: copies >= %.4f, distinct photos <= %.4f, threshold %.4f", copies, distinct, threshold);

    VERIFY_RUN(run({QStringLiteral("index"), m_photos}), 0);
    const test::CliRun r = run({QStringLiteral("duplicates"), QStringLiteral("--threshold"),
                                QString::number(threshold, 'f', 4), QStringLiteral("--json")});
    VERIFY_RUN(r, 0);
    QList<QSet<QString>> groups = groupNames(r.json());
    std::sort(groups.begin(), groups.end(), [](const auto &x, const auto &y) { return x.size() > y.size(); });
    QCOMPARE(groups.size(), 2);
    QCOMPARE(groups[0], (QSet<QString>{QStringLiteral("a.png"), QStringLiteral("a copy.png"),
                                       QStringLiteral("a small.png")}));
    QCOMPARE(groups[1], (QSet<QString>{QStringLiteral("b.png"), QStringLiteral("b q60.jpg")}));
    // Each item: path, itemId, similarity to the group's first (1 for the byte copy), the
    // first being the largest picture.
    for (const QJsonValue &g : r.json().value(QStringLiteral("groups")).toArray()) {
        const QJsonArray items = g.toObject().value(QStringLiteral("items")).toArray();
        QVERIFY(!items[0].toObject().value(QStringLiteral("path")).toString().contains(QStringLiteral("small")));
        for (const QJsonValue &i : items) {
            const QJsonObject o = i.toObject();
            QVERIFY(o.value(QStringLiteral("itemId")).toInteger() > 0);
            QVERIFY(o.value(QStringLiteral("similarity")).toDouble() >= threshold - 1e-3);
            if (o.value(QStringLiteral("path")).toString().endsWith(QStringLiteral("a copy.png")))
                QCOMPARE(o.value(QStringLiteral("similarity")).toDouble(), 1.0);
        }
    }
    // Byte copies are found at any threshold, near copies only when close enough.
    const test::CliRun strict = run({QStringLiteral("duplicates"), QStringLiteral("--threshold"),
                                     QStringLiteral("1"), QStringLiteral("--json")});
    VERIFY_RUN(strict, 0);
    QVERIFY(groupNames(strict.json()).contains(QSet<QString>{QStringLiteral("a.png"), QStringLiteral("a copy.png")})
            || groupNames(strict.json()).contains(
                QSet<QString>{QStringLiteral("a.png"), QStringLiteral("a copy.png"), QStringLiteral("a small.png")}));
    // The text output names the copies.
    const test::CliRun text = run({QStringLiteral("duplicates")});
    VERIFY_RUN(text, 0);
    QVERIFY2(text.out.contains(QStringLiteral("a copy.png")) && text.out.contains(QStringLiteral("same bytes")),
             qPrintable(text.out));
}

void TestDuplicates::thresholdIsValidated()
{
    for (const QString &bad : {QStringLiteral("0"), QStringLiteral("1.5"), QStringLiteral("-0.2"),
                               QStringLiteral("high"), QStringLiteral("nan")}) {
        const test::CliRun r = run({QStringLiteral("duplicates"), QStringLiteral("--threshold"), bad});
        VERIFY_RUN(r, 2);
        QVERIFY2(r.err.contains(QStringLiteral("--threshold")) && r.err.contains(bad), qPrintable(r.err));
    }
}

void TestDuplicates::withoutModelTheErrorSaysWhatToDo()
{
    const test::CliRun r = run({QStringLiteral("duplicates"), QStringLiteral("--json")});
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("model"), Qt::CaseInsensitive), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
}

QTEST_MAIN(TestDuplicates)
#include "tst_duplicates.moc"
