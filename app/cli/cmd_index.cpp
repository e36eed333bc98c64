// index PATH... [--watch] [--json]: add folders (or single files) to the library and
// index them. Progress goes to stderr; the summary (or, with --json, one JSON document)
// to stdout. --watch keeps running after the first pass and re-indexes the folders the
// file watcher reports, until SIGINT or SIGTERM.
//
// Ctrl+C (SIGINT) or SIGTERM stops cleanly: every committed batch is kept, the store is
// saved, and running the same command again continues where it stopped.
//
// While a full-mode adapter pack waits for the library to be re-embedded with it
// (training.h), a pass without --watch then continues that re-embed (new and changed
// files included) and switches to the pack when it is complete.
#include "cli/cli.h"

#include "catalog/catalog.h"
#include "engine/engine.h"
#include "engine/indexjob.h"
#include "engine/inference.h"
#include "engine/librarywatcher.h"
#include "engine/lock.h"
#include "engine/retrievalmodel.h"
#include "engine/training.h"
#include "media/filepath.h"
#include "util/settings.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSocketNotifier>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <optional>
#include <sys/socket.h>
#include <unistd.h>

namespace unisearch::cli {

namespace {

std::atomic<bool> g_stop{false};
int g_signalPipe[2] = {-1, -1};

extern "C" void onStopSignal(int)
{
    g_stop.store(true);
    if (g_signalPipe[1] >= 0) {
        const char c = 1;
        [[maybe_unused]] const ssize_t n = ::write(g_signalPipe[1], &c, 1);
    }
}

// SIGINT/SIGTERM set g_stop (polled by the job's progress callback) and wake the event
// loop through a socket pair (the only safe way out of a signal handler into Qt).
void installStopHandlers()
{
    if (g_signalPipe[0] < 0)
        ::socketpair(AF_UNIX, SOCK_STREAM, 0, g_signalPipe);
    installStopSignalHandler(onStopSignal);
}

QString duration(double seconds)
{
    if (seconds < 0)
        return QStringLiteral("?");
    const qint64 s = static_cast<qint64>(seconds + 0.5);
    if (s < 60)
        return QStringLiteral("%1s").arg(s);
    if (s < 3600)
        return QStringLiteral("%1m%2s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1h%2m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
}

// Progress lines on stderr, at most about two a second (and at every stage change).
// UNISEARCH_PROGRESS_MS sets another interval (0: a line per committed batch), for
// scripts and the crash-safety tests that stop the indexer after some lines.
class ProgressPrinter
{
public:
    ProgressPrinter()
    {
        bool ok = false;
        const int ms = qEnvironmentVariableIntValue("UNISEARCH_PROGRESS_MS", &ok);
        if (ok && ms >= 0)
            m_intervalMs = ms;
    }

    bool operator()(const engine::IndexProgress &p)
    {
        const bool stageChanged = p.stage != m_stage || !m_timer.isValid();
        const bool finished = (p.stage == engine::IndexProgress::Stage::Indexing && p.filesDone == p.filesTotal)
                              || (p.stage == engine::IndexProgress::Stage::Ocr && p.ocrDone == p.ocrTotal);
        const bool due = m_timer.isValid() && m_timer.elapsed() >= m_intervalMs
                         && (m_intervalMs > 0 || p.filesDone != m_lastDone);
        if (stageChanged || finished || due || p.paused != m_paused) {
            m_lastDone = p.filesDone;
            m_timer.restart();
            m_stage = p.stage;
            m_paused = p.paused;
            print(p);
        }
        return !g_stop.load();
    }

private:
    static void print(const engine::IndexProgress &p)
    {
        using Stage = engine::IndexProgress::Stage;
        QString line;
        switch (p.stage) {
        case Stage::Scanning:
            line = QStringLiteral("scanning: %1 files found").arg(p.scanned);
            break;
        case Stage::Comparing:
            line = QStringLiteral("comparing %1 files with the catalog").arg(p.scanned);
            break;
        case Stage::Indexing:
            line = QStringLiteral("indexing: %1/%2 files, %3 embedded (%4 files/s, ETA %5)%6")
                       .arg(p.filesDone)
                       .arg(p.filesTotal)
                       .arg(p.embedded)
                       .arg(p.filesPerSecond, 0, 'f', 1)
                       .arg(duration(p.etaSeconds), p.paused ? QStringLiteral(", paused") : QString());
            break;
        case Stage::Finishing:
            line = QStringLiteral("saving");
            break;
        case Stage::Ocr:
            line = QStringLiteral("reading text in photos: %1/%2%3")
                       .arg(p.ocrDone)
                       .arg(p.ocrTotal)
                       .arg(p.paused ? QStringLiteral(", paused") : QString());
            break;
        }
        Context::err(line + QLatin1Char('\n'));
    }

    QElapsedTimer m_timer;
    int m_intervalMs = 500;
    qint64 m_lastDone = -1;
    engine::IndexProgress::Stage m_stage = engine::IndexProgress::Stage::Scanning;
    bool m_paused = false;
};

QJsonObject resultJson(const engine::IndexResult &r)
{
    QJsonArray errors;
    for (const engine::IndexFileError &e : r.errors)
        errors.append(QJsonObject{{QStringLiteral("path"), e.path},
                                  {QStringLiteral("stage"), e.stage},
                                  {QStringLiteral("message"), e.message}});
    QJsonArray scanErrors;
    for (const media::ScanError &e : r.scanErrors)
        scanErrors.append(QJsonObject{{QStringLiteral("path"), e.path}, {QStringLiteral("reason"), e.reason}});
    return QJsonObject{
        {QStringLiteral("ok"), r.ok},
        {QStringLiteral("cancelled"), r.cancelled},
        {QStringLiteral("error"), r.error.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(r.error)},
        {QStringLiteral("scanned"), r.scanned},
        {QStringLiteral("added"), r.added},
        {QStringLiteral("modified"), r.modified},
        {QStringLiteral("touched"), r.touched},
        {QStringLiteral("unchanged"), r.unchanged},
        {QStringLiteral("moved"), r.moved},
        {QStringLiteral("deleted"), r.deleted},
        {QStringLiteral("unreachable"), r.unreachable},
        {QStringLiteral("retried"), r.retried},
        {QStringLiteral("embedded"), r.embedded},
        {QStringLiteral("failed"), r.failed},
        {QStringLiteral("videosEmbedded"), r.videosEmbedded},
        {QStringLiteral("videoFramesEmbedded"), r.framesEmbedded},
        {QStringLiteral("videoSegments"), r.segmentsStored},
        {QStringLiteral("storeSize"), r.storeSize},
        {QStringLiteral("storeRebuilt"), r.storeRebuilt},
        {QStringLiteral("seconds"), r.seconds},
        {QStringLiteral("imagesPerSecond"), r.imagesPerSecond},
        {QStringLiteral("ocrRead"), r.ocrRead},
        {QStringLiteral("ocrWithText"), r.ocrWithText},
        {QStringLiteral("ocrFailed"), r.ocrFailed},
        {QStringLiteral("ocrSeconds"), r.ocrSeconds},
        {QStringLiteral("ocrError"), r.ocrError.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(r.ocrError)},
        {QStringLiteral("errors"), errors},
        {QStringLiteral("scanErrors"), scanErrors},
    };
}

QString summary(const engine::IndexResult &r)
{
    QString s = QStringLiteral("%1 files found: %2 new, %3 changed, %4 moved, %5 deleted, %6 unchanged.\n")
                    .arg(r.scanned)
                    .arg(r.added)
                    .arg(r.modified)
                    .arg(r.moved)
                    .arg(r.deleted)
                    .arg(r.unchanged);
    s += QStringLiteral("%1 images embedded in %2 (%3 images/s); the store holds %4 vectors.\n")
             .arg(r.embedded)
             .arg(duration(r.seconds))
             .arg(r.imagesPerSecond, 0, 'f', 1)
             .arg(r.storeSize);
    if (r.failed > 0) {
        s += QStringLiteral("%1 files could not be indexed:\n").arg(r.failed);
        constexpr int shown = 20;
        for (qsizetype i = 0; i < r.errors.size() && i < shown; ++i)
            s += QStringLiteral("  %1: %2\n").arg(media::displayPath(r.errors[i].path), media::displayText(r.errors[i].message));
        if (r.failed > shown)
            s += QStringLiteral("  … and %1 more ('status' lists them all)\n").arg(r.failed - shown);
    }
    if (r.videosEmbedded > 0)
        s += QStringLiteral("%1 videos embedded: %2 frames, %3 moments stored.\n")
                 .arg(r.videosEmbedded)
                 .arg(r.framesEmbedded)
                 .arg(r.segmentsStored);
    if (r.ocrRead + r.ocrFailed > 0)
        s += QStringLiteral("Text read in %1 photos (%2 with text) in %3.\n")
                 .arg(r.ocrRead)
                 .arg(r.ocrWithText)
                 .arg(duration(r.ocrSeconds));
    if (!r.ocrError.isEmpty())
        s += QStringLiteral("Text in photos was not read: %1\n").arg(r.ocrError);
    for (const media::ScanError &e : r.scanErrors)
        s += QStringLiteral("Could not read the folder %1: %2\n").arg(media::displayPath(e.path), e.reason);
    if (r.storeRebuilt)
        s += QStringLiteral("The vector store was rebuilt from the catalog (%1).\n").arg(r.storeRebuildReason);
    return s;
}

// The pending full-mode pack of the active search model ("" when none).
QString pendingPackName(engine::Engine &engine)
{
    const auto model = engine.activeModel(engine::retrievalTask);
    if (!model || !engine.catalog())
        return {};
    const QString path = engine::pendingAdapterPackPath(*engine.catalog(), model->name);
    return path.isEmpty() ? QString() : QFileInfo(path).completeBaseName();
}

// Runs the pending re-embed after an index pass; prints the outcome (with `first`: one
// JSON document with the pass and the re-embed).
int continuePendingReembed(engine::Engine &engine, int batchSize, const QString &pack, const engine::IndexResult *first)
{
    engine::ReembedParams params;
    params.batchSize = batchSize;
    ProgressPrinter printer;
    QString error;
    const auto outcome = engine::continueReembed(
        engine, params, [&printer](const engine::IndexProgress &p) { return printer(p); }, &error);
    if (!outcome)
        return Context::fail(error);
    if (first) {
        QJsonObject o = resultJson(*first);
        o.insert(QStringLiteral("reembed"), outcome->toJson());
        Context::out(QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Indented)));
    }
    if (outcome->cancelled)
        return Context::fail(QStringLiteral("interrupted; search still uses the previous vectors, and running "
                                            "'unisearch-cli index' or 'unisearch-cli adapters activate %1' again "
                                            "continues the re-embedding")
                                 .arg(pack));
    if (!outcome->switched)
        return Context::fail(QStringLiteral("%1 indexed item(s) could not be re-embedded with the adapter pack '%2' "
                                            "(is a library folder missing?); search still uses the previous vectors")
                                 .arg(outcome->missing)
                                 .arg(pack));
    if (!first)
        Context::out(QStringLiteral("Adapter pack '%1' is active: the library was re-embedded with it (%2 items "
                                    "embedded now, %3 vectors).\n")
                         .arg(pack)
                         .arg(outcome->embedded)
                         .arg(outcome->vectors));
    return ExitCode::Ok;
}

// The command's paths, checked before anything is opened: a typo should not cost loading
// the model. Ok, or the exit code of the message printed.
int checkPaths(const QStringList &arguments, QStringList *paths, QStringList *folders)
{
    for (const QString &arg : arguments) {
        const QString absolute = QDir::cleanPath(QFileInfo(arg).absoluteFilePath());
        const media::FileStatus st = media::fileStatus(absolute);
        if (st.type == media::FileType::Missing)
            return Context::fail(QStringLiteral("%1: %2").arg(QDir::toNativeSeparators(arg),
                                                              st.error.isEmpty() ? QStringLiteral("no such file or folder")
                                                                                 : st.error));
        if (st.type != media::FileType::Directory && st.type != media::FileType::File)
            return Context::fail(QStringLiteral("%1 is neither a folder nor a file").arg(QDir::toNativeSeparators(arg)));
        paths->append(absolute);
        if (st.type == media::FileType::Directory)
            folders->append(absolute);
    }
    return ExitCode::Ok;
}

// --watch after the first pass: re-index the folders that change until asked to stop.
// printer is replaced before each pass (a pass prints its progress from the start).
int watchForChanges(Context &ctx, engine::LibraryWatcher &watcher, const QStringList &folders, bool json,
                    const engine::IndexResult &first, std::optional<ProgressPrinter> &printer)
{
    for (const media::ScanError &e : watcher.watch(folders))
        Context::err(QStringLiteral("cannot watch %1: %2\n").arg(media::displayPath(e.path), e.reason));
    if (const QStringList unwatched = watcher.unwatchedDirectories(); !unwatched.isEmpty())
        Context::err(QStringLiteral("%1 folders cannot be watched (see fs.inotify.max_user_watches, or names that "
                                    "are not UTF-8); they are indexed again only by the next full run\n")
                         .arg(unwatched.size()));
    Context::err(QStringLiteral("watching %1 folders for changes; press Ctrl+C to stop\n")
                     .arg(watcher.watchedDirectories().size()));

    int exitCode = ExitCode::Ok;
    QJsonArray passes;
    passes.append(resultJson(first));
    QObject::connect(&watcher, &engine::LibraryWatcher::changesDetected, [&](const QStringList &dirs) {
        Context::err(QStringLiteral("changes in %1 folders\n").arg(dirs.size()));
        printer.emplace();
    });
    QObject::connect(&watcher, &engine::LibraryWatcher::passFailed, [&](const QString &error) {
        Context::fail(error);
        exitCode = ExitCode::Failure;
        QCoreApplication::exit(exitCode);
    });
    QObject::connect(&watcher, &engine::LibraryWatcher::passFinished, [&](const engine::IndexResult &r) {
        passes.append(resultJson(r));
        if (!json)
            ctx.out(summary(r));
        if (r.cancelled)
            QCoreApplication::exit(exitCode);
    });
    QSocketNotifier stopNotifier(g_signalPipe[0], QSocketNotifier::Read);
    QObject::connect(&stopNotifier, &QSocketNotifier::activated, [&] {
        char c;
        [[maybe_unused]] const ssize_t n = ::read(g_signalPipe[0], &c, 1);
        QCoreApplication::exit(exitCode);
    });
    if (!g_stop.load())
        QCoreApplication::exec();
    Context::err(QStringLiteral("stopped watching\n"));
    if (json)
        ctx.out(QString::fromUtf8(
            QJsonDocument(QJsonObject{{QStringLiteral("passes"), passes}}).toJson(QJsonDocument::Indented)));
    return exitCode;
}

} // namespace

