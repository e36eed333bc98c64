#include "ui/trainwizard/trainexamplespage.h"

#include "engine/engine.h"
#include "engine/trainingpreview.h"
#include "ui/thumbnailprovider.h"
#include "ui/trainwizard/traingoalpage.h"
#include "ui/trainwizard/workerengine.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QListWidget>
#include <QPointer>
#include <QPushButton>
#include <QStandardItemModel>
#include <QThreadPool>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>

namespace unisearch::ui {

namespace {

constexpr int kListLimit = 2000; // items shown at once; the filter finds the others

// The library's photos: a thumbnail is asked for only when the view shows the item
// (views ask for the decoration of visible items only), so a long list loads lazily.
class LibraryModel : public QStandardItemModel
{
public:
    using QStandardItemModel::QStandardItemModel;
    static constexpr int pathRole = Qt::UserRole;
    static constexpr int keyRole = Qt::UserRole + 1;
    static QSize thumbSize() { return {192, 192}; }
    ThumbnailProvider *thumbnails = nullptr;
    QHash<QString, int> rowOfKey;
    // Every cell's size, thumbnail or not yet: the view (uniform item sizes) lays all
    // items out at the first one's size, asked before any thumbnail has arrived.
    QSize cellSize;

    QVariant data(const QModelIndex &index, int role) const override
    {
        if (role == Qt::SizeHintRole && cellSize.isValid())
            return cellSize;
        QVariant v = QStandardItemModel::data(index, role);
        if (role != Qt::DecorationRole || v.isValid() || !thumbnails)
            return v;
        const QImage img = thumbnails->request(index.data(pathRole).toString(), catalog::ItemType::Image, 0, thumbSize());
        return img.isNull() ? QVariant() : QVariant(QIcon(QPixmap::fromImage(img)));
    }
};

} // namespace

TrainExamplesPage::TrainExamplesPage(engine::Engine *engine, const TrainGoalPage *goal, ThumbnailProvider *thumbnails,
                                     QThreadPool *pool, QWidget *parent)
    : QWizardPage(parent)
    , m_engine(engine)
    , m_goal(goal)
    , m_thumbnails(thumbnails)
    , m_pool(pool)
{
    setTitle(tr("Examples"));
    setSubTitle(tr("Select photos of the library and label them, or import a file of labelled photos. "
                   "Both count."));
    m_libraryFilter = new QLineEdit;
    m_libraryFilter->setObjectName(QStringLiteral("libraryFilter"));
    m_libraryFilter->setPlaceholderText(tr("Filter by path; press Enter to search by meaning"));
    m_libraryFilter->setClearButtonEnabled(true);
    m_filterTimer = new QTimer(this);
    m_filterTimer->setSingleShot(true);
    m_filterTimer->setInterval(250);
    connect(m_filterTimer, &QTimer::timeout, this, &TrainExamplesPage::listLibrary);
    connect(m_libraryFilter, &QLineEdit::textEdited, m_filterTimer, qOverload<>(&QTimer::start));
    connect(m_libraryFilter, &QLineEdit::returnPressed, this, [this] {
        m_filterTimer->stop();
        if (m_libraryFilter->text().trimmed().isEmpty())
            listLibrary();
        else
            searchLibrary();
    });
    auto *searchButton = new QPushButton(tr("Search"));
    searchButton->setObjectName(QStringLiteral("librarySearch"));
    searchButton->setToolTip(tr("Find photos by what they show (a text search with the model in use)"));
    connect(searchButton, &QPushButton::clicked, this, &TrainExamplesPage::searchLibrary);
    auto *libraryModel = new LibraryModel(this);
    m_libraryModel = libraryModel;
    m_libraryView = new QListView;
    m_libraryView->setObjectName(QStringLiteral("libraryView"));
    m_libraryView->setModel(m_libraryModel);
    m_libraryView->setViewMode(QListView::IconMode);
    m_libraryView->setIconSize(QSize(96, 96));
    libraryModel->cellSize = QSize(104, 96 + 2 * m_libraryView->fontMetrics().height());
    m_libraryView->setGridSize(libraryModel->cellSize + QSize(8, 8));
    m_libraryView->setTextElideMode(Qt::ElideMiddle);
    m_libraryView->setResizeMode(QListView::Adjust);
    m_libraryView->setMovement(QListView::Static);
    m_libraryView->setUniformItemSizes(true);
    m_libraryView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_libraryView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_libraryView->setMinimumHeight(150);
    m_libraryNote = new QLabel;
    m_libraryNote->setObjectName(QStringLiteral("libraryNote"));
    m_labelCaption = new QLabel;
    m_labelText = new QLineEdit;
    m_labelText->setObjectName(QStringLiteral("labelText"));
    m_answerText = new QLineEdit;
    m_answerText->setObjectName(QStringLiteral("answerText"));
    m_answerText->setPlaceholderText(tr("Answer"));
    m_addPicked = new QPushButton(tr("Add for Selected"));
    m_addPicked->setObjectName(QStringLiteral("addPicked"));
    connect(m_addPicked, &QPushButton::clicked, this, &TrainExamplesPage::addPicked);
    connect(m_labelText, &QLineEdit::returnPressed, this, &TrainExamplesPage::addPicked);
    m_pickedList = new QListWidget;
    m_pickedList->setObjectName(QStringLiteral("pickedList"));
    m_pickedList->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_pickedList->setMaximumHeight(110);
    auto *removePicked = new QPushButton(tr("Remove"));
    removePicked->setObjectName(QStringLiteral("removePicked"));
    connect(removePicked, &QPushButton::clicked, this, &TrainExamplesPage::removePicked);

    m_dataFile = new QLineEdit;
    m_dataFile->setObjectName(QStringLiteral("dataFile"));
    m_dataFile->setPlaceholderText(tr("CSV: path,caption (third column “name” for names; questions: "
                                      "path,question,answer) or JSON (COCO captions, the VQA list)"));
    auto *browse = new QPushButton(tr("Choose…"));
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Training examples"), {},
                                                       tr("Examples (*.csv *.json);;All files (*)"));
        if (!f.isEmpty())
            m_dataFile->setText(f);
    });
    m_countLabel = new QLabel;
    m_countLabel->setObjectName(QStringLiteral("countLabel"));
    m_countLabel->setWordWrap(true);
    auto *filterRow = new QHBoxLayout;
    filterRow->addWidget(m_libraryFilter, 1);
    filterRow->addWidget(searchButton);
    auto *labelRow = new QHBoxLayout;
    labelRow->addWidget(m_labelCaption);
    labelRow->addWidget(m_labelText, 2);
    labelRow->addWidget(m_answerText, 1);
    labelRow->addWidget(m_addPicked);
    auto *pickedRow = new QHBoxLayout;
    pickedRow->addWidget(m_pickedList, 1);
    pickedRow->addWidget(removePicked, 0, Qt::AlignTop);
    auto *fileRow = new QHBoxLayout;
    fileRow->addWidget(new QLabel(tr("Or from a file:")));
    fileRow->addWidget(m_dataFile, 1);
    fileRow->addWidget(browse);
    auto *exLayout = new QVBoxLayout(this);
    exLayout->addLayout(filterRow);
    exLayout->addWidget(m_libraryView, 1);
    exLayout->addWidget(m_libraryNote);
    exLayout->addLayout(labelRow);
    exLayout->addLayout(pickedRow);
    exLayout->addLayout(fileRow);
    exLayout->addWidget(m_countLabel);
    connect(m_dataFile, &QLineEdit::textChanged, this, [this] {
        countExamples();
        emit completeChanged();
    });
    connect(this, &TrainExamplesPage::examplesChanged, this, &TrainExamplesPage::completeChanged);
    libraryModel->thumbnails = m_thumbnails;
    if (m_thumbnails)
        connect(m_thumbnails, &ThumbnailProvider::thumbnailReady, this, &TrainExamplesPage::onThumbnail);
    updateGoalWidgets();
}

