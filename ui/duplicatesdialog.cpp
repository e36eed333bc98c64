#include "ui/duplicatesdialog.h"

#include "engine/engine.h"
#include "ui/thumbnailprovider.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPixmap>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace unisearch::ui {

namespace {
constexpr int thumbnailEdge = 160;
}

DuplicatesDialog::DuplicatesDialog(engine::Engine *engine, QWidget *parent)
    : QDialog(parent), m_engine(engine), m_thumbnails(new ThumbnailProvider(engine->cacheDir(), this))
{
    setWindowTitle(tr("Find Duplicates"));
    setObjectName(QStringLiteral("duplicatesDialog"));
    resize(900, 600);
    auto *layout = new QVBoxLayout(this);

    auto *top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Similarity at least:"), this));
    m_threshold = new QDoubleSpinBox(this);
    m_threshold->setObjectName(QStringLiteral("thresholdSpin"));
    m_threshold->setRange(0.5, 1.0);
    m_threshold->setDecimals(3);
    m_threshold->setSingleStep(0.005);
    m_threshold->setValue(engine::DuplicateParams::defaultThreshold);
    m_threshold->setToolTip(tr("Cosine similarity of the pictures' features at or above which two items count as "
                               "copies; files with the same bytes always do"));
    top->addWidget(m_threshold);
    m_searchButton = new QPushButton(tr("Search Again"), this);
    m_searchButton->setObjectName(QStringLiteral("searchAgainButton"));
    top->addWidget(m_searchButton);
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("duplicatesProgress"));
    top->addWidget(m_progress, 1);
    layout->addLayout(top);

    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("duplicatesStatus"));
    m_status->setWordWrap(true);
    layout->addWidget(m_status);

    auto *scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    m_groupsWidget = new QWidget(scroll);
    m_groupsLayout = new QVBoxLayout(m_groupsWidget);
    scroll->setWidget(m_groupsWidget);
    layout->addWidget(scroll, 1);

    m_report = new QLabel(this);
    m_report->setObjectName(QStringLiteral("trashReport"));
    m_report->setWordWrap(true);
    m_report->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_report);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    m_selectButton = buttons->addButton(tr("Select All Copies"), QDialogButtonBox::ActionRole);
    m_selectButton->setObjectName(QStringLiteral("selectCopiesButton"));
    m_trashButton = buttons->addButton(tr("Move to Trash"), QDialogButtonBox::ActionRole);
    m_trashButton->setObjectName(QStringLiteral("moveToTrashButton"));
    m_trashButton->setToolTip(tr("Move the ticked files to the desktop's trash, from where they can be restored"));
    layout->addWidget(buttons);

    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_searchButton, &QPushButton::clicked, this, &DuplicatesDialog::findDuplicates);
    connect(m_selectButton, &QPushButton::clicked, this, &DuplicatesDialog::selectCopies);
    connect(m_trashButton, &QPushButton::clicked, this, [this] { moveCheckedToTrash(); });
    connect(&m_watcher, &QFutureWatcher<Outcome>::finished, this, &DuplicatesDialog::onFinished);
    connect(m_thumbnails, &ThumbnailProvider::thumbnailReady, this, &DuplicatesDialog::onThumbnailReady);
    findDuplicates();
}

DuplicatesDialog::~DuplicatesDialog()
{
    cancelSearch();
}

void DuplicatesDialog::cancelSearch()
{
    if (m_cancel)
        m_cancel->store(true);
    m_watcher.waitForFinished();
}

void DuplicatesDialog::findDuplicates()
{
    cancelSearch();
    m_groups.clear();
    showGroups();
    m_report->clear();
    QString error;
    // The plan is read here, on the engine's thread; the search opens its own catalog.
    const std::optional<engine::SearchSessionPlan> plan = m_engine->searchSessionPlan(&error);
    if (!plan) {
        m_status->setText(tr("Cannot look for duplicates: %1").arg(error.toHtmlEscaped()));
        emit searchFinished(error);
        return;
    }
    engine::DuplicateParams params;
    params.threshold = m_threshold->value();
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    m_status->setText(tr("Looking for duplicates…"));
    m_progress->setRange(0, 0);
    m_searchButton->setEnabled(false);
    updateButtons();
    auto cancel = m_cancel;
    auto progress = [this, cancel](const engine::DuplicateProgress &p) {
        QMetaObject::invokeMethod(this, [this, p] {
            m_progress->setRange(0, int(std::min<std::int64_t>(p.total, INT_MAX)));
            m_progress->setValue(int(std::min<std::int64_t>(p.done, INT_MAX)));
        }, Qt::QueuedConnection);
        return !cancel->load();
    };
    m_watcher.setFuture(QtConcurrent::run([plan = *plan, params, progress] {
        Outcome out;
        out.groups = engine::findDuplicates(plan, nullptr, params, progress, &out.error);
        return out;
    }));
}

void DuplicatesDialog::onFinished()
{
    const Outcome out = m_watcher.result();
    m_searchButton->setEnabled(true);
    m_progress->setRange(0, 1);
    m_progress->setValue(1);
    if (!out.groups) {
        m_status->setText(tr("Cannot look for duplicates: %1").arg(out.error.toHtmlEscaped()));
        emit searchFinished(out.error.isEmpty() ? tr("failed") : out.error);
        return;
    }
    m_groups = *out.groups;
    qsizetype copies = 0;
    for (const engine::DuplicateGroup &g : std::as_const(m_groups))
        copies += g.items.size() - 1;
    m_status->setText(m_groups.isEmpty() ? tr("No duplicates found.")
                                         : tr("%n group(s) with %1 copies. The first of each group is the largest "
                                              "picture; tick the copies to move to the trash.",
                                              nullptr, int(m_groups.size()))
                                               .arg(copies));
    showGroups();
    emit searchFinished(QString());
}

