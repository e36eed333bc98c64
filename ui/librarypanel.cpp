#include "ui/librarypanel.h"

#include <QDir>
#include <QFormLayout>
#include <QLabel>
#include <QListWidget>
#include <QVBoxLayout>

namespace unisearch::ui {

LibraryPanel::LibraryPanel(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("libraryPanel"));
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

    layout->addWidget(new QLabel(tr("Folders:"), this));
    m_folders = new QListWidget(this);
    m_folders->setObjectName(QStringLiteral("foldersList"));
    layout->addWidget(m_folders, 1);
    setActivity({});
}

void LibraryPanel::setStatus(const engine::Status &status, const QStringList &folders)
{
    const auto &c = status.counts;
    m_items->setText(tr("%1 images, %2 videos").arg(c.images).arg(c.videos));
    m_vectors->setText(tr("%1 segments, %2 vectors").arg(c.segments).arg(c.vectors));
    m_errors->setText(c.errors == 0 ? tr("none") : tr("%1 files could not be read").arg(c.errors));
    m_model->setText(status.activeModel.isEmpty() ? tr("none") : status.activeModel);
    m_compute->setText(tr("%1, %2 threads").arg(status.device.toUpper()).arg(status.threads));
    m_dataDir->setText(QDir::toNativeSeparators(status.dataDir));
    m_folders->clear();
    for (const QString &f : folders)
        m_folders->addItem(QDir::toNativeSeparators(f));
    if (folders.isEmpty())
        m_folders->addItem(tr("No folders yet: File → Add Folder…"));
}

void LibraryPanel::setActivity(const QString &text)
{
    m_activity->setText(text.isEmpty() ? tr("Idle") : text);
}

} // namespace unisearch::ui
