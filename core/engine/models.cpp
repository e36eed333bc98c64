// Model management: the Engine's model methods and the catalog-free import step.
#include "engine/models.h"

#include "engine/engine.h"
#include "engine/inference.h"
#include "engine/training.h"
#include "media/filepath.h"
#include "model/architecture.h"
#include "model/bundle.h"
#include "util/log.h"
#include "util/settings.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>

#include <nlohmann/json.hpp>

namespace unisearch::engine {

namespace {

const QString logCategory = QStringLiteral("models");

QString fromStd(const std::string &s)
{
    return QString::fromStdString(s);
}

template <typename T>
std::optional<T> failWith(QString *error, const QString &message)
{
    if (error)
        *error = message;
    log::warning(logCategory, message);
    return std::nullopt;
}

bool failBool(QString *error, const QString &message)
{
    if (error)
        *error = message;
    log::warning(logCategory, message);
    return false;
}

QJsonObject jsonObject(const std::string &text)
{
    return QJsonDocument::fromJson(QByteArray::fromStdString(text)).object();
}

// The catalog's record plus what model.json adds (parameter count, adapters, source).
ModelInfo infoFromRecord(const catalog::ModelRecord &r)
{
    ModelInfo m;
    m.name = r.name;
    m.task = r.task;
    m.fingerprint = r.fingerprint;
    m.path = r.path;
    m.architecture = QJsonDocument::fromJson(r.architectureJson.toUtf8()).object();
    m.active = r.active;
    m.importedAt = r.importedAt;
    try {
        const model::BundleInfo b = model::readBundle(r.path.toStdString());
        m.weightsPath = fromStd(b.weightsPath);
        m.source = fromStd(b.source);
        m.hasAdapters = b.hasAdapters;
        m.parameterCount = b.parameterCount;
    } catch (const model::BundleError &e) {
        // Listed anyway (the catalog knows it), with what is wrong; loading it will fail
        // with the same message.
        m.problem = fromStd(e.what());
    }
    return m;
}

// The architecture from --architecture's JSON text: the object itself or one holding it
// under "architecture" (a fixture's case.json).
model::Architecture parseArchitecture(const QString &text)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text.toStdString());
    } catch (const nlohmann::json::exception &e) {
        throw std::runtime_error(std::string("it is not valid JSON (") + e.what() + ")");
    }
    if (j.is_object() && j.contains("architecture") && j.at("architecture").is_object())
        j = j.at("architecture");
    return model::Architecture::fromJson(j);
}

} // namespace

QJsonObject ModelInfo::toJson() const
{
    QJsonObject o{
        {QStringLiteral("name"), name},
        {QStringLiteral("task"), task},
        {QStringLiteral("active"), active},
        {QStringLiteral("fingerprint"), fingerprint},
        {QStringLiteral("path"), path},
        {QStringLiteral("source"), source},
        {QStringLiteral("hasAdapters"), hasAdapters},
        {QStringLiteral("parameters"), qint64(parameterCount)},
        {QStringLiteral("importedAt"), importedAt.toUTC().toString(Qt::ISODate)},
        {QStringLiteral("architecture"), architecture},
    };
    if (!problem.isEmpty())
        o.insert(QStringLiteral("problem"), problem);
    return o;
}

std::optional<ImportedModel> runModelImport(const PreparedModelImport &prepared, QString *error)
{
    const ModelImportRequest &req = prepared.request;
    model::ImportOptions options;
    options.name = req.name.toStdString();
    options.task = req.task.toStdString();
    options.overwrite = req.replace;
    if (!req.architectureJson.trimmed().isEmpty()) {
        try {
            options.architecture = parseArchitecture(req.architectureJson);
        } catch (const std::exception &e) {
            return failWith<ImportedModel>(error, QStringLiteral("The architecture is not usable: %1")
                                                      .arg(QString::fromUtf8(e.what())));
        }
    }
    try {
        const model::ImportReport report =
            // The name's own bytes (it may not be UTF-8; see media/filepath.h).
            model::importModel(media::encodeFileName(QFileInfo(req.checkpoint).absoluteFilePath()).toStdString(),
                               prepared.modelsDir.toStdString(), options);
        ImportedModel out;
        const model::BundleInfo &b = report.bundle;
        out.model.name = fromStd(b.name);
        out.model.task = fromStd(b.task);
        out.model.fingerprint = fromStd(b.fingerprint);
        out.model.path = fromStd(b.dir);
        out.model.weightsPath = fromStd(b.weightsPath);
        out.model.source = fromStd(b.source);
        out.model.architecture = jsonObject(b.architecture.toJson().dump());
        out.model.hasAdapters = b.hasAdapters;
        out.model.parameterCount = b.parameterCount;
        out.model.importedAt = QDateTime::fromString(fromStd(b.importedAt), Qt::ISODate);
        for (const std::string &s : report.ignored)
            out.ignored.append(fromStd(s));
        out.sharedAliases = static_cast<int>(report.aliases);
        return out;
    } catch (const std::exception &e) {
        return failWith<ImportedModel>(error, QStringLiteral("Cannot import %1: %2")
                                                  .arg(QDir::toNativeSeparators(req.checkpoint),
                                                       QString::fromUtf8(e.what())));
    }
}

