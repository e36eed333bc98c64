#include "engine/search.h"

#include "catalog/reader.h"
#include "engine/keywordsearch.h"
#include "engine/lock.h"
#include "engine/modelimage.h"
#include "engine/query.h"
#include "engine/retrievalmodel.h"
#include "engine/tokencache.h"
#include "engine/vectorindex.h"
#include "engine/videoframes_p.h"
#include "index/vectorstore.h"
#include "media/filepath.h"
#include "media/imagedecoder.h"
#include "media/mediatype.h"
#include "model/modelrunner.h"
#include "model/preprocess.h"
#include "util/log.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSet>

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace unisearch::engine {

namespace {

const QString logCategory = QStringLiteral("search");

double msSince(const QElapsedTimer &t)
{
    return static_cast<double>(t.nsecsElapsed()) / 1e6;
}

template <typename T>
std::optional<T> setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return std::nullopt;
}

catalog::SegmentFilter toSegmentFilter(const SearchFilter &f)
{
    catalog::SegmentFilter s;
    s.type = f.type;
    for (const QString &folder : f.folders) {
        const QString c = media::canonicalPath(folder);
        s.folders.append(c.isEmpty() ? QDir::cleanPath(QFileInfo(folder).absoluteFilePath()) : c);
    }
    // Wall clock: the bound's date and time as written, whatever its time spec.
    const auto wallMs = [](const QDateTime &t) { return QDateTime(t.date(), t.time(), Qt::UTC).toMSecsSinceEpoch(); };
    if (f.from.isValid())
        s.fromMs = wallMs(f.from);
    if (f.to.isValid())
        s.toMs = wallMs(f.to);
    return s;
}

// A live photo's hit on its video's moment (an image whose best segment has a time range,
// engine/indexing/livephoto.h) names the video of the same name beside it: four stats
// for such a hit only. A motion photo's video was inside the photo: none is named.
void addLivePhotoVideos(QList<SearchHit> &hits)
{
    for (SearchHit &h : hits) {
        if (h.type != catalog::ItemType::Image || h.endMs <= h.startMs)
            continue;
        const QFileInfo photo(h.path);
        for (const char *suffix : {".MOV", ".mov", ".MP4", ".mp4"})
            if (const QString video = photo.path() + QLatin1Char('/') + photo.completeBaseName() + QLatin1String(suffix);
                QFileInfo::exists(video)) {
                h.livePhotoVideo = video;
                break;
            }
    }
}

// Preprocessed pixels of an image file; empty on failure (with *error).
std::vector<float> loadPixels(const QString &path, const RetrievalModel &model, QString *error)
{
    media::DecodeParams decode;
    decode.targetSize = model.imageSize();
    const media::DecodedImage decoded = media::decodeImage(path, decode);
    if (!decoded.ok()) {
        if (error)
            *error = decoded.error;
        return {};
    }
    try {
        const model::RgbImage rgb = toModelImage(decoded.image);
        std::vector<float> pixels(model::preprocessedSize(model.preprocessParams()));
        model::preprocessInto(rgb, model.preprocessParams(), pixels.data());
        return pixels;
    } catch (const std::exception &e) {
        if (error)
            *error = QString::fromUtf8(e.what());
        return {};
    }
}

// Every hit's capture metadata (the file time for an item without item_meta).
void addCaptureMeta(catalog::Reader &reader, QList<SearchHit> &hits)
{
    std::vector<std::int64_t> ids;
    ids.reserve(size_t(hits.size()));
    for (const SearchHit &h : hits)
        ids.push_back(h.itemId);
    const auto metas = reader.itemMetas(ids);
    for (SearchHit &h : hits) {
        const auto it = metas.find(h.itemId);
        h.meta = it != metas.end() ? it->second : catalog::fileTimeMeta(h.itemId, h.mtimeMs);
    }
}

} // namespace

struct Searcher::Private {
    QString dataDir;
    const index::VectorStore &store;
    std::unique_ptr<catalog::Reader> reader;

    Private(const QString &dir, const index::VectorStore &s) : dataDir(dir), store(s) {}

