// Keyword search (issue 16): the FTS5 expression is built from quoted words only, so no user
// text is FTS5 syntax; the keyword index follows the catalog (names and folders of new items,
// a move renames, changed content drops the OCR text, a deletion removes the row); reciprocal
// rank fusion orders keyword and semantic hits as documented and leaves a query without
// keyword hits untouched. (The end-to-end invoice search through unisearch-cli is in tst_ocr.)
#include "catalog/catalog.h"
#include "catalog/reader.h"
#include "engine/keywordsearch.h"

#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;

namespace {

engine::SearchHit hit(std::int64_t id, float score)
{
    engine::SearchHit h;
    h.itemId = id;
    h.segmentId = id;
    h.score = score;
    h.path = QStringLiteral("/p/%1.png").arg(id);
    return h;
}

QList<std::int64_t> ids(const QList<engine::SearchHit> &hits)
{
    QList<std::int64_t> out;
    for (const engine::SearchHit &h : hits)
        out << h.itemId;
    return out;
}

QList<std::int64_t> matches(catalog::TextIndex &index, const QString &query)
{
    QList<std::int64_t> out;
    for (const catalog::KeywordMatch &m : index.match(engine::ftsExpression(query), 50))
        out << m.itemId;
    return out;
}

} // namespace

class TestKeywordSearch : public QObject
{
    Q_OBJECT

private slots:
    void expressionQuotesEveryWord_data();
    void expressionQuotesEveryWord();
    void hostileQueriesAreOnlyWords();
    void indexFollowsTheCatalog();
    void fusionOrder();
    void noKeywordHitKeepsTheSemanticOrder();
};

void TestKeywordSearch::expressionQuotesEveryWord_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expression");
    QTest::newRow("plain") << "invoice 4471" << "\"invoice\" \"4471\"";
    QTest::newRow("operators") << "cats OR dogs NOT birds" << "\"cats\" \"OR\" \"dogs\" \"NOT\" \"birds\"";
    QTest::newRow("syntax") << "NEAR(\"a\" b*, 3) ^c:d" << "\"NEAR\" \"a\" \"b\" \"3\" \"c\" \"d\"";
    QTest::newRow("file name") << "beach_party-2024.jpg" << "\"beach\" \"party\" \"2024\" \"jpg\"";
    QTest::newRow("accents") << "Café Zürich" << "\"Café\" \"Zürich\"";
    QTest::newRow("no words") << "\"*()-+: \"" << "";
}

void TestKeywordSearch::expressionQuotesEveryWord()
{
    QFETCH(QString, text);
    QFETCH(QString, expression);
    QCOMPARE(engine::ftsExpression(text), expression);
}

void TestKeywordSearch::hostileQueriesAreOnlyWords()
{
    // Bounded: at most 16 words of at most 64 characters.
    const QString many = QStringLiteral("w ").repeated(100) + QStringLiteral("x").repeated(500);
    const QString e = engine::ftsExpression(many);
    QCOMPARE(e.count(QLatin1Char('"')), 32);
    QVERIFY(e.size() < 16 * 70);

    QTemporaryDir tmp;
    catalog::OpenResult opened = catalog::Catalog::open(tmp.path());
    QVERIFY2(opened, qPrintable(opened.error));
    catalog::TextIndex index(tmp.path());
    // Each of these is an FTS5 syntax error if passed raw; quoted they are words that match nothing.
    for (const QString &q : {QStringLiteral("NEAR(\""), QStringLiteral("a OR"), QStringLiteral("* AND ("),
                             QStringLiteral("name:x"), QStringLiteral("\"\"\"")})
        QVERIFY(matches(index, q).isEmpty());
}