int cmdIndex(Context &ctx)
{
    const QCommandLineOption watch(QStringLiteral("watch"),
                                   QStringLiteral("Keep running and index changes as they happen (stop with Ctrl+C)."));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Print the result as one JSON document."));
    const QCommandLineOption batch(QStringLiteral("batch"), QStringLiteral("Images per model batch (default: chosen while indexing from the speed it measures)."),
                                   QStringLiteral("N"));
    const QCommandLineOption noOcr(QStringLiteral("no-ocr"),
                                   QStringLiteral("Do not read text in photos this time (the setting index/ocr "
                                                  "turns it off for good)."));
    QCommandLineParser parser;
    if (!ctx.parse(parser, {watch, json, batch, noOcr}, 1, -1))
        return ctx.exitCode();
    int batchSize = 0; // 0: the index job adapts it (engine/indexing/adaptive.h)
    if (!readPositiveInt(parser, batch, 1024, &batchSize))
        return ctx.usageError(QStringLiteral("invalid --batch '%1': give a whole number from 1 to 1024")
                                  .arg(parser.value(batch)));

    // Paths first: a typo should not cost loading the model.
    QStringList paths;
    QStringList folders;
    if (const int code = checkPaths(parser.positionalArguments(), &paths, &folders); code != ExitCode::Ok)
        return code;

    engine::Engine *engine = ctx.openEngine();
    if (!engine)
        return ExitCode::Failure;

    engine::IndexLock lock(engine->dataDir());
    QString error;
    if (!lock.tryLock(&error))
        return Context::fail(error);
    for (const QString &folder : std::as_const(folders)) {
        if (!engine->addFolder(folder, &error))
            return Context::fail(error);
    }
    // The active retrieval model, through the inference service (device and precision
    // settings); loaded once, also for every pass of --watch.
    std::unique_ptr<engine::InferenceService> service = engine->inference(engine::retrievalTask, {}, &error);
    if (!service)
        return Context::fail(error);
    auto model = engine::RetrievalModel::fromService(std::move(service), &error);
    if (!model)
        return Context::fail(error);

    installStopHandlers();
    engine::IndexParams params;
    params.dataDir = engine->dataDir();
    params.paths = paths;
    params.model = model;
    params.device = engine->device();
    params.batchSize = batchSize;
    params.takeLock = false;  // held above, for the whole command (and --watch)
    const Settings settings;
    params.ocr = !parser.isSet(noOcr) && settings.value(settings::ocr);
    params.ocrLanguages = settings.value(settings::ocrLanguages);

    // Runs the first pass here and, with --watch, the passes over changes.
    engine::LibraryWatcher watcher(params);
    watcher.setInterruptionFlag(&g_stop);
    std::optional<ProgressPrinter> printer;
    watcher.setProgressCallback([&printer](const engine::IndexProgress &progress) { return (*printer)(progress); });

    printer.emplace();
    const engine::IndexResult first = watcher.runPass({});
    if (!first.ok)
        return Context::fail(first.error);
    // A full-mode adapter pack waiting for the library to be re-embedded with it: what was
    // just indexed has only the active vectors, so the re-embed goes on now (it embeds what
    // it lacks, then switches); with --watch it is only mentioned.
    const QString pending = pendingPackName(*engine);
    if (!parser.isSet(watch) && !first.cancelled && !pending.isEmpty()) {
        lock.unlock(); // the re-embed takes it
        if (!parser.isSet(json))
            ctx.out(summary(first));
        Context::err(QStringLiteral("The adapter pack '%1' is waiting for the library to be re-embedded with it; "
                                    "continuing that (search keeps using the current vectors until it is complete)\n")
                         .arg(pending));
        return continuePendingReembed(*engine, batchSize, pending, parser.isSet(json) ? &first : nullptr);
    }
    if (!parser.isSet(watch) || first.cancelled) {
        if (parser.isSet(json))
            ctx.out(QString::fromUtf8(QJsonDocument(resultJson(first)).toJson(QJsonDocument::Indented)));
        else
            ctx.out(summary(first));
        if (first.cancelled && !parser.isSet(watch))
            return Context::fail(QStringLiteral("interrupted; what was indexed is kept, and running the same "
                                                "command again continues where it stopped"));
        return ExitCode::Ok;
    }
    if (!parser.isSet(json))
        ctx.out(summary(first));
    if (!pending.isEmpty())
        Context::err(QStringLiteral("The adapter pack '%1' is waiting for the library to be re-embedded with it; "
                                    "run 'unisearch-cli adapters activate %1' (or 'index' without --watch) to "
                                    "continue that\n")
                         .arg(pending));
    return watchForChanges(ctx, watcher, folders, parser.isSet(json), first, printer);
}

} // namespace unisearch::cli