// --- Engine's model methods ----------------------------------------------------------

QString Engine::modelsDir() const
{
    return QDir(dataDir()).filePath(QStringLiteral("models"));
}

std::optional<PreparedModelImport> Engine::prepareModelImport(const ModelImportRequest &request, QString *error) const
{
    catalog::Catalog *cat = catalog();
    if (!cat)
        return failWith<PreparedModelImport>(error, QStringLiteral("The library is not open: %1").arg(errorString()));
    // Through media/filepath, not QFileInfo: the name may not be UTF-8, and a FIFO or a
    // device is named as such rather than "no such file".
    if (const QString problem = media::regularFileProblem(request.checkpoint); !problem.isEmpty())
        return failWith<PreparedModelImport>(
            error, QStringLiteral("%1: %2").arg(QDir::toNativeSeparators(request.checkpoint), problem));
    const QFileInfo file(request.checkpoint);  // names only from here on
    if (!request.task.isEmpty() && request.task != retrievalTask && request.task != vqaTask)
        return failWith<PreparedModelImport>(
            error, QStringLiteral("Unknown task '%1': use retrieval or vqa.").arg(request.task));

    PreparedModelImport p;
    p.request = request;
    if (p.request.name.isEmpty())
        p.request.name = file.completeBaseName();
    p.modelsDir = modelsDir();
    try {
        for (const catalog::ModelRecord &r : cat->models()) {
            if (r.name != p.request.name)
                continue;
            // A record whose bundle is gone is stale: the import replaces it.
            if (QFileInfo(r.path).isDir() && !request.replace)
                return failWith<PreparedModelImport>(
                    error, QStringLiteral("A model named '%1' already exists; choose another name with --name.")
                               .arg(p.request.name));
            p.request.replace = true;
        }
    } catch (const catalog::CatalogError &e) {
        return failWith<PreparedModelImport>(error,
                                             QStringLiteral("Reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    return p;
}

bool Engine::registerModel(ImportedModel &imported, QString *error)
{
    catalog::Catalog *cat = catalog();
    auto removeBundle = [&] { QDir(imported.model.path).removeRecursively(); };
    if (!cat) {
        removeBundle();
        return failBool(error, QStringLiteral("The library is not open: %1").arg(errorString()));
    }
    catalog::ModelRecord r;
    r.name = imported.model.name;
    r.fingerprint = imported.model.fingerprint;
    r.task = imported.model.task;
    r.architectureJson = QString::fromUtf8(QJsonDocument(imported.model.architecture).toJson(QJsonDocument::Compact));
    r.path = imported.model.path;
    r.importedAt = imported.model.importedAt.isValid() ? imported.model.importedAt : QDateTime::currentDateTimeUtc();
    try {
        cat->transaction([&] {
            const std::optional<catalog::ModelRecord> current = cat->activeModel(r.task);
            // The first model of a task becomes active; re-importing the active one keeps it so.
            r.active = !current || current->name == r.name;
            cat->upsertModel(r);
        });
    } catch (const catalog::CatalogError &e) {
        // A bundle the catalog does not know would only confuse: take it away again.
        removeBundle();
        return failBool(error, QStringLiteral("Could not record the model in the catalog: %1")
                                   .arg(QString::fromUtf8(e.what())));
    }
    imported.model.active = r.active;
    imported.activated = r.active;
    log::info(logCategory, QStringLiteral("model '%1' (%2) imported from %3%4")
                               .arg(r.name, r.task, imported.model.source,
                                    r.active ? QStringLiteral(", active") : QString()));
    emit statusChanged();
    return true;
}

std::optional<ImportedModel> Engine::importModel(const ModelImportRequest &request, QString *error)
{
    std::optional<PreparedModelImport> prepared = prepareModelImport(request, error);
    if (!prepared)
        return std::nullopt;
    std::optional<ImportedModel> imported = runModelImport(*prepared, error);
    if (!imported || !registerModel(*imported, error))
        return std::nullopt;
    return imported;
}

std::optional<ImportedModel> Engine::importModel(const QString &path, const QString &name, const QString &task,
                                                 const QString &architectureJson, QString *error)
{
    ModelImportRequest request;
    request.checkpoint = path;
    request.name = name;
    request.task = task;
    request.architectureJson = architectureJson;
    return importModel(request, error);
}

QList<ModelInfo> Engine::models(QString *error) const
{
    QList<ModelInfo> out;
    catalog::Catalog *cat = catalog();
    if (!cat) {
        failBool(error, QStringLiteral("The library is not open: %1").arg(errorString()));
        return out;
    }
    try {
        for (const catalog::ModelRecord &r : cat->models())
            out.append(infoFromRecord(r));
    } catch (const catalog::CatalogError &e) {
        failBool(error, QStringLiteral("Reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    return out;
}

std::optional<ModelInfo> Engine::model(const QString &name, QString *error) const
{
    QString listError;
    const QList<ModelInfo> all = models(&listError);
    if (!listError.isEmpty())
        return failWith<ModelInfo>(error, listError);
    for (const ModelInfo &m : all)
        if (m.name == name)
            return m;
    QStringList names;
    for (const ModelInfo &m : all)
        names.append(m.name);
    return failWith<ModelInfo>(error, names.isEmpty()
                                          ? QStringLiteral("There is no model named '%1': no model is imported yet; "
                                                           "run 'unisearch-cli model import FILE'.")
                                                .arg(name)
                                          : QStringLiteral("There is no model named '%1'. Imported models: %2.")
                                                .arg(name, names.join(QStringLiteral(", "))));
}

std::optional<ModelInfo> Engine::activeModel(const QString &task) const
{
    catalog::Catalog *cat = catalog();
    if (!cat)
        return std::nullopt;
    try {
        if (auto r = cat->activeModel(task))
            return infoFromRecord(*r);
    } catch (const catalog::CatalogError &e) {
        log::error(logCategory, QStringLiteral("reading the active model: %1").arg(QString::fromUtf8(e.what())));
    }
    return std::nullopt;
}

bool Engine::setActiveModel(const QString &name, QString *error)
{
    const std::optional<ModelInfo> m = model(name, error);
    if (!m)
        return false;
    if (!m->problem.isEmpty())
        return failBool(error, QStringLiteral("The model '%1' cannot be used: %2").arg(name, m->problem));
    try {
        if (!catalog()->setActiveModel(name))
            return failBool(error, QStringLiteral("There is no model named '%1'.").arg(name));
    } catch (const catalog::CatalogError &e) {
        return failBool(error, QStringLiteral("Could not activate '%1': %2").arg(name, QString::fromUtf8(e.what())));
    }
    log::info(logCategory, QStringLiteral("model '%1' is now the active %2 model").arg(name, m->task));
    emit statusChanged();
    return true;
}

std::unique_ptr<InferenceService> Engine::inference(const QString &task, const QString &name, QString *error) const
{
    std::optional<ModelInfo> m;
    if (!name.isEmpty()) {
        m = model(name, error);
        if (!m)
            return nullptr;
        if (!task.isEmpty() && m->task != task) {
            failBool(error, task == vqaTask
                                ? QStringLiteral("The model '%1' is a %2 model; questions need a VQA model "
                                                 "(import one with 'unisearch-cli model import FILE --task vqa').")
                                      .arg(name, m->task)
                                : QStringLiteral("The model '%1' is a %2 model; this needs a %3 model.")
                                      .arg(name, m->task, task));
            return nullptr;
        }
    } else {
        if (!catalog()) {
            failBool(error, QStringLiteral("The library is not open: %1").arg(errorString()));
            return nullptr;
        }
        m = activeModel(task);
        if (!m) {
            failBool(error, task == vqaTask
                                ? QStringLiteral("No VQA model imported: run 'unisearch-cli model import FILE "
                                                 "--task vqa' with a BLIP/UniAdapter VQA checkpoint.")
                                : QStringLiteral("No model imported: run 'unisearch-cli model import FILE' with a "
                                                 "BLIP/UniAdapter retrieval checkpoint."));
            return nullptr;
        }
    }
    if (!m->problem.isEmpty()) {
        failBool(error, QStringLiteral("The model '%1' cannot be used: %2").arg(m->name, m->problem));
        return nullptr;
    }
    if (catalog())
        m->adapterPack = activeAdapterPackPath(*catalog(), m->name); // training.h
    InferenceOptions options;
    options.device = device();
    options.precision = precisionSetting(); // the service resolves it
    return std::make_unique<InferenceService>(*m, options);
}

} // namespace unisearch::engine
