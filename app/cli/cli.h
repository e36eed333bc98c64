#pragma once
// unisearch-cli's command framework. A command is one function in its own file
// (cmd_<name>.cpp) plus one line in the table in commands.cpp, which also holds its
// usage line for --help. The command parses its own options with Context::parse (the
// global options are accepted after the command as well) and returns an exit code.
#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QList>
#include <QString>
#include <QStringList>

#include <memory>
#include <span>

namespace unisearch::engine {
class Engine;
}

namespace unisearch::cli {

// Exit codes are part of the CLI's contract (scripts and tests rely on them).
enum ExitCode : int {
    Ok = 0,
    Failure = 1,       // the command ran and failed (message on stderr)
    Usage = 2,         // unknown command, bad option or argument
};

struct GlobalOptions {
    QString dataDir;   // empty: $UNISEARCH_DATA_DIR, then the default
    QString device;    // empty: the setting
    int threads = -1;  // < 0: the setting
    QString precision; // auto | float32 | bfloat16; empty: the setting
};

class Context;
using CommandFn = int (*)(Context &);

struct Command {
    const char *name;     // one or two words: "status", "model import"
    const char *usage;    // after "unisearch-cli ": "status [--json]"
    const char *summary;  // one sentence for --help
    CommandFn run;
};

// The table (commands.cpp), in the order --help lists it.
std::span<const Command> commands();

class Context
{
public:
    Context(const Command &command, QStringList args, GlobalOptions global);
    ~Context();

    const Command &command() const { return m_command; }
    const GlobalOptions &global() const { return m_global; }

    // Parses the command's arguments: its options plus the global ones. Prints the
    // command's help (exit 0) or a usage error (exit 2) and returns false when the
    // command should stop and return exitCode(). maxPositional < 0: no limit.
    bool parse(QCommandLineParser &parser, const QList<QCommandLineOption> &options, int minPositional,
               int maxPositional);
    int exitCode() const { return m_exitCode; }

    // Opens the engine with the global options; on failure prints why and returns null
    // (the command then returns ExitCode::Failure).
    engine::Engine *openEngine();
    // parse() then openEngine(), what most commands start with. Null when the command should
    // stop and return exitCode() (ExitCode::Failure when the engine did not open).
    engine::Engine *parseAndOpenEngine(QCommandLineParser &parser, const QList<QCommandLineOption> &options,
                                       int minPositional, int maxPositional);

    // Output: stdout is for results only (one JSON document with --json). Human-readable
    // output shows every path through media::displayPath() (no raw control characters).
    static void out(const QString &text);
    static void err(const QString &text);
    // Prints "unisearch-cli: message" on stderr and returns code. Control characters in
    // the message (from a file name or a file's content) are shown escaped
    // (media::displayText), so an error cannot move the cursor or fake another line.
    static int fail(const QString &message, int code = ExitCode::Failure);
    // As fail(), followed by this command's usage line; returns ExitCode::Usage.
    int usageError(const QString &message) const;

private:
    const Command &m_command;
    QStringList m_args;
    GlobalOptions m_global;
    int m_exitCode = ExitCode::Ok;
    std::unique_ptr<engine::Engine> m_engine;
};

// Reads a whole-number option: true when it is not given (*out unchanged) or holds a
// number from 1 to max (stored in *out); false otherwise (the caller words the error).
bool readPositiveInt(const QCommandLineParser &parser, const QCommandLineOption &option, int max, int *out);

// Installs `handler` for SIGINT and SIGTERM (SA_RESTART, nothing masked): how the
// long-running commands (index, adapters activate) stop after the work in flight.
void installStopSignalHandler(void (*handler)(int));

// Entry point: arguments as from QCoreApplication::arguments(). Returns the exit code.
int run(const QStringList &arguments);
// Entry point with the process's own argv. Each argument is decoded as the bytes it is
// (media::decodeFileName), not through the locale as QCoreApplication::arguments() does,
// which turns bytes that are not UTF-8 into U+FFFD: a file name such as "Caf\xe9.jpg"
// then reaches the file system unchanged, as names found inside a folder do.
int run(int argc, char **argv);
// Whether the command in argv runs the model for long enough that it should start with
// OpenMP's passive wait (index, ask, embed, search --rerank ...), read from the raw
// arguments before anything is initialised (main_cli.cpp: model/runtime.h's
// unisearch_openmp_reexec_wanted). A plain search is not: it runs one short text query,
// where a second start cost 0.08 s and spinning threads cost nothing measurable.
// Allocates nothing.
bool commandWantsPassiveWait(int argc, char **argv);

} // namespace unisearch::cli
