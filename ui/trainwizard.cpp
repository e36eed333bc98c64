#include "ui/trainwizard.h"

#include "engine/computesupport.h"
#include "engine/engine.h"
#include "engine/models.h"
#include "engine/training.h"
#include "engine/trainingpreview.h"
#include "ui/durationtext.h"
#include "ui/thumbnailprovider.h"

#include <QButtonGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QJsonArray>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QListWidget>
#include <QPainter>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QStandardItemModel>
#include <QTimer>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>
#include <functional>

namespace unisearch::ui {

namespace {


// A wizard page whose completeness is a function.
class Page : public QWizardPage
{
public:
    std::function<bool()> complete;
    std::function<void()> onEnter;
    bool isComplete() const override { return complete ? complete() : true; }
    void initializePage() override
    {
        if (onEnter)
            onEnter();
    }
    void refresh() { emit completeChanged(); }
};

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

QString metricsText(const QJsonObject &m)
{
    if (m.isEmpty())
        return QObject::tr("no held-out examples");
    if (m.contains(QStringLiteral("accuracy")))
        return QObject::tr("accuracy %1").arg(m.value(QStringLiteral("accuracy")).toDouble(), 0, 'f', 2);
    return QObject::tr("recall@1 %1, @5 %2, @10 %3")
        .arg(m.value(QStringLiteral("recall_at_1")).toDouble(), 0, 'f', 2)
        .arg(m.value(QStringLiteral("recall_at_5")).toDouble(), 0, 'f', 2)
        .arg(m.value(QStringLiteral("recall_at_10")).toDouble(), 0, 'f', 2);
}

// The engine's advice on a run (few examples, a score that fell), a line each.
QString adviceText(const QJsonObject &outcome)
{
    QString text;
    for (const QJsonValue &a : outcome.value(QStringLiteral("advice")).toArray())
        text += QLatin1Char('\n') + a.toString();
    return text;
}

} // namespace

// The loss of every step as a line (scaled to its own range, left), and the held-out
// validation value at each epoch's end as a second series on its own 0..1 axis (right).
class LossPlot : public QWidget
{
public:
    explicit LossPlot(QWidget *parent)
        : QWidget(parent)
    {
        setMinimumHeight(140);
    }
    void add(double v, int totalSteps)
    {
        m_values.append(v);
        m_total = std::max(m_total, totalSteps);
        update();
    }
    void addValidation(int step, double value, int totalSteps)
    {
        m_validation.append(QPointF(step, value));
        m_total = std::max(m_total, totalSteps);
        update();
    }
    void setValidationName(const QString &name)
    {
        m_validationName = name;
        update();
    }
    void clear()
    {
        m_values.clear();
        m_validation.clear();
        m_total = 0;
        update();
    }
    int count() const { return int(m_values.size()); }
    QList<QPointF> validationPoints() const { return m_validation; }

protected:
    void paintEvent(QPaintEvent *) override
    {
        QPainter p(this);
        p.fillRect(rect(), palette().base());
        p.setRenderHint(QPainter::Antialiasing);
        const QFontMetrics fm(font());
        const double left = 4, top = fm.height() + 6, right = fm.horizontalAdvance(QStringLiteral("0.0")) + 8;
        const QRectF area(left, top, std::max(1.0, width() - left - right), std::max(1.0, height() - top - 4));
        const int steps = std::max({m_total, int(m_values.size()), 2});
        auto x = [&](double step) { return area.left() + area.width() * (step - 1) / double(steps - 1); };
        const QColor lossColor = palette().highlight().color();
        const QColor valColor(230, 120, 20);
        // Legend.
        p.setPen(QPen(lossColor, 2));
        p.drawLine(QPointF(left, fm.height() / 2.0 + 2), QPointF(left + 16, fm.height() / 2.0 + 2));
        p.setPen(palette().text().color());
        // The first and the latest loss: the line has its own scale.
        const QString lossName = m_values.isEmpty()
            ? tr("loss")
            : tr("loss %1 → %2").arg(m_values.front(), 0, 'g', 3).arg(m_values.back(), 0, 'g', 3);
        p.drawText(QPointF(left + 20, fm.ascent() + 2), lossName);
        const double lx = left + 28 + fm.horizontalAdvance(lossName);
        p.setPen(QPen(valColor, 2));
        p.drawLine(QPointF(lx, fm.height() / 2.0 + 2), QPointF(lx + 16, fm.height() / 2.0 + 2));
        p.setPen(palette().text().color());
        p.drawText(QPointF(lx + 20, fm.ascent() + 2), m_validationName + tr(" (0–1, right)"));
        // The validation axis.
        p.setPen(palette().mid().color());
        p.drawLine(area.topRight(), area.bottomRight());
        p.drawText(QPointF(area.right() + 3, area.top() + fm.ascent()), QStringLiteral("1"));
        p.drawText(QPointF(area.right() + 3, area.bottom()), QStringLiteral("0"));
        if (m_values.size() >= 2) {
            double lo = m_values.front(), hi = m_values.front();
            for (double v : m_values) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
            if (hi - lo < 1e-9)
                hi = lo + 1;
            QPolygonF line;
            for (qsizetype i = 0; i < m_values.size(); ++i)
                line << QPointF(x(double(i + 1)), area.top() + area.height() * (1 - (m_values[i] - lo) / (hi - lo)));
            p.setPen(QPen(lossColor, 2));
            p.drawPolyline(line);
        }
        if (!m_validation.isEmpty()) {
            QPolygonF line;
            for (const QPointF &v : m_validation)
                line << QPointF(x(v.x()), area.top() + area.height() * (1 - std::clamp(v.y(), 0.0, 1.0)));
            p.setPen(QPen(valColor, 2));
            p.drawPolyline(line);
            p.setBrush(valColor);
            for (const QPointF &pt : line)
                p.drawEllipse(pt, 3, 3);
        }
    }

private:
    QList<double> m_values;
    QList<QPointF> m_validation; // (step, value)
    int m_total = 0;
    QString m_validationName = QObject::tr("held-out");
};

TrainWizard::TrainWizard(engine::Engine *engine, QWidget *parent)
    : QWizard(parent)
    , m_engine(engine)
{
    setObjectName(QStringLiteral("trainWizard"));
    setWindowTitle(tr("Teach Unisearch your words"));
    setOption(QWizard::NoBackButtonOnLastPage);
    // Room for a few rows of the library and the before/after comparison.
    resize(860, 680);

    // Goal.
    auto *goal = new Page;
    goal->setTitle(tr("What should it learn?"));
    m_goalNames = new QRadioButton(tr("Names: who or what is in my photos (“Shrek”, “grandma’s kitchen”)"));
    m_goalNames->setObjectName(QStringLiteral("goalNames"));
    m_goalCaptions = new QRadioButton(tr("Descriptions: my own way of describing photos"));
    m_goalCaptions->setObjectName(QStringLiteral("goalCaptions"));
    m_goalQuestions = new QRadioButton(tr("Questions: answers to my questions about photos"));
    m_goalQuestions->setObjectName(QStringLiteral("goalQuestions"));
    m_goalNames->setChecked(true);
    auto *goalLayout = new QVBoxLayout(goal);
    for (auto *b : {m_goalNames, m_goalCaptions, m_goalQuestions})
        goalLayout->addWidget(b);
    setPage(GoalPage, goal);

    // Examples: picked in the library and/or a file.
    auto *examples = new Page;
    examples->setTitle(tr("Examples"));
    examples->setSubTitle(tr("Select photos of the library and label them, or import a file of labelled photos. "
                             "Both count."));
    m_libraryFilter = new QLineEdit;
    m_libraryFilter->setObjectName(QStringLiteral("libraryFilter"));
    m_libraryFilter->setPlaceholderText(tr("Filter by path; press Enter to search by meaning"));
    m_libraryFilter->setClearButtonEnabled(true);
    m_filterTimer = new QTimer(this);
    m_filterTimer->setSingleShot(true);
    m_filterTimer->setInterval(250);
    connect(m_filterTimer, &QTimer::timeout, this, &TrainWizard::listLibrary);
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
    connect(searchButton, &QPushButton::clicked, this, &TrainWizard::searchLibrary);
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
    connect(m_addPicked, &QPushButton::clicked, this, &TrainWizard::addPicked);
    connect(m_labelText, &QLineEdit::returnPressed, this, &TrainWizard::addPicked);
    m_pickedList = new QListWidget;
    m_pickedList->setObjectName(QStringLiteral("pickedList"));
    m_pickedList->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_pickedList->setMaximumHeight(110);
    auto *removePicked = new QPushButton(tr("Remove"));
    removePicked->setObjectName(QStringLiteral("removePicked"));
    connect(removePicked, &QPushButton::clicked, this, &TrainWizard::removePicked);

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
    auto *exLayout = new QVBoxLayout(examples);
    exLayout->addLayout(filterRow);
    exLayout->addWidget(m_libraryView, 1);
    exLayout->addWidget(m_libraryNote);
    exLayout->addLayout(labelRow);
    exLayout->addLayout(pickedRow);
    exLayout->addLayout(fileRow);
    exLayout->addWidget(m_countLabel);
    examples->complete = [this] { return m_exampleCount > 0; };
    examples->onEnter = [this] {
        updateGoalWidgets();
        // Labels of another goal do not apply to this one.
        m_picked.erase(std::remove_if(m_picked.begin(), m_picked.end(),
                                      [this](const Picked &p) { return p.kind != pickedKind(); }),
                       m_picked.end());
        refreshPickedList();
        countExamples();
        if (m_libraryModel->rowCount() == 0 && !m_listing)
            listLibrary();
    };
    connect(m_dataFile, &QLineEdit::textChanged, this, [this, examples] {
        countExamples();
        examples->refresh();
    });
    connect(this, &TrainWizard::examplesChanged, examples, [examples] { examples->refresh(); });
    setPage(ExamplesPage, examples);
    if (m_engine) {
        m_thumbnails = new ThumbnailProvider(m_engine->cacheDir(), this);
        libraryModel->thumbnails = m_thumbnails;
        connect(m_thumbnails, &ThumbnailProvider::thumbnailReady, this, [this](const QString &key) {
            auto *model = static_cast<LibraryModel *>(m_libraryModel);
            if (QStandardItem *it = model->item(model->rowOfKey.value(key, -1))) {
                const QImage img = m_thumbnails->request(it->data(LibraryModel::pathRole).toString(),
                                                         catalog::ItemType::Image, 0, LibraryModel::thumbSize());
                if (!img.isNull())
                    it->setIcon(QIcon(QPixmap::fromImage(img))); // kept: no conversion on each paint
            }
            for (const QPointer<QLabel> &label : m_thumbLabels.values(key)) {
                if (!label)
                    continue;
                const QImage img = m_thumbnails->request(label->property("path").toString(), catalog::ItemType::Image, 0,
                                                         QSize(120, 120));
                if (!img.isNull())
                    label->setPixmap(QPixmap::fromImage(img).scaled(label->size(), Qt::KeepAspectRatio,
                                                                    Qt::SmoothTransformation));
            }
            m_thumbLabels.remove(key);
        });
    }

    // Settings.
    auto *settings = new Page;
    settings->setTitle(tr("Settings"));
    m_mode = new QComboBox;
    m_mode->setObjectName(QStringLiteral("mode"));
    m_mode->addItem(tr("Quick: text side only, no re-indexing"), QStringLiteral("query"));
    m_mode->addItem(tr("Full: all adapters (slower)"), QStringLiteral("full"));
    m_epochs = new QSpinBox;
    m_epochs->setObjectName(QStringLiteral("epochs"));
    m_epochs->setRange(1, 200);
    m_epochs->setValue(20);
    m_estimate = new QLabel;
    m_estimate->setObjectName(QStringLiteral("estimate"));
    m_estimate->setWordWrap(true);
    // Device: the CPU, and the GPU when this machine and build have one (else why not).
    const engine::ComputeSupport support = engine::computeSupport();
    m_device = new QComboBox;
    m_device->setObjectName(QStringLiteral("device"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    m_device->addItem(tr("GPU (CUDA)"), QStringLiteral("cuda"));
    if (auto *items = qobject_cast<QStandardItemModel *>(m_device->model()); items && !support.cuda) {
        items->item(1)->setEnabled(false);
        items->item(1)->setToolTip(support.cudaUnavailableReason);
        m_device->setToolTip(tr("GPU: %1").arg(support.cudaUnavailableReason));
    }
    m_device->setCurrentIndex(support.cuda && m_engine && m_engine->device() == QLatin1String("cuda") ? 1 : 0);
    m_bfloat16 = new QCheckBox(tr("bfloat16 (faster on CPUs with bfloat16 and on GPUs)"));
    m_bfloat16->setObjectName(QStringLiteral("bfloat16"));
    m_bfloat16->setToolTip(support.cpuBfloat16 ? tr("This CPU computes in bfloat16 natively.")
                                               : tr("This CPU has no native bfloat16: on the CPU it is slower."));
    auto *form = new QFormLayout(settings);
    form->addRow(tr("Mode:"), m_mode);
    form->addRow(tr("Passes over the examples:"), m_epochs);
    form->addRow(tr("Device:"), m_device);
    form->addRow(QString(), m_bfloat16);
    form->addRow(m_estimate);
    settings->onEnter = [this] { updateEstimate(); };
    connect(m_epochs, &QSpinBox::valueChanged, this, &TrainWizard::updateEstimate);
    connect(m_mode, &QComboBox::currentIndexChanged, this, &TrainWizard::updateEstimate);
    connect(m_device, &QComboBox::currentIndexChanged, this, &TrainWizard::updateEstimate);
    connect(m_bfloat16, &QCheckBox::toggled, this, &TrainWizard::updateEstimate);
    setPage(SettingsPage, settings);

    // Training.
    auto *training = new Page;
    training->setTitle(tr("Training"));
    training->setCommitPage(true);
    // The pack is saved when training ends: onwards there is no going back to retrain.
    setButtonText(QWizard::CommitButton, tr("See the &Results >"));
    m_progress = new QProgressBar;
    m_progress->setObjectName(QStringLiteral("trainProgress"));
    m_lossLabel = new QLabel;
    m_lossLabel->setObjectName(QStringLiteral("lossLabel"));
    m_lossLabel->setWordWrap(true);
    m_plot = new LossPlot(training);
    m_plot->setObjectName(QStringLiteral("lossPlot"));
    m_cancel = new QPushButton(tr("Stop training"));
    m_cancel->setObjectName(QStringLiteral("cancelTraining"));
    connect(m_cancel, &QPushButton::clicked, this, &TrainWizard::cancelTraining);
    auto *trLayout = new QVBoxLayout(training);
    trLayout->addWidget(m_progress);
    trLayout->addWidget(m_lossLabel);
    trLayout->addWidget(m_plot, 1);
    trLayout->addWidget(m_cancel, 0, Qt::AlignRight);
    training->complete = [this] { return m_succeeded; };
    training->onEnter = [this] { startTraining(); };
    connect(this, &TrainWizard::trainingFinished, training, [training](bool) { training->refresh(); });
    setPage(TrainingPage, training);

    // Results.
    auto *results = new Page;
    results->setTitle(tr("Results"));
    m_results = new QLabel;
    m_results->setObjectName(QStringLiteral("resultsLabel"));
    m_results->setWordWrap(true);
    m_results->setTextFormat(Qt::PlainText);
    m_activate = new QCheckBox(tr("Use it from now on"));
    m_activate->setObjectName(QStringLiteral("activatePack"));
    m_activate->setChecked(true);
    // The user's own queries, top 5 before and after side by side (search packs).
    m_sampleQueries = new QPlainTextEdit;
    m_sampleQueries->setObjectName(QStringLiteral("sampleQueries"));
    m_sampleQueries->setPlaceholderText(tr("A few searches to try, one per line (e.g. the name you taught)"));
    m_sampleQueries->setMaximumHeight(70);
    m_compare = new QPushButton(tr("Compare Before and After"));
    m_compare->setObjectName(QStringLiteral("compareQueries"));
    connect(m_compare, &QPushButton::clicked, this, &TrainWizard::startCompare);
    m_compareNote = new QLabel;
    m_compareNote->setObjectName(QStringLiteral("compareNote"));
    m_compareNote->setWordWrap(true);
    m_compareArea = new QWidget;
    m_compareGrid = new QGridLayout(m_compareArea);
    auto *scroll = new QScrollArea;
    scroll->setObjectName(QStringLiteral("comparison"));
    scroll->setWidgetResizable(true);
    scroll->setWidget(m_compareArea);
    auto *queryRow = new QHBoxLayout;
    queryRow->addWidget(m_sampleQueries, 1);
    queryRow->addWidget(m_compare, 0, Qt::AlignTop);
    auto *resLayout = new QVBoxLayout(results);
    resLayout->addWidget(m_results);
    resLayout->addLayout(queryRow);
    resLayout->addWidget(m_compareNote);
    resLayout->addWidget(scroll, 1);
    resLayout->addWidget(m_activate);
    results->onEnter = [this] {
        const bool search = task() == engine::retrievalTask && m_succeeded;
        m_sampleQueries->setEnabled(search);
        m_compare->setEnabled(search);
        if (!search) {
            m_compareNote->setText(tr("Sample queries compare searches; this pack answers questions."));
            return;
        }
        if (m_sampleQueries->toPlainText().trimmed().isEmpty()) {
            QStringList names;
            for (const Picked &p : std::as_const(m_picked))
                if (p.kind == QLatin1String("name") && !names.contains(p.text))
                    names << p.text;
            for (const auto &e : std::as_const(m_fileExamples))
                if (!e.name.isEmpty() && !names.contains(e.name) && names.size() < 5)
                    names << e.name;
            m_sampleQueries->setPlainText(names.mid(0, 5).join(QLatin1Char('\n')));
        }
    };
    setPage(ResultsPage, results);

    m_pool.setMaxThreadCount(1);
    updateGoalWidgets();
    connect(m_goalNames, &QRadioButton::toggled, this, &TrainWizard::updateGoalWidgets);
    connect(m_goalCaptions, &QRadioButton::toggled, this, &TrainWizard::updateGoalWidgets);
    connect(m_goalQuestions, &QRadioButton::toggled, this, &TrainWizard::updateGoalWidgets);
}

TrainWizard::~TrainWizard()
{
    stopWorker();
    m_listGeneration++;
    m_pool.waitForDone();
}

QString TrainWizard::pickedKind() const
{
    return m_goalQuestions->isChecked() ? QStringLiteral("qa")
        : m_goalCaptions->isChecked()   ? QStringLiteral("caption")
                                        : QStringLiteral("name");
}

void TrainWizard::updateGoalWidgets()
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

void TrainWizard::setPreselectedItems(const QStringList &paths)
{
    m_preselected = paths;
    m_goalNames->setChecked(true);
    // Shown (and selected) when the list arrives; listed already: select them now.
    if (m_libraryModel->rowCount() > 0)
        showLibrary(listedItems(), m_libraryNote->text());
}

QStringList TrainWizard::listedItems() const
{
    QStringList paths;
    for (int r = 0; r < m_libraryModel->rowCount(); ++r)
        paths << m_libraryModel->item(r)->data(Qt::UserRole).toString();
    return paths;
}

namespace {
constexpr int kListLimit = 2000; // items shown at once; the filter finds the others

// The pool's work uses an Engine of its own (its own catalog connection): the window's is
// used on the GUI thread only. false with *error when it cannot open.
bool openWorkerEngine(engine::Engine &worker, const QString &dataDir, const QString &device, QString *error)
{
    engine::Engine::Options options;
    options.dataDir = dataDir;
    options.device = device;
    if (worker.open(options))
        return true;
    *error = worker.errorString();
    return false;
}
} // namespace

void TrainWizard::finishListing(int generation, const QStringList &paths, const QString &note)
{
    if (generation != m_listGeneration)
        return;
    m_listing = false;
    showLibrary(paths, note);
}

void TrainWizard::listLibrary()
{
    if (!m_engine)
        return;
    const int generation = ++m_listGeneration;
    m_listing = true;
    m_libraryNote->setText(tr("Reading the library…"));
    const QString filter = m_libraryFilter->text().trimmed();
    const QString dataDir = m_engine->dataDir();
    QPointer<TrainWizard> self(this);
    QThreadPool *pool = &m_pool;
    pool->start([self, generation, filter, dataDir] {
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
        QMetaObject::invokeMethod(
            self.data(),
            [self, generation, paths, note] {
                if (self)
                    self->finishListing(generation, paths, note);
            },
            Qt::QueuedConnection);
    });
}

void TrainWizard::searchLibrary()
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
    QPointer<TrainWizard> self(this);
    m_pool.start([self, generation, text, dataDir, device] {
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
        QMetaObject::invokeMethod(
            self.data(),
            [self, generation, paths, note] {
                if (self)
                    self->finishListing(generation, paths, note);
            },
            Qt::QueuedConnection);
    });
}

void TrainWizard::showLibrary(const QStringList &given, const QString &note)
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

void TrainWizard::addPicked()
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

void TrainWizard::removePicked()
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

void TrainWizard::refreshPickedList()
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

QList<engine::LabelledExample> TrainWizard::examples() const
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

QString TrainWizard::task() const
{
    return m_goalQuestions->isChecked() ? engine::vqaTask : engine::retrievalTask;
}

void TrainWizard::countExamples()
{
    m_exampleCount = 0;
    m_fileExamples.clear();
    const QString file = m_dataFile->text().trimmed();
    QString fileProblem;
    if (!file.isEmpty()) {
        QString error;
        if (const auto read = engine::readTrainingFile(file, task(), &error))
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

void TrainWizard::updateEstimate()
{
    const int train = m_exampleCount - (m_exampleCount >= 5 ? std::max(1, int(std::lround(m_exampleCount * 0.2))) : 0);
    const int steps = (std::max(1, train) + 7) / 8 * m_epochs->value();
    const bool full = m_mode->currentData().toString() == QLatin1String("full");
    const bool gpu = m_device->currentData().toString() == QLatin1String("cuda");
    // Measured on the full-size model at batch 8, 2 CPU cores (docs/performance.md: 0.31 s
    // query, 30 s full with activation checkpointing), rounded up; bfloat16 autocast: 0.9×
    // in full mode on a CPU with native bfloat16 (measured), else slower.
    double secondsPerStep = full ? 32.0 : 0.4;
    QString where = tr("on a laptop CPU");
    if (gpu) {
        secondsPerStep /= 10; // a guess: GPU training is not measured yet
        where = tr("on the GPU (a guess)");
    } else if (m_bfloat16->isChecked()) {
        secondsPerStep *= engine::computeSupport().cpuBfloat16 ? (full ? 0.9 : 1.0) : 2.0;
    }
    m_estimate->setText(tr("%1 training steps; %2 roughly %3 with the full-size model.")
                            .arg(steps)
                            .arg(where, durationText(std::max(60.0, std::ceil(steps * secondsPerStep / 60.0) * 60))));
}

void TrainWizard::startTraining()
{
    if (m_running || !m_engine)
        return;
    m_running = true;
    m_succeeded = false;
    m_plot->clear();
    m_plot->setValidationName(task() == engine::vqaTask ? tr("held-out accuracy") : tr("held-out recall@1"));
    m_lastValidation = -1;
    m_progress->setValue(0);
    m_lossLabel->setText(tr("Preparing…"));
    m_cancel->setEnabled(true);
    m_comparison.clear();
    m_comparisonScope.clear();

    engine::TrainRequest rq;
    rq.task = task();
    rq.mode = m_mode->currentData().toString();
    rq.examples = examples(); // the file's (read when counted) and the picked ones
    rq.epochs = m_epochs->value();
    rq.device = m_device->currentData().toString();
    rq.bfloat16 = m_bfloat16->isChecked();
    rq.activate = false; // the results page decides
    m_packMode = rq.mode;
    const QString dataDir = m_engine->dataDir();
    const QString device = m_engine->device();
    m_cancelFlag = std::make_shared<std::atomic<bool>>(false);
    auto cancel = m_cancelFlag;
    QPointer<TrainWizard> self(this);
    m_worker = QtConcurrent::run([rq, dataDir, device, cancel, self] {
        engine::Engine worker;
        bool ok = false, cancelled = false;
        QString message;
        QJsonObject outcome;
        QList<engine::ValidationPoint> curve;
        if (openWorkerEngine(worker, dataDir, device, &message)) {
            engine::TrainingJob job(worker, rq);
            const auto result = job.run(
                [&](const engine::TrainProgressInfo &p) {
                    if (cancel->load())
                        job.requestInterruption();
                    if (p.stage != QLatin1String("training") && p.validation < 0)
                        return;
                    QMetaObject::invokeMethod(
                        self.data(),
                        [self, p] {
                            if (self)
                                self->onProgress(p);
                        },
                        Qt::QueuedConnection);
                },
                &message);
            if (result) {
                cancelled = result->cancelled;
                ok = !cancelled;
                outcome = result->toJson();
                curve = result->validationCurve;
            }
        }
        QMetaObject::invokeMethod(
            self.data(),
            [self, ok, cancelled, message, outcome, curve] {
                if (self)
                    self->onFinished(ok, cancelled, message, outcome, curve);
            },
            Qt::QueuedConnection);
    });
}

void TrainWizard::cancelTraining()
{
    if (m_cancelFlag)
        m_cancelFlag->store(true);
    m_cancel->setEnabled(false);
    m_lossLabel->setText(tr("Stopping after this step…"));
}

QString TrainWizard::validationText() const
{
    if (m_lastValidation < 0)
        return {};
    return QStringLiteral(" · ")
        + (task() == engine::vqaTask ? tr("held-out accuracy %1") : tr("held-out recall@1 %1"))
              .arg(m_lastValidation, 0, 'f', 2);
}

void TrainWizard::onProgress(const engine::TrainProgressInfo &p)
{
    if (p.validation >= 0) {
        m_lastValidation = p.validation;
        m_plot->addValidation(std::max(1, p.step), p.validation, p.totalSteps);
    }
    if (p.stage != QLatin1String("training"))
        return;
    m_progress->setMaximum(p.totalSteps);
    m_progress->setValue(p.step);
    if (p.validation < 0 || m_plot->count() < p.step)
        m_plot->add(p.loss, p.totalSteps);
    m_lossLabel->setText(tr("Step %1 of %2 · loss %3 · %4 examples/s · about %5 left")
                             .arg(p.step)
                             .arg(p.totalSteps)
                             .arg(p.loss, 0, 'f', 3)
                             .arg(p.examplesPerSecond, 0, 'f', p.examplesPerSecond < 10 ? 1 : 0)
                             .arg(durationText(p.etaSeconds))
                         + validationText());
}

int TrainWizard::validationPointCount() const
{
    return int(m_plot->validationPoints().size());
}

void TrainWizard::onFinished(bool ok, bool cancelled, const QString &message, const QJsonObject &outcome,
                             const QList<engine::ValidationPoint> &curve)
{
    m_running = false;
    m_succeeded = ok;
    m_cancel->setEnabled(false);
    // The engine's curve, when the progress reports did not carry it.
    if (m_plot->validationPoints().isEmpty()) {
        for (const engine::ValidationPoint &v : curve) {
            m_plot->addValidation(std::max(1, v.step), v.value, 0);
            m_lastValidation = v.value;
        }
    }
    if (cancelled) {
        m_lossLabel->setText(tr("Stopped. Nothing was saved; the model in use is unchanged."));
    } else if (!ok) {
        m_lossLabel->setText(message);
    } else {
        m_packName = outcome.value(QStringLiteral("pack")).toString();
        m_packPath = outcome.value(QStringLiteral("path")).toString();
        m_lossLabel->setText(tr("Done: %n step(s)", nullptr, outcome.value(QStringLiteral("steps")).toInt())
                             + validationText() + QLatin1Char('.'));
        m_results->setText(tr("Saved as “%1”.\nOn %2 held-out examples:\n  before: %3\n  after:  %4")
                               .arg(m_packName)
                               .arg(outcome.value(QStringLiteral("validation_examples")).toInt())
                               .arg(metricsText(outcome.value(QStringLiteral("before")).toObject()),
                                    metricsText(outcome.value(QStringLiteral("after")).toObject()))
                           + adviceText(outcome));
        const bool needsReembed = task() == engine::retrievalTask && m_packMode == QLatin1String("full");
        // A pack that did worse on the held-out examples is kept but not put to use unasked.
        m_activate->setChecked(!outcome.value(QStringLiteral("held_out_score_fell")).toBool());
        m_activate->setEnabled(true);
        m_activate->setText(needsReembed ? tr("Use it from now on (the library is re-embedded with it in the "
                                              "background; search switches to it when that is done)")
                                         : tr("Use it from now on"));
    }
    emit trainingFinished(ok);
}

void TrainWizard::startCompare()
{
    if (!m_engine || m_comparing || m_packPath.isEmpty())
        return;
    QStringList queries;
    for (const QString &line : m_sampleQueries->toPlainText().split(QLatin1Char('\n')))
        if (!line.trimmed().isEmpty())
            queries << line.trimmed();
    if (queries.isEmpty()) {
        m_compareNote->setText(tr("Type a search or two, one per line."));
        return;
    }
    queries = queries.mid(0, 10);
    QStringList examplePaths;
    for (const auto &e : examples())
        if (!examplePaths.contains(e.path))
            examplePaths << e.path;
    m_comparing = true;
    m_compare->setEnabled(false);
    m_compareNote->setText(tr("Searching with the model before and after…"));
    const QString dataDir = m_engine->dataDir();
    const QString device = m_device->currentData().toString();
    const QString pack = m_packPath;
    QPointer<TrainWizard> self(this);
    m_pool.start([self, dataDir, device, pack, queries, examplePaths] {
        engine::Engine worker;
        QString error;
        std::optional<engine::QueryComparisonResult> result;
        if (openWorkerEngine(worker, dataDir, device, &error))
            result = engine::compareQueries(worker, pack, queries, examplePaths, 5, device, &error);
        QMetaObject::invokeMethod(
            self.data(),
            [self, result, error] {
                if (!self)
                    return;
                self->m_comparing = false;
                self->m_compare->setEnabled(true);
                self->m_comparison = result ? result->queries : QList<engine::QueryComparison>{};
                self->m_comparisonScope = result ? result->scope : QString();
                self->showComparison(result ? QString() : error);
            },
            Qt::QueuedConnection);
    });
}

QWidget *TrainWizard::thumbnailLabel(const engine::PreviewHit &hit)
{
    auto *label = new QLabel;
    label->setFixedSize(60, 60);
    label->setAlignment(Qt::AlignCenter);
    label->setFrameShape(QFrame::StyledPanel);
    label->setProperty("path", hit.path);
    label->setToolTip(tr("%1\nsimilarity %2").arg(QDir::toNativeSeparators(hit.path)).arg(hit.score, 0, 'f', 3));
    const QSize size(120, 120);
    const QImage img = m_thumbnails ? m_thumbnails->request(hit.path, catalog::ItemType::Image, 0, size) : QImage();
    if (!img.isNull())
        label->setPixmap(QPixmap::fromImage(img).scaled(label->size(), Qt::KeepAspectRatio, Qt::SmoothTransformation));
    else if (m_thumbnails)
        m_thumbLabels.insert(ThumbnailProvider::key(hit.path, 0, size), label);
    if (img.isNull())
        label->setText(QFileInfo(hit.path).fileName());
    return label;
}

void TrainWizard::showComparison(const QString &error)
{
    while (QLayoutItem *item = m_compareGrid->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    m_thumbLabels.clear();
    if (!error.isEmpty()) {
        m_compareNote->setText(error);
        return;
    }
    m_compareNote->setText(m_comparisonScope == QLatin1String("library")
                               ? tr("The top 5 of your library for each search, before and after.")
                               : tr("This pack changes how photos are seen, so the library’s stored vectors do not "
                                    "apply: both columns rank only the training examples’ photos, embedded with "
                                    "each model."));
    auto header = [](const QString &text) {
        auto *l = new QLabel(text);
        QFont f = l->font();
        f.setBold(true);
        l->setFont(f);
        return l;
    };
    m_compareGrid->addWidget(header(tr("Search")), 0, 0);
    m_compareGrid->addWidget(header(tr("Before")), 0, 1);
    m_compareGrid->addWidget(header(tr("After")), 0, 2);
    int row = 1;
    for (const engine::QueryComparison &c : std::as_const(m_comparison)) {
        m_compareGrid->addWidget(new QLabel(c.query), row, 0, Qt::AlignTop);
        for (int side = 0; side < 2; ++side) {
            auto *strip = new QWidget;
            auto *h = new QHBoxLayout(strip);
            h->setContentsMargins(0, 0, 0, 0);
            for (const engine::PreviewHit &hit : side == 0 ? c.before : c.after)
                h->addWidget(thumbnailLabel(hit));
            h->addStretch(1);
            m_compareGrid->addWidget(strip, row, 1 + side);
        }
        ++row;
    }
    m_compareGrid->setRowStretch(row, 1);
}

void TrainWizard::stopWorker()
{
    if (m_cancelFlag)
        m_cancelFlag->store(true);
    m_worker.waitForFinished();
    m_pool.waitForDone();
}

void TrainWizard::accept()
{
    if (m_succeeded && m_activate->isChecked() && m_activate->isEnabled() && m_engine) {
        QString error;
        bool reembed = false;
        if (!engine::activateAdapterPack(*m_engine, m_packName, &error, &reembed))
            m_results->setText(m_results->text() + QLatin1Char('\n') + error);
        else if (reembed)
            emit reembedRequested(m_packName);
    }
    QWizard::accept();
}

void TrainWizard::reject()
{
    stopWorker();
    QWizard::reject();
}

} // namespace unisearch::ui
