#pragma once
// The main window: search field (with history), filters and sort, results (thumbnail grid
// or list), the preview with its actions and the ask panel (in a remembered splitter), the
// library dock (folders, indexing, failures), the log dock and the status bar. It talks to
// the Engine only, and all engine work runs off the GUI thread (EngineController).
#include "engine/search.h"

#include <QMainWindow>

#include <memory>
#include <optional>

class QAction;
class QCheckBox;
class QComboBox;
class QCompleter;
class QDateEdit;
class QProgressBar;
class QFrame;
class QLabel;
class QLineEdit;
class QListView;
class QSplitter;
class QStringListModel;
class QToolButton;

namespace unisearch::engine {
class Engine;
struct AskResult;
struct IndexProgress;
struct IndexResult;
struct ModelInfo;
}

namespace unisearch::ui {

class ModelImporter;

class AskPanel;
class EngineController;
class LibraryPanel;
class LogView;
class PreviewPane;
class ResultDelegate;
class ResultsModel;
class ThumbnailProvider;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    // engine may be closed (it failed to open): the window then says why.
    explicit MainWindow(engine::Engine *engine, QWidget *parent = nullptr);
    ~MainWindow() override;

    LogView *logView() const { return m_logView; }
    EngineController *controller() const { return m_controller; }
    ResultsModel *resultsModel() const { return m_results; }

    // The About box's text: the program and the versions of its libraries.
    static QString aboutText();

    // Imports a checkpoint as a model on a worker thread (Model → Import… ends here after
    // its file dialog), with a busy indicator in the status bar; the GUI thread only
    // checks the name and records the result. The name is the file's base name, made
    // unique. Returns false when it could not start (the reason is shown).
    bool startModelImport(const QString &checkpoint);
    bool isImportingModel() const;

    // Adds folders to the library and starts indexing them (when a model is there).
    void addFolders(const QStringList &folders);
    // The earlier queries, newest first.
    QStringList searchHistory() const;

signals:
    // The end of an import started by startModelImport, with the message shown.
    void modelImportFinished(bool ok, const QString &message);
    // A search's results are shown (or its error is).
    void resultsShown(bool ok);
    // The preview shows a result (its image may still be loading).
    void previewShown(const QString &path);

public slots:
    void refreshStatus();
    void addFolder();
    void importModel();
    // Model ▸ Manage Models… (the model manager fills this in).
    void openModelManager();
    void showAbout();
    void focusSearch();
    // Searches for the text in the search field with the current filters.
    void startSearch();
    // "More like this" for a file.
    void findSimilar(const QString &path);
    void rescanLibrary();
    void togglePreview();
    void setListMode(bool list);

protected:
    void closeEvent(QCloseEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void createActions();
    void createMenus();
    QWidget *createCentralArea();
    QWidget *createFilterBar(QWidget *parent);
    void createDocks();
    void restoreWindow();
    void finishModelImport(bool ok, const QString &error, const engine::ModelInfo &model);
    void showError(const QString &title, const QString &message);
    void rememberQuery(const QString &query);
    engine::SearchFilter currentFilter() const;
    void rerunSearch();
    void onSearchFinished(int id, const engine::SearchResult &result);
    void onSearchFailed(int id, const QString &error);
    void onSelectionChanged();
    void onAskRequested();
    void onIndexProgress(const engine::IndexProgress &progress);
    void onIndexFinished(const engine::IndexResult &result);
    void onIndexFailed(const QString &error);
    void refreshFailures();
    // Re-embeds the library for the pending full-mode pack (named pack) in the background,
    // or says in the status bar why it cannot.
    void startReembed(const QString &pack);
    // The library panel shows the re-embed as its indexing activity.
    void showReembedding(const QString &pack);
    void refreshFolderFilter();
    void updateThumbnailSize();
    void showResultsNotice(const QString &html);
    void showResultsMenu(const QPoint &pos);
    std::optional<int> currentRow() const;

    engine::Engine *m_engine;
    EngineController *m_controller = nullptr;
    ThumbnailProvider *m_thumbnails = nullptr;
    QFrame *m_firstRunNotice = nullptr;
    QFrame *m_openErrorNotice = nullptr;
    QLineEdit *m_searchField = nullptr;
    QCompleter *m_completer = nullptr;
    QStringListModel *m_historyModel = nullptr;
    QComboBox *m_typeFilter = nullptr;
    QComboBox *m_folderFilter = nullptr;
    QCheckBox *m_dateFilter = nullptr;
    QDateEdit *m_dateFrom = nullptr;
    QDateEdit *m_dateTo = nullptr;
    QComboBox *m_sort = nullptr;
    QToolButton *m_listModeButton = nullptr;
    QLabel *m_resultsNotice = nullptr;
    QProgressBar *m_searchBusy = nullptr;
    QListView *m_resultsView = nullptr;
    ResultsModel *m_results = nullptr;
    ResultDelegate *m_delegate = nullptr;
    QSplitter *m_mainSplitter = nullptr;
    QSplitter *m_previewSplitter = nullptr;
    PreviewPane *m_preview = nullptr;
    AskPanel *m_ask = nullptr;
    LibraryPanel *m_library = nullptr;
    LogView *m_logView = nullptr;
    QLabel *m_statusLabel = nullptr;

    QAction *m_addFolderAction = nullptr;
    QAction *m_rescanAction = nullptr;
    QAction *m_quitAction = nullptr;
    QAction *m_importModelAction = nullptr;
    QAction *m_aboutAction = nullptr;
    QAction *m_findAction = nullptr;
    QAction *m_previewAction = nullptr;
    QAction *m_listModeAction = nullptr;

    // What the results show: a text search, or "similar to" a file; re-run on filter changes.
    QString m_lastQuery;
    QString m_lastSimilar;
    QString m_activeModel;  // the search model the controller's session was opened with

    ModelImporter *m_importer = nullptr;
    QProgressBar *m_importProgress = nullptr;
};

} // namespace unisearch::ui
