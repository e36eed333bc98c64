#pragma once
// The GUI side of the engine: owns the Engine's long-running parts and runs all their work
// off the GUI thread, delivering results by queued signals.
//
//  - Search: one search thread at a time (a one-thread pool whose thread ends when
//    nothing is queued) uses the SearchSession (the active retrieval model, its vector
//    store and a Searcher) with its own catalog connection. The session is opened as the CLI
//    opens its own: the Engine's plan (read here, on the GUI thread), opened by
//    SearchSession::open on the search thread.
//    Every request gets an id; a newer request supersedes the older ones: a queued one is
//    skipped, a running one finishes but its result is dropped, so only the newest result
//    ever reaches the window.
//  - Ask: one InferenceWorker (the VQA model, run off the GUI thread). Cancel forgets the
//    running request: its result is ignored when it arrives, and the window is free at once.
//  - Indexing: one IndexJob at a time, on its own pool, with pause/resume/cancel; a
//    finished run makes the next search reopen the store (the model is kept). Runs read
//    text in pictures as the settings say (withTextSettings).
// Closing (the destructor) cancels indexing and waits for the threads.
#include "catalog/catalog.h"
#include "engine/indexjob.h"
#include "engine/inference.h"
#include "engine/search.h"

#include <QObject>
#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QTimer>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

// The "index/ocrLanguages" setting as indexing uses it: only the installed languages; none
// left → English when installed, else the first installed one; empty when none is installed.
QStringList textLanguagesInUse(const QStringList &installed);
// params with the window's text-in-pictures settings ("index/ocr" and the languages in
// use; no language installed → no OCR). Every run the window starts goes through it.
engine::IndexParams withTextSettings(engine::IndexParams params);

// What the ask panel asks about.
struct AskTarget {
    QString path;
    catalog::ItemType type = catalog::ItemType::Image;
    std::optional<double> atSec;   // videos: this moment only; unset: the whole video
};

class EngineController : public QObject
{
    Q_OBJECT
public:
    // Where a model stands: not loaded, loading on its own thread, loaded, or its load failed.
    enum class ModelState { Unloaded, Loading, Ready, Failed };
    Q_ENUM(ModelState)

    explicit EngineController(engine::Engine *engine, QObject *parent = nullptr);
    ~EngineController() override;

    engine::Engine *engine() const { return m_engine; }

    // Starts a search; returns its id (searchFinished/searchFailed carry it).
    int search(const engine::SearchParams &params);
    // "More like this" for the file at path; the same signals.
    int similar(const QString &path, const engine::SimilarParams &params);
    bool isSearching() const { return m_searching; }
    int latestSearchId() const { return m_searchId.load(); }
    // The library or the model changed: the next search reopens the store.
    void invalidateSearch();

    // Opens the search session (the model's text tower and the store) and warms it on the
    // search thread now, so that the first query does not wait for the load; a query typed
    // meanwhile queues behind it and runs once it is loaded. Nothing without a search model.
    void preloadSearch();
    ModelState searchModelState() const { return m_searchModelState; }
    // Search models loaded so far, and how many of those loads ran on the GUI thread (none:
    // the window never blocks on a load; tests check it).
    int searchModelLoads() const { return m_searchLoads.load(); }
    int guiThreadLoads() const { return m_guiThreadLoads.load(); }
    // Whether the search thread holds an open session now.
    bool hasSearchSession() const { return m_sessionOpen.load(); }
    // Loads the active question model on its own thread now (the ask panel's first use).
    void preloadAsk();
    ModelState askModelState() const { return m_askModelState; }
    // Whether the question model's warm-up left every part a question needs prepared (tests).
    bool askModelPrepared() const { return m_askPrepared; }
    // Frees the search session and the question model (after the idle time without a search or
    // a question); the next search or question loads them again. Not while one runs.
    void unloadModels();
    // The idle time before unloadModels, in seconds (0: never); the constructor reads the setting.
    void setUnloadAfter(int seconds);

    // Asks the active VQA model about target; returns the request id, or -1 with *error.
    int ask(const AskTarget &target, const QString &question, const engine::AskParams &params,
            QString *error = nullptr);
    // Runs the vision tower for a question about this photo now, on the question model's
    // thread, when the question model is in use (loading or ready; nothing before the ask
    // panel's first use): the question typed next runs only the question encoder and the
    // decoder. A later call or a question makes an earlier one that has not started do
    // nothing. Emits questionPrepared when done.
    void prepareQuestionAbout(const QString &path);
    // Images the question model has run through its vision tower so far (tests).
    int questionImagesEncoded() const { return m_questionImagesEncoded->load(); }
    // Forgets the running request (its result will be ignored).
    void cancelAsk();
    bool isAsking() const { return m_asking; }

