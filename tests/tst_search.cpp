// The Searcher's own rules (core/engine/search), on the API, with the fixture model
// (../shared/fixtures/uniadapter/retrieval-image) for the text features and a catalog and
// vector store built here by hand:
// - the results are the top K items, best first;
// - filters: by type, by folder (or below), by capture time (from inclusive, to exclusive):
//   the wall clock of item_meta whatever its offset, the file time in the local zone for an
//   item without a row; every hit carries its capture metadata;
// - a video's segments group into one hit: its score is its best vector's, its moments are
//   its segments within the margin of the best, best first (the video-level vector is
//   none), at most maxMoments, the hit's time range is the best moment's;
// - "similar" starts from the file's stored vector and leaves the file itself out;
// - an empty library gives no hits and no error.
//
// The stored vectors are made at chosen cosines with the query (the text feature, or the
// similar file's vector): c·q + √(1−c²)·u with u a unit vector orthogonal to q. Every
// order asserted is between cosines at least 0.04 apart, so it holds for any correct
// arithmetic (the text feature as the model computes it anywhere, float32 or reduced store
// codes).
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "engine/inference.h"
#include "engine/retrievalmodel.h"
#include "engine/search.h"
#include "index/vectorstore.h"
#include "media/filepath.h"
#include "support/fixtures.h"
#include "support/workspace.h"

#include <QDir>
#include <QImage>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using namespace unisearch;

namespace {

const QString queryText = QStringLiteral("a red circle on a blue field");

} // namespace

class TestSearch : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void topKBestFirst();
    void typeFilter();
    void folderFilter();
    void dateFilter();
    void captureTimeFilter();
    void videoSegmentsGroupIntoOneHit();
    void similarLeavesTheFileOut();
    void emptyLibrary();

private:
    // An indexed item at path with one vector per (startMs, endMs, cosine) segment.
    struct Segment {
        std::int64_t startMs = 0;
        std::int64_t endMs = 0;
        double cosine = 0;
    };
    std::int64_t addItem(const QString &path, catalog::ItemType type, const QList<Segment> &segments,
                         std::int64_t mtimeMs = 1'600'000'000'000LL, const std::vector<float> *query = nullptr);
    std::int64_t addImage(const QString &path, double cosine, std::int64_t mtimeMs = 1'600'000'000'000LL)
    {
        return addItem(path, catalog::ItemType::Image, {{0, 0, cosine}}, mtimeMs);
    }
    // A unit vector at cosine c with query (the next free orthogonal direction).
    std::vector<float> at(const std::vector<float> &query, double c);
    std::unique_ptr<engine::Searcher> searcher();
    std::optional<engine::SearchResult> search(engine::SearchParams params);
    QStringList paths(const engine::SearchResult &r) const;

    QTemporaryDir m_shared;
    std::shared_ptr<engine::RetrievalModel> m_model;
    std::vector<float> m_query;  // the text feature of queryText
    int m_dim = 0;

    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_photos;  // canonical
    std::unique_ptr<catalog::Catalog> m_catalog;
    std::unique_ptr<index::VectorStore> m_store;
    int m_nextDirection = 0;
};

void TestSearch::initTestCase()
{
    // The fixture model imported as a person does (its own data dir), then loaded as the
    // engine loads any model (a service; RetrievalModel on top).
    qputenv("UNISEARCH_VOCAB", test::vocabPath().toUtf8());
    engine::Engine library;
    engine::Engine::Options engineOptions;
    engineOptions.dataDir = m_shared.path();
    engineOptions.device = QStringLiteral("cpu");
    QVERIFY2(library.open(engineOptions), qPrintable(library.errorString()));
    QString importError;
    const auto imported = library.importModel(test::caseWeights(QStringLiteral("retrieval-image")),
                                              QStringLiteral("fixture"), engine::retrievalTask,
                                              test::caseArchitectureJson(QStringLiteral("retrieval-image")),
                                              &importError);
    QVERIFY2(imported, qPrintable(importError));
    const engine::ModelInfo info = imported->model;
    engine::InferenceOptions float32; // the reference numbers are float32 (auto may be bfloat16)
    float32.precision = QStringLiteral("float32");
    QString error;
    m_model = engine::RetrievalModel::fromService(std::make_unique<engine::InferenceService>(info, float32),
                                                  &error);
    QVERIFY2(m_model, qPrintable(error));
    m_dim = m_model->embedDim();

    // The query's feature as the model gives it for the cleaned query (what search embeds).
    QString cleaned;
    QVERIFY(!m_model->encodeQuery(queryText, &cleaned).empty());
    engine::InferenceService service(info, float32);
    QString embedError;
    const auto features = service.embedTexts({cleaned}, &embedError);
    QVERIFY2(features, qPrintable(embedError));
    m_query = features->at(0);
    QCOMPARE(int(m_query.size()), m_dim);
}