TrainExamplesPage::~TrainExamplesPage()
{
    m_listGeneration++; // a listing still on the pool is not shown
}

bool TrainExamplesPage::isComplete() const
{
    return m_exampleCount > 0;
}

void TrainExamplesPage::initializePage()
{
    updateGoalWidgets();
    // Labels of another goal do not apply to this one.
    m_picked.erase(std::remove_if(m_picked.begin(), m_picked.end(),
                                  [this](const Picked &p) { return p.kind != pickedKind(); }),
                   m_picked.end());
    refreshPickedList();
    countExamples();
    if (m_libraryModel->rowCount() == 0 && !m_listing)
        listLibrary();
}

void TrainExamplesPage::onThumbnail(const QString &key)
{
    auto *model = static_cast<LibraryModel *>(m_libraryModel);
    if (QStandardItem *it = model->item(model->rowOfKey.value(key, -1))) {
        const QImage img = m_thumbnails->request(it->data(LibraryModel::pathRole).toString(),
                                                 catalog::ItemType::Image, 0, LibraryModel::thumbSize());
        if (!img.isNull())
            it->setIcon(QIcon(QPixmap::fromImage(img))); // kept: no conversion on each paint
    }
}

QString TrainExamplesPage::pickedKind() const
{
    return m_goal->pickedKind();
}

