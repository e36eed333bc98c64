// search TEXT [--top K] [--rerank|--no-rerank] [--type image|video] [--folder DIR]...
//        [--from DATE] [--to DATE] [--threshold P] [--json]
// similar FILE [--top K] [--type image|video] [--folder DIR]... [--from DATE] [--to DATE] [--json]
// The JSON documents are described in docs/cli.md.
#include "cli/cli.h"

#include "engine/engine.h"
#include "engine/query.h"
#include "engine/search.h"
#include "media/filepath.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTimeZone>

namespace unisearch::cli {

namespace {

struct CommonOptions {
    QCommandLineOption top{QStringLiteral("top"), QStringLiteral("How many results (default 20)."),
                           QStringLiteral("K")};
    QCommandLineOption type{QStringLiteral("type"), QStringLiteral("Only images or only videos."),
                            QStringLiteral("image|video")};
    QCommandLineOption folder{QStringLiteral("folder"),
                              QStringLiteral("Only items in this folder or below it (repeatable)."),
                              QStringLiteral("DIR")};
    QCommandLineOption from{QStringLiteral("from"),
                            QStringLiteral("Only items taken on or after this date (YYYY-MM-DD or "
                                           "YYYY-MM-DDTHH:MM[:SS], the wall clock where they were taken)."),
                            QStringLiteral("DATE")};
    QCommandLineOption to{QStringLiteral("to"),
                          QStringLiteral("Only items taken on or before this date (inclusive: a date means "
                                         "to its end)."),
                          QStringLiteral("DATE")};
    QCommandLineOption json{QStringLiteral("json"), QStringLiteral("Print one JSON document on stdout.")};

