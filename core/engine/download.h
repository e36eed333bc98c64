#pragma once
// Downloading a known model: the catalogue of models Unisearch can fetch
// (resources/models/catalogue.json) and the download job that fetches one, checks it and
// imports it as a model bundle.
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
// catalogue's size, else at Params::maxBytes. A catalogue name must be a plain file name
// (no path separator, no leading dot, no control character), so that the part stays in
// the download folder.
#include "engine/models.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QUrl>

#include <cstdint>
#include <memory>
#include <optional>

class QNetworkAccessManager;
class QNetworkReply;
template <typename T>
class QFutureWatcher;

namespace unisearch::engine {

class Engine;

// One entry of the catalogue.
struct CatalogueEntry {
    QString name;              // the model's name once imported
    QString title;             // for people
    QString task;              // retrieval | vqa
    QUrl url;
    QString sha256;            // lowercase hex; empty: none published
    qint64 size = -1;    // bytes; -1: unknown
    QJsonObject architecture;  // empty: inferred from the tensor shapes
    QString architectureHint;  // for people
    QString licence;
    QString source;            // where the URL comes from
};

// Why name cannot name a catalogue model (it becomes downloads/<name>.part and
// models/<name>/): "it contains a path separator", ...; empty when it can.
QString catalogueNameProblem(const QString &name);

struct ModelCatalogue {
    QList<CatalogueEntry> models;

    // The catalogue file: $UNISEARCH_MODEL_CATALOGUE, else the installed copy
    // (<bin>/../share/unisearch/models, the XDG data dirs), else the source tree's.
    // Empty when none is found.
    static QString defaultPath();
    // Reads a catalogue; an empty path means defaultPath(). nullopt with *error when the
    // file is missing or malformed.
    static std::optional<ModelCatalogue> load(const QString &path = {}, QString *error = nullptr);

    std::optional<CatalogueEntry> find(const QString &name) const;
};

class ModelDownload : public QObject
{
    Q_OBJECT
public:
    enum class State { Idle, Downloading, Verifying, Importing, Finished, Failed, Cancelled };
    Q_ENUM(State)

    struct Params {
        CatalogueEntry entry;
        // Where <name>.part lives; empty: <engine data dir>/downloads.
        QString downloadDir;
        // Gives up when no byte arrives for this long (a stalled connection).
        int stallTimeoutMs = 60'000;
        // Fewest milliseconds between two progressChanged signals.
        int progressIntervalMs = 200;
        // The most a transfer may bring when neither the server (Content-Length) nor the
        // catalogue says how large the file is; beyond it the download fails. 8 GiB:
        // BLIP and UniAdapter checkpoints, momentum encoders included, are a few GB at
        // most (ViT-B/16 + BERT-base is about 0.25 G parameters, 1 GB in float32), so no
        // real checkpoint comes near it, while a server that sends without end is
        // stopped before it fills an ordinary disk.
        qint64 maxBytes = qint64(8) << 30;
    };

    struct Progress {
        qint64 received = 0;   // bytes on disk, including a resumed part
        qint64 total = -1;     // -1: unknown
        double bytesPerSecond = 0;   // recent rate
        int etaSeconds = -1;         // -1: unknown
        bool resumed = false;        // this transfer continues an earlier one
    };

    // engine must outlive the job; it is used on this object's thread only.
    ModelDownload(Engine *engine, Params params, QObject *parent = nullptr);
    ~ModelDownload() override;  // cancels; waits for a running import

    // Starts (or resumes) the download. Returns false with errorString() when it cannot
    // start (a model of that name exists, the folder is not writable, ...).
    bool start();
    // Stops the transfer and keeps the partial file for a later start(). During the
    // import the bundle is discarded when the worker returns.
    void cancel();
    // Removes the partial file (nothing must be running).
    bool discardPartial();

    State state() const { return m_state; }
    bool isRunning() const;
    Progress progress() const { return m_progress; }
    QString errorString() const { return m_error; }
    // The imported model, after finished(true).
    const std::optional<ImportedModel> &result() const { return m_result; }
    const CatalogueEntry &entry() const { return m_params.entry; }
    QString partPath() const;
    // Bytes of a partial download on disk (0: none): what start() resumes from.
    qint64 partialSize() const;

signals:
    void stateChanged(unisearch::engine::ModelDownload::State state);
    void progressChanged(const unisearch::engine::ModelDownload::Progress &progress);
    // The end: ok, or errorString() says why (also after cancel()).
    void finished(bool ok);

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
    std::optional<ImportedModel> m_result;

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
    QElapsedTimer m_emitClock;        // since the last progressChanged

    struct Work;
    std::shared_ptr<Work> m_work;
    QFutureWatcher<void> *m_watcher = nullptr;
};

} // namespace unisearch::engine