void TrainExamplesPage::updateGoalWidgets()
{
    const QString kind = pickedKind();
    m_answerText->setVisible(kind == QLatin1String("qa"));
    if (kind == QLatin1String("name")) {
        m_labelCaption->setText(tr("Name:"));
        m_labelText->setPlaceholderText(tr("Who or what the selected photos show (“Shrek”)"));
    } else if (kind == QLatin1String("caption")) {
        m_labelCaption->setText(tr("Caption:"));
        m_labelText->setPlaceholderText(tr("A description of the selected photos"));
    } else {
        m_labelCaption->setText(tr("Question:"));
        m_labelText->setPlaceholderText(tr("A question about the selected photos"));
    }
}

void TrainExamplesPage::setPreselectedItems(const QStringList &paths)
{
    m_preselected = paths;
    // Shown (and selected) when the list arrives; listed already: select them now.
    if (m_libraryModel->rowCount() > 0)
        showLibrary(listedItems(), m_libraryNote->text());
}

QStringList TrainExamplesPage::listedItems() const
{
    QStringList paths;
    for (int r = 0; r < m_libraryModel->rowCount(); ++r)
        paths << m_libraryModel->item(r)->data(Qt::UserRole).toString();
    return paths;
}

void TrainExamplesPage::finishListing(int generation, const QStringList &paths, const QString &note)
{
    if (generation != m_listGeneration)
        return;
    m_listing = false;
    showLibrary(paths, note);
}

void TrainExamplesPage::postListing(const QPointer<TrainExamplesPage> &self, int generation, const QStringList &paths,
                                    const QString &note)
{
    QMetaObject::invokeMethod(
        self.data(),
        [self, generation, paths, note] {
            if (self)
                self->finishListing(generation, paths, note);
        },
        Qt::QueuedConnection);
}

void TrainExamplesPage::listLibrary()
{
    if (!m_engine)
        return;
    const int generation = ++m_listGeneration;
    m_listing = true;
    m_libraryNote->setText(tr("Reading the library…"));
    const QString filter = m_libraryFilter->text().trimmed();
    const QString dataDir = m_engine->dataDir();
    QPointer<TrainExamplesPage> self(this);
    m_pool->start([self, generation, filter, dataDir] {
        engine::Engine worker;
        QString error;
        QStringList paths;
        int matching = 0;
        if (openWorkerEngine(worker, dataDir, QStringLiteral("cpu"), &error)) {
            if (auto listed = engine::libraryImages(worker, filter, kListLimit, &error)) {
                for (const auto &i : std::as_const(listed->images))
                    paths << i.path;
                matching = listed->matching;
            }
        }
        const QString note = !error.isEmpty() ? error
            : matching == 0                   ? tr("No indexed photos match; add and index a folder first.")
            : matching > paths.size()         ? tr("Showing %1 of %2 photos; filter to find the others.")
                                                    .arg(paths.size())
                                                    .arg(matching)
                                              : tr("%n photo(s).", nullptr, matching);
        postListing(self, generation, paths, note);
    });
}