void TestSearch::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_photos, QStringLiteral("photos")));
    catalog::OpenResult opened = catalog::Catalog::open(m_data);
    QVERIFY2(opened, qPrintable(opened.error));
    m_catalog = std::move(opened.catalog);
    index::VectorStore::Params store;
    store.dim = m_dim;
    m_store = std::make_unique<index::VectorStore>(store);
    m_nextDirection = 0;
}

void TestSearch::cleanup()
{
    m_store.reset();
    m_catalog.reset();
    m_tmp.reset();
}

std::vector<float> TestSearch::at(const std::vector<float> &query, double c)
{
    // u: a basis vector made orthogonal to the query (Gram-Schmidt), skipping any that the
    // query nearly contains.
    std::vector<float> u;
    while (true) {
        const int k = m_nextDirection++ % m_dim;
        u.assign(size_t(m_dim), 0.f);
        u[size_t(k)] = 1.f;
        const double along = query[size_t(k)];
        double norm = 0;
        for (int i = 0; i < m_dim; ++i) {
            u[size_t(i)] -= float(along * query[size_t(i)]);
            norm += double(u[size_t(i)]) * u[size_t(i)];
        }
        if (norm > 0.1) {
            for (float &x : u)
                x = float(x / std::sqrt(norm));
            break;
        }
    }
    const double s = std::sqrt(std::max(0.0, 1 - c * c));
    std::vector<float> v(static_cast<size_t>(m_dim));
    for (int i = 0; i < m_dim; ++i)
        v[size_t(i)] = float(c * query[size_t(i)] + s * u[size_t(i)]);
    return v;
}

std::int64_t TestSearch::addItem(const QString &path, catalog::ItemType type, const QList<Segment> &segments,
                                 std::int64_t mtimeMs, const std::vector<float> *query)
{
    catalog::Item item;
    item.path = path;
    item.type = type;
    item.size = 1000;
    item.mtimeMs = mtimeMs;
    item.width = 32;
    item.height = 32;
    item.durationS = type == catalog::ItemType::Video ? 9 : 0;
    item.status = catalog::ItemStatus::Indexed;
    const media::FileStatus file = media::fileStatus(path);  // a real file: what similar() compares
    if (file.type == media::FileType::File) {
        item.size = file.size;
        item.mtimeMs = file.mtimeMs;
    }
    const std::int64_t id = m_catalog->upsertItem(item);
    for (const Segment &s : segments) {
        const std::int64_t segment = m_catalog->addSegment(id, s.startMs, s.endMs);
        const std::vector<float> v = at(query ? *query : m_query, s.cosine);
        const std::int64_t ids[] = {segment};
        m_store->add(ids, v);
    }
    return id;
}

std::unique_ptr<engine::Searcher> TestSearch::searcher()
{
    return std::make_unique<engine::Searcher>(m_data, m_model, *m_store);
}

std::optional<engine::SearchResult> TestSearch::search(engine::SearchParams params)
{
    params.text = queryText;
    params.rerank = false;  // the store's order: the rules under test
    QString error;
    auto result = searcher()->search(params, &error);
    if (!result)
        qWarning("search failed: %s", qPrintable(error));
    return result;
}

QStringList TestSearch::paths(const engine::SearchResult &r) const
{
    QStringList out;
    for (const engine::SearchHit &h : r.hits)
        out.append(QFileInfo(h.path).fileName());
    return out;
}

