#pragma once
// Search and results, as the window wires them: the query box (with its history), the
// filters (type, folder, date), the sort, the results view (thumbnail grid or list, its
// context menu) and the notice above it. Searches run through the EngineController; a
// filter change re-runs what is shown (a text search, or "similar to" a file). The window
// lays the widgets out and routes what this reports (messages, the current result, the
// menu's actions) to the status bar, the preview and the ask panel.
#include "engine/search.h"
#include "ui/resultsmodel.h"

#include <QObject>
#include <QString>
#include <QStringList>

#include <optional>

class QAction;
class QCheckBox;
class QComboBox;
class QCompleter;
class QDateEdit;
class QLabel;
class QLineEdit;
class QListView;
class QPoint;
class QProgressBar;
class QStackedWidget;
class QStringListModel;
class QToolButton;
class QVBoxLayout;
class QWidget;

namespace unisearch::engine {
class Engine;
struct Status;
}

namespace unisearch::ui {

class EngineController;
class ResultDelegate;
class SearchField;
class ThumbnailProvider;
class TimelineModel;
class TimelineView;

class SearchController : public QObject
{
    Q_OBJECT
public:
    // window: the parent of the widgets (the layout moves them) and of the context menu.
    // listModeAction: View ▸ List View, which the list-mode button shows.
    SearchController(engine::Engine *engine, EngineController *controller, ThumbnailProvider *thumbnails,
                     QAction *listModeAction, QWidget *window);

    // Adds the query row, the filter bar and the results notice to layout.
    void addTo(QVBoxLayout *layout);
    QListView *resultsView() const { return m_resultsView; }
    // Where the results go in the window: the timeline of the library while there is no
    // query, the results view once one is searched.
    QWidget *resultsArea() const;
    TimelineView *timelineView() const { return m_timeline; }
    TimelineModel *timelineModel() const { return m_timelineModel; }
    bool timelineShown() const;
    // Shows the timeline (the query was cleared; the results view while the library is
    // empty) and forgets what was searched; the last results stay in their model.
    void showTimeline();
    ResultsModel *resultsModel() const { return m_results; }
    // The result the preview follows; nullopt when none.
    std::optional<ResultRow> currentResult() const;

    // The earlier queries, newest first.
    QStringList searchHistory() const;
    void focusSearch();
    // Searches for the text in the query box with the current filters. A combined query
    // (engine/query.h) is checked first: its mistake (a missing file, a bad weight) is shown in
    // the results notice instead of a search. Relative paths in it name files in the home folder.
    void startSearch();
    // Appends the files to the query as image terms (" + PATH", or " + item:ID for an indexed
    // file whose path holds " + " or " - "); a file that is not an image or a video, or that
    // cannot be written as a term, is shown as an error and nothing is added. A drop onto the
    // search field comes here.
    void addFileTerms(const QStringList &paths);
    // "More like this" for a file.
    void findSimilar(const QString &path);
    // Runs what the results show again (the filters or the library changed).
    void rerunSearch();
    void setListMode(bool list);
    // The library's folders for the folder filter.
    void setFolders(const QStringList &folders);
    // The notice while nothing was searched yet: no model, an empty library, or a hint.
    void showEmptyState(bool open, const engine::Status &status, const QStringList &folders);

signals:
    // A search's results are shown (or its error is).
    void resultsShown(bool ok);
    // The results were replaced or cleared: the preview and the ask panel start over.
    void resultsReplaced();
    void currentResultChanged();
    // For the status bar; timeoutMs 0: until the next message.
    void message(const QString &text, int timeoutMs);
    // From the context menu or the keyboard.
    void openRequested(const QString &path, std::int64_t timeMs);
    void showInFolderRequested(const QString &path);
    void copyPathRequested(const QString &path);
    void askAboutRequested();
    void teachRequested(const QStringList &paths);
    // Space in the results.
    void previewToggleRequested();

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void createQueryRow();
    QWidget *createFilterBar();
    void createResultsView();
    void rememberQuery(const QString &query);
    engine::SearchFilter currentFilter() const;
    void showResultsNotice(const QString &html);
    void onSearchFinished(int id, const engine::SearchResult &result);
    // A re-ranked search's results as they come (EngineController::searchUpdated).
    void onSearchUpdated(int id, const engine::SearchResult &partial, int done, int total);
    // The last result's rows in the order the sort choice asks for (showSortedResults).
    // keepSelection: the same items re-ordered; the selected ones stay selected.
    void showSortedResults(bool keepSelection = false);
    void onSearchFailed(int id, const QString &error);
    void updateThumbnailSize();
    void showResultsMenu(const QPoint &pos);
    void createTimelineView();
    void showResultsView();
    void showLibraryView();

    engine::Engine *m_engine;
    EngineController *m_controller;
    ThumbnailProvider *m_thumbnails;
    QAction *m_listModeAction;
    QWidget *m_window;

    SearchField *m_searchField = nullptr;
    QCompleter *m_completer = nullptr;
    QStringListModel *m_historyModel = nullptr;
    QProgressBar *m_searchBusy = nullptr;
    QWidget *m_filterBar = nullptr;
    QComboBox *m_typeFilter = nullptr;
    QComboBox *m_folderFilter = nullptr;
    QCheckBox *m_dateFilter = nullptr;
    QDateEdit *m_dateFrom = nullptr;
    QDateEdit *m_dateTo = nullptr;
    QComboBox *m_sort = nullptr;
    engine::SearchResult m_lastResult;  // as the search returned it, best first
    QToolButton *m_listModeButton = nullptr;
    QLabel *m_resultsNotice = nullptr;
    QListView *m_resultsView = nullptr;
    ResultsModel *m_results = nullptr;
    ResultDelegate *m_delegate = nullptr;
    QStackedWidget *m_resultsArea = nullptr;
    TimelineView *m_timeline = nullptr;
    TimelineModel *m_timelineModel = nullptr;

    // What the results show: a text search, or "similar to" a file; re-run on filter changes.
    QString m_lastQuery;
    QString m_lastSimilar;
    int m_shownId = 0;  // the search whose (partial) results are shown
};

} // namespace unisearch::ui
