// ask FILE QUESTION [--answers FILE] [--top-k K] [--beams N] [--model NAME] [--json]
// ask VIDEO QUESTION ...          T = 8 frames sampled uniformly, concatenated (the model's video path)
// ask VIDEO@TIME QUESTION ...     the one frame at TIME (seconds "12.5", "mm:ss" or "hh:mm:ss")
//
// A file whose name itself contains '@' is taken as it is when it exists.
// Visual question answering with the active VQA model. With --answers the candidates are
// ranked as the reference's rank_answer does (the top-k by first-token probability are
// scored by the decoder); without, an answer is generated (beam search as the reference's
// VQA inference; --beams 1 is greedy). The answers file holds one answer per line, or a
// JSON array of strings.
#include "cli/cli.h"
#include "cli/modelcommon.h"

#include "engine/inference.h"
#include "engine/models.h"
#include "media/filepath.h"
#include "media/mediatype.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace unisearch::cli {

namespace {

// One answer per line (blank lines skipped), or a JSON array of strings. Empty with
// *error on failure.
QStringList readAnswers(const QString &path, QString *error)
{
    // VQA v2's whole answer list is about 100 KB: 16 MiB is plenty, and bounds a FIFO or /dev/zero.
    const std::optional<QByteArray> read = media::readSmallFile(path, 16 << 20, error);
    if (!read) {
        *error = QStringLiteral("Cannot read the answers file %1: %2").arg(QDir::toNativeSeparators(path), *error);
        return {};
    }
    const QByteArray &data = *read;
    QStringList answers;
    if (data.trimmed().startsWith('[')) {
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(data, &pe);
        if (!doc.isArray()) {
            *error = QStringLiteral("The answers file %1 starts like a JSON array but is not one: %2")
                         .arg(QDir::toNativeSeparators(path), pe.errorString());
            return {};
        }
        for (const QJsonValue &v : doc.array()) {
            if (!v.isString()) {
                *error = QStringLiteral("The answers file %1 must be an array of strings.").arg(QDir::toNativeSeparators(path));
                return {};
            }
            answers.append(v.toString());
        }
    } else {
        for (const QString &line : QString::fromUtf8(data).split(QLatin1Char('\n'))) {
            const QString a = line.trimmed();
            if (!a.isEmpty())
                answers.append(a);
        }
    }
    if (answers.isEmpty())
        *error = QStringLiteral("The answers file %1 holds no answers.").arg(QDir::toNativeSeparators(path));
    return answers;
}

// FILE or VIDEO@TIME: the file and the time, if any. A path that exists wins over the
// split (a file may be called "party@home.mp4"). Empty file with *error on a bad time.
QString splitTime(const QString &arg, std::optional<double> *time, QString *error)
{
    if (media::fileStatus(arg).type != media::FileType::Missing)
        return arg;
    const qsizetype at = arg.lastIndexOf(QLatin1Char('@'));
    if (at <= 0)
        return arg;
    const QString file = arg.left(at);
    if (media::fileStatus(file).type == media::FileType::Missing)
        return arg;  // neither exists: the service says the file is missing
    const std::optional<double> t = engine::parseVideoTime(arg.mid(at + 1));
    if (!t) {
        *error = QStringLiteral("invalid time '%1' after '@': give seconds (12.5), mm:ss or hh:mm:ss")
                     .arg(arg.mid(at + 1));
        return {};
    }
    *time = t;
    return file;
}

} // namespace

