#include "ui/trainwizard.h"

#include "engine/engine.h"
#include "engine/models.h"
#include "engine/training.h"

#include <QButtonGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
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

constexpr int kFewExamples = 20; // below this, warn: a few dozen examples teach a word reliably

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

} // namespace

// The loss of every step as a line.
class LossPlot : public QWidget
{
public:
    explicit LossPlot(QWidget *parent)
        : QWidget(parent)
    {
        setMinimumHeight(120);
    }
    void add(double v)
    {
        m_values.append(v);
        update();
    }
    void clear()
    {
        m_values.clear();
        update();
    }
    int count() const { return int(m_values.size()); }

protected:
    void paintEvent(QPaintEvent *) override
    {
        QPainter p(this);
        p.fillRect(rect(), palette().base());
        if (m_values.size() < 2)
            return;
        double lo = m_values.front(), hi = m_values.front();
        for (double v : m_values) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        if (hi - lo < 1e-9)
            hi = lo + 1;
        QPolygonF line;
        for (qsizetype i = 0; i < m_values.size(); ++i)
            line << QPointF(4 + (width() - 8) * double(i) / double(m_values.size() - 1),
                            4 + (height() - 8) * (1 - (m_values[i] - lo) / (hi - lo)));
        p.setRenderHint(QPainter::Antialiasing);
        p.setPen(QPen(palette().highlight().color(), 2));
        p.drawPolyline(line);
    }

private:
    QList<double> m_values;
};

TrainWizard::TrainWizard(engine::Engine *engine, QWidget *parent)
    : QWizard(parent)
    , m_engine(engine)
{
    setObjectName(QStringLiteral("trainWizard"));
    setWindowTitle(tr("Teach Unisearch your words"));
    setOption(QWizard::NoBackButtonOnLastPage);

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

    // Examples.
    auto *examples = new Page;
    examples->setTitle(tr("Examples"));
    examples->setSubTitle(tr("A file of labelled photos: CSV (path,caption — add a third column “name” for names; "
                             "questions: path,question,answer) or JSON (COCO captions, or the VQA list)."));
    m_dataFile = new QLineEdit;
    m_dataFile->setObjectName(QStringLiteral("dataFile"));
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
    auto *fileRow = new QHBoxLayout;
    fileRow->addWidget(m_dataFile, 1);
    fileRow->addWidget(browse);
    auto *exLayout = new QVBoxLayout(examples);
    exLayout->addLayout(fileRow);
    exLayout->addWidget(m_countLabel);
    examples->complete = [this] { return m_exampleCount > 0; };
    examples->onEnter = [this] { countExamples(); };
    connect(m_dataFile, &QLineEdit::textChanged, this, [this, examples] {
        countExamples();
        examples->refresh();
    });
    setPage(ExamplesPage, examples);

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
    auto *form = new QFormLayout(settings);
    form->addRow(tr("Mode:"), m_mode);
    form->addRow(tr("Passes over the examples:"), m_epochs);
    form->addRow(tr("Device:"), new QLabel(m_engine ? m_engine->device() : QString()));
    form->addRow(m_estimate);
    settings->onEnter = [this] { updateEstimate(); };
    connect(m_epochs, &QSpinBox::valueChanged, this, &TrainWizard::updateEstimate);
    connect(m_mode, &QComboBox::currentIndexChanged, this, &TrainWizard::updateEstimate);
    setPage(SettingsPage, settings);

    // Training.
    auto *training = new Page;
    training->setTitle(tr("Training"));
    training->setCommitPage(true);
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
    auto *resLayout = new QVBoxLayout(results);
    resLayout->addWidget(m_results);
    resLayout->addWidget(m_activate);
    resLayout->addStretch(1);
    setPage(ResultsPage, results);
}

TrainWizard::~TrainWizard()
{
    stopWorker();
}

QString TrainWizard::task() const
{
    return m_goalQuestions->isChecked() ? engine::vqaTask : engine::retrievalTask;
}

void TrainWizard::countExamples()
{
    m_exampleCount = 0;
    const QString file = m_dataFile->text().trimmed();
    if (file.isEmpty()) {
        m_countLabel->setText(tr("Choose a file of examples."));
        return;
    }
    QString error;
    const auto examples = engine::readTrainingFile(file, task(), &error);
    if (!examples) {
        m_countLabel->setText(error);
        return;
    }
    m_exampleCount = int(examples->size());
    QString text = tr("%n example(s).", nullptr, m_exampleCount);
    if (m_exampleCount < kFewExamples)
        text += QLatin1Char(' ') + tr("That is few: a few dozen examples teach a word reliably.");
    m_countLabel->setText(text);
}