void TestSearch::topKBestFirst()
{
    const double cosines[] = {0.3, 0.9, -0.1, 0.5, 0.1, 0.7};
    for (int i = 0; i < 6; ++i)
        addImage(m_photos + QStringLiteral("/img%1.png").arg(i), cosines[i]);

    engine::SearchParams params;
    params.top = 3;
    const auto top3 = search(params);
    QVERIFY(top3);
    QCOMPARE(paths(*top3), (QStringList{"img1.png", "img5.png", "img3.png"}));
    for (const engine::SearchHit &h : top3->hits) {
        QVERIFY(h.type == catalog::ItemType::Image);
        QVERIFY(h.moments.isEmpty());
        QCOMPARE(h.startMs, std::int64_t(0));
        QCOMPARE(h.endMs, std::int64_t(0));
    }
    // Scores are the cosines with the query.
    QVERIFY2(std::abs(top3->hits[0].score - 0.9) < 0.02, qPrintable(QString::number(top3->hits[0].score)));
    QVERIFY2(std::abs(top3->hits[2].score - 0.5) < 0.02, qPrintable(QString::number(top3->hits[2].score)));
    QCOMPARE(top3->cleanedQuery, queryText);
    QVERIFY(!top3->reranked);

    params.top = 20;
    const auto all = search(params);
    QVERIFY(all);
    QCOMPARE(paths(*all), (QStringList{"img1.png", "img5.png", "img3.png", "img0.png", "img4.png", "img2.png"}));

    // No results asked for: an error, not an empty list.
    QString error;
    params.top = 0;
    params.text = queryText;
    QVERIFY(!searcher()->search(params, &error));
    QVERIFY(!error.isEmpty());
}

void TestSearch::typeFilter()
{
    addImage(m_photos + QStringLiteral("/photo-a.png"), 0.9);
    addItem(m_photos + QStringLiteral("/clip-b.mp4"), catalog::ItemType::Video, {{0, 0, 0.8}, {0, 3000, 0.7}});
    addImage(m_photos + QStringLiteral("/photo-c.png"), 0.5);
    addItem(m_photos + QStringLiteral("/clip-d.mp4"), catalog::ItemType::Video, {{0, 0, 0.3}, {0, 3000, 0.2}});

    engine::SearchParams params;
    params.filter.type = catalog::ItemType::Image;
    const auto images = search(params);
    QVERIFY(images);
    QCOMPARE(paths(*images), (QStringList{"photo-a.png", "photo-c.png"}));

    params.filter.type = catalog::ItemType::Video;
    const auto videos = search(params);
    QVERIFY(videos);
    QCOMPARE(paths(*videos), (QStringList{"clip-b.mp4", "clip-d.mp4"}));
    for (const engine::SearchHit &h : videos->hits)
        QVERIFY(h.type == catalog::ItemType::Video);
}

void TestSearch::folderFilter()
{
    const QString a = m_photos + QStringLiteral("/a");
    const QString below = a + QStringLiteral("/below");
    const QString b = m_photos + QStringLiteral("/b");
    const QString ab = m_photos + QStringLiteral("/ab");  // a prefix of its name is no folder of it
    for (const QString &dir : {below, b, ab})
        QVERIFY(QDir().mkpath(dir));
    addImage(a + QStringLiteral("/a1.png"), 0.5);
    addImage(below + QStringLiteral("/a2.png"), 0.9);
    addImage(b + QStringLiteral("/b1.png"), 0.7);
    addImage(ab + QStringLiteral("/ab1.png"), 0.8);

    engine::SearchParams params;
    params.filter.folders = {a};
    const auto inA = search(params);
    QVERIFY(inA);
    QCOMPARE(paths(*inA), (QStringList{"a2.png", "a1.png"}));

    params.filter.folders = {b, below};
    const auto inB = search(params);
    QVERIFY(inB);
    QCOMPARE(paths(*inB), (QStringList{"a2.png", "b1.png"}));

    // A folder with nothing in it: no hits.
    const QString empty = m_photos + QStringLiteral("/empty");
    QVERIFY(QDir().mkpath(empty));
    params.filter.folders = {empty};
    const auto none = search(params);
    QVERIFY(none);
    QVERIFY(none->hits.isEmpty());
}

