#include "ui/mainwindow.h"

#include "engine/engine.h"
#include "engine/indexjob.h"
#include "engine/inference.h"
#include "engine/training.h"
#include "ui/askpanel.h"
#include "ui/enginecontroller.h"
#include "ui/itemactions.h"
#include "ui/modelimporter.h"
#include "ui/librarypanel.h"
#include "ui/modelmanager.h"
#include "ui/logview.h"
#include "ui/previewpane.h"
#include "ui/resultdelegate.h"
#include "ui/resultsmodel.h"
#include "ui/thumbnailprovider.h"
#include "ui/trainwizard.h"
#include "ui/uisettings.h"
#include "util/log.h"
#include "util/settings.h"
#include "util/versions.h"

#include <QAction>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QCompleter>
#include <QDateEdit>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QKeyEvent>
#include <QAbstractItemView>
#include <QFileDialog>
#include <QFileInfo>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStatusBar>
#include <QStringListModel>
#include <QStyle>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>
#include <QWidgetAction>
#include <QLocale>

namespace unisearch::ui {

namespace {

const QString logCategory = QStringLiteral("ui");
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
    connect(m_controller, &EngineController::searchFinished, this, &MainWindow::onSearchFinished);
    connect(m_controller, &EngineController::searchFailed, this, &MainWindow::onSearchFailed);
    connect(m_controller, &EngineController::askFinished, this,
            [this](int, const engine::AskResult &r) { m_ask->showAnswer(r); });
    connect(m_controller, &EngineController::askFailed, this, [this](int, const QString &e) { m_ask->showError(e); });
    connect(m_controller, &EngineController::askCancelled, m_ask, &AskPanel::showCancelled);
    connect(m_controller, &EngineController::indexProgress, this, &MainWindow::onIndexProgress);
    connect(m_controller, &EngineController::indexFinished, this, &MainWindow::onIndexFinished);
    connect(m_controller, &EngineController::indexFailed, this, &MainWindow::onIndexFailed);
    connect(m_controller, &EngineController::reembedStarted, this, &MainWindow::showReembedding);
    connect(m_controller, &EngineController::reembedFinished, this, [this](bool switched, const QString &message) {
        const QString text = switched ? tr("The library is re-embedded: search now uses the new adapter pack.") : message;
        m_library->setActivity(text);
        statusBar()->showMessage(text, messageTimeoutMs);
        refreshStatus();
        rerunSearch();
    });
    restoreWindow();
    refreshStatus();
    refreshFailures();
    // A re-embed for a full-mode adapter pack that did not finish (the program was closed
    // or killed): it continues where it stopped.
    if (m_engine->isOpen() && m_engine->catalog())
        if (const auto model = m_engine->activeModel(engine::retrievalTask))
            if (const QString pending = engine::pendingAdapterPackPath(*m_engine->catalog(), model->name); !pending.isEmpty())
                QMetaObject::invokeMethod(
                    this, [this, pack = QFileInfo(pending).completeBaseName()] { startReembed(pack); },
                    Qt::QueuedConnection);
}

void MainWindow::startReembed(const QString &pack)
{
    QString error;
    if (!m_controller->startReembed(&error))
        statusBar()->showMessage(tr("Cannot re-embed the library for “%1”: %2").arg(pack, error));
    else if (m_controller->isIndexing())
        showReembedding(pack);
}

void MainWindow::showReembedding(const QString &pack)
{
    m_library->setIndexing(true, false);
    m_library->setActivity(tr("Re-embedding the library for “%1”; search uses the previous vectors until it is done.")
                               .arg(pack));
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
        if (m_previewSplitter)
            m_previewSplitter->setVisible(on);
        Settings().setValue(settings::previewVisible, on);
    });

    m_listModeAction = new QAction(tr("&List View"), this);
    m_listModeAction->setObjectName(QStringLiteral("actionListMode"));
    m_listModeAction->setCheckable(true);
    m_listModeAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    m_listModeAction->setStatusTip(tr("Show the results as a list instead of a grid of thumbnails"));
    connect(m_listModeAction, &QAction::toggled, this, &MainWindow::setListMode);
}

