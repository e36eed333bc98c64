#include "engine/reembed.h"

#include "catalog/catalog.h"
#include "engine/adapterpacks.h"
#include "engine/adapterpacks_p.h"
#include "catalog/reader.h"
#include "engine/engine.h"
#include "engine/failed_p.h"
#include "engine/models.h"

#include <QFileInfo>

#include <algorithm>

namespace unisearch::engine {

using detail::setPackState;

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
    ip.precision = engine.precision();
    ip.batchSize = std::max(0, params.batchSize); // 0: adaptive (indexjob.h)
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
        catalog::Reader reader(engine.dataDir());
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

} // namespace unisearch::engine
