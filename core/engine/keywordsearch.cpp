#include "engine/keywordsearch.h"

#include "catalog/reader.h"
#include "index/vectorstore.h"

#include <QRegularExpression>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace unisearch::engine {

QString ftsExpression(const QString &text, const KeywordParams &params)
{
    // Words: runs of letters, digits and marks; everything else (quotes, operators,
    // parentheses, colons, stars) only separates them.
    static const QRegularExpression word(QStringLiteral("[\\p{L}\\p{N}\\p{M}]+"));
    QStringList quoted;
    auto it = word.globalMatch(text.left(params.maxWords * (params.maxWordLength + 1) * 4));
    while (it.hasNext() && quoted.size() < params.maxWords) {
        const QString w = it.next().captured(0).left(params.maxWordLength);
        // Letters and digits only, so a double quote cannot occur; quoting makes every
        // word a plain token (AND, OR, NOT and NEAR included).
        quoted << QLatin1Char('"') + w + QLatin1Char('"');
    }
    return quoted.join(QLatin1Char(' '));
}

QList<SearchHit> fuseRankings(const QList<SearchHit> &semantic, const QList<KeywordHit> &keyword,
                              const std::function<std::optional<SearchHit>(std::int64_t)> &complete,
                              const KeywordParams &params)
{
    if (keyword.isEmpty())
        return semantic;
    struct Entry {
        SearchHit hit;
        double score = 0;
        qsizetype order = 0;  // tie-break: semantic order, then keyword order
    };
    std::vector<Entry> entries;
    std::unordered_map<std::int64_t, size_t> at;
    const double k = std::max(1, params.rrfK);
    for (qsizetype i = 0; i < semantic.size(); ++i) {
        at.emplace(semantic[i].itemId, entries.size());
        entries.push_back(Entry{semantic[i], 1.0 / (k + double(i + 1)), i});
    }
    const double missingSemantic = 1.0 / (k + double(semantic.size() + 1));
    for (qsizetype i = 0; i < keyword.size(); ++i) {
        const KeywordHit &kw = keyword[i];
        const double fromKeyword = 1.0 / (k + double(i + 1));
        if (const auto found = at.find(kw.itemId); found != at.end()) {
            Entry &e = entries[found->second];
            e.score += fromKeyword;
            e.hit.matchedText = kw.matchedText;
            continue;
        }
        std::optional<SearchHit> hit = complete ? complete(kw.itemId) : std::nullopt;
        if (!hit)
            continue;
        hit->matchedText = kw.matchedText;
        at.emplace(kw.itemId, entries.size());
        entries.push_back(Entry{std::move(*hit), fromKeyword + missingSemantic, semantic.size() + i});
    }
    std::stable_sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) {
        return a.score != b.score ? a.score > b.score : a.order < b.order;
    });
    QList<SearchHit> out;
    out.reserve(qsizetype(entries.size()));
    for (Entry &e : entries)
        out.append(std::move(e.hit));
    return out;
}

namespace {

// A keyword hit the semantic list lacks, as a full SearchHit: its best segment by cosine
// with the query (a video: best moment, not its whole-file vector); none when the item is
// not indexed, has no vector in the store, or the filter excludes it.
std::optional<SearchHit> completeHit(std::int64_t itemId, const KeywordSources &src,
                                     const std::unordered_set<std::int64_t> *allowed)
{
    if (src.excludeItems && src.excludeItems->count(itemId))
        return std::nullopt;
    std::vector<std::int64_t> ids;
    for (const catalog::Segment &seg : src.reader.segmentsOfItem(itemId))
        if (!allowed || allowed->count(seg.id))
            ids.push_back(seg.id);
    const auto info = src.reader.segments(ids);
    std::optional<SearchHit> best;
    std::pair<int, float> bestKey{-1, 0.0f};  // a moment before a whole-video vector, then the cosine
    for (const std::int64_t id : ids) {
        const auto it = info.find(id);
        const std::optional<std::vector<float>> v = src.store.vector(id);
        if (it == info.end() || !v || it->second.status != catalog::ItemStatus::Indexed)
            continue;
        const catalog::SegmentInfo &s = it->second;
        double dot = 0;
        for (size_t i = 0; i < v->size() && i < src.query.size(); ++i)
            dot += double((*v)[i]) * double(src.query[i]);
        const std::pair<int, float> key{s.isVideoLevel() ? 0 : 1, float(dot)};
        if (key <= bestKey)
            continue;
        bestKey = key;
        SearchHit hit;
        hit.itemId = s.itemId;
        hit.segmentId = s.segmentId;
        hit.path = s.path;
        hit.type = s.type;
        hit.score = float(dot);
        hit.startMs = s.startMs;
        hit.endMs = s.endMs;
        hit.mtimeMs = s.mtimeMs;
        hit.width = s.width;
        hit.height = s.height;
        if (s.type == catalog::ItemType::Video && !s.isVideoLevel())
            hit.moments = {Moment{s.segmentId, s.startMs, s.endMs, hit.score}};
        best = std::move(hit);
    }
    return best;
}

} // namespace

QList<SearchHit> withKeywordHits(QList<SearchHit> semantic, const QString &keywordText, const KeywordSources &sources,
                                 const KeywordParams &params)
{
    const QString expression = ftsExpression(keywordText, params);
    if (expression.isEmpty())
        return semantic;
    catalog::TextIndex text(sources.dataDir);
    QList<KeywordHit> keyword;
    for (const catalog::KeywordMatch &m : text.match(expression, params.limit))
        keyword.append(KeywordHit{m.itemId, m.snippet});
    if (keyword.isEmpty())
        return semantic;
    std::optional<std::unordered_set<std::int64_t>> allowed;
    if (sources.allowedSegments)
        allowed.emplace(sources.allowedSegments->begin(), sources.allowedSegments->end());
    return fuseRankings(semantic, keyword, [&](std::int64_t itemId) {
        return completeHit(itemId, sources, allowed ? &*allowed : nullptr);
    }, params);
}

} // namespace unisearch::engine