void TrainWizard::updateEstimate()
{
    const int train = m_exampleCount - (m_exampleCount >= 5 ? std::max(1, int(std::lround(m_exampleCount * 0.2))) : 0);
    const int steps = (std::max(1, train) + 7) / 8 * m_epochs->value();
    const bool full = m_mode->currentData().toString() == QLatin1String("full");
    // Measured on the full-size model, 2 CPU cores (docs/performance.md), rounded up.
    const double secondsPerStep = full ? 25.0 : 0.6;
    m_estimate->setText(tr("%1 training steps; on a laptop CPU roughly %2 minute(s) with the full-size model.")
                            .arg(steps)
                            .arg(std::max(1.0, std::ceil(steps * secondsPerStep / 60.0)), 0, 'f', 0));
}

void TrainWizard::startTraining()
{
    if (m_running || !m_engine)
        return;
    m_running = true;
    m_succeeded = false;
    m_plot->clear();
    m_progress->setValue(0);
    m_lossLabel->setText(tr("Preparing…"));
    m_cancel->setEnabled(true);

    engine::TrainRequest rq;
    rq.task = task();
    rq.mode = m_mode->currentData().toString();
    rq.dataFile = m_dataFile->text().trimmed();
    rq.epochs = m_epochs->value();
    rq.activate = false; // the results page decides
    m_packMode = rq.mode;
    const QString dataDir = m_engine->dataDir();
    const QString device = m_engine->device();
    m_cancelFlag = std::make_shared<std::atomic<bool>>(false);
    auto cancel = m_cancelFlag;
    QPointer<TrainWizard> self(this);
    m_worker = QtConcurrent::run([rq, dataDir, device, cancel, self] {
        // Its own connection to the catalog: the GUI thread keeps using the window's.
        engine::Engine worker;
        engine::Engine::Options options;
        options.dataDir = dataDir;
        options.device = device;
        bool ok = false, cancelled = false;
        QString message;
        QJsonObject outcome;
        if (!worker.open(options)) {
            message = worker.errorString();
        } else {
            engine::TrainingJob job(worker, rq);
            const auto result = job.run(
                [&](const engine::TrainProgressInfo &p) {
                    if (cancel->load())
                        job.requestInterruption();
                    if (p.stage != QLatin1String("training"))
                        return;
                    QMetaObject::invokeMethod(
                        self.data(),
                        [self, p] {
                            if (self)
                                self->onProgress(p.step, p.totalSteps, p.loss, p.etaSeconds);
                        },
                        Qt::QueuedConnection);
                },
                &message);
            if (result) {
                cancelled = result->cancelled;
                ok = !cancelled;
                outcome = result->toJson();
            }
        }
        QMetaObject::invokeMethod(
            self.data(),
            [self, ok, cancelled, message, outcome] {
                if (self)
                    self->onFinished(ok, cancelled, message, outcome);
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

void TrainWizard::onProgress(int step, int total, double loss, double eta)
{
    m_progress->setMaximum(total);
    m_progress->setValue(step);
    m_plot->add(loss);
    m_lossLabel->setText(tr("Step %1 of %2, loss %3, about %4 s left")
                             .arg(step)
                             .arg(total)
                             .arg(loss, 0, 'f', 3)
                             .arg(eta, 0, 'f', 0));
}

void TrainWizard::onFinished(bool ok, bool cancelled, const QString &message, const QJsonObject &outcome)
{
    m_running = false;
    m_succeeded = ok;
    m_cancel->setEnabled(false);
    if (cancelled) {
        m_lossLabel->setText(tr("Stopped. Nothing was saved; the model in use is unchanged."));
    } else if (!ok) {
        m_lossLabel->setText(message);
    } else {
        m_packName = outcome.value(QStringLiteral("pack")).toString();
        m_lossLabel->setText(tr("Done: %n step(s).", nullptr, outcome.value(QStringLiteral("steps")).toInt()));
        m_results->setText(tr("Saved as “%1”.\nOn %2 held-out examples:\n  before: %3\n  after:  %4")
                               .arg(m_packName)
                               .arg(outcome.value(QStringLiteral("validation_examples")).toInt())
                               .arg(metricsText(outcome.value(QStringLiteral("before")).toObject()),
                                    metricsText(outcome.value(QStringLiteral("after")).toObject())));
        const bool needsReembed = task() == engine::retrievalTask && m_packMode == QLatin1String("full");
        m_activate->setChecked(true);
        m_activate->setEnabled(true);
        m_activate->setText(needsReembed ? tr("Use it from now on (the library is re-embedded with it in the "
                                              "background; search switches to it when that is done)")
                                         : tr("Use it from now on"));
    }
    emit trainingFinished(ok);
}

void TrainWizard::stopWorker()
{
    if (m_cancelFlag)
        m_cancelFlag->store(true);
    m_worker.waitForFinished();
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
