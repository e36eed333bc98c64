#include "ui/librarypanel.h"

#include "ui/durationtext.h"

#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>

#include <cmath>

namespace unisearch::ui {

namespace {

QStringList droppedFolders(const QMimeData *mime)
{
    QStringList out;
    if (!mime || !mime->hasUrls())
        return out;
    for (const QUrl &url : mime->urls())
        if (url.isLocalFile() && QFileInfo(url.toLocalFile()).isDir())
            out.append(QFileInfo(url.toLocalFile()).absoluteFilePath());
    return out;
}

} // namespace

LibraryPanel::LibraryPanel(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("libraryPanel"));
    setAcceptDrops(true);
    auto *layout = new QVBoxLayout(this);
    auto *form = new QFormLayout;
    auto label = [this](const char *name) {
        auto *l = new QLabel(this);
        l->setObjectName(QString::fromLatin1(name));
        l->setTextInteractionFlags(Qt::TextSelectableByMouse);
        l->setWordWrap(true);
        return l;
    };
    m_items = label("itemsLabel");
    m_vectors = label("vectorsLabel");
    m_errors = label("errorsLabel");
    m_model = label("modelLabel");
    m_compute = label("computeLabel");
    m_dataDir = label("dataDirLabel");
    m_activity = label("activityLabel");
    form->addRow(tr("Items:"), m_items);
    form->addRow(tr("Indexed:"), m_vectors);
    form->addRow(tr("Errors:"), m_errors);
    form->addRow(tr("Model:"), m_model);
    form->addRow(tr("Compute:"), m_compute);
    form->addRow(tr("Data:"), m_dataDir);
    form->addRow(tr("Activity:"), m_activity);
    layout->addLayout(form);

    // Indexing progress, shown while a run is going.
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("indexProgress"));
    m_progressText = label("indexProgressText");
    auto *jobButtons = new QHBoxLayout;
    m_pause = new QPushButton(tr("Pause"), this);
    m_pause->setObjectName(QStringLiteral("indexPause"));
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName(QStringLiteral("indexCancel"));
    jobButtons->addWidget(m_pause);
    jobButtons->addWidget(m_cancel);
    jobButtons->addStretch(1);
    layout->addWidget(m_progress);
    layout->addWidget(m_progressText);
    layout->addLayout(jobButtons);

    layout->addWidget(new QLabel(tr("Folders (drop folders here to add them):"), this));
    m_folders = new QListWidget(this);
    m_folders->setObjectName(QStringLiteral("foldersList"));
    m_folders->setSelectionMode(QAbstractItemView::ExtendedSelection);
    layout->addWidget(m_folders, 2);
    auto *folderButtons = new QHBoxLayout;
    m_add = new QPushButton(tr("Add…"), this);
    m_add->setObjectName(QStringLiteral("folderAdd"));
    m_add->setToolTip(tr("Add a folder to the library (Ctrl+O)"));
    m_remove = new QPushButton(tr("Remove"), this);
    m_remove->setObjectName(QStringLiteral("folderRemove"));
    m_remove->setToolTip(tr("Remove the selected folder from the library (the files stay on disk)"));
    m_rescan = new QPushButton(tr("Rescan"), this);
    m_rescan->setObjectName(QStringLiteral("folderRescan"));
    m_rescan->setToolTip(tr("Look for new, changed and deleted files and index them"));
    folderButtons->addWidget(m_add);
    folderButtons->addWidget(m_remove);
    folderButtons->addWidget(m_rescan);
    folderButtons->addStretch(1);
    layout->addLayout(folderButtons);

    layout->addWidget(new QLabel(tr("Files that could not be indexed:"), this));
    m_failures = new QTreeWidget(this);
    m_failures->setObjectName(QStringLiteral("failuresList"));
    m_failures->setHeaderLabels({tr("File"), tr("Why")});
    m_failures->setRootIsDecorated(false);
    m_failures->header()->setSectionResizeMode(0, QHeaderView::Interactive);
    layout->addWidget(m_failures, 1);

    connect(m_add, &QPushButton::clicked, this, &LibraryPanel::addFolderRequested);
    connect(m_remove, &QPushButton::clicked, this, [this] {
        for (const QString &f : selectedFolders())
            emit removeFolderRequested(f);
    });
    connect(m_rescan, &QPushButton::clicked, this, &LibraryPanel::rescanRequested);
    connect(m_pause, &QPushButton::clicked, this, [this] {
        if (m_paused)
            emit resumeRequested();
        else
            emit pauseRequested();
    });
    connect(m_cancel, &QPushButton::clicked, this, &LibraryPanel::cancelRequested);
    connect(m_folders, &QListWidget::itemSelectionChanged, this,
            [this] { m_remove->setEnabled(!m_running && !selectedFolders().isEmpty()); });
    setActivity({});
    setIndexing(false);
}

