#include "ui/trainwizard.h"

#include "engine/adapterpacks.h"
#include "engine/engine.h"
#include "engine/trainingjob.h"
#include "ui/thumbnailprovider.h"
#include "ui/trainwizard/trainexamplespage.h"
#include "ui/trainwizard/traingoalpage.h"
#include "ui/trainwizard/trainresultspage.h"
#include "ui/trainwizard/trainrunpage.h"
#include "ui/trainwizard/trainsettingspage.h"

namespace unisearch::ui {

TrainWizard::TrainWizard(engine::Engine *engine, QWidget *parent)
    : QWizard(parent)
    , m_engine(engine)
{
    setObjectName(QStringLiteral("trainWizard"));
    setWindowTitle(tr("Teach Unisearch your words"));
    setOption(QWizard::NoBackButtonOnLastPage);
    // Room for a few rows of the library and the before/after comparison.
    resize(860, 680);
    m_pool.setMaxThreadCount(1);
    if (m_engine)
        m_thumbnails = new ThumbnailProvider(m_engine->cacheDir(), this);

    m_goal = new TrainGoalPage;
    setPage(GoalPage, m_goal);
    m_examples = new TrainExamplesPage(m_engine, m_goal, m_thumbnails, &m_pool);
    connect(m_examples, &TrainExamplesPage::examplesChanged, this, &TrainWizard::examplesChanged);
    connect(m_goal, &TrainGoalPage::goalChanged, m_examples, &TrainExamplesPage::updateGoalWidgets);
    setPage(ExamplesPage, m_examples);
    m_settings = new TrainSettingsPage(m_engine, m_examples);
    setPage(SettingsPage, m_settings);

    // The training runs on what the pages before it chose.
    m_training = new TrainRunPage(m_engine, [this] {
        engine::TrainingParams rq;
        rq.task = task();
        rq.mode = m_settings->mode();
        rq.examples = examples(); // the file's (read when counted) and the picked ones
        rq.epochs = m_settings->epochs();
        rq.device = m_settings->device();
        rq.bfloat16 = m_settings->bfloat16();
        rq.activate = false; // the results page decides
        return rq;
    });
    // The pack is saved when training ends: onwards there is no going back to retrain.
    setButtonText(QWizard::CommitButton, tr("See the &Results >"));
    setPage(TrainingPage, m_training);

    m_results = new TrainResultsPage(m_engine, m_examples, m_training, m_thumbnails, &m_pool);
    setPage(ResultsPage, m_results);
    connect(m_training, &TrainRunPage::started, m_results, &TrainResultsPage::clearComparison);
    connect(m_training, &TrainRunPage::finished, this, [this](bool ok) {
        if (ok)
            m_results->showOutcome();
        emit trainingFinished(ok);
    });
}

TrainWizard::~TrainWizard()
{
    stopWorker();
}

QString TrainWizard::task() const
{
    return m_goal->task();
}

int TrainWizard::exampleCount() const
{
    return m_examples->exampleCount();
}

QList<engine::LabelledExample> TrainWizard::examples() const
{
    return m_examples->examples();
}

void TrainWizard::setPreselectedItems(const QStringList &paths)
{
    m_goal->chooseNames();
    m_examples->setPreselectedItems(paths);
}

QStringList TrainWizard::listedItems() const
{
    return m_examples->listedItems();
}

bool TrainWizard::isListing() const
{
    return m_examples->isListing();
}

bool TrainWizard::isComparing() const
{
    return m_results->isComparing();
}

QList<engine::QueryComparison> TrainWizard::comparison() const
{
    return m_results->comparison();
}

QString TrainWizard::comparisonScope() const
{
    return m_results->comparisonScope();
}

QString TrainWizard::packPath() const
{
    return m_training->result().packPath; // empty until a run saved a pack
}

int TrainWizard::validationPointCount() const
{
    return m_training->validationPointCount();
}

bool TrainWizard::isTraining() const
{
    return m_training->isTraining();
}

bool TrainWizard::trainingSucceeded() const
{
    return m_training->succeeded();
}

QString TrainWizard::packName() const
{
    return m_training->result().packName;
}

void TrainWizard::stopWorker()
{
    m_training->stop();
    m_pool.waitForDone();
}

void TrainWizard::accept()
{
    if (m_training->succeeded() && m_results->useFromNowOn() && m_engine) {
        QString error;
        bool reembed = false;
        if (!engine::activateAdapterPack(*m_engine, packName(), &error, &reembed))
            m_results->addNote(error);
        else if (reembed)
            emit reembedRequested(packName());
    }
    QWizard::accept();
}

void TrainWizard::reject()
{
    stopWorker();
    QWizard::reject();
}

} // namespace unisearch::ui
