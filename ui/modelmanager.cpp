#include "ui/modelmanager.h"

#include "ui/durationtext.h"
#include "ui/modelimporter.h"

#include "engine/computesupport.h"
#include "engine/inference.h" // resolvePrecision, bfloat16Parts
#include "engine/engine.h"
#include "engine/modelcatalogue.h"
#include "engine/modeldownload.h"
#include "engine/models.h"
#include "util/settings.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace unisearch::ui {

using engine::ModelDownload;

namespace {

enum ModelColumn { ColName, ColTask, ColSize, ColActive, ColProblem };
enum CatalogueColumn { CatTitle, CatTask, CatSize, CatLicence, CatState };

QString sizeText(qint64 bytes)
{
    return QLocale().formattedDataSize(bytes, 1, QLocale::DataSizeSIFormat);
}

QString taskText(const QString &task)
{
    return task == engine::vqaTask ? ModelManagerDialog::tr("questions (VQA)") : ModelManagerDialog::tr("search");
}

// A flat list with columns; stretchColumn takes the spare width.
QTreeWidget *makeTable(QWidget *parent, const QString &objectName, const QStringList &headers, int stretchColumn)
{
    auto *tree = new QTreeWidget(parent);
    tree->setObjectName(objectName);
    tree->setRootIsDecorated(false);
    tree->setHeaderLabels(headers);
    tree->header()->setSectionResizeMode(stretchColumn, QHeaderView::Stretch);
    return tree;
}

// "120 MB of 900 MB · 12.3 MB/s · about 1 min left"
QString describe(const ModelDownload::Progress &p)
{
    QString s = p.total > 0 ? ModelManagerDialog::tr("%1 of %2").arg(sizeText(p.received), sizeText(p.total))
                            : sizeText(p.received);
    if (p.bytesPerSecond > 0)
        s += ModelManagerDialog::tr(" · %1/s").arg(sizeText(qint64(p.bytesPerSecond)));
    if (p.etaSeconds > 0)
        s += ModelManagerDialog::tr(" · about %1 left").arg(durationText(p.etaSeconds));
    if (p.resumed)
        s += ModelManagerDialog::tr(" · resumed");
    return s;
}

} // namespace

ModelManagerDialog::ModelManagerDialog(engine::Engine *engine, QWidget *parent)
    : QDialog(parent), m_engine(engine)
{
    setObjectName(QStringLiteral("modelManager"));
    setWindowTitle(tr("Manage Models"));
    setModal(false);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(createModelsBox(), 2);
    layout->addWidget(createImportBox());
    layout->addWidget(createDownloadBox(), 1);
    layout->addWidget(createComputeBox());
    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("modelManagerMessage"));
    m_message->setWordWrap(true);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_message);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::close);
    layout->addWidget(buttons);

    m_importer = new ModelImporter(m_engine, this);
    connect(m_importer, &ModelImporter::finished, this, &ModelManagerDialog::finishImport);

    connect(m_engine, &engine::Engine::statusChanged, this, &ModelManagerDialog::refresh);
    resize(820, 720);
    refresh();
}

ModelManagerDialog::~ModelManagerDialog()
{
    // An import cannot be interrupted midway; its worker must not outlive the dialog
    // (the importer waits for it).
    delete m_importer;
    m_importer = nullptr;
    // The downloads are children: each cancels its transfer (keeping the part for a resume).
}

// --- Imported models -----------------------------------------------------------------

QWidget *ModelManagerDialog::createModelsBox()
{
    auto *box = new QGroupBox(tr("Imported models"), this);
    auto *layout = new QVBoxLayout(box);
    m_models = makeTable(box, QStringLiteral("modelList"),
                         {tr("Name"), tr("Task"), tr("Size"), tr("Active"), tr("Problem")}, ColProblem);
    layout->addWidget(m_models);

    auto *form = new QFormLayout;
    m_activeRetrieval = new QComboBox(box);
    m_activeRetrieval->setObjectName(QStringLiteral("activeRetrievalModel"));
    m_activeVqa = new QComboBox(box);
    m_activeVqa->setObjectName(QStringLiteral("activeVqaModel"));
    form->addRow(tr("Model for &search:"), m_activeRetrieval);
    form->addRow(tr("Model for &questions:"), m_activeVqa);
    layout->addLayout(form);
    connect(m_activeRetrieval, &QComboBox::activated, this, [this] { activateFromCombo(m_activeRetrieval); });
    connect(m_activeVqa, &QComboBox::activated, this, [this] { activateFromCombo(m_activeVqa); });
    return box;
}

