#include "engine/training.h"

#include "catalog/catalog.h"
#include "engine/catalogreader_p.h"
#include "engine/engine.h"
#include "engine/failed_p.h"
#include "engine/inference.h"
#include "engine/lock.h"
#include "engine/models.h"
#include "engine/retrievalmodel.h"
#include "engine/vectorindex.h"
#include "media/imageconvert.h"
#include "media/imagedecoder.h"
#include "model/adapterpack.h"
#include "model/bundle.h"
#include "model/preprocess.h"
#include "model/textclean.h"
#include "model/tokenizer.h"
#include "model/trainer.h"
#include "util/faultpoint.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTextStream>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace unisearch::engine {

namespace {

constexpr int kMaxTextTokens = 35; // BLIP's training text length
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

// Splits one CSV line into fields ("..." quotes with "" escapes).
QStringList csvFields(const QString &line)
{
    QStringList out;
    QString field;
    bool quoted = false;
    for (qsizetype i = 0; i < line.size(); ++i) {
        const QChar c = line[i];
        if (quoted) {
            if (c == QLatin1Char('"') && i + 1 < line.size() && line[i + 1] == QLatin1Char('"')) {
                field += c;
                ++i;
            } else if (c == QLatin1Char('"')) {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == QLatin1Char('"')) {
            quoted = true;
        } else if (c == QLatin1Char(',')) {
            out << field.trimmed();
            field.clear();
        } else {
            field += c;
        }
    }
    out << field.trimmed();
    return out;
}

QString resolve(const QDir &base, const QString &path)
{
    return QDir::cleanPath(base.absoluteFilePath(path));
}

QStringList stringOrList(const QJsonValue &v)
{
    QStringList out;
    if (v.isString())
        out << v.toString();
    for (const auto &x : v.toArray())
        if (x.isString())
            out << x.toString();
    return out;
}

bool validName(const QString &name)
{
    static const QRegularExpression re(QStringLiteral("^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$"));
    return re.match(name).hasMatch();
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

QString packPath(const Engine &engine, const QString &name)
{
    return QDir(adaptersDir(engine)).filePath(name + packSuffix);
}

} // namespace

// --- data ----------------------------------------------------------------------------

QStringList nameTemplates(const QString &name)
{
    return {name, QStringLiteral("a photo of %1").arg(name), QStringLiteral("an image of %1").arg(name),
            QStringLiteral("a picture of %1").arg(name), QStringLiteral("this is %1").arg(name)};
}

std::optional<QList<LabelledExample>> readTrainingFile(const QString &file, const QString &task, QString *error)
{
    using R = QList<LabelledExample>;
    const bool vqa = task == vqaTask;
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly))
        return failed<R>(error, QStringLiteral("Cannot read the training data %1: %2").arg(file, f.errorString()));
    const QByteArray bytes = f.readAll();
    const QDir base = QFileInfo(file).absoluteDir();
    R out;
    const QByteArray head = bytes.trimmed().left(1);
    if (head == "{" || head == "[") {
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(bytes, &pe);
        if (pe.error != QJsonParseError::NoError)
            return failed<R>(error, QStringLiteral("%1 is not valid JSON (at offset %2: %3)")
                                        .arg(file).arg(pe.offset).arg(pe.errorString()));
        if (doc.isObject()) {
            // COCO captions.
            const QJsonObject o = doc.object();
            if (vqa || !o.contains(QStringLiteral("annotations")) || !o.contains(QStringLiteral("images")))
                return failed<R>(error, QStringLiteral("%1: a JSON object must be COCO-style captions (\"images\" and "
                                                       "\"annotations\")%2")
                                            .arg(file, vqa ? QStringLiteral("; VQA data is a list of {image, question, "
                                                                            "answer}")
                                                           : QString()));
            std::map<qint64, QString> images;
            for (const auto &v : o.value(QStringLiteral("images")).toArray())
                images[v.toObject().value(QStringLiteral("id")).toInteger()] =
                    v.toObject().value(QStringLiteral("file_name")).toString();
            int i = 0;
            for (const auto &v : o.value(QStringLiteral("annotations")).toArray()) {
                const QJsonObject a = v.toObject();
                auto it = images.find(a.value(QStringLiteral("image_id")).toInteger(-1));
                const QString caption = a.value(QStringLiteral("caption")).toString();
                if (it == images.end() || caption.isEmpty())
                    return failed<R>(error, QStringLiteral("%1: annotation %2 has no caption or an unknown image_id")
                                                .arg(file).arg(i));
                out.append({resolve(base, it->second), caption, {}});
                ++i;
            }
        } else {
            int i = 0;
            for (const auto &v : doc.array()) {
                const QJsonObject o = v.toObject();
                const QString image = o.value(QStringLiteral("image")).toString();
                if (image.isEmpty())
                    return failed<R>(error, QStringLiteral("%1: entry %2 has no \"image\"").arg(file).arg(i));
                if (vqa) {
                    const QString q = o.value(QStringLiteral("question")).toString();
                    const QStringList answers = stringOrList(o.value(QStringLiteral("answer")));
                    if (q.isEmpty() || answers.isEmpty())
                        return failed<R>(error, QStringLiteral("%1: entry %2 needs a \"question\" and an \"answer\"")
                                                    .arg(file).arg(i));
                    out.append({resolve(base, image), q, answers});
                } else {
                    const QStringList captions = stringOrList(o.value(QStringLiteral("caption")));
                    if (captions.isEmpty())
                        return failed<R>(error, QStringLiteral("%1: entry %2 has no \"caption\"").arg(file).arg(i));
                    for (const QString &c : captions)
                        out.append({resolve(base, image), c, {}});
                }
                ++i;
            }
        }
    } else {
        QTextStream in(bytes);
        int lineNo = 0;
        while (!in.atEnd()) {
            const QString line = in.readLine();
            ++lineNo;
            if (line.trimmed().isEmpty() || line.startsWith(QLatin1Char('#')))
                continue;
            const QStringList fields = csvFields(line);
            if (lineNo == 1 && fields.value(0).compare(QStringLiteral("path"), Qt::CaseInsensitive) == 0)
                continue;
            if (fields.size() < (vqa ? 3 : 2) || fields[0].isEmpty() || fields[1].isEmpty())
                return failed<R>(error, QStringLiteral("%1, line %2: expected %3").arg(file).arg(lineNo)
                                            .arg(vqa ? QStringLiteral("path,question,answer")
                                                     : QStringLiteral("path,caption")));
            const QString path = resolve(base, fields[0]);
            if (vqa) {
                out.append({path, fields[1], fields[2].split(QLatin1Char('|'), Qt::SkipEmptyParts)});
            } else if (fields.value(2).compare(QStringLiteral("name"), Qt::CaseInsensitive) == 0) {
                for (const QString &t : nameTemplates(fields[1]))
                    out.append({path, t, {}, fields[1]});
            } else {
                out.append({path, fields[1], {}});
            }
        }
    }
    if (out.isEmpty())
        return failed<R>(error, QStringLiteral("%1 holds no training examples").arg(file));
    for (const auto &e : out)
        if (!QFileInfo(e.path).isFile())
            return failed<R>(error, QStringLiteral("%1 names the image %2, which does not exist")
                                        .arg(file, QDir::toNativeSeparators(e.path)));
    return out;
}

