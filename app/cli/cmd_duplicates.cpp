// duplicates [--threshold T] [--json]: byte-identical files and near-identical items
// (engine/duplicates.h), a group per kept item and its copies.
#include "cli/cli.h"

#include "engine/engine.h"
#include "media/filepath.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QLocale>

namespace unisearch::cli {

namespace {

QJsonObject groupsJson(const QList<engine::DuplicateGroup> &groups, double threshold)
{
    QJsonArray out;
    for (const engine::DuplicateGroup &g : groups) {
        QJsonArray items;
        for (const engine::DuplicateItem &i : g.items)
            items.append(QJsonObject{{QStringLiteral("path"), i.path},
                                     {QStringLiteral("itemId"), qint64(i.itemId)},
                                     {QStringLiteral("similarity"), i.similarity},
                                     {QStringLiteral("sameBytes"), i.sameBytes},
                                     {QStringLiteral("type"), catalog::toString(i.type)},
                                     {QStringLiteral("size"), qint64(i.size)}});
        out.append(QJsonObject{{QStringLiteral("items"), items}});
    }
    return QJsonObject{{QStringLiteral("threshold"), threshold}, {QStringLiteral("groups"), out}};
}

QString groupsText(const QList<engine::DuplicateGroup> &groups)
{
    if (groups.isEmpty())
        return QStringLiteral("No duplicates found.\n");
    QString text;
    for (qsizetype n = 0; n < groups.size(); ++n) {
        text += QStringLiteral("Group %1:\n").arg(n + 1);
        for (qsizetype k = 0; k < groups[n].items.size(); ++k) {
            const engine::DuplicateItem &i = groups[n].items[k];
            const QString how = k == 0        ? QStringLiteral("keep")
                                : i.sameBytes ? QStringLiteral("same bytes")
                                              : QStringLiteral("similarity %1").arg(i.similarity, 0, 'f', 3);
            text += QStringLiteral("  %1  (%2, %3)\n")
                        .arg(media::displayPath(i.path), how, QLocale::c().formattedDataSize(i.size));
        }
    }
    return text;
}

} // namespace

int cmdDuplicates(Context &ctx)
{
    const QCommandLineOption threshold(
        QStringLiteral("threshold"),
        QStringLiteral("Cosine similarity at or above which two items are near copies, above 0 and at most 1 "
                       "(default %1).")
            .arg(engine::DuplicateParams::defaultThreshold),
        QStringLiteral("T"));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Print one JSON document on stdout."));
    QCommandLineParser parser;
    if (!ctx.parse(parser, {threshold, json}, 0, 0))
        return ctx.exitCode();
    engine::DuplicateParams params;
    if (parser.isSet(threshold)) {
        bool ok = false;
        params.threshold = parser.value(threshold).toDouble(&ok);
        if (!ok || !(params.threshold > 0 && params.threshold <= 1))
            return ctx.usageError(QStringLiteral("--threshold takes a number above 0 and at most 1 (such as 0.95), "
                                                 "not '%1'")
                                      .arg(media::displayText(parser.value(threshold).left(40))));
    }
    engine::Engine *engine = ctx.openEngine();
    if (!engine)
        return ExitCode::Failure;
    QString error;
    const auto groups = engine->findDuplicates(params, {}, &error);
    if (!groups)
        return Context::fail(error);
    if (parser.isSet(json))
        ctx.out(QString::fromUtf8(QJsonDocument(groupsJson(*groups, params.threshold)).toJson(QJsonDocument::Indented)));
    else
        ctx.out(groupsText(*groups));
    return ExitCode::Ok;
}

} // namespace unisearch::cli
