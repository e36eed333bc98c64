#pragma once
// The wizard's training page (trainwizard.h): runs a TrainingJob (engine/trainingjob.h) on
// the global pool with an Engine of its own, and shows its progress — live loss, the
// held-out validation curve — with a button that stops it. A commit page: the pack is
// saved when training ends.
#include "engine/trainingjob.h"

#include <QWizardPage>

#include <functional>
#include <memory>

class QLabel;
class QProgressBar;
class QPushButton;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class LossPlot;

class TrainRunPage : public QWizardPage
{
    Q_OBJECT
public:
    // request gives the job's parameters when the page is entered (the other pages').
    TrainRunPage(const engine::Engine *engine, std::function<engine::TrainingParams()> request,
                 QWidget *parent = nullptr);
    ~TrainRunPage() override;

    bool isTraining() const { return m_running; }
    bool succeeded() const { return m_succeeded; }
    // The parameters of the last run and its result (valid once it finished).
    const engine::TrainingParams &params() const { return m_params; }
    const engine::TrainingResult &result() const { return m_result; }
    // Points of the held-out validation curve.
    int validationPointCount() const;
    // Stops a running job and waits for it (nothing is saved).
    void stop();

    bool isComplete() const override;
    void initializePage() override;

signals:
    void started();
    void finished(bool succeeded);

private:
    void startTraining();
    void cancelTraining();
    void onProgress(const engine::TrainingProgress &p);
    void onFinished(const engine::TrainingResult &result);
    QString validationText() const;

    const engine::Engine *m_engine;
    std::function<engine::TrainingParams()> m_request;
    QProgressBar *m_progress = nullptr;
    QLabel *m_lossLabel = nullptr;
    LossPlot *m_plot = nullptr;
    QPushButton *m_cancel = nullptr;

    engine::TrainingParams m_params;
    engine::TrainingResult m_result;
    std::unique_ptr<engine::TrainingJob> m_job;
    double m_lastValidation = -1;
    bool m_running = false;
    bool m_succeeded = false;
};

} // namespace unisearch::ui