    // Top items for query: store hits grouped by item (best segment first), skipping
    // excluded items and rows the catalog no longer has. Throws on catalog errors.
    struct MomentParams {
        double margin = 0.05;
        int max = 10;
    };
    QList<SearchHit> topItems(std::span<const float> query, int want, const SearchFilter &filter,
                              const std::unordered_set<std::int64_t> &excludeItems, const MomentParams &moments,
                              SearchTimings &timings);

    // An item's stored vector (a video: its video-level vector first); empty when it has none.
    std::vector<float> storedVector(std::int64_t itemId);
    // The feature of an image or video file: its stored vector when the catalog has the file as
    // it is now, else computed now (a video: from 8 uniformly sampled frames). itemId: the
    // file's item when the catalog has its path. Throws on catalog or model errors.
    struct FileFeature {
        std::vector<float> vector;
        QString source;  // "catalog" or "embedded"
        std::optional<std::int64_t> itemId;
    };
    std::optional<FileFeature> fileFeature(const QString &path, RetrievalModel &model, SearchTimings &timings,
                                           QString *error);
    // A combined query (query.h): its vector, the token ids of its positive text terms (for
    // the re-rank; empty when it has none) and the items of its positive file and item terms.
    struct Combined {
        std::vector<float> feature;
        std::vector<int64_t> rerankIds;
        std::unordered_set<std::int64_t> exclude;
    };
    std::optional<Combined> combinedQuery(const ParsedQuery &query, RetrievalModel &model, SearchResult &result,
                                          QString *error);
    // The query's vector, its store hits and the basis of a later re-rank; hits keyword-fused,
    // at most params.top. Throws on catalog or model errors.
    std::optional<SearchResult> storeSearch(const SearchParams &params, RetrievalModel &model, QString *error);
    // Keyword fusion of the semantic order, cut to top, live photos and capture metadata added.
    QList<SearchHit> finish(QList<SearchHit> semantic, const RerankBasis &basis, int top);
    // Sets itmProbability of hits[batch] (images, or one video); unreadable ones stay unset.
    void scoreBatch(QList<SearchHit> &hits, const std::vector<qsizetype> &batch, const std::vector<int64_t> &ids,
                    const SearchParams &params, RetrievalModel &model, SearchTimings &timings);
};

std::vector<float> Searcher::Private::storedVector(std::int64_t itemId)
{
    std::vector<std::int64_t> segments;
    for (const catalog::Segment &seg : reader->segmentsOfItem(itemId)) {
        // A video: its video-level vector (0, 0) first.
        if (seg.startMs == 0 && seg.endMs == 0)
            segments.insert(segments.begin(), seg.id);
        else
            segments.push_back(seg.id);
    }
    for (const std::int64_t seg : segments)
        if (auto v = store.vector(seg))
            return std::move(*v);
    return {};
}

std::optional<Searcher::Private::FileFeature> Searcher::Private::fileFeature(const QString &path, RetrievalModel &model,
                                                                             SearchTimings &timings, QString *error)
{
    const media::FileStatus status = media::fileStatus(path);
    if (status.type != media::FileType::File)
        return setError<FileFeature>(
            error, QStringLiteral("%1: %2").arg(QDir::toNativeSeparators(path),
                                                status.error.isEmpty() ? QStringLiteral("no such file") : status.error));
    FileFeature f;
    const QString canonical = media::canonicalPath(path);
    if (const auto item = reader->itemByPath(canonical.isEmpty() ? path : canonical)) {
        f.itemId = item->id;
        // The stored vector, when the catalog has the file as it is now.
        if (item->status == catalog::ItemStatus::Indexed && item->size == status.size && item->mtimeMs == status.mtimeMs)
            f.vector = storedVector(item->id);
        if (!f.vector.empty()) {
            f.source = QStringLiteral("catalog");
            return f;
        }
    }
    QElapsedTimer t;
    t.start();
    f.source = QStringLiteral("embedded");
    if (media::detectMediaType(path).kind == media::MediaKind::Video) {
        // A video that is not in the library: its video-level feature, computed now.
        const detail::VideoPixels v = detail::sampleVideoPixels(path, model.preprocessParams(), 8);
        if (!v.ok())
            return setError<FileFeature>(error, v.error);
        const size_t per = model::preprocessedSize(model.preprocessParams());
        std::vector<const float *> ptrs;
        for (size_t at = 0; at + per <= v.pixels.size(); at += per)
            ptrs.push_back(v.pixels.data() + at);
        f.vector = model.videoFeature(ptrs);
    } else {
        QString why;
        const std::vector<float> pixels = loadPixels(path, model, &why);
        if (pixels.empty())
            return setError<FileFeature>(
                error, QStringLiteral("cannot read %1 as an image: %2").arg(QDir::toNativeSeparators(path), why));
        f.vector = model.imageFeatures({pixels.data()}).at(0);
    }
    timings.featureMs += msSince(t);
    return f;
}

