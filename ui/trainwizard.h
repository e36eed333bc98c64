#pragma once
// Model ▸ Teach…: the fine-tuning wizard. Goal (teach names, describe photos, answer
// questions) → examples (a CSV/JSON file; how many, a warning when too few) → settings
// (mode, epochs, an estimate) → training (live loss, cancel) → results (before/after on
// held-out examples) → save and activate. Training runs on a worker thread with its own
// Engine connection (engine/training.h); closing the wizard cancels and joins it.
#include <QFuture>
#include <QJsonObject>
#include <QWizard>

#include <atomic>
#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QRadioButton;
class QSpinBox;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class LossPlot;

class TrainWizard : public QWizard
{
    Q_OBJECT
public:
    enum PageId { GoalPage, ExamplesPage, SettingsPage, TrainingPage, ResultsPage };

    explicit TrainWizard(engine::Engine *engine, QWidget *parent = nullptr);
    ~TrainWizard() override;

    QString task() const;      // retrieval | vqa
    int exampleCount() const { return m_exampleCount; }
    bool isTraining() const { return m_running; }
    bool trainingSucceeded() const { return m_succeeded; }
    QString packName() const { return m_packName; }

    void accept() override;
    void reject() override;

signals:
    void trainingFinished(bool succeeded);
    // Accepted with "use it from now on" for a full-mode search pack: it is pending, and
    // the library has to be re-embedded with it (EngineController::startReembed).
    void reembedRequested(const QString &packName);

private:
    void countExamples();
    void updateEstimate();
    void startTraining();
    void cancelTraining();
    void onProgress(int step, int total, double loss, double eta);
    void onFinished(bool ok, bool cancelled, const QString &message, const QJsonObject &outcome);
    void stopWorker();

    engine::Engine *m_engine;
    QRadioButton *m_goalNames = nullptr, *m_goalCaptions = nullptr, *m_goalQuestions = nullptr;
    QLineEdit *m_dataFile = nullptr;
    QLabel *m_countLabel = nullptr;
    QComboBox *m_mode = nullptr;
    QSpinBox *m_epochs = nullptr;
    QLabel *m_estimate = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_lossLabel = nullptr;
    LossPlot *m_plot = nullptr;
    QPushButton *m_cancel = nullptr;
    QLabel *m_results = nullptr;
    QCheckBox *m_activate = nullptr;

    int m_exampleCount = 0;
    bool m_running = false;
    bool m_succeeded = false;
    QString m_packName;
    QString m_packMode;
    std::shared_ptr<std::atomic<bool>> m_cancelFlag;
    QFuture<void> m_worker;
};

} // namespace unisearch::ui