    QList<QCommandLineOption> list() const { return {top, type, folder, from, to, json}; }
};

// --from/--to: a date (YYYY-MM-DD) or a date and time without a zone (YYYY-MM-DDTHH:MM[:SS]),
// both the wall clock where the items were taken (SearchFilter). *out is the filter's
// bound: from inclusive; to exclusive, so an inclusive --to D is the start of the next day
// (a date-time: the next minute, or second when seconds are given).
const QRegularExpression &plainDateTime()
{
    static const QRegularExpression re(QStringLiteral("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2})?$"));
    return re;
}

bool readDate(const QCommandLineParser &parser, const QCommandLineOption &opt, bool inclusiveEnd, QDateTime *out,
              QString *error)
{
    if (!parser.isSet(opt))
        return true;
    const QString value = parser.value(opt);
    const bool hasTime = value.contains(QLatin1Char('T'));
    // Qt::UTC: the fields are the wall clock as given, no zone is applied.
    QDateTime t;
    if (!hasTime) {
        const QDate date = QDate::fromString(value, Qt::ISODate);
        if (date.isValid())
            t = QDateTime(inclusiveEnd ? date.addDays(1) : date, QTime(0, 0), Qt::UTC);
    } else if (plainDateTime().match(value).hasMatch()) {
        const QDateTime local = QDateTime::fromString(value, Qt::ISODate);
        if (local.isValid())
            // An inclusive --to takes the whole minute (or second) it names.
            t = QDateTime(local.date(), local.time(), Qt::UTC)
                    .addMSecs(!inclusiveEnd ? 0 : value.size() > 16 ? 1000 : 60000);
    }
    if (!t.isValid()) {
        *error = QStringLiteral("invalid --%1 '%2': use a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM[:SS] "
                                "(the local time where the photos were taken, no zone)")
                     .arg(opt.names().constFirst(), media::displayText(value.left(40)));
        return false;
    }
    *out = t;
    return true;
}

// Reads the shared options into top/filter; on a bad value returns false with *error.
bool readCommon(const QCommandLineParser &parser, const CommonOptions &o, int *top, engine::SearchFilter *filter,
                QString *error)
{
    if (!readPositiveInt(parser, o.top, 10000, top)) {
        *error = QStringLiteral("invalid --top '%1': give a whole number from 1 to 10000").arg(parser.value(o.top));
        return false;
    }
    if (parser.isSet(o.type)) {
        const auto type = catalog::itemTypeFromString(parser.value(o.type).toLower());
        if (!type) {
            *error = QStringLiteral("invalid --type '%1': use image or video").arg(parser.value(o.type));
            return false;
        }
        filter->type = type;
    }
    for (const QString &folder : parser.values(o.folder)) {
        if (media::fileStatus(folder).type != media::FileType::Directory) {
            *error = QStringLiteral("--folder %1 is not a folder").arg(QDir::toNativeSeparators(folder));
            return false;
        }
        filter->folders.append(QDir::cleanPath(QFileInfo(folder).absoluteFilePath()));
    }
    if (!readDate(parser, o.from, false, &filter->from, error) || !readDate(parser, o.to, true, &filter->to, error))
        return false;
    if (filter->from.isValid() && filter->to.isValid() && filter->from >= filter->to) {
        *error = QStringLiteral("--from %1 is after --to %2: give the earlier date first")
                     .arg(parser.value(o.from), parser.value(o.to));
        return false;
    }
    return true;
}

QJsonArray hitsJson(const engine::SearchResult &r)
{
    QJsonArray out;
    int rank = 0;
    for (const engine::SearchHit &h : r.hits) {
        QJsonObject o{
            {QStringLiteral("rank"), ++rank},
            {QStringLiteral("path"), h.path},
            {QStringLiteral("type"), catalog::toString(h.type)},
            {QStringLiteral("score"), double(h.score)},
            {QStringLiteral("itemId"), qint64(h.itemId)},
            {QStringLiteral("segmentId"), qint64(h.segmentId)},
            {QStringLiteral("startMs"), qint64(h.startMs)},
            {QStringLiteral("endMs"), qint64(h.endMs)},
            {QStringLiteral("width"), h.width},
            {QStringLiteral("height"), h.height},
            {QStringLiteral("modified"),
             QDateTime::fromMSecsSinceEpoch(h.mtimeMs, Qt::UTC).toString(Qt::ISODateWithMs)},
            {QStringLiteral("taken"), h.meta.takenIso()},  // wall clock, with the offset when known
            {QStringLiteral("takenSource"), catalog::toString(h.meta.takenSource)},
        };
        if (!h.matchedText.isEmpty())  // a keyword matched: the OCR or name snippet
            o.insert(QStringLiteral("matchedText"), h.matchedText);
        if (!h.livePhotoVideo.isEmpty())  // a live photo: its video (startMs/endMs: the moment in it)
            o.insert(QStringLiteral("livePhotoVideo"), h.livePhotoVideo);
        if (r.reranked)
            o.insert(QStringLiteral("itmProbability"),
                     h.itmProbability ? QJsonValue(*h.itmProbability) : QJsonValue(QJsonValue::Null));
        if (h.type == catalog::ItemType::Video) {
            QJsonArray moments;
            for (const engine::Moment &m : h.moments)
                moments.append(QJsonObject{{QStringLiteral("segmentId"), qint64(m.segmentId)},
                                           {QStringLiteral("startMs"), qint64(m.startMs)},
                                           {QStringLiteral("endMs"), qint64(m.endMs)},
                                           {QStringLiteral("score"), double(m.score)}});
            o.insert(QStringLiteral("moments"), moments);
        }
        out.append(o);
    }
    return out;
}

QJsonObject timingsJson(const engine::SearchTimings &t)
{
    return QJsonObject{{QStringLiteral("clean"), t.cleanMs},   {QStringLiteral("feature"), t.featureMs},
                       {QStringLiteral("store"), t.storeMs},   {QStringLiteral("group"), t.groupMs},
                       {QStringLiteral("rerank"), t.rerankMs}, {QStringLiteral("rerankDecode"), t.rerankDecodeMs},
                       {QStringLiteral("rerankEncode"), t.rerankEncodeMs}, {QStringLiteral("total"), t.totalMs}};
}

QString hitsText(const engine::SearchResult &r)
{
    QString text;
    int rank = 0;
    for (const engine::SearchHit &h : r.hits) {
        QString line = QStringLiteral("%1. %2").arg(++rank, 3).arg(double(h.score), 0, 'f', 4);
        if (r.reranked)
            line += h.itmProbability ? QStringLiteral("  match %1").arg(*h.itmProbability, 0, 'f', 3)
                                     : QStringLiteral("  match  -   ");
        if (h.type == catalog::ItemType::Video) {
            line += QStringLiteral("  video %1–%2 s").arg(double(h.startMs) / 1000.0, 0, 'f', 1)
                        .arg(double(h.endMs) / 1000.0, 0, 'f', 1);
            if (h.moments.size() > 1)
                line += QStringLiteral(" (+%1 more moments)").arg(h.moments.size() - 1);
        }
        // The capture date as the wall clock showed it; '~' marks a file time (no metadata).
        line += QStringLiteral("  %1%2")
                    .arg(h.meta.takenIso().left(10),
                         h.meta.takenSource == catalog::TakenSource::File ? QStringLiteral("~") : QStringLiteral(" "));
        text += line + QStringLiteral("  ") + media::displayPath(h.path) + QLatin1Char('\n');
        if (!h.matchedText.isEmpty())
            text += QStringLiteral("       matched: \"%1\"\n").arg(media::displayText(h.matchedText));
    }
    return text;
}

// Opens the engine and the search session (as the window does: Engine's plan); null after
// printing why.
std::unique_ptr<engine::SearchSession> openSession(Context &ctx)
{
    engine::Engine *engine = ctx.openEngine();
    if (!engine)
        return nullptr;
    QString error;
    std::unique_ptr<engine::SearchSession> session = engine->openSearchSession(&error);
    if (!session) {
        Context::fail(error);
        return nullptr;
    }
    if (session->vectorCount() == 0)
        Context::err(QStringLiteral("unisearch-cli: the library has no indexed images yet, nor videos; add folders with "
                                    "'unisearch-cli index DIR'\n"));
    return session;
}

} // namespace

int cmdSearch(Context &ctx)
{
    const CommonOptions common;
    const QCommandLineOption rerank(QStringLiteral("rerank"),
                                    QStringLiteral("Re-rank the best results with the image-text matching head "
                                                   "(default: on with CUDA, off on the CPU)."));
    const QCommandLineOption noRerank(QStringLiteral("no-rerank"), QStringLiteral("Do not re-rank."));
    const QCommandLineOption rerankCount(QStringLiteral("rerank-top"),
                                         QStringLiteral("How many results to re-rank (default: 16 with CUDA, 8 on the CPU)."),
                                         QStringLiteral("N"));
    const QCommandLineOption threshold(QStringLiteral("threshold"),
                                       QStringLiteral("Match probability a re-ranked result needs to count as a "
                                                      "good match (default 0.5)."),
                                       QStringLiteral("P"));
    QCommandLineParser parser;
    if (!ctx.parse(parser, common.list() + QList<QCommandLineOption>{rerank, noRerank, rerankCount, threshold}, 1,
                   -1))
        return ctx.exitCode();

    engine::SearchParams params;
    params.text = parser.positionalArguments().join(QLatin1Char(' '));
    QString error;
    if (!readCommon(parser, common, &params.top, &params.filter, &error))
        return ctx.usageError(error);
    if (parser.isSet(rerank) && parser.isSet(noRerank))
        return ctx.usageError(QStringLiteral("--rerank and --no-rerank contradict each other"));
    if (parser.isSet(rerank))
        params.rerank = true;
    if (parser.isSet(noRerank))
        params.rerank = false;
    if (!readPositiveInt(parser, rerankCount, 256, &params.rerankCount))
        return ctx.usageError(QStringLiteral("invalid --rerank-top '%1': give a whole number from 1 to 256")
                                  .arg(parser.value(rerankCount)));
    if (parser.isSet(threshold)) {
        bool ok = false;
        params.relevanceThreshold = parser.value(threshold).toDouble(&ok);
        if (!ok || params.relevanceThreshold < 0 || params.relevanceThreshold > 1)
            return ctx.usageError(QStringLiteral("invalid --threshold '%1': give a probability from 0 to 1")
                                      .arg(parser.value(threshold)));
    }
    if (params.text.trimmed().isEmpty())
        return ctx.usageError(QStringLiteral("the query is empty"));
    // A combined query's mistakes (a missing file, a bad weight, an empty term) are usage
    // errors, found before the model loads; its relative paths name files in the working directory.
    params.baseDir = QDir::currentPath();
    if (!engine::parseQuery(params.text, params.baseDir, &error))
        return ctx.usageError(error);

    auto session = openSession(ctx);
    if (!session)
        return ExitCode::Failure;
    const auto result = session->searcher().search(params, &error);
    if (!result)
        return Context::fail(error);

    if (parser.isSet(common.json)) {
        QJsonObject doc{
            {QStringLiteral("query"), result->query},
            {QStringLiteral("cleanedQuery"), result->cleanedQuery},
            {QStringLiteral("model"), session->modelName()},
            {QStringLiteral("top"), params.top},
            {QStringLiteral("reranked"), result->reranked},
            {QStringLiteral("noGoodMatch"), result->noGoodMatch},
            {QStringLiteral("results"), hitsJson(*result)},
            {QStringLiteral("timingsMs"), timingsJson(result->timings)},
        };
        if (result->reranked) {
            doc.insert(QStringLiteral("relevanceThreshold"), params.relevanceThreshold);
            doc.insert(QStringLiteral("bestItmProbability"), result->bestItmProbability
                                                                 ? QJsonValue(*result->bestItmProbability)
                                                                 : QJsonValue(QJsonValue::Null));
        }
        ctx.out(QString::fromUtf8(QJsonDocument(doc).toJson(QJsonDocument::Indented)));
        return ExitCode::Ok;
    }
    QString text;
    if (result->hits.isEmpty())
        text = QStringLiteral("No results.\n");
    else if (result->noGoodMatch)
        text = QStringLiteral("No good match for \"%1\" (best match probability %2); the closest items:\n")
                   .arg(result->query)
                   .arg(result->bestItmProbability.value_or(0.0), 0, 'f', 3);
    ctx.out(text + hitsText(*result));
    return ExitCode::Ok;
}

int cmdSimilar(Context &ctx)
{
    const CommonOptions common;
    QCommandLineParser parser;
    if (!ctx.parse(parser, common.list(), 1, 1))
        return ctx.exitCode();
    engine::SimilarParams params;
    QString error;
    if (!readCommon(parser, common, &params.top, &params.filter, &error))
        return ctx.usageError(error);
    const QString file = QDir::cleanPath(QFileInfo(parser.positionalArguments().constFirst()).absoluteFilePath());
    // The file's type before anything opens it (or loads the model): a FIFO would block,
    // /dev/zero never end.
    if (const QString problem = media::regularFileProblem(file); !problem.isEmpty())
        return Context::fail(QStringLiteral("%1: %2").arg(QDir::toNativeSeparators(file), problem));

    auto session = openSession(ctx);
    if (!session)
        return ExitCode::Failure;
    const auto result = session->searcher().similar(file, params, &error);
    if (!result)
        return Context::fail(error);

    if (parser.isSet(common.json)) {
        const QJsonObject doc{
            {QStringLiteral("file"), file},
            {QStringLiteral("source"), result->source},
            {QStringLiteral("model"), session->modelName()},
            {QStringLiteral("top"), params.top},
            {QStringLiteral("results"), hitsJson(*result)},
            {QStringLiteral("timingsMs"), timingsJson(result->timings)},
        };
        ctx.out(QString::fromUtf8(QJsonDocument(doc).toJson(QJsonDocument::Indented)));
        return ExitCode::Ok;
    }
    ctx.out(result->hits.isEmpty() ? QStringLiteral("No results.\n") : hitsText(*result));
    return ExitCode::Ok;
}

} // namespace unisearch::cli
