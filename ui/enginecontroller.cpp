#include "ui/enginecontroller.h"

#include "engine/engine.h"
#include "engine/retrievalmodel.h"
#include "engine/training.h"
#include "util/log.h"
#include "ui/uisettings.h"
#include "util/settings.h"

#include <QDir>
#include <QFileInfo>
#include <QMetaObject>
#include <QPointer>
#include <QThread>

namespace unisearch::ui {

namespace {

const QString logCategory = QStringLiteral("ui");

} // namespace

QStringList textLanguagesInUse(const QStringList &installed)
{
    QStringList languages;
    for (const QString &language : Settings().value(settings::ocrLanguages))
        if (installed.contains(language) && !languages.contains(language))
            languages << language;
    if (languages.isEmpty() && !installed.isEmpty())
        languages << (installed.contains(QStringLiteral("eng")) ? QStringLiteral("eng") : installed.first());
    return languages;
}

engine::IndexParams withTextSettings(engine::IndexParams params)
{
    params.ocrLanguages = textLanguagesInUse(engine::Engine::installedTextLanguages());
    params.ocr = Settings().value(settings::ocr) && !params.ocrLanguages.isEmpty();
    return params;
}

// The search thread's state: the open session and the plan generation it was opened for.
struct EngineController::SearchState {
    std::unique_ptr<engine::SearchSession> session;
    int generation = 0;
};

// What a request's search opens: the Engine's plan (or why there is none), read on the GUI
// thread, with the generation of invalidateSearch() it belongs to.
struct EngineController::SearchPlan {
    std::optional<engine::SearchSessionPlan> plan;
    QString error;
    int generation = 0;
};

EngineController::EngineController(engine::Engine *engine, QObject *parent)
    : QObject(parent), m_engine(engine), m_searchState(std::make_shared<SearchState>())
{
    qRegisterMetaType<engine::SearchResult>();
    qRegisterMetaType<engine::AskResult>();
    qRegisterMetaType<engine::IndexProgress>();
    qRegisterMetaType<engine::IndexResult>();
    // One search thread: a Searcher serves one thread at a time, and a newer query is
    // better served by skipping the queued ones than by running them side by side.
    // Both threads end as soon as nothing is queued (expiry 0), taking their OpenMP teams
    // with them, as an idle InferenceWorker does: an idle team elsewhere makes libgomp's
    // teams sleep at once between operators (engine/inference.h).
    m_searchPool.setMaxThreadCount(1);
    m_searchPool.setExpiryTimeout(0);
    m_indexPool.setMaxThreadCount(1);
    m_indexPool.setExpiryTimeout(0);
    m_idleTimer = new QTimer(this);
    m_idleTimer->setSingleShot(true);
    connect(m_idleTimer, &QTimer::timeout, this, &EngineController::unloadModels);
    setUnloadAfter(Settings().value(settings::unloadAfterSeconds));
}

EngineController::~EngineController()
{
    if (m_indexJob)
        m_indexJob->requestInterruption();
    m_searchId.fetch_add(1);  // queued searches are skipped
    m_searchPool.waitForDone();
    if (m_indexJob)
        m_indexJob->wait();
    m_indexPool.waitForDone();
    m_askWorker.reset();  // runs what is queued, then joins
}

void EngineController::invalidateSearch()
{
    ++m_searchGeneration;
    m_searchPlan.reset();
}

std::shared_ptr<const EngineController::SearchPlan> EngineController::currentSearchPlan()
{
    if (!m_searchPlan) {
        auto p = std::make_shared<SearchPlan>();
        p->plan = m_engine->searchSessionPlan(&p->error);
        p->generation = m_searchGeneration;
        // Without a model there is nothing to keep: the next request asks again.
        if (!p->plan)
            return p;
        m_searchPlan = std::move(p);
    }
    return m_searchPlan;
}

int EngineController::search(const engine::SearchParams &params)
{
    if (params.rerank.value_or(false))
        return startSearchTask([this, params](engine::Searcher &s, int id, QString *error) {
            return searchProgressively(s, id, params, error);
        });
    return startSearchTask([params](engine::Searcher &s, int, QString *error) { return s.search(params, error); });
}

int EngineController::similar(const QString &path, const engine::SimilarParams &params)
{
    return startSearchTask(
        [path, params](engine::Searcher &s, int, QString *error) { return s.similar(path, params, error); });
}

int EngineController::startSearchTask(SearchFn fn)
{
    const int id = m_searchId.fetch_add(1) + 1;
    m_searching = true;
    touch();
    emit searchStarted(id);
    std::shared_ptr<SearchState> state = m_searchState;
    std::shared_ptr<const SearchPlan> plan = currentSearchPlan();
    QPointer<EngineController> self(this);
    m_searchPool.start([this, self, state, plan, id, fn = std::move(fn)] {
        // Superseded while queued: a newer request follows.
        if (id != m_searchId.load())
            return;
        QString error;
        std::optional<engine::SearchResult> result;
        try {
            if (ensureSession(*state, *plan, &error))
                result = fn(state->session->searcher(), id, &error);
        } catch (const std::exception &e) {
            error = QString::fromUtf8(e.what());
        }
        if (!self)
            return;
        QMetaObject::invokeMethod(
            self.data(), [self, id, result = std::move(result), error] {
                if (self)
                    self->deliverSearch(id, result, error);
            },
            Qt::QueuedConnection);
    });
    return id;
}

// The session stays open while its plan's generation is current. When the library or the model
// changed, the loaded model is kept if it is still the plan's (only the store and the catalog's
// view of the library are reopened); a model loaded here is warmed before the first query.
bool EngineController::ensureSession(SearchState &state, const SearchPlan &plan, QString *error)
{
    if (state.session && state.generation == plan.generation)
        return true;
    std::shared_ptr<engine::RetrievalModel> model;
    if (state.session && plan.plan && state.session->model()->fingerprint() == plan.plan->vectorKey)
        model = state.session->model();
    state.session.reset();
    m_sessionOpen = false;
    state.generation = plan.generation;
    if (!plan.plan) {
        *error = plan.error;
        return false;
    }
    const bool loads = !model;
    if (loads) {
        postSearchModelState(ModelState::Loading);
        ++m_searchLoads;
        if (QThread::currentThread() == thread())
            ++m_guiThreadLoads;
    }
    for (;;) {  // never while an indexing run is taking the lock (see StoreGate)
        const std::lock_guard guard(m_storeGate->mutex);
        if (!m_storeGate->indexStarting) {
            m_storeGate->opening = true;
            break;
        }
        QThread::msleep(20);
    }
    state.session = engine::SearchSession::open(*plan.plan, nullptr, std::move(model), error);
    {
        const std::lock_guard guard(m_storeGate->mutex);
        m_storeGate->opening = false;
    }
    // A model loaded now runs one throw-away query, so that the first real one is fast.
    if (state.session && loads && !state.session->warmUp(error))
        state.session.reset();
    m_sessionOpen = state.session != nullptr;
    if (loads)
        postSearchModelState(state.session ? ModelState::Ready : ModelState::Failed, *error);
    return state.session != nullptr;
}

// The store's order at once (a search without the re-rank), then the engine's re-rank of it,
// each partial order shown as it comes; a newer request (or closing) cancels it between batches.
std::optional<engine::SearchResult> EngineController::searchProgressively(engine::Searcher &s, int id,
                                                                          const engine::SearchParams &params,
                                                                          QString *error)
{
    engine::SearchParams storeParams = params;
    storeParams.rerank = false;
    std::optional<engine::SearchResult> store = s.search(storeParams, error);
    if (!store || id != m_searchId.load())
        return store;
    QPointer<EngineController> self(this);
    const auto post = [this, self, id](const engine::SearchResult &partial, int done, int total) {
        if (id != m_searchId.load())
            return false;  // superseded: stop re-ranking
        QMetaObject::invokeMethod(
            this, [self, id, partial, done, total] {
                if (self && id == self->m_searchId.load())
                    emit self->searchUpdated(id, partial, done, total);
            },
            Qt::QueuedConnection);
        return true;
    };
    const int depth = params.rerankCount > 0 ? params.rerankCount : engine::defaultRerankCount(s.model().device());
    post(*store, 0, int(std::min<qsizetype>(store->hits.size(), depth)));
    return s.rerank(*store, params, post, error);
}

void EngineController::postSearchModelState(ModelState state, const QString &error)
{
    QPointer<EngineController> self(this);
    QMetaObject::invokeMethod(
        this, [self, state, error] {
            if (self)
                self->setSearchModelState(state, error);
        },
        Qt::QueuedConnection);
}

void EngineController::setSearchModelState(ModelState state, const QString &error)
{
    m_searchModelState = state;
    emit searchModelStateChanged(state, error);
}

void EngineController::setAskModelState(ModelState state, const QString &error)
{
    m_askModelState = state;
    emit askModelStateChanged(state, error);
}

void EngineController::preloadSearch()
{
    if (!m_engine->isOpen() || !m_engine->activeModel(engine::retrievalTask))
        return;
    touch();
    std::shared_ptr<SearchState> state = m_searchState;
    std::shared_ptr<const SearchPlan> plan = currentSearchPlan();
    m_searchPool.start([this, state, plan] {
        QString error;
        try {
            ensureSession(*state, *plan, &error);
        } catch (const std::exception &e) {
            postSearchModelState(ModelState::Failed, QString::fromUtf8(e.what()));
        }
    });
}

void EngineController::setUnloadAfter(int seconds)
{
    m_idleTimer->stop();
    m_idleTimer->setInterval(std::chrono::seconds(std::max(0, seconds)));
    touch();
}

void EngineController::touch()
{
    if (m_idleTimer && m_idleTimer->interval() > 0)
        m_idleTimer->start();
}

void EngineController::unloadModels()
{
    // Busy (a search, a question, or a model still loading): try again after the next idle time.
    if (m_searching || m_asking || m_searchModelState == ModelState::Loading
        || m_askModelState == ModelState::Loading) {
        touch();
        return;
    }
    const bool freesSearch = m_sessionOpen.load() || m_searchModelState != ModelState::Unloaded;
    if (!freesSearch && !m_askWorker)
        return;  // nothing loaded
    if (freesSearch) {
        std::shared_ptr<SearchState> state = m_searchState;
        m_searchPool.start([this, state] {
            state->session.reset();
            state->generation = -1;  // the next request opens a session again
            m_sessionOpen = false;
        });
        setSearchModelState(ModelState::Unloaded, {});
    }
    if (m_askWorker) {
        m_askWorker.reset();  // its thread is idle: it joins at once
        m_askModel.clear();
        m_askPrepared = false;
        setAskModelState(ModelState::Unloaded, {});
    }
    log::info(logCategory, QStringLiteral("models freed after %1 s without use").arg(m_idleTimer->interval() / 1000));
}

void EngineController::deliverSearch(int id, std::optional<engine::SearchResult> result, const QString &error)
{
    if (id != m_searchId.load())
        return;  // superseded
    m_searching = false;
    touch();
    if (result)
        emit searchFinished(id, *result);
    else
        emit searchFailed(id, error.isEmpty() ? tr("The search failed.") : error);
}

int EngineController::ask(const AskTarget &target, const QString &question, const engine::AskParams &params,
                          QString *error)
{
    if (!ensureAskWorker(error))
        return -1;
    const int id = ++m_askId;
    m_asking = true;
    m_askGeneration->fetch_add(1); // a preparation still queued is not wanted now
    touch();
    QPointer<EngineController> self(this);
    m_askWorker->submit([self, id, target, question, params,
                         encoded = m_questionImagesEncoded](engine::InferenceService &service) {
        std::optional<engine::AskResult> r;
        QString why;
        if (target.type == catalog::ItemType::Image) {
            r = service.ask({target.path}, question, params, &why);
        } else {
            // A video: the frame of the moment, or frames sampled over the whole video.
            r = service.askVideo(target.path, question, params, target.atSec, &why);
        }
        encoded->store(service.questionImagesEncoded());
        QMetaObject::invokeMethod(
            self.data(), [self, id, r, why] {
                if (self)
                    self->deliverAsk(id, r, why);
            },
            Qt::QueuedConnection);
    });
    return id;
}

void EngineController::prepareQuestionAbout(const QString &path)
{
    if (!m_askWorker || (m_askModelState != ModelState::Loading && m_askModelState != ModelState::Ready))
        return; // the ask panel was not used yet: do not load gigabytes for nobody
    // A use of the question model: the idle unload (which joins its thread) waits for a
    // whole idle time after the last one.
    touch();
    const int generation = m_askGeneration->fetch_add(1) + 1;
    QPointer<EngineController> self(this);
    m_askWorker->submit([self, path, generation, current = m_askGeneration,
                         encoded = m_questionImagesEncoded](engine::InferenceService &service) {
        if (current->load() != generation)
            return; // another photo was shown, or a question asked, since
        QString why;
        const bool ok = service.prepareQuestionAbout({path}, &why);
        encoded->store(service.questionImagesEncoded());
        if (!ok)
            log::info(logCategory, QStringLiteral("not prepared for questions: %1").arg(why));
        QMetaObject::invokeMethod(
            self.data(), [self, path] {
                if (self)
                    emit self->questionPrepared(path);
            },
            Qt::QueuedConnection);
    });
}

// The worker of the active question model, created (not loaded: its thread loads it) when
// there is none or the active model changed.
bool EngineController::ensureAskWorker(QString *error)
{
    const auto active = m_engine->activeModel(engine::vqaTask);
    if (!active) {
        if (error)
            *error = tr("Asking needs a question-answering (VQA) model: import one with Model → Import….");
        return false;
    }
    if (m_askWorker && m_askModel == active->name)
        return true;
    QString why;
    std::unique_ptr<engine::InferenceService> service = m_engine->inference(engine::vqaTask, {}, &why);
    if (!service) {
        if (error)
            *error = why;
        return false;
    }
    m_askWorker.reset();
    m_askWorker = std::make_unique<engine::InferenceWorker>(std::move(service));
    m_askModel = active->name;
    m_askModelState = ModelState::Unloaded;
    m_askPrepared = false;
    return true;
}

void EngineController::preloadAsk()
{
    if (!m_engine->isOpen() || m_askModelState == ModelState::Loading || m_askModelState == ModelState::Ready
        || !ensureAskWorker(nullptr))
        return;
    touch();
    setAskModelState(ModelState::Loading, {});
    QPointer<EngineController> self(this);
    m_askWorker->submit([self](engine::InferenceService &service) {
        QString why;
        // Loaded, every part a question needs prepared and one throw-away question run: the
        // first question after "Ready" pays for none of it.
        const bool loaded = service.warmUpQuestions(&why);
        const bool prepared = service.isPreparedForQuestions();
        QMetaObject::invokeMethod(
            self.data(), [self, loaded, prepared, why] {
                if (!self)
                    return;
                self->m_askPrepared = prepared;
                self->setAskModelState(loaded ? ModelState::Ready : ModelState::Failed, why);
            },
            Qt::QueuedConnection);
    });
}

void EngineController::deliverAsk(int id, std::optional<engine::AskResult> result, QString error)
{
    if (id != m_askId || !m_asking)
        return;  // cancelled or superseded
    m_asking = false;
    touch();
    if (result && m_askModelState != ModelState::Ready)
        setAskModelState(ModelState::Ready, {});  // loaded by the question itself
    if (result)
        emit askFinished(id, *result);
    else
        emit askFailed(id, error);
}

void EngineController::cancelAsk()
{
    if (!m_asking)
        return;
    m_asking = false;
    ++m_askId;
    emit askCancelled();
}

bool EngineController::startIndexing(const QStringList &paths, QString *error)
{
    auto fail = [&](const QString &message) {
        if (error)
            *error = message;
        return false;
    };
    if (m_indexJob)
        return fail(tr("The library is being indexed already."));
    if (!m_engine->isOpen())
        return fail(m_engine->errorString());
    if (!m_engine->activeModel(engine::retrievalTask))
        return fail(tr("Indexing needs a search model: import one first (Model → Import…)."));
    engine::IndexParams params;
    params.dataDir = m_engine->dataDir();
    params.paths = paths.isEmpty() ? m_engine->folders() : paths;
    if (params.paths.isEmpty())
        return fail(tr("The library has no folders yet: add one first (File → Add Folder…)."));
    params.device = m_engine->device();
    return startJob(params, false, error);
}

bool EngineController::startReembed(QString *error)
{
    if (m_indexJob) {
        if (error)
            *error = tr("The library is being indexed; try again when it is done.");
        return false;
    }
    std::optional<engine::IndexParams> params = engine::reembedJobParams(*m_engine, {}, error);
    if (!params)
        return false;
    if (params->paths.isEmpty()) { // nothing to re-embed: switch now
        finishReembedJob(false);
        return true;
    }
    return startJob(*params, true, error);
}

bool EngineController::startJob(const engine::IndexParams &params, bool reembed, QString *error)
{
    Q_UNUSED(error);
    m_reembedding = reembed;
    m_indexJob = std::make_unique<engine::IndexJob>(withTextSettings(params));
    connect(m_indexJob.get(), &engine::IndexJob::progressUpdated, this, &EngineController::indexProgress,
            Qt::QueuedConnection);
    // Its first report comes after it took the lock: session opens may go on.
    connect(m_indexJob.get(), &engine::IndexJob::progressUpdated, this, &EngineController::indexLockTaken,
            Qt::QueuedConnection);
    connect(m_indexJob.get(), &engine::IndexJob::finished, this,
            [this](const engine::IndexResult &r) {
                const bool reembed = m_reembedding;
                finishIndexing();
                emit indexFinished(r);
                if (reembed) {
                    finishReembedJob(r.cancelled);
                } else if (!r.cancelled) {
                    // A pending re-embed goes on: it embeds what this run added, then switches.
                    const auto model = m_engine->activeModel(engine::retrievalTask);
                    const QString pending = model ? m_engine->pendingAdapterPack(model->name) : QString();
                    QString why;
                    if (!pending.isEmpty() && startReembed(&why) && isIndexing())
                        emit reembedStarted(QFileInfo(pending).completeBaseName());
                    else if (!pending.isEmpty() && !why.isEmpty())
                        emit reembedFinished(false, why);
                }
            },
            Qt::QueuedConnection);
    connect(m_indexJob.get(), &engine::IndexJob::failed, this,
            [this](const QString &e) {
                const bool reembed = m_reembedding;
                finishIndexing();
                emit indexFailed(e);
                if (reembed)
                    emit reembedFinished(false, e);
            },
            Qt::QueuedConnection);
    startIndexJobWhenGateFree();
    log::info(logCategory, QStringLiteral("indexing %1").arg(params.paths.join(QStringLiteral(", "))));
    emit indexingStarted();
    return true;
}

void EngineController::startIndexJobWhenGateFree()
{
    {
        const std::lock_guard guard(m_storeGate->mutex);
        if (!m_storeGate->opening) {
            m_storeGate->indexStarting = true;
            m_indexJob->start(&m_indexPool);
            return;
        }
    }
    QPointer<engine::IndexJob> job(m_indexJob.get());
    QTimer::singleShot(20, this, [this, job] {
        if (job && job == m_indexJob.get())
            startIndexJobWhenGateFree();
    });
}

void EngineController::indexLockTaken()
{
    const std::lock_guard guard(m_storeGate->mutex);
    m_storeGate->indexStarting = false;
}

void EngineController::finishReembedJob(bool cancelled)
{
    if (cancelled) {
        emit reembedFinished(false, tr("Re-embedding stopped; search still uses the previous vectors. It "
                                       "continues where it stopped when started again."));
        return;
    }
    QString why;
    const auto outcome = engine::finishReembed(*m_engine, &why);
    if (outcome && !outcome->switched)
        why = tr("%n item(s) could not be re-embedded (is a library folder missing?); search still uses the "
                 "previous vectors.", nullptr, int(outcome->missing));
    invalidateSearch(); // switched: the search thread loads the model with the pack
    emit reembedFinished(outcome && outcome->switched, why);
}

void EngineController::finishIndexing()
{
    indexLockTaken();  // (or it never took it)
    m_reembedding = false;
    if (m_indexJob) {
        m_indexJob->wait();
        // Deleted later: this runs inside one of its queued signals' slots.
        m_indexJob.release()->deleteLater();
    }
    invalidateSearch();
}

void EngineController::pauseIndexing()
{
    if (m_indexJob)
        m_indexJob->pause();
}

void EngineController::resumeIndexing()
{
    if (m_indexJob)
        m_indexJob->resume();
}

void EngineController::cancelIndexing()
{
    if (m_indexJob) {
        m_indexJob->resume();  // a paused job must wake up to see the interruption
        m_indexJob->requestInterruption();
    }
}

bool EngineController::isIndexingPaused() const
{
    return m_indexJob && m_indexJob->isPaused();
}

} // namespace unisearch::ui