std::optional<Searcher::Private::Combined> Searcher::Private::combinedQuery(const ParsedQuery &query,
                                                                             RetrievalModel &model,
                                                                             SearchResult &result, QString *error)
{
    Combined c;
    std::vector<WeightedFeature> features;
    ParsedQuery cleaned = query;
    std::vector<std::vector<int64_t>> textIds;
    std::vector<size_t> textAt;  // where each text term's feature goes in features
    QElapsedTimer t;
    t.start();
    for (QueryTerm &term : cleaned.terms) {
        features.push_back({term.weight, {}});
        if (term.kind == QueryTerm::Kind::Text) {
            const QString asWritten = term.text;
            textIds.push_back(model.encodeQuery(asWritten, &term.text));
            textAt.push_back(features.size() - 1);
            if (textIds.back().empty())
                return setError<Combined>(
                    error, QStringLiteral("the query term '%1' has no words to search for").arg(asWritten.left(60)));
        } else if (term.kind == QueryTerm::Kind::Item) {
            features.back().feature = storedVector(term.itemId);
            if (features.back().feature.empty())
                return setError<Combined>(error, QStringLiteral("item:%1 is not in the library (or not indexed "
                                                                "with the active model)")
                                                     .arg(term.itemId));
            if (term.weight > 0)
                c.exclude.insert(term.itemId);
        }
    }
    result.timings.cleanMs = msSince(t);
    t.restart();
    const std::vector<std::vector<float>> text = textIds.empty() ? std::vector<std::vector<float>>{}
                                                                 : model.textFeatures(textIds);
    for (size_t i = 0; i < textAt.size(); ++i)
        features[textAt[i]].feature = text.at(i);
    result.timings.featureMs = msSince(t);
    for (qsizetype i = 0; i < cleaned.terms.size(); ++i) {
        if (cleaned.terms[i].kind != QueryTerm::Kind::File)
            continue;
        auto f = fileFeature(cleaned.terms[i].path, model, result.timings, error);
        if (!f)
            return std::nullopt;
        features[size_t(i)].feature = std::move(f->vector);
        if (f->itemId && cleaned.terms[i].weight > 0)
            c.exclude.insert(*f->itemId);
    }
    auto combined = combineFeatures(features, error);
    if (!combined)
        return std::nullopt;
    c.feature = std::move(*combined);
    result.cleanedQuery = describeQuery(cleaned);
    if (const QString positive = query.keywordText(); !positive.isEmpty())
        c.rerankIds = model.encodeQuery(positive);
    return c;
}

