#include "ui/searchcontroller.h"

#include "engine/engine.h"
#include "engine/query.h"
#include "ui/enginecontroller.h"
#include "ui/resultdelegate.h"
#include "ui/searchfield.h"
#include "ui/thumbnailprovider.h"
#include "ui/timelinemodel.h"
#include "ui/timelineview.h"
#include "ui/uisettings.h"
#include "util/settings.h"

#include <QAbstractItemView>
#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QCompleter>
#include <QDateEdit>
#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QLocale>
#include <QMimeDatabase>
#include <QMenu>
#include <QProgressBar>
#include <QStackedWidget>
#include <QStringListModel>
#include <QToolButton>
#include <QVBoxLayout>
#include <QWidgetAction>

#include <algorithm>

namespace unisearch::ui {

namespace {

constexpr int messageTimeoutMs = 8000;

// The row of the result for path; -1 when it is not among them.
int rowOf(const ResultsModel &m, const QString &path)
{
    for (int i = 0; i < m.rowCount(); ++i)
        if (m.row(i).path == path)
            return i;
    return -1;
}

} // namespace

SearchController::SearchController(engine::Engine *engine, EngineController *controller,
                                   ThumbnailProvider *thumbnails, QAction *listModeAction, QWidget *window)
    : QObject(window), m_engine(engine), m_controller(controller), m_thumbnails(thumbnails),
      m_listModeAction(listModeAction), m_window(window)
{
    createQueryRow();
    m_filterBar = createFilterBar();
    m_resultsNotice = new QLabel(window);
    m_resultsNotice->setObjectName(QStringLiteral("resultsNotice"));
    m_resultsNotice->setWordWrap(true);
    m_resultsNotice->setTextFormat(Qt::RichText);
    m_resultsNotice->hide();
    createResultsView();
    createTimelineView();

    connect(m_controller, &EngineController::searchFinished, this, &SearchController::onSearchFinished);
    connect(m_controller, &EngineController::searchFailed, this, &SearchController::onSearchFailed);
    connect(m_controller, &EngineController::searchUpdated, this, &SearchController::onSearchUpdated);
    connect(m_listModeAction, &QAction::toggled, this, &SearchController::setListMode);
    const bool list = Settings().value(settings::resultsViewMode) == QLatin1String("list");
    m_listModeAction->setChecked(list);
    setListMode(list);
}

void SearchController::addTo(QVBoxLayout *layout)
{
    auto *searchRow = new QHBoxLayout;
    searchRow->addWidget(m_searchField, 1);
    searchRow->addWidget(m_searchBusy);
    layout->addLayout(searchRow);
    layout->addWidget(m_filterBar);
    layout->addWidget(m_resultsNotice);
}

void SearchController::createQueryRow()
{
    m_searchField = new SearchField(m_window);
    m_searchField->setObjectName(QStringLiteral("searchField"));
    m_searchField->setPlaceholderText(tr("Describe what you are looking for, e.g. “my dog asleep on the red sofa” "
                                         "(Ctrl+F)"));
    m_searchField->setClearButtonEnabled(true);
    m_searchField->setToolTip(tr("Combine terms with “ + ” and “ - ” (spaces around the sign), weigh one with "
                                 "“2:”, name a photo by its path or drop it here: "
                                 "“2:a dog on the beach - people + ~/beach.jpg”. Quote a term to search for "
                                 "it as text."));
    connect(m_searchField, &QLineEdit::returnPressed, this, &SearchController::startSearch);
    // Clearing the query goes back to the library's timeline.
    connect(m_searchField, &QLineEdit::textChanged, this, [this](const QString &text) {
        if (text.trimmed().isEmpty() && !timelineShown())
            showTimeline();
    });
    connect(m_searchField, &SearchField::filesDropped, this, &SearchController::addFileTerms);
    // Earlier queries complete what is typed (anywhere in the query, any case).
    m_historyModel = new QStringListModel(Settings().value(settings::searchHistory), this);
    m_completer = new QCompleter(m_historyModel, this);
    m_completer->setObjectName(QStringLiteral("searchCompleter"));
    m_completer->setCaseSensitivity(Qt::CaseInsensitive);
    m_completer->setFilterMode(Qt::MatchContains);
    m_completer->setCompletionMode(QCompleter::PopupCompletion);
    m_searchField->setCompleter(m_completer);
    m_searchField->installEventFilter(this);  // Down opens the history
    m_searchBusy = new QProgressBar(m_window);
    m_searchBusy->setObjectName(QStringLiteral("searchBusy"));
    m_searchBusy->setRange(0, 0);
    m_searchBusy->setMaximumWidth(80);
    m_searchBusy->setTextVisible(false);
    m_searchBusy->hide();
}

QWidget *SearchController::createFilterBar()
{
    auto *bar = new QWidget(m_window);
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
    m_sort->addItem(tr("Best match"), QStringLiteral("relevance"));
    m_sort->addItem(tr("Newest first"), QStringLiteral("newest"));
    m_sort->addItem(tr("Oldest first"), QStringLiteral("oldest"));
    m_sort->setCurrentIndex(std::max(0, m_sort->findData(Settings().value(settings::resultsSort))));
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
    connect(m_sort, &QComboBox::currentIndexChanged, this, [this] {
        Settings().setValue(settings::resultsSort, m_sort->currentData().toString());
        showSortedResults();
    });
    return bar;
}

void SearchController::createResultsView()
{
    m_results = new ResultsModel(this);
    m_delegate = new ResultDelegate(this);
    m_resultsView = new QListView(m_window);
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
    connect(m_resultsView, &QWidget::customContextMenuRequested, this, &SearchController::showResultsMenu);
    connect(m_resultsView->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &SearchController::currentResultChanged);
    connect(m_resultsView, &QAbstractItemView::activated, this, [this](const QModelIndex &index) {
        const ResultRow &r = m_results->row(index.row());
        emit openRequested(r.path, r.isVideo() ? r.timeMs : -1);
    });
    // Space shows or hides the preview while the results have the focus.
    auto *space = new QAction(m_resultsView);
    space->setShortcut(QKeySequence(Qt::Key_Space));
    space->setShortcutContext(Qt::WidgetShortcut);
    connect(space, &QAction::triggered, this, &SearchController::previewToggleRequested);
    m_resultsView->addAction(space);
    keepGridFitted(m_resultsView, m_delegate);
}

void SearchController::createTimelineView()
{
    m_timelineModel = new TimelineModel(this);
    m_timelineModel->open(m_engine->dataDir());  // no catalog yet: empty until the first refresh
    m_timeline = new TimelineView(m_window);
    m_timeline->setObjectName(QStringLiteral("timelineView"));
    m_timeline->setTimelineModel(m_timelineModel);
    connect(m_timeline, &QWidget::customContextMenuRequested, this, &SearchController::showResultsMenu);
    connect(m_timeline->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &SearchController::currentResultChanged);
    connect(m_timeline, &QAbstractItemView::activated, this, [this](const QModelIndex &index) {
        emit openRequested(m_timelineModel->row(index.row()).path, -1);
    });
    auto *space = new QAction(m_timeline);
    space->setShortcut(QKeySequence(Qt::Key_Space));
    space->setShortcutContext(Qt::WidgetShortcut);
    connect(space, &QAction::triggered, this, &SearchController::previewToggleRequested);
    m_timeline->addAction(space);
    m_resultsArea = new QStackedWidget(m_window);
    m_resultsArea->setObjectName(QStringLiteral("resultsArea"));
    m_resultsArea->addWidget(m_timeline);
    m_resultsArea->addWidget(m_resultsView);
    showLibraryView();
}

void SearchController::showLibraryView()
{
    // An empty library keeps the (empty) results view, under the notice saying what to do.
    m_resultsArea->setCurrentWidget(m_timelineModel->rowCount() > 0 ? static_cast<QWidget *>(m_timeline)
                                                                     : m_resultsView);
}

QWidget *SearchController::resultsArea() const
{
    return m_resultsArea;
}

bool SearchController::timelineShown() const
{
    return m_resultsArea->currentWidget() == m_timeline;
}

void SearchController::showTimeline()
{
    m_lastQuery.clear();
    m_lastSimilar.clear();
    m_timelineModel->refresh();
    showLibraryView();
    showResultsNotice({});
    emit resultsReplaced();
}

void SearchController::showResultsView()
{
    m_resultsArea->setCurrentWidget(m_resultsView);
}

bool SearchController::eventFilter(QObject *watched, QEvent *event)
{
    // Down in the search field shows the earlier queries (all of them when it is empty).
    if (watched == m_searchField && event->type() == QEvent::KeyPress
        && static_cast<QKeyEvent *>(event)->key() == Qt::Key_Down && !m_completer->popup()->isVisible()
        && !m_historyModel->stringList().isEmpty()) {
        m_completer->setCompletionPrefix(m_searchField->text());
        m_completer->complete();
        return true;
    }
    return QObject::eventFilter(watched, event);
}

void SearchController::focusSearch()
{
    m_searchField->setFocus(Qt::ShortcutFocusReason);
    m_searchField->selectAll();
}

void SearchController::setFolders(const QStringList &folders)
{
    const QString current = m_folderFilter->currentData().toString();
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

void SearchController::showEmptyState(bool open, const engine::Status &status, const QStringList &folders)
{
    if (m_results->rowCount() != 0 || !m_lastQuery.isEmpty() || !m_lastSimilar.isEmpty())
        return;
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

QStringList SearchController::searchHistory() const
{
    return m_historyModel->stringList();
}

void SearchController::rememberQuery(const QString &query)
{
    QStringList history = m_historyModel->stringList();
    history.removeAll(query);
    history.prepend(query);
    while (history.size() > settings::searchHistoryLimit)
        history.removeLast();
    m_historyModel->setStringList(history);
    Settings().setValue(settings::searchHistory, history);
}

engine::SearchFilter SearchController::currentFilter() const
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

void SearchController::startSearch()
{
    const QString query = m_searchField->text().trimmed();
    if (query.isEmpty())
        return;
    // A mistake in a combined query is shown, not searched around.
    QString error;
    if (!engine::parseQuery(query, QDir::homePath(), &error)) {
        emit message(error, messageTimeoutMs);
        showResultsNotice(tr("<b>The query has a mistake.</b> %1").arg(error.toHtmlEscaped()));
        return;
    }
    rememberQuery(query);
    if (!m_engine->activeModel(engine::retrievalTask)) {
        const QString text = tr("Searching needs a model: import one first (Model → Import…).");
        emit message(text, messageTimeoutMs);
        showResultsNotice(tr("<b>No search model.</b> %1").arg(text.toHtmlEscaped()));
        return;
    }
    m_lastQuery = query;
    m_lastSimilar.clear();
    rerunSearch();
}

void SearchController::addFileTerms(const QStringList &paths)
{
    QStringList terms;
    QString error;
    for (const QString &path : paths) {
        const QString name = QFileInfo(path).fileName();
        const QString mime = QMimeDatabase().mimeTypeForFile(path).name();
        if (!mime.startsWith(QLatin1String("image/")) && !mime.startsWith(QLatin1String("video/"))) {
            error = tr("%1 is not an image or a video.").arg(name);
            break;
        }
        if (!path.contains(QLatin1String(" + ")) && !path.contains(QLatin1String(" - "))) {
            terms.append(QDir::cleanPath(path));
            continue;
        }
        // " + " or " - " in the path would split the term: an indexed file goes by its number.
        const std::optional<catalog::Item> item = m_engine->itemByPath(QFileInfo(path).canonicalFilePath());
        if (!item) {
            error = tr("%1 cannot be added to the query: its path holds “ + ” or “ - ”. Index its folder "
                       "first (it is then added as item:ID), or rename it.")
                        .arg(name);
            break;
        }
        terms.append(QStringLiteral("item:%1").arg(item->id));
    }
    if (!error.isEmpty()) {
        emit message(error, messageTimeoutMs);
        showResultsNotice(tr("<b>Not added to the query.</b> %1").arg(error.toHtmlEscaped()));
        return;
    }
    QString text = m_searchField->text().trimmed();
    for (const QString &term : std::as_const(terms))
        text += text.isEmpty() ? term : QStringLiteral(" + ") + term;
    m_searchField->setText(text);
    m_searchField->setFocus(Qt::OtherFocusReason);
}

void SearchController::findSimilar(const QString &path)
{
    if (!m_engine->activeModel(engine::retrievalTask))
        return;
    m_lastSimilar = path;
    m_lastQuery.clear();
    rerunSearch();
}

void SearchController::rerunSearch()
{
    if (m_lastQuery.isEmpty() && m_lastSimilar.isEmpty()) {
        m_timelineModel->refresh();  // the library changed: the timeline shows it
        if (m_searchField->text().trimmed().isEmpty())
            showLibraryView();
        return;
    }
    const Settings s;
    if (!m_lastQuery.isEmpty()) {
        engine::SearchParams params;
        params.text = m_lastQuery;
        params.baseDir = QDir::homePath();
        params.top = s.value(settings::resultCount);
        if (s.value(settings::rerank))
            params.rerank = true;  // else: the engine's default (on with CUDA)
        params.filter = currentFilter();
        m_controller->search(params);
        emit message(m_controller->searchModelState() == EngineController::ModelState::Ready
                         ? tr("Searching for “%1”…").arg(m_lastQuery)
                         : tr("Loading the search model; searching for “%1” when it is loaded…").arg(m_lastQuery),
                     0);
    } else {
        engine::SimilarParams params;
        params.top = s.value(settings::resultCount);
        params.filter = currentFilter();
        m_controller->similar(m_lastSimilar, params);
        emit message(tr("Looking for items like %1…").arg(QFileInfo(m_lastSimilar).fileName()), 0);
    }
    m_searchBusy->show();
}

void SearchController::showResultsNotice(const QString &html)
{
    m_resultsNotice->setText(html);
    m_resultsNotice->setVisible(!html.isEmpty());
}

// Sorting by capture time applies after the relevance cut-off and only reorders: of a
// re-ranked result the hits that reached the match threshold come first, by date, the others
// after them as ranked; otherwise the top K the search returned, by date.
void SearchController::showSortedResults(bool keepSelection)
{
    QList<engine::SearchHit> hits = m_lastResult.hits;
    const QString order = m_sort->currentData().toString();
    if (order != QLatin1String("relevance")) {
        const double threshold = engine::SearchParams{}.relevanceThreshold;
        const auto passed = [&](const engine::SearchHit &h) {
            return !m_lastResult.reranked || (h.itmProbability && *h.itmProbability >= threshold);
        };
        const auto good = std::stable_partition(hits.begin(), hits.end(), passed);
        const bool newest = order == QLatin1String("newest");
        std::stable_sort(hits.begin(), good, [newest](const engine::SearchHit &a, const engine::SearchHit &b) {
            return newest ? a.meta.takenLocalMs > b.meta.takenLocalMs : a.meta.takenLocalMs < b.meta.takenLocalMs;
        });
    }
    QList<ResultRow> rows;
    rows.reserve(hits.size());
    for (const engine::SearchHit &hit : hits)
        rows.append(ResultRow::fromHit(hit));
    if (keepSelection && m_results->reorderResults(rows))
        return;
    // Other items: the one the preview shows stays current when it is still among them.
    const std::optional<ResultRow> current = keepSelection ? currentResult() : std::nullopt;
    m_results->setResults(std::move(rows));
    if (const int row = current ? rowOf(*m_results, current->path) : -1; row >= 0)
        m_resultsView->setCurrentIndex(m_results->index(row));
}

// The store's order comes first (done 0), then the order after each re-ranked item: the same
// items re-ordered, so the selection and the preview stay on the item they show.
void SearchController::onSearchUpdated(int id, const engine::SearchResult &partial, int done, int total)
{
    if (id != m_controller->latestSearchId())
        return;
    const bool first = m_shownId != id;
    m_shownId = id;
    m_lastResult = partial;
    if (first) {
        showResultsView();
        showSortedResults();
        m_controller->cancelAsk();  // its item may not be among the new results
        emit resultsReplaced();
        showResultsNotice({});
    } else {
        showSortedResults(true);
    }
    emit message(tr("Re-ranking the results for “%1”: %2 of %3…").arg(partial.query).arg(done).arg(total), 0);
}

void SearchController::onSearchFinished(int id, const engine::SearchResult &result)
{
    m_searchBusy->hide();
    showResultsView();
    m_lastResult = result;
    // A re-rank whose results are shown already re-orders them; otherwise they are new.
    const bool progressive = m_shownId == id;
    m_shownId = id;
    showSortedResults(progressive);
    if (!progressive) {
        m_controller->cancelAsk();  // its item may not be among the new results
        emit resultsReplaced();
    }
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
    emit message(tr("%1 in %2 ms").arg(found).arg(result.timings.totalMs, 0, 'f', 0), messageTimeoutMs);
    emit resultsShown(true);
}

void SearchController::onSearchFailed(int, const QString &error)
{
    m_searchBusy->hide();
    showResultsView();
    m_results->clear();
    emit resultsReplaced();
    showResultsNotice(tr("<b>The search failed.</b> %1").arg(error.toHtmlEscaped()));
    emit message(error, messageTimeoutMs);
    emit resultsShown(false);
}

std::optional<ResultRow> SearchController::currentResult() const
{
    if (timelineShown()) {
        const QModelIndex t = m_timeline->currentIndex();
        if (!t.isValid() || t.row() >= m_timelineModel->rowCount())
            return std::nullopt;
        return m_timelineModel->row(t.row());
    }
    const QModelIndex i = m_resultsView->currentIndex();
    if (!i.isValid() || i.row() >= m_results->rowCount())
        return std::nullopt;
    return m_results->row(i.row());
}

void SearchController::setListMode(bool list)
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
    fitGridToView(m_resultsView, m_delegate);
    Settings().setValue(settings::resultsViewMode, list ? QStringLiteral("list") : QStringLiteral("grid"));
}

void SearchController::updateThumbnailSize()
{
    const int edge = Settings().value(settings::thumbnailSize);
    m_delegate->setThumbnailSize(edge);
    const QSize box = m_delegate->thumbnailBox();
    m_resultsView->setIconSize(box);
    m_results->setThumbnails(m_thumbnails, m_delegate->requestSize(), m_window->devicePixelRatioF());
    m_timeline->setThumbnailEdge(edge);
    m_timelineModel->setThumbnails(m_thumbnails, m_timeline->delegate()->requestSize(), m_window->devicePixelRatioF());
    m_resultsView->doItemsLayout();
}

void SearchController::showResultsMenu(const QPoint &pos)
{
    // The timeline's items take the same menu as results.
    QAbstractItemView *view = timelineShown() ? static_cast<QAbstractItemView *>(m_timeline) : m_resultsView;
    auto rowAt = [this](int i) { return timelineShown() ? m_timelineModel->row(i) : m_results->row(i); };
    const QModelIndex index = view->indexAt(pos);
    if (!index.isValid())
        return;
    // Right-click on a selected result keeps the selection (to act on all of it);
    // elsewhere it selects just that result, as file managers do.
    QItemSelectionModel *selection = view->selectionModel();
    selection->setCurrentIndex(index, selection->isSelected(index) ? QItemSelectionModel::NoUpdate
                                                                   : QItemSelectionModel::ClearAndSelect);
    const ResultRow r = rowAt(index.row());
    QMenu menu(m_window);
    menu.setObjectName(QStringLiteral("resultsMenu"));
    menu.addAction(tr("&Open"), this, [this, r] { emit openRequested(r.path, r.isVideo() ? r.timeMs : -1); });
    menu.addAction(tr("Show in &Folder"), this, [this, r] { emit showInFolderRequested(r.path); });
    menu.addAction(tr("&Copy Path"), this, [this, r] { emit copyPathRequested(r.path); });
    QAction *similar = menu.addAction(tr("Find &Similar"), this, [this, r] { findSimilar(r.path); });
    similar->setEnabled(!r.isVideo());
    menu.addSeparator();
    menu.addAction(tr("&Ask About It…"), this, &SearchController::askAboutRequested);
    QStringList teachPaths; // the selected photos (videos cannot be labelled)
    for (const QModelIndex &i : selection->selectedIndexes())
        if (const ResultRow s = rowAt(i.row()); !s.isVideo() && !teachPaths.contains(s.path))
            teachPaths << s.path;
    const QString teachText = teachPaths.size() > 1
        ? tr("&Teach a Name for the %n Selected Photos…", nullptr, int(teachPaths.size()))
        : tr("&Teach a Name for This Photo…");
    QAction *teachSelected = menu.addAction(teachText, this, [this, teachPaths] { emit teachRequested(teachPaths); });
    teachSelected->setObjectName(QStringLiteral("actionTeachSelected"));
    teachSelected->setEnabled(!teachPaths.isEmpty());
    menu.exec(view->viewport()->mapToGlobal(pos));
}

} // namespace unisearch::ui