int storeLabels(catalog::Catalog &catalog, const QList<LabelledExample> &examples, const QString &task)
{
    const int before = int(catalog.labels().size());
    catalog.transaction([&] {
        for (const LabelledExample &e : examples) {
            const auto item = catalog.itemByPath(e.path);
            if (!item)
                continue; // not in the library: the file stays the only record
            catalog::Label l;
            l.itemId = item->id;
            if (task == vqaTask) {
                l.kind = QStringLiteral("qa");
                l.text = e.text;
                for (const QString &a : e.answers) {
                    l.answer = a;
                    catalog.addLabel(l);
                }
                continue;
            }
            l.kind = e.name.isEmpty() ? QStringLiteral("caption") : QStringLiteral("name");
            l.text = e.name.isEmpty() ? e.text : e.name;
            catalog.addLabel(l);
        }
    });
    return int(catalog.labels().size()) - before;
}

QList<LabelledExample> labelsFromCatalog(const catalog::Catalog &catalog, const QString &task)
{
    QList<LabelledExample> out;
    std::map<std::pair<qint64, QString>, qsizetype> question; // (item, question) → index in out
    for (const catalog::Label &l : catalog.labels()) {
        const auto item = catalog.item(l.itemId);
        if (!item)
            continue;
        if (task == vqaTask) {
            if (l.kind != QLatin1String("qa"))
                continue;
            auto [it, inserted] = question.emplace(std::make_pair(l.itemId, l.text), out.size());
            if (inserted)
                out.append({item->path, l.text, {}});
            out[it->second].answers << l.answer;
        } else if (l.kind == QLatin1String("name")) {
            for (const QString &t : nameTemplates(l.text))
                out.append({item->path, t, {}, l.text});
        } else if (l.kind == QLatin1String("caption")) {
            out.append({item->path, l.text, {}});
        }
    }
    return out;
}

