#pragma once
// Combined queries: `2:a dog on the beach - people + ./beach.jpg` (DESIGN.md, "Command line").
// Terms are joined by " + " and " - " (spaces around the sign); a term may start with a
// weight "W:"; a term that names an existing image or video file (or `item:ID`) is an image
// term, a term in double quotes is always text. The query vector is
// normalize(Σ wᵢ · unit(featureᵢ)); a query with no separator is one text term of weight 1
// and behaves exactly as a plain query.
#include <QList>
#include <QString>

#include <cstdint>
#include <optional>
#include <vector>

namespace unisearch::engine {

struct QueryTerm {
    enum class Kind { Text, File, Item };
    Kind kind = Kind::Text;
    double weight = 1.0;      // negative for a term after " - "
    QString text;             // Text: the term as written (weight and quotes removed)
    QString path;             // File: the absolute path of the file it names
    std::int64_t itemId = 0;  // Item: `item:ID`
};

struct ParsedQuery {
    QList<QueryTerm> terms;
    // More than one term, a weight other than 1, or a term that is not text: the query
    // vector is the weighted sum. False: a plain text query (exactly today's search).
    bool isCombined() const;
    // The text of the positive text terms, joined by spaces: what keyword (OCR, file
    // name) search looks for.
    QString keywordText() const;
};

// Splits text into terms; relative paths resolve against baseDir (the CLI's working
// directory). std::nullopt with *error (naming the bad term) for an empty term, a bad
// weight, an unterminated quote or a term that names a file that does not exist.
//
// The rules, in order, for each term between separators (a separator is " + " or " - "
// outside double quotes):
//  - with more than one term, a leading "W:" (W a number, 0 < W <= 100) is its weight; a
//    single term keeps its text whole ("10:30 meeting" stays a plain query);
//  - "…" (the whole term in double quotes): text, never a file, no weight inside;
//  - item:ID: that item's stored vector;
//  - a term that looks like a path (starts with /, ./, ../ or ~/, or has a / and ends in
//    a file extension) must name an existing file, else the query fails naming it; a plain
//    name with an image or video extension that names an existing file (beach.jpg in
//    baseDir) is a file term too;
//  - anything else is text (the model's query clean-up applies to it).
// At most maxQueryTerms terms and maxQueryLength characters.
constexpr int maxQueryTerms = 16;
constexpr int maxQueryLength = 4000;
std::optional<ParsedQuery> parseQuery(const QString &text, const QString &baseDir, QString *error = nullptr);

// The terms written back in the query language: text terms as given (quoted when they hold
// a separator), files as absolute paths, weights other than 1 as "W:".
QString describeQuery(const ParsedQuery &query);

// normalize(Σ wᵢ · unit(featureᵢ)). std::nullopt with *error when a feature is empty or
// zero, the lengths differ, or the sum is (nearly) zero: the terms cancel out (`a - a`).
struct WeightedFeature {
    double weight = 1.0;
    std::vector<float> feature;
};
std::optional<std::vector<float>> combineFeatures(const std::vector<WeightedFeature> &terms, QString *error = nullptr);

} // namespace unisearch::engine
