// itm (--image FILE | --frames FILE...) --text TEXT [--text TEXT...] [--frame-aware] [--model NAME] [--json]
//
// Image-text matching with the ITM head: for each text, the logits {no match, match} and
// the match probability. --frames takes the frames of one video in order: the first after
// --frames, the rest as further arguments or repeated --frames. Texts are used exactly as
// given (the tokenizer lowercases), like `embed text`. `--frames VIDEO` (one video file)
// takes T = --count frames (default 8) sampled uniformly from it, as the model's video path.
#include "cli/cli.h"
#include "cli/modelcommon.h"

#include "engine/inference.h"
#include "engine/models.h"
#include "media/mediatype.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace unisearch::cli {

int cmdItm(Context &ctx)
{
    const QCommandLineOption image(QStringLiteral("image"), QStringLiteral("The image to match."),
                                   QStringLiteral("FILE"));
    const QCommandLineOption frames(QStringLiteral("frames"),
                                    QStringLiteral("The frames of a video, in order (further frames follow as "
                                                   "arguments)."),
                                    QStringLiteral("FILE..."));
    const QCommandLineOption text(QStringLiteral("text"), QStringLiteral("A text to match (repeatable)."),
                                  QStringLiteral("TEXT"));
    const QCommandLineOption frameAware(QStringLiteral("frame-aware"),
                                        QStringLiteral("Weight the frames by their similarity to the text."));
    const QCommandLineOption count(QStringLiteral("count"),
                                   QStringLiteral("With --frames VIDEO: how many frames to sample (default 8)."),
                                   QStringLiteral("T"));
    const QCommandLineOption json = jsonOption();
    const QCommandLineOption model = modelOption();
    QCommandLineParser parser;
    if (!ctx.parse(parser, {image, frames, text, frameAware, count, json, model}, 0, -1))
        return ctx.exitCode();

    const bool isVideo = parser.isSet(frames);
    if (parser.isSet(image) == isVideo)
        return ctx.usageError(QStringLiteral("give either --image FILE or --frames FILE..."));
    QStringList visual;
    if (isVideo) {
        visual = parser.values(frames) + parser.positionalArguments();
    } else {
        if (parser.values(image).size() > 1)
            return ctx.usageError(QStringLiteral("--image takes one file; use --frames for the frames of a video"));
        if (!parser.positionalArguments().isEmpty())
            return ctx.usageError(
                QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().constFirst()));
        visual = parser.values(image);
    }
    const QStringList texts = parser.values(text);
    if (texts.isEmpty())
        return ctx.usageError(QStringLiteral("give at least one --text TEXT"));
    const bool fromVideo = isVideo && visual.size() == 1
                           && media::detectMediaType(visual.constFirst()).kind == media::MediaKind::Video;
    int frameCount = engine::InferenceService::videoFrames;
    if (parser.isSet(count)) {
        bool ok = false;
        frameCount = parser.value(count).toInt(&ok);
        if (!fromVideo || !ok || frameCount < 1 || frameCount > 64)
            return ctx.usageError(QStringLiteral("--count T (1 to 64) goes with --frames VIDEO"));
    }
    if (parser.isSet(frameAware) && visual.size() < 2 && !(fromVideo && frameCount >= 2))
        return ctx.usageError(QStringLiteral("--frame-aware needs the frames of a video (--frames, two or more)"));

    const std::unique_ptr<engine::InferenceService> service =
        openInference(ctx, engine::retrievalTask, parser.value(model));
    if (!service)
        return ExitCode::Failure;
    QString error;
    const auto r = fromVideo ? service->itmVideo(visual.constFirst(), texts, parser.isSet(frameAware), frameCount, &error)
                             : service->itm(visual, texts, parser.isSet(frameAware), &error);
    if (!r)
        return Context::fail(error);

    if (parser.isSet(json)) {
        QJsonObject doc{{QStringLiteral("frameAware"), parser.isSet(frameAware)}};
        insertModelFields(doc, *service);
        if (fromVideo) {
            doc.insert(QStringLiteral("video"), visual.constFirst());
            doc.insert(QStringLiteral("frameCount"), frameCount);
        } else if (isVideo)
            doc.insert(QStringLiteral("frames"), QJsonArray::fromStringList(visual));
        else
            doc.insert(QStringLiteral("image"), visual.constFirst());
        QJsonArray results;
        for (const engine::ItmScore &s : *r)
            results.append(QJsonObject{{QStringLiteral("text"), s.text},
                                       {QStringLiteral("logits"), QJsonArray{shortestDouble(float(s.noMatch)), shortestDouble(float(s.match))}},
                                       {QStringLiteral("probability"), s.probability}});
        doc.insert(QStringLiteral("results"), results);
        Context::out(QString::fromUtf8(QJsonDocument(doc).toJson(QJsonDocument::Indented)));
        return ExitCode::Ok;
    }
    QString out;
    for (const engine::ItmScore &s : *r)
        out += QStringLiteral("%1\t%2\n").arg(s.probability, 0, 'f', 4).arg(s.text);
    Context::out(out);
    return ExitCode::Ok;
}

} // namespace unisearch::cli
