#include "engine/engine.h"

#include "engine/inference.h"
#include "engine/lock.h"
#include "engine/retrievalmodel.h"
#include "engine/training.h"

#include "media/filepath.h"
#include "media/ocr.h"
#include "model/runtime.h"
#include "util/datadir.h"
#include "util/error.h"
#include "util/log.h"
#include "util/settings.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonValue>

namespace unisearch::engine {

namespace {

const QString logCategory = QStringLiteral("engine");

QJsonValue nameOrNull(const QString &s)
{
    return s.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(s);
}

} // namespace

QJsonObject Status::toJson() const
{
    const QJsonObject countsJson{
        {QStringLiteral("roots"), qint64(counts.roots)},
        {QStringLiteral("items"), qint64(counts.items)},
        {QStringLiteral("images"), qint64(counts.images)},
        {QStringLiteral("videos"), qint64(counts.videos)},
        {QStringLiteral("segments"), qint64(counts.segments)},
        {QStringLiteral("vectors"), qint64(counts.vectors)},
        {QStringLiteral("errors"), qint64(counts.errors)},
        {QStringLiteral("models"), qint64(counts.models)},
        {QStringLiteral("adapterPacks"), qint64(counts.adapterPacks)},
        {QStringLiteral("labels"), qint64(counts.labels)},
        {QStringLiteral("jobs"), qint64(counts.jobs)},
    };
    QJsonObject precisionCounts;
    for (auto it = vectorPrecisions.cbegin(); it != vectorPrecisions.cend(); ++it)
        precisionCounts.insert(it.key(), qint64(it.value()));
    return QJsonObject{
        {QStringLiteral("version"), QStringLiteral(UNISEARCH_VERSION)},
        {QStringLiteral("dataDir"), dataDir},
        {QStringLiteral("cacheDir"), cacheDir},
        {QStringLiteral("catalog"), catalogPath},
        {QStringLiteral("schemaVersion"), schemaVersion},
        {QStringLiteral("activeModel"), nameOrNull(activeModel)},
        {QStringLiteral("activeVqaModel"), nameOrNull(activeVqaModel)},
        {QStringLiteral("device"), device},
        {QStringLiteral("threads"), threads},
        {QStringLiteral("precision"), precision},
        {QStringLiteral("vectorPrecisions"), precisionCounts},
        {QStringLiteral("counts"), countsJson},
    };
}

struct Engine::Private {
    Locations locations;
    std::unique_ptr<catalog::Catalog> catalog;
    QString error;
    QString device = QStringLiteral("cpu");
    int threads = 0;
    QString precision; // Options::precision; empty: the setting
};

Engine::Engine(QObject *parent)
    : QObject(parent), d(std::make_unique<Private>())
{
}

Engine::~Engine() = default;

bool Engine::open(const Options &options)
{
    d->catalog.reset();
    d->error.clear();
    d->locations = resolveLocations(options.dataDir);

    const Settings settings;

    // Device: decided once, here. An explicit --device cuda that cannot be honoured is an
    // error; the same value coming from the settings file falls back to the CPU, because
    // the GUI must still start on a machine whose GPU went away.
    const bool explicitDevice = !options.device.isEmpty();
    const QString wanted = explicitDevice ? options.device.toLower() : settings.value(settings::device);
    if (wanted != QLatin1String("auto") && wanted != QLatin1String("cpu") && wanted != QLatin1String("cuda")) {
        d->error = QStringLiteral("Unknown device '%1': use auto, cpu or cuda.").arg(options.device);
        return false;
    }
    const bool cuda = model::cudaAvailable();
    if (wanted == QLatin1String("cuda") && !cuda) {
        const QString why = QStringLiteral("CUDA was requested, but no CUDA device is usable (this build uses a "
                                           "%1 LibTorch).")
                                .arg(QStringLiteral(
#ifdef UNISEARCH_CUDA
                                    "CUDA-enabled"
#else
                                    "CPU-only"
#endif
                                    ));
        if (explicitDevice) {
            d->error = why + QStringLiteral(" Use --device cpu.");
            return false;
        }
        log::warning(logCategory, why + QStringLiteral(" Using the CPU."));
    }
    d->device = (wanted == QLatin1String("cpu") || !cuda) ? QStringLiteral("cpu") : QStringLiteral("cuda");
    if (!options.precision.isEmpty() && !isPrecisionName(options.precision.toLower())) {
        d->error = QStringLiteral("Unknown precision '%1': use auto, float32 or bfloat16.")
                       .arg(options.precision.left(40));
        return false;
    }
    d->precision = options.precision.toLower();

    // Threads: LibTorch otherwise picks a single thread on some machines.
    const int requestedThreads = options.threads >= 0 ? options.threads : settings.value(settings::threads);
    model::setThreads(requestedThreads);
    d->threads = model::threads();

    if (const QString err = ensureWritableDir(d->locations.dataDir); !err.isEmpty()) {
        d->error = err;
        return false;
    }
    catalog::OpenResult opened = catalog::Catalog::open(d->locations.dataDir);
    if (!opened) {
        d->error = opened.error;
        return false;
    }
    d->catalog = std::move(opened.catalog);
    log::info(logCategory, QStringLiteral("data dir %1 (%2), device %3, %4 threads")
                               .arg(d->locations.dataDir, sourceName(d->locations.source), d->device)
                               .arg(d->threads));
    emit statusChanged();
    return true;
}

bool Engine::isOpen() const
{
    return d->catalog != nullptr;
}

QString Engine::errorString() const
{
    return d->error;
}

QString Engine::dataDir() const
{
    return d->locations.dataDir;
}

QStringList Engine::installedTextLanguages()
{
    return media::installedOcrLanguages();
}

QString Engine::cacheDir() const
{
    return d->locations.cacheDir;
}

QString Engine::device() const
{
    return d->device;
}

int Engine::threads() const
{
    return d->threads;
}

QString Engine::precision() const
{
    return resolvePrecision(precisionSetting(), d->device);
}

QString Engine::precisionSetting() const
{
    return d->precision.isEmpty() ? Settings().value(settings::precision) : d->precision;
}

catalog::Catalog *Engine::catalog() const
{
    return d->catalog.get();
}

Status Engine::status() const
{
    Status s;
    s.dataDir = d->locations.dataDir;
    s.cacheDir = d->locations.cacheDir;
    s.device = d->device;
    s.threads = d->threads;
    s.precision = precision();
    if (!d->catalog)
        return s;
    s.catalogPath = d->catalog->filePath();
    try {
        s.schemaVersion = d->catalog->schemaVersion();
        s.counts = d->catalog->counts();
        s.vectorPrecisions = d->catalog->vectorPrecisions();
        if (auto m = d->catalog->activeModel(QStringLiteral("retrieval")))
            s.activeModel = m->name;
        if (auto m = d->catalog->activeModel(QStringLiteral("vqa")))
            s.activeVqaModel = m->name;
    } catch (const catalog::CatalogError &e) {
        log::error(logCategory, QStringLiteral("reading status: %1").arg(QString::fromUtf8(e.what())));
    }
    return s;
}

std::optional<std::int64_t> Engine::addFolder(const QString &path, QString *error)
{
    auto fail = [&](const QString &message) -> std::optional<std::int64_t> {
        if (error)
            *error = message;
        log::warning(logCategory, message);
        return std::nullopt;
    };
    if (!d->catalog)
        return fail(QStringLiteral("The library is not open: %1").arg(d->error));
    // Through media/filepath, not QFileInfo, which cannot reach a name that is not UTF-8.
    if (const QString problem = media::folderProblem(path); !problem.isEmpty())
        return fail(QStringLiteral("Cannot add the folder %1: %2.").arg(QDir::toNativeSeparators(path), problem));
    const QFileInfo info(path);  // names only from here on
    try {
        const std::int64_t id = d->catalog->addRoot(info.absoluteFilePath());
        log::info(logCategory, QStringLiteral("library folder added: %1").arg(info.absoluteFilePath()));
        emit statusChanged();
        return id;
    } catch (const catalog::CatalogError &e) {
        return fail(QStringLiteral("Could not add %1 to the catalog: %2")
                        .arg(QDir::toNativeSeparators(path), QString::fromUtf8(e.what())));
    }
}

bool Engine::removeFolder(const QString &path, QString *error)
{
    auto fail = [&](const QString &message) {
        if (error)
            *error = message;
        log::warning(logCategory, message);
        return false;
    };
    if (!d->catalog)
        return fail(QStringLiteral("The library is not open: %1").arg(d->error));
    IndexLock lock(d->locations.dataDir);
    QString lockError;
    if (!lock.tryLock(&lockError))
        return fail(QStringLiteral("The folder cannot be removed while the library is being indexed: %1")
                        .arg(lockError));
    try {
        std::optional<catalog::Root> root;
        for (const catalog::Root &r : d->catalog->roots())
            if (r.path == path || QDir::cleanPath(r.path) == QDir::cleanPath(path))
                root = r;
        if (!root)
            return fail(QStringLiteral("%1 is not a folder of the library.").arg(QDir::toNativeSeparators(path)));
        d->catalog->transaction([&] {
            // The stores of every model lose vectors: a generation ahead of their files
            // makes the next open rebuild them from the catalog (vectorindex.h).
            for (const catalog::ModelRecord &m : d->catalog->models()) {
                d->catalog->setFaissGeneration(m.fingerprint, d->catalog->faissGeneration(m.fingerprint) + 1);
                // Full-mode adapter packs keep their vectors under keys of their own (training.h).
                for (const QString &pack : {activeAdapterPackPath(*d->catalog, m.name),
                                            pendingAdapterPackPath(*d->catalog, m.name)})
                    if (const QString key = vectorFingerprint(m.fingerprint, pack); key != m.fingerprint)
                        d->catalog->setFaissGeneration(key, d->catalog->faissGeneration(key) + 1);
            }
            d->catalog->removeRoot(root->id);
        });
        log::info(logCategory, QStringLiteral("library folder removed: %1").arg(root->path));
        emit statusChanged();
        return true;
    } catch (const catalog::CatalogError &e) {
        return fail(QStringLiteral("Could not remove %1 from the catalog: %2")
                        .arg(QDir::toNativeSeparators(path), QString::fromUtf8(e.what())));
    }
}

QStringList Engine::folders() const
{
    QStringList out;
    if (!d->catalog)
        return out;
    try {
        for (const catalog::Root &r : d->catalog->roots())
            out.append(r.path);
    } catch (const catalog::CatalogError &e) {
        log::error(logCategory, QStringLiteral("reading the folders: %1").arg(QString::fromUtf8(e.what())));
    }
    return out;
}

std::optional<catalog::Item> Engine::itemByPath(const QString &path) const
{
    if (!d->catalog)
        return std::nullopt;
    try {
        return d->catalog->itemByPath(path);
    } catch (const catalog::CatalogError &) {
        return std::nullopt;  // callers fall back to what they know of the file
    }
}

std::optional<QList<catalog::ErrorEntry>> Engine::recentErrors(int limit, QString *error) const
{
    if (!d->catalog) {
        if (error)
            *error = QStringLiteral("The library is not open: %1").arg(d->error);
        return std::nullopt;
    }
    try {
        return d->catalog->errors(limit);
    } catch (const catalog::CatalogError &e) {
        if (error)
            *error = QString::fromUtf8(e.what());
        return std::nullopt;
    }
}

QString Engine::pendingAdapterPack(const QString &modelName) const
{
    if (!d->catalog)
        return {};
    return pendingAdapterPackPath(*d->catalog, modelName);
}

std::optional<SearchSessionPlan> Engine::searchSessionPlan(QString *error) const
{
    // The model as inference() resolves it for any caller: the same checks and messages.
    const std::unique_ptr<InferenceService> service = inference(retrievalTask, {}, error);
    if (!service)
        return std::nullopt;
    SearchSessionPlan plan;
    plan.dataDir = d->locations.dataDir;
    plan.model = service->model();
    plan.options = service->options();
    plan.vectorKey = vectorFingerprint(plan.model.fingerprint, plan.model.adapterPack);
    return plan;
}

std::unique_ptr<SearchSession> Engine::openSearchSession(QString *error) const
{
    const std::optional<SearchSessionPlan> plan = searchSessionPlan(error);
    if (!plan)
        return nullptr;
    return SearchSession::open(*plan, d->catalog.get(), {}, error);
}

std::optional<QList<DuplicateGroup>> Engine::findDuplicates(const DuplicateParams &params,
                                                            const DuplicateProgressFn &progress, QString *error) const
{
    const std::optional<SearchSessionPlan> plan = searchSessionPlan(error);
    if (!plan)
        return std::nullopt;
    return engine::findDuplicates(*plan, d->catalog.get(), params, progress, error);
}

std::optional<XmpExportResult> Engine::exportNamesToXmp(const XmpExportParams &params,
                                                        const XmpExportProgressFn &progress, QString *error) const
{
    if (!d->catalog)
        return util::fail(error, QStringLiteral("The library is not open: %1").arg(d->error));
    return exportXmpSidecars(*d->catalog, params, progress, error);
}

} // namespace unisearch::engine
