#include "cli/cli.h"

#include "engine/engine.h"
#include "media/filepath.h"
#include "engine/versions.h"
#include "model/runtime.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <string_view>

namespace unisearch::cli {

namespace {

const QString program = QStringLiteral("unisearch-cli");
const QString globalSynopsis =
    QStringLiteral("unisearch-cli [--data-dir DIR] [--device cpu|cuda] [--threads N] [--precision P] COMMAND [ARGS]");

QList<QCommandLineOption> globalOptions()
{
    return {
        QCommandLineOption(QStringLiteral("data-dir"),
                           QStringLiteral("Where the catalog, vectors and models live."), QStringLiteral("DIR")),
        QCommandLineOption(QStringLiteral("device"), QStringLiteral("Compute device: cpu or cuda."),
                           QStringLiteral("cpu|cuda")),
        QCommandLineOption(QStringLiteral("threads"), QStringLiteral("LibTorch threads (0 = number of cores)."),
                           QStringLiteral("N")),
        QCommandLineOption(QStringLiteral("precision"), QStringLiteral("Model precision: auto, float32 or bfloat16."),
                           QStringLiteral("auto|float32|bfloat16")),
    };
}

QCommandLineOption helpOption()
{
    return QCommandLineOption({QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("Print this help."));
}

// Reads the global options that parser saw into g; false with *error on a bad value.
bool readGlobalOptions(const QCommandLineParser &parser, GlobalOptions &g, QString *error)
{
    if (parser.isSet(QStringLiteral("data-dir"))) {
        g.dataDir = parser.value(QStringLiteral("data-dir"));
        if (g.dataDir.trimmed().isEmpty()) {
            *error = QStringLiteral("--data-dir needs a directory.");
            return false;
        }
    }
    if (parser.isSet(QStringLiteral("device"))) {
        const QString d = parser.value(QStringLiteral("device")).toLower();
        if (d != QLatin1String("cpu") && d != QLatin1String("cuda") && d != QLatin1String("auto")) {
            *error = QStringLiteral("invalid --device '%1': use cpu or cuda.").arg(parser.value(QStringLiteral("device")));
            return false;
        }
        g.device = d;
    }
    if (parser.isSet(QStringLiteral("threads"))) {
        bool ok = false;
        const int n = parser.value(QStringLiteral("threads")).toInt(&ok);
        if (!ok || n < 0 || n > 1024) {
            *error = QStringLiteral("invalid --threads '%1': give a whole number from 0 (all cores) to 1024.")
                         .arg(parser.value(QStringLiteral("threads")));
            return false;
        }
        g.threads = n;
    }
    if (parser.isSet(QStringLiteral("precision"))) {
        const QString p = parser.value(QStringLiteral("precision")).toLower();
        if (p != QLatin1String("auto") && p != QLatin1String("float32") && p != QLatin1String("bfloat16")) {
            *error = QStringLiteral("invalid --precision '%1': use auto, float32 or bfloat16.")
                         .arg(parser.value(QStringLiteral("precision")).left(40));
            return false;
        }
        g.precision = p;
    }
    return true;
}

QString padded(const QString &s, int width)
{
    return s.size() >= width ? s + QLatin1Char(' ') : s.leftJustified(width);
}

QString shortUsage()
{
    QStringList groups;
    for (const Command &c : commands()) {
        const QString first = QString::fromLatin1(c.name).section(QLatin1Char(' '), 0, 0);
        if (!groups.contains(first))
            groups.append(first);
    }
    return QStringLiteral("Usage: %1\nCommands: %2\nRun '%3 --help' for details.\n")
        .arg(globalSynopsis, groups.join(QStringLiteral(", ")), program);
}

QString fullHelp()
{
    QString h;
    h += QStringLiteral("Usage: %1\n\n").arg(globalSynopsis);
    h += QStringLiteral("Unisearch finds photos and moments in videos by meaning, on this computer.\n\n");
    h += QStringLiteral("Global options:\n");
    h += QStringLiteral("  --data-dir DIR      Where the catalog, vectors and models live (default:\n"
                        "                      $UNISEARCH_DATA_DIR, else ~/.local/share/unisearch).\n");
    h += QStringLiteral("  --device cpu|cuda   Compute device (default: the setting; auto = CUDA when available).\n");
    h += QStringLiteral("  --threads N         LibTorch threads; 0 = number of cores (default: the setting).\n");
    h += QStringLiteral("  --precision P       auto, float32 or bfloat16 (default: the setting, auto = bfloat16\n"
                        "                      on CUDA, on a CPU with AMX and on an AMD CPU with AVX512_BF16,\n"
                        "                      else float32).\n");
    h += QStringLiteral("  --version           Print the versions of Unisearch and its libraries.\n");
    h += QStringLiteral("  -h, --help          Print this help. 'COMMAND --help' prints a command's help.\n\n");
    h += QStringLiteral("Commands:\n");
    for (const Command &c : commands()) {
        h += QStringLiteral("  %1\n      %2\n").arg(QString::fromLatin1(c.usage), QString::fromLatin1(c.summary));
    }
    h += QStringLiteral("\nWith --json a command prints one JSON document on stdout; messages go to stderr.\n"
                        "Exit codes: 0 success, 1 failure, 2 usage error.\n");
    return h;
}

QString versionText()
{
    QString v = QStringLiteral("%1 %2\n").arg(program, QStringLiteral(UNISEARCH_VERSION));
    for (const auto &[name, version] : engine::libraryVersions())
        v += QStringLiteral("%1 %2\n").arg(name, version);
    return v;
}

// The longest table entry whose words begin `words`; null when none.
const Command *findCommand(const QStringList &words, int *consumed)
{
    const Command *best = nullptr;
    int bestLen = 0;
    for (const Command &c : commands()) {
        const QStringList parts = QString::fromLatin1(c.name).split(QLatin1Char(' '));
        if (parts.size() > words.size() || parts.size() <= bestLen)
            continue;
        bool match = true;
        for (qsizetype i = 0; i < parts.size() && match; ++i)
            match = parts[i] == words[i];
        if (match) {
            best = &c;
            bestLen = static_cast<int>(parts.size());
        }
    }
    *consumed = bestLen;
    return best;
}

} // namespace

// --- Context -----------------------------------------------------------------

Context::Context(const Command &command, QStringList args, GlobalOptions global)
    : m_command(command), m_args(std::move(args)), m_global(std::move(global))
{
}

Context::~Context() = default;

void Context::out(const QString &text)
{
    const QByteArray utf8 = text.toUtf8();
    std::fwrite(utf8.constData(), 1, static_cast<size_t>(utf8.size()), stdout);
    std::fflush(stdout);
}

void Context::err(const QString &text)
{
    const QByteArray utf8 = text.toUtf8();
    std::fwrite(utf8.constData(), 1, static_cast<size_t>(utf8.size()), stderr);
    std::fflush(stderr);
}

int Context::fail(const QString &message, int code)
{
    err(QStringLiteral("%1: %2\n").arg(program, media::displayText(message)));
    return code;
}

int Context::usageError(const QString &message) const
{
    fail(message, ExitCode::Usage);
    err(QStringLiteral("Usage: %1 %2\nRun '%1 %3 --help' for details.\n")
            .arg(program, QString::fromLatin1(m_command.usage), QString::fromLatin1(m_command.name)));
    return ExitCode::Usage;
}

bool Context::parse(QCommandLineParser &parser, const QList<QCommandLineOption> &options, int minPositional,
                    int maxPositional)
{
    parser.setOptionsAfterPositionalArgumentsMode(QCommandLineParser::ParseAsOptions);
    parser.addOptions(options);
    parser.addOptions(globalOptions());
    parser.addOption(helpOption());
    if (!parser.parse(QStringList{program} + m_args)) {
        m_exitCode = usageError(parser.errorText());
        return false;
    }
    if (parser.isSet(QStringLiteral("help"))) {
        QString h = QStringLiteral("Usage: %1 %2\n\n%3\n")
                        .arg(program, QString::fromLatin1(m_command.usage), QString::fromLatin1(m_command.summary));
        if (!options.isEmpty()) {
            h += QStringLiteral("\nOptions:\n");
            for (const QCommandLineOption &o : options) {
                QString names = QStringLiteral("--") + o.names().constLast();
                if (!o.valueName().isEmpty())
                    names += QLatin1Char(' ') + o.valueName();
                h += QStringLiteral("  %1%2\n").arg(padded(names, 20), o.description());
            }
        }
        h += QStringLiteral("\nGlobal options (--data-dir, --device, --threads, --precision): see '%1 --help'.\n")
                 .arg(program);
        out(h);
        m_exitCode = ExitCode::Ok;
        return false;
    }
    QString error;
    if (!readGlobalOptions(parser, m_global, &error)) {
        m_exitCode = usageError(error);
        return false;
    }
    const auto n = parser.positionalArguments().size();
    if (n < minPositional) {
        m_exitCode = usageError(QStringLiteral("missing arguments"));
        return false;
    }
    if (maxPositional >= 0 && n > maxPositional) {
        m_exitCode = usageError(
            QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().at(maxPositional)));
        return false;
    }
    return true;
}

engine::Engine *Context::openEngine()
{
    if (m_engine)
        return m_engine.get();
    auto engine = std::make_unique<engine::Engine>();
    engine::Engine::Options options;
    options.dataDir = m_global.dataDir;
    options.device = m_global.device;
    options.threads = m_global.threads;
    options.precision = m_global.precision;
    if (!engine->open(options)) {
        fail(engine->errorString());
        return nullptr;
    }
    m_engine = std::move(engine);
    return m_engine.get();
}

engine::Engine *Context::parseAndOpenEngine(QCommandLineParser &parser, const QList<QCommandLineOption> &options,
                                            int minPositional, int maxPositional)
{
    if (!parse(parser, options, minPositional, maxPositional))
        return nullptr;
    engine::Engine *engine = openEngine();
    if (!engine)
        m_exitCode = ExitCode::Failure;
    return engine;
}

// --- run ---------------------------------------------------------------------

namespace {

// Commands that run the model start loading LibTorch at once, on a thread of its own, so
// that its 0.6 s load overlaps opening the catalog, the store and the tokenizer. The
// others (status, model list, labels ...) never load it.
char **g_argv = nullptr; // as main() got them, for a re-execution

constexpr std::string_view kModelCommands[] = {"index", "search", "similar", "ask", "embed image", "embed text",
                                                "embed frames", "itm", "train", "model import"};

bool runsModel(std::string_view name)
{
    return std::find(std::begin(kModelCommands), std::end(kModelCommands), name) != std::end(kModelCommands);
}

} // namespace

bool commandWantsPassiveWait(int argc, char **argv)
{
    // The global options that take a value (globalOptions()), as "--name value" or "--name=value".
    static constexpr std::string_view withValue[] = {"data-dir", "device", "threads", "precision"};
    for (int i = 1; i < argc && argv[i]; ++i) {
        const std::string_view arg(argv[i]);
        if (arg.starts_with("--")) {
            const std::string_view name = arg.substr(2);
            if (std::find(std::begin(withValue), std::end(withValue), name) != std::end(withValue))
                ++i; // its value follows
            continue;
        }
        if (arg.starts_with("-"))
            continue;
        if (arg == "search") {
            for (int j = i + 1; j < argc && argv[j]; ++j)
                if (std::string_view(argv[j]) == "--rerank")
                    return true;
            return false;
        }
        for (std::string_view command : kModelCommands) {
            const size_t space = command.find(' ');
            if (space == std::string_view::npos ? arg == command
                                                : arg == command.substr(0, space) && i + 1 < argc && argv[i + 1]
                                                      && std::string_view(argv[i + 1]) == command.substr(space + 1))
                return true;
        }
        return false;
    }
    return false;
}

int run(const QStringList &arguments)
{
    QCommandLineParser parser;
    // Everything from the command on belongs to the command, which parses it itself.
    parser.setOptionsAfterPositionalArgumentsMode(QCommandLineParser::ParseAsPositionalArguments);
    parser.addOptions(globalOptions());
    parser.addOption(helpOption());
    parser.addOption(QCommandLineOption(QStringLiteral("version"), QStringLiteral("Print versions.")));
    if (!parser.parse(arguments)) {
        Context::fail(parser.errorText(), ExitCode::Usage);
        Context::err(shortUsage());
        return ExitCode::Usage;
    }
    if (parser.isSet(QStringLiteral("help"))) {
        Context::out(fullHelp());
        return ExitCode::Ok;
    }
    if (parser.isSet(QStringLiteral("version"))) {
        Context::out(versionText());
        return ExitCode::Ok;
    }
    GlobalOptions global;
    QString error;
    if (!readGlobalOptions(parser, global, &error)) {
        Context::fail(error, ExitCode::Usage);
        Context::err(shortUsage());
        return ExitCode::Usage;
    }

    const QStringList words = parser.positionalArguments();
    if (words.isEmpty()) {
        Context::fail(QStringLiteral("no command given"), ExitCode::Usage);
        Context::err(shortUsage());
        return ExitCode::Usage;
    }
    int consumed = 0;
    const Command *command = findCommand(words, &consumed);
    if (!command) {
        // A group name alone or with a wrong subcommand ("model", "model foo"): list the group.
        QStringList group;
        for (const Command &c : commands())
            if (QString::fromLatin1(c.name).startsWith(words.first() + QLatin1Char(' ')))
                group.append(QStringLiteral("  %1 %2\n").arg(program, QString::fromLatin1(c.usage)));
        if (!group.isEmpty()) {
            const QString what = words.size() > 1
                                     ? QStringLiteral("unknown command '%1 %2'").arg(words[0], words[1])
                                     : QStringLiteral("'%1' needs a subcommand").arg(words[0]);
            Context::fail(what, ExitCode::Usage);
            Context::err(QStringLiteral("Usage:\n") + group.join(QString()));
            return ExitCode::Usage;
        }
        Context::fail(QStringLiteral("unknown command '%1'").arg(words.first()), ExitCode::Usage);
        Context::err(shortUsage());
        return ExitCode::Usage;
    }
    Context context(*command, words.mid(consumed), global);
    struct PreloadGuard {
        ~PreloadGuard() { model::finishPreload(); }
    } preloadGuard;
    if (runsModel(command->name)) {
        if (g_argv) {
            int argc = 0;
            while (g_argv[argc])
                ++argc;
            // May start the program again, once.
            model::ensureThreadEnvironment(g_argv, commandWantsPassiveWait(argc, g_argv));
        }
        model::preloadModelRuntime();
    }
    try {
        return command->run(context);
    } catch (const std::exception &e) {
        // The engine reports errors as values; this is the last line of defence.
        return Context::fail(QStringLiteral("'%1' failed: %2")
                                 .arg(QString::fromLatin1(command->name), QString::fromUtf8(e.what())));
    }
}

int run(int argc, char **argv)
{
    g_argv = argv;
    QStringList arguments;
    arguments.reserve(argc);
    for (int i = 0; i < argc; ++i)
        arguments.append(media::decodeFileName(QByteArray(argv[i])));
    return run(arguments);
}

bool readPositiveInt(const QCommandLineParser &parser, const QCommandLineOption &option, int max, int *out)
{
    if (!parser.isSet(option))
        return true;
    bool ok = false;
    const int n = parser.value(option).toInt(&ok);
    if (!ok || n < 1 || n > max)
        return false;
    *out = n;
    return true;
}

void installStopSignalHandler(void (*handler)(int))
{
    struct sigaction sa = {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

} // namespace unisearch::cli