void MainWindow::createMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->setObjectName(QStringLiteral("menuFile"));
    file->addAction(m_addFolderAction);
    file->addAction(m_rescanAction);
    file->addSeparator();
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
        connect(wizard, &TrainWizard::reembedRequested, this, &MainWindow::startReembed);
        wizard->show();
    });
    teach->setObjectName(QStringLiteral("actionTeach"));
    teach->setStatusTip(tr("Teach the model your own words from labelled examples"));
    manageModels->setStatusTip(tr("Import or download models, choose the model in use, device and precision"));

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

QWidget *MainWindow::createFilterBar(QWidget *parent)
{
    auto *bar = new QWidget(parent);
    auto *layout = new QHBoxLayout(bar);
    layout->setContentsMargins(0, 0, 0, 0);

    m_typeFilter = new QComboBox(bar);
    m_typeFilter->setObjectName(QStringLiteral("typeFilter"));
    m_typeFilter->addItem(tr("All types"), QString());
    m_typeFilter->setToolTip(tr("Photos, videos or both"));
    m_typeFilter->addItem(tr("Photos"), QStringLiteral("image"));
    m_typeFilter->addItem(tr("Videos"), QStringLiteral("video"));
    layout->addWidget(m_typeFilter);

    m_folderFilter = new QComboBox(bar);
    m_folderFilter->setObjectName(QStringLiteral("folderFilter"));
    m_folderFilter->setToolTip(tr("Only items in this folder"));
    m_folderFilter->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_folderFilter->setMinimumContentsLength(8);
    layout->addWidget(m_folderFilter);

    // The date range sits in a drop-down of its own, to keep the bar narrow.
    auto *dateButton = new QToolButton(bar);
    dateButton->setObjectName(QStringLiteral("dateButton"));
    dateButton->setText(tr("Any date"));
    dateButton->setToolTip(tr("Only items modified between two dates"));
    dateButton->setPopupMode(QToolButton::InstantPopup);
    auto *dateMenu = new QMenu(dateButton);
    auto *datePanel = new QWidget(dateMenu);
    auto *dateLayout = new QHBoxLayout(datePanel);
    m_dateFilter = new QCheckBox(tr("Between"), datePanel);
    m_dateFilter->setObjectName(QStringLiteral("dateFilter"));
    m_dateFrom = new QDateEdit(QDate::currentDate().addYears(-1), datePanel);
    m_dateFrom->setObjectName(QStringLiteral("dateFrom"));
    m_dateFrom->setCalendarPopup(true);
    m_dateTo = new QDateEdit(QDate::currentDate(), datePanel);
    m_dateTo->setObjectName(QStringLiteral("dateTo"));
    m_dateTo->setCalendarPopup(true);
    m_dateFrom->setEnabled(false);
    m_dateTo->setEnabled(false);
    dateLayout->addWidget(m_dateFilter);
    dateLayout->addWidget(m_dateFrom);
    dateLayout->addWidget(new QLabel(tr("and"), datePanel));
    dateLayout->addWidget(m_dateTo);
    auto *dateAction = new QWidgetAction(dateMenu);
    dateAction->setDefaultWidget(datePanel);
    dateMenu->addAction(dateAction);
    dateButton->setMenu(dateMenu);
    layout->addWidget(dateButton);
    auto updateDateButton = [this, dateButton] {
        dateButton->setText(m_dateFilter->isChecked()
                                ? tr("%1 – %2").arg(QLocale().toString(m_dateFrom->date(), QLocale::ShortFormat),
                                                    QLocale().toString(m_dateTo->date(), QLocale::ShortFormat))
                                : tr("Any date"));
    };
    connect(m_dateFilter, &QCheckBox::toggled, dateButton, updateDateButton);
    connect(m_dateFrom, &QDateEdit::dateChanged, dateButton, updateDateButton);
    connect(m_dateTo, &QDateEdit::dateChanged, dateButton, updateDateButton);
    layout->addStretch(1);

    m_sort = new QComboBox(bar);
    m_sort->setObjectName(QStringLiteral("sortOrder"));
    m_sort->setToolTip(tr("Sort the results"));
    m_sort->addItem(tr("Best match"));
    m_sort->addItem(tr("Newest"));
    layout->addWidget(m_sort);

    m_listModeButton = new QToolButton(bar);
    m_listModeButton->setObjectName(QStringLiteral("listModeButton"));
    m_listModeButton->setDefaultAction(m_listModeAction);
    layout->addWidget(m_listModeButton);

    auto refilter = [this] { rerunSearch(); };
    connect(m_typeFilter, &QComboBox::currentIndexChanged, this, refilter);
    connect(m_folderFilter, &QComboBox::currentIndexChanged, this, refilter);
    connect(m_dateFilter, &QCheckBox::toggled, this, [this](bool on) {
        m_dateFrom->setEnabled(on);
        m_dateTo->setEnabled(on);
        rerunSearch();
    });
    connect(m_dateFrom, &QDateEdit::dateChanged, this, [this] {
        if (m_dateFilter->isChecked())
            rerunSearch();
    });
    connect(m_dateTo, &QDateEdit::dateChanged, this, [this] {
        if (m_dateFilter->isChecked())
            rerunSearch();
    });
    connect(m_sort, &QComboBox::currentIndexChanged, this, [this](int i) {
        m_results->setSort(i == 1 ? ResultsModel::Sort::Date : ResultsModel::Sort::Relevance);
    });
    return bar;
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

    m_searchField = new QLineEdit(central);
    m_searchField->setObjectName(QStringLiteral("searchField"));
    m_searchField->setPlaceholderText(tr("Describe what you are looking for, e.g. “my dog asleep on the red sofa” "
                                         "(Ctrl+F)"));
    m_searchField->setClearButtonEnabled(true);
    connect(m_searchField, &QLineEdit::returnPressed, this, &MainWindow::startSearch);
    // Earlier queries complete what is typed (anywhere in the query, any case).
    m_historyModel = new QStringListModel(Settings().value(settings::searchHistory), this);
    m_completer = new QCompleter(m_historyModel, this);
    m_completer->setObjectName(QStringLiteral("searchCompleter"));
    m_completer->setCaseSensitivity(Qt::CaseInsensitive);
    m_completer->setFilterMode(Qt::MatchContains);
    m_completer->setCompletionMode(QCompleter::PopupCompletion);
    m_searchField->setCompleter(m_completer);
    m_searchField->installEventFilter(this);  // Down opens the history
    auto *searchRow = new QHBoxLayout;
    searchRow->addWidget(m_searchField, 1);
    m_searchBusy = new QProgressBar(central);
    m_searchBusy->setObjectName(QStringLiteral("searchBusy"));
    m_searchBusy->setRange(0, 0);
    m_searchBusy->setMaximumWidth(80);
    m_searchBusy->setTextVisible(false);
    m_searchBusy->hide();
    searchRow->addWidget(m_searchBusy);
    layout->addLayout(searchRow);
    layout->addWidget(createFilterBar(central));

    m_resultsNotice = new QLabel(central);
    m_resultsNotice->setObjectName(QStringLiteral("resultsNotice"));
    m_resultsNotice->setWordWrap(true);
    m_resultsNotice->setTextFormat(Qt::RichText);
    m_resultsNotice->hide();
    layout->addWidget(m_resultsNotice);

    m_results = new ResultsModel(this);
    m_delegate = new ResultDelegate(this);
    m_resultsView = new QListView(central);
    m_resultsView->setObjectName(QStringLiteral("resultsView"));
    m_resultsView->setModel(m_results);
    m_resultsView->setItemDelegate(m_delegate);
    m_resultsView->setResizeMode(QListView::Adjust);
    m_resultsView->setUniformItemSizes(true);
    // Several results can be selected (Ctrl/Shift-click) to teach them a name together;
    // the preview and the ask panel follow the current one.
    m_resultsView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_resultsView->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_resultsView->setContextMenuPolicy(Qt::CustomContextMenu);
    m_resultsView->setWordWrap(false);
    connect(m_resultsView, &QWidget::customContextMenuRequested, this, &MainWindow::showResultsMenu);
    connect(m_resultsView->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &MainWindow::onSelectionChanged);
    connect(m_resultsView, &QAbstractItemView::activated, this, [this](const QModelIndex &index) {
        const ResultRow &r = m_results->row(index.row());
        QString error;
        if (!openItem(r.path, r.isVideo() ? r.timeMs : -1, &error))
            statusBar()->showMessage(error, messageTimeoutMs);
    });
    // Space shows or hides the preview while the results have the focus.
    auto *space = new QAction(m_resultsView);
    space->setShortcut(QKeySequence(Qt::Key_Space));
    space->setShortcutContext(Qt::WidgetShortcut);
    connect(space, &QAction::triggered, this, &MainWindow::togglePreview);
    m_resultsView->addAction(space);

    m_preview = new PreviewPane(m_thumbnails, central);
    m_ask = new AskPanel(central);
    m_previewSplitter = new QSplitter(Qt::Vertical, central);
    m_previewSplitter->setObjectName(QStringLiteral("previewSplitter"));
    m_previewSplitter->addWidget(m_preview);
    m_previewSplitter->addWidget(m_ask);
    m_previewSplitter->setStretchFactor(0, 3);
    m_previewSplitter->setStretchFactor(1, 1);
    m_mainSplitter = new QSplitter(Qt::Horizontal, central);
    m_mainSplitter->setObjectName(QStringLiteral("mainSplitter"));
    m_mainSplitter->addWidget(m_resultsView);
    m_mainSplitter->addWidget(m_previewSplitter);
    m_mainSplitter->setStretchFactor(0, 3);
    m_mainSplitter->setStretchFactor(1, 2);
    m_mainSplitter->setChildrenCollapsible(false);
    layout->addWidget(m_mainSplitter, 1);
    m_previewSplitter->setVisible(m_previewAction->isChecked());

    connect(m_preview, &PreviewPane::openRequested, this, [this](const QString &path, std::int64_t ms) {
        QString error;
        if (!openItem(path, ms, &error))
            statusBar()->showMessage(error, messageTimeoutMs);
    });
    connect(m_preview, &PreviewPane::showInFolderRequested, this, [this](const QString &path) {
        QString error;
        if (!showInFolder(path, &error))
            statusBar()->showMessage(error, messageTimeoutMs);
    });
    connect(m_preview, &PreviewPane::copyPathRequested, this, [this](const QString &path) {
        copyPath(path);
        statusBar()->showMessage(tr("Copied %1").arg(QDir::toNativeSeparators(path)), messageTimeoutMs);
    });
    connect(m_preview, &PreviewPane::findSimilarRequested, this, &MainWindow::findSimilar);
    connect(m_preview, &PreviewPane::momentChanged, m_ask, &AskPanel::setMoment);
    connect(m_ask, &AskPanel::askRequested, this, &MainWindow::onAskRequested);
    connect(m_ask, &AskPanel::cancelRequested, m_controller, &EngineController::cancelAsk);

    const bool list = Settings().value(settings::resultsViewMode) == QLatin1String("list");
    m_listModeAction->setChecked(list);
    setListMode(list);
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
    connect(m_library, &LibraryPanel::addFolderRequested, this, &MainWindow::addFolder);
    connect(m_library, &LibraryPanel::foldersDropped, this, &MainWindow::addFolders);
    connect(m_library, &LibraryPanel::rescanRequested, this, &MainWindow::rescanLibrary);
    connect(m_library, &LibraryPanel::pauseRequested, this, [this] {
        m_controller->pauseIndexing();
        m_library->setIndexing(true, true);
    });
    connect(m_library, &LibraryPanel::resumeRequested, this, [this] {
        m_controller->resumeIndexing();
        m_library->setIndexing(true, false);
    });
    connect(m_library, &LibraryPanel::cancelRequested, this, [this] {
        m_controller->cancelIndexing();
        m_library->setActivity(tr("Cancelling…"));
    });
    connect(m_library, &LibraryPanel::removeFolderRequested, this, [this](const QString &folder) {
        QString error;
        if (!m_engine->removeFolder(folder, &error)) {
            statusBar()->showMessage(error, messageTimeoutMs);
            return;
        }
        m_controller->invalidateSearch();
        statusBar()->showMessage(tr("Removed %1 from the library.").arg(QDir::toNativeSeparators(folder)),
                                 messageTimeoutMs);
        refreshStatus();
        rerunSearch();
    });

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
        m_previewSplitter->restoreState(preview);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    Settings s;
    s.setValue(settings::windowGeometry, saveGeometry());
    s.setValue(settings::windowState, saveState());
    s.setValue(settings::mainSplitter, m_mainSplitter->saveState());
    s.setValue(settings::previewSplitter, m_previewSplitter->saveState());
    s.sync();
    // A running indexing job stops at its next batch; what it committed is kept.
    if (m_controller->isIndexing())
        m_controller->cancelIndexing();
    m_controller->cancelAsk();
    event->accept();
}