void ModelManagerDialog::fillActiveCombo(QComboBox *combo, const QString &task)
{
    const QSignalBlocker blocker(combo);
    combo->clear();
    int current = -1;
    QString none;
    for (const engine::ModelInfo &m : m_engine->models()) {
        if (m.task != task || !m.problem.isEmpty())
            continue;
        combo->addItem(m.name, m.name);
        if (m.active)
            current = combo->count() - 1;
    }
    if (combo->count() == 0) {
        combo->addItem(task == engine::vqaTask ? tr("none: import or download a VQA model")
                                               : tr("none: import or download a retrieval model"));
        combo->setEnabled(false);
        return;
    }
    combo->setEnabled(true);
    combo->setCurrentIndex(current);
}

void ModelManagerDialog::activateFromCombo(QComboBox *combo)
{
    const QString name = combo->currentData().toString();
    if (name.isEmpty())
        return;
    QString error;
    if (m_engine->setActiveModel(name, &error))
        setMessage(tr("'%1' is now the model in use for %2.").arg(name, taskText(combo == m_activeVqa
                                                                                      ? engine::vqaTask
                                                                                      : engine::retrievalTask)),
                   false);
    else
        setMessage(error, true);
    refresh();
}

// --- Import ------------------------------------------------------------------------

QWidget *ModelManagerDialog::createImportBox()
{
    auto *box = new QGroupBox(tr("Import a checkpoint (.pth or .safetensors)"), this);
    auto *layout = new QHBoxLayout(box);
    m_importPath = new QLineEdit(box);
    m_importPath->setObjectName(QStringLiteral("importPath"));
    m_importPath->setPlaceholderText(tr("A BLIP or UniAdapter checkpoint file"));
    m_browseButton = new QPushButton(tr("&Browse…"), box);
    m_browseButton->setObjectName(QStringLiteral("importBrowseButton"));
    m_importButton = new QPushButton(tr("&Import"), box);
    m_importButton->setObjectName(QStringLiteral("importButton"));
    m_importProgress = new QProgressBar(box);
    m_importProgress->setObjectName(QStringLiteral("importProgress"));
    m_importProgress->setRange(0, 0);  // reading and checking a checkpoint reports no steps
    m_importProgress->setMaximumWidth(120);
    m_importProgress->setTextVisible(false);
    m_importProgress->hide();
    layout->addWidget(m_importPath, 1);
    layout->addWidget(m_browseButton);
    layout->addWidget(m_importButton);
    layout->addWidget(m_importProgress);
    connect(m_browseButton, &QPushButton::clicked, this, &ModelManagerDialog::browseForCheckpoint);
    connect(m_importButton, &QPushButton::clicked, this, [this] {
        const QString path = m_importPath->text().trimmed();
        if (path.isEmpty())
            setMessage(tr("Choose a checkpoint file first (Browse…)."), true);
        else
            startImport(path);
    });
    connect(m_importPath, &QLineEdit::returnPressed, m_importButton, &QPushButton::click);
    return box;
}

void ModelManagerDialog::browseForCheckpoint()
{
    Settings s;
    const QString start = s.value(settings::lastFolder).isEmpty() ? QDir::homePath() : s.value(settings::lastFolder);
    // Window-modal but asynchronous: the dialog's downloads keep running meanwhile.
    auto *dialog = new QFileDialog(this, tr("Import a Model"), start,
                                   tr("BLIP or UniAdapter checkpoints (*.pth *.pt *.safetensors);;All files (*)"));
    dialog->setObjectName(QStringLiteral("importFileDialog"));
    dialog->setFileMode(QFileDialog::ExistingFile);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QFileDialog::fileSelected, this, [this](const QString &file) {
        Settings().setValue(settings::lastFolder, QFileInfo(file).absolutePath());
        m_importPath->setText(QDir::toNativeSeparators(file));
        startImport(file);
    });
    dialog->open();
}

