// The progressive ITM re-rank (Searcher::rerank, core/engine/search.h) and the image-token
// cache (core/engine/tokencache.h), on the API, with the fixture model
// (../shared/fixtures/uniadapter/retrieval-image) loaded at float32 and a library indexed
// by unisearch-cli (the 3 fixture images and 6 decoys):
// - rerank() after a search without re-ranking gives what search() with re-ranking gives,
//   and the fixture images' probabilities are the reference's;
// - updates come before the end, each ordered by the documented rule, the last one is the
//   final result, and the final order is by match probability;
// - an update returning false cancels: no result, no error, no further update;
// - a second re-rank of the same items takes their tokens from the cache (no encoding) and
//   gives the same probabilities; a file with a new mtime misses; the byte bound evicts the
//   least recently used entry.
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "engine/inference.h"
#include "engine/retrievalmodel.h"
#include "engine/search.h"
#include "engine/tokencache.h"
#include "model/modelrunner.h"
#include "model/preprocess.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/npy.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using namespace unisearch;

class TestRerank : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();

    void rerankIsTheSearchsRerank();
    void updatesComeBeforeTheEnd();
    void falseCancels();
    void secondRerankUsesTheCache();
    void changedFileMisses();
    void byteBoundEvictsTheLeastRecentlyUsed();
    void warmUpRunsTheTextTower();

private:
    QString caption(int k) const;
    QString fixtureImage(int i) const { return m_photos + QStringLiteral("/img%1.png").arg(i); }
    engine::SearchParams params(const QString &text) const;
    engine::SearchResult storeResult(const engine::SearchParams &p);
    engine::SearchResult reranked(const engine::SearchParams &p, const engine::RerankUpdateFn &onUpdate = {});
    static QStringList paths(const engine::SearchResult &r);

    QTemporaryDir m_tmp;
    QString m_data;
    QString m_photos;
    std::unique_ptr<catalog::Catalog> m_catalog;
    std::shared_ptr<engine::RetrievalModel> m_model;
    std::unique_ptr<engine::SearchSession> m_session;
};

void TestRerank::initTestCase()
{
    qputenv("UNISEARCH_VOCAB", test::vocabPath().toUtf8());
    m_data = m_tmp.filePath(QStringLiteral("data"));
    m_photos = m_tmp.filePath(QStringLiteral("photos"));
    QVERIFY(QDir().mkpath(m_photos + QStringLiteral("/decoys")));
    m_photos = QDir(m_photos).canonicalPath();
    const QString dir = test::caseDir(QStringLiteral("retrieval-image"));
    for (int i = 0; i < 3; ++i)
        QVERIFY(QFile::copy(QStringLiteral("%1/img%2.png").arg(dir).arg(i), fixtureImage(i)));
    for (int i = 0; i < 6; ++i)
        QVERIFY(test::randomImage(i < 3 ? 32 : 80, i < 3 ? 32 : 60, 2000 + quint32(i))
                    .save(QStringLiteral("%1/decoys/decoy%2.png").arg(m_photos).arg(i)));

    // The fixture model imported as a person does, the folder indexed by the CLI.
    engine::ModelInfo info;
    {
        engine::Engine library;
        engine::Engine::Options options;
        options.dataDir = m_data;
        options.device = QStringLiteral("cpu");
        QVERIFY2(library.open(options), qPrintable(library.errorString()));
        QString error;
        const auto imported = library.importModel(test::caseWeights(QStringLiteral("retrieval-image")),
                                                  QStringLiteral("fixture"), engine::retrievalTask,
                                                  test::caseArchitectureJson(QStringLiteral("retrieval-image")), &error);
        QVERIFY2(imported, qPrintable(error));
        info = imported->model;
    }
    const test::CliRun indexed = test::runProgram(QStringLiteral(UNISEARCH_CLI_PATH),
                                                  {QStringLiteral("--threads"), QStringLiteral("1"), QStringLiteral("index"), m_photos},
                                                  test::cliEnvironment(m_data, m_tmp.path()));
    VERIFY_RUN(indexed, 0);

    // float32 asked for explicitly: the reference probabilities are float32's.
    engine::InferenceOptions options;
    options.precision = QStringLiteral("float32");
    QString error;
    m_model = engine::RetrievalModel::fromService(std::make_unique<engine::InferenceService>(info, options), &error);
    QVERIFY2(m_model, qPrintable(error));
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    m_catalog = std::move(opened.catalog);
    m_session = engine::SearchSession::open(*m_catalog, m_data, m_model, &error);
    QVERIFY2(m_session, qPrintable(error));
    QCOMPARE(m_session->vectorCount(), 9);
}

void TestRerank::init()
{
    m_model->tokenCache().clear();
}

QString TestRerank::caption(int k) const
{
    return QString::fromStdString(test::readCase(QStringLiteral("retrieval-image")).at("captions")[size_t(k)].get<std::string>());
}