bool MainWindow::eventFilter(QObject *watched, QEvent *event)
{
    // Down in the search field shows the earlier queries (all of them when it is empty).
    if (watched == m_searchField && event->type() == QEvent::KeyPress
        && static_cast<QKeyEvent *>(event)->key() == Qt::Key_Down && !m_completer->popup()->isVisible()
        && !m_historyModel->stringList().isEmpty()) {
        m_completer->setCompletionPrefix(m_searchField->text());
        m_completer->complete();
        return true;
    }
    return QMainWindow::eventFilter(watched, event);
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
    }
    const QStringList folders = m_engine->folders();
    m_library->setStatus(status, folders);
    refreshFolderFilter();
    const QString model = status.activeModel.isEmpty() ? tr("no model") : tr("model %1").arg(status.activeModel);
    m_statusLabel->setText(tr("%1 items · %2 · %3, %4 threads")
                               .arg(status.counts.items)
                               .arg(model, status.device.toUpper())
                               .arg(status.threads));
    // The empty states: no model, or nothing in the library yet.
    if (m_results->rowCount() == 0 && m_lastQuery.isEmpty() && m_lastSimilar.isEmpty()) {
        if (open && status.hasModel() && status.counts.items == 0)
            showResultsNotice(folders.isEmpty()
                                  ? tr("<b>The library is empty.</b> Add a folder of photos and videos "
                                       "(File → Add Folder…, Ctrl+O, or drop it on the window).")
                                  : tr("<b>Nothing indexed yet.</b> The library's folders are being indexed, "
                                       "or need a rescan (F5)."));
        else if (open && status.hasModel())
            showResultsNotice(tr("Describe what you are looking for above and press Enter: words, not file names "
                                 "(“a dog asleep on a red sofa”)."));
        else
            showResultsNotice({});
    }
}

