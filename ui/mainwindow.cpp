#include "ui/mainwindow.h"

#include "engine/engine.h"
#include "engine/versions.h"
#include "ui/askpanel.h"
#include "ui/duplicatesdialog.h"
#include "ui/enginecontroller.h"
#include "ui/librarycontroller.h"
#include "ui/librarypanel.h"
#include "ui/logview.h"
#include "ui/modelimporter.h"
#include "ui/modelmanager.h"
#include "ui/previewcontroller.h"
#include "ui/resultsmodel.h"
#include "ui/searchcontroller.h"
#include "ui/thumbnailprovider.h"
#include "ui/trainwizard.h"
#include "ui/uisettings.h"
#include "util/settings.h"

#include <QAction>
#include <QActionGroup>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QUrl>
#include <QVBoxLayout>

namespace unisearch::ui {

namespace {

constexpr int messageTimeoutMs = 8000;

// A panel that stands out from the window by the palette alone (so dark themes work), with
// the style's information or warning icon.
QFrame *makeNotice(const QString &objectName, const QString &html, QWidget *parent, bool isError)
{
    auto *frame = new QFrame(parent);
    frame->setObjectName(objectName);
    frame->setFrameShape(QFrame::StyledPanel);
    frame->setBackgroundRole(QPalette::AlternateBase);
    frame->setAutoFillBackground(true);
    auto *layout = new QHBoxLayout(frame);
    // The text label is the frame's first child label (callers and tests look it up so).
    auto *label = new QLabel(html, frame);
    label->setObjectName(objectName + QStringLiteral("Text"));
    label->setWordWrap(true);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *icon = new QLabel(frame);
    const int edge = frame->style()->pixelMetric(QStyle::PM_MessageBoxIconSize, nullptr, frame);
    icon->setPixmap(frame->style()
                        ->standardIcon(isError ? QStyle::SP_MessageBoxWarning : QStyle::SP_MessageBoxInformation,
                                       nullptr, frame)
                        .pixmap(edge, edge));
    layout->addWidget(icon, 0, Qt::AlignTop);
    layout->addWidget(label, 1);
    return frame;
}

QStringList localFolders(const QMimeData *mime)
{
    QStringList out;
    if (mime && mime->hasUrls())
        for (const QUrl &url : mime->urls())
            if (url.isLocalFile() && QFileInfo(url.toLocalFile()).isDir())
                out.append(QFileInfo(url.toLocalFile()).absoluteFilePath());
    return out;
}

} // namespace

MainWindow::MainWindow(engine::Engine *engine, QWidget *parent)
    : QMainWindow(parent), m_engine(engine)
{
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("Unisearch"));
    setAcceptDrops(true);
    m_controller = new EngineController(m_engine, this);
    m_thumbnails = new ThumbnailProvider(m_engine->cacheDir(), this);
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
    m_importer = new ModelImporter(m_engine, this);
    connect(m_importer, &ModelImporter::finished, this, &MainWindow::finishModelImport);

    connect(m_engine, &engine::Engine::statusChanged, this, &MainWindow::refreshStatus);
    connectModelStates();
    restoreWindow();
    refreshStatus();  // loads the search model in the background
    m_libraryController->refreshFailures();
    // A re-embed for a full-mode adapter pack that did not finish (the program was closed
    // or killed): it continues where it stopped.
    if (m_engine->isOpen())
        if (const auto model = m_engine->activeModel(engine::retrievalTask))
            if (const QString pending = m_engine->pendingAdapterPack(model->name); !pending.isEmpty())
                QMetaObject::invokeMethod(
                    this,
                    [this, pack = QFileInfo(pending).completeBaseName()] { m_libraryController->startReembed(pack); },
                    Qt::QueuedConnection);
}

