#include "engine/trainingpreview.h"

#include "catalog/reader.h"
#include "engine/adapterpacks.h"
#include "engine/engine.h"
#include "engine/failed_p.h"
#include "engine/modelimage.h"
#include "engine/retrievalmodel.h"
#include "engine/search.h"
#include "engine/vectorindex.h"
#include "media/imageconvert.h"
#include "media/imagedecoder.h"
#include "model/preprocess.h"

#include <QFileInfo>
#include <QSet>

#include <algorithm>
#include <exception>
#include <numeric>
#include <vector>

namespace unisearch::engine {

namespace {

QString deviceOf(const Engine &engine, const QString &device)
{
    if (!device.isEmpty())
        return device;
    return engine.device().isEmpty() ? QStringLiteral("cpu") : engine.device();
}

SearchParams imageSearch(const QString &text, int k)
{
    SearchParams params;
    params.text = text;
    params.top = k;
    params.rerank = false; // compare the embeddings themselves
    params.filter.type = catalog::ItemType::Image;
    return params;
}

// The examples' images ranked for each query with one model.
std::optional<QList<QList<PreviewHit>>> rankExamples(RetrievalModel &model, const QStringList &queries,
                                                     const QStringList &paths, int k, QString *error)
{
    std::vector<std::vector<float>> pixels;
    QStringList usable;
    for (const QString &path : paths) {
        media::DecodeParams decode;
        decode.targetSize = model.imageSize();
        const media::DecodedImage decoded = media::decodeImage(path, decode);
        if (!decoded.ok())
            continue; // a missing example is left out of the preview
        try {
            std::vector<float> p(model::preprocessedSize(model.preprocessParams()));
            model::preprocessInto(toModelImage(decoded.image), model.preprocessParams(), p.data());
            pixels.push_back(std::move(p));
            usable << path;
        } catch (const std::exception &) {
            continue;
        }
    }
    if (usable.isEmpty())
        return failed<QList<QList<PreviewHit>>>(error, QStringLiteral("None of the examples' images can be read"));
    std::vector<std::vector<float>> images, texts;
    try {
        constexpr size_t batch = 8;
        for (size_t i = 0; i < pixels.size(); i += batch) {
            std::vector<const float *> ptrs;
            for (size_t j = i; j < std::min(pixels.size(), i + batch); ++j)
                ptrs.push_back(pixels[j].data());
            for (auto &f : model.imageFeatures(ptrs))
                images.push_back(std::move(f));
        }
        std::vector<std::vector<int64_t>> ids;
        for (const QString &q : queries)
            ids.push_back(model.encodeQuery(q));
        texts = model.textFeatures(ids);
    } catch (const std::exception &e) {
        return failed<QList<QList<PreviewHit>>>(error, QStringLiteral("Cannot embed the examples: %1")
                                                            .arg(QString::fromUtf8(e.what())));
    }
    QList<QList<PreviewHit>> out;
    for (const auto &t : texts) {
        QList<PreviewHit> hits;
        for (size_t i = 0; i < images.size(); ++i)
            hits.append({usable[qsizetype(i)], std::inner_product(t.begin(), t.end(), images[i].begin(), 0.0)});
        std::stable_sort(hits.begin(), hits.end(), [](const PreviewHit &a, const PreviewHit &b) { return a.score > b.score; });
        out.append(hits.mid(0, k));
    }
    return out;
}

} // namespace

std::optional<LibraryImagesResult> libraryImages(Engine &engine, const QString &pathFilter, int limit, QString *error)
{
    using R = LibraryImagesResult;
    if (!engine.catalog())
        return failed<R>(error, QStringLiteral("The library is not open: %1").arg(engine.errorString()));
    LibraryImagesResult out;
    try {
        catalog::Reader reader(engine.dataDir());
        QSet<QString> seen;
        QList<LibraryImage> all;
        for (const catalog::Root &root : engine.catalog()->roots()) {
            for (const catalog::Item &item : reader.itemsUnder(root.path)) {
                if (item.type != catalog::ItemType::Image || item.status != catalog::ItemStatus::Indexed)
                    continue;
                if (!pathFilter.isEmpty() && !item.path.contains(pathFilter, Qt::CaseInsensitive))
                    continue;
                if (seen.contains(item.path))
                    continue;
                seen.insert(item.path);
                all.append({item.path, item.mtimeMs});
            }
        }
        std::sort(all.begin(), all.end(), [](const LibraryImage &a, const LibraryImage &b) { return a.path < b.path; });
        out.matching = int(all.size());
        out.images = all.mid(0, std::max(0, limit));
    } catch (const std::exception &e) {
        return failed<R>(error, QStringLiteral("Cannot read the library: %1").arg(QString::fromUtf8(e.what())));
    }
    return out;
}

std::optional<QStringList> searchLibraryImages(Engine &engine, const QString &text, int k, QString *error)
{
    if (!engine.catalog())
        return failed<QStringList>(error, QStringLiteral("The library is not open: %1").arg(engine.errorString()));
    auto model = RetrievalModel::loadActive(*engine.catalog(), deviceOf(engine, {}), error);
    if (!model)
        return std::nullopt;
    auto session = SearchSession::open(*engine.catalog(), engine.dataDir(), std::move(model), error);
    if (!session)
        return std::nullopt;
    const auto result = session->searcher().search(imageSearch(text, k), error);
    if (!result)
        return std::nullopt;
    QStringList paths;
    for (const SearchHit &h : result->hits)
        paths << h.path;
    return paths;
}

std::optional<QueryComparisonResult> compareQueries(Engine &engine, const QString &packPath,
                                                    const QStringList &givenQueries, const QStringList &examplePaths,
                                                    int k, const QString &device, QString *error)
{
    using R = QueryComparisonResult;
    if (!engine.catalog())
        return failed<R>(error, QStringLiteral("The library is not open: %1").arg(engine.errorString()));
    if (!QFileInfo(packPath).isFile())
        return failed<R>(error, QStringLiteral("The adapter pack %1 does not exist").arg(packPath));
    const QString dev = deviceOf(engine, device);
    QString why;
    auto before = RetrievalModel::loadActive(*engine.catalog(), dev, &why);
    if (!before)
        return failed<R>(error, QStringLiteral("Cannot load the model in use: %1").arg(why));
    auto after = RetrievalModel::loadActive(*engine.catalog(), dev, &why, packPath);
    if (!after)
        return failed<R>(error, QStringLiteral("Cannot load the new pack: %1").arg(why));

    QStringList queries;
    for (const QString &q : givenQueries)
        if (!q.trimmed().isEmpty())
            queries << q.trimmed();
    if (queries.isEmpty())
        return failed<R>(error, QStringLiteral("Type a query to compare"));
    QueryComparisonResult out;
    bool touchesVision = true;
    for (const AdapterPackInfo &p : adapterPacks(engine))
        if (QFileInfo(p.path).canonicalFilePath() == QFileInfo(packPath).canonicalFilePath())
            touchesVision = p.touchesVision;
    // The stored vectors serve both sides when the image side is the same.
    std::unique_ptr<SearchSession> sessionBefore, sessionAfter;
    if (!touchesVision) {
        sessionBefore = SearchSession::open(*engine.catalog(), engine.dataDir(), before, &why);
        sessionAfter = SearchSession::open(*engine.catalog(), engine.dataDir(), after, &why);
    }
    const bool library = sessionBefore && sessionAfter && sessionBefore->storeReport().vectors > 0
        && sessionAfter->storeReport().vectors > 0;
    out.scope = library ? QStringLiteral("library") : QStringLiteral("examples");
    QStringList examples;
    if (!library) {
        for (const QString &p : examplePaths)
            if (!examples.contains(p))
                examples << p;
        if (examples.isEmpty())
            return failed<R>(error, QStringLiteral("There are no example images to compare on"));
    }
    QList<QList<PreviewHit>> b, a;
    if (!library) {
        auto rb = rankExamples(*before, queries, examples, k, error);
        if (!rb)
            return std::nullopt;
        auto ra = rankExamples(*after, queries, examples, k, error);
        if (!ra)
            return std::nullopt;
        b = *rb;
        a = *ra;
    }
    for (qsizetype i = 0; i < queries.size(); ++i) {
        QueryComparison c;
        c.query = queries[i];
        if (library) {
            const auto hb = sessionBefore->searcher().search(imageSearch(queries[i], k), error);
            if (!hb)
                return std::nullopt;
            const auto ha = sessionAfter->searcher().search(imageSearch(queries[i], k), error);
            if (!ha)
                return std::nullopt;
            for (const SearchHit &h : hb->hits)
                c.before.append({h.path, h.score});
            for (const SearchHit &h : ha->hits)
                c.after.append({h.path, h.score});
        } else {
            c.before = b.value(i);
            c.after = a.value(i);
        }
        out.queries.append(c);
    }
    return out;
}

} // namespace unisearch::engine