void MainWindow::refreshFolderFilter()
{
    const QString current = m_folderFilter->currentData().toString();
    const QStringList folders = m_engine->folders();
    QStringList shown;
    for (int i = 1; i < m_folderFilter->count(); ++i)
        shown.append(m_folderFilter->itemData(i).toString());
    if (shown == folders && m_folderFilter->count() > 0)
        return;
    const QSignalBlocker block(m_folderFilter);
    m_folderFilter->clear();
    m_folderFilter->addItem(tr("All folders"), QString());
    for (const QString &f : folders)
        m_folderFilter->addItem(QFileInfo(f).fileName().isEmpty() ? f : QFileInfo(f).fileName(), f);
    const int i = m_folderFilter->findData(current);
    m_folderFilter->setCurrentIndex(i < 0 ? 0 : i);
}

void MainWindow::refreshFailures()
{
    if (!m_engine->catalog())
        return;
    try {
        m_library->setFailures(m_engine->catalog()->errors(500));
    } catch (const std::exception &e) {
        log::warning(logCategory, QStringLiteral("reading the failed files: %1").arg(QString::fromUtf8(e.what())));
    }
}

void MainWindow::addFolder()
{
    Settings s;
    const QString start = s.value(settings::lastFolder).isEmpty() ? QDir::homePath() : s.value(settings::lastFolder);
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Add a Folder to the Library"), start);
    if (dir.isEmpty())
        return;
    s.setValue(settings::lastFolder, dir);
    addFolders({dir});
}