// --- packs ---------------------------------------------------------------------------

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

// Changes the active/pending pack records of a model and deletes the vectors nobody uses
// any more, in one transaction: a crash between the two would leave those vectors with
// nothing referring to them, never deleted. A running re-embed (another process holding
// the index lock) would go on writing the pending pack's vectors, so changes wait for it.
bool setPackState(Engine &engine, const ModelInfo &model, const QString &active, const QString &pending, QString *error)
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

} // namespace

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

QJsonObject ReembedOutcome::toJson() const
{
    return QJsonObject{{QStringLiteral("pack"), packName},
                       {QStringLiteral("fingerprint"), fingerprint},
                       {QStringLiteral("cancelled"), cancelled},
                       {QStringLiteral("switched"), switched},
                       {QStringLiteral("embedded"), embedded},
                       {QStringLiteral("vectors"), vectors},
                       {QStringLiteral("missing"), missing}};
}

namespace {

struct PendingReembed {
    ModelInfo base;
    QString pack;        // its path
    QString fingerprint; // the key of its vectors
};

// The pending pack of the active retrieval model; nullopt with *error when none.
std::optional<PendingReembed> pendingReembed(Engine &engine, QString *error)
{
    using R = PendingReembed;
    if (!engine.catalog())
        return failed<R>(error, QStringLiteral("The library is not open: %1").arg(engine.errorString()));
    const std::optional<ModelInfo> base = engine.activeModel(retrievalTask);
    const QString pending = base ? pendingAdapterPackPath(*engine.catalog(), base->name) : QString();
    if (pending.isEmpty())
        return failed<R>(error, QStringLiteral("No adapter pack is waiting for the library to be re-embedded"));
    if (!QFileInfo(pending).isFile()) {
        setPackState(engine, *base, activeAdapterPackPath(*engine.catalog(), base->name), QString(), nullptr);
        return failed<R>(error, QStringLiteral("The adapter pack '%1' waiting to be activated was removed; activate "
                                               "a pack again")
                                    .arg(QFileInfo(pending).completeBaseName()));
    }
    return PendingReembed{*base, pending, vectorFingerprint(base->fingerprint, pending)};
}

} // namespace

