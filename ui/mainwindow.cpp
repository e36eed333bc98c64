#include "ui/mainwindow.h"

#include "engine/engine.h"
#include "ui/librarypanel.h"
#include "ui/logview.h"
#include "ui/resultsmodel.h"
#include "util/log.h"
#include "util/settings.h"
#include "util/versions.h"

#include <QAction>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFrame>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QProgressBar>
#include <QtConcurrent/QtConcurrentRun>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QStatusBar>
#include <QVBoxLayout>

namespace unisearch::ui {

// What the worker thread gets (a copy of the prepared request) and gives back.
struct MainWindow::ModelImportJob {
    engine::PreparedModelImport prepared;
    std::optional<engine::ImportedModel> imported;
    QString error;
};

namespace {

const QString logCategory = QStringLiteral("ui");
constexpr int messageTimeoutMs = 8000;

QFrame *makeNotice(const QString &objectName, const QString &html, QWidget *parent, bool isError)
{
    auto *frame = new QFrame(parent);
    frame->setObjectName(objectName);
    frame->setFrameShape(QFrame::StyledPanel);
    // A soft tinted panel: visible without being an alarm (the error one is red).
    frame->setStyleSheet(QStringLiteral("QFrame#%1 { background: %2; border: 1px solid %3; border-radius: 6px; }")
                             .arg(objectName, isError ? QStringLiteral("#fdecea") : QStringLiteral("#eaf2fd"),
                                  isError ? QStringLiteral("#e0a8a0") : QStringLiteral("#a8c4e8")));
    auto *layout = new QHBoxLayout(frame);
    auto *label = new QLabel(html, frame);
    label->setObjectName(objectName + QStringLiteral("Text"));
    label->setWordWrap(true);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    label->setStyleSheet(QStringLiteral("color: #202124;"));
    layout->addWidget(label, 1);
    return frame;
}

} // namespace

MainWindow::MainWindow(engine::Engine *engine, QWidget *parent)
    : QMainWindow(parent), m_engine(engine)
{
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("Unisearch"));
    createActions();
    createMenus();
    setCentralWidget(createCentralArea());
    createDocks();

    m_statusLabel = new QLabel(this);
    m_statusLabel->setObjectName(QStringLiteral("statusLabel"));
    statusBar()->addPermanentWidget(m_statusLabel);
    // Busy indicator of a model import (indeterminate: reading and checking a checkpoint
    // reports no progress).
    m_importProgress = new QProgressBar(this);
    m_importProgress->setObjectName(QStringLiteral("modelImportProgress"));
    m_importProgress->setRange(0, 0);
    m_importProgress->setMaximumWidth(140);
    m_importProgress->setTextVisible(false);
    m_importProgress->hide();
    statusBar()->addPermanentWidget(m_importProgress);
    m_importWatcher = new QFutureWatcher<void>(this);
    connect(m_importWatcher, &QFutureWatcher<void>::finished, this, &MainWindow::finishModelImport);

    connect(m_engine, &engine::Engine::statusChanged, this, &MainWindow::refreshStatus);
    restoreWindow();
    refreshStatus();
}

MainWindow::~MainWindow()
{
    // An import runs to its end (it cannot be interrupted midway; stopping the program
    // during it would leave a temporary folder), so wait for it.
    m_importWatcher->waitForFinished();
}