QList<SearchHit> Searcher::Private::topItems(std::span<const float> query, int want, const SearchFilter &filter,
                                             const std::unordered_set<std::int64_t> &excludeItems,
                                             const MomentParams &moments, SearchTimings &timings)
{
    QElapsedTimer t;
    t.start();
    std::optional<index::IdFilter> idFilter;
    if (!filter.isEmpty()) {
        const std::vector<std::int64_t> allowed = reader->segmentIds(toSegmentFilter(filter));
        if (allowed.empty()) {
            timings.storeMs += msSince(t);
            return {};
        }
        idFilter = index::IdFilter::allowIds(allowed);
    }
    timings.storeMs += msSince(t);

    QList<SearchHit> out;
    // The vectors the store returned. A video's moments are its segments among them: membership,
    // not a comparison of our exact score with the store's (float32 or 8-bit) score of the weakest
    // hit, which would decide near-ties by the last bits of two different computations.
    std::unordered_set<std::int64_t> returned;
    const size_t storeSize = store.size();
    // Usually one round: an image has one segment, so `want` plus a small margin is
    // enough. Videos (several segments per item) or excluded items may need more.
    size_t k = static_cast<size_t>(want) + excludeItems.size() + 8;
    while (true) {
        t.restart();
        const std::vector<index::Hit> hits = idFilter ? store.search(query, k, *idFilter) : store.search(query, k);
        timings.storeMs += msSince(t);
        t.restart();
        std::vector<std::int64_t> ids;
        ids.reserve(hits.size());
        for (const index::Hit &h : hits)
            ids.push_back(h.id);
        const auto info = reader->segments(ids);
        out.clear();
        QSet<std::int64_t> seen;
        for (const index::Hit &h : hits) {
            const auto it = info.find(h.id);
            if (it == info.end())
                continue;  // deleted since the store was loaded
            const catalog::SegmentInfo &s = it->second;
            if (excludeItems.count(s.itemId) || seen.contains(s.itemId))
                continue;
            if (s.status != catalog::ItemStatus::Indexed)
                continue;
            seen.insert(s.itemId);
            SearchHit hit;
            hit.itemId = s.itemId;
            hit.segmentId = s.segmentId;
            hit.path = s.path;
            hit.type = s.type;
            hit.score = h.score;
            hit.startMs = s.startMs;
            hit.endMs = s.endMs;
            hit.mtimeMs = s.mtimeMs;
            hit.width = s.width;
            hit.height = s.height;
            out.append(hit);
            if (out.size() >= want)
                break;
        }
        returned.clear();
        for (const index::Hit &h : hits)
            returned.insert(h.id);
        timings.groupMs += msSince(t);
        if (out.size() >= want || hits.size() < k || k >= storeSize)
            break;
        k = std::min(storeSize, k * 4);
    }

    // Videos: their moments, scored exactly from the store's vectors.
    t.restart();
    bool reorder = false;
    for (SearchHit &hit : out) {
        if (hit.type != catalog::ItemType::Video)
            continue;
        std::optional<float> best;
        QList<Moment> all;
        for (const catalog::Segment &seg : reader->segmentsOfItem(hit.itemId)) {
            const std::optional<std::vector<float>> v = store.vector(seg.id);
            if (!v)
                continue;
            double dot = 0;
            for (size_t i = 0; i < v->size() && i < query.size(); ++i)
                dot += double((*v)[i]) * double(query[i]);
            const float score = static_cast<float>(dot);
            if (!best || score > *best)
                best = score;
            if (seg.startMs == 0 && seg.endMs == 0)
                continue;  // the video-level vector: no moment
            all.append(Moment{seg.id, seg.startMs, seg.endMs, score});
        }
        std::stable_sort(all.begin(), all.end(), [](const Moment &a, const Moment &b) { return a.score > b.score; });
        if (!all.isEmpty()) {
            const float cut = all.front().score - static_cast<float>(moments.margin);
            for (const Moment &m : std::as_const(all)) {
                if (hit.moments.size() >= std::max(1, moments.max))
                    break;
                if (!hit.moments.isEmpty() && (m.score < cut || !returned.count(m.segmentId)))
                    continue;
                hit.moments.append(m);
            }
            hit.segmentId = hit.moments.front().segmentId;
            hit.startMs = hit.moments.front().startMs;
            hit.endMs = hit.moments.front().endMs;
        }
        if (best && *best != hit.score) {
            hit.score = *best;
            reorder = true;
        }
    }
    if (reorder)
        std::stable_sort(out.begin(), out.end(), [](const SearchHit &a, const SearchHit &b) { return a.score > b.score; });
    timings.groupMs += msSince(t);
    return out;
}

struct RerankBasis {
    QList<SearchHit> semantic;  // the store's items before keyword fusion, best first
    std::vector<float> feature; // the query's vector
    std::vector<int64_t> ids;   // tokens of the re-rank text; empty: nothing to re-rank by
    std::unordered_set<std::int64_t> exclude;
    QString keywordText;
    SearchFilter filter;
};

