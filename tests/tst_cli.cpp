// Black-box tests of unisearch-cli: runs the built executable as a person or a script
// would and checks exit codes, stdout and stderr.
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include "support/cliprocess.h"
#include "support/rawargs.h"

#include <sys/stat.h>

namespace {

using Run = unisearch::test::CliRun;

} // namespace

class TestCli : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void versionListsLibraries();
    void helpListsEveryCommand();
    void statusJsonOnEmptyDataDir();
    void statusHonoursEnvironmentAndLateOptions();
    void statusTextMentionsMissingModel();
    void unknownCommandIsAUsageError();
    void badOptionsAreUsageErrors_data();
    void badOptionsAreUsageErrors();
    void everyCommandAnswersItsHelp();
    void unusableDataDirIsAnActionableError();
    void nonRegularFilesAreNamedWithoutWaiting_data();
    void nonRegularFilesAreNamedWithoutWaiting();
    void nonUtf8FileNameArgumentReachesTheFile();

private:
    Run run(const QStringList &args, const QProcessEnvironment &env = {}, int timeoutMs = 120000);
    // As run(), with the bytes raw in place of each test::rawPlaceholder argument.
    Run runRaw(const QStringList &args, const QByteArray &raw);
    QProcessEnvironment environment(const QProcessEnvironment &extra) const;
    QString m_cli;
    std::unique_ptr<QTemporaryDir> m_tmp;  // fresh per test
};

void TestCli::initTestCase()
{
    m_cli = QStringLiteral(UNISEARCH_CLI_PATH);
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
}

void TestCli::init()
{
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
}

Run TestCli::run(const QStringList &args, const QProcessEnvironment &extra, int timeoutMs)
{
    return unisearch::test::runProgram(m_cli, args, environment(extra), timeoutMs);
}

Run TestCli::runRaw(const QStringList &args, const QByteArray &raw)
{
    const unisearch::test::RawCommand c = unisearch::test::withRawArgument(m_cli, args, raw);
    return unisearch::test::runProgram(c.program, c.args, environment({}), 120000);
}

QProcessEnvironment TestCli::environment(const QProcessEnvironment &extra) const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    // Never touch the real data dir or settings of whoever runs the tests.
    env.insert(QStringLiteral("UNISEARCH_DATA_DIR"), m_tmp->filePath(QStringLiteral("env-data")));
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), m_tmp->filePath(QStringLiteral("config")));
    env.insert(QStringLiteral("UNISEARCH_CPU_FEATURES"), QStringLiteral("none")); // auto = float32 (reference numbers)
    env.insert(QStringLiteral("XDG_CACHE_HOME"), m_tmp->filePath(QStringLiteral("cache")));
    env.insert(QStringLiteral("XDG_DATA_HOME"), m_tmp->filePath(QStringLiteral("share")));
    env.remove(QStringLiteral("DISPLAY"));  // the CLI must not need one
    env.remove(QStringLiteral("WAYLAND_DISPLAY"));
    for (const QString &key : extra.keys())
        env.insert(key, extra.value(key));
    return env;
}