void MainWindow::createActions()
{
    m_addFolderAction = new QAction(tr("&Add Folder…"), this);
    m_addFolderAction->setObjectName(QStringLiteral("actionAddFolder"));
    m_addFolderAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_O));
    m_addFolderAction->setStatusTip(tr("Add a folder of photos and videos to the library"));
    connect(m_addFolderAction, &QAction::triggered, this, &MainWindow::addFolder);

    m_quitAction = new QAction(tr("&Quit"), this);
    m_quitAction->setObjectName(QStringLiteral("actionQuit"));
    m_quitAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
    m_quitAction->setMenuRole(QAction::QuitRole);
    connect(m_quitAction, &QAction::triggered, this, &QWidget::close);

    m_importModelAction = new QAction(tr("&Import…"), this);
    m_importModelAction->setObjectName(QStringLiteral("actionImportModel"));
    m_importModelAction->setStatusTip(tr("Import a BLIP or UniAdapter checkpoint"));
    connect(m_importModelAction, &QAction::triggered, this, &MainWindow::importModel);

    m_aboutAction = new QAction(tr("&About Unisearch"), this);
    m_aboutAction->setObjectName(QStringLiteral("actionAbout"));
    m_aboutAction->setMenuRole(QAction::AboutRole);
    connect(m_aboutAction, &QAction::triggered, this, &MainWindow::showAbout);

    // Ctrl+F works from anywhere in the window, also when no menu shows it.
    m_findAction = new QAction(tr("&Find"), this);
    m_findAction->setObjectName(QStringLiteral("actionFind"));
    m_findAction->setShortcut(QKeySequence::Find);
    m_findAction->setShortcutContext(Qt::WindowShortcut);
    connect(m_findAction, &QAction::triggered, this, &MainWindow::focusSearch);
    addAction(m_findAction);
}

void MainWindow::createMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->setObjectName(QStringLiteral("menuFile"));
    file->addAction(m_addFolderAction);
    file->addSeparator();
    file->addAction(m_quitAction);

    QMenu *model = menuBar()->addMenu(tr("&Model"));
    model->setObjectName(QStringLiteral("menuModel"));
    model->addAction(m_importModelAction);

    // Filled with the docks' toggle actions in createDocks().
    QMenu *view = menuBar()->addMenu(tr("&View"));
    view->setObjectName(QStringLiteral("menuView"));
    view->addAction(m_findAction);
    view->addSeparator();

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->setObjectName(QStringLiteral("menuHelp"));
    help->addAction(m_aboutAction);
}

QWidget *MainWindow::createCentralArea()
{
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);

    m_openErrorNotice = makeNotice(QStringLiteral("openErrorNotice"), QString(), central, true);
    layout->addWidget(m_openErrorNotice);

    m_firstRunNotice = makeNotice(
        QStringLiteral("firstRunNotice"),
        tr("<b>No model yet.</b> Unisearch needs a vision-language model (BLIP or UniAdapter) to understand "
           "your photos and videos. Import a model you have downloaded with <i>Model → Import…</i>, or "
           "download one. Until then you can add folders, but not search them."),
        central, false);
    auto *importButton = new QPushButton(tr("Import Model…"), m_firstRunNotice);
    importButton->setObjectName(QStringLiteral("firstRunImportButton"));
    connect(importButton, &QPushButton::clicked, this, &MainWindow::importModel);
    static_cast<QHBoxLayout *>(m_firstRunNotice->layout())->addWidget(importButton, 0, Qt::AlignVCenter);
    layout->addWidget(m_firstRunNotice);

    m_searchField = new QLineEdit(central);
    m_searchField->setObjectName(QStringLiteral("searchField"));
    m_searchField->setPlaceholderText(tr("Describe what you are looking for, e.g. “my dog asleep on the red sofa” "
                                         "(Ctrl+F)"));
    m_searchField->setClearButtonEnabled(true);
    connect(m_searchField, &QLineEdit::returnPressed, this, &MainWindow::startSearch);
    layout->addWidget(m_searchField);

    m_results = new ResultsModel(this);
    m_resultsView = new QListView(central);
    m_resultsView->setObjectName(QStringLiteral("resultsView"));
    m_resultsView->setModel(m_results);
    m_resultsView->setViewMode(QListView::IconMode);
    m_resultsView->setResizeMode(QListView::Adjust);
    m_resultsView->setUniformItemSizes(true);
    m_resultsView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    const int thumb = Settings().value(settings::thumbnailSize);
    m_resultsView->setIconSize(QSize(thumb, thumb));
    layout->addWidget(m_resultsView, 1);
    return central;
}