void MainWindow::createIdleMenu(QMenu *model)
{
    QMenu *idle = model->addMenu(tr("&Free Models When Idle"));
    idle->setObjectName(QStringLiteral("menuFreeModels"));
    idle->setStatusTip(tr("Free the memory of the loaded models after a while without a search or a question; "
                          "the next search loads them again"));
    auto *group = new QActionGroup(idle);
    const int current = Settings().value(settings::unloadAfterSeconds);
    for (const int minutes : {0, 5, 10, 30, 60}) {
        QAction *a = idle->addAction(minutes == 0 ? tr("&Never") : tr("After %n minute(s)", nullptr, minutes));
        a->setObjectName(QStringLiteral("actionFreeModels%1").arg(minutes));
        a->setCheckable(true);
        a->setChecked(current == minutes * 60);
        group->addAction(a);
        connect(a, &QAction::triggered, this, [this, minutes] {
            Settings().setValue(settings::unloadAfterSeconds, minutes * 60);
            m_controller->setUnloadAfter(minutes * 60);
        });
    }
}

void MainWindow::connectModelStates()
{
    using State = EngineController::ModelState;
    connect(m_controller, &EngineController::searchModelStateChanged, this, [this](State state, const QString &error) {
        if (state == State::Loading)
            showMessage(tr("Loading search model…"), 0);
        else if (state == State::Ready && !m_controller->isSearching())
            showMessage(tr("Ready"), messageTimeoutMs);
        else if (state == State::Failed)
            showMessage(tr("The search model could not be loaded: %1").arg(error), messageTimeoutMs);
        else if (state == State::Unloaded)
            showMessage(tr("Models freed after a while without use; the next search loads them again."),
                        messageTimeoutMs);
    });
    connect(m_controller, &EngineController::askModelStateChanged, this, [this](State state, const QString &error) {
        if (state == State::Loading)
            showMessage(tr("Loading question model…"), 0);
        else if (state == State::Ready && !m_controller->isAsking())
            showMessage(tr("Question model ready"), messageTimeoutMs);
        else if (state == State::Failed)
            showMessage(tr("The question model could not be loaded: %1").arg(error), messageTimeoutMs);
    });
    // The question model loads when the ask panel is first used.
    if (auto *ask = findChild<AskPanel *>())
        connect(ask, &AskPanel::firstUsed, m_controller, &EngineController::preloadAsk);
}

void MainWindow::showMessage(const QString &text, int timeoutMs)
{
    statusBar()->showMessage(text, timeoutMs);
}

MainWindow::~MainWindow()
{
    // An import runs to its end (it cannot be interrupted midway; stopping the program
    // during it would leave a temporary folder), so wait for it.
    delete m_importer;
    m_importer = nullptr;
    // Engine work stops before the widgets it reports to go away.
    delete m_controller;
    m_controller = nullptr;
}

void MainWindow::createActions()
{
    m_addFolderAction = new QAction(tr("&Add Folder…"), this);
    m_addFolderAction->setObjectName(QStringLiteral("actionAddFolder"));
    m_addFolderAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_O));
    m_addFolderAction->setStatusTip(tr("Add a folder of photos and videos to the library"));
    connect(m_addFolderAction, &QAction::triggered, this, &MainWindow::addFolder);

    m_rescanAction = new QAction(tr("&Rescan Library"), this);
    m_rescanAction->setObjectName(QStringLiteral("actionRescan"));
    m_rescanAction->setShortcut(QKeySequence(Qt::Key_F5));
    m_rescanAction->setStatusTip(tr("Index new and changed files of the library's folders"));
    connect(m_rescanAction, &QAction::triggered, this, &MainWindow::rescanLibrary);

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

    m_previewAction = new QAction(tr("&Preview"), this);
    m_previewAction->setObjectName(QStringLiteral("actionPreview"));
    m_previewAction->setCheckable(true);
    m_previewAction->setChecked(Settings().value(settings::previewVisible));
    m_previewAction->setStatusTip(tr("Show or hide the preview (Space in the results)"));
    connect(m_previewAction, &QAction::toggled, this, [this](bool on) {
        if (m_preview)
            m_preview->splitter()->setVisible(on);
        Settings().setValue(settings::previewVisible, on);
    });

    m_listModeAction = new QAction(tr("&List View"), this);
    m_listModeAction->setObjectName(QStringLiteral("actionListMode"));
    m_listModeAction->setCheckable(true);
    m_listModeAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    m_listModeAction->setStatusTip(tr("Show the results as a list instead of a grid of thumbnails"));
    // Connected to the results by the SearchController.
}