void TestSearch::dateFilter()
{
    const auto ms = [](int y, int m, int d) { return QDate(y, m, d).startOfDay().toMSecsSinceEpoch(); };
    addImage(m_photos + QStringLiteral("/2020.png"), 0.9, ms(2020, 1, 1));
    addImage(m_photos + QStringLiteral("/2021.png"), 0.7, ms(2021, 6, 1));
    addImage(m_photos + QStringLiteral("/2022.png"), 0.5, ms(2022, 1, 1));
    addImage(m_photos + QStringLiteral("/2023.png"), 0.3, ms(2023, 1, 1));

    engine::SearchParams params;
    params.filter.from = QDate(2021, 1, 1).startOfDay();
    params.filter.to = QDate(2022, 1, 1).startOfDay();  // exclusive: 2022.png is left out
    const auto between = search(params);
    QVERIFY(between);
    QCOMPARE(paths(*between), (QStringList{"2021.png"}));

    params.filter.from = QDate(2022, 1, 1).startOfDay();  // inclusive
    params.filter.to = QDateTime();
    const auto after = search(params);
    QVERIFY(after);
    QCOMPARE(paths(*after), (QStringList{"2022.png", "2023.png"}));

    params.filter.from = QDateTime();
    params.filter.to = QDate(2021, 6, 1).startOfDay();
    const auto before = search(params);
    QVERIFY(before);
    QCOMPARE(paths(*before), (QStringList{"2020.png"}));
}

void TestSearch::captureTimeFilter()
{
    // Wall clock ms of a date and time as written (no zone).
    const auto wall = [](int y, int mo, int d, int h, int mi) {
        return QDateTime(QDate(y, mo, d), QTime(h, mi), Qt::UTC).toMSecsSinceEpoch();
    };
    const auto local = [](int y, int mo, int d, int h) {
        return QDateTime(QDate(y, mo, d), QTime(h, 0), Qt::LocalTime).toMSecsSinceEpoch();
    };
    const auto taken = [&](std::int64_t id, std::int64_t wallMs, std::optional<int> offsetMin,
                           catalog::TakenSource source) {
        catalog::ItemMeta m;
        m.itemId = id;
        m.takenLocalMs = wallMs;
        m.takenOffsetMin = offsetMin;
        m.takenSource = source;
        m.readerVersion = 1;
        m_catalog->setItemMeta(m);
    };
    const std::int64_t outside = local(2020, 5, 5, 12);  // a file time far from the window
    // 00:30 on the 2nd where it was taken, the evening of the 1st in UTC: in.
    taken(addImage(m_photos + QStringLiteral("/east.png"), 0.9, outside), wall(2024, 1, 2, 0, 30), 5 * 60,
          catalog::TakenSource::Exif);
    // 23:30 on the 3rd (the last day, inclusive), the 4th in UTC: in.
    taken(addImage(m_photos + QStringLiteral("/west.png"), 0.8, outside), wall(2024, 1, 3, 23, 30), -5 * 60,
          catalog::TakenSource::Exif);
    // No offset known: in.
    taken(addImage(m_photos + QStringLiteral("/nooffset.png"), 0.7, outside), wall(2024, 1, 3, 12, 0), std::nullopt,
          catalog::TakenSource::Video);
    // Not read yet: its file time, noon of the 2nd here: in.
    addImage(m_photos + QStringLiteral("/fileonly.png"), 0.6, local(2024, 1, 2, 12));
    // Taken just before and just after the window, though modified inside it: out.
    taken(addImage(m_photos + QStringLiteral("/before.png"), 0.5, local(2024, 1, 2, 12)), wall(2024, 1, 2, 0, 0) - 1,
          std::nullopt, catalog::TakenSource::Exif);
    taken(addImage(m_photos + QStringLiteral("/after.png"), 0.4, local(2024, 1, 3, 12)), wall(2024, 1, 4, 0, 0),
          60, catalog::TakenSource::Exif);
    // Not read yet, modified after the window: out.
    addImage(m_photos + QStringLiteral("/filelater.png"), 0.3, local(2024, 1, 5, 12));

    engine::SearchParams params;
    params.filter.from = QDateTime(QDate(2024, 1, 2), QTime(0, 0), Qt::UTC);  // --from 2024-01-02
    params.filter.to = QDateTime(QDate(2024, 1, 4), QTime(0, 0), Qt::UTC);    // --to 2024-01-03
    const auto inside = search(params);
    QVERIFY(inside);
    QCOMPARE(paths(*inside), (QStringList{"east.png", "west.png", "nooffset.png", "fileonly.png"}));

    // The bounds are wall clock whatever their time spec: local midnight means the same.
    params.filter.from = QDate(2024, 1, 2).startOfDay();
    params.filter.to = QDate(2024, 1, 4).startOfDay();
    const auto sameLocal = search(params);
    QVERIFY(sameLocal);
    QCOMPARE(paths(*sameLocal), paths(*inside));

    // Each hit carries its capture time, offset and source.
    const engine::SearchHit &east = inside->hits.at(0);
    QCOMPARE(catalog::toString(east.meta.takenSource), catalog::toString(catalog::TakenSource::Exif));
    QCOMPARE(east.meta.takenOffsetMin, std::optional<int>(300));
    QCOMPARE(east.meta.takenIso(), QStringLiteral("2024-01-02T00:30:00+05:00"));
    QCOMPARE(inside->hits.at(1).meta.takenIso(), QStringLiteral("2024-01-03T23:30:00-05:00"));
    QCOMPARE(catalog::toString(inside->hits.at(2).meta.takenSource), catalog::toString(catalog::TakenSource::Video));
    QCOMPARE(inside->hits.at(2).meta.takenIso(), QStringLiteral("2024-01-03T12:00:00"));
    const engine::SearchHit &fileOnly = inside->hits.at(3);
    QCOMPARE(catalog::toString(fileOnly.meta.takenSource), catalog::toString(catalog::TakenSource::File));
    QCOMPARE(fileOnly.meta.takenLocalMs, wall(2024, 1, 2, 12, 0));
    QVERIFY(fileOnly.meta.takenOffsetMin);  // the machine's zone at that time

    // Without a filter every item comes back, each with its capture metadata.
    const auto all = search(engine::SearchParams{});
    QVERIFY(all);
    QCOMPARE(all->hits.size(), 7);
    QCOMPARE(catalog::toString(all->hits.at(6).meta.takenSource), catalog::toString(catalog::TakenSource::File));
}

