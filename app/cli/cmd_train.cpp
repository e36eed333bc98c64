// train --task retrieval|vqa --mode query|full (--data FILE | --labels) [--epochs N] [--name NAME]
//       [--model NAME] [--batch-size N] [--learning-rate X] [--seed N] [--bfloat16]
//       [--no-activate] [--replace] [--json]
// Trains an adapter pack on labelled examples (CSV path,caption; COCO caption JSON; the
// reference's VQA JSON), reports validation metrics before/after and activates the pack.
// Progress goes to stderr; the held-out metric at each epoch's end to stdout (to stderr
// with --json, whose document has it as "validation_curve"). Ctrl-C stops after the
// current step and writes nothing.
#include "cli/cli.h"
#include "cli/modelcommon.h"

#include "engine/engine.h"
#include "engine/trainingjob.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <csignal>

namespace unisearch::cli {

namespace {

engine::TrainingJob *g_job = nullptr;

extern "C" void onInterrupt(int)
{
    if (g_job)
        g_job->requestInterruption();
}

QString metricsText(const QJsonObject &m)
{
    if (m.isEmpty())
        return QStringLiteral("(no validation examples)");
    if (m.contains(QStringLiteral("accuracy")))
        return QStringLiteral("accuracy %1").arg(m.value(QStringLiteral("accuracy")).toDouble(), 0, 'f', 3);
    return QStringLiteral("recall@1 %1, @5 %2, @10 %3")
        .arg(m.value(QStringLiteral("recall_at_1")).toDouble(), 0, 'f', 3)
        .arg(m.value(QStringLiteral("recall_at_5")).toDouble(), 0, 'f', 3)
        .arg(m.value(QStringLiteral("recall_at_10")).toDouble(), 0, 'f', 3);
}

} // namespace

int cmdTrain(Context &ctx)
{
    const QCommandLineOption json = jsonOption();
    const QCommandLineOption model = modelOption();
    // The engine's defaults, shown in the help.
    const engine::TrainingParams defaults;
    auto withDefault = [](const char *what, const QString &value) {
        return QStringLiteral("%1 (default: %2).").arg(QLatin1String(what), value);
    };
    const QCommandLineOption task(QStringLiteral("task"), withDefault("retrieval or vqa", defaults.task),
                                  QStringLiteral("TASK"), defaults.task);
    const QCommandLineOption mode(QStringLiteral("mode"), withDefault("query (text side only) or full", defaults.mode),
                                  QStringLiteral("MODE"), defaults.mode);
    const QCommandLineOption data(QStringLiteral("data"), QStringLiteral("Training examples: CSV (path,caption; a third column \"name\" "
                                                 "makes the caption a name; vqa: path,question,answer), COCO "
                                                 "caption JSON or the VQA JSON list."),
                                  QStringLiteral("FILE"));
    const QCommandLineOption epochs(QStringLiteral("epochs"), withDefault("Passes over the data", QString::number(defaults.epochs)),
                                    QStringLiteral("N"), QString::number(defaults.epochs));
    const QCommandLineOption name(QStringLiteral("name"), withDefault("Name of the adapter pack", QStringLiteral("TASK-MODE-DATE-TIME")),
                                  QStringLiteral("NAME"));
    const QCommandLineOption batch(QStringLiteral("batch-size"), withDefault("Examples per step", QString::number(defaults.batchSize)),
                                   QStringLiteral("N"), QString::number(defaults.batchSize));
    const QCommandLineOption lr(QStringLiteral("learning-rate"),
                                withDefault("Peak learning rate", QStringLiteral("%1 in query mode, %2 in full mode")
                                                                        .arg(engine::queryModeLearningRate)
                                                                        .arg(engine::fullModeLearningRate)),
                                QStringLiteral("X"));
    const QCommandLineOption seed(QStringLiteral("seed"), withDefault("Random seed, for repeatable runs",
                                                                      QString::number(defaults.seed)),
                                  QStringLiteral("N"), QString::number(defaults.seed));
    const QCommandLineOption bf16(QStringLiteral("bfloat16"), QStringLiteral("Mixed precision (bfloat16 products)."));
    const QCommandLineOption labels(QStringLiteral("labels"),
                                    QStringLiteral("Train on the labels stored in the catalog instead of --data."));
    const QCommandLineOption noActivate(QStringLiteral("no-activate"), QStringLiteral("Do not activate the pack."));
    const QCommandLineOption replace(QStringLiteral("replace"), QStringLiteral("Replace a pack of the same name."));
    QCommandLineParser parser;
    if (!ctx.parse(parser, {json, model, task, mode, data, labels, epochs, name, batch, lr, seed, bf16, noActivate, replace}, 0, 0))
        return ctx.exitCode();
    if (parser.isSet(data) == parser.isSet(labels))
        return ctx.usageError(QStringLiteral("give --data FILE, or --labels to train on the catalog's labels"));
    engine::TrainingParams rq;
    rq.task = parser.value(task);
    rq.mode = parser.value(mode);
    if (rq.task != QLatin1String("retrieval") && rq.task != QLatin1String("vqa"))
        return ctx.usageError(QStringLiteral("--task must be retrieval or vqa"));
    if (rq.mode != QLatin1String("query") && rq.mode != QLatin1String("full"))
        return ctx.usageError(QStringLiteral("--mode must be query or full"));
    bool ok = true;
    rq.epochs = parser.value(epochs).toInt(&ok);
    if (!ok || rq.epochs < 1)
        return ctx.usageError(QStringLiteral("--epochs must be a positive number"));
    rq.batchSize = parser.value(batch).toInt(&ok);
    if (!ok || rq.batchSize < 1)
        return ctx.usageError(QStringLiteral("--batch-size must be a positive number"));
    if (parser.isSet(lr)) {
        rq.learningRate = parser.value(lr).toDouble(&ok);
        if (!ok || rq.learningRate <= 0)
            return ctx.usageError(QStringLiteral("--learning-rate must be a positive number"));
    }
    rq.seed = parser.value(seed).toULongLong(&ok);
    if (!ok)
        return ctx.usageError(QStringLiteral("--seed must be a number"));
    rq.dataFile = parser.value(data);
    rq.fromCatalog = parser.isSet(labels);
    rq.name = parser.value(name);
    rq.modelName = parser.value(model);
    rq.bfloat16 = parser.isSet(bf16);
    rq.activate = !parser.isSet(noActivate);
    rq.replace = parser.isSet(replace);

    engine::Engine *e = ctx.openEngine();
    if (!e)
        return ExitCode::Failure;
    engine::TrainingJob job(*e, rq);
    g_job = &job;
    auto previous = std::signal(SIGINT, onInterrupt);
    int lastReported = 0;
    const auto outcome = job.run(
        [&](const engine::TrainingProgress &p) {
            if (p.stage != QLatin1String("training")) {
                Context::err(p.stage + QStringLiteral("…\n"));
                return;
            }
            if (p.validation >= 0) {
                // The validation curve, a line per epoch (stdout unless it holds the JSON).
                const QString line = QStringLiteral("epoch %1/%2: held-out %3 %4\n")
                                         .arg(p.epoch)
                                         .arg(rq.epochs)
                                         .arg(rq.task == QLatin1String("vqa") ? QStringLiteral("accuracy")
                                                                              : QStringLiteral("recall@1"))
                                         .arg(p.validation, 0, 'f', 3);
                if (parser.isSet(json))
                    Context::err(line);
                else
                    Context::out(line);
            }
            // About 20 lines for a whole run, plus the last step.
            if (p.step == p.totalSteps || p.step - lastReported >= std::max(1, p.totalSteps / 20)) {
                lastReported = p.step;
                Context::err(QStringLiteral("step %1/%2 (epoch %3): loss %4, %5 examples/s, %6 s left")
                                 .arg(p.step)
                                 .arg(p.totalSteps)
                                 .arg(p.epoch)
                                 .arg(p.loss, 0, 'f', 4)
                                 .arg(p.examplesPerSecond, 0, 'f', 1)
                                 .arg(p.etaSeconds, 0, 'f', 0)
                             + QLatin1Char('\n'));
            }
        });
    std::signal(SIGINT, previous);
    g_job = nullptr;
    if (!outcome.ok)
        return Context::fail(outcome.error);
    if (outcome.cancelled)
        return Context::fail(QStringLiteral("Training cancelled after %1 steps; nothing was written and the active "
                                            "pack is unchanged")
                                 .arg(outcome.steps));
    if (parser.isSet(json)) {
        Context::out(QString::fromUtf8(QJsonDocument(outcome.toJson()).toJson(QJsonDocument::Indented)));
    } else {
        QString text = QStringLiteral("Trained adapter pack '%1' on %2 examples (%3 held out) in %4 steps, %5 s\n")
                           .arg(outcome.packName)
                           .arg(outcome.trainExamples)
                           .arg(outcome.validationExamples)
                           .arg(outcome.steps)
                           .arg(outcome.seconds, 0, 'f', 1);
        text += QStringLiteral("  before: %1\n  after:  %2\n").arg(metricsText(outcome.before), metricsText(outcome.after));
        text += outcome.activated ? QStringLiteral("  active now\n")
                                   : QStringLiteral("  not activated%1\n")
                                         .arg(outcome.note.isEmpty() ? QString() : QStringLiteral(": ") + outcome.note);
        for (const QString &a : outcome.advice())
            text += QStringLiteral("  note: %1\n").arg(a);
        Context::out(text);
    }
    return ExitCode::Ok;
}

} // namespace unisearch::cli
