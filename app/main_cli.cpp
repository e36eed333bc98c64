// unisearch-cli: the command-line twin of the application. Links us_core only and runs
// on a QCoreApplication, so it works on machines without a display.
#include "cli/cli.h"

#include "model/runtime.h"
#include "util/datadir.h"
#include "util/log.h"

#include <QCoreApplication>

// Read from the .preinit_array, before any library is initialised (model/runtime.h): the
// commands that run the model at length start again at once with OMP_WAIT_POLICY=PASSIVE.
extern "C" bool unisearch_openmp_reexec_wanted(int argc, char **argv)
{
    return unisearch::cli::commandWantsPassiveWait(argc, argv);
}

int main(int argc, char **argv)
{
    // The commands that run the model re-execute for OpenMP's settings (cli.cpp).
    unisearch::model::ensureThreadEnvironment(argv, false);
    int code = 0;
    {
        QCoreApplication app(argc, argv);
        unisearch::initApplicationIdentity();

        // Warnings and errors go to stderr (stdout carries results). UNISEARCH_LOG picks
        // another threshold: debug, info, warning or error.
        const auto level = unisearch::log::levelFromString(qEnvironmentVariable("UNISEARCH_LOG"))
                               .value_or(unisearch::log::Level::Warning);
        unisearch::log::addSink(unisearch::log::stderrSink(), level);
        unisearch::log::installQtMessageHandler();

        // argv itself, not QCoreApplication::arguments(): file names are bytes (see cli.h).
        code = unisearch::cli::run(argc, argv);
    }
    // Everything of ours is gone (the catalog closed); LibTorch's own teardown is skipped.
    unisearch::model::exitSkippingTeardown(code);
    return code;
}