void TestSearch::videoSegmentsGroupIntoOneHit()
{
    // The video-level vector (0, 0) is its best vector only for the hit's score when no
    // segment beats it; here a segment does, and the video-level one is no moment.
    addItem(m_photos + QStringLiteral("/clip.mp4"), catalog::ItemType::Video,
            {{0, 0, 0.60}, {0, 3000, 0.72}, {3000, 6000, 0.80}, {6000, 9000, 0.50}, {9000, 12000, 0.76}});
    addImage(m_photos + QStringLiteral("/photo.png"), 0.65);

    engine::SearchParams params;
    params.momentMargin = 0.1;  // 0.80, 0.76, 0.72 are moments; 0.50 is not
    const auto r = search(params);
    QVERIFY(r);
    QCOMPARE(paths(*r), (QStringList{"clip.mp4", "photo.png"}));
    const engine::SearchHit &video = r->hits.first();
    QVERIFY(video.type == catalog::ItemType::Video);
    QVERIFY2(std::abs(video.score - 0.80) < 0.02, qPrintable(QString::number(video.score)));
    QCOMPARE(video.moments.size(), qsizetype(3));
    QCOMPARE(video.moments[0].startMs, std::int64_t(3000));
    QCOMPARE(video.moments[0].endMs, std::int64_t(6000));
    QCOMPARE(video.moments[1].startMs, std::int64_t(9000));
    QCOMPARE(video.moments[2].startMs, std::int64_t(0));
    QCOMPARE(video.moments[2].endMs, std::int64_t(3000));
    QVERIFY(video.moments[0].score > video.moments[1].score);
    QVERIFY(video.moments[1].score > video.moments[2].score);
    // The hit's time range and segment are the best moment's.
    QCOMPARE(video.startMs, std::int64_t(3000));
    QCOMPARE(video.endMs, std::int64_t(6000));
    QCOMPARE(video.segmentId, video.moments[0].segmentId);

    params.maxMoments = 2;
    const auto two = search(params);
    QVERIFY(two);
    QCOMPARE(two->hits.first().moments.size(), qsizetype(2));
    QCOMPARE(two->hits.first().moments[1].startMs, std::int64_t(9000));

    params.maxMoments = 10;
    params.momentMargin = 0.5;  // all four segments
    const auto wide = search(params);
    QVERIFY(wide);
    QCOMPARE(wide->hits.first().moments.size(), qsizetype(4));
    QCOMPARE(wide->hits.first().moments[3].startMs, std::int64_t(6000));

    // With only the video-level vector ahead, the hit keeps that score and its best segment.
    cleanup();
    init();
    addItem(m_photos + QStringLiteral("/clip.mp4"), catalog::ItemType::Video,
            {{0, 0, 0.90}, {0, 3000, 0.40}, {3000, 6000, 0.60}});
    params.momentMargin = 0.05;
    const auto level = search(params);
    QVERIFY(level);
    QCOMPARE(level->hits.size(), qsizetype(1));
    QVERIFY2(std::abs(level->hits.first().score - 0.90) < 0.02, qPrintable(QString::number(level->hits.first().score)));
    QCOMPARE(level->hits.first().moments.size(), qsizetype(1));  // the best segment is always a moment
    QCOMPARE(level->hits.first().startMs, std::int64_t(3000));
}