engine::SearchParams TestRerank::params(const QString &text) const
{
    engine::SearchParams p;
    p.text = text;
    p.top = 9;
    p.rerankCount = 9;  // everything: the fixture library is small
    p.rerankBatch = 2;
    return p;
}

engine::SearchResult TestRerank::storeResult(const engine::SearchParams &p)
{
    engine::SearchParams plain = p;
    plain.rerank = false;
    QString error;
    const auto r = m_session->searcher().search(plain, &error);
    if (!r)
        qWarning("search failed: %s", qPrintable(error));
    return r.value_or(engine::SearchResult{});
}

engine::SearchResult TestRerank::reranked(const engine::SearchParams &p, const engine::RerankUpdateFn &onUpdate)
{
    QString error;
    const auto r = m_session->searcher().rerank(storeResult(p), p, onUpdate, &error);
    if (!r)
        qWarning("rerank failed: %s", qPrintable(error));
    return r.value_or(engine::SearchResult{});
}

QStringList TestRerank::paths(const engine::SearchResult &r)
{
    QStringList out;
    for (const engine::SearchHit &h : r.hits)
        out.append(h.path);
    return out;
}

void TestRerank::rerankIsTheSearchsRerank()
{
    const test::Npy itm = test::readNpy(test::caseDir(QStringLiteral("retrieval-image")) + QStringLiteral("/itm_prob.npy"));
    for (int k = 0; k < 3; ++k) {
        engine::SearchParams p = params(caption(k));
        const engine::SearchResult store = storeResult(p);
        QCOMPARE(store.hits.size(), 9);
        QVERIFY(!store.reranked);
        QString error;
        const auto progressive = m_session->searcher().rerank(store, p, {}, &error);
        QVERIFY2(progressive, qPrintable(error));
        p.rerank = true;
        const auto searched = m_session->searcher().search(p, &error);
        QVERIFY2(searched, qPrintable(error));

        QVERIFY(progressive->reranked && searched->reranked);
        QCOMPARE(paths(*progressive), paths(*searched));
        QCOMPARE(progressive->noGoodMatch, searched->noGoodMatch);
        QVERIFY(progressive->bestItmProbability && searched->bestItmProbability);
        for (qsizetype i = 0; i < 9; ++i) {
            QVERIFY(progressive->hits[i].itmProbability && searched->hits[i].itmProbability);
            QVERIFY(std::abs(*progressive->hits[i].itmProbability - *searched->hits[i].itmProbability) < 1e-5);
        }
        // The fixture images' probabilities are the reference's (their tokens cached or not).
        for (const engine::SearchHit &h : progressive->hits)
            for (int i = 0; i < 3; ++i)
                if (h.path == fixtureImage(i))
                    QVERIFY2(std::abs(*h.itmProbability - itm.at({i, k})) < 1e-3,
                             qPrintable(QStringLiteral("%1 vs %2").arg(*h.itmProbability).arg(itm.at({i, k}))));
        QCOMPARE(progressive->noGoodMatch, *progressive->bestItmProbability < p.relevanceThreshold);
    }
}

void TestRerank::updatesComeBeforeTheEnd()
{
    const engine::SearchParams p = params(caption(0));
    const QStringList storeOrder = paths(storeResult(p));
    QList<engine::SearchResult> updates;
    QList<int> done;
    const engine::SearchResult final = reranked(p, [&](const engine::SearchResult &partial, int d, int total) {
        updates.append(partial);
        done.append(d);
        return total == 9;
    });
    QCOMPARE(done, (QList<int>{2, 4, 6, 8, 9}));  // batches of 2 in store order
    QVERIFY(final.reranked);
    QCOMPARE(paths(updates.last()), paths(final));
    for (qsizetype u = 0; u + 1 < updates.size(); ++u) {
        const engine::SearchResult &partial = updates[u];
        QVERIFY(!partial.reranked);
        QVERIFY(!partial.noGoodMatch);
        QCOMPARE(partial.hits.size(), 9);
        // Scored ≥ threshold first, then the unscored in store order, then scored < threshold.
        int group = 0;
        QStringList pending;
        for (const engine::SearchHit &h : partial.hits) {
            const int g = !h.itmProbability ? 1 : *h.itmProbability >= p.relevanceThreshold ? 0 : 2;
            QVERIFY2(g >= group, qPrintable(paths(partial).join(QLatin1Char(' '))));
            group = g;
            if (!h.itmProbability)
                pending.append(h.path);
        }
        QCOMPARE(pending.size(), 9 - done[u]);
        QStringList expected = storeOrder.mid(done[u]);  // not scored yet: store order
        QCOMPARE(pending, expected);
    }
    // The final order: by match probability.
    for (qsizetype i = 1; i < final.hits.size(); ++i)
        QVERIFY(*final.hits[i - 1].itmProbability >= *final.hits[i].itmProbability);
}

