#include "engine/adapterpacks.h"

#include "catalog/catalog.h"
#include "engine/adapterpacks_p.h"
#include "engine/engine.h"
#include "engine/failed_p.h"
#include "engine/indexjob.h"
#include "engine/lock.h"
#include "engine/models.h"
#include "engine/vectorindex.h"
#include "model/adapterpack.h"
#include "util/faultpoint.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QRegularExpression>

namespace unisearch::engine {

using detail::packPath;
using detail::setPackState;

namespace {

const QString activeKeyPrefix = QStringLiteral("adapter_pack/active/");
const QString pendingKeyPrefix = QStringLiteral("adapter_pack/pending/");
const QString packSuffix = QStringLiteral(".safetensors");

bool failBool(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return false;
}

QString fromStd(const std::string &s)
{
    return QString::fromStdString(s);
}

AdapterPackInfo infoFrom(const model::PackInfo &p)
{
    AdapterPackInfo a;
    a.path = fromStd(p.path);
    a.name = QFileInfo(a.path).completeBaseName();
    a.baseModel = fromStd(p.metadata.baseModel);
    a.baseFingerprint = fromStd(p.metadata.baseFingerprint);
    a.task = fromStd(p.metadata.task);
    a.mode = fromStd(p.metadata.mode);
    a.createdAt = fromStd(p.metadata.createdAt);
    a.appVersion = fromStd(p.metadata.appVersion);
    a.trainExamples = p.metadata.trainExamples;
    a.validationExamples = p.metadata.validationExamples;
    a.parameterCount = p.parameterCount;
    a.metrics = QJsonDocument::fromJson(QByteArray::fromStdString(p.metadata.metricsJson)).object();
    a.touchesVision = p.metadata.touchesVision;
    return a;
}

} // namespace

bool detail::validPackName(const QString &name)
{
    static const QRegularExpression re(QStringLiteral("^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$"));
    return re.match(name).hasMatch();
}

QString detail::packPath(const Engine &engine, const QString &name)
{
    return QDir(adaptersDir(engine)).filePath(name + packSuffix);
}

QJsonObject AdapterPackInfo::toJson() const
{
    QJsonObject o{{QStringLiteral("name"), name},
                  {QStringLiteral("path"), path},
                  {QStringLiteral("active"), active},
                  {QStringLiteral("pending"), pending}};
    if (!problem.isEmpty()) {
        o.insert(QStringLiteral("problem"), problem);
        return o;
    }
    o.insert(QStringLiteral("base_model"), baseModel);
    o.insert(QStringLiteral("base_fingerprint"), baseFingerprint);
    o.insert(QStringLiteral("task"), task);
    o.insert(QStringLiteral("mode"), mode);
    o.insert(QStringLiteral("created_at"), createdAt);
    o.insert(QStringLiteral("app_version"), appVersion);
    o.insert(QStringLiteral("train_examples"), trainExamples);
    o.insert(QStringLiteral("validation_examples"), validationExamples);
    o.insert(QStringLiteral("parameter_count"), parameterCount);
    o.insert(QStringLiteral("metrics"), metrics);
    o.insert(QStringLiteral("touches_vision"), touchesVision);
    return o;
}

QString adaptersDir(const Engine &engine)
{
    return QDir(engine.dataDir()).filePath(QStringLiteral("adapters"));
}

QString activeAdapterPackPath(const catalog::Catalog &catalog, const QString &modelName)
{
    try {
        return catalog.meta(activeKeyPrefix + modelName).value_or(QString());
    } catch (const std::exception &) {
        return {};
    }
}

QList<AdapterPackInfo> adapterPacks(const Engine &engine, QString *error)
{
    QList<AdapterPackInfo> out;
    QStringList active, pending;
    if (engine.catalog())
        for (const ModelInfo &m : engine.models()) {
            if (const QString p = activeAdapterPackPath(*engine.catalog(), m.name); !p.isEmpty())
                active << QFileInfo(p).absoluteFilePath();
            if (const QString p = pendingAdapterPackPath(*engine.catalog(), m.name); !p.isEmpty())
                pending << QFileInfo(p).absoluteFilePath();
        }
    const QDir dir(adaptersDir(engine));
    for (const QFileInfo &fi : dir.entryInfoList({QStringLiteral("*") + packSuffix}, QDir::Files, QDir::Name)) {
        AdapterPackInfo a;
        try {
            a = infoFrom(model::readPack(fi.absoluteFilePath().toStdString()));
        } catch (const std::exception &e) {
            a.name = fi.completeBaseName();
            a.path = fi.absoluteFilePath();
            a.problem = QString::fromUtf8(e.what());
        }
        a.active = active.contains(fi.absoluteFilePath());
        a.pending = pending.contains(fi.absoluteFilePath());
        out.append(a);
    }
    Q_UNUSED(error);
    return out;
}

namespace {

// Deletes, inside the caller's transaction, the vectors kept under a pack's own key: those
// of a pending re-embed that was given up, or of a full-mode pack that is no longer
// active; with them the segments left without any vector (a video's moments as the pack
// saw them), so nothing is orphaned. The base model's vectors are never deleted here.
// Returns the key's store file, for the caller to delete once the transaction has
// committed (empty when nothing was dropped).
QString dropPackVectors(Engine &engine, const QString &baseFingerprint, const QString &packPath)
{
    if (packPath.isEmpty())
        return {};
    const QString key = vectorFingerprint(baseFingerprint, packPath);
    if (key == baseFingerprint)
        return {};
    catalog::Catalog &cat = *engine.catalog();
    cat.removeVectors(key);
    cat.removeSegmentsWithoutVectors();
    // The next run for this key (the pack activated again) or another looks for items
    // without a vector instead of trusting its last complete pass.
    markVectorsIncomplete(cat);
    // A store file that outlives this (a crash before its deletion) is never loaded again:
    // without a generation the key's store is rebuilt from the catalog.
    cat.setFaissGeneration(key, 0);
    util::faultPoint("pack.drop-vectors");
    return VectorIndex::storePath(engine.dataDir(), key);
}

} // namespace

// Changes the active/pending pack records of a model and deletes the vectors nobody uses
// any more, in one transaction: a crash between the two would leave those vectors with
// nothing referring to them, never deleted. A running re-embed (another process holding
// the index lock) would go on writing the pending pack's vectors, so changes wait for it.
bool detail::setPackState(Engine &engine, const ModelInfo &model, const QString &active, const QString &pending, QString *error)
{
    catalog::Catalog &cat = *engine.catalog();
    const QString oldActive = activeAdapterPackPath(cat, model.name);
    const QString oldPending = pendingAdapterPackPath(cat, model.name);
    IndexLock lock(engine.dataDir());
    if (!oldPending.isEmpty() && oldPending != pending) {
        QString lockError;
        if (!lock.tryLock(&lockError))
            return failBool(error, QStringLiteral("The library is being re-embedded or indexed; stop that first (%1)")
                                       .arg(lockError));
    }
    try {
        const QString keep1 = vectorFingerprint(model.fingerprint, active);
        const QString keep2 = vectorFingerprint(model.fingerprint, pending);
        QStringList unusedStores;
        cat.transaction([&] {
            cat.setMeta(activeKeyPrefix + model.name, active);
            util::faultPoint("pack.state"); // the active pack changed, the pending one not yet
            cat.setMeta(pendingKeyPrefix + model.name, pending);
            for (const QString &old : {oldActive, oldPending}) {
                const QString key = vectorFingerprint(model.fingerprint, old);
                if (!old.isEmpty() && key != keep1 && key != keep2)
                    if (const QString store = dropPackVectors(engine, model.fingerprint, old); !store.isEmpty())
                        unusedStores << store;
            }
        });
        util::faultPoint("pack.state-committed"); // switched; unused store files not yet deleted
        for (const QString &store : std::as_const(unusedStores))
            QFile::remove(store);
    } catch (const std::exception &e) {
        return failBool(error, QStringLiteral("Cannot record the active pack: %1").arg(QString::fromUtf8(e.what())));
    }
    return true;
}

QString pendingAdapterPackPath(const catalog::Catalog &catalog, const QString &modelName)
{
    try {
        return catalog.meta(pendingKeyPrefix + modelName).value_or(QString());
    } catch (const std::exception &) {
        return {};
    }
}

QString vectorFingerprint(const QString &baseFingerprint, const QString &packPath)
{
    if (packPath.isEmpty())
        return baseFingerprint;
    try {
        const model::PackInfo pack = model::readPack(packPath.toStdString());
        if (pack.metadata.task != "retrieval" || !pack.metadata.touchesVision)
            return baseFingerprint;
    } catch (const std::exception &) {
        return baseFingerprint;
    }
    QFile f(packPath);
    QCryptographicHash hash(QCryptographicHash::Sha256);
    if (!f.open(QIODevice::ReadOnly) || !hash.addData(&f))
        return baseFingerprint;
    return baseFingerprint + QLatin1Char('+') + QString::fromLatin1(hash.result().toHex().left(16));
}

bool activateAdapterPack(Engine &engine, const QString &name, QString *error, bool *reembedPending)
{
    if (reembedPending)
        *reembedPending = false;
    if (!engine.catalog())
        return failBool(error, QStringLiteral("The library is not open: %1").arg(engine.errorString()));
    const QString path = packPath(engine, name);
    if (!QFileInfo(path).isFile())
        return failBool(error, QStringLiteral("No adapter pack named '%1' (see 'unisearch-cli adapters list')").arg(name));
    model::PackInfo pack;
    try {
        pack = model::readPack(path.toStdString());
    } catch (const std::exception &e) {
        return failBool(error, QString::fromUtf8(e.what()));
    }
    // The base model: the one it names, or any imported model with its fingerprint.
    std::optional<ModelInfo> base;
    for (const ModelInfo &m : engine.models())
        if (m.fingerprint.toStdString() == pack.metadata.baseFingerprint && (!base || m.name == fromStd(pack.metadata.baseModel)))
            base = m;
    if (!base) {
        const auto active = engine.activeModel(fromStd(pack.metadata.task));
        try {
            model::checkPackFits(pack, active ? active->fingerprint.toStdString() : std::string(),
                                 active ? active->name.toStdString() : std::string("(no model)"));
        } catch (const std::exception &e) {
            return failBool(error, QString::fromUtf8(e.what()));
        }
        return failBool(error, QStringLiteral("The base model of the adapter pack '%1' is not imported").arg(name));
    }
    const QString absolute = QFileInfo(path).absoluteFilePath();
    const QString active = activeAdapterPackPath(*engine.catalog(), base->name);
    const bool reembed = pack.metadata.task == "retrieval" && pack.metadata.touchesVision && active != absolute;
    // A full-mode search pack waits (pending) until the library is re-embedded with it.
    if (!setPackState(engine, *base, reembed ? active : absolute, reembed ? absolute : QString(), error))
        return false;
    if (reembedPending)
        *reembedPending = reembed;
    emit engine.statusChanged();
    return true;
}

bool deactivateAdapterPack(Engine &engine, const QString &modelName, QString *error)
{
    if (!engine.catalog())
        return failBool(error, QStringLiteral("The library is not open: %1").arg(engine.errorString()));
    QList<ModelInfo> models;
    if (!modelName.isEmpty()) {
        const std::optional<ModelInfo> m = engine.model(modelName, error);
        if (!m)
            return false;
        models << *m;
    } else {
        for (const QString &task : {retrievalTask, vqaTask})
            if (auto m = engine.activeModel(task))
                models << *m;
    }
    for (const ModelInfo &m : models)
        if (!setPackState(engine, m, QString(), QString(), error))
            return false;
    emit engine.statusChanged();
    return true;
}

bool exportAdapterPack(const Engine &engine, const QString &name, const QString &destination, QString *error)
{
    const QString path = packPath(engine, name);
    if (!QFileInfo(path).isFile())
        return failBool(error, QStringLiteral("No adapter pack named '%1' (see 'unisearch-cli adapters list')").arg(name));
    QString dest = destination;
    if (QFileInfo(dest).isDir())
        dest = QDir(dest).filePath(name + packSuffix);
    const QString tmp = dest + QStringLiteral(".part");
    QFile::remove(tmp);
    if (!QFile::copy(path, tmp))
        return failBool(error, QStringLiteral("Cannot write %1").arg(QDir::toNativeSeparators(dest)));
    QFile::remove(dest);
    if (!QFile::rename(tmp, dest)) {
        QFile::remove(tmp);
        return failBool(error, QStringLiteral("Cannot write %1").arg(QDir::toNativeSeparators(dest)));
    }
    return true;
}

std::optional<AdapterPackInfo> importAdapterPack(Engine &engine, const QString &file, const QString &name, QString *error)
{
    model::PackInfo pack;
    try {
        pack = model::readPack(file.toStdString());
    } catch (const std::exception &e) {
        return failed<AdapterPackInfo>(error, QString::fromUtf8(e.what()));
    }
    const QString packName = name.isEmpty() ? QFileInfo(file).completeBaseName() : name;
    if (!detail::validPackName(packName))
        return failed<AdapterPackInfo>(error, QStringLiteral("'%1' is not a usable pack name (letters, digits, . _ - "
                                                             "and spaces, at most 100)")
                                                  .arg(packName));
    const QString dest = packPath(engine, packName);
    if (QFileInfo::exists(dest))
        return failed<AdapterPackInfo>(error, QStringLiteral("An adapter pack named '%1' already exists; pass --name").arg(packName));
    QDir().mkpath(adaptersDir(engine));
    const QString tmp = dest + QStringLiteral(".part");
    QFile::remove(tmp);
    if (!QFile::copy(file, tmp) || !QFile::rename(tmp, dest)) {
        QFile::remove(tmp);
        return failed<AdapterPackInfo>(error, QStringLiteral("Cannot copy the pack into %1").arg(adaptersDir(engine)));
    }
    pack.path = dest.toStdString();
    return infoFrom(pack);
}

} // namespace unisearch::engine
