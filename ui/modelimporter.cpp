#include "ui/modelimporter.h"

#include <QDir>
#include <QFileInfo>
#include <QtConcurrent/QtConcurrentRun>

#include <optional>

namespace unisearch::ui {

// What the worker thread gets (a copy of the prepared request) and gives back.
struct ModelImporter::Job {
    engine::PreparedModelImport prepared;
    std::optional<engine::ImportedModel> imported;
    QString error;
};

ModelImporter::ModelImporter(engine::Engine *engine, QObject *parent)
    : QObject(parent)
    , m_engine(engine)
{
    connect(&m_watcher, &QFutureWatcher<void>::finished, this, &ModelImporter::finish);
}

ModelImporter::~ModelImporter()
{
    m_watcher.waitForFinished();
}

bool ModelImporter::start(const QString &checkpoint, QString *error)
{
    if (isRunning()) {
        *error = tr("Another model is being imported; wait until it is done.");
        return false;
    }
    const QString base = QFileInfo(checkpoint).completeBaseName();
    QStringList taken;
    for (const engine::ModelInfo &m : m_engine->models())
        taken.append(m.name);
    QString name = base;
    for (int i = 2; taken.contains(name); ++i)
        name = QStringLiteral("%1-%2").arg(base).arg(i);

    engine::ModelImportRequest request;
    request.checkpoint = QDir::fromNativeSeparators(checkpoint);
    request.name = name;
    std::optional<engine::PreparedModelImport> prepared = m_engine->prepareModelImport(request, error);
    if (!prepared)
        return false;
    m_job = std::make_shared<Job>();
    m_job->prepared = *prepared;
    std::shared_ptr<Job> job = m_job;
    m_watcher.setFuture(QtConcurrent::run([job] { job->imported = engine::runModelImport(job->prepared, &job->error); }));
    return true;
}

void ModelImporter::finish()
{
    std::shared_ptr<Job> job = std::move(m_job);
    if (!job)
        return;
    QString error = job->error;
    const bool ok = job->imported.has_value() && m_engine->registerModel(*job->imported, &error);
    emit finished(ok, error, ok ? job->imported->model : engine::ModelInfo{});
}

} // namespace unisearch::ui