void MainWindow::addFolders(const QStringList &folders)
{
    QStringList added;
    for (const QString &dir : folders) {
        QString error;
        if (m_engine->addFolder(dir, &error))
            added.append(dir);
        else
            showError(tr("Add Folder"), error);
    }
    if (added.isEmpty())
        return;
    refreshStatus();
    if (!m_engine->activeModel(engine::retrievalTask)) {
        statusBar()->showMessage(tr("Added %1 to the library. It will be indexed once a model is imported.")
                                     .arg(QDir::toNativeSeparators(added.join(QStringLiteral(", ")))),
                                 messageTimeoutMs);
        return;
    }
    if (m_controller->isIndexing()) {
        statusBar()->showMessage(tr("Added %1; it will be indexed after the current run (Rescan).")
                                     .arg(QDir::toNativeSeparators(added.join(QStringLiteral(", ")))),
                                 messageTimeoutMs);
        return;
    }
    rescanLibrary();
}

void MainWindow::rescanLibrary()
{
    QString error;
    if (!m_controller->startIndexing({}, &error)) {
        statusBar()->showMessage(error, messageTimeoutMs);
        m_library->setActivity(error);
        return;
    }
    m_library->setIndexing(true, false);
    m_library->setActivity(tr("Indexing…"));
    m_rescanAction->setEnabled(false);
    statusBar()->showMessage(tr("Indexing the library…"), messageTimeoutMs);
}

