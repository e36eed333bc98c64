#pragma once
// What the training job (trainingjob.cpp) and the re-embed (reembed.cpp) share with the
// adapter packs (adapterpacks.cpp): pack names and paths, and the one place that changes
// a model's active/pending pack records.
#include <QString>

namespace unisearch::engine {

class Engine;
struct ModelInfo;

namespace detail {

// Letters, digits, . _ - and spaces, at most 100.
bool validPackName(const QString &name);
// <dataDir>/adapters/<name>.safetensors
QString packPath(const Engine &engine, const QString &name);
// Changes the active/pending pack records of a model and deletes the vectors nobody uses
// any more, in one transaction (see adapterpacks.cpp). false with *error when it cannot.
bool setPackState(Engine &engine, const ModelInfo &model, const QString &active, const QString &pending,
                  QString *error);

} // namespace detail
} // namespace unisearch::engine
