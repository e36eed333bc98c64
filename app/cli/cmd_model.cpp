// model import FILE [--name N] [--task retrieval|vqa] [--architecture JSON|@FILE] [--replace] [--json]
// model list [--json]
// model activate NAME
#include "cli/cli.h"
#include "cli/modelcommon.h"

#include "engine/engine.h"
#include "engine/models.h"
#include "media/filepath.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLocale>
#include <QMap>

namespace unisearch::cli {

namespace {

QString jsonText(const QJsonObject &o)
{
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Indented));
}

// "1.23 M" style, for people; --json has the exact count.
QString humanCount(std::int64_t n)
{
    if (n >= 1'000'000)
        return QStringLiteral("%1 M").arg(double(n) / 1e6, 0, 'f', 1);
    if (n >= 10'000)
        return QStringLiteral("%1 k").arg(double(n) / 1e3, 0, 'f', 0);
    return QString::number(n);
}

QString describeArchitecture(const QJsonObject &a)
{
    const QJsonObject v = a.value(QStringLiteral("vision")).toObject();
    const QJsonObject t = a.value(QStringLiteral("text")).toObject();
    const QJsonValue ad = a.value(QStringLiteral("adapter"));
    QString s = QStringLiteral("image %1 px (patch %2), ViT width %3, %4 layers, %5 heads; text width %6, %7 layers, "
                               "%8 heads; embed %9")
                    .arg(v.value(QStringLiteral("image_size")).toInt())
                    .arg(v.value(QStringLiteral("patch_size")).toInt())
                    .arg(v.value(QStringLiteral("width")).toInt())
                    .arg(v.value(QStringLiteral("depth")).toInt())
                    .arg(v.value(QStringLiteral("heads")).toInt())
                    .arg(t.value(QStringLiteral("hidden")).toInt())
                    .arg(t.value(QStringLiteral("layers")).toInt())
                    .arg(t.value(QStringLiteral("heads")).toInt())
                    .arg(a.value(QStringLiteral("embed_dim")).toInt());
    if (ad.isObject())
        s += QStringLiteral("; adapters %1, video K/V %2")
                 .arg(ad.toObject().value(QStringLiteral("bottleneck")).toInt())
                 .arg(ad.toObject().value(QStringLiteral("video_kv_bottleneck")).toInt());
    return s;
}

// "momentum encoder (training only)" → count, from "name [shape]: reason" entries.
QMap<QString, int> ignoredByReason(const QStringList &ignored)
{
    QMap<QString, int> out;
    for (const QString &entry : ignored) {
        const qsizetype colon = entry.lastIndexOf(QStringLiteral(": "));
        out[colon < 0 ? QStringLiteral("other") : entry.mid(colon + 2)] += 1;
    }
    return out;
}

} // namespace

int cmdModelImport(Context &ctx)
{
    const QCommandLineOption name(QStringLiteral("name"),
                                  QStringLiteral("The model's name (default: the file name without extension)."),
                                  QStringLiteral("N"));
    const QCommandLineOption task(QStringLiteral("task"),
                                  QStringLiteral("retrieval or vqa (default: from the checkpoint's tensors)."),
                                  QStringLiteral("retrieval|vqa"));
    const QCommandLineOption architecture(
        QStringLiteral("architecture"),
        QStringLiteral("The model's sizes as JSON, or @FILE (default: inferred from the tensor shapes, heads = "
                       "width / 64)."),
        QStringLiteral("JSON"));
    const QCommandLineOption replace(QStringLiteral("replace"), QStringLiteral("Replace a model of the same name."));
    const QCommandLineOption json = jsonOption();
    QCommandLineParser parser;
    if (!ctx.parse(parser, {name, task, architecture, replace, json}, 1, 1))
        return ctx.exitCode();

    engine::ModelImportRequest request;
    request.checkpoint = parser.positionalArguments().constFirst();
    request.name = parser.value(name);
    request.task = parser.value(task);
    request.replace = parser.isSet(replace);
    if (parser.isSet(name) && request.name.trimmed().isEmpty())
        return ctx.usageError(QStringLiteral("--name needs a name"));
    if (parser.isSet(task) && request.task != engine::retrievalTask && request.task != engine::vqaTask)
        return ctx.usageError(QStringLiteral("invalid --task '%1': use retrieval or vqa").arg(request.task));
    if (parser.isSet(architecture)) {
        QString arch = parser.value(architecture);
        if (arch.startsWith(QLatin1Char('@'))) {
            // An architecture is a few hundred bytes: 1 MiB is plenty, and bounds a FIFO or /dev/zero.
            QString why;
            const std::optional<QByteArray> data = media::readSmallFile(arch.mid(1), 1 << 20, &why);
            if (!data)
                return Context::fail(QStringLiteral("Cannot read the architecture file %1: %2")
                                         .arg(QDir::toNativeSeparators(arch.mid(1)), why));
            arch = QString::fromUtf8(*data);
        }
        if (arch.trimmed().isEmpty())
            return ctx.usageError(QStringLiteral("--architecture needs JSON or @FILE"));
        request.architectureJson = arch;
    }

    engine::Engine *engine = ctx.openEngine();
    if (!engine)
        return ExitCode::Failure;
    if (!parser.isSet(json))
        Context::err(QStringLiteral("Importing %1 …\n").arg(media::displayPath(request.checkpoint)));
    QString error;
    const std::optional<engine::ImportedModel> imported = engine->importModel(request, &error);
    if (!imported)
        return Context::fail(error);
    const engine::ModelInfo &m = imported->model;

    if (parser.isSet(json)) {
        QJsonObject o = m.toJson();
        o.insert(QStringLiteral("ignored"), int(imported->ignored.size()));
        QJsonObject reasons;
        const QMap<QString, int> byReason = ignoredByReason(imported->ignored);
        for (auto it = byReason.cbegin(); it != byReason.cend(); ++it)
            reasons.insert(it.key(), it.value());
        o.insert(QStringLiteral("ignoredByReason"), reasons);
        o.insert(QStringLiteral("sharedAliases"), imported->sharedAliases);
        Context::out(jsonText(o));
        return ExitCode::Ok;
    }
    QString text;
    text += QStringLiteral("Imported '%1' (%2 model%3) into %4\n")
                .arg(m.name, m.task, m.hasAdapters ? QStringLiteral(", UniAdapter") : QStringLiteral(", plain BLIP"),
                     media::displayPath(QDir::toNativeSeparators(m.path)));
    text += QStringLiteral("  Architecture: %1\n").arg(describeArchitecture(m.architecture));
    text += QStringLiteral("  Parameters:   %1\n").arg(QLocale::c().toString(qint64(m.parameterCount)));
    QStringList reasons;
    const QMap<QString, int> byReason = ignoredByReason(imported->ignored);
    for (auto it = byReason.cbegin(); it != byReason.cend(); ++it)
        reasons.append(QStringLiteral("%1 × %2").arg(it.value()).arg(it.key()));
    text += QStringLiteral("  Ignored:      %1 entries%2\n")
                .arg(imported->ignored.size())
                .arg(reasons.isEmpty() ? QString() : QStringLiteral(" (") + reasons.join(QStringLiteral(", ")) + QLatin1Char(')'));
    text += m.active ? QStringLiteral("  Active:       yes, the %1 model in use\n").arg(m.task)
                     : QStringLiteral("  Active:       no; 'unisearch-cli model activate %1' makes it the %2 model in use\n")
                           .arg(m.name, m.task);
    Context::out(text);
    return ExitCode::Ok;
}

