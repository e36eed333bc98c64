#include "engine/retrievalmodel.h"

#include "catalog/catalog.h"
#include "engine/inference.h"
#include "engine/models.h"
#include "engine/training.h"
#include "model/modelrunner.h"
#include "model/textclean.h"
#include "model/tokenizer.h"
#include "util/settings.h"

namespace unisearch::engine {

namespace {

constexpr int queryMaxWords = 30;   // the official pre_caption for retrieval queries
constexpr int queryMaxTokens = 35;  // BLIP's retrieval text length

void setError(QString *error, const QString &message)
{
    if (error)
        *error = message;
}

} // namespace

RetrievalModel::RetrievalModel() = default;
RetrievalModel::~RetrievalModel() = default;

std::shared_ptr<RetrievalModel> RetrievalModel::fromService(std::unique_ptr<InferenceService> service,
                                                            QString *error)
{
    if (!service) {
        setError(error, QStringLiteral("no search model"));
        return nullptr;
    }
    const std::optional<LoadedModel> loaded = service->load(error);
    if (!loaded)
        return nullptr;
    if (!service->runner()->hasRetrieval()) {
        setError(error, QStringLiteral("the model '%1' has no retrieval heads, so it cannot search; make a "
                                       "retrieval model the active one")
                            .arg(loaded->name));
        return nullptr;
    }
    std::shared_ptr<RetrievalModel> m(new RetrievalModel);
    m->m_name = loaded->name;
    m->m_fingerprint = loaded->fingerprint;
    m->m_runner = service->runner();
    m->m_tokenizer = service->tokenizer();
    m->m_preprocess = *service->preprocessParams();
    m->m_adapterPack = service->model().adapterPack;
    m->m_service = std::move(service);
    return m;
}

std::shared_ptr<RetrievalModel> RetrievalModel::loadActive(const catalog::Catalog &catalog, const QString &device,
                                                           QString *error, const QString &adapterPack,
                                                           const QString &precision)
{
    std::optional<catalog::ModelRecord> record;
    try {
        record = catalog.activeModel(retrievalTask);
    } catch (const catalog::CatalogError &e) {
        setError(error, QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
        return nullptr;
    }
    if (!record) {
        setError(error, QStringLiteral("no search model: import one first with 'unisearch-cli model import FILE "
                                       "--task retrieval'"));
        return nullptr;
    }
    // What the service reads of a model: its bundle (path) and identity.
    ModelInfo info;
    info.name = record->name;
    info.task = record->task;
    info.fingerprint = record->fingerprint;
    info.path = record->path;
    info.active = record->active;
    info.adapterPack = adapterPack.isEmpty() ? activeAdapterPackPath(catalog, record->name) : adapterPack; // training.h
    InferenceOptions options;
    options.device = device.isEmpty() ? QStringLiteral("cpu") : device;
    options.precision = precision.isEmpty() ? Settings().value(settings::precision) : precision;
    return fromService(std::make_unique<InferenceService>(info, options), error);
}

std::shared_ptr<RetrievalModel> RetrievalModel::fromRunner(std::unique_ptr<model::ModelRunner> runner,
                                                           const QString &name, const QString &fingerprint,
                                                           QString *error)
{
    if (!runner || !runner->hasRetrieval()) {
        setError(error, QStringLiteral("the model %1 has no retrieval heads, so it cannot search").arg(name));
        return nullptr;
    }
    const QString vocab = InferenceService::vocabularyPath();
    if (vocab.isEmpty()) {
        setError(error, QStringLiteral("the tokenizer vocabulary (bert-base-uncased.txt) was not found; set "
                                       "UNISEARCH_VOCAB or reinstall Unisearch"));
        return nullptr;
    }
    std::shared_ptr<RetrievalModel> m(new RetrievalModel);
    try {
        m->m_ownTokenizer = std::make_unique<model::Tokenizer>(model::Tokenizer::fromFile(vocab.toStdString()));
    } catch (const model::TokenizerError &e) {
        setError(error, QString::fromUtf8(e.what()));
        return nullptr;
    }
    const model::Architecture &arch = runner->architecture();
    m->m_preprocess.size = arch.vision.imageSize;
    m->m_preprocess.mean = arch.mean;
    m->m_preprocess.std = arch.std;
    m->m_ownRunner = std::move(runner);
    m->m_runner = m->m_ownRunner.get();
    m->m_tokenizer = m->m_ownTokenizer.get();
    m->m_name = name;
    m->m_fingerprint = fingerprint;
    return m;
}

QString RetrievalModel::device() const
{
    return QString::fromStdString(m_runner->device());
}

QString RetrievalModel::precision() const
{
    return m_runner->isBfloat16() ? QStringLiteral("bfloat16") : QStringLiteral("float32");
}

int RetrievalModel::imageSize() const
{
    return m_runner->imageSize();
}

int RetrievalModel::embedDim() const
{
    return m_runner->architecture().embedDim;
}

std::vector<std::vector<float>> RetrievalModel::imageFeatures(const std::vector<const float *> &pixelsCHW)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->imageFeatures(pixelsCHW);
}

std::vector<float> RetrievalModel::videoFeature(const std::vector<const float *> &framesCHW)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->videoFeature(framesCHW);
}

std::vector<std::vector<float>> RetrievalModel::textFeatures(const std::vector<std::vector<int64_t>> &ids)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->textFeatures(ids);
}

std::vector<std::pair<double, double>> RetrievalModel::itmLogits(const std::vector<const float *> &framesCHW,
                                                                 const std::vector<std::vector<int64_t>> &ids,
                                                                 bool frameAware)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->itmLogits(framesCHW, ids, frameAware);
}

std::vector<std::pair<double, double>> RetrievalModel::itmLogitsImages(const std::vector<const float *> &pixelsCHW,
                                                                       const std::vector<int64_t> &ids)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->itmLogitsImages(pixelsCHW, ids);
}

std::vector<std::shared_ptr<const model::VisualTokens>> RetrievalModel::imageTokensBatch(
    const std::vector<const float *> &pixelsCHW)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->imageTokensBatch(pixelsCHW);
}

std::vector<std::pair<double, double>> RetrievalModel::itmLogitsTokens(
    const std::vector<std::shared_ptr<const model::VisualTokens>> &tokens, const std::vector<int64_t> &ids)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->itmLogitsTokens(tokens, ids);
}

std::shared_ptr<const model::VisualTokens> RetrievalModel::videoTokens(const std::vector<const float *> &framesCHW)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->videoTokens(framesCHW);
}

std::vector<std::pair<double, double>> RetrievalModel::itmLogitsVideoTokens(
    const std::shared_ptr<const model::VisualTokens> &video, const std::vector<std::vector<int64_t>> &ids, bool frameAware)
{
    std::lock_guard<std::mutex> guard(m_mutex);
    return m_runner->itmLogitsVideoTokens(video, ids, frameAware);
}

QString RetrievalModel::tokenKey() const
{
    return m_fingerprint + QLatin1Char('|') + m_adapterPack + QLatin1Char('|')
        + (m_runner->isBfloat16() ? QLatin1String("bf16") : QLatin1String("f32"));
}

std::vector<int64_t> RetrievalModel::encodeQuery(const QString &text, QString *cleaned) const
{
    const std::string clean = model::preCaption(text.toStdString(), queryMaxWords);
    if (cleaned)
        *cleaned = QString::fromStdString(clean);
    if (clean.empty())
        return {};
    return m_tokenizer->encode(clean, queryMaxTokens, false);
}

} // namespace unisearch::engine
