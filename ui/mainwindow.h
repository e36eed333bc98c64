#pragma once
// The main window: search field, results, the library status dock, the log dock and
// the status bar. It talks to the Engine only.
#include <QMainWindow>

#include <memory>

class QAction;
class QProgressBar;
template <typename T>
class QFutureWatcher;
class QFrame;
class QLabel;
class QLineEdit;
class QListView;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class LibraryPanel;
class LogView;
class ResultsModel;

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    // engine may be closed (it failed to open): the window then says why.
    explicit MainWindow(engine::Engine *engine, QWidget *parent = nullptr);
    ~MainWindow() override;

    LogView *logView() const { return m_logView; }

    // The About box's text: the program and the versions of its libraries.
    static QString aboutText();

    // Imports a checkpoint as a model on a worker thread (Model → Import… ends here after
    // its file dialog), with a busy indicator in the status bar; the GUI thread only
    // checks the name and records the result. The name is the file's base name, made
    // unique. Returns false when it could not start (the reason is shown).
    bool startModelImport(const QString &checkpoint);
    bool isImportingModel() const;

signals:
    // The end of an import started by startModelImport, with the message shown.
    void modelImportFinished(bool ok, const QString &message);

public slots:
    void refreshStatus();
    void addFolder();
    void importModel();
    void showAbout();
    void focusSearch();

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void createActions();
    void createMenus();
    QWidget *createCentralArea();
    void createDocks();
    void restoreWindow();
    void startSearch();
    void finishModelImport();
    void showError(const QString &title, const QString &message);

    engine::Engine *m_engine;
    QFrame *m_firstRunNotice = nullptr;
    QFrame *m_openErrorNotice = nullptr;
    QLineEdit *m_searchField = nullptr;
    QListView *m_resultsView = nullptr;
    ResultsModel *m_results = nullptr;
    LibraryPanel *m_library = nullptr;
    LogView *m_logView = nullptr;
    QLabel *m_statusLabel = nullptr;

    QAction *m_addFolderAction = nullptr;
    QAction *m_quitAction = nullptr;
    QAction *m_importModelAction = nullptr;
    QAction *m_aboutAction = nullptr;
    QAction *m_findAction = nullptr;

    struct ModelImportJob;
    std::shared_ptr<ModelImportJob> m_importJob;  // shared with the worker thread
    QFutureWatcher<void> *m_importWatcher = nullptr;
    QProgressBar *m_importProgress = nullptr;
};

} // namespace unisearch::ui
