// status [--json]: what the library holds and how the engine is set up.
#include "cli/cli.h"

#include "engine/engine.h"

#include <QJsonDocument>

namespace unisearch::cli {

int cmdStatus(Context &ctx)
{
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Print one JSON document on stdout."));
    QCommandLineParser parser;
    if (!ctx.parse(parser, {json}, 0, 0))
        return ctx.exitCode();

    engine::Engine *engine = ctx.openEngine();
    if (!engine)
        return ExitCode::Failure;
    const engine::Status s = engine->status();

    if (parser.isSet(json)) {
        ctx.out(QString::fromUtf8(QJsonDocument(s.toJson()).toJson(QJsonDocument::Indented)));
        return ExitCode::Ok;
    }

    const auto &c = s.counts;
    auto orNone = [](const QString &name) { return name.isEmpty() ? QStringLiteral("none") : name; };
    QString text;
    text += QStringLiteral("Unisearch %1\n").arg(QStringLiteral(UNISEARCH_VERSION));
    text += QStringLiteral("Data dir:   %1\n").arg(s.dataDir);
    text += QStringLiteral("Catalog:    %1 (schema %2)\n").arg(s.catalogPath).arg(s.schemaVersion);
    text += QStringLiteral("Cache dir:  %1\n").arg(s.cacheDir);
    text += QStringLiteral("Model:      %1 (search), %2 (questions)\n")
                .arg(orNone(s.activeModel), orNone(s.activeVqaModel));
    text += QStringLiteral("Device:     %1, %2 threads\n").arg(s.device).arg(s.threads);
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
    if (!s.hasModel())
        text += QStringLiteral("\nNo model yet: a model must be imported or downloaded before you can search.\n");
    ctx.out(text);
    return ExitCode::Ok;
}

} // namespace unisearch::cli
