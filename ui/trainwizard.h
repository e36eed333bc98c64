#pragma once
// Model ▸ Teach…: the fine-tuning wizard. Goal (teach names, describe photos, answer
// questions) → examples (photos picked in the library and labelled there — a name, a
// caption, or a question and its answer for the selection — and/or a CSV/JSON file; how
// many, a warning when too few) → settings (mode, epochs, device, bfloat16, an estimate)
// → training (live loss and held-out validation curve, cancel) → results (before/after on
// held-out examples; the user's own sample queries, top 5 before and after side by side)
// → save and activate. Each page is a class of its own under ui/trainwizard/. The
// training is a TrainingJob (engine/trainingjob.h) with an Engine of its own; the library
// listing and the sample queries run on the wizard's pool with their own Engine
// connection (engine/trainingpreview.h); closing the wizard cancels and joins them.
#include "engine/trainingdata.h"
#include "engine/trainingpreview.h"

#include <QList>
#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QWizard>

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class ThumbnailProvider;
class TrainExamplesPage;
class TrainGoalPage;
class TrainResultsPage;
class TrainRunPage;
class TrainSettingsPage;

class TrainWizard : public QWizard
{
    Q_OBJECT
public:
    enum PageId { GoalPage, ExamplesPage, SettingsPage, TrainingPage, ResultsPage };

    explicit TrainWizard(engine::Engine *engine, QWidget *parent = nullptr);
    ~TrainWizard() override;

    QString task() const;      // retrieval | vqa
    int exampleCount() const;
    // The examples the wizard trains on: the file's and those picked in the library.
    QList<engine::LabelledExample> examples() const;
    // Opens with these library items selected on the examples page (the main window's
    // "Teach a name for the selected…"); the goal is set to names.
    void setPreselectedItems(const QStringList &paths);
    // The library images listed on the examples page (after the filter), by path.
    QStringList listedItems() const;
    bool isListing() const;
    bool isComparing() const;
    // The last sample-query comparison (results page) and where it ranked: "library" or
    // "examples" (engine/trainingpreview.h).
    QList<engine::QueryComparison> comparison() const;
    QString comparisonScope() const;
    QString packPath() const;
    // Points of the held-out validation curve on the training page.
    int validationPointCount() const;
    bool isTraining() const;
    bool trainingSucceeded() const;
    QString packName() const;

    void accept() override;
    void reject() override;

signals:
    void trainingFinished(bool succeeded);
    // The examples (file or picked) changed: exampleCount() is new.
    void examplesChanged();
    // Accepted with "use it from now on" for a full-mode search pack: it is pending, and
    // the library has to be re-embedded with it (EngineController::startReembed).
    void reembedRequested(const QString &packName);

private:
    void stopWorker();

    engine::Engine *m_engine;
    ThumbnailProvider *m_thumbnails = nullptr;
    TrainGoalPage *m_goal = nullptr;
    TrainExamplesPage *m_examples = nullptr;
    TrainSettingsPage *m_settings = nullptr;
    TrainRunPage *m_training = nullptr;
    TrainResultsPage *m_results = nullptr;
    QThreadPool m_pool; // listing and sample queries, one at a time
};

} // namespace unisearch::ui