void MainWindow::onIndexProgress(const engine::IndexProgress &progress)
{
    m_library->setProgress(progress);
    m_library->setActivity(progress.paused ? tr("Indexing paused") : tr("Indexing…"));
}

void MainWindow::onIndexFinished(const engine::IndexResult &r)
{
    m_library->setIndexing(false);
    const QString summary =
        r.cancelled ? tr("Indexing cancelled: %1 files embedded before it stopped (they are kept).")
                          .arg(r.embedded + r.videosEmbedded)
                    : tr("Indexing done: %1 new, %2 changed, %3 removed, %4 could not be read (%5 s).")
                          .arg(r.added)
                          .arg(r.modified)
                          .arg(r.deleted)
                          .arg(r.failed)
                          .arg(r.seconds, 0, 'f', 1);
    m_library->setActivity(summary);
    statusBar()->showMessage(summary, messageTimeoutMs);
    refreshStatus();
    refreshFailures();
    rerunSearch();  // new files may match what is shown
}

void MainWindow::onIndexFailed(const QString &error)
{
    m_library->setIndexing(false);
    m_library->setActivity(tr("Indexing failed: %1").arg(error));
    statusBar()->showMessage(tr("Indexing failed: %1").arg(error), messageTimeoutMs);
    refreshStatus();
    refreshFailures();
}

QStringList MainWindow::searchHistory() const
{
    return m_historyModel->stringList();
}

void MainWindow::rememberQuery(const QString &query)
{
    QStringList history = m_historyModel->stringList();
    history.removeAll(query);
    history.prepend(query);
    while (history.size() > settings::searchHistoryLimit)
        history.removeLast();
    m_historyModel->setStringList(history);
    Settings().setValue(settings::searchHistory, history);
}

engine::SearchFilter MainWindow::currentFilter() const
{
    engine::SearchFilter f;
    const QString type = m_typeFilter->currentData().toString();
    if (type == QLatin1String("image"))
        f.type = catalog::ItemType::Image;
    else if (type == QLatin1String("video"))
        f.type = catalog::ItemType::Video;
    const QString folder = m_folderFilter->currentData().toString();
    if (!folder.isEmpty())
        f.folders = {folder};
    if (m_dateFilter->isChecked()) {
        f.from = m_dateFrom->date().startOfDay();
        f.to = m_dateTo->date().addDays(1).startOfDay();  // the end date is included
    }
    return f;
}

void MainWindow::startSearch()
{
    const QString query = m_searchField->text().trimmed();
    if (query.isEmpty())
        return;
    rememberQuery(query);
    if (!m_engine->activeModel(engine::retrievalTask)) {
        const QString message = tr("Searching needs a model: import one first (Model → Import…).");
        statusBar()->showMessage(message, messageTimeoutMs);
        showResultsNotice(tr("<b>No search model.</b> %1").arg(message.toHtmlEscaped()));
        return;
    }
    m_lastQuery = query;
    m_lastSimilar.clear();
    rerunSearch();
}

void MainWindow::findSimilar(const QString &path)
{
    if (!m_engine->activeModel(engine::retrievalTask))
        return;
    m_lastSimilar = path;
    m_lastQuery.clear();
    rerunSearch();
}

void MainWindow::rerunSearch()
{
    if (m_lastQuery.isEmpty() && m_lastSimilar.isEmpty())
        return;
    const Settings s;
    if (!m_lastQuery.isEmpty()) {
        engine::SearchParams params;
        params.text = m_lastQuery;
        params.top = s.value(settings::resultCount);
        if (s.value(settings::rerank))
            params.rerank = true;  // else: the engine's default (on with CUDA)
        params.filter = currentFilter();
        m_controller->search(params);
        statusBar()->showMessage(tr("Searching for “%1”…").arg(m_lastQuery));
    } else {
        engine::SimilarParams params;
        params.top = s.value(settings::resultCount);
        params.filter = currentFilter();
        m_controller->similar(m_lastSimilar, params);
        statusBar()->showMessage(tr("Looking for items like %1…").arg(QFileInfo(m_lastSimilar).fileName()));
    }
    m_searchBusy->show();
}