    // Indexes the library's folders (or paths). false with *error when it cannot start.
    bool startIndexing(const QStringList &paths = {}, QString *error = nullptr);
    void pauseIndexing();
    void resumeIndexing();
    void cancelIndexing();
    bool isIndexing() const { return m_indexJob != nullptr; }
    // Re-embeds the library for the pending full-mode adapter pack (training.h) as the
    // indexing job (same progress, pause, cancel); when it completes, the pack becomes
    // active and the next search uses the new vectors (reembedFinished). false with
    // *error when it cannot start.
    bool startReembed(QString *error = nullptr);
    bool isIndexingPaused() const;

signals:
    void searchStarted(int id);
    void searchFinished(int id, const unisearch::engine::SearchResult &result);
    void searchFailed(int id, const QString &error);
    // A re-ranked search shows its results as they come: the store's order first (done 0),
    // then the order after each re-ranked item (done of total); searchFinished ends it.
    void searchUpdated(int id, const unisearch::engine::SearchResult &partial, int done, int total);
    // The search session's model (error: why its load failed) and the question model's.
    void searchModelStateChanged(unisearch::ui::EngineController::ModelState state, const QString &error);
    void askModelStateChanged(unisearch::ui::EngineController::ModelState state, const QString &error);
    void askFinished(int id, const unisearch::engine::AskResult &result);
    void askFailed(int id, const QString &error);
    void askCancelled();
    void questionPrepared(const QString &path);
    void indexingStarted();
    void indexProgress(const unisearch::engine::IndexProgress &progress);
    void indexFinished(const unisearch::engine::IndexResult &result);
    void indexFailed(const QString &error);
    // switched: the pack is active now; otherwise message says why not (stopped, items missing).
    void reembedFinished(bool switched, const QString &message);
    // An indexing run finished while a full-mode pack waits for its re-embed: that re-embed
    // started right after it (what was just indexed has only the active vectors so far).
    void reembedStarted(const QString &pack);

private:
    struct SearchState;
    struct SearchPlan;
    std::shared_ptr<const SearchPlan> currentSearchPlan();
    using SearchFn = std::function<std::optional<engine::SearchResult>(engine::Searcher &, int id, QString *)>;
    int startSearchTask(SearchFn fn);
    // The re-rank of a search as it goes (on the search thread); nullopt when it failed or a
    // newer request cancelled it.
    std::optional<engine::SearchResult> searchProgressively(engine::Searcher &s, int id,
                                                            const engine::SearchParams &params, QString *error);
    // On the search thread: state's session opened (and warmed) for plan when it is not.
    bool ensureSession(SearchState &state, const SearchPlan &plan, QString *error);
    void postSearchModelState(ModelState state, const QString &error = {});
    void setSearchModelState(ModelState state, const QString &error);
    void setAskModelState(ModelState state, const QString &error);
    bool ensureAskWorker(QString *error);
    // A search or a question: the idle time starts over.
    void touch();
    void deliverSearch(int id, std::optional<engine::SearchResult> result, const QString &error);
    // The answer, or none and the error that says why (a queued call's payload).
    void deliverAsk(int id, std::optional<engine::AskResult> result, QString error);
    void finishIndexing();
    bool startJob(const engine::IndexParams &params, bool reembed, QString *error);
    void finishReembedJob(bool cancelled);

    engine::Engine *m_engine;
    QThreadPool m_searchPool;
    std::shared_ptr<SearchState> m_searchState;  // used on the search thread only
    std::atomic<int> m_searchId{0};
    // What the next search opens; reset by invalidateSearch (GUI thread only). Each plan has
    // a generation: the search thread reopens its session when a request brings a newer one.
    std::shared_ptr<const SearchPlan> m_searchPlan;
    int m_searchGeneration = 0;
    bool m_searching = false;
    ModelState m_searchModelState = ModelState::Unloaded;
    std::atomic<int> m_searchLoads{0};
    std::atomic<int> m_guiThreadLoads{0};
    std::atomic<bool> m_sessionOpen{false};
    QTimer *m_idleTimer = nullptr;

    std::unique_ptr<engine::InferenceWorker> m_askWorker;
    QString m_askModel;  // the model m_askWorker runs
    int m_askId = 0;
    bool m_asking = false;
    ModelState m_askModelState = ModelState::Unloaded;
    bool m_askPrepared = false;  // set with the warm-up's Ready; cleared when the model goes
    // Bumped by each question and preparation: a preparation queued before a newer one (or a
    // question) is skipped. Shared with the worker's jobs, which may outlive this object.
    std::shared_ptr<std::atomic<int>> m_askGeneration = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<int>> m_questionImagesEncoded = std::make_shared<std::atomic<int>>(0);

    QThreadPool m_indexPool;
    std::unique_ptr<engine::IndexJob> m_indexJob;
    bool m_reembedding = false; // m_indexJob is a re-embed
    // The search thread's session open and an indexing run's start take the library's IndexLock
    // (the open only briefly, to write a rebuilt store back; the run for its duration, and it
    // fails when the lock is taken). So they never overlap: an open waits while a run is
    // starting (until it holds the lock), a run starts once no open is under way.
    struct StoreGate {
        std::mutex mutex;
        bool opening = false;        // the search thread is in SearchSession::open
        bool indexStarting = false;  // a run started and may not hold the lock yet
    };
    std::shared_ptr<StoreGate> m_storeGate = std::make_shared<StoreGate>();
    // Starts m_indexJob when no session open is under way (else retries shortly).
    void startIndexJobWhenGateFree();
    void indexLockTaken();
};

} // namespace unisearch::ui

Q_DECLARE_METATYPE(unisearch::engine::SearchResult)
Q_DECLARE_METATYPE(unisearch::engine::AskResult)
