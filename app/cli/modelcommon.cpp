#include "cli/modelcommon.h"

#include "engine/engine.h"
#include "engine/inference.h"

#include <QJsonObject>

#include <charconv>
#include <cstdlib>

namespace unisearch::cli {

QCommandLineOption jsonOption()
{
    return QCommandLineOption(QStringLiteral("json"), QStringLiteral("Print one JSON document on stdout."));
}

QCommandLineOption modelOption()
{
    return QCommandLineOption(QStringLiteral("model"),
                              QStringLiteral("Use this imported model instead of the active one."),
                              QStringLiteral("NAME"));
}

std::unique_ptr<engine::InferenceService> openInference(Context &ctx, const QString &task, const QString &modelName)
{
    engine::Engine *engine = ctx.openEngine();
    if (!engine)
        return nullptr;
    QString error;
    std::unique_ptr<engine::InferenceService> service = engine->inference(task, modelName, &error);
    if (!service) {
        Context::fail(error);
        return nullptr;
    }
    // Load now, so that a model that cannot load is reported before any input is read.
    if (!service->load(&error)) {
        Context::fail(error);
        return nullptr;
    }
    return service;
}

void insertModelFields(QJsonObject &doc, engine::InferenceService &service)
{
    const engine::LoadedModel loaded = service.load().value_or(engine::LoadedModel{});
    doc.insert(QStringLiteral("model"), loaded.name);
    doc.insert(QStringLiteral("device"), loaded.device);
    doc.insert(QStringLiteral("precision"), loaded.bfloat16 ? QStringLiteral("bfloat16") : QStringLiteral("float32"));
    if (service.model().task == engine::vqaTask) // auto may run a float32 model's decoder in bfloat16
        doc.insert(QStringLiteral("decoderPrecision"),
                   loaded.bfloat16Decoder ? QStringLiteral("bfloat16") : QStringLiteral("float32"));
}

double shortestDouble(float value)
{
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf - 1, value);
    if (ec != std::errc())
        return static_cast<double>(value);
    *end = '\0';
    return std::strtod(buf, nullptr);
}

QJsonArray featureJson(const std::vector<float> &feature)
{
    QJsonArray a;
    for (float v : feature)
        a.append(shortestDouble(v));
    return a;
}

QString featureText(const std::vector<float> &feature)
{
    QString s;
    char buf[32];
    for (size_t i = 0; i < feature.size(); ++i) {
        const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, feature[i]);
        if (i)
            s += QLatin1Char(' ');
        s += QLatin1String(buf, ec == std::errc() ? end - buf : 0);
    }
    return s;
}

} // namespace unisearch::cli