bool ModelManagerDialog::isImporting() const
{
    return m_importer->isRunning();
}

bool ModelManagerDialog::startImport(const QString &checkpoint)
{
    if (isImporting())
        return false;
    QString error;
    if (!m_importer->start(checkpoint, &error)) {
        setMessage(error, true);
        emit importFinished(false, error);
        return false;
    }
    m_importButton->setEnabled(false);
    m_browseButton->setEnabled(false);
    m_importProgress->show();
    setMessage(tr("Importing %1: reading and checking every tensor…").arg(QDir::toNativeSeparators(checkpoint)), false);
    return true;
}

void ModelManagerDialog::finishImport(bool ok, const QString &error, const engine::ModelInfo &m)
{
    m_importProgress->hide();
    m_importButton->setEnabled(true);
    m_browseButton->setEnabled(true);
    refresh();
    if (!ok) {
        setMessage(error, true);
        emit importFinished(false, error);
        return;
    }
    const QString message = m.active ? tr("Imported '%1'; it is now the model in use for %2.").arg(m.name, taskText(m.task))
                                     : tr("Imported '%1' (%2); the model in use stays the same.").arg(m.name, taskText(m.task));
    setMessage(message, false);
    emit importFinished(true, message);
}

// --- Download ------------------------------------------------------------------------

QWidget *ModelManagerDialog::createDownloadBox()
{
    auto *box = new QGroupBox(tr("Download a model"), this);
    auto *layout = new QVBoxLayout(box);
    m_catalogue = makeTable(box, QStringLiteral("catalogueList"),
                            {tr("Model"), tr("Task"), tr("Size"), tr("Licence"), tr("State")}, CatTitle);
    layout->addWidget(m_catalogue);

    auto *row = new QHBoxLayout;
    m_downloadButton = new QPushButton(tr("&Download"), box);
    m_downloadButton->setObjectName(QStringLiteral("downloadButton"));
    m_cancelButton = new QPushButton(tr("&Cancel Download"), box);
    m_cancelButton->setObjectName(QStringLiteral("cancelDownloadButton"));
    m_discardButton = new QPushButton(tr("Discard &Partial Download"), box);
    m_discardButton->setObjectName(QStringLiteral("discardDownloadButton"));
    m_downloadProgress = new QProgressBar(box);
    m_downloadProgress->setObjectName(QStringLiteral("downloadProgress"));
    m_downloadProgress->setRange(0, 1000);
    m_downloadProgress->setTextVisible(false);
    row->addWidget(m_downloadButton);
    row->addWidget(m_cancelButton);
    row->addWidget(m_discardButton);
    row->addWidget(m_downloadProgress, 1);
    layout->addLayout(row);
    m_downloadLabel = new QLabel(box);
    m_downloadLabel->setObjectName(QStringLiteral("downloadLabel"));
    m_downloadLabel->setWordWrap(true);
    layout->addWidget(m_downloadLabel);

    std::optional<engine::ModelCatalogue> catalogue = engine::ModelCatalogue::load({}, &m_catalogueError);
    if (catalogue) {
        for (const engine::CatalogueEntry &e : catalogue->models) {
            auto *item = new QTreeWidgetItem(m_catalogue);
            item->setData(CatTitle, Qt::UserRole, e.name);
            item->setText(CatTitle, e.title);
            item->setToolTip(CatTitle, tr("%1\n%2\nSource: %3").arg(e.url.toString(), e.architectureHint, e.source));
            item->setText(CatTask, taskText(e.task));
            item->setText(CatSize, e.size > 0 ? sizeText(e.size) : tr("unknown"));
            item->setText(CatLicence, e.licence);
            engine::ModelDownload::Params params;
            params.entry = e;
            auto *job = new ModelDownload(m_engine, params, this);
            m_downloads.insert(e.name, job);
            connect(job, &ModelDownload::progressUpdated, this, &ModelManagerDialog::onDownloadProgress);
            connect(job, &ModelDownload::stateChanged, this, &ModelManagerDialog::onDownloadProgress);
            connect(job, &ModelDownload::finished, this,
                    [this, job](const engine::DownloadResult &result) { onDownloadFinished(job, result.ok); });
            connect(job, &ModelDownload::failed, this, [this, job] { onDownloadFinished(job, false); });
        }
        if (m_catalogue->topLevelItemCount() > 0)
            m_catalogue->setCurrentItem(m_catalogue->topLevelItem(0));
    } else {
        m_downloadLabel->setText(m_catalogueError);
    }
    connect(m_catalogue, &QTreeWidget::currentItemChanged, this, &ModelManagerDialog::updateDownloadButtons);
    connect(m_downloadButton, &QPushButton::clicked, this, &ModelManagerDialog::downloadSelected);
    connect(m_cancelButton, &QPushButton::clicked, this, &ModelManagerDialog::cancelDownload);
    connect(m_discardButton, &QPushButton::clicked, this, &ModelManagerDialog::discardSelected);
    return box;
}

