// embed image FILE... [--json]    one feature per image
// embed text TEXT... [--json]     one feature per text, exactly as given (no clean-up)
// embed frames FILE... [--json]   one video feature from the frames, in order; a single
//                                 video file: from its T = 8 uniformly sampled frames
// All take --model NAME (default: the active retrieval model).
#include "cli/cli.h"
#include "cli/modelcommon.h"

#include "engine/inference.h"
#include "engine/models.h"
#include "media/filepath.h"
#include "media/mediatype.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace unisearch::cli {

namespace {

enum class EmbedKind { Image, Text, Frames };

int runEmbed(Context &ctx, EmbedKind kind)
{
    const QCommandLineOption json = jsonOption();
    const QCommandLineOption model = modelOption();
    QCommandLineParser parser;
    if (!ctx.parse(parser, {json, model}, 1, -1))
        return ctx.exitCode();
    const QStringList inputs = parser.positionalArguments();

    const std::unique_ptr<engine::InferenceService> service =
        openInference(ctx, engine::retrievalTask, parser.value(model));
    if (!service)
        return ExitCode::Failure;
    const engine::LoadedModel loaded = service->load().value_or(engine::LoadedModel{});

    QJsonObject doc{{QStringLiteral("dim"), loaded.embedDim}};
    insertModelFields(doc, *service);
    QString text;
    if (kind == EmbedKind::Frames) {
        const bool fromVideo =
            inputs.size() == 1 && media::detectMediaType(inputs.constFirst()).kind == media::MediaKind::Video;
        QString error;
        const auto r = fromVideo ? service->embedVideo(inputs.constFirst(), engine::InferenceService::videoFrames, &error)
                                 : service->embedFrames(inputs, &error);
        if (!r)
            return Context::fail(error);
        if (fromVideo) {
            doc.insert(QStringLiteral("video"), inputs.constFirst());
            doc.insert(QStringLiteral("frameCount"), engine::InferenceService::videoFrames);
        } else {
            doc.insert(QStringLiteral("frames"), QJsonArray::fromStringList(inputs));
        }
        doc.insert(QStringLiteral("feature"), featureJson(*r));
        text = featureText(*r) + QLatin1Char('\n');
    } else {
        QString error;
        const auto r = kind == EmbedKind::Image ? service->embedImages(inputs, &error) : service->embedTexts(inputs, &error);
        if (!r)
            return Context::fail(error);
        const QString key = kind == EmbedKind::Image ? QStringLiteral("file") : QStringLiteral("text");
        QJsonArray items;
        for (size_t i = 0; i < r->size(); ++i) {
            const QString &input = inputs[static_cast<qsizetype>(i)];
            items.append(QJsonObject{{key, input}, {QStringLiteral("feature"), featureJson((*r)[i])}});
            // Escaped: a tab or newline in a name or text would break the line format.
            text += media::displayPath(input) + QLatin1Char('\t') + featureText((*r)[i]) + QLatin1Char('\n');
        }
        doc.insert(QStringLiteral("items"), items);
    }
    Context::out(parser.isSet(json) ? QString::fromUtf8(QJsonDocument(doc).toJson(QJsonDocument::Indented)) : text);
    return ExitCode::Ok;
}

} // namespace

int cmdEmbedImage(Context &ctx)
{
    return runEmbed(ctx, EmbedKind::Image);
}

int cmdEmbedText(Context &ctx)
{
    return runEmbed(ctx, EmbedKind::Text);
}

int cmdEmbedFrames(Context &ctx)
{
    return runEmbed(ctx, EmbedKind::Frames);
}

} // namespace unisearch::cli