void MainWindow::createMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->setObjectName(QStringLiteral("menuFile"));
    file->addAction(m_addFolderAction);
    file->addAction(m_rescanAction);
    file->addSeparator();
    QAction *duplicates = file->addAction(tr("Find &Duplicates…"), this, [this] {
        auto *dialog = new DuplicatesDialog(m_engine, this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        // Files moved to the trash: the rescan drops them from the library.
        connect(dialog, &DuplicatesDialog::filesMoved, m_libraryController, &LibraryController::rescan);
        dialog->show();
    });
    duplicates->setObjectName(QStringLiteral("actionFindDuplicates"));
    duplicates->setStatusTip(tr("Find copies of the same photo or video and move the spare ones to the trash"));
    file->addAction(m_quitAction);

    QMenu *model = menuBar()->addMenu(tr("&Model"));
    model->setObjectName(QStringLiteral("menuModel"));
    model->addAction(m_importModelAction);
    QAction *manageModels = model->addAction(tr("&Manage Models…"), this, &MainWindow::openModelManager);
    manageModels->setObjectName(QStringLiteral("actionManageModels"));
    QAction *teach = model->addAction(tr("&Teach…"), this, [this] {
        auto *wizard = new TrainWizard(m_engine, this);
        wizard->setAttribute(Qt::WA_DeleteOnClose);
        // The results menu's Teach a Name… leaves the selected photos in the action's data.
        if (auto *action = findChild<QAction *>(QStringLiteral("actionTeach")); action && !action->data().isNull()) {
            wizard->setPreselectedItems(action->data().toStringList());
            action->setData(QVariant());
        }
        // A pack activated: the search thread reopens its model with it.
        connect(wizard, &QDialog::accepted, this, [this] { m_controller->invalidateSearch(); });
        // A full-mode search pack: re-embed in the background; search switches when done.
        connect(wizard, &TrainWizard::reembedRequested, m_libraryController, &LibraryController::startReembed);
        wizard->show();
    });
    teach->setObjectName(QStringLiteral("actionTeach"));
    QAction *exportXmp = model->addAction(tr("Export &Names to XMP Sidecars…"), this, &MainWindow::exportNamesToXmp);
    exportXmp->setObjectName(QStringLiteral("actionExportXmp"));
    exportXmp->setStatusTip(tr("Write the names you taught as keywords to sidecar files (photo.jpg.xmp) that digiKam "
                               "and darktable read; the photos stay untouched"));
    teach->setStatusTip(tr("Teach the model your own words from labelled examples"));
    manageModels->setStatusTip(tr("Import or download models, choose the model in use, device and precision"));
    createIdleMenu(model);

    // Filled with the docks' toggle actions in createDocks().
    QMenu *view = menuBar()->addMenu(tr("&View"));
    view->setObjectName(QStringLiteral("menuView"));
    view->addAction(m_findAction);
    view->addAction(m_previewAction);
    view->addAction(m_listModeAction);
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
           "your photos and videos. Import a model you have downloaded, or download one, in "
           "<i>Model → Manage Models…</i>. Until then you can add folders, but not search them."),
        central, false);
    auto *importButton = new QPushButton(tr("Get a Model…"), m_firstRunNotice);
    importButton->setObjectName(QStringLiteral("firstRunImportButton"));
    connect(importButton, &QPushButton::clicked, this, &MainWindow::openModelManager);
    static_cast<QHBoxLayout *>(m_firstRunNotice->layout())->addWidget(importButton, 0, Qt::AlignVCenter);
    layout->addWidget(m_firstRunNotice);

    m_search = new SearchController(m_engine, m_controller, m_thumbnails, m_listModeAction, this);
    m_search->addTo(layout);
    connect(m_search, &SearchController::resultsShown, this, &MainWindow::resultsShown);
    connect(m_search, &SearchController::message, this, &MainWindow::showMessage);
    connect(m_search, &SearchController::previewToggleRequested, this, &MainWindow::togglePreview);
    connect(m_search, &SearchController::teachRequested, this, [this](const QStringList &paths) {
        if (auto *teach = findChild<QAction *>(QStringLiteral("actionTeach"))) {
            teach->setData(paths);
            teach->trigger();
        }
    });

    m_preview = new PreviewController(m_engine, m_controller, m_thumbnails, this);
    connect(m_preview, &PreviewController::message, this, &MainWindow::showMessage);
    connect(m_preview, &PreviewController::previewShown, this, &MainWindow::previewShown);
    connect(m_preview, &PreviewController::findSimilarRequested, this, &MainWindow::findSimilar);
    connect(m_search, &SearchController::resultsReplaced, m_preview, &PreviewController::clear);
    connect(m_search, &SearchController::currentResultChanged, this,
            [this] { m_preview->showResult(m_search->currentResult()); });
    connect(m_search, &SearchController::openRequested, m_preview, &PreviewController::openItem);
    connect(m_search, &SearchController::showInFolderRequested, m_preview, &PreviewController::showInFolder);
    connect(m_search, &SearchController::copyPathRequested, m_preview, &PreviewController::copyPath);
    connect(m_search, &SearchController::askAboutRequested, this, [this] {
        if (!m_previewAction->isChecked())
            m_previewAction->setChecked(true);
        m_preview->focusQuestion();
    });

    m_mainSplitter = new QSplitter(Qt::Horizontal, central);
    m_mainSplitter->setObjectName(QStringLiteral("mainSplitter"));
    m_mainSplitter->addWidget(m_search->resultsArea());  // the timeline, or the results
    m_mainSplitter->addWidget(m_preview->splitter());
    m_mainSplitter->setStretchFactor(0, 3);
    m_mainSplitter->setStretchFactor(1, 2);
    m_mainSplitter->setChildrenCollapsible(false);
    layout->addWidget(m_mainSplitter, 1);
    m_preview->splitter()->setVisible(m_previewAction->isChecked());
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
    m_libraryController = new LibraryController(m_engine, m_controller, m_library, this);
    if (QMenu *file = menuBar()->findChild<QMenu *>(QStringLiteral("menuFile")))
        m_libraryController->addTextMenu(file, m_quitAction);  // Read Text in Pictures, Text Languages
    // The results highlight the query's words in the text a keyword matched.
    connect(m_controller, &EngineController::searchFinished, this, [this](int, const engine::SearchResult &r) {
        m_search->resultsModel()->setMatchedWords(queryWords(r.query));
    });
    connect(m_libraryController, &LibraryController::message, this, &MainWindow::showMessage);
    connect(m_libraryController, &LibraryController::errorOccurred, this, &MainWindow::showError);
    connect(m_libraryController, &LibraryController::indexingStarted, this,
            [this] { m_rescanAction->setEnabled(false); });
    connect(m_libraryController, &LibraryController::statusChanged, this, &MainWindow::refreshStatus);
    connect(m_libraryController, &LibraryController::searchOutdated, m_search, &SearchController::rerunSearch);

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
        resize(1280, 800);
    const QByteArray state = s.value(settings::windowState);
    if (!state.isEmpty())
        restoreState(state);
    const QByteArray main = s.value(settings::mainSplitter);
    if (!main.isEmpty())
        m_mainSplitter->restoreState(main);
    else
        m_mainSplitter->setSizes({600, 420});
    const QByteArray preview = s.value(settings::previewSplitter);
    if (!preview.isEmpty())
        m_preview->splitter()->restoreState(preview);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    Settings s;
    s.setValue(settings::windowGeometry, saveGeometry());
    s.setValue(settings::windowState, saveState());
    s.setValue(settings::mainSplitter, m_mainSplitter->saveState());
    s.setValue(settings::previewSplitter, m_preview->splitter()->saveState());
    s.sync();
    // A running indexing job stops at its next batch; what it committed is kept.
    if (m_controller->isIndexing())
        m_controller->cancelIndexing();
    m_controller->cancelAsk();
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (!localFolders(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent *event)
{
    const QStringList folders = localFolders(event->mimeData());
    if (folders.isEmpty())
        return;
    event->acceptProposedAction();
    addFolders(folders);
}

void MainWindow::refreshStatus()
{
    const bool open = m_engine->isOpen();
    const engine::Status status = m_engine->status();

    m_openErrorNotice->setVisible(!open);
    if (!open)
        m_openErrorNotice->findChild<QLabel *>(QStringLiteral("openErrorNoticeText"))
            ->setText(tr("<b>Unisearch could not open its library.</b> %1").arg(m_engine->errorString().toHtmlEscaped()));
    m_firstRunNotice->setVisible(open && !status.hasModel());
    m_addFolderAction->setEnabled(open);
    m_rescanAction->setEnabled(open && !m_controller->isIndexing());
    m_importModelAction->setEnabled(open && !isImportingModel());

    // Another search model: the search thread reopens its session (model and store).
    if (status.activeModel != m_activeModel) {
        if (!m_activeModel.isEmpty())
            m_controller->invalidateSearch();
        m_activeModel = status.activeModel;
        // Loaded in the background now, so that the first query does not wait for it.
        m_controller->preloadSearch();
    }
    const QStringList folders = m_engine->folders();
    m_library->setStatus(status, folders);
    m_search->setFolders(folders);
    const QString model = status.activeModel.isEmpty() ? tr("no model") : tr("model %1").arg(status.activeModel);
    m_statusLabel->setText(tr("%1 items · %2 · %3, %4 threads")
                               .arg(status.counts.items)
                               .arg(model, status.device.toUpper())
                               .arg(status.threads));
    // The empty states: no model, or nothing in the library yet.
    m_search->showEmptyState(open, status, folders);
}

void MainWindow::addFolder()
{
    m_libraryController->addFolder();
}

void MainWindow::addFolders(const QStringList &folders)
{
    m_libraryController->addFolders(folders);
}

void MainWindow::rescanLibrary()
{
    m_libraryController->rescan();
}

QStringList MainWindow::searchHistory() const
{
    return m_search->searchHistory();
}

ResultsModel *MainWindow::resultsModel() const
{
    return m_search->resultsModel();
}

void MainWindow::startSearch()
{
    m_search->startSearch();
}

void MainWindow::findSimilar(const QString &path)
{
    m_search->findSimilar(path);
}

void MainWindow::togglePreview()
{
    m_previewAction->toggle();
}

void MainWindow::setListMode(bool list)
{
    m_search->setListMode(list);
}

void MainWindow::openModelManager()
{
    // One non-modal dialog, kept (with its running downloads) while the window lives.
    auto *dialog = findChild<ModelManagerDialog *>(QStringLiteral("modelManager"));
    if (!dialog)
        dialog = new ModelManagerDialog(m_engine, this);
    dialog->show();
    dialog->raise();
    dialog->activateWindow();
}

void MainWindow::focusSearch()
{
    m_search->focusSearch();
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
    return m_importer->isRunning();
}

bool MainWindow::startModelImport(const QString &checkpoint)
{
    if (isImportingModel())
        return false;
    QString error;
    if (!m_importer->start(checkpoint, &error)) {
        showError(tr("Import Model"), error);
        emit modelImportFinished(false, error);
        return false;
    }
    m_importModelAction->setEnabled(false);
    m_importProgress->show();
    statusBar()->showMessage(tr("Importing %1 …").arg(QDir::toNativeSeparators(checkpoint)));
    return true;
}

void MainWindow::finishModelImport(bool ok, const QString &error, const engine::ModelInfo &m)
{
    m_importProgress->hide();
    refreshStatus();
    if (!ok) {
        statusBar()->showMessage(tr("The model could not be imported."), messageTimeoutMs);
        showError(tr("Import Model"), error);
        emit modelImportFinished(false, error);
        return;
    }
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

QString MainWindow::aboutText()
{
    QString rows;
    for (const auto &[name, version] : engine::libraryVersions())
        rows += QStringLiteral("<tr><td>%1</td><td>&nbsp;&nbsp;%2</td></tr>")
                    .arg(name.toHtmlEscaped(), version.toHtmlEscaped());
    return tr("<h3>Unisearch %1</h3>"
              "<p>Search your photos and videos by meaning, on your own computer.</p>"
              "<p>Model: UniAdapter (Lu et al., ICLR 2024) on BLIP-base.</p>"
              "<p>Built with:</p><table>%2</table>")
        .arg(QStringLiteral(UNISEARCH_VERSION), rows);
}

namespace {

// The outcome of an XMP export for a person: how many written, and the first failures.
QString xmpExportSummary(const engine::XmpExportResult &result)
{
    QString text = MainWindow::tr("Wrote %n sidecar file(s).", "", result.written);
    if (result.unchanged > 0)
        text += QLatin1Char(' ') + MainWindow::tr("%n already held their names.", "", result.unchanged);
    if (result.failed == 0)
        return text;
    text += QLatin1String("\n\n") + MainWindow::tr("%n could not be written:", "", result.failed);
    int shown = 0;
    for (const engine::XmpFileResult &f : result.files)
        if (f.status == engine::XmpFileStatus::Failed && shown++ < 5)
            text += QLatin1String("\n") + f.error;
    return text;
}

} // namespace

void MainWindow::exportNamesToXmp()
{
    // On the GUI thread: only the labelled items are visited, a few files each.
    const QString title = tr("Export Names to XMP Sidecars");
    const auto inform = [this, title](QMessageBox::Icon icon, const QString &text) {
        auto *box = new QMessageBox(icon, title, text, QMessageBox::Ok, this);
        box->setObjectName(QStringLiteral("xmpExportResult"));
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->open();
    };
    engine::XmpExportParams dryRun;
    dryRun.dryRun = true;
    QString error;
    const auto plan = m_engine->exportNamesToXmp(dryRun, {}, &error);
    if (!plan)
        return showError(title, error);
    if (plan->written == 0) {
        const QString text = plan->files.isEmpty()
                                 ? tr("There are no names to export yet: teach names for your photos first (Model ▸ "
                                      "Teach…).")
                             : plan->failed > 0 ? xmpExportSummary(*plan)
                                                : tr("Every sidecar already holds its names; nothing to write.");
        return inform(QMessageBox::Information, text);
    }
    auto *ask = new QMessageBox(QMessageBox::Question, title,
                                tr("Write the names you taught as keywords to %n sidecar file(s) beside the photos "
                                   "(photo.jpg.xmp, read by digiKam and darktable)?",
                                   "", plan->written),
                                QMessageBox::Yes | QMessageBox::Cancel, this);
    ask->setInformativeText(tr("Keywords already in a sidecar are kept. The photos themselves are not changed."));
    ask->setObjectName(QStringLiteral("xmpExportConfirm"));
    ask->setAttribute(Qt::WA_DeleteOnClose);
    connect(ask, &QMessageBox::finished, this, [this, title, inform](int button) {
        if (button != QMessageBox::Yes)
            return;
        QString error;
        const auto result = m_engine->exportNamesToXmp({}, {}, &error);
        if (!result)
            return showError(title, error);
        inform(result->failed > 0 ? QMessageBox::Warning : QMessageBox::Information, xmpExportSummary(*result));
    });
    ask->open();
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