ModelDownload *ModelManagerDialog::selectedDownload() const
{
    const QTreeWidgetItem *item = m_catalogue->currentItem();
    return item ? m_downloads.value(item->data(CatTitle, Qt::UserRole).toString()) : nullptr;
}

bool ModelManagerDialog::isDownloading() const
{
    return m_running && m_running->isRunning();
}

bool ModelManagerDialog::startDownload(const QString &name)
{
    ModelDownload *job = m_downloads.value(name);
    if (!job) {
        setMessage(tr("The catalogue has no model named '%1'.").arg(name), true);
        return false;
    }
    if (isDownloading()) {
        setMessage(tr("Another download is running; wait for it or cancel it first."), true);
        return false;
    }
    if (!job->start()) {
        m_downloadLabel->setText(job->errorString());
        m_downloadLabel->setStyleSheet(QStringLiteral("color: #b3261e;"));
        emit downloadFinished(name, false, job->errorString());
        return false;
    }
    m_running = job;
    m_downloadLabel->setStyleSheet(QString());
    m_downloadLabel->setText(job->progress().resumed ? tr("Resuming the download of '%1'…").arg(name)
                                                     : tr("Downloading '%1'…").arg(name));
    updateDownloadButtons();
    return true;
}

void ModelManagerDialog::downloadSelected()
{
    if (ModelDownload *job = selectedDownload())
        startDownload(job->entry().name);
}

void ModelManagerDialog::cancelDownload()
{
    if (m_running)
        m_running->requestInterruption();
}

void ModelManagerDialog::discardSelected()
{
    ModelDownload *job = selectedDownload();
    if (!job || job->isRunning())
        return;
    if (job->discardPartial())
        setMessage(tr("The partial download of '%1' was deleted.").arg(job->entry().name), false);
    else
        setMessage(tr("Could not delete %1; check the folder's permissions.")
                       .arg(QDir::toNativeSeparators(job->partPath())),
                   true);
    refresh();
}

void ModelManagerDialog::onDownloadProgress()
{
    ModelDownload *job = m_running;
    if (!job)
        return;
    const ModelDownload::Progress p = job->progress();
    switch (job->state()) {
    case ModelDownload::State::Downloading:
        if (p.total > 0) {
            m_downloadProgress->setRange(0, 1000);
            m_downloadProgress->setValue(int(1000.0 * double(p.received) / double(p.total)));
        } else {
            m_downloadProgress->setRange(0, 0);
        }
        m_downloadLabel->setText(tr("%1: %2").arg(job->entry().name, describe(p)));
        break;
    case ModelDownload::State::Verifying:
        m_downloadProgress->setRange(0, 0);
        m_downloadLabel->setText(tr("%1: checking the file's SHA-256…").arg(job->entry().name));
        break;
    case ModelDownload::State::Importing:
        m_downloadProgress->setRange(0, 0);
        m_downloadLabel->setText(tr("%1: loading and checking the model…").arg(job->entry().name));
        break;
    default:
        break;
    }
    updateDownloadButtons();
}