void MainWindow::createDocks()
{
    QMenu *view = menuBar()->findChild<QMenu *>(QStringLiteral("menuView"));

    auto *libraryDock = new QDockWidget(tr("Library"), this);
    libraryDock->setObjectName(QStringLiteral("libraryDock"));
    m_library = new LibraryPanel(libraryDock);
    libraryDock->setWidget(m_library);
    addDockWidget(Qt::LeftDockWidgetArea, libraryDock);

    auto *logDock = new QDockWidget(tr("Log"), this);
    logDock->setObjectName(QStringLiteral("logDock"));
    m_logView = new LogView(logDock);
    logDock->setWidget(m_logView);
    addDockWidget(Qt::BottomDockWidgetArea, logDock);
    logDock->hide();  // for when things go wrong; View → Log shows it

    if (view) {
        view->addAction(libraryDock->toggleViewAction());
        view->addAction(logDock->toggleViewAction());
    }
}

void MainWindow::restoreWindow()
{
    const Settings s;
    const QByteArray geometry = s.value(settings::windowGeometry);
    if (geometry.isEmpty() || !restoreGeometry(geometry))
        resize(1100, 720);
    const QByteArray state = s.value(settings::windowState);
    if (!state.isEmpty())
        restoreState(state);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    Settings s;
    s.setValue(settings::windowGeometry, saveGeometry());
    s.setValue(settings::windowState, saveState());
    s.sync();
    event->accept();
}

void MainWindow::refreshStatus()
{
    const bool open = m_engine->isOpen();
    const engine::Status status = m_engine->status();

    m_openErrorNotice->setVisible(!open);
    if (!open)
        m_openErrorNotice->findChild<QLabel *>()->setText(
            tr("<b>Unisearch could not open its library.</b> %1").arg(m_engine->errorString().toHtmlEscaped()));
    m_firstRunNotice->setVisible(open && !status.hasModel());
    m_addFolderAction->setEnabled(open);
    m_importModelAction->setEnabled(open && !isImportingModel());

    m_library->setStatus(status, m_engine->folders());
    const QString model = status.activeModel.isEmpty() ? tr("no model") : tr("model %1").arg(status.activeModel);
    m_statusLabel->setText(tr("%1 items · %2 · %3, %4 threads")
                               .arg(status.counts.items)
                               .arg(model, status.device.toUpper())
                               .arg(status.threads));
}

void MainWindow::addFolder()
{
    Settings s;
    const QString start = s.value(settings::lastFolder).isEmpty() ? QDir::homePath() : s.value(settings::lastFolder);
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Add a Folder to the Library"), start);
    if (dir.isEmpty())
        return;
    s.setValue(settings::lastFolder, dir);
    QString error;
    if (m_engine->addFolder(dir, &error)) {
        statusBar()->showMessage(tr("Added %1 to the library. Indexing is not available yet in this version.")
                                     .arg(QDir::toNativeSeparators(dir)),
                                 messageTimeoutMs);
    } else {
        QMessageBox::warning(this, tr("Add Folder"), error);
    }
}

void MainWindow::importModel()
{
    if (isImportingModel())
        return;
    Settings s;
    const QString start = s.value(settings::lastFolder).isEmpty() ? QDir::homePath() : s.value(settings::lastFolder);
    const QString file = QFileDialog::getOpenFileName(
        this, tr("Import a Model"), start,
        tr("BLIP or UniAdapter checkpoints (*.pth *.pt *.safetensors);;All files (*)"));
    if (file.isEmpty())
        return;
    s.setValue(settings::lastFolder, QFileInfo(file).absolutePath());
    startModelImport(file);
}

bool MainWindow::isImportingModel() const
{
    return m_importJob != nullptr;
}