void TestRerank::falseCancels()
{
    const engine::SearchParams p = params(caption(1));
    int calls = 0;
    QString error;
    const auto r = m_session->searcher().rerank(storeResult(p), p,
                                                [&](const engine::SearchResult &, int, int) {
                                                    ++calls;
                                                    return false;
                                                },
                                                &error);
    QVERIFY(!r);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(calls, 1);
}

void TestRerank::secondRerankUsesTheCache()
{
    const engine::TokenCacheStats before = m_model->tokenCache().stats();
    const engine::SearchResult first = reranked(params(caption(0)));
    const engine::TokenCacheStats mid = m_model->tokenCache().stats();
    QCOMPARE(mid.misses - before.misses, 9);  // decoded and encoded
    QCOMPARE(mid.hits - before.hits, 0);
    QCOMPARE(mid.entries, size_t(9));
    QVERIFY(mid.bytes > 0);

    const engine::SearchResult second = reranked(params(caption(0)));
    const engine::TokenCacheStats after = m_model->tokenCache().stats();
    QCOMPARE(after.misses - mid.misses, 0);  // nothing encoded again
    QCOMPARE(after.hits - mid.hits, 9);
    QCOMPARE(paths(second), paths(first));
    for (qsizetype i = 0; i < 9; ++i)
        QVERIFY(std::abs(*second.hits[i].itmProbability - *first.hits[i].itmProbability) < 1e-6);

    // A refined query matches the kept tokens too.
    reranked(params(caption(0) + QStringLiteral(" outside")));
    QCOMPARE(m_model->tokenCache().stats().misses - after.misses, 0);
}

void TestRerank::changedFileMisses()
{
    reranked(params(caption(2)));
    const engine::TokenCacheStats before = m_model->tokenCache().stats();
    QFile file(fixtureImage(1));
    QVERIFY(file.open(QIODevice::ReadWrite));
    QVERIFY(file.setFileTime(QDateTime::currentDateTimeUtc().addSecs(3600), QFileDevice::FileModificationTime));
    file.close();
    reranked(params(caption(2)));
    const engine::TokenCacheStats after = m_model->tokenCache().stats();
    QCOMPARE(after.misses - before.misses, 1);
    QCOMPARE(after.hits - before.hits, 8);
}

void TestRerank::byteBoundEvictsTheLeastRecentlyUsed()
{
    std::vector<std::vector<float>> pixels;
    for (quint32 seed = 0; seed < 3; ++seed) {
        const QImage image = test::randomImage(m_model->imageSize(), m_model->imageSize(), 3000 + seed)
                                 .convertToFormat(QImage::Format_RGB888);
        model::RgbImage rgb;
        rgb.width = image.width();
        rgb.height = image.height();
        for (int y = 0; y < image.height(); ++y)
            rgb.rgb.insert(rgb.rgb.end(), image.constScanLine(y), image.constScanLine(y) + 3 * image.width());
        pixels.emplace_back(model::preprocessedSize(m_model->preprocessParams()));
        model::preprocessInto(rgb, m_model->preprocessParams(), pixels.back().data());
    }
    const auto tokens = m_model->imageTokensBatch({pixels[0].data(), pixels[1].data(), pixels[2].data()});
    QCOMPARE(tokens.size(), size_t(3));
    const size_t bytes = model::visualTokensBytes(*tokens[0]);
    QVERIFY(bytes > 0);

    engine::TokenCache cache(engine::TokenCacheParams{2 * bytes});  // room for two
    const auto key = [](std::int64_t id) { return engine::TokenKey{id, 100, 1000, QStringLiteral("m")}; };
    cache.insert(key(1), tokens[0], bytes);
    cache.insert(key(2), tokens[1], bytes);
    QVERIFY(cache.find(key(1)));  // 1 is now the most recently used
    cache.insert(key(3), tokens[2], bytes);
    QVERIFY(!cache.find(key(2)));  // the least recently used went
    QCOMPARE(cache.find(key(1)), tokens[0]);
    QCOMPARE(cache.find(key(3)), tokens[2]);
    QCOMPARE(cache.stats().evictions, 1);
    QCOMPARE(cache.stats().bytes, 2 * bytes);
    // Another file state or another model is another key.
    QVERIFY(!cache.find(engine::TokenKey{1, 100, 2000, QStringLiteral("m")}));
    QVERIFY(!cache.find(engine::TokenKey{1, 100, 1000, QStringLiteral("other")}));
    // Tokens larger than the bound are not kept.
    engine::TokenCache tiny(engine::TokenCacheParams{bytes - 1});
    tiny.insert(key(1), tokens[0], bytes);
    QCOMPARE(tiny.stats().entries, size_t(0));
}

void TestRerank::warmUpRunsTheTextTower()
{
    QString error;
    QVERIFY2(m_session->warmUp(&error), qPrintable(error));
}

QTEST_GUILESS_MAIN(TestRerank)
#include "tst_rerank.moc"