void ModelManagerDialog::onDownloadFinished(ModelDownload *job, bool ok)
{
    m_downloadProgress->setRange(0, 1000);
    m_downloadProgress->setValue(ok ? 1000 : 0);
    const QString name = job->entry().name;
    QString message;
    if (ok) {
        const engine::ImportedModel m = *job->result().imported;
        message = m.model.active ? tr("Downloaded '%1'; it is now the model in use for %2.").arg(name, taskText(m.model.task))
                                 : tr("Downloaded '%1'; the model in use stays the same.").arg(name);
    } else {
        message = job->errorString();
    }
    // Said in the download area (red when it failed), not twice.
    m_downloadLabel->setText(message);
    m_downloadLabel->setStyleSheet(!ok && job->state() != ModelDownload::State::Cancelled
                                       ? QStringLiteral("color: #b3261e;")
                                       : QString());
    if (m_running == job)
        m_running = nullptr;
    refresh();
    emit downloadFinished(name, ok, message);
}

void ModelManagerDialog::updateDownloadButtons()
{
    ModelDownload *job = selectedDownload();
    const bool busy = isDownloading();
    QStringList imported;
    for (const engine::ModelInfo &m : m_engine->models())
        imported.append(m.name);
    const bool isImported = job && imported.contains(job->entry().name);
    const bool hasPart = job && !job->isRunning() && job->partialSize() > 0;
    m_downloadButton->setEnabled(job && !busy && !isImported && m_engine->isOpen());
    m_downloadButton->setText(hasPart ? tr("&Resume Download") : tr("&Download"));
    m_cancelButton->setEnabled(busy);
    m_discardButton->setEnabled(hasPart && !busy);
    m_downloadProgress->setVisible(busy || m_downloadProgress->value() > 0);

    for (int i = 0; i < m_catalogue->topLevelItemCount(); ++i) {
        QTreeWidgetItem *item = m_catalogue->topLevelItem(i);
        ModelDownload *d = m_downloads.value(item->data(CatTitle, Qt::UserRole).toString());
        QString state;
        if (!d)
            state.clear();
        else if (d->isRunning())
            state = d->state() == ModelDownload::State::Downloading ? tr("downloading") : tr("checking");
        else if (imported.contains(d->entry().name))
            state = tr("imported");
        else if (const qint64 part = d->partialSize(); part > 0)
            state = tr("partial (%1), can resume").arg(sizeText(part));
        else
            state = tr("not downloaded");
        item->setText(CatState, state);
    }
}

// --- Compute settings ----------------------------------------------------------------