void TestCli::versionListsLibraries()
{
    const Run r = run({QStringLiteral("--version")});
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(r.out.startsWith(QStringLiteral("unisearch-cli ")), qPrintable(r.out));
    for (const char *lib : {"Qt", "LibTorch", "FAISS", "FFmpeg", "SQLite"}) {
        const QRegularExpression line(QStringLiteral("^%1 \\d+\\.\\d+").arg(QString::fromLatin1(lib)),
                                      QRegularExpression::MultilineOption);
        QVERIFY2(r.out.contains(line), qPrintable(QStringLiteral("%1 missing in:\n%2").arg(lib, r.out)));
    }
    // OpenBLAS runs kernels this CPU has: not its generic SSE ones on a CPU with AVX2, which
    // it falls back to for a CPU model newer than it knows (model::chooseBlasKernels).
    const QRegularExpressionMatch blas =
        QRegularExpression(QStringLiteral("^BLAS OpenBLAS [0-9.]+, (\\w+) kernels$"), QRegularExpression::MultilineOption)
            .match(r.out);
    QVERIFY2(blas.hasMatch(), qPrintable(r.out)); // Debian's libtorch and FAISS use OpenBLAS
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        for (const char *generic : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai"})
            QVERIFY2(blas.captured(1) != QLatin1String(generic), qPrintable(r.out));
#endif
}

void TestCli::helpListsEveryCommand()
{
    const Run r = run({QStringLiteral("--help")});
    QCOMPARE(r.exitCode, 0);
    // The command line of DESIGN.md, which scripts rely on.
    for (const char *usage :
         {"model import FILE", "model list", "model download NAME", "index PATH...", "status [--json]",
          "search TEXT", "similar FILE", "ask FILE QUESTION", "embed image FILE...", "embed text TEXT...",
          "embed frames FILE...", "itm (--image FILE | --frames FILE...) --text TEXT",
          "train --task retrieval|vqa --mode query|full --data FILE",
          "adapters list", "adapters activate NAME", "--data-dir DIR", "--device cpu|cuda", "--threads N"}) {
        QVERIFY2(r.out.contains(QString::fromLatin1(usage)),
                 qPrintable(QStringLiteral("'%1' missing in --help").arg(QString::fromLatin1(usage))));
    }
}

void TestCli::statusJsonOnEmptyDataDir()
{
    const QString dataDir = m_tmp->filePath(QStringLiteral("fresh/data"));
    const Run r = run({QStringLiteral("--data-dir"), dataDir, QStringLiteral("status"), QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));

    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(r.out.toUtf8(), &error);
    QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString() + QLatin1Char('\n') + r.out));
    QVERIFY(doc.isObject());
    const QJsonObject o = doc.object();
    QCOMPARE(o.value(QStringLiteral("dataDir")).toString(), dataDir);
    QVERIFY(o.value(QStringLiteral("activeModel")).isNull());
    const QJsonObject counts = o.value(QStringLiteral("counts")).toObject();
    for (const char *key : {"roots", "items", "images", "videos", "segments", "vectors", "errors", "models"}) {
        QVERIFY2(counts.contains(QString::fromLatin1(key)), key);
        QCOMPARE(counts.value(QString::fromLatin1(key)).toInt(-1), 0);
    }
    QVERIFY(o.value(QStringLiteral("threads")).toInt() >= 1);
    QCOMPARE(o.value(QStringLiteral("device")).toString(), QStringLiteral("cpu"));

    const QString catalog = dataDir + QStringLiteral("/catalog.sqlite");
    QVERIFY2(QFileInfo(catalog).isFile(), qPrintable(catalog));
    QCOMPARE(o.value(QStringLiteral("catalog")).toString(), catalog);
}