void DuplicatesDialog::showGroups()
{
    m_cells.clear();
    while (QLayoutItem *item = m_groupsLayout->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    m_thumbnails->cancelPending();
    for (qsizetype n = 0; n < m_groups.size(); ++n) {
        auto *box = new QGroupBox(tr("Group %1").arg(n + 1), m_groupsWidget);
        auto *row = new QHBoxLayout(box);
        for (qsizetype k = 0; k < m_groups[n].items.size(); ++k)
            row->addWidget(makeCell(m_groups[n].items[k], k == 0));
        row->addStretch(1);
        m_groupsLayout->addWidget(box);
    }
    m_groupsLayout->addStretch(1);
    updateButtons();
}

QWidget *DuplicatesDialog::makeCell(const engine::DuplicateItem &item, bool first)
{
    auto *cell = new QWidget(m_groupsWidget);
    auto *v = new QVBoxLayout(cell);
    auto *thumb = new QLabel(cell);
    thumb->setFixedSize(thumbnailEdge, thumbnailEdge);
    thumb->setAlignment(Qt::AlignCenter);
    v->addWidget(thumb);
    auto *check = new QCheckBox(QFileInfo(item.path).fileName(), cell);
    check->setToolTip(item.path);
    v->addWidget(check);
    const QString how = first          ? tr("keep (largest)")
                        : item.sameBytes ? tr("same bytes")
                                         : tr("similarity %1").arg(item.similarity, 0, 'f', 3);
    auto *info = new QLabel(QStringLiteral("%1 · %2 × %3 · %4")
                                .arg(how)
                                .arg(item.width)
                                .arg(item.height)
                                .arg(QLocale().formattedDataSize(item.size)),
                            cell);
    info->setTextFormat(Qt::PlainText);
    v->addWidget(info);
    connect(check, &QCheckBox::toggled, this, &DuplicatesDialog::updateButtons);
    m_cells.append({item.path, check, thumb, item.type});
    onThumbnailReady();
    return cell;
}

void DuplicatesDialog::onThumbnailReady()
{
    const qreal dpr = devicePixelRatioF();
    const QSize size(int(thumbnailEdge * dpr), int(thumbnailEdge * dpr));
    for (const Cell &c : std::as_const(m_cells)) {
        if (c.thumbnail->pixmap().isNull()) {
            QImage image = m_thumbnails->request(c.path, c.type, 0, size);
            if (!image.isNull()) {
                QPixmap pixmap = QPixmap::fromImage(image);
                pixmap.setDevicePixelRatio(dpr);
                c.thumbnail->setPixmap(pixmap);
            }
        }
    }
}

void DuplicatesDialog::selectCopies()
{
    // Every item but the first of its group; the cells are in group order.
    qsizetype i = 0;
    for (const engine::DuplicateGroup &g : std::as_const(m_groups))
        for (qsizetype k = 0; k < g.items.size(); ++k, ++i)
            if (i < m_cells.size() && m_cells[i].box->isEnabled())
                m_cells[i].box->setChecked(k > 0);
}

void DuplicatesDialog::updateButtons()
{
    bool any = false;
    for (const Cell &c : std::as_const(m_cells))
        any = any || (c.box->isEnabled() && c.box->isChecked());
    m_trashButton->setEnabled(any && !m_watcher.isRunning());
    m_selectButton->setEnabled(!m_cells.isEmpty() && !m_watcher.isRunning());
}

bool DuplicatesDialog::setChecked(const QString &path, bool checked)
{
    for (const Cell &c : std::as_const(m_cells))
        if (c.path == path && c.box->isEnabled()) {
            c.box->setChecked(checked);
            return true;
        }
    return false;
}

QStringList DuplicatesDialog::moveCheckedToTrash()
{
    QStringList moved;
    QStringList failed;
    for (const Cell &c : std::as_const(m_cells)) {
        if (!c.box->isEnabled() || !c.box->isChecked())
            continue;
        QFile file(c.path);
        if (file.moveToTrash()) {
            moved.append(c.path);
            c.box->setChecked(false);
            c.box->setEnabled(false);
            c.box->setText(tr("%1 (in the trash)").arg(c.box->text()));
        } else {
            failed.append(tr("%1: %2").arg(c.path.toHtmlEscaped(), file.errorString().toHtmlEscaped()));
        }
    }
    QString report;
    if (!moved.isEmpty())
        report += tr("Moved %n file(s) to the trash (restore them from there if needed).", nullptr, int(moved.size()));
    if (!failed.isEmpty())
        report += (report.isEmpty() ? QString() : QStringLiteral("<br>"))
                  + tr("Could not move %n file(s); they are unchanged:", nullptr, int(failed.size()))
                  + QStringLiteral("<br>") + failed.join(QStringLiteral("<br>"));
    m_report->setText(report);
    updateButtons();
    if (!moved.isEmpty())
        emit filesMoved(moved);
    return moved;
}

} // namespace unisearch::ui
