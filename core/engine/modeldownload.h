#pragma once
// The download job: fetches one model of the catalogue (modelcatalogue.h), checks it and
// imports it as a model bundle. It has the job shape of IndexJob (indexjob.h): Params,
// Progress and Result structs, requestInterruption(), progressUpdated, then finished (ok,
// or interrupted) or failed. Unlike IndexJob it runs on the thread that owns it (the
// transfer is event-driven, Qt Network); only the checksum and the import run on a
// worker thread.
//
// A download goes to <dataDir>/downloads/<name>.part. An interrupted or cancelled
// transfer is resumed with a Range request the next time (a server that answers 200
// instead of 206 sends the whole file again, which replaces the partial one). When the
// transfer is complete the file is checked against the catalogue's sha256 (where it has
// one) and then imported with the normal import (prepareModelImport → runModelImport on a
// worker thread → registerModel), which loads and checks every tensor: the model appears
// in the catalog only when all of this succeeded. A file that fails a check is removed.
//
// A server is not trusted to end its body: a transfer stops (and its part is deleted) at
// the size the server announced (Content-Length, or Content-Range's total), else at the
// catalogue's size, else at Params::maxBytes. The entry's name is checked as the
// catalogue checks it (catalogueNameProblem) before it names any file.
#include "engine/modelcatalogue.h"
#include "engine/models.h"

#include <QElapsedTimer>
#include <QFile>
#include <QObject>
#include <QPointer>
#include <QString>

#include <cstdint>
#include <memory>
#include <optional>

class QNetworkAccessManager;
class QNetworkReply;
template <typename T>
class QFutureWatcher;

namespace unisearch::engine {

class Engine;

struct DownloadParams {
    CatalogueEntry entry;
    // Where <name>.part lives; empty: <engine data dir>/downloads.
    QString downloadDir;
    // Gives up when no byte arrives for this long (a stalled connection).
    int stallTimeoutMs = 60'000;
    // Fewest milliseconds between two progressUpdated signals.
    int progressIntervalMs = 200;
    // The most a transfer may bring when neither the server (Content-Length) nor the
    // catalogue says how large the file is; beyond it the download fails. 8 GiB:
    // BLIP and UniAdapter checkpoints, momentum encoders included, are a few GB at
    // most (ViT-B/16 + BERT-base is about 0.25 G parameters, 1 GB in float32), so no
    // real checkpoint comes near it, while a server that sends without end is
    // stopped before it fills an ordinary disk.
    qint64 maxBytes = qint64(8) << 30;
};

struct DownloadProgress {
    qint64 received = 0;   // bytes on disk, including a resumed part
    qint64 total = -1;     // -1: unknown
    double bytesPerSecond = 0;   // recent rate
    int etaSeconds = -1;         // -1: unknown
    bool resumed = false;        // this transfer continues an earlier one
};

struct DownloadResult {
    bool ok = false;         // downloaded, checked and imported
    bool cancelled = false;  // interruption requested: the part stays for a later start()
    QString error;           // !ok: why (also after an interruption)
    std::optional<ImportedModel> imported;  // ok: the model, registered in the catalog
};

class ModelDownload : public QObject
{
    Q_OBJECT
public:
    enum class State { Idle, Downloading, Verifying, Importing, Finished, Failed, Cancelled };
    Q_ENUM(State)

    using Params = DownloadParams;
    using Progress = DownloadProgress;
    using Result = DownloadResult;

    // engine must outlive the job; it is used on this object's thread only.
    ModelDownload(Engine *engine, Params params, QObject *parent = nullptr);
    ~ModelDownload() override;  // interrupts; waits for a running import

    // Starts (or resumes) the download. Returns false with errorString() when it cannot
    // start (a model of that name exists, the folder is not writable, ...).
    bool start();
    // Stops the transfer and keeps the partial file for a later start(); finished() with
    // Result::cancelled follows at once. During the import the bundle is discarded when
    // the worker returns.
    void requestInterruption();
    bool isInterruptionRequested() const { return m_state == State::Cancelled; }
    // Removes the partial file (nothing must be running).
    bool discardPartial();

    State state() const { return m_state; }
    bool isRunning() const;
    Progress progress() const { return m_progress; }
    // Why start() refused, or why the last run failed or stopped.
    QString errorString() const { return m_error; }
    // The last run's result (imported: after finished() with ok).
    Result result() const { return m_result; }
    const CatalogueEntry &entry() const { return m_params.entry; }
    QString partPath() const;
    // Bytes of a partial download on disk (0: none): what start() resumes from.
    qint64 partialSize() const;

signals:
    void stateChanged(unisearch::engine::ModelDownload::State state);
    void progressUpdated(const unisearch::engine::DownloadProgress &progress);
    // The end: imported (ok), or interrupted (cancelled; the part is kept).
    void finished(const unisearch::engine::DownloadResult &result);
    // The end: the download or a check failed; errorString() says the same.
    void failed(const QString &error);

private:
    void sendRequest(qint64 from);
    bool acceptResponse();
    void onReadyRead();
    void onReplyFinished();
    void startVerifyAndImport();
    void onWorkerFinished();
    void fail(const QString &message, bool removePartial = false);
    void setState(State state);
    void updateRate(bool force);
    QString metaPath() const;
    void writeMeta(const QString &validator);
    QString readMetaValidator() const;

    Engine *m_engine;
    Params m_params;
    QString m_dir;
    State m_state = State::Idle;
    QString m_error;
    Progress m_progress;
    Result m_result;

    QNetworkAccessManager *m_network = nullptr;
    QPointer<QNetworkReply> m_reply;
    QFile m_file;
    qint64 m_requestedFrom = 0;
    // The size the accepted body may reach (with what was resumed), and who set it.
    enum class LimitSource { Server, Catalogue, Maximum };
    qint64 m_limit = 0;
    LimitSource m_limitSource = LimitSource::Maximum;
    bool m_acceptedBody = false;      // headers checked, body goes to the file
    bool m_restartFromZero = false;   // the reply is dropped and the file fetched whole
    bool m_restarted = false;         // at most one such restart per start()
    QElapsedTimer m_rateClock;        // since the last rate sample
    qint64 m_rateBytes = 0;     // received at the last rate sample
    QElapsedTimer m_emitClock;        // since the last progressUpdated

    struct Work;
    std::shared_ptr<Work> m_work;
    QFutureWatcher<void> *m_watcher = nullptr;
};

} // namespace unisearch::engine

Q_DECLARE_METATYPE(unisearch::engine::DownloadProgress)
Q_DECLARE_METATYPE(unisearch::engine::DownloadResult)
