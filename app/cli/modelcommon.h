#pragma once
// Helpers shared by the commands that run the model (embed, itm, ask) and model import/list.
#include "cli/cli.h"

#include <QJsonArray>
#include <QString>

#include <memory>
#include <vector>

namespace unisearch::engine {
class InferenceService;
}

class QJsonObject;

namespace unisearch::cli {

QCommandLineOption jsonOption();
// --model NAME: use this imported model instead of the task's active one.
QCommandLineOption modelOption();

// Opens the engine and an inference service for the task's active model (or --model's),
// and loads it. Null after printing why (no model imported, unknown name, damaged bundle).
std::unique_ptr<engine::InferenceService> openInference(Context &ctx, const QString &task, const QString &modelName);

// "model", "device" and "precision" of the loaded model, for the JSON documents.
void insertModelFields(QJsonObject &doc, engine::InferenceService &service);

// A feature vector as JSON numbers, each the shortest decimal that reads back as the
// same float (a double would print float rounding noise: 0.1f → 0.10000000149011612).
QJsonArray featureJson(const std::vector<float> &feature);
// The same as text: values separated by single spaces.
QString featureText(const std::vector<float> &feature);
// The JSON number for one float, shortest round-trip form.
double shortestDouble(float value);

} // namespace unisearch::cli