int cmdAsk(Context &ctx)
{
    const QCommandLineOption answersOption(QStringLiteral("answers"),
                                           QStringLiteral("Rank these candidate answers (one per line, or a JSON "
                                                          "array) instead of generating one."),
                                           QStringLiteral("FILE"));
    const QCommandLineOption topK(QStringLiteral("top-k"),
                                  QStringLiteral("With --answers: how many candidates, picked by the probability "
                                                 "of their first token, are scored (default 128)."),
                                  QStringLiteral("K"));
    const QCommandLineOption beams(QStringLiteral("beams"),
                                   QStringLiteral("Without --answers: beam width (default 3; 1 = greedy)."),
                                   QStringLiteral("N"));
    const QCommandLineOption json = jsonOption();
    const QCommandLineOption model = modelOption();
    QCommandLineParser parser;
    if (!ctx.parse(parser, {answersOption, topK, beams, json, model}, 2, 2))
        return ctx.exitCode();
    std::optional<double> atSec;
    QString timeError;
    const QString file = splitTime(parser.positionalArguments().at(0), &atSec, &timeError);
    if (file.isEmpty())
        return ctx.usageError(timeError);
    const bool isVideo = atSec || media::detectMediaType(file).kind == media::MediaKind::Video;
    if (atSec && media::detectMediaType(file).kind != media::MediaKind::Video)
        return ctx.usageError(QStringLiteral("%1 is not a video: FILE@TIME asks about a moment of a video")
                                  .arg(QDir::toNativeSeparators(file)));
    const QString question = parser.positionalArguments().at(1);

    engine::AskParams params;
    if (!readPositiveInt(parser, topK, 100000, &params.topK))
        return ctx.usageError(QStringLiteral("invalid --top-k '%1': give a whole number from 1").arg(parser.value(topK)));
    if (!readPositiveInt(parser, beams, 64, &params.beams))
        return ctx.usageError(QStringLiteral("invalid --beams '%1': give a whole number from 1 to 64").arg(parser.value(beams)));
    if (question.trimmed().isEmpty())
        return ctx.usageError(QStringLiteral("the question is empty"));
    if (parser.isSet(answersOption)) {
        QString error;
        params.answers = readAnswers(parser.value(answersOption), &error);
        if (params.answers.isEmpty())
            return Context::fail(error);
    }

    const std::unique_ptr<engine::InferenceService> service =
        openInference(ctx, engine::vqaTask, parser.value(model));
    if (!service)
        return ExitCode::Failure;
    QString error;
    const auto r = isVideo ? service->askVideo(file, question, params, atSec, &error)
                           : service->ask({file}, question, params, &error);
    if (!r)
        return Context::fail(error);
    const engine::AskResult &a = *r;

    if (parser.isSet(json)) {
        QJsonObject doc{{QStringLiteral("file"), file},
                        {QStringLiteral("video"), isVideo},
                        {QStringLiteral("timeSec"), atSec ? QJsonValue(*atSec) : QJsonValue(QJsonValue::Null)},
                        {QStringLiteral("question"), question},
                        {QStringLiteral("cleanedQuestion"), a.question},
                        {QStringLiteral("answer"), a.answer}};
        insertModelFields(doc, *service);
        if (!params.answers.isEmpty()) {
            doc.insert(QStringLiteral("mode"), QStringLiteral("rank"));
            QJsonArray candidates;
            for (const engine::RankedAnswer &c : a.ranked)
                candidates.append(QJsonObject{{QStringLiteral("answer"), c.answer},
                                              {QStringLiteral("index"), c.index},
                                              {QStringLiteral("score"), shortestDouble(float(c.score))},
                                              {QStringLiteral("firstTokenProb"), shortestDouble(float(c.firstTokenProb))}});
            doc.insert(QStringLiteral("candidates"), candidates);
        } else {
            doc.insert(QStringLiteral("mode"), QStringLiteral("generate"));
            QJsonArray hypotheses;
            for (const engine::GeneratedAnswer &g : a.generated) {
                QJsonArray ids;
                for (std::int64_t id : g.ids)
                    ids.append(qint64(id));
                hypotheses.append(QJsonObject{{QStringLiteral("answer"), g.answer},
                                              {QStringLiteral("tokenIds"), ids},
                                              {QStringLiteral("score"), shortestDouble(float(g.score))}});
            }
            doc.insert(QStringLiteral("hypotheses"), hypotheses);
        }
        Context::out(QString::fromUtf8(QJsonDocument(doc).toJson(QJsonDocument::Indented)));
        return ExitCode::Ok;
    }
    Context::out(a.answer + QLatin1Char('\n'));
    return ExitCode::Ok;
}

} // namespace unisearch::cli
