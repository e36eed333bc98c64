// adapters list [--json]
// adapters activate NAME [--batch N] [--json]
//   A full-mode search pack is activated by re-embedding the library with it, in the
//   foreground with progress on stderr; search keeps using the previous vectors until
//   every item has a new one, then switches. Ctrl+C (or a kill) keeps what was committed,
//   and running the same command again continues.
// adapters deactivate [--model NAME]
// adapters export NAME FILE
// adapters import FILE [--name NAME] [--json]
#include "cli/cli.h"
#include "cli/modelcommon.h"

#include "engine/adapterpacks.h"
#include "engine/engine.h"
#include "engine/reembed.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <atomic>
#include <csignal>

namespace unisearch::cli {

namespace {

std::atomic<bool> g_stopReembed{false};

extern "C" void onReembedStop(int)
{
    g_stopReembed.store(true);
}

} // namespace

int cmdAdaptersList(Context &ctx)
{
    const QCommandLineOption json = jsonOption();
    QCommandLineParser parser;
    engine::Engine *e = ctx.parseAndOpenEngine(parser, {json}, 0, 0);
    if (!e)
        return ctx.exitCode();
    const auto packs = engine::adapterPacks(*e);
    if (parser.isSet(json)) {
        QJsonArray a;
        for (const auto &p : packs)
            a.append(p.toJson());
        Context::out(QString::fromUtf8(QJsonDocument(QJsonObject{{QStringLiteral("adapters"), a}}).toJson(QJsonDocument::Indented)));
        return ExitCode::Ok;
    }
    if (packs.isEmpty()) {
        Context::out(QStringLiteral("No adapter packs; train one with 'unisearch-cli train'.\n"));
        return ExitCode::Ok;
    }
    QString text;
    for (const auto &p : packs) {
        if (!p.problem.isEmpty()) {
            text += QStringLiteral("  %1  (unusable: %2)\n").arg(p.name, p.problem);
            continue;
        }
        text += QStringLiteral("%1 %2  %3, %4 mode, for %5, %6 examples, %7%8\n")
                    .arg(p.active ? QStringLiteral("*") : QStringLiteral(" "), p.name, p.task, p.mode, p.baseModel)
                    .arg(p.trainExamples)
                    .arg(p.createdAt,
                         p.pending ? QStringLiteral(" (activation pending: re-embedding unfinished; run 'adapters "
                                                    "activate %1' to continue)")
                                         .arg(p.name)
                                   : QString());
    }
    Context::out(text);
    return ExitCode::Ok;
}

int cmdAdaptersActivate(Context &ctx)
{
    const QCommandLineOption json = jsonOption();
    const QCommandLineOption batch(QStringLiteral("batch"), QStringLiteral("Images per model batch when re-embedding "
                                                                 "(default: chosen while it runs)."),
                                   QStringLiteral("N"));
    QCommandLineParser parser;
    if (!ctx.parse(parser, {json, batch}, 1, 1))
        return ctx.exitCode();
    bool batchOk = !parser.isSet(batch);
    const int batchSize = batchOk ? 0 : parser.value(batch).toInt(&batchOk); // 0: adaptive
    if (!batchOk || (parser.isSet(batch) && batchSize < 1))
        return ctx.usageError(QStringLiteral("--batch takes a positive number"));
    engine::Engine *e = ctx.openEngine();
    if (!e)
        return ExitCode::Failure;
    QString error;
    const QString name = parser.positionalArguments().front();
    bool reembed = false;
    if (!engine::activateAdapterPack(*e, name, &error, &reembed))
        return Context::fail(error);
    if (!reembed) {
        if (parser.isSet(json))
            Context::out(QString::fromUtf8(QJsonDocument(QJsonObject{{QStringLiteral("pack"), name},
                                                                     {QStringLiteral("switched"), true}})
                                               .toJson(QJsonDocument::Indented)));
        else
            Context::out(QStringLiteral("Adapter pack '%1' is active.\n").arg(name));
        return ExitCode::Ok;
    }

    // Re-embed in the foreground; Ctrl+C stops after the batch in flight.
    installStopSignalHandler(onReembedStop);
    bool envOk = false;
    const int envMs = qEnvironmentVariableIntValue("UNISEARCH_PROGRESS_MS", &envOk);
    const int intervalMs = envOk && envMs >= 0 ? envMs : 500;
    QElapsedTimer timer;
    qint64 lastDone = -1;
    Context::err(QStringLiteral("Re-embedding the library with '%1'; search keeps using the current vectors until it "
                                "is complete.\n")
                     .arg(name));
    engine::ReembedParams params;
    params.batchSize = batchSize;
    const auto outcome = engine::continueReembed(
        *e, params,
        [&](const engine::IndexProgress &p) {
            if (p.stage == engine::IndexProgress::Stage::Indexing && p.filesDone != lastDone
                && (!timer.isValid() || timer.elapsed() >= intervalMs || p.filesDone == p.filesTotal)) {
                lastDone = p.filesDone;
                timer.restart();
                Context::err(QStringLiteral("re-embedding: %1/%2 files (%3 files/s)\n")
                                 .arg(p.filesDone)
                                 .arg(p.filesTotal)
                                 .arg(p.filesPerSecond, 0, 'f', 1));
            }
            return !g_stopReembed.load();
        },
        &error);
    if (!outcome)
        return Context::fail(error);
    if (parser.isSet(json))
        Context::out(QString::fromUtf8(QJsonDocument(outcome->toJson()).toJson(QJsonDocument::Indented)));
    if (outcome->cancelled)
        return Context::fail(QStringLiteral("interrupted; search still uses the previous vectors, and running "
                                            "'unisearch-cli adapters activate %1' again continues the re-embedding")
                                 .arg(name));
    if (!outcome->switched)
        return Context::fail(QStringLiteral("%1 indexed item(s) could not be re-embedded (is a library folder "
                                            "missing?); search still uses the previous vectors. Run 'unisearch-cli "
                                            "adapters activate %2' again once they can be read.")
                                 .arg(outcome->missing)
                                 .arg(name));
    if (!parser.isSet(json))
        Context::out(QStringLiteral("Adapter pack '%1' is active: the library was re-embedded with it (%2 vectors).\n")
                         .arg(name)
                         .arg(outcome->vectors));
    return ExitCode::Ok;
}

int cmdAdaptersDeactivate(Context &ctx)
{
    const QCommandLineOption model = modelOption();
    QCommandLineParser parser;
    engine::Engine *e = ctx.parseAndOpenEngine(parser, {model}, 0, 0);
    if (!e)
        return ctx.exitCode();
    QString error;
    if (!engine::deactivateAdapterPack(*e, parser.value(model), &error))
        return Context::fail(error);
    Context::out(QStringLiteral("No adapter pack is active%1.\n")
                     .arg(parser.isSet(model) ? QStringLiteral(" for '%1'").arg(parser.value(model)) : QString()));
    return ExitCode::Ok;
}

int cmdAdaptersExport(Context &ctx)
{
    QCommandLineParser parser;
    engine::Engine *e = ctx.parseAndOpenEngine(parser, {}, 2, 2);
    if (!e)
        return ctx.exitCode();
    QString error;
    const QStringList args = parser.positionalArguments();
    if (!engine::exportAdapterPack(*e, args[0], args[1], &error))
        return Context::fail(error);
    return ExitCode::Ok;
}

int cmdAdaptersImport(Context &ctx)
{
    const QCommandLineOption json = jsonOption();
    const QCommandLineOption name(QStringLiteral("name"), QStringLiteral("Name of the pack."), QStringLiteral("NAME"));
    QCommandLineParser parser;
    engine::Engine *e = ctx.parseAndOpenEngine(parser, {json, name}, 1, 1);
    if (!e)
        return ctx.exitCode();
    QString error;
    const auto info = engine::importAdapterPack(*e, parser.positionalArguments().front(), parser.value(name), &error);
    if (!info)
        return Context::fail(error);
    Context::out(parser.isSet(json) ? QString::fromUtf8(QJsonDocument(info->toJson()).toJson(QJsonDocument::Indented))
                                    : QStringLiteral("Imported adapter pack '%1' (%2, %3 mode, for %4).\n")
                                          .arg(info->name, info->task, info->mode, info->baseModel));
    return ExitCode::Ok;
}

} // namespace unisearch::cli