void TrainExamplesPage::searchLibrary()
{
    m_filterTimer->stop(); // the search replaces the path filter's listing
    const QString text = m_libraryFilter->text().trimmed();
    if (!m_engine || text.isEmpty())
        return;
    const int generation = ++m_listGeneration;
    m_listing = true;
    m_libraryNote->setText(tr("Searching…"));
    const QString dataDir = m_engine->dataDir();
    const QString device = m_engine->device();
    QPointer<TrainExamplesPage> self(this);
    m_pool->start([self, generation, text, dataDir, device] {
        engine::Engine worker;
        QString error;
        QStringList paths;
        if (openWorkerEngine(worker, dataDir, device, &error)) {
            if (auto found = engine::searchLibraryImages(worker, text, 100, &error))
                paths = *found;
        }
        const QString note = !error.isEmpty()
            ? error
            : tr("The %1 best matches for “%2”, best first.").arg(paths.size()).arg(text);
        postListing(self, generation, paths, note);
    });
}

void TrainExamplesPage::showLibrary(const QStringList &given, const QString &note)
{
    QStringList paths = given;
    for (const QString &p : std::as_const(m_preselected))
        if (!paths.contains(p))
            paths.prepend(p);
    auto *model = static_cast<LibraryModel *>(m_libraryModel);
    model->clear();
    model->rowOfKey.clear();
    if (m_thumbnails)
        m_thumbnails->cancelPending();
    QList<QStandardItem *> items;
    for (const QString &path : std::as_const(paths)) {
        auto *item = new QStandardItem(QFileInfo(path).fileName());
        item->setData(path, LibraryModel::pathRole);
        item->setToolTip(QDir::toNativeSeparators(path));
        const QString key = ThumbnailProvider::key(path, 0, LibraryModel::thumbSize());
        item->setData(key, LibraryModel::keyRole);
        model->rowOfKey.insert(key, int(items.size()));
        items.append(item);
    }
    model->invisibleRootItem()->appendRows(items); // one insert for the view
    m_libraryNote->setText(note);
    if (!m_preselected.isEmpty()) {
        QItemSelection selection;
        for (int r = 0; r < m_libraryModel->rowCount(); ++r)
            if (m_preselected.contains(m_libraryModel->item(r)->data(Qt::UserRole).toString()))
                selection.select(m_libraryModel->index(r, 0), m_libraryModel->index(r, 0));
        m_libraryView->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
        m_preselected.clear();
        m_labelText->setFocus(Qt::OtherFocusReason);
    }
}

void TrainExamplesPage::addPicked()
{
    const QString text = m_labelText->text().trimmed();
    const QString answer = m_answerText->text().trimmed();
    const QString kind = pickedKind();
    const QModelIndexList rows = m_libraryView->selectionModel()->selectedIndexes();
    if (text.isEmpty() || rows.isEmpty() || (kind == QLatin1String("qa") && answer.isEmpty())) {
        m_libraryNote->setText(rows.isEmpty() ? tr("Select photos first.")
                                              : kind == QLatin1String("qa") ? tr("Type a question and its answer.")
                                                                            : tr("Type the label first."));
        return;
    }
    for (const QModelIndex &i : rows) {
        Picked p{i.data(Qt::UserRole).toString(), kind, text, kind == QLatin1String("qa") ? answer : QString()};
        const bool known = std::any_of(m_picked.cbegin(), m_picked.cend(), [&](const Picked &q) {
            return q.path == p.path && q.kind == p.kind && q.text == p.text && q.answer == p.answer;
        });
        if (!known)
            m_picked.append(p);
    }
    m_labelText->clear();
    m_answerText->clear();
    refreshPickedList();
    countExamples();
}

