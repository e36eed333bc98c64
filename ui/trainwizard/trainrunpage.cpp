#include "ui/trainwizard/trainrunpage.h"

#include "engine/engine.h"
#include "engine/models.h"
#include "ui/durationtext.h"
#include "ui/trainwizard/lossplot.h"

#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

#include <algorithm>

namespace unisearch::ui {

TrainRunPage::TrainRunPage(const engine::Engine *engine, std::function<engine::TrainingParams()> request,
                           QWidget *parent)
    : QWizardPage(parent)
    , m_engine(engine)
    , m_request(std::move(request))
{
    setTitle(tr("Training"));
    // The pack is saved when training ends: onwards there is no going back to retrain.
    setCommitPage(true);
    m_progress = new QProgressBar;
    m_progress->setObjectName(QStringLiteral("trainProgress"));
    m_lossLabel = new QLabel;
    m_lossLabel->setObjectName(QStringLiteral("lossLabel"));
    m_lossLabel->setWordWrap(true);
    m_plot = new LossPlot(this);
    m_plot->setObjectName(QStringLiteral("lossPlot"));
    m_cancel = new QPushButton(tr("Stop training"));
    m_cancel->setObjectName(QStringLiteral("cancelTraining"));
    connect(m_cancel, &QPushButton::clicked, this, &TrainRunPage::cancelTraining);
    auto *trLayout = new QVBoxLayout(this);
    trLayout->addWidget(m_progress);
    trLayout->addWidget(m_lossLabel);
    trLayout->addWidget(m_plot, 1);
    trLayout->addWidget(m_cancel, 0, Qt::AlignRight);
    connect(this, &TrainRunPage::finished, this, &TrainRunPage::completeChanged);
}

TrainRunPage::~TrainRunPage()
{
    stop();
}

bool TrainRunPage::isComplete() const
{
    return m_succeeded;
}

void TrainRunPage::initializePage()
{
    startTraining();
}

void TrainRunPage::startTraining()
{
    if (m_running || !m_engine)
        return;
    m_params = m_request();
    m_running = true;
    m_succeeded = false;
    m_result = {};
    m_plot->clear();
    m_plot->setValidationName(m_params.task == engine::vqaTask ? tr("held-out accuracy") : tr("held-out recall@1"));
    m_lastValidation = -1;
    m_progress->setValue(0);
    m_lossLabel->setText(tr("Preparing…"));
    m_cancel->setEnabled(true);
    emit started();

    // The job opens an Engine of its own on the pool: the window's is used on the GUI
    // thread only. Its signals come from the pool thread, queued to this page.
    m_params.dataDir = m_engine->dataDir();
    m_job = std::make_unique<engine::TrainingJob>(m_params);
    connect(m_job.get(), &engine::TrainingJob::progressUpdated, this, &TrainRunPage::onProgress, Qt::QueuedConnection);
    connect(m_job.get(), &engine::TrainingJob::finished, this, &TrainRunPage::onFinished, Qt::QueuedConnection);
    connect(
        m_job.get(), &engine::TrainingJob::failed, this,
        [this](const QString &error) {
            engine::TrainingResult r;
            r.error = error;
            onFinished(r);
        },
        Qt::QueuedConnection);
    m_job->start();
}

void TrainRunPage::cancelTraining()
{
    if (m_job)
        m_job->requestInterruption();
    m_cancel->setEnabled(false);
    m_lossLabel->setText(tr("Stopping after this step…"));
}

void TrainRunPage::stop()
{
    if (!m_job)
        return;
    m_job->requestInterruption();
    m_job->wait();
}

QString TrainRunPage::validationText() const
{
    if (m_lastValidation < 0)
        return {};
    return QStringLiteral(" · ")
        + (m_params.task == engine::vqaTask ? tr("held-out accuracy %1") : tr("held-out recall@1 %1"))
              .arg(m_lastValidation, 0, 'f', 2);
}

void TrainRunPage::onProgress(const engine::TrainingProgress &p)
{
    if (p.validation >= 0) {
        m_lastValidation = p.validation;
        m_plot->addValidation(std::max(1, p.step), p.validation, p.totalSteps);
    }
    if (p.stage != QLatin1String("training"))
        return;
    m_progress->setMaximum(p.totalSteps);
    m_progress->setValue(p.step);
    if (p.validation < 0 || m_plot->count() < p.step)
        m_plot->add(p.loss, p.totalSteps);
    m_lossLabel->setText(tr("Step %1 of %2 · loss %3 · %4 examples/s · about %5 left")
                             .arg(p.step)
                             .arg(p.totalSteps)
                             .arg(p.loss, 0, 'f', 3)
                             .arg(p.examplesPerSecond, 0, 'f', p.examplesPerSecond < 10 ? 1 : 0)
                             .arg(durationText(p.etaSeconds))
                         + validationText());
}

int TrainRunPage::validationPointCount() const
{
    return int(m_plot->validationPoints().size());
}

void TrainRunPage::onFinished(const engine::TrainingResult &result)
{
    const bool ok = result.ok && !result.cancelled;
    m_result = result;
    m_running = false;
    m_succeeded = ok;
    m_cancel->setEnabled(false);
    // The engine's curve, when the progress reports did not carry it.
    if (m_plot->validationPoints().isEmpty()) {
        for (const engine::ValidationPoint &v : result.validationCurve) {
            m_plot->addValidation(std::max(1, v.step), v.value, 0);
            m_lastValidation = v.value;
        }
    }
    if (result.cancelled) {
        m_lossLabel->setText(tr("Stopped. Nothing was saved; the model in use is unchanged."));
    } else if (!ok) {
        m_lossLabel->setText(result.error);
    } else {
        m_lossLabel->setText(tr("Done: %n step(s)", nullptr, result.steps) + validationText() + QLatin1Char('.'));
    }
    emit finished(ok);
}

} // namespace unisearch::ui