int defaultRerankCount(const QString &device)
{
    // CPU: about 0.3 s an image at bfloat16 (docs/cli.md), so 8 keep a cold CLI re-rank near 5 s.
    return device.startsWith(QLatin1String("cuda")) ? 16 : 8;
}

namespace {

enum class Scored : char { Pending, Done, Failed };

// The semantic hits with the first n ordered as the final order would be given what is known
// (search.h, "Progressive re-rank").
QList<SearchHit> orderedSoFar(const QList<SearchHit> &semantic, const std::vector<Scored> &state, double threshold)
{
    QList<SearchHit> good, pending, poor, failed;
    const qsizetype n = qsizetype(state.size());
    for (qsizetype i = 0; i < n; ++i) {
        const SearchHit &h = semantic[i];
        if (state[size_t(i)] == Scored::Pending)
            pending.append(h);
        else if (!h.itmProbability)
            failed.append(h);
        else
            (*h.itmProbability >= threshold ? good : poor).append(h);
    }
    const auto byProbability = [](const SearchHit &a, const SearchHit &b) { return *a.itmProbability > *b.itmProbability; };
    std::stable_sort(good.begin(), good.end(), byProbability);
    std::stable_sort(poor.begin(), poor.end(), byProbability);
    QList<SearchHit> out = good + pending + poor + failed;
    out.append(semantic.mid(n));
    return out;
}

double matchProbability(const std::pair<double, double> &logits)
{
    // softmax([no, yes])[yes], computed stably.
    return 1.0 / (1.0 + std::exp(logits.first - logits.second));
}

} // namespace

Searcher::Searcher(const QString &dataDir, std::shared_ptr<RetrievalModel> model, const index::VectorStore &store)
    : d(std::make_unique<Private>(dataDir, store)), m_model(std::move(model))
{
}

Searcher::~Searcher() = default;

QList<SearchHit> Searcher::Private::finish(QList<SearchHit> semantic, const RerankBasis &basis, int top)
{
    // Keyword matches (file and folder names, OCR text) fused with the (re-ranked)
    // semantic order (keywordsearch.h).
    KeywordSources keywordSources{dataDir, *reader, store, basis.feature, std::nullopt, &basis.exclude};
    if (!basis.filter.isEmpty())
        keywordSources.allowedSegments = reader->segmentIds(toSegmentFilter(basis.filter));
    QList<SearchHit> hits = withKeywordHits(std::move(semantic), basis.keywordText, keywordSources);
    if (hits.size() > top)
        hits.resize(top);
    addLivePhotoVideos(hits);
    addCaptureMeta(*reader, hits);
    return hits;
}

std::optional<SearchResult> Searcher::Private::storeSearch(const SearchParams &params, RetrievalModel &model,
                                                           QString *error)
{
    SearchResult result;
    result.query = params.text;
    QElapsedTimer t;
    t.start();
    // A combined query (query.h) makes its own vector; a plain one goes the usual way.
    const std::optional<ParsedQuery> parsed = parseQuery(params.text, params.baseDir, error);
    if (!parsed)
        return std::nullopt;
    auto basis = std::make_shared<RerankBasis>();
    if (parsed->isCombined()) {
        auto combined = combinedQuery(*parsed, model, result, error);
        if (!combined)
            return std::nullopt;
        basis->ids = std::move(combined->rerankIds);
        basis->feature = std::move(combined->feature);
        basis->exclude = std::move(combined->exclude);
    } else {
        basis->ids = model.encodeQuery(params.text, &result.cleanedQuery);
        result.timings.cleanMs = msSince(t);
        if (basis->ids.empty())
            return setError<SearchResult>(error, QStringLiteral("the query has no words to search for"));
        t.restart();
        basis->feature = model.textFeatures({basis->ids}).at(0);
        result.timings.featureMs = msSince(t);
    }
    basis->keywordText = parsed->keywordText();
    basis->filter = params.filter;
    // Enough items for a later re-rank, whether or not this search re-ranks.
    const int rerankCount = basis->ids.empty() ? 0 : params.rerankCount > 0 ? params.rerankCount
                                                                          : defaultRerankCount(model.device());
    basis->semantic = topItems(basis->feature, std::max(params.top, rerankCount), params.filter, basis->exclude,
                               {params.momentMargin, params.maxMoments}, result.timings);
    // Fused as the items the person sees (a re-rank fuses its longer list: rerank()).
    result.hits = finish(basis->semantic.mid(0, params.top), *basis, params.top);
    result.rerankBasis = std::move(basis);
    return result;
}