void TestSearch::similarLeavesTheFileOut()
{
    // The file must exist as the catalog has it: its stored vector is the query.
    const QString probe = m_photos + QStringLiteral("/probe.png");
    QImage image(32, 32, QImage::Format_RGB32);
    image.fill(Qt::red);
    QVERIFY(image.save(probe));
    const std::vector<float> direction = at(m_query, 0.0);  // any unit vector
    addItem(probe, catalog::ItemType::Image, {{0, 0, 1.0}}, 0, &direction);
    addItem(m_photos + QStringLiteral("/near.png"), catalog::ItemType::Image, {{0, 0, 0.9}}, 0, &direction);
    addItem(m_photos + QStringLiteral("/far.png"), catalog::ItemType::Image, {{0, 0, 0.2}}, 0, &direction);
    addItem(m_photos + QStringLiteral("/middle.png"), catalog::ItemType::Image, {{0, 0, 0.5}}, 0, &direction);

    QString error;
    engine::SimilarParams params;
    const auto r = searcher()->similar(probe, params, &error);
    QVERIFY2(r, qPrintable(error));
    QCOMPARE(r->source, QStringLiteral("catalog"));
    QCOMPARE(paths(*r), (QStringList{"near.png", "middle.png", "far.png"}));

    params.top = 1;
    const auto one = searcher()->similar(probe, params, &error);
    QVERIFY2(one, qPrintable(error));
    QCOMPARE(paths(*one), (QStringList{"near.png"}));

    // A file that is not there: an error naming it.
    QVERIFY(!searcher()->similar(m_photos + QStringLiteral("/gone.png"), params, &error));
    QVERIFY2(error.contains(QStringLiteral("gone.png")), qPrintable(error));
}

void TestSearch::emptyLibrary()
{
    engine::SearchParams params;
    const auto r = search(params);
    QVERIFY(r);
    QVERIFY(r->hits.isEmpty());
    QVERIFY(!r->noGoodMatch);

    // A file outside the library is embedded now; nothing is like it.
    const QString file = m_photos + QStringLiteral("/outside.png");
    QImage image(32, 32, QImage::Format_RGB32);
    image.fill(Qt::blue);
    QVERIFY(image.save(file));
    QString error;
    const auto similar = searcher()->similar(file, engine::SimilarParams{}, &error);
    QVERIFY2(similar, qPrintable(error));
    QCOMPARE(similar->source, QStringLiteral("embedded"));
    QVERIFY(similar->hits.isEmpty());
}

QTEST_GUILESS_MAIN(TestSearch)
#include "tst_search.moc"
