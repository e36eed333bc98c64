#pragma once
// The main window: search field, results, the library status dock, the log dock and
// the status bar. It talks to the Engine only.
#include <QMainWindow>

class QAction;
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
};

} // namespace unisearch::ui
