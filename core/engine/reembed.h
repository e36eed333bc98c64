#pragma once
// Re-embedding the library with a pending full-mode adapter pack (adapterpacks.h): an
// IndexJob (batches committed, a kill loses at most one, a rerun continues) writes the
// pack's vectors under their own key while search keeps using the active pack and its
// vectors, and when every indexed item has a new vector the pack becomes the active one in
// ONE catalog transaction (pending -> active). The CLI runs it with continueReembed(); the
// GUI runs the IndexJob on its pool (reembedJobParams(), then finishReembed()).
#include "engine/indexjob.h"

#include <QJsonObject>
#include <QString>

#include <functional>
#include <optional>

namespace unisearch::engine {

class Engine;

struct ReembedParams {
    int batchSize = 0; // images per model batch; 0: chosen while it runs (indexing/adaptive.h)
    QString device; // empty: the engine's
};

struct ReembedOutcome {
    QString packName;        // the pending pack; empty: nothing was pending
    QString fingerprint;     // the key of its vectors
    bool cancelled = false;  // committed batches are kept; the next run continues
    bool switched = false;   // the pack is active now
    qint64 embedded = 0;     // items embedded by this run
    qint64 vectors = 0;      // vectors stored under fingerprint
    qint64 missing = 0;      // indexed items still without one (not switched)
    QJsonObject toJson() const;
};

// The same in two halves, for a caller that runs the IndexJob itself (the GUI, on its
// pool): the job's parameters (nullopt with *error when nothing is pending or it cannot
// run), then, after a job that was not cancelled, the switch when the re-embed is complete.
std::optional<IndexParams> reembedJobParams(Engine &engine, const ReembedParams &params, QString *error);
std::optional<ReembedOutcome> finishReembed(Engine &engine, QString *error);

// Runs (or continues) the pending re-embed of the active retrieval model on the calling
// thread, over the library's folders, and switches when it is complete. progress returns
// false to stop (the pack stays pending). nullopt with *error when it cannot run.
std::optional<ReembedOutcome> continueReembed(Engine &engine, const ReembedParams &params,
                                              const std::function<bool(const IndexProgress &)> &progress,
                                              QString *error);

} // namespace unisearch::engine