void MainWindow::showResultsNotice(const QString &html)
{
    m_resultsNotice->setText(html);
    m_resultsNotice->setVisible(!html.isEmpty());
}

void MainWindow::onSearchFinished(int, const engine::SearchResult &result)
{
    m_searchBusy->hide();
    QList<ResultRow> rows;
    rows.reserve(result.hits.size());
    for (const engine::SearchHit &hit : result.hits)
        rows.append(ResultRow::fromHit(hit));
    m_results->setResults(std::move(rows));
    m_preview->clear();
    m_controller->cancelAsk();  // its item may not be among the new results
    m_ask->setTarget(std::nullopt);
    const QString what = result.source.isEmpty()
                             ? tr("“%1”").arg(result.query.toHtmlEscaped())
                             : tr("items like %1").arg(QFileInfo(m_lastSimilar).fileName().toHtmlEscaped());
    if (result.hits.isEmpty())
        showResultsNotice(currentFilter().isEmpty()
                              ? tr("<b>Nothing found</b> for %1. Is the library indexed?").arg(what)
                              : tr("<b>Nothing found</b> for %1 with these filters.").arg(what));
    else if (result.noGoodMatch)
        showResultsNotice(tr("<b>No good match</b> for %1: the closest items are shown, but none of them "
                             "really matches (best match probability %2%).")
                              .arg(what)
                              .arg(qRound(result.bestItmProbability.value_or(0) * 100)));
    else if (!result.source.isEmpty())
        showResultsNotice(tr("Items that look like <b>%1</b>.").arg(QFileInfo(m_lastSimilar).fileName().toHtmlEscaped()));
    else
        showResultsNotice({});
    const QString found = result.hits.size() == 1 ? tr("1 result") : tr("%1 results").arg(result.hits.size());
    statusBar()->showMessage(tr("%1 in %2 ms").arg(found).arg(result.timings.totalMs, 0, 'f', 0),
                             messageTimeoutMs);
    emit resultsShown(true);
}

void MainWindow::onSearchFailed(int, const QString &error)
{
    m_searchBusy->hide();
    m_results->clear();
    m_preview->clear();
    m_ask->setTarget(std::nullopt);
    showResultsNotice(tr("<b>The search failed.</b> %1").arg(error.toHtmlEscaped()));
    statusBar()->showMessage(error, messageTimeoutMs);
    emit resultsShown(false);
}

std::optional<int> MainWindow::currentRow() const
{
    const QModelIndex i = m_resultsView->currentIndex();
    if (!i.isValid() || i.row() >= m_results->rowCount())
        return std::nullopt;
    return i.row();
}

void MainWindow::onSelectionChanged()
{
    const std::optional<int> row = currentRow();
    // A question running about the item that was selected is not wanted any more.
    const QString selected = row ? m_results->row(*row).path : QString();
    if (m_controller->isAsking() && (!m_ask->target() || m_ask->target()->path != selected))
        m_controller->cancelAsk();
    if (!row) {
        m_preview->clear();
        m_ask->setTarget(std::nullopt);
        return;
    }
    const ResultRow &r = m_results->row(*row);
    std::optional<catalog::Item> item;
    if (m_engine->catalog()) {
        try {
            item = m_engine->catalog()->itemByPath(r.path);
        } catch (const std::exception &) {
            // metadata from the hit and the file only
        }
    }
    m_preview->showResult(r, item);
    m_ask->setTarget(r, m_preview->currentTimeMs());
    emit previewShown(r.path);
}

void MainWindow::onAskRequested()
{
    const std::optional<ResultRow> &target = m_ask->target();
    const QString question = m_ask->question();
    if (!target || question.isEmpty())
        return;
    AskTarget t;
    t.path = target->path;
    t.type = target->type;
    if (target->isVideo() && m_ask->scope() == AskPanel::Scope::Moment) {
        const std::int64_t ms = m_ask->momentMs() >= 0 ? m_ask->momentMs() : target->timeMs;
        // The middle of the moment: the frame its vector was made from.
        std::int64_t end = target->endMs;
        for (const MomentRow &m : target->moments)
            if (m.startMs == ms)
                end = m.endMs;
        t.atSec = double(ms + std::max<std::int64_t>(0, end - ms) / 2) / 1000.0;
    }
    engine::AskParams params;
    params.answers = m_ask->candidates();
    QString error;
    if (m_controller->ask(t, question, params, &error) < 0) {
        m_ask->showError(error);
        return;
    }
    m_ask->setBusy(true);
}