std::optional<IndexParams> reembedJobParams(Engine &engine, const ReembedParams &params, QString *error)
{
    const std::optional<PendingReembed> p = pendingReembed(engine, error);
    if (!p)
        return std::nullopt;
    IndexParams ip;
    ip.dataDir = engine.dataDir();
    ip.adapterPack = p->pack; // the base model with the pending pack: its vectors go under their own key
    ip.device = params.device.isEmpty() ? engine.device() : params.device;
    ip.batchSize = std::max(1, params.batchSize);
    ip.keepOtherVectors = true; // search keeps finding re-embedded videos on the old vectors
    try {
        for (const catalog::Root &r : engine.catalog()->roots())
            ip.paths << r.path;
    } catch (const std::exception &e) {
        return failed<IndexParams>(error, QStringLiteral("Cannot read the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    return ip;
}

std::optional<ReembedOutcome> finishReembed(Engine &engine, QString *error)
{
    using R = ReembedOutcome;
    const std::optional<PendingReembed> p = pendingReembed(engine, error);
    if (!p)
        return std::nullopt;
    ReembedOutcome out;
    out.packName = QFileInfo(p->pack).completeBaseName();
    out.fingerprint = p->fingerprint;
    try {
        detail::CatalogReader reader(engine.dataDir());
        out.missing = static_cast<qint64>(reader.indexedItemsWithoutVector(out.fingerprint).size());
        out.vectors = reader.vectorCount(out.fingerprint);
    } catch (const std::exception &e) {
        return failed<R>(error, QStringLiteral("Cannot read the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    if (out.missing > 0)
        return out; // unreachable folders: stays pending until they can be read
    // Complete: search moves to the new vectors in one transaction.
    if (!setPackState(engine, p->base, p->pack, QString(), error))
        return std::nullopt;
    out.switched = true;
    emit engine.statusChanged();
    return out;
}

std::optional<ReembedOutcome> continueReembed(Engine &engine, const ReembedParams &params,
                                              const std::function<bool(const IndexProgress &)> &progress,
                                              QString *error)
{
    const std::optional<IndexParams> ip = reembedJobParams(engine, params, error);
    if (!ip)
        return std::nullopt;
    qint64 embedded = 0;
    if (!ip->paths.isEmpty()) {
        IndexJob job(*ip);
        const IndexResult r = job.run(progress);
        if (!r.ok)
            return failed<ReembedOutcome>(error, r.error);
        embedded = r.embedded + r.videosEmbedded;
        if (r.cancelled) {
            ReembedOutcome out;
            out.packName = QFileInfo(ip->adapterPack).completeBaseName();
            out.cancelled = true;
            out.embedded = embedded;
            return out;
        }
    }
    std::optional<ReembedOutcome> out = finishReembed(engine, error);
    if (out)
        out->embedded = embedded;
    return out;
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
    if (!validName(packName))
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

// --- training ------------------------------------------------------------------------

bool TrainOutcome::heldOutScoreFell() const
{
    // The headline score: recall@1, or accuracy for questions.
    auto score = [](const QJsonObject &m) {
        return m.contains(QStringLiteral("accuracy")) ? m.value(QStringLiteral("accuracy")).toDouble()
                                                      : m.value(QStringLiteral("recall_at_1")).toDouble();
    };
    return !before.isEmpty() && !after.isEmpty() && score(after) < score(before) - 1e-9;
}

QStringList TrainOutcome::advice() const
{
    QStringList out;
    auto examplesText = [](int n) {
        return n == 1 ? QStringLiteral("1 example") : QStringLiteral("%1 examples").arg(n);
    };
    const int examples = trainExamples + validationExamples;
    if (examples < fewTrainingExamples)
        out << QStringLiteral("Only %1: a few dozen teach a word reliably.").arg(examplesText(examples));
    if (validationExamples > 0 && validationExamples < fewValidationExamples)
        out << QStringLiteral("The before/after scores rest on %1 held out: take them as rough.")
                   .arg(examplesText(validationExamples));
    if (heldOutScoreFell())
        out << QStringLiteral("The held-out score fell: add examples (several photos per name) or train more passes.");
    return out;
}

QJsonObject TrainOutcome::toJson() const
{
    QJsonArray l;
    for (double v : losses)
        l.append(v);
    QJsonArray curve;
    for (const ValidationPoint &p : validationCurve)
        curve.append(QJsonObject{{QStringLiteral("step"), p.step}, {QStringLiteral("epoch"), p.epoch},
                                 {QStringLiteral("value"), p.value}});
    return QJsonObject{{QStringLiteral("cancelled"), cancelled},
                       {QStringLiteral("pack"), packName},
                       {QStringLiteral("path"), packPath},
                       {QStringLiteral("activated"), activated},
                       {QStringLiteral("note"), note},
                       {QStringLiteral("train_examples"), trainExamples},
                       {QStringLiteral("validation_examples"), validationExamples},
                       {QStringLiteral("steps"), steps},
                       {QStringLiteral("stored_image_vectors"), storedImageVectors},
                       {QStringLiteral("stored_labels"), storedLabels},
                       {QStringLiteral("seconds"), seconds},
                       {QStringLiteral("losses"), l},
                       {QStringLiteral("validation_curve"), curve},
                       {QStringLiteral("before"), before},
                       {QStringLiteral("after"), after},
                       {QStringLiteral("advice"), QJsonArray::fromStringList(advice())},
                       {QStringLiteral("held_out_score_fell"), heldOutScoreFell()}};
}

TrainingJob::TrainingJob(Engine &engine, TrainRequest request)
    : m_engine(engine)
    , m_request(std::move(request))
{
}

std::optional<TrainOutcome> TrainingJob::run(const ProgressFn &progress, QString *error)
{
    using R = TrainOutcome;
    const TrainRequest &rq = m_request;
    auto report = [&](const TrainProgressInfo &p) {
        if (progress)
            progress(p);
    };
    if (rq.task != retrievalTask && rq.task != vqaTask)
        return failed<R>(error, QStringLiteral("Unknown task '%1' (use retrieval or vqa)").arg(rq.task));
    if (rq.mode != QLatin1String("query") && rq.mode != QLatin1String("full"))
        return failed<R>(error, QStringLiteral("Unknown mode '%1' (use query or full)").arg(rq.mode));
    if (!m_engine.catalog())
        return failed<R>(error, QStringLiteral("The library is not open: %1").arg(m_engine.errorString()));
    const bool vqa = rq.task == vqaTask;
    const bool query = rq.mode == QLatin1String("query");
    report({QStringLiteral("preparing")});

    // The base model.
    QString why;
    std::optional<ModelInfo> base = rq.modelName.isEmpty() ? m_engine.activeModel(rq.task) : m_engine.model(rq.modelName, &why);
    if (!base)
        return failed<R>(error, !why.isEmpty() ? why
                                               : QStringLiteral("No %1 model imported: run 'unisearch-cli model import "
                                                                "FILE --task %1' first")
                                                     .arg(rq.task));
    if (!base->problem.isEmpty())
        return failed<R>(error, QStringLiteral("The model '%1' cannot be used: %2").arg(base->name, base->problem));
    if (base->task != rq.task)
        return failed<R>(error, QStringLiteral("The model '%1' is a %2 model, not %3").arg(base->name, base->task, rq.task));

    QString packName = rq.name.isEmpty()
        ? QStringLiteral("%1-%2-%3").arg(rq.task, rq.mode, QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-hhmmss")))
        : rq.name;
    if (!validName(packName))
        return failed<R>(error, QStringLiteral("'%1' is not a usable pack name (letters, digits, . _ - and spaces, at "
                                               "most 100)")
                                    .arg(packName));
    QString outPath = packPath(m_engine, packName);
    const QString generated = packName;
    for (int n = 2; rq.name.isEmpty() && QFileInfo::exists(outPath); ++n) { // a generated name never clashes
        packName = QStringLiteral("%1-%2").arg(generated).arg(n);
        outPath = packPath(m_engine, packName);
    }
    if (QFileInfo::exists(outPath) && !rq.replace)
        return failed<R>(error, QStringLiteral("An adapter pack named '%1' already exists; choose another --name").arg(packName));

    // The examples, split into training and validation (seeded).
    QList<LabelledExample> examples = rq.examples;
    if (!rq.dataFile.isEmpty()) {
        auto read = readTrainingFile(rq.dataFile, rq.task, error);
        if (!read)
            return std::nullopt;
        examples = *read;
    } else if (examples.isEmpty() && rq.fromCatalog) {
        try {
            examples = labelsFromCatalog(*m_engine.catalog(), rq.task);
        } catch (const std::exception &e) {
            return failed<R>(error, QStringLiteral("Cannot read the labels: %1").arg(QString::fromUtf8(e.what())));
        }
        for (const auto &e : examples)
            if (!QFileInfo(e.path).isFile())
                return failed<R>(error, QStringLiteral("The labelled item %1 is missing; index the library again")
                                            .arg(QDir::toNativeSeparators(e.path)));
    }
    if (examples.isEmpty())
        return failed<R>(error, rq.fromCatalog ? QStringLiteral("The catalog holds no %1 labels yet: train once with "
                                                                "--data FILE on photos of the library")
                                                     .arg(rq.task == vqaTask ? QStringLiteral("question/answer")
                                                                             : QStringLiteral("caption or name"))
                                               : QStringLiteral("There are no training examples"));
    std::vector<int> order(static_cast<size_t>(examples.size()));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(rq.seed);
    std::shuffle(order.begin(), order.end(), rng);
    const int numValidation = examples.size() >= 5
        ? std::clamp(static_cast<int>(std::lround(examples.size() * rq.validationFraction)), 1, int(examples.size()) - 1)
        : 0;
    {
        // The held-out examples are spread over the images (one per image in turn), and an
        // image keeps at least one training example while others can give one: a held-out
        // caption then asks for a name or phrase the training saw for that image, in other
        // words. Only when that runs out are examples of an image held out entirely.
        std::vector<std::vector<int>> groups;
        std::map<QString, size_t> groupOf;
        for (int i : order) {
            auto [it, inserted] = groupOf.emplace(examples[i].path, groups.size());
            if (inserted)
                groups.emplace_back();
            groups[it->second].push_back(i);
        }
        std::vector<int> held;
        std::vector<size_t> taken(groups.size(), 0);
        for (bool more = true; more && int(held.size()) < numValidation;) {
            more = false;
            for (size_t g = 0; g < groups.size() && int(held.size()) < numValidation; ++g)
                if (groups[g].size() - taken[g] > 1) {
                    held.push_back(groups[g][taken[g]++]);
                    more = true;
                }
        }
        const std::set<int> heldSet(held.begin(), held.end());
        for (int i : order)
            if (int(held.size()) < numValidation && !heldSet.count(i))
                held.push_back(i);
        const std::set<int> all(held.begin(), held.end());
        std::vector<int> split = held;
        for (int i : order)
            if (!all.count(i))
                split.push_back(i);
        order = std::move(split);
    }

    // Tokenizer and images.
    const QString vocab = InferenceService::vocabularyPath();
    if (vocab.isEmpty())
        return failed<R>(error, QStringLiteral("The tokenizer vocabulary was not found; set UNISEARCH_VOCAB or reinstall"));
    model::BundleInfo bundle;
    std::unique_ptr<model::Tokenizer> tok;
    try {
        bundle = model::readBundle(base->path.toStdString());
        tok = std::make_unique<model::Tokenizer>(model::Tokenizer::fromFile(vocab.toStdString()));
    } catch (const std::exception &e) {
        return failed<R>(error, QString::fromUtf8(e.what()));
    }
    model::PreprocessParams pre;
    pre.size = bundle.architecture.vision.imageSize;
    pre.mean = bundle.architecture.mean;
    pre.std = bundle.architecture.std;

    std::map<QString, int> imageIndex;
    QStringList imagePaths;
    for (const auto &e : examples)
        if (imageIndex.emplace(e.path, static_cast<int>(imagePaths.size())).second)
            imagePaths << e.path;

    // Query-mode retrieval trains on the image vectors the index stores for this model
    // (bit-identical to what the search compares against); others are computed.
    std::vector<std::vector<float>> storedFeatures(static_cast<size_t>(imagePaths.size()));
    int stored = 0;
    if (query && !vqa && activeAdapterPackPath(*m_engine.catalog(), base->name).isEmpty()) {
        try {
            for (qsizetype i = 0; i < imagePaths.size(); ++i) {
                const auto item = m_engine.catalog()->itemByPath(imagePaths[i]);
                if (!item)
                    continue;
                const auto segs = m_engine.catalog()->segments(item->id);
                if (segs.isEmpty())
                    continue;
                if (auto v = m_engine.catalog()->vector(segs.front().id, base->fingerprint)) {
                    storedFeatures[static_cast<size_t>(i)] = *v;
                    ++stored;
                }
            }
        } catch (const std::exception &) {
            stored = 0; // computed instead
        }
    }
    std::vector<model::Pixels> pixels(static_cast<size_t>(imagePaths.size()));
    media::DecodeParams decode;
    decode.targetSize = 0;
    for (qsizetype i = 0; i < imagePaths.size(); ++i) {
        if (stored == imagePaths.size())
            break;
        const media::DecodedImage d = media::decodeImage(imagePaths[i], decode);
        if (!d.ok())
            return failed<R>(error, QStringLiteral("Cannot read the image %1: %2").arg(imagePaths[i], d.error));
        try {
            pixels[static_cast<size_t>(i)] = model::preprocess(media::toRgbImage(d.image), pre);
        } catch (const std::exception &e) {
            return failed<R>(error, QStringLiteral("Cannot use the image %1: %2").arg(imagePaths[i], QString::fromUtf8(e.what())));
        }
    }

    model::TrainParams params;
    params.task = vqa ? model::TrainTask::Vqa : model::TrainTask::Retrieval;
    params.mode = query ? model::TrainMode::Query : model::TrainMode::Full;
    params.epochs = std::max(1, rq.epochs);
    params.batchSize = std::max(1, rq.batchSize);
    // A few dozen examples need large steps; the image side (full mode) moves more carefully.
    params.learningRate = rq.learningRate > 0 ? rq.learningRate : query ? queryModeLearningRate : fullModeLearningRate;
    params.seed = rq.seed;
    params.bfloat16 = rq.bfloat16;
    params.device = !rq.device.isEmpty()       ? rq.device.toStdString()
                    : m_engine.device().isEmpty() ? std::string("cpu")
                                                  : m_engine.device().toStdString();

    TrainOutcome out;
    out.storedImageVectors = stored == imagePaths.size() ? stored : 0;
    if (!rq.fromCatalog) {
        try {
            out.storedLabels = storeLabels(*m_engine.catalog(), examples, rq.task);
        } catch (const std::exception &) {
            out.storedLabels = 0; // the labels are a convenience; training goes on
        }
    }
    try {
        auto trainer = model::Trainer::create(bundle.architecture, bundle.weightsPath, params);
        auto ids = [&](const QString &text, bool question) {
            const std::string clean = question ? model::preQuestion(text.toStdString())
                                               : model::preCaption(text.toStdString(), 30);
            return tok->encode(clean, kMaxTextTokens, false);
        };
        model::RetrievalData rTrain, rVal;
        model::VqaData vTrain, vVal;
        std::vector<std::vector<int64_t>> candidates;
        if (!vqa) {
            if (stored == imagePaths.size()) {
                rTrain.imageFeatures = storedFeatures;
            } else if (query) {
                // The image side is frozen: its features once (the trainer would compute the
                // same), so each epoch's validation does not run the image encoder again.
                rTrain.imageFeatures = trainer->imageFeatures(pixels);
            } else {
                rTrain.images = pixels;
            }
            rVal.images = rTrain.images;
            rVal.imageFeatures = rTrain.imageFeatures;
        } else {
            vTrain.images = pixels;
            vVal.images = pixels;
        }
        std::set<std::vector<int64_t>> seenAnswers;
        for (size_t k = 0; k < order.size(); ++k) {
            const LabelledExample &e = examples[order[k]];
            const int img = imageIndex.at(e.path);
            const bool validation = static_cast<int>(k) < numValidation;
            if (!vqa) {
                (validation ? rVal : rTrain).examples.push_back({ids(e.text, false), img});
            } else {
                model::VqaExample v;
                v.question = ids(e.text, true);
                v.image = img;
                std::map<QString, int> counts;
                for (const QString &a : e.answers)
                    ++counts[a.trimmed()];
                for (const auto &[a, n] : counts) {
                    v.answers.push_back(tok->encode(a.toStdString()));
                    v.weights.push_back(float(n) / float(e.answers.size()));
                    if (seenAnswers.insert(v.answers.back()).second)
                        candidates.push_back(v.answers.back());
                }
                (validation ? vVal : vTrain).examples.push_back(std::move(v));
            }
        }
        out.trainExamples = static_cast<int>(vqa ? vTrain.examples.size() : rTrain.examples.size());
        out.validationExamples = numValidation;

        auto metrics = [&]() {
            QJsonObject m;
            if (numValidation == 0)
                return m;
            if (!vqa) {
                const auto r = trainer->evaluate(rVal);
                m.insert(QStringLiteral("recall_at_1"), r.recallAt1);
                m.insert(QStringLiteral("recall_at_5"), r.recallAt5);
                m.insert(QStringLiteral("recall_at_10"), r.recallAt10);
            } else {
                m.insert(QStringLiteral("accuracy"), trainer->vqaAccuracy(vVal, candidates));
            }
            return m;
        };
        report({QStringLiteral("evaluating")});
        out.before = metrics();

        // The validation curve: the held-out metric with the weights at each epoch's end
        // (evaluated without gradients; the training itself is the same with or without it).
        QJsonObject lastMetrics;
        int lastMetricsStep = -1;
        auto onStep = [&](const model::TrainProgress &p) {
            TrainProgressInfo info;
            info.stage = QStringLiteral("training");
            info.step = p.step;
            info.totalSteps = p.totalSteps;
            info.epoch = p.epoch;
            info.loss = p.loss;
            info.examplesPerSecond = p.examplesPerSecond;
            info.etaSeconds = p.etaSeconds;
            if (p.epochEnd && numValidation > 0 && !m_interrupt.load()) {
                lastMetrics = metrics();
                lastMetricsStep = p.step;
                info.validation = lastMetrics.value(vqa ? QStringLiteral("accuracy") : QStringLiteral("recall_at_1")).toDouble();
                out.validationCurve.append({p.step, p.epoch, info.validation});
            }
            report(info);
            return !m_interrupt.load();
        };
        const model::TrainResult result = vqa ? trainer->train(vTrain, onStep) : trainer->train(rTrain, onStep);
        out.steps = result.steps;
        out.seconds = result.seconds;
        for (double l : result.losses)
            out.losses.append(l);
        if (result.cancelled) {
            out.cancelled = true;
            return out;
        }
        if (lastMetricsStep == result.steps) {
            out.after = lastMetrics; // the last epoch's end: these weights were just evaluated
        } else {
            report({QStringLiteral("evaluating")});
            out.after = metrics();
        }

        report({QStringLiteral("saving")});
        model::PackMetadata meta;
        meta.name = packName.toStdString();
        meta.baseModel = base->name.toStdString();
        meta.baseFingerprint = base->fingerprint.toStdString();
        meta.task = rq.task.toStdString();
        meta.mode = rq.mode.toStdString();
        meta.architectureJson = bundle.architecture.toJson().dump();
        meta.trainExamples = out.trainExamples;
        meta.validationExamples = out.validationExamples;
        meta.metricsJson = QJsonDocument(QJsonObject{{QStringLiteral("before"), out.before}, {QStringLiteral("after"), out.after}})
                               .toJson(QJsonDocument::Compact)
                               .toStdString();
        meta.createdAt = QDateTime::currentDateTimeUtc().toString(Qt::ISODate).toStdString();
#ifdef UNISEARCH_VERSION
        meta.appVersion = UNISEARCH_VERSION;
#endif
        meta.touchesVision = !query;
        if (!QDir().mkpath(adaptersDir(m_engine)))
            return failed<R>(error, QStringLiteral("Cannot create %1").arg(adaptersDir(m_engine)));
        trainer->savePack(outPath.toStdString(), meta);
    } catch (const std::exception &e) {
        return failed<R>(error, QStringLiteral("Training failed: %1").arg(QString::fromUtf8(e.what())));
    }
    out.packName = packName;
    out.packPath = outPath;
    if (rq.activate && !vqa && !query) {
        // Activation re-embeds the library: a job of its own, started by the user.
        out.note = QStringLiteral("a full-mode search pack is used once the library is re-embedded with it: run "
                                  "'unisearch-cli adapters activate %1'")
                       .arg(packName);
    } else if (rq.activate) {
        QString whyNot;
        out.activated = activateAdapterPack(m_engine, packName, &whyNot);
        out.note = whyNot;
    }
    return out;
}

} // namespace unisearch::engine
