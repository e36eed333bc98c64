#pragma once
// The wizard's pool work (the library listing and search, the sample queries) uses an
// Engine of its own (its own catalog connection): the window's is used on the GUI thread
// only. The training itself is a TrainingJob that opens its own (engine/trainingjob.h).
#include <QString>

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

// Opens worker on dataDir with device; false with *error when it cannot open.
bool openWorkerEngine(engine::Engine &worker, const QString &dataDir, const QString &device, QString *error);

} // namespace unisearch::ui