void MainWindow::togglePreview()
{
    m_previewAction->toggle();
}

void MainWindow::setListMode(bool list)
{
    if (m_listModeAction->isChecked() != list)
        m_listModeAction->setChecked(list);  // comes back here through toggled
    m_delegate->setLayout(list ? ResultDelegate::Layout::List : ResultDelegate::Layout::Grid);
    m_resultsView->setViewMode(list ? QListView::ListMode : QListView::IconMode);
    m_resultsView->setFlow(list ? QListView::TopToBottom : QListView::LeftToRight);
    m_resultsView->setWrapping(!list);
    m_resultsView->setSpacing(list ? 0 : 4);
    m_resultsView->setMovement(QListView::Static);
    m_resultsView->setResizeMode(QListView::Adjust);
    updateThumbnailSize();
    Settings().setValue(settings::resultsViewMode, list ? QStringLiteral("list") : QStringLiteral("grid"));
}

void MainWindow::updateThumbnailSize()
{
    const int edge = Settings().value(settings::thumbnailSize);
    m_delegate->setThumbnailSize(edge);
    const QSize box = m_delegate->thumbnailBox();
    m_resultsView->setIconSize(box);
    m_results->setThumbnails(m_thumbnails, box, devicePixelRatioF());
    m_resultsView->doItemsLayout();
}

void MainWindow::showResultsMenu(const QPoint &pos)
{
    const QModelIndex index = m_resultsView->indexAt(pos);
    if (!index.isValid())
        return;
    // Right-click on a selected result keeps the selection (to act on all of it);
    // elsewhere it selects just that result, as file managers do.
    QItemSelectionModel *selection = m_resultsView->selectionModel();
    selection->setCurrentIndex(index, selection->isSelected(index) ? QItemSelectionModel::NoUpdate
                                                                   : QItemSelectionModel::ClearAndSelect);
    const ResultRow r = m_results->row(index.row());
    QMenu menu(this);
    menu.setObjectName(QStringLiteral("resultsMenu"));
    menu.addAction(tr("&Open"), this, [this, r] {
        QString error;
        if (!openItem(r.path, r.isVideo() ? r.timeMs : -1, &error))
            statusBar()->showMessage(error, messageTimeoutMs);
    });
    menu.addAction(tr("Show in &Folder"), this, [this, r] {
        QString error;
        if (!showInFolder(r.path, &error))
            statusBar()->showMessage(error, messageTimeoutMs);
    });
    menu.addAction(tr("&Copy Path"), this, [this, r] {
        copyPath(r.path);
        statusBar()->showMessage(tr("Copied %1").arg(QDir::toNativeSeparators(r.path)), messageTimeoutMs);
    });
    QAction *similar = menu.addAction(tr("Find &Similar"), this, [this, r] { findSimilar(r.path); });
    similar->setEnabled(!r.isVideo());
    menu.addSeparator();
    menu.addAction(tr("&Ask About It…"), this, [this] {
        if (!m_previewAction->isChecked())
            m_previewAction->setChecked(true);
        if (auto *q = m_ask->findChild<QLineEdit *>(QStringLiteral("askQuestion")))
            q->setFocus(Qt::OtherFocusReason);
    });
    QStringList teachPaths; // the selected photos (videos cannot be labelled)
    for (const QModelIndex &i : selection->selectedIndexes())
        if (const ResultRow s = m_results->row(i.row()); !s.isVideo() && !teachPaths.contains(s.path))
            teachPaths << s.path;
    const QString teachText = teachPaths.size() > 1
        ? tr("&Teach a Name for the %n Selected Photos…", nullptr, int(teachPaths.size()))
        : tr("&Teach a Name for This Photo…");
    QAction *teachSelected = menu.addAction(teachText, this, [this, teachPaths] {
        if (auto *teach = findChild<QAction *>(QStringLiteral("actionTeach"))) {
            teach->setData(teachPaths);
            teach->trigger();
        }
    });
    teachSelected->setObjectName(QStringLiteral("actionTeachSelected"));
    teachSelected->setEnabled(!teachPaths.isEmpty());
    menu.exec(m_resultsView->viewport()->mapToGlobal(pos));
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
    m_searchField->setFocus(Qt::ShortcutFocusReason);
    m_searchField->selectAll();
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