std::optional<SearchResult> Searcher::search(const SearchParams &params, QString *error)
{
    QElapsedTimer total;
    total.start();
    if (params.top <= 0)
        return setError<SearchResult>(error, QStringLiteral("the number of results must be at least 1"));
    std::optional<SearchResult> result;
    try {
        if (!d->reader)
            d->reader = std::make_unique<catalog::Reader>(d->dataDir);
        result = d->storeSearch(params, *m_model, error);
    } catch (const std::exception &e) {
        return setError<SearchResult>(error, QStringLiteral("search failed: %1").arg(QString::fromUtf8(e.what())));
    }
    if (!result)
        return std::nullopt;
    result->timings.totalMs = msSince(total);
    if (params.rerank.value_or(m_model->device().startsWith(QLatin1String("cuda"))))
        return rerank(*result, params, {}, error);
    return result;
}

std::optional<SearchResult> Searcher::rerank(const SearchResult &storeResult, const SearchParams &params,
                                             const RerankUpdateFn &onUpdate, QString *error)
{
    const std::shared_ptr<const RerankBasis> basis = storeResult.rerankBasis;
    if (!basis || basis->ids.empty() || basis->semantic.isEmpty())
        return storeResult;  // nothing to re-rank by (a query of images alone), or nothing found
    QElapsedTimer t;
    t.start();
    SearchResult result = storeResult;
    QList<SearchHit> semantic = basis->semantic;
    const int count = params.rerankCount > 0 ? params.rerankCount : defaultRerankCount(m_model->device());
    const qsizetype n = std::min<qsizetype>(count, semantic.size());
    std::vector<Scored> state(size_t(n), Scored::Pending);
    try {
        if (!d->reader)
            d->reader = std::make_unique<catalog::Reader>(d->dataDir);
        qsizetype at = 0;
        while (at < n) {
            // A batch: up to rerankBatch images in store order, or one video.
            std::vector<qsizetype> batch{at++};
            if (semantic[batch.front()].type != catalog::ItemType::Video)
                while (at < n && qsizetype(batch.size()) < std::max(1, params.rerankBatch)
                       && semantic[at].type != catalog::ItemType::Video)
                    batch.push_back(at++);
            d->scoreBatch(semantic, batch, basis->ids, params, *m_model, result.timings);
            for (const qsizetype i : batch) {
                state[size_t(i)] = semantic[i].itmProbability ? Scored::Done : Scored::Failed;
                if (semantic[i].itmProbability
                    && (!result.bestItmProbability || *semantic[i].itmProbability > *result.bestItmProbability))
                    result.bestItmProbability = semantic[i].itmProbability;
            }
            result.reranked = at >= n;
            result.noGoodMatch = result.reranked && (!result.bestItmProbability
                                                     || *result.bestItmProbability < params.relevanceThreshold);
            result.hits = d->finish(orderedSoFar(semantic, state, params.relevanceThreshold), *basis, params.top);
            result.timings.rerankMs = msSince(t);
            result.timings.totalMs = storeResult.timings.totalMs + result.timings.rerankMs;
            if (onUpdate && !onUpdate(result, int(at), int(n)))
                return std::nullopt;
        }
    } catch (const std::exception &e) {
        return setError<SearchResult>(error, QStringLiteral("re-ranking failed: %1").arg(QString::fromUtf8(e.what())));
    }
    return result;
}

