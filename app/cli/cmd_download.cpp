// model download NAME [--json]      downloads (or resumes) a catalogue model and imports it
// model download --list [--json]    the catalogue
#include "cli/cli.h"
#include "cli/modelcommon.h"

#include "engine/engine.h"
#include "engine/modelcatalogue.h"
#include "engine/modeldownload.h"

#include <QEventLoop>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLocale>

#include <unistd.h>

namespace unisearch::cli {

namespace {

QString sizeText(qint64 bytes)
{
    return QLocale::c().formattedDataSize(bytes, 1, QLocale::DataSizeSIFormat);
}

QJsonObject entryJson(const engine::CatalogueEntry &e)
{
    return QJsonObject{{QStringLiteral("name"), e.name},
                       {QStringLiteral("title"), e.title},
                       {QStringLiteral("task"), e.task},
                       {QStringLiteral("url"), e.url.toString()},
                       {QStringLiteral("sha256"), e.sha256.isEmpty() ? QJsonValue() : QJsonValue(e.sha256)},
                       {QStringLiteral("size"), e.size > 0 ? QJsonValue(double(e.size)) : QJsonValue()},
                       {QStringLiteral("licence"), e.licence},
                       {QStringLiteral("source"), e.source}};
}

} // namespace

int cmdModelDownload(Context &ctx)
{
    const QCommandLineOption list(QStringLiteral("list"), QStringLiteral("List the models the catalogue offers."));
    const QCommandLineOption json = jsonOption();
    QCommandLineParser parser;
    if (!ctx.parse(parser, {list, json}, 0, 1))
        return ctx.exitCode();
    QString error;
    const std::optional<engine::ModelCatalogue> catalogue = engine::ModelCatalogue::load({}, &error);
    if (!catalogue)
        return Context::fail(error);

    if (parser.isSet(list)) {
        if (parser.isSet(json)) {
            QJsonArray a;
            for (const engine::CatalogueEntry &e : catalogue->models)
                a.append(entryJson(e));
            Context::out(QString::fromUtf8(QJsonDocument(QJsonObject{{QStringLiteral("models"), a}}).toJson()));
        } else {
            QString text;
            for (const engine::CatalogueEntry &e : catalogue->models)
                text += QStringLiteral("%1  %2  %3\n    %4\n")
                            .arg(e.name.leftJustified(28), e.task.leftJustified(9), e.title, e.url.toString());
            Context::out(text);
        }
        return ExitCode::Ok;
    }
    if (parser.positionalArguments().isEmpty())
        return ctx.usageError(QStringLiteral("give the NAME of a catalogue model (see 'model download --list')"));
    const QString name = parser.positionalArguments().constFirst();
    const std::optional<engine::CatalogueEntry> entry = catalogue->find(name);
    if (!entry) {
        QStringList names;
        for (const engine::CatalogueEntry &e : catalogue->models)
            names.append(e.name);
        return Context::fail(QStringLiteral("The catalogue has no model named '%1'. It offers: %2.")
                                 .arg(name, names.join(QStringLiteral(", "))));
    }

    engine::Engine *engine = ctx.openEngine();
    if (!engine)
        return ExitCode::Failure;
    engine::ModelDownload::Params params;
    params.entry = *entry;
    params.progressIntervalMs = 1000;
    engine::ModelDownload job(engine, params);
    const bool terminal = isatty(STDERR_FILENO);
    QObject::connect(&job, &engine::ModelDownload::progressUpdated, &job,
                     [terminal](const engine::ModelDownload::Progress &p) {
                         if (!terminal)
                             return;
                         QString line = p.total > 0 ? QStringLiteral("%1 of %2 (%3 %)")
                                                          .arg(sizeText(p.received), sizeText(p.total))
                                                          .arg(100.0 * double(p.received) / double(p.total), 0, 'f', 1)
                                                    : sizeText(p.received);
                         if (p.bytesPerSecond > 0)
                             line += QStringLiteral(", %1/s").arg(sizeText(qint64(p.bytesPerSecond)));
                         if (p.etaSeconds > 0)
                             line += QStringLiteral(", %1 s left").arg(p.etaSeconds);
                         Context::err(QStringLiteral("\r  %1\x1b[K").arg(line));
                     });
    QObject::connect(&job, &engine::ModelDownload::stateChanged, &job,
                     [terminal](engine::ModelDownload::State s) {
                         const QString prefix = terminal ? QStringLiteral("\n") : QString();
                         if (s == engine::ModelDownload::State::Verifying)
                             Context::err(prefix + QStringLiteral("Checking the SHA-256 …\n"));
                         else if (s == engine::ModelDownload::State::Importing)
                             Context::err(prefix + QStringLiteral("Loading and checking the model …\n"));
                     });
    QEventLoop loop;
    QObject::connect(&job, &engine::ModelDownload::finished, &loop, &QEventLoop::quit);
    QObject::connect(&job, &engine::ModelDownload::failed, &loop, &QEventLoop::quit);
    const qint64 part = job.partialSize();
    if (!job.start())
        return Context::fail(job.errorString());
    Context::err(part > 0 ? QStringLiteral("Resuming %1 from %2 (%3 already here) …\n")
                                .arg(name, entry->url.toString(), sizeText(part))
                          : QStringLiteral("Downloading %1 from %2 …\n").arg(name, entry->url.toString()));
    loop.exec();
    if (job.state() != engine::ModelDownload::State::Finished)
        return Context::fail(job.errorString());

    const engine::ModelInfo m = job.result().imported->model;
    if (parser.isSet(json)) {
        Context::out(QString::fromUtf8(QJsonDocument(m.toJson()).toJson()));
        return ExitCode::Ok;
    }
    Context::out(QStringLiteral("Downloaded and imported '%1' (%2 model)%3\n")
                     .arg(m.name, m.task,
                          m.active ? QStringLiteral("; it is the %1 model in use").arg(m.task)
                                   : QStringLiteral("; 'unisearch-cli model activate %1' puts it in use").arg(m.name)));
    return ExitCode::Ok;
}

} // namespace unisearch::cli
