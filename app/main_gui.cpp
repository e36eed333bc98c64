// unisearch: the desktop application.
#include "engine/engine.h"
#include "ui/logview.h"
#include "ui/mainwindow.h"
#include "ui/screenshotdriver.h"
#include "model/runtime.h"
#include "util/datadir.h"
#include "util/log.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QIcon>

#include <cstdio>
#include <memory>

// Read from the .preinit_array (model/runtime.h): the window runs the model, so it starts again at once
// with OMP_WAIT_POLICY=PASSIVE when that is not set.
extern "C" bool unisearch_openmp_reexec_wanted(int, char **)
{
    return true;
}

int main(int argc, char **argv)
{
    unisearch::model::ensureThreadEnvironment(argv); // before any OpenMP work
    using namespace unisearch;
    QApplication app(argc, argv);
    initApplicationIdentity();
    QGuiApplication::setApplicationDisplayName(QStringLiteral("Unisearch"));
    QGuiApplication::setDesktopFileName(QStringLiteral("io.github.unisearch.Unisearch"));
    QApplication::setWindowIcon(QIcon::fromTheme(QStringLiteral("io.github.unisearch.Unisearch")));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Search your photos and videos by meaning."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption dataDirOption(QStringLiteral("data-dir"),
                                           QStringLiteral("Where the catalog, vectors and models live."),
                                           QStringLiteral("DIR"));
    const QCommandLineOption deviceOption(QStringLiteral("device"), QStringLiteral("Compute device: cpu or cuda."),
                                          QStringLiteral("cpu|cuda"));
    const QCommandLineOption threadsOption(QStringLiteral("threads"),
                                           QStringLiteral("LibTorch threads (0 = number of cores)."),
                                           QStringLiteral("N"));
    parser.addOptions({dataDirOption, deviceOption, threadsOption});
    parser.process(app);  // exits with a message on --help, --version or a bad option

    engine::Engine::Options options;
    options.dataDir = parser.value(dataDirOption);
    options.device = parser.value(deviceOption);
    if (parser.isSet(threadsOption)) {
        bool ok = false;
        options.threads = parser.value(threadsOption).toInt(&ok);
        if (!ok || options.threads < 0) {
            std::fprintf(stderr, "unisearch: invalid --threads '%s': give a whole number, 0 = all cores\n",
                         qPrintable(parser.value(threadsOption)));
            return 2;
        }
    }

    // Sinks: warnings on stderr; everything from info up in <dataDir>/unisearch.log,
    // installed before the engine opens so that its first messages are kept.
    log::addSink(log::stderrSink(), log::Level::Warning);
    log::installQtMessageHandler();
    const Locations locations = resolveLocations(options.dataDir);
    if (ensureWritableDir(locations.dataDir).isEmpty()) {
        QString error;
        const log::Sink file =
            log::fileSink(QDir(locations.dataDir).absoluteFilePath(QStringLiteral("unisearch.log")), &error);
        if (file)
            log::addSink(file, log::Level::Info);
        else
            log::warning(QStringLiteral("app"), error);
    }

    engine::Engine engine;
    engine.open(options);  // on failure the window explains why

    int exitCode = 0;
    {
        ui::MainWindow window(&engine);
        const int viewSink = log::addSink(window.logView()->sink(), log::Level::Info);
        if (!engine.isOpen())
            log::error(QStringLiteral("engine"), engine.errorString());
        window.show();
        // scripts/screenshots.sh: a scripted tour that saves the main views as PNGs, then quits.
        std::unique_ptr<ui::ScreenshotDriver> screenshots;
        if (const QString dir = qEnvironmentVariable("UNISEARCH_SCREENSHOT_DIR"); !dir.isEmpty()) {
            screenshots = std::make_unique<ui::ScreenshotDriver>(&window, dir);
            QObject::connect(screenshots.get(), &ui::ScreenshotDriver::finished, &app,
                             [&app](bool ok) { app.exit(ok ? 0 : 1); });
            screenshots->start();
        }
        exitCode = app.exec();
        log::removeSink(viewSink);
    }
    log::removeAllSinks();
    return exitCode;
}
