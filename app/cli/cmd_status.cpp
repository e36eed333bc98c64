// status [--json]: what the library holds and how the engine is set up.
#include "cli/cli.h"

#include "engine/engine.h"
#include "engine/indexjob.h"
#include "media/filepath.h"

#include <QJsonArray>
#include <QJsonDocument>

namespace unisearch::cli {

int cmdStatus(Context &ctx)
{
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Print one JSON document on stdout."));
    QCommandLineParser parser;
    engine::Engine *engine = ctx.parseAndOpenEngine(parser, {json}, 0, 0);
    if (!engine)
        return ctx.exitCode();
    const engine::Status s = engine->status();

    // Indexing: the store of the active model, what waits, and the per-file errors.
    engine::IndexState index;
    QList<catalog::ErrorEntry> fileErrors;
    try {
        index = engine::readIndexState(*engine->catalog(), engine->dataDir());
    } catch (const catalog::CatalogError &e) {
        return Context::fail(QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    QString errorsError;
    if (auto errors = engine->recentErrors(1000, &errorsError))
        fileErrors = std::move(*errors);
    else
        return Context::fail(QStringLiteral("reading the catalog: %1").arg(errorsError));
    // A job still marked running with nobody holding the lock was killed.
    const QString lastJobState = index.lastJobState == QLatin1String("running") && index.indexerPid == 0
                                     ? QStringLiteral("interrupted")
                                     : index.lastJobState;

    if (parser.isSet(json)) {
        QJsonObject doc = s.toJson();
        auto orNull = [](const QString &v) { return v.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(v); };
        doc.insert(QStringLiteral("index"),
                   QJsonObject{
                       {QStringLiteral("model"), orNull(index.model)},
                       {QStringLiteral("fingerprint"), orNull(index.fingerprint)},
                       {QStringLiteral("store"), orNull(index.storePath)},
                       {QStringLiteral("storeExists"), index.storeExists},
                       {QStringLiteral("storeBytes"), index.storeBytes},
                       {QStringLiteral("generation"), qint64(index.generation)},
                       {QStringLiteral("vectors"), index.vectors},
                       {QStringLiteral("indexedImages"), index.indexedImages},
                       {QStringLiteral("pendingImages"), index.pendingImages},
                       {QStringLiteral("errorItems"), index.errorItems},
                       {QStringLiteral("indexedVideos"), index.indexedVideos},
                       {QStringLiteral("pendingVideos"), index.pendingVideos},
                       {QStringLiteral("reembed"),
                        index.reembedPack.isEmpty()
                            ? QJsonValue(QJsonValue::Null)
                            : QJsonValue(QJsonObject{{QStringLiteral("pack"), index.reembedPack},
                                                     {QStringLiteral("vectors"), index.reembedVectors}})},
                       {QStringLiteral("indexerPid"), index.indexerPid > 0 ? QJsonValue(index.indexerPid)
                                                                          : QJsonValue(QJsonValue::Null)},
                       {QStringLiteral("lastJob"),
                        index.hasLastJob ? QJsonValue(QJsonObject{
                                               {QStringLiteral("state"), lastJobState},
                                               {QStringLiteral("at"), index.lastJobAt.toString(Qt::ISODateWithMs)},
                                               {QStringLiteral("error"), orNull(index.lastJobError)}})
                                         : QJsonValue(QJsonValue::Null)},
                   });
        QJsonArray errors;
        for (const catalog::ErrorEntry &e : std::as_const(fileErrors))
            errors.append(QJsonObject{
                {QStringLiteral("path"), e.path},
                {QStringLiteral("stage"), e.stage},
                {QStringLiteral("message"), e.message},
                {QStringLiteral("at"), e.at.toString(Qt::ISODateWithMs)},
                {QStringLiteral("itemId"), e.itemId ? QJsonValue(qint64(*e.itemId)) : QJsonValue(QJsonValue::Null)},
            });
        doc.insert(QStringLiteral("errors"), errors);
        ctx.out(QString::fromUtf8(QJsonDocument(doc).toJson(QJsonDocument::Indented)));
        return ExitCode::Ok;
    }

    const auto &c = s.counts;
    auto orNone = [](const QString &name) { return name.isEmpty() ? QStringLiteral("none") : name; };
    QString text;
    text += QStringLiteral("Unisearch %1\n").arg(QStringLiteral(UNISEARCH_VERSION));
    text += QStringLiteral("Data dir:   %1\n").arg(media::displayPath(s.dataDir));
    text += QStringLiteral("Catalog:    %1 (schema %2)\n").arg(media::displayPath(s.catalogPath)).arg(s.schemaVersion);
    text += QStringLiteral("Cache dir:  %1\n").arg(media::displayPath(s.cacheDir));
    text += QStringLiteral("Model:      %1 (search), %2 (questions)\n")
                .arg(orNone(s.activeModel), orNone(s.activeVqaModel));
    text += QStringLiteral("Device:     %1, %2 threads, %3\n").arg(s.device).arg(s.threads).arg(s.precision);
    text += QStringLiteral("Library:    %1 folders, %2 images, %3 videos (%4 segments, %5 vectors)\n")
                .arg(c.roots)
                .arg(c.images)
                .arg(c.videos)
                .arg(c.segments)
                .arg(c.vectors);
    text += QStringLiteral("Errors:     %1 files\n").arg(c.errors);
    text += QStringLiteral("Models:     %1 imported, %2 adapter packs, %3 labels\n")
                .arg(c.models)
                .arg(c.adapterPacks)
                .arg(c.labels);
    if (!index.model.isEmpty()) {
        text += QStringLiteral("Index:      %1 vectors (store %2, generation %3)%4\n")
                    .arg(index.vectors)
                    .arg(index.storeExists ? QStringLiteral("%1 KiB").arg(index.storeBytes / 1024)
                                           : QStringLiteral("not written yet"))
                    .arg(index.generation)
                    .arg(index.indexerPid > 0 ? QStringLiteral("; indexing now (pid %1)").arg(index.indexerPid)
                                              : QString());
        if (index.hasLastJob)
            text += QStringLiteral("Last index: %1 at %2%3\n")
                        .arg(lastJobState, index.lastJobAt.toLocalTime().toString(Qt::ISODate),
                             index.lastJobError.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(index.lastJobError));
    }
    if (!index.reembedPack.isEmpty())
        text += QStringLiteral("Waiting:    adapter pack '%1' is activated once the library is re-embedded with it "
                               "(%2 vectors so far; run 'adapters activate %1' to continue)\n")
                    .arg(index.reembedPack)
                    .arg(index.reembedVectors);
    if (index.pendingImages > 0)
        text += QStringLiteral("Waiting:    %1 images not embedded yet (run 'index' again)\n").arg(index.pendingImages);
    if (index.pendingVideos > 0)
        text += QStringLiteral("Waiting:    %1 videos not embedded yet (run 'index' again)\n")
                    .arg(index.pendingVideos);
    if (!fileErrors.isEmpty()) {
        constexpr qsizetype shown = 50;
        text += QStringLiteral("\nFiles that could not be indexed:\n");
        for (qsizetype i = 0; i < fileErrors.size() && i < shown; ++i)
            text += QStringLiteral("  %1: %2 (%3)\n")
                        .arg(media::displayPath(fileErrors[i].path), media::displayText(fileErrors[i].message),
                             fileErrors[i].stage);
        if (c.errors > shown)
            text += QStringLiteral("  … and %1 more (status --json lists up to 1000)\n").arg(c.errors - shown);
    }
    if (!s.hasModel())
        text += QStringLiteral("\nNo model yet: a model must be imported or downloaded before you can search.\n");
    ctx.out(text);
    return ExitCode::Ok;
}

} // namespace unisearch::cli
