#pragma once
// Model ▸ Teach…: the fine-tuning wizard. Goal (teach names, describe photos, answer
// questions) → examples (photos picked in the library and labelled there — a name, a
// caption, or a question and its answer for the selection — and/or a CSV/JSON file; how
// many, a warning when too few) → settings (mode, epochs, device, bfloat16, an estimate)
// → training (live loss and held-out validation curve, cancel) → results (before/after on
// held-out examples; the user's own sample queries, top 5 before and after side by side)
// → save and activate. Training, the library listing and the sample queries run on worker
// threads with their own Engine connection (engine/training.h, engine/trainingpreview.h);
// closing the wizard cancels and joins them.
#include "engine/training.h"
#include "engine/trainingpreview.h"

#include <QFuture>
#include <QHash>
#include <QJsonObject>
#include <QPointer>
#include <QThreadPool>
#include <QWizard>

#include <atomic>
#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListView;
class QListWidget;
class QPlainTextEdit;
class QProgressBar;
class QStandardItemModel;
class QTimer;
class QGridLayout;
class QPushButton;
class QRadioButton;
class QSpinBox;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class LossPlot;
class ThumbnailProvider;

class TrainWizard : public QWizard
{
    Q_OBJECT
public:
    enum PageId { GoalPage, ExamplesPage, SettingsPage, TrainingPage, ResultsPage };

    explicit TrainWizard(engine::Engine *engine, QWidget *parent = nullptr);
    ~TrainWizard() override;

    QString task() const;      // retrieval | vqa
    int exampleCount() const { return m_exampleCount; }
    // The examples the wizard trains on: the file's and those picked in the library.
    QList<engine::LabelledExample> examples() const;
    // Opens with these library items selected on the examples page (the main window's
    // "Teach a name for the selected…"); the goal is set to names.
    void setPreselectedItems(const QStringList &paths);
    // The library images listed on the examples page (after the filter), by path.
    QStringList listedItems() const;
    bool isListing() const { return m_listing; }
    bool isComparing() const { return m_comparing; }
    // The last sample-query comparison (results page) and where it ranked: "library" or
    // "examples" (engine/trainingpreview.h).
    QList<engine::QueryComparison> comparison() const { return m_comparison; }
    QString comparisonScope() const { return m_comparisonScope; }
    QString packPath() const { return m_packPath; }
    // Points of the held-out validation curve on the training page.
    int validationPointCount() const;
    bool isTraining() const { return m_running; }
    bool trainingSucceeded() const { return m_succeeded; }
    QString packName() const { return m_packName; }

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
    // One label given in the library to one item (expanded into examples by examples()).
    struct Picked {
        QString path;
        QString kind; // name | caption | qa
        QString text; // the name, the caption or the question
        QString answer;
    };
    QString pickedKind() const;
    void updateGoalWidgets();
    void listLibrary();
    void searchLibrary();
    void showLibrary(const QStringList &paths, const QString &note);
    // A listing or search of the library came back from the pool: shown unless a newer
    // one was started since.
    void finishListing(int generation, const QStringList &paths, const QString &note);
    void addPicked();
    void removePicked();
    void refreshPickedList();
    void startCompare();
    void showComparison(const QString &error);
    QWidget *thumbnailLabel(const engine::PreviewHit &hit);
    void countExamples();
    void updateEstimate();
    void startTraining();
    void cancelTraining();
    void onProgress(const engine::TrainProgressInfo &p);
    void onFinished(bool ok, bool cancelled, const QString &message, const QJsonObject &outcome,
                    const QList<engine::ValidationPoint> &curve);
    void stopWorker();
    QString validationText() const;

    engine::Engine *m_engine;
    QRadioButton *m_goalNames = nullptr, *m_goalCaptions = nullptr, *m_goalQuestions = nullptr;
    QLineEdit *m_dataFile = nullptr;
    QLabel *m_countLabel = nullptr;
    QLineEdit *m_libraryFilter = nullptr;
    QListView *m_libraryView = nullptr;
    QStandardItemModel *m_libraryModel = nullptr;
    QLabel *m_libraryNote = nullptr;
    QLabel *m_labelCaption = nullptr;
    QLineEdit *m_labelText = nullptr;
    QLineEdit *m_answerText = nullptr;
    QPushButton *m_addPicked = nullptr;
    QListWidget *m_pickedList = nullptr;
    QTimer *m_filterTimer = nullptr;
    ThumbnailProvider *m_thumbnails = nullptr;
    QComboBox *m_mode = nullptr;
    QComboBox *m_device = nullptr;
    QCheckBox *m_bfloat16 = nullptr;
    QSpinBox *m_epochs = nullptr;
    QLabel *m_estimate = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_lossLabel = nullptr;
    LossPlot *m_plot = nullptr;
    QPushButton *m_cancel = nullptr;
    QLabel *m_results = nullptr;
    QCheckBox *m_activate = nullptr;
    QPlainTextEdit *m_sampleQueries = nullptr;
    QPushButton *m_compare = nullptr;
    QLabel *m_compareNote = nullptr;
    QGridLayout *m_compareGrid = nullptr;
    QWidget *m_compareArea = nullptr;

    int m_exampleCount = 0;
    QList<engine::LabelledExample> m_fileExamples;
    QList<Picked> m_picked;
    QStringList m_preselected;
    bool m_listing = false;
    int m_listGeneration = 0;
    bool m_comparing = false;
    QList<engine::QueryComparison> m_comparison;
    QString m_comparisonScope;
    QMultiHash<QString, QPointer<QLabel>> m_thumbLabels; // thumbnail key → labels waiting for it
    QString m_packPath;
    double m_lastValidation = -1;
    bool m_running = false;
    bool m_succeeded = false;
    QString m_packName;
    QString m_packMode;
    std::shared_ptr<std::atomic<bool>> m_cancelFlag;
    QFuture<void> m_worker;
    QThreadPool m_pool; // listing and sample queries, one at a time
};

} // namespace unisearch::ui