QWidget *ModelManagerDialog::createComputeBox()
{
    auto *box = new QGroupBox(tr("Computation"), this);
    auto *form = new QFormLayout(box);
    const engine::ComputeSupport support = engine::computeSupport();

    m_device = new QComboBox(box);
    m_device->setObjectName(QStringLiteral("deviceCombo"));
    m_device->addItem(tr("Automatic (CUDA when available)"), QStringLiteral("auto"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    m_device->addItem(tr("CUDA (NVIDIA GPU)"), QStringLiteral("cuda"));
    if (!support.cuda) {
        // Greyed out, with the reason on hover.
        auto *model = qobject_cast<QStandardItemModel *>(m_device->model());
        if (QStandardItem *item = model ? model->item(2) : nullptr) {
            item->setEnabled(false);
            item->setToolTip(support.cudaUnavailableReason);
        }
        m_device->setToolTip(support.cudaUnavailableReason);
    }

    m_precision = new QComboBox(box);
    m_precision->setObjectName(QStringLiteral("precisionCombo"));
    // The default: what engine::resolvePrecision makes of "auto" on the device in use.
    const bool autoIsBfloat16 =
        engine::resolvePrecision(QStringLiteral("auto"), m_engine->device()) == QLatin1String("bfloat16");
    // Only the answer decoder is ever put in bfloat16 inside a float32 model.
    const bool bfloat16Answers = engine::bfloat16Parts(QStringLiteral("auto"), m_engine->device()) != 0;
    m_precision->addItem(m_engine->device() == QLatin1String("cuda") ? tr("Automatic (bfloat16 on the GPU)")
                         : autoIsBfloat16                           ? tr("Automatic (bfloat16 on this CPU)")
                         : bfloat16Answers ? tr("Automatic (float32 on this CPU; answers decoded in bfloat16)")
                                           : tr("Automatic (float32 on this CPU)"),
                         QStringLiteral("auto"));
    m_precision->addItem(tr("float32 (exact)"), QStringLiteral("float32"));
    m_precision->addItem(support.cpuBfloat16 ? tr("bfloat16 (faster on this CPU, slightly less exact)")
                                             : tr("bfloat16 (less memory; not faster on this CPU)"),
                         QStringLiteral("bfloat16"));

    m_threads = new QSpinBox(box);
    m_threads->setObjectName(QStringLiteral("threadsSpin"));
    m_threads->setRange(0, 1024);
    m_threads->setSpecialValueText(tr("all cores"));

    auto *note = new QLabel(tr("In use now: %1, %2 threads. Device and threads take effect when Unisearch starts "
                               "next; precision when a model is loaded next.")
                                .arg(m_engine->device().toUpper())
                                .arg(m_engine->threads()),
                            box);
    note->setObjectName(QStringLiteral("computeNote"));
    note->setWordWrap(true);

    form->addRow(tr("&Device:"), m_device);
    form->addRow(tr("&Precision:"), m_precision);
    form->addRow(tr("&Threads:"), m_threads);
    form->addRow(note);

    connect(m_device, &QComboBox::activated, this, &ModelManagerDialog::saveComputeSettings);
    connect(m_precision, &QComboBox::activated, this, &ModelManagerDialog::saveComputeSettings);
    connect(m_threads, &QSpinBox::valueChanged, this, &ModelManagerDialog::saveComputeSettings);
    return box;
}

void ModelManagerDialog::saveComputeSettings()
{
    Settings s;
    s.setValue(settings::device, m_device->currentData().toString());
    s.setValue(settings::precision, m_precision->currentData().toString());
    s.setValue(settings::threads, m_threads->value());
    s.sync();
}

// --- Common --------------------------------------------------------------------------

void ModelManagerDialog::refresh()
{
    const QList<engine::ModelInfo> models = m_engine->models();
    m_models->clear();
    for (const engine::ModelInfo &m : models) {
        auto *item = new QTreeWidgetItem(m_models);
        item->setText(ColName, m.name);
        item->setToolTip(ColName, QDir::toNativeSeparators(m.path));
        item->setText(ColTask, taskText(m.task));
        const qint64 bytes = m.weightsPath.isEmpty() ? 0 : QFileInfo(m.weightsPath).size();
        item->setText(ColSize, m.parameterCount > 0 ? tr("%1 M parameters, %2")
                                                          .arg(double(m.parameterCount) / 1e6, 0, 'f', 1)
                                                          .arg(sizeText(bytes))
                                                    : QString());
        item->setText(ColActive, m.active ? tr("in use") : QString());
        item->setText(ColProblem, m.problem);
        item->setToolTip(ColProblem, m.problem);
    }
    for (int c = ColName; c < ColProblem; ++c)
        m_models->resizeColumnToContents(c);
    fillActiveCombo(m_activeRetrieval, engine::retrievalTask);
    fillActiveCombo(m_activeVqa, engine::vqaTask);
    m_importButton->setEnabled(m_engine->isOpen() && !isImporting());

    const Settings s;
    const QSignalBlocker b1(m_device), b2(m_precision), b3(m_threads);
    m_device->setCurrentIndex(qMax(0, m_device->findData(s.value(settings::device))));
    m_precision->setCurrentIndex(qMax(0, m_precision->findData(s.value(settings::precision))));
    m_threads->setValue(s.value(settings::threads));
    updateDownloadButtons();
}

void ModelManagerDialog::setMessage(const QString &text, bool error)
{
    m_message->setText(text);
    m_message->setStyleSheet(error ? QStringLiteral("color: #b3261e;") : QString());
}

} // namespace unisearch::ui
