#include "ui/trainwizard/workerengine.h"

#include "engine/engine.h"

namespace unisearch::ui {

bool openWorkerEngine(engine::Engine &worker, const QString &dataDir, const QString &device, QString *error)
{
    engine::Engine::Options options;
    options.dataDir = dataDir;
    options.device = device;
    if (worker.open(options))
        return true;
    *error = worker.errorString();
    return false;
}

} // namespace unisearch::ui