void LibraryPanel::setStatus(const engine::Status &status, const QStringList &folders)
{
    const auto &c = status.counts;
    // English plurals without a translation catalogue ("%n file(s)" would show as is).
    const auto count = [](qint64 n, const QString &one, const QString &many) {
        return n == 1 ? one : many.arg(n);
    };
    m_items->setText(count(c.images, tr("1 image"), tr("%1 images")) + QStringLiteral(", ")
                     + count(c.videos, tr("1 video"), tr("%1 videos")));
    m_vectors->setText(count(c.segments, tr("1 segment"), tr("%1 segments")) + QStringLiteral(", ")
                       + count(c.vectors, tr("1 vector"), tr("%1 vectors")));
    m_errors->setText(c.errors == 0 ? tr("none")
                                    : count(c.errors, tr("1 file could not be read"), tr("%1 files could not be read")));
    m_model->setText(status.activeModel.isEmpty() ? tr("none") : status.activeModel);
    m_compute->setText(tr("%1, %2 threads").arg(status.device.toUpper()).arg(status.threads));
    m_dataDir->setText(QDir::toNativeSeparators(status.dataDir));
    const QStringList selected = selectedFolders();
    m_folders->clear();
    for (const QString &f : folders) {
        auto *item = new QListWidgetItem(QDir::toNativeSeparators(f), m_folders);
        item->setData(Qt::UserRole, f);
        item->setToolTip(f);
        item->setSelected(selected.contains(f));
    }
    if (folders.isEmpty()) {
        auto *item = new QListWidgetItem(tr("No folders yet: add one, or drop it here."), m_folders);
        item->setFlags(Qt::NoItemFlags);
    }
    m_rescan->setEnabled(!m_running && !folders.isEmpty());
    m_remove->setEnabled(!m_running && !selectedFolders().isEmpty());
}

void LibraryPanel::setActivity(const QString &text)
{
    m_activity->setText(text.isEmpty() ? tr("Idle") : text);
}

void LibraryPanel::setIndexing(bool running, bool paused)
{
    m_running = running;
    m_paused = paused;
    m_progress->setVisible(running);
    m_progressText->setVisible(running);
    m_pause->setVisible(running);
    m_cancel->setVisible(running);
    m_pause->setText(paused ? tr("Resume") : tr("Pause"));
    m_rescan->setEnabled(!running && m_folders->count() > 0 && (m_folders->item(0)->flags() & Qt::ItemIsEnabled));
    m_remove->setEnabled(!running && !selectedFolders().isEmpty());
    if (running && !paused && m_progress->maximum() == 100 && m_progress->value() <= 0)
        m_progress->setRange(0, 0);  // busy until the first numbers arrive
}

QString LibraryPanel::describe(const engine::IndexProgress &p)
{
    using Stage = engine::IndexProgress::Stage;
    switch (p.stage) {
    case Stage::Scanning: return tr("Looking for photos and videos… %1 found").arg(p.scanned);
    case Stage::Comparing: return tr("Comparing %1 files with the library…").arg(p.scanned);
    case Stage::Finishing: return tr("Finishing…");
    case Stage::Ocr: return tr("Reading text in pictures… %1 of %2").arg(p.ocrDone).arg(p.ocrTotal);
    case Stage::Indexing: break;
    }
    QString text = tr("%1 of %2 files").arg(p.filesDone).arg(p.filesTotal);
    if (p.filesPerSecond > 0)
        text += tr(" · %1 files/s").arg(p.filesPerSecond, 0, 'f', p.filesPerSecond < 10 ? 1 : 0);
    if (p.etaSeconds >= 0)
        text += tr(" · about %1 left").arg(durationText(p.etaSeconds));
    if (p.paused)
        text += tr(" · paused");
    return text;
}

void LibraryPanel::setProgress(const engine::IndexProgress &p)
{
    if (p.stage == engine::IndexProgress::Stage::Indexing && p.filesTotal > 0) {
        m_progress->setRange(0, int(std::min<qint64>(p.filesTotal, INT_MAX)));
        m_progress->setValue(int(std::min<qint64>(p.filesDone, INT_MAX)));
    } else if (p.stage == engine::IndexProgress::Stage::Ocr && p.ocrTotal > 0) {
        m_progress->setRange(0, int(std::min<qint64>(p.ocrTotal, INT_MAX)));
        m_progress->setValue(int(std::min<qint64>(p.ocrDone, INT_MAX)));
    } else {
        m_progress->setRange(0, 0);
    }
    m_progressText->setText(describe(p));
    m_progressText->setToolTip(p.currentPath);
    if (p.paused != m_paused)
        setIndexing(m_running, p.paused);
}

void LibraryPanel::setFailures(const QList<catalog::ErrorEntry> &errors)
{
    m_failures->clear();
    for (const catalog::ErrorEntry &e : errors) {
        auto *item = new QTreeWidgetItem(m_failures, {QFileInfo(e.path).fileName(), e.message});
        item->setToolTip(0, QDir::toNativeSeparators(e.path));
        item->setToolTip(1, e.message);
        item->setData(0, Qt::UserRole, e.path);
    }
}

QStringList LibraryPanel::selectedFolders() const
{
    QStringList out;
    for (const QListWidgetItem *item : m_folders->selectedItems())
        if (!item->data(Qt::UserRole).toString().isEmpty())
            out.append(item->data(Qt::UserRole).toString());
    return out;
}

void LibraryPanel::dragEnterEvent(QDragEnterEvent *event)
{
    if (!droppedFolders(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void LibraryPanel::dropEvent(QDropEvent *event)
{
    const QStringList folders = droppedFolders(event->mimeData());
    if (folders.isEmpty())
        return;
    event->acceptProposedAction();
    emit foldersDropped(folders);
}

} // namespace unisearch::ui
