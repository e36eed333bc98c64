#pragma once
// Keyword search over the keyword index (file and folder names, OCR text; catalog/text.cpp)
// and its fusion with the semantic ranking.
//
// The user's words never reach FTS5 as syntax: the text is split into words (letters and
// digits), each is quoted, and all are required (FTS5's implicit AND), so `invoice 4471`
// becomes `"invoice" "4471"` and `NEAR(x` or `a OR b` are only words. bm25 orders the hits.
//
// Fusion: reciprocal rank fusion, score(item) = Σ 1 / (k + rank) over the semantic list and
// the keyword list (ranks from 1; an item missing from the semantic list counts as ranked
// just after its end). RRF needs no calibration between cosine similarities and bm25, whose
// scales differ per query; docs/performance.md ("Text in pictures") has the measurement. A
// query without keyword hits (not all of its words in one name or OCR text) keeps its
// semantic order untouched.
#include "engine/search.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <unordered_set>
#include <vector>

namespace unisearch::catalog {
class Reader;
}
namespace unisearch::index {
class VectorStore;
}

namespace unisearch::engine {

struct KeywordParams {
    int maxWords = 16;        // words of a query used at most
    int maxWordLength = 64;   // longer words are cut
    int limit = 200;          // keyword hits read at most
    int rrfK = 60;            // reciprocal rank fusion's constant
};

// The FTS5 expression for text: its words quoted and joined (all required); empty when the
// text has no word.
QString ftsExpression(const QString &text, const KeywordParams &params = {});

struct KeywordHit {
    std::int64_t itemId = 0;
    QString matchedText;  // the snippet that matched
};

// Fuses the semantic hits (best first) with the keyword hits (best first). Keyword hits not
// among the semantic ones are completed by complete(itemId) (null: dropped, e.g. filtered
// out or not indexed). Hits a keyword matched carry matchedText. With no keyword hit the
// semantic list comes back as it is.
QList<SearchHit> fuseRankings(const QList<SearchHit> &semantic, const QList<KeywordHit> &keyword,
                              const std::function<std::optional<SearchHit>(std::int64_t)> &complete,
                              const KeywordParams &params = {});

// What the search needs for keyword hits: the library's catalog (read-only), and the store
// whose vectors score a keyword hit the semantic list lacks (cosine with query).
struct KeywordSources {
    QString dataDir;
    catalog::Reader &reader;
    const index::VectorStore &store;
    std::span<const float> query;
    // The segments the search's filter allows (type, folder, dates); none: no filter.
    std::optional<std::vector<std::int64_t>> allowedSegments;
    // Items the search leaves out (the photos a combined query names); null: none.
    const std::unordered_set<std::int64_t> *excludeItems = nullptr;
};

// The semantic hits fused with the keyword hits of keywordText (see above); the semantic
// hits unchanged when keywordText has no word or no item matches all its words. Throws
// catalog::CatalogError.
QList<SearchHit> withKeywordHits(QList<SearchHit> semantic, const QString &keywordText, const KeywordSources &sources,
                                 const KeywordParams &params = {});

} // namespace unisearch::engine
