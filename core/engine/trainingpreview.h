#pragma once
// What the training wizard shows beside the training job (trainingjob.h): the library's
// images to pick examples from, and the user's own sample queries answered by the model
// before and after a new adapter pack, side by side. Every function here is blocking and
// reads the catalog through the given engine: call it on a worker thread with an Engine of
// its own (the GUI keeps its own connection). Nothing here throws.
#include "catalog/catalog.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>

namespace unisearch::engine {

class Engine;

struct LibraryImage {
    QString path;
    std::int64_t mtimeMs = 0;
};

struct LibraryImagesResult {
    QList<LibraryImage> images; // sorted by path, at most limit
    int matching = 0;           // how many matched (more than images.size() when cut at limit)
};

// The indexed images of the library's folders whose path contains pathFilter (ignoring
// case; empty: all), sorted by path, at most limit. nullopt with *error when the catalog
// cannot be read.
std::optional<LibraryImagesResult> libraryImages(Engine &engine, const QString &pathFilter, int limit,
                                                 QString *error = nullptr);

// The best k indexed images for a text search with the active search model (and its
// active pack), best first.
std::optional<QStringList> searchLibraryImages(Engine &engine, const QString &text, int k, QString *error = nullptr);

struct PreviewHit {
    QString path;
    double score = 0; // cosine similarity
};

struct QueryComparison {
    QString query;
    QList<PreviewHit> before, after; // best first, at most k each
};

struct QueryComparisonResult {
    // "library": both sides searched the indexed library (a query-mode pack changes only
    // the text side, so the stored image vectors serve before and after);
    // "examples": the pack changes the image side (full mode) or the library has no vectors
    // for one of the two, so both sides ranked the training examples' images, embedded
    // with each model.
    QString scope;
    QList<QueryComparison> queries;
};

// The top k for each query with the model as it is now (the active retrieval model with
// its active pack, if any: "before") and with the pack at packPath instead ("after").
// examplePaths: the images to rank when the library cannot serve (see scope). device:
// empty: the engine's.
std::optional<QueryComparisonResult> compareQueries(Engine &engine, const QString &packPath, const QStringList &queries,
                                                    const QStringList &examplePaths, int k, const QString &device = {},
                                                    QString *error = nullptr);

} // namespace unisearch::engine
