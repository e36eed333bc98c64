#pragma once
// The main window: the menus and actions, the notices (no model, a library that cannot be
// opened), the status bar, model import and the dialogs, and the parts it lays out and
// wires together:
//  - search and results (SearchController: query box with history, filters and sort,
//    the results as a thumbnail grid or list),
//  - the preview with its actions and the ask panel, in a remembered splitter
//    (PreviewController),
//  - the library dock: folders, indexing, failures (LibraryController, LibraryPanel),
//  - the log dock.
// It talks to the Engine only, and all engine work runs off the GUI thread (EngineController).
#include <QMainWindow>

#include <memory>

class QAction;
class QProgressBar;
class QFrame;
class QLabel;
class QSplitter;

namespace unisearch::engine {
class Engine;
struct ModelInfo;
}

namespace unisearch::ui {

class EngineController;
class LibraryController;
class LibraryPanel;
class LogView;
class ModelImporter;
class PreviewController;
class ResultsModel;
class SearchController;
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
    ResultsModel *resultsModel() const;

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
    // Model ▸ Export Names to XMP Sidecars…: asks, showing how many files, then writes them.
    void exportNamesToXmp();
    void togglePreview();
    void setListMode(bool list);

protected:
    void closeEvent(QCloseEvent *event) override;
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void createActions();
    void createMenus();
    QWidget *createCentralArea();
    void createDocks();
    void restoreWindow();
    void finishModelImport(bool ok, const QString &error, const engine::ModelInfo &model);
    void showError(const QString &title, const QString &message);
    // The status bar's message; timeoutMs 0: until the next one.
    void showMessage(const QString &text, int timeoutMs);
    // Model ▸ Free Models When Idle: never, or after a few minutes without a search or question.
    void createIdleMenu(QMenu *model);
    // The status bar follows the search and question models' loads.
    void connectModelStates();

    engine::Engine *m_engine;
    EngineController *m_controller = nullptr;
    ThumbnailProvider *m_thumbnails = nullptr;
    SearchController *m_search = nullptr;
    PreviewController *m_preview = nullptr;
    LibraryController *m_libraryController = nullptr;
    QFrame *m_firstRunNotice = nullptr;
    QFrame *m_openErrorNotice = nullptr;
    QSplitter *m_mainSplitter = nullptr;
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

    QString m_activeModel;  // the search model the controller's session was opened with

    ModelImporter *m_importer = nullptr;
    QProgressBar *m_importProgress = nullptr;
};

} // namespace unisearch::ui