void Searcher::Private::scoreBatch(QList<SearchHit> &hits, const std::vector<qsizetype> &batch,
                                   const std::vector<int64_t> &ids, const SearchParams &params, RetrievalModel &model,
                                   SearchTimings &timings)
{
    QElapsedTimer t;
    t.start();
    TokenCache &cache = model.tokenCache();
    if (hits[batch.front()].type == catalog::ItemType::Video) {
        SearchHit &hit = hits[batch.front()];
        // The model's video path: T sampled frames concatenated, frame-aware; their tokens
        // from the cache, or sampled and encoded now.
        const int frames = std::max(1, params.videoRerankFrames);
        const media::FileStatus status = media::fileStatus(hit.path);
        const TokenKey key{hit.itemId, status.size, status.mtimeMs, model.tokenKey(), frames};
        TokenCache::Tokens tokens = status.type == media::FileType::File ? cache.find(key) : nullptr;
        if (!tokens) {
            const detail::VideoPixels v = detail::sampleVideoPixels(hit.path, model.preprocessParams(), frames);
            timings.rerankDecodeMs += msSince(t);
            if (!v.ok()) {
                log::info(logCategory, QStringLiteral("not re-ranked: %1").arg(v.error));
                return;
            }
            t.restart();
            const size_t per = model::preprocessedSize(model.preprocessParams());
            std::vector<const float *> ptrs;
            for (size_t at = 0; at + per <= v.pixels.size(); at += per)
                ptrs.push_back(v.pixels.data() + at);
            tokens = model.videoTokens(ptrs);
            timings.rerankEncodeMs += msSince(t);
            cache.insert(key, tokens, model::visualTokensBytes(*tokens));
        }
        const auto logits = model.itmLogitsVideoTokens(tokens, {ids}, /*frameAware=*/true);
        if (!logits.empty())
            hit.itmProbability = matchProbability(logits[0]);
        return;
    }
    // Images: their tokens from the model's cache, or decoded and encoded now (one batch).
    std::vector<TokenCache::Tokens> tokens(batch.size());
    std::vector<TokenKey> keys(batch.size());
    std::vector<std::vector<float>> pixels;
    std::vector<size_t> encode;  // positions in batch
    for (size_t j = 0; j < batch.size(); ++j) {
        const SearchHit &hit = hits[batch[j]];
        // The file as it is now: a changed file misses (tokencache.h).
        const media::FileStatus status = media::fileStatus(hit.path);
        keys[j] = TokenKey{hit.itemId, status.size, status.mtimeMs, model.tokenKey()};
        if (status.type == media::FileType::File && (tokens[j] = cache.find(keys[j])))
            continue;
        QString why;
        std::vector<float> p = loadPixels(hit.path, model, &why);
        if (p.empty()) {
            log::info(logCategory, QStringLiteral("not re-ranked: %1: %2").arg(hit.path, why));
            continue;
        }
        pixels.push_back(std::move(p));
        encode.push_back(j);
    }
    timings.rerankDecodeMs += msSince(t);
    if (!pixels.empty()) {
        t.restart();
        std::vector<const float *> ptrs;
        for (const auto &p : pixels)
            ptrs.push_back(p.data());
        const auto encoded = model.imageTokensBatch(ptrs);
        timings.rerankEncodeMs += msSince(t);
        for (size_t e = 0; e < encode.size() && e < encoded.size(); ++e) {
            tokens[encode[e]] = encoded[e];
            cache.insert(keys[encode[e]], encoded[e], model::visualTokensBytes(*encoded[e]));
        }
    }
    std::vector<TokenCache::Tokens> known;
    std::vector<qsizetype> which;
    for (size_t j = 0; j < batch.size(); ++j)
        if (tokens[j]) {
            known.push_back(tokens[j]);
            which.push_back(batch[j]);
        }
    const auto logits = model.itmLogitsTokens(known, ids);
    for (size_t j = 0; j < which.size() && j < logits.size(); ++j)
        hits[which[j]].itmProbability = matchProbability(logits[j]);
}