bool MainWindow::startModelImport(const QString &checkpoint)
{
    if (isImportingModel())
        return false;
    // A free name: the file's base name, else base-2, base-3, ...
    const QString base = QFileInfo(checkpoint).completeBaseName();
    QStringList taken;
    for (const engine::ModelInfo &m : m_engine->models())
        taken.append(m.name);
    QString name = base;
    for (int i = 2; taken.contains(name); ++i)
        name = QStringLiteral("%1-%2").arg(base).arg(i);

    engine::ModelImportRequest request;
    request.checkpoint = checkpoint;
    request.name = name;
    QString error;
    std::optional<engine::PreparedModelImport> prepared = m_engine->prepareModelImport(request, &error);
    if (!prepared) {
        showError(tr("Import Model"), error);
        emit modelImportFinished(false, error);
        return false;
    }
    m_importJob = std::make_shared<ModelImportJob>();
    m_importJob->prepared = *prepared;
    m_importModelAction->setEnabled(false);
    m_importProgress->show();
    statusBar()->showMessage(tr("Importing %1 …").arg(QDir::toNativeSeparators(checkpoint)));
    // The worker touches only its job: the catalog stays on this thread.
    std::shared_ptr<ModelImportJob> job = m_importJob;
    m_importWatcher->setFuture(QtConcurrent::run([job] {
        job->imported = engine::runModelImport(job->prepared, &job->error);
    }));
    return true;
}

void MainWindow::finishModelImport()
{
    std::shared_ptr<ModelImportJob> job = std::move(m_importJob);
    m_importProgress->hide();
    if (!job)
        return;
    QString error = job->error;
    bool ok = job->imported.has_value() && m_engine->registerModel(*job->imported, &error);
    refreshStatus();
    if (!ok) {
        statusBar()->showMessage(tr("The model could not be imported."), messageTimeoutMs);
        showError(tr("Import Model"), error);
        emit modelImportFinished(false, error);
        return;
    }
    const engine::ModelInfo &m = job->imported->model;
    const QString message =
        m.active ? tr("Imported the %1 model '%2'; it is now in use.").arg(m.task, m.name)
                 : tr("Imported the %1 model '%2'; the model in use stays the same.").arg(m.task, m.name);
    statusBar()->showMessage(message, messageTimeoutMs);
    emit modelImportFinished(true, message);
}

void MainWindow::showError(const QString &title, const QString &message)
{
    // Window-modal but not blocking, like About.
    auto *box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
    box->setObjectName(QStringLiteral("errorBox"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::startSearch()
{
    const QString query = m_searchField->text().trimmed();
    if (query.isEmpty())
        return;
    if (!m_engine->status().hasModel()) {
        statusBar()->showMessage(tr("Searching needs a model: import one first (Model → Import…)."),
                                 messageTimeoutMs);
        return;
    }
    statusBar()->showMessage(tr("Search is not available yet in this version."), messageTimeoutMs);
}

void MainWindow::focusSearch()
{
    m_searchField->setFocus(Qt::ShortcutFocusReason);
    m_searchField->selectAll();
}

QString MainWindow::aboutText()
{
    QString rows;
    for (const auto &[name, version] : libraryVersions())
        rows += QStringLiteral("<tr><td>%1</td><td>&nbsp;&nbsp;%2</td></tr>")
                    .arg(name.toHtmlEscaped(), version.toHtmlEscaped());
    return tr("<h3>Unisearch %1</h3>"
              "<p>Search your photos and videos by meaning, on your own computer.</p>"
              "<p>Model: UniAdapter (Lu et al., ICLR 2024) on BLIP-base.</p>"
              "<p>Built with:</p><table>%2</table>")
        .arg(QStringLiteral(UNISEARCH_VERSION), rows);
}

void MainWindow::showAbout()
{
    // Window-modal but not blocking (open(), not exec()), so the event loop, and any
    // running job's progress, keeps going.
    auto *box = new QMessageBox(QMessageBox::Information, tr("About Unisearch"), aboutText(), QMessageBox::Ok, this);
    box->setObjectName(QStringLiteral("aboutBox"));
    box->setTextFormat(Qt::RichText);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

} // namespace unisearch::ui