void TestKeywordSearch::indexFollowsTheCatalog()
{
    QTemporaryDir tmp;
    catalog::OpenResult opened = catalog::Catalog::open(tmp.path());
    QVERIFY2(opened, qPrintable(opened.error));
    catalog::Catalog &cat = *opened.catalog;
    const std::int64_t root = cat.addRoot(QStringLiteral("/library/media"));
    catalog::Item a;
    a.rootId = root;
    a.path = QStringLiteral("/library/media/Holiday 2024/beach_party.png");
    a.contentHash = QStringLiteral("h1");
    a.status = catalog::ItemStatus::Indexed;
    const std::int64_t idA = cat.upsertItem(a);
    catalog::Item b = a;
    b.path = QStringLiteral("/library/media/receipts/scan.png");
    b.contentHash = QStringLiteral("h2");
    const std::int64_t idB = cat.upsertItem(b);

    catalog::TextIndex index(tmp.path());
    QCOMPARE(matches(index, QStringLiteral("beach party")), QList<std::int64_t>{idA});
    QCOMPARE(matches(index, QStringLiteral("holiday 2024")), QList<std::int64_t>{idA});  // its folder
    QVERIFY(matches(index, QStringLiteral("library")).isEmpty());  // above the library folder: not indexed
    QVERIFY(matches(index, QStringLiteral("beach receipts")).isEmpty());  // all words required
    const std::vector<catalog::KeywordMatch> named = index.match(engine::ftsExpression(QStringLiteral("party")), 5);
    QCOMPARE(named.size(), size_t(1));
    QVERIFY2(named[0].snippet.contains(QStringLiteral("beach_party.png")), qPrintable(named[0].snippet));

    // OCR text is found, and pending OCR is listed until it is done.
    QCOMPARE(cat.countPendingOcr(QStringLiteral("eng")), qint64(2));
    cat.setOcrText(idB, QStringLiteral("INVOICE 4471\nACME Tools"), QStringLiteral("eng"));
    QCOMPARE(cat.countPendingOcr(QStringLiteral("eng")), qint64(1));
    QCOMPARE(cat.countPendingOcr(QStringLiteral("deu+eng")), qint64(2));  // other languages: read again
    QCOMPARE(matches(index, QStringLiteral("invoice 4471")), QList<std::int64_t>{idB});

    // A move renames; changed content drops the stale text; a deletion removes the row.
    cat.moveItem(idA, QStringLiteral("/library/media/sunset.png"), root);
    QVERIFY(matches(index, QStringLiteral("beach")).isEmpty());
    QCOMPARE(matches(index, QStringLiteral("sunset")), QList<std::int64_t>{idA});
    b.contentHash = QStringLiteral("h3");
    cat.upsertItem(b);
    QVERIFY(matches(index, QStringLiteral("invoice")).isEmpty());
    QCOMPARE(cat.ocrText(idB).value_or(QStringLiteral("?")), QString());
    QCOMPARE(cat.countPendingOcr(QStringLiteral("eng")), qint64(2));
    QVERIFY(cat.removeItem(idB));
    QVERIFY(matches(index, QStringLiteral("scan")).isEmpty());
    QVERIFY(!cat.ocrText(idB));
}

void TestKeywordSearch::fusionOrder()
{
    // Semantic A, B, C; keyword D (not among the semantic hits), then B. RRF with k = 60:
    // B 1/62 + 1/62 = .03226 > D 1/61 + 1/64 = .03202 > A 1/61 = .01639 > C 1/63 = .01587.
    const QList<engine::SearchHit> semantic{hit(1, 0.9f), hit(2, 0.8f), hit(3, 0.7f)};
    const QList<engine::KeywordHit> keyword{{4, QStringLiteral("INVOICE 4471")}, {2, QStringLiteral("beach_party.png")}};
    QList<std::int64_t> completed;
    const QList<engine::SearchHit> fused = engine::fuseRankings(semantic, keyword, [&](std::int64_t id) {
        completed << id;
        return std::optional<engine::SearchHit>(hit(id, 0.1f));
    });
    QCOMPARE(ids(fused), (QList<std::int64_t>{2, 4, 1, 3}));
    QCOMPARE(completed, QList<std::int64_t>{4});  // only what the semantic list lacks
    QCOMPARE(fused[0].matchedText, QStringLiteral("beach_party.png"));
    QCOMPARE(fused[1].matchedText, QStringLiteral("INVOICE 4471"));
    QCOMPARE(fused[1].score, 0.1f);  // its own cosine, not a fused number
    QVERIFY(fused[2].matchedText.isEmpty() && fused[3].matchedText.isEmpty());

    // A keyword hit that cannot be completed (filtered out, not indexed) is dropped.
    const QList<engine::SearchHit> dropped =
        engine::fuseRankings(semantic, keyword, [](std::int64_t) { return std::optional<engine::SearchHit>(); });
    QCOMPARE(ids(dropped), (QList<std::int64_t>{2, 1, 3}));
}

void TestKeywordSearch::noKeywordHitKeepsTheSemanticOrder()
{
    const QList<engine::SearchHit> semantic{hit(3, 0.9f), hit(1, 0.8f), hit(2, 0.7f)};
    const QList<engine::SearchHit> fused = engine::fuseRankings(semantic, {}, {});
    QCOMPARE(ids(fused), ids(semantic));
    for (const engine::SearchHit &h : fused)
        QVERIFY(h.matchedText.isEmpty());
}

QTEST_GUILESS_MAIN(TestKeywordSearch)
#include "tst_keywordsearch.moc"
