// labels export-xmp [--dry-run] [--json]: the names taught for library items written as
// XMP keywords to PHOTO.EXT.xmp sidecars (engine/xmpexport.h); the originals stay as
// they are. A file that cannot be written is reported on stderr and the rest go on; the
// exit code is then 1.
#include "cli/cli.h"

#include "engine/engine.h"
#include "media/filepath.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace unisearch::cli {

namespace {

QJsonObject resultJson(const engine::XmpExportResult &result, bool dryRun)
{
    QJsonArray files;
    for (const engine::XmpFileResult &f : result.files) {
        QJsonObject o{{QStringLiteral("path"), f.path},
                      {QStringLiteral("sidecar"), f.sidecar},
                      {QStringLiteral("itemId"), qint64(f.itemId)},
                      {QStringLiteral("names"), QJsonArray::fromStringList(f.names)},
                      {QStringLiteral("added"), QJsonArray::fromStringList(f.added)},
                      {QStringLiteral("sidecarExisted"), f.sidecarExisted},
                      {QStringLiteral("status"), engine::toString(f.status)}};
        if (!f.error.isEmpty())
            o.insert(QStringLiteral("error"), f.error);
        files.append(o);
    }
    return QJsonObject{{QStringLiteral("dryRun"), dryRun},
                       {QStringLiteral("files"), files},
                       {QStringLiteral("written"), result.written},
                       {QStringLiteral("unchanged"), result.unchanged},
                       {QStringLiteral("failed"), result.failed}};
}

QString resultText(const engine::XmpExportResult &result, bool dryRun)
{
    if (result.files.isEmpty())
        return QStringLiteral("No names to export: teach names first (Model > Teach… or 'train' with a name "
                              "column).\n");
    QString text;
    for (const engine::XmpFileResult &f : result.files) {
        const QString sidecar = media::displayPath(f.sidecar);
        switch (f.status) {
        case engine::XmpFileStatus::Written:
        case engine::XmpFileStatus::WouldWrite:
            text += QStringLiteral("%1 %2: %3\n")
                        .arg(dryRun ? QStringLiteral("would write") : QStringLiteral("wrote"), sidecar,
                             media::displayText(f.added.join(QStringLiteral(", "))));
            break;
        case engine::XmpFileStatus::Unchanged:
            text += QStringLiteral("unchanged %1 (has %2)\n")
                        .arg(sidecar, media::displayText(f.names.join(QStringLiteral(", "))));
            break;
        case engine::XmpFileStatus::Failed:
            break;  // on stderr
        }
    }
    text += QStringLiteral("%1 %2 sidecar(s), %3 already had their names, %4 failed.\n")
                .arg(dryRun ? QStringLiteral("Would write") : QStringLiteral("Wrote"))
                .arg(result.written)
                .arg(result.unchanged)
                .arg(result.failed);
    return text;
}

} // namespace

int cmdLabelsExportXmp(Context &ctx)
{
    const QCommandLineOption dryRun(QStringLiteral("dry-run"),
                                    QStringLiteral("Show which sidecars would be written, with which names; write "
                                                   "nothing."));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Print one JSON document on stdout."));
    QCommandLineParser parser;
    engine::Engine *engine = ctx.parseAndOpenEngine(parser, {dryRun, json}, 0, 0);
    if (!engine)
        return ctx.exitCode();
    engine::XmpExportParams params;
    params.dryRun = parser.isSet(dryRun);
    QString error;
    const auto result = engine->exportNamesToXmp(params, {}, &error);
    if (!result)
        return Context::fail(error);
    for (const engine::XmpFileResult &f : result->files)
        if (f.status == engine::XmpFileStatus::Failed)
            Context::err(QStringLiteral("unisearch-cli: %1\n").arg(media::displayText(f.error)));
    if (parser.isSet(json))
        ctx.out(QString::fromUtf8(QJsonDocument(resultJson(*result, params.dryRun)).toJson(QJsonDocument::Indented)));
    else
        ctx.out(resultText(*result, params.dryRun));
    return result->failed > 0 ? ExitCode::Failure : ExitCode::Ok;
}

} // namespace unisearch::cli