void TrainExamplesPage::removePicked()
{
    QList<int> rows;
    for (const QListWidgetItem *item : m_pickedList->selectedItems())
        rows << m_pickedList->row(item);
    std::sort(rows.rbegin(), rows.rend());
    for (int r : rows)
        if (r >= 0 && r < m_picked.size())
            m_picked.removeAt(r);
    refreshPickedList();
    countExamples();
}

void TrainExamplesPage::refreshPickedList()
{
    m_pickedList->clear();
    for (const Picked &p : std::as_const(m_picked)) {
        const QString file = QFileInfo(p.path).fileName();
        QString text = p.kind == QLatin1String("name")      ? tr("name “%1” — %2").arg(p.text, file)
            : p.kind == QLatin1String("caption")            ? tr("“%1” — %2").arg(p.text, file)
                                                            : tr("“%1” → “%2” — %3").arg(p.text, p.answer, file);
        auto *item = new QListWidgetItem(text, m_pickedList);
        item->setToolTip(QDir::toNativeSeparators(p.path));
    }
}

QList<engine::LabelledExample> TrainExamplesPage::examples() const
{
    QList<engine::LabelledExample> out = m_fileExamples;
    const QString kind = pickedKind();
    for (const Picked &p : m_picked) {
        if (p.kind != kind)
            continue;
        if (kind == QLatin1String("name")) {
            for (const QString &t : engine::nameTemplates(p.text))
                out.append({p.path, t, {}, p.text});
        } else if (kind == QLatin1String("caption")) {
            out.append({p.path, p.text, {}, {}});
        } else {
            out.append({p.path, p.text, {p.answer}, {}});
        }
    }
    return out;
}

QStringList TrainExamplesPage::taughtNames() const
{
    QStringList names;
    for (const Picked &p : std::as_const(m_picked))
        if (p.kind == QLatin1String("name") && !names.contains(p.text))
            names << p.text;
    for (const auto &e : std::as_const(m_fileExamples))
        if (!e.name.isEmpty() && !names.contains(e.name) && names.size() < 5)
            names << e.name;
    return names.mid(0, 5);
}

void TrainExamplesPage::countExamples()
{
    m_exampleCount = 0;
    m_fileExamples.clear();
    const QString file = m_dataFile->text().trimmed();
    QString fileProblem;
    if (!file.isEmpty()) {
        QString error;
        if (const auto read = engine::readTrainingFile(file, m_goal->task(), &error))
            m_fileExamples = *read;
        else
            fileProblem = error;
    }
    const int picked = int(examples().size() - m_fileExamples.size());
    if (!fileProblem.isEmpty()) {
        // The file has to be fixed or cleared before training.
        m_countLabel->setText(fileProblem);
        emit examplesChanged();
        return;
    }
    m_exampleCount = int(m_fileExamples.size()) + picked;
    QString text;
    if (m_exampleCount == 0) {
        text = tr("Select photos above and label them, or choose a file of examples.");
    } else {
        text = tr("%n example(s)", nullptr, m_exampleCount);
        if (picked > 0 && !m_fileExamples.isEmpty())
            text += QLatin1Char(' ') + tr("(%1 from the file, %2 picked in the library)").arg(m_fileExamples.size()).arg(picked);
        text += QLatin1Char('.');
        if (m_exampleCount < engine::fewTrainingExamples)
            text += QLatin1Char(' ') + tr("That is few: a few dozen examples teach a word reliably.");
    }
    m_countLabel->setText(text);
    emit examplesChanged();
}

} // namespace unisearch::ui
