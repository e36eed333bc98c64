#pragma once
// Importing a checkpoint from the window: the checks on the GUI thread, the slow read and
// verification of every tensor on a worker thread, the registration back on the GUI
// thread (the catalog stays there). Used by Model → Import… and the model manager.
#include "engine/engine.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <memory>

namespace unisearch::ui {

class ModelImporter : public QObject
{
    Q_OBJECT
public:
    ModelImporter(engine::Engine *engine, QObject *parent);
    // An import cannot be interrupted midway (it would leave a temporary folder): waits.
    ~ModelImporter() override;

    bool isRunning() const { return m_job != nullptr; }
    // Starts importing checkpoint under a free name (its base name, else base-2, ...).
    // False with *error when it cannot start (already running, unreadable, ...).
    bool start(const QString &checkpoint, QString *error);

signals:
    // ok: model is registered; else error says why.
    void finished(bool ok, const QString &error, const unisearch::engine::ModelInfo &model);

private:
    void finish();

    struct Job;
    engine::Engine *m_engine;
    std::shared_ptr<Job> m_job;  // shared with the worker thread
    QFutureWatcher<void> m_watcher;
};

} // namespace unisearch::ui