std::optional<SearchResult> Searcher::similar(const QString &path, const SimilarParams &params, QString *error)
{
    QElapsedTimer total;
    total.start();
    SearchResult result;
    result.query = path;
    if (params.top <= 0)
        return setError<SearchResult>(error, QStringLiteral("the number of results must be at least 1"));
    try {
        if (!d->reader)
            d->reader = std::make_unique<catalog::Reader>(d->dataDir);
        auto f = d->fileFeature(path, *m_model, result.timings, error);
        if (!f)
            return std::nullopt;
        result.source = f->source;
        std::unordered_set<std::int64_t> exclude;
        if (f->itemId)
            exclude.insert(*f->itemId);
        result.hits = d->topItems(f->vector, params.top, params.filter, exclude, {}, result.timings);
        addLivePhotoVideos(result.hits);
        addCaptureMeta(*d->reader, result.hits);
    } catch (const std::exception &e) {
        return setError<SearchResult>(error, QStringLiteral("search failed: %1").arg(QString::fromUtf8(e.what())));
    }
    result.timings.totalMs = msSince(total);
    return result;
}

// --- SearchSession -------------------------------------------------------------------

SearchSession::~SearchSession() = default;

QString SearchSession::modelName() const
{
    return m_model->name();
}

std::int64_t SearchSession::vectorCount() const
{
    return m_report->vectors;
}

bool SearchSession::warmUp(QString *error)
{
    try {
        // The first forward of a tower pays for its one-time set-up (kernels, buffers): a
        // throw-away query pays it here instead of in the person's first search.
        const std::vector<int64_t> ids = m_model->encodeQuery(QStringLiteral("a photo"));
        m_model->textFeatures({ids});
        return true;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("the search model could not run: %1").arg(QString::fromUtf8(e.what()));
        return false;
    }
}

std::unique_ptr<SearchSession> SearchSession::open(const SearchSessionPlan &plan, catalog::Catalog *catalog,
                                                   std::shared_ptr<RetrievalModel> reuse, QString *error)
{
    std::unique_ptr<catalog::Catalog> own;
    if (!catalog) {
        catalog::OpenResult opened = catalog::Catalog::open(plan.dataDir);
        if (!opened) {
            if (error)
                *error = opened.error;
            return nullptr;
        }
        own = std::move(opened.catalog);
        catalog = own.get();
    }
    // (A full-mode adapter pack keys its vectors apart: the model is kept only when its key
    // is still the plan's, training.h.)
    std::shared_ptr<RetrievalModel> model = reuse && reuse->fingerprint() == plan.vectorKey
        ? std::move(reuse)
        : RetrievalModel::fromService(std::make_unique<InferenceService>(plan.model, plan.options), error);
    if (!model)
        return nullptr;
    std::unique_ptr<SearchSession> s = open(*catalog, plan.dataDir, std::move(model), error);
    if (s)
        s->m_ownCatalog = std::move(own);
    return s;
}

std::unique_ptr<SearchSession> SearchSession::open(catalog::Catalog &catalog, const QString &dataDir,
                                                   const QString &device, QString *error)
{
    std::shared_ptr<RetrievalModel> model = RetrievalModel::loadActive(catalog, device, error);
    if (!model)
        return nullptr;
    return open(catalog, dataDir, std::move(model), error);
}

std::unique_ptr<SearchSession> SearchSession::open(catalog::Catalog &catalog, const QString &dataDir,
                                                   std::shared_ptr<RetrievalModel> model, QString *error)
{
    if (!model) {
        if (error)
            *error = QStringLiteral("no search model");
        return nullptr;
    }
    std::unique_ptr<SearchSession> s(new SearchSession);
    s->m_model = std::move(model);
    s->m_index = std::make_unique<VectorIndex>(catalog, dataDir, s->m_model->fingerprint(), s->m_model->embedDim());
    // A store that has to be rebuilt is written back only when no indexer is running: the
    // indexer owns the file while it holds the lock.
    IndexLock lock(dataDir);
    const bool mayWrite = lock.tryLock();
    s->m_report = std::make_unique<VectorIndexReport>(s->m_index->open(mayWrite));
    lock.unlock();
    if (!s->m_report->ok) {
        if (error)
            *error = s->m_report->error;
        return nullptr;
    }
    if (s->m_report->rebuilt)
        log::info(logCategory, QStringLiteral("the vector store was rebuilt from the catalog (%1)%2")
                                   .arg(s->m_report->reason,
                                        s->m_report->saved ? QString() : QStringLiteral(", in memory only")));
    s->m_searcher = std::make_unique<Searcher>(dataDir, s->m_model, s->m_index->store());
    return s;
}

} // namespace unisearch::engine
