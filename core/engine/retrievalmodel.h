#pragma once
// The active retrieval model as the indexer and the search use it: the loaded ModelRunner,
// its tokenizer and image preprocessing, and the fingerprint that keys the catalog's
// vectors and the FAISS file.
//
// The model itself is loaded by the inference service (inference.h: bundle, vocabulary,
// device, precision); this wrapper adds what the pipeline needs on top: a lock (the
// indexer's inference thread and a search may share one model; ModelRunner calls are not
// reentrant) and the query clean-up of search. fromRunner() wraps a runner built in
// memory (benchmarks and tests use random or fixture weights without a bundle).
//
// The wrapper takes its lock itself: each forward below (imageFeatures, textFeatures, ...)
// holds it for the call, and withModel(fn) runs fn on the runner under it, for a caller
// that needs several calls in one go or one the wrapper does not offer. Calls throw what
// ModelRunner throws (model::ModelError).
#include "engine/tokencache.h"
#include "model/preprocess.h"

#include <QString>

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace unisearch::model {
class ModelRunner;
class Tokenizer;
struct VisualTokens;
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
    // Loads the catalog's active retrieval model on device ("cpu", "cuda") at precision
    // (auto | float32 | bfloat16; empty: the "engine/precision" setting; resolvePrecision):
    // for engine parts that have a catalog but no Engine (the indexing job on its own
    // thread). Null with *error ("no search model: import one with ...") on failure.
    // adapterPack non-empty: that pack instead of the model's active one (a re-embed,
    // training.h).
    static std::shared_ptr<RetrievalModel> loadActive(const catalog::Catalog &catalog, const QString &device,
                                                      QString *error = nullptr, const QString &adapterPack = {},
                                                      const QString &precision = {});
    // Wraps a runner that is already loaded. fingerprint keys the vectors.
    static std::shared_ptr<RetrievalModel> fromRunner(std::unique_ptr<model::ModelRunner> runner,
                                                      const QString &name, const QString &fingerprint,
                                                      QString *error = nullptr);

    ~RetrievalModel();
    RetrievalModel(const RetrievalModel &) = delete;
    RetrievalModel &operator=(const RetrievalModel &) = delete;

    QString name() const { return m_name; }
    QString fingerprint() const { return m_fingerprint; }
    QString device() const;
    // The precision the model computes at: "float32" or "bfloat16" (the catalog records
    // it with the vectors, catalog::Catalog::setVectorPrecision).
    QString precision() const;
    int imageSize() const;
    int embedDim() const;
    const model::PreprocessParams &preprocessParams() const { return m_preprocess; }

    // The model's forwards (modelrunner.h), each under the lock.
    std::vector<std::vector<float>> imageFeatures(const std::vector<const float *> &pixelsCHW);
    std::vector<float> videoFeature(const std::vector<const float *> &framesCHW);
    std::vector<std::vector<float>> textFeatures(const std::vector<std::vector<int64_t>> &ids);
    std::vector<std::pair<double, double>> itmLogits(const std::vector<const float *> &framesCHW,
                                                     const std::vector<std::vector<int64_t>> &ids,
                                                     bool frameAware = false);
    std::vector<std::pair<double, double>> itmLogitsImages(const std::vector<const float *> &pixelsCHW,
                                                           const std::vector<int64_t> &ids);
    // An image's tokens for a later ITM (modelrunner.h), the images in one batch, and ITM
    // of one text against such tokens; each under the lock.
    std::vector<std::shared_ptr<const model::VisualTokens>> imageTokensBatch(const std::vector<const float *> &pixelsCHW);
    std::vector<std::pair<double, double>> itmLogitsTokens(
        const std::vector<std::shared_ptr<const model::VisualTokens>> &tokens, const std::vector<int64_t> &ids);
    // A video's tokens (its frames as one item) and ITM of texts against them; under the lock.
    std::shared_ptr<const model::VisualTokens> videoTokens(const std::vector<const float *> &framesCHW);
    std::vector<std::pair<double, double>> itmLogitsVideoTokens(const std::shared_ptr<const model::VisualTokens> &video,
                                                                const std::vector<std::vector<int64_t>> &ids,
                                                                bool frameAware);
    // The image tokens of recently re-ranked items (tokencache.h), and the model part of their
    // keys: fingerprint, adapter pack and precision.
    TokenCache &tokenCache() { return m_tokenCache; }
    QString tokenKey() const;
    // Runs fn(model::ModelRunner &) under the lock and returns what it returns.
    template <typename F>
    auto withModel(F &&fn)
    {
        std::lock_guard<std::mutex> guard(m_mutex);
        return std::forward<F>(fn)(*m_runner);
    }


    const model::Tokenizer &tokenizer() const { return *m_tokenizer; }

    // Search queries: pre_caption(text, 30 words) then [CLS] … [SEP] truncated to 35 tokens
    // (BLIP's retrieval text length). Empty when nothing is left after clean-up.
    std::vector<int64_t> encodeQuery(const QString &text, QString *cleaned = nullptr) const;

private:
    RetrievalModel();
    QString m_name;
    QString m_fingerprint;
    std::unique_ptr<InferenceService> m_service;         // owns runner and tokenizer, or
    std::unique_ptr<model::ModelRunner> m_ownRunner;     // fromRunner(): these do
    std::unique_ptr<model::Tokenizer> m_ownTokenizer;
    model::ModelRunner *m_runner = nullptr;
    const model::Tokenizer *m_tokenizer = nullptr;
    model::PreprocessParams m_preprocess;
    std::mutex m_mutex;  // serialises the model's users (the runner is not reentrant)
    QString m_adapterPack;  // the service's adapter pack; empty: none or fromRunner()
    TokenCache m_tokenCache;
};

} // namespace unisearch::engine