void TestCli::statusHonoursEnvironmentAndLateOptions()
{
    // UNISEARCH_DATA_DIR when no --data-dir is given.
    Run r = run({QStringLiteral("status"), QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    const QString envDir = m_tmp->filePath(QStringLiteral("env-data"));
    QVERIFY(QFileInfo(envDir + QStringLiteral("/catalog.sqlite")).isFile());
    QCOMPARE(QJsonDocument::fromJson(r.out.toUtf8()).object().value(QStringLiteral("dataDir")).toString(), envDir);

    // Global options are also accepted after the command; --threads reaches LibTorch.
    const QString other = m_tmp->filePath(QStringLiteral("other"));
    r = run({QStringLiteral("status"), QStringLiteral("--json"), QStringLiteral("--data-dir"), other,
             QStringLiteral("--threads"), QStringLiteral("1")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    const QJsonObject o = QJsonDocument::fromJson(r.out.toUtf8()).object();
    QCOMPARE(o.value(QStringLiteral("dataDir")).toString(), other);
    QCOMPARE(o.value(QStringLiteral("threads")).toInt(), 1);
}

void TestCli::statusTextMentionsMissingModel()
{
    const Run r = run({QStringLiteral("status")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QStringLiteral("must be imported or downloaded")), qPrintable(r.out));
}

void TestCli::unknownCommandIsAUsageError()
{
    const Run r = run({QStringLiteral("frobnicate")});
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(QStringLiteral("unknown command 'frobnicate'")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("Usage:")), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
}

void TestCli::badOptionsAreUsageErrors_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::newRow("unknown global option") << QStringList{QStringLiteral("--bogus"), QStringLiteral("status")};
    QTest::newRow("unknown command option") << QStringList{QStringLiteral("status"), QStringLiteral("--bogus")};
    QTest::newRow("threads not a number")
        << QStringList{QStringLiteral("--threads"), QStringLiteral("many"), QStringLiteral("status")};
    QTest::newRow("negative threads")
        << QStringList{QStringLiteral("--threads=-3"), QStringLiteral("status")};
    QTest::newRow("unknown device") << QStringList{QStringLiteral("--device"), QStringLiteral("tpu"),
                                                   QStringLiteral("status")};
    QTest::newRow("missing value") << QStringList{QStringLiteral("--data-dir")};
    QTest::newRow("no command") << QStringList{};
    QTest::newRow("extra argument") << QStringList{QStringLiteral("status"), QStringLiteral("now")};
    QTest::newRow("group without subcommand") << QStringList{QStringLiteral("model")};
    QTest::newRow("unknown subcommand") << QStringList{QStringLiteral("model"), QStringLiteral("frob")};
}

void TestCli::badOptionsAreUsageErrors()
{
    QFETCH(QStringList, args);
    const Run r = run(args);
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(QStringLiteral("Usage")), qPrintable(r.err));
    QVERIFY2(r.err.startsWith(QStringLiteral("unisearch-cli: ")), qPrintable(r.err));
}

void TestCli::everyCommandAnswersItsHelp()
{
    // Every command --help lists is built: 'COMMAND --help' prints that command's usage
    // and exits 0 (a command missing from the dispatch would be a usage error instead).
    const Run help = run({QStringLiteral("--help")});
    QCOMPARE(help.exitCode, 0);
    QVERIFY(!help.out.contains(QStringLiteral("not available")));
    const QStringList lines = help.out.split(QLatin1Char('\n'));
    const qsizetype start = lines.indexOf(QStringLiteral("Commands:"));
    QVERIFY(start > 0);
    QStringList commands;
    for (qsizetype i = start + 1; i < lines.size() && !lines[i].isEmpty(); ++i) {
        if (!lines[i].startsWith(QStringLiteral("  ")) || lines[i].startsWith(QStringLiteral("   ")))
            continue;  // summaries are indented further
        // The usage line; the command is its leading lower-case words.
        QStringList words;
        for (const QString &w : lines[i].trimmed().split(QLatin1Char(' '))) {
            if (w.isEmpty() || !w.at(0).isLower())
                break;
            words.append(w);
        }
        QVERIFY2(!words.isEmpty(), qPrintable(lines[i]));
        commands.append(words.join(QLatin1Char(' ')));
    }
    for (const QString name : {"index", "search", "ask", "train", "adapters list", "model import"})
        QVERIFY2(commands.contains(name), qPrintable(name));
    for (const QString &command : commands) {
        const Run r = run(command.split(QLatin1Char(' ')) << QStringLiteral("--help"));
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.startsWith(QStringLiteral("Usage: unisearch-cli ") + command), qPrintable(command + ": " + r.out));
    }
}

void TestCli::unusableDataDirIsAnActionableError()
{
    const QString file = m_tmp->filePath(QStringLiteral("a-file"));
    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.close();
    const Run r = run({QStringLiteral("--data-dir"), file, QStringLiteral("status"), QStringLiteral("--json")});
    QCOMPARE(r.exitCode, 1);
    QVERIFY(r.out.isEmpty());  // no half JSON document
    QVERIFY2(r.err.contains(file) && r.err.contains(QStringLiteral("not a directory")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("--data-dir")), qPrintable(r.err));
}

void TestCli::nonRegularFilesAreNamedWithoutWaiting_data()
{
    // FILE is replaced by a FIFO with no writer (opening it to read would wait forever),
    // a directory, or /dev/zero (reading it never ends); IMAGE by a regular file. None of
    // these commands needs a model to get this far.
    // (The small files read whole, --architecture @FILE and --answers FILE, are not tried
    // with /dev/zero here: before the fix that read filled memory.)
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("kind");
    struct Command {
        const char *name;
        QStringList args;
        bool withZero;
    };
    const QList<Command> commands{
        {"similar", {QStringLiteral("similar"), QStringLiteral("FILE")}, true},
        {"model import", {QStringLiteral("model"), QStringLiteral("import"), QStringLiteral("FILE")}, true},
        {"import --architecture @", {QStringLiteral("model"), QStringLiteral("import"), QStringLiteral("IMAGE"),
                                     QStringLiteral("--architecture"), QStringLiteral("@FILE")}, false},
        {"ask --answers", {QStringLiteral("ask"), QStringLiteral("IMAGE"), QStringLiteral("what?"),
                           QStringLiteral("--answers"), QStringLiteral("FILE")}, false},
    };
    for (const Command &c : commands)
        for (const char *kind : {"fifo", "directory", "zero"})
            if (c.withZero || qstrcmp(kind, "zero") != 0)
                QTest::addRow("%s, %s", c.name, kind) << c.args << QString::fromLatin1(kind);
}

void TestCli::nonRegularFilesAreNamedWithoutWaiting()
{
    QFETCH(QStringList, args);
    QFETCH(QString, kind);
    const QString fifo = m_tmp->filePath(QStringLiteral("fifo"));
    QCOMPARE(::mkfifo(fifo.toLocal8Bit().constData(), 0600), 0);
    const QString image = m_tmp->filePath(QStringLiteral("photo.png"));
    QFile f(image);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.close();
    const QString file = kind == QLatin1String("fifo")        ? fifo
                         : kind == QLatin1String("directory") ? m_tmp->path()
                                                              : QStringLiteral("/dev/zero");
    for (QString &a : args) {
        a.replace(QStringLiteral("FILE"), file);
        a.replace(QStringLiteral("IMAGE"), image);
    }
    // A command that waits on the FIFO is killed after 20 s (exit code -1).
    const Run r = run(args, {}, 20000);
    VERIFY_RUN(r, 1);
    const QString expected =
        kind == QLatin1String("directory") ? QStringLiteral("is a directory") : QStringLiteral("not a regular file");
    QVERIFY2(r.err.contains(file + QStringLiteral(": ") + expected), qPrintable(r.err));
    QVERIFY2(!r.err.contains(QStringLiteral("no such file")), qPrintable(r.err));
}

void TestCli::nonUtf8FileNameArgumentReachesTheFile()
{
    // "Caf\xe9.pth" (Latin-1, not UTF-8): the CLI must open that very file, as it does such
    // names inside a folder, and say what is wrong with its content (not "no such file").
    const QByteArray raw = QFile::encodeName(m_tmp->path()) + "/Caf\xe9.pth";
    QVERIFY(unisearch::test::writeRawFile(raw, "not a checkpoint\n"));
    const Run r = runRaw({QStringLiteral("model"), QStringLiteral("import"), unisearch::test::rawPlaceholder}, raw);
    VERIFY_RUN(r, 1);
    QVERIFY2(r.err.contains(QStringLiteral("neither a PyTorch checkpoint")), qPrintable(r.err));
    QVERIFY2(!r.err.contains(QStringLiteral("no such file")), qPrintable(r.err));
    // The name is shown with the byte escaped, not as U+FFFD.
    QVERIFY2(r.err.contains(QStringLiteral("Caf\\xe9.pth")), qPrintable(r.err));

    // A missing non-UTF-8 name is still "no such file", under its own name.
    const Run missing = runRaw({QStringLiteral("model"), QStringLiteral("import"), unisearch::test::rawPlaceholder},
                               QFile::encodeName(m_tmp->path()) + "/Gone\xe9.pth");
    VERIFY_RUN(missing, 1);
    QVERIFY2(missing.err.contains(QStringLiteral("Gone\\xe9.pth: no such file")), qPrintable(missing.err));
}

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