int cmdModelList(Context &ctx)
{
    const QCommandLineOption json = jsonOption();
    QCommandLineParser parser;
    engine::Engine *engine = ctx.parseAndOpenEngine(parser, {json}, 0, 0);
    if (!engine)
        return ctx.exitCode();
    QString error;
    const QList<engine::ModelInfo> models = engine->models(&error);
    if (!error.isEmpty())
        return Context::fail(error);

    if (parser.isSet(json)) {
        QJsonArray list;
        QJsonObject active{{engine::retrievalTask, QJsonValue::Null}, {engine::vqaTask, QJsonValue::Null}};
        for (const engine::ModelInfo &m : models) {
            list.append(m.toJson());
            if (m.active)
                active.insert(m.task, m.name);
        }
        Context::out(jsonText(QJsonObject{{QStringLiteral("models"), list}, {QStringLiteral("active"), active}}));
        return ExitCode::Ok;
    }
    if (models.isEmpty()) {
        Context::out(QStringLiteral("No model imported yet: run 'unisearch-cli model import FILE'.\n"));
        return ExitCode::Ok;
    }
    int width = 4;
    for (const engine::ModelInfo &m : models)
        width = std::max(width, int(m.name.size()));
    QString text = QStringLiteral("  %1  %2  %3  %4  %5\n")
                       .arg(QStringLiteral("NAME").leftJustified(width), QStringLiteral("TASK     "),
                            QStringLiteral("PARAMS  "), QStringLiteral("KIND      "), QStringLiteral("IMPORTED"));
    for (const engine::ModelInfo &m : models) {
        text += QStringLiteral("%1 %2  %3  %4  %5  %6%7\n")
                    .arg(m.active ? QStringLiteral("*") : QStringLiteral(" "), m.name.leftJustified(width),
                         m.task.leftJustified(9), humanCount(m.parameterCount).leftJustified(8),
                         (m.hasAdapters ? QStringLiteral("UniAdapter") : QStringLiteral("BLIP")).leftJustified(10),
                         m.importedAt.toUTC().toString(Qt::ISODate),
                         m.problem.isEmpty() ? QString() : QStringLiteral("  (unusable: %1)").arg(m.problem));
    }
    text += QStringLiteral("\n* = the active model of its task\n");
    Context::out(text);
    return ExitCode::Ok;
}

int cmdModelActivate(Context &ctx)
{
    QCommandLineParser parser;
    engine::Engine *engine = ctx.parseAndOpenEngine(parser, {}, 1, 1);
    if (!engine)
        return ctx.exitCode();
    const QString name = parser.positionalArguments().constFirst();
    QString error;
    if (!engine->setActiveModel(name, &error))
        return Context::fail(error);
    const std::optional<engine::ModelInfo> m = engine->model(name);
    Context::out(QStringLiteral("'%1' is now the active %2 model.\n").arg(name, m ? m->task : QString()));
    return ExitCode::Ok;
}

} // namespace unisearch::cli
