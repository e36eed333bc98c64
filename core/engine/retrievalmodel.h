#pragma once
// The active retrieval model as the indexer and the search use it: the loaded ModelEngine,
// its tokenizer and image preprocessing, and the fingerprint that keys the catalog's
// vectors and the FAISS file.
//
// The model itself is loaded by the inference service (inference.h: bundle, vocabulary,
// device, precision); this wrapper adds what the pipeline needs on top: a lock (the
// indexer's inference thread and a search may share one model; ModelEngine calls are not
// reentrant) and the query clean-up of search. fromEngine() wraps an engine built in
// memory (benchmarks and tests use random or fixture weights without a bundle).
//
// Hold lock() around every call to engine().
#include "model/preprocess.h"

#include <QString>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace unisearch::model {
class ModelEngine;
class Tokenizer;
} // namespace unisearch::model

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine {

class InferenceService;

class RetrievalModel
{
public:
    // Loads a service's model (Engine::inference(retrievalTask) gives one that follows the
    // device and precision settings). Null with *error on failure.
    static std::shared_ptr<RetrievalModel> fromService(std::unique_ptr<InferenceService> service,
                                                       QString *error = nullptr);
    // Loads the catalog's active retrieval model (float32) on device ("cpu", "cuda"): for
    // engine parts that have a catalog but no Engine (the indexing job on its own thread).
    // Null with *error ("no search model: import one with ...") on failure. adapterPack
    // non-empty: that pack instead of the model's active one (a re-embed, training.h).
    static std::shared_ptr<RetrievalModel> loadActive(const catalog::Catalog &catalog, const QString &device,
                                                      QString *error = nullptr, const QString &adapterPack = {});
    // Wraps an engine that is already loaded. fingerprint keys the vectors.
    static std::shared_ptr<RetrievalModel> fromEngine(std::unique_ptr<model::ModelEngine> engine,
                                                      const QString &name, const QString &fingerprint,
                                                      QString *error = nullptr);

    ~RetrievalModel();
    RetrievalModel(const RetrievalModel &) = delete;
    RetrievalModel &operator=(const RetrievalModel &) = delete;

    QString name() const { return m_name; }
    QString fingerprint() const { return m_fingerprint; }
    QString device() const;
    int imageSize() const;
    int embedDim() const;
    const model::PreprocessParams &preprocessParams() const { return m_preprocess; }

    // Serialises the model's users (the engine is not reentrant).
    std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(m_mutex); }
    model::ModelEngine &engine() { return *m_engine; }
    const model::Tokenizer &tokenizer() const { return *m_tokenizer; }

    // Search queries: pre_caption(text, 30 words) then [CLS] … [SEP] truncated to 35 tokens
    // (BLIP's retrieval text length). Empty when nothing is left after clean-up.
    std::vector<int64_t> encodeQuery(const QString &text, QString *cleaned = nullptr) const;

private:
    RetrievalModel();
    QString m_name;
    QString m_fingerprint;
    std::unique_ptr<InferenceService> m_service;         // owns engine and tokenizer, or
    std::unique_ptr<model::ModelEngine> m_ownEngine;     // fromEngine(): these do
    std::unique_ptr<model::Tokenizer> m_ownTokenizer;
    model::ModelEngine *m_engine = nullptr;
    const model::Tokenizer *m_tokenizer = nullptr;
    model::PreprocessParams m_preprocess;
    std::mutex m_mutex;
};

} // namespace unisearch::engine
