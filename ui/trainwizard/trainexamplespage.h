#pragma once
// The wizard's examples page (trainwizard.h): photos picked in the library and labelled
// there — a name, a caption, or a question and its answer for the selection — and/or a
// CSV/JSON file of labelled photos; how many, and a warning when too few. The library is
// listed (filtered by path) or searched (by meaning) on the wizard's pool with an Engine
// of its own (workerengine.h).
#include "engine/trainingdata.h"

#include <QList>
#include <QPointer>
#include <QString>
#include <QStringList>
#include <QWizardPage>

class QLabel;
class QLineEdit;
class QListView;
class QListWidget;
class QPushButton;
class QStandardItemModel;
class QThreadPool;
class QTimer;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class ThumbnailProvider;
class TrainGoalPage;

class TrainExamplesPage : public QWizardPage
{
    Q_OBJECT
public:
    // thumbnails may be null (no engine); pool runs the listings, one at a time.
    TrainExamplesPage(engine::Engine *engine, const TrainGoalPage *goal, ThumbnailProvider *thumbnails,
                      QThreadPool *pool, QWidget *parent = nullptr);
    ~TrainExamplesPage() override;

    int exampleCount() const { return m_exampleCount; }
    // The examples the wizard trains on: the file's and those picked in the library.
    QList<engine::LabelledExample> examples() const;
    // The names taught (picked, then the file's), at most 5: the first sample queries.
    QStringList taughtNames() const;
    void setPreselectedItems(const QStringList &paths);
    QStringList listedItems() const;
    bool isListing() const { return m_listing; }
    // The label fields follow the goal (a name, a caption, a question and its answer).
    void updateGoalWidgets();

    bool isComplete() const override;
    void initializePage() override;

signals:
    // The examples (file or picked) changed: exampleCount() is new.
    void examplesChanged();

private:
    // One label given in the library to one item (expanded into examples by examples()).
    struct Picked {
        QString path;
        QString kind; // name | caption | qa
        QString text; // the name, the caption or the question
        QString answer;
    };
    QString pickedKind() const;
    void listLibrary();
    void searchLibrary();
    void showLibrary(const QStringList &paths, const QString &note);
    // A listing or search of the library came back from the pool: shown unless a newer
    // one was started since.
    void finishListing(int generation, const QStringList &paths, const QString &note);
    // From the pool thread: finishListing() on the GUI thread, unless the page is gone.
    static void postListing(const QPointer<TrainExamplesPage> &self, int generation, const QStringList &paths,
                            const QString &note);
    void addPicked();
    void removePicked();
    void refreshPickedList();
    void countExamples();
    void onThumbnail(const QString &key);

    engine::Engine *m_engine;
    const TrainGoalPage *m_goal;
    ThumbnailProvider *m_thumbnails;
    QThreadPool *m_pool;
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

    int m_exampleCount = 0;
    QList<engine::LabelledExample> m_fileExamples;
    QList<Picked> m_picked;
    QStringList m_preselected;
    bool m_listing = false;
    int m_listGeneration = 0;
};

} // namespace unisearch::ui
