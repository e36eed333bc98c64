#pragma once
// The wizard's results page (trainwizard.h): the held-out scores before and after, the
// engine's advice, the user's own sample queries (top 5 before and after side by side,
// searched on the wizard's pool with an Engine of its own), and "use it from now on".
#include "engine/trainingpreview.h"

#include <QList>
#include <QMultiHash>
#include <QPointer>
#include <QString>
#include <QWizardPage>

class QCheckBox;
class QGridLayout;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QThreadPool;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class ThumbnailProvider;
class TrainExamplesPage;
class TrainRunPage;

class TrainResultsPage : public QWizardPage
{
    Q_OBJECT
public:
    // thumbnails may be null (no engine); pool runs the sample queries.
    TrainResultsPage(const engine::Engine *engine, const TrainExamplesPage *examples, const TrainRunPage *run,
                     ThumbnailProvider *thumbnails, QThreadPool *pool, QWidget *parent = nullptr);

    // Shows a finished run's scores and advice, and offers to use the pack.
    void showOutcome();
    void clearComparison();
    // "Use it from now on" is offered and checked.
    bool useFromNowOn() const;
    // Adds a line (why the pack could not be put to use) under the scores.
    void addNote(const QString &text);

    bool isComparing() const { return m_comparing; }
    // The last sample-query comparison and where it ranked: "library" or "examples"
    // (engine/trainingpreview.h).
    QList<engine::QueryComparison> comparison() const { return m_comparison; }
    QString comparisonScope() const { return m_comparisonScope; }

    void initializePage() override;

private:
    void startCompare();
    void showComparison(const QString &error);
    QWidget *thumbnailLabel(const engine::PreviewHit &hit);
    void onThumbnail(const QString &key);

    const engine::Engine *m_engine;
    const TrainExamplesPage *m_examples;
    const TrainRunPage *m_run;
    ThumbnailProvider *m_thumbnails;
    QThreadPool *m_pool;
    QLabel *m_results = nullptr;
    QCheckBox *m_activate = nullptr;
    QPlainTextEdit *m_sampleQueries = nullptr;
    QPushButton *m_compare = nullptr;
    QLabel *m_compareNote = nullptr;
    QGridLayout *m_compareGrid = nullptr;
    QWidget *m_compareArea = nullptr;

    bool m_comparing = false;
    QList<engine::QueryComparison> m_comparison;
    QString m_comparisonScope;
    QMultiHash<QString, QPointer<QLabel>> m_thumbLabels; // thumbnail key → labels waiting for it
};

} // namespace unisearch::ui
