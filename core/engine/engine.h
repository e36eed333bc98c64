#pragma once
// The Engine facade: the one object ui/ and app/ talk to. It owns the data dir and the
// catalog, picks the compute device and LibTorch's thread count once at start, and
// reports status. Indexing, search, VQA and training are added here by later work.
//
// The error convention at every module edge (here, InferenceService, media's VideoDecoder
// and the rest of core/): nothing throws; a call that can fail returns std::optional<T>
// (bool when there is no value, a null pointer from a factory) and fills an optional
// `QString *error = nullptr` out-parameter with a message a person can act on
// (util::fail in util/error.h does both). Where a caller must tell failures apart, a
// second optional out-parameter takes the code (`media::DecodeError *code = nullptr`).
// Structs that carry data besides an error (a job's Result, a scan's counts,
// media::SampleResult, catalog::OpenResult) are data, not value-or-error wrappers. The
// Engine's own open() reports through errorString().
#include "catalog/catalog.h"
#include "engine/duplicates.h"
#include "engine/models.h"
#include "engine/search.h"
#include "engine/xmpexport.h"

#include <QJsonObject>
#include <QMap>
#include <QObject>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <optional>

namespace unisearch::engine {

class InferenceService;

struct Status {
    QString dataDir;
    QString cacheDir;
    QString catalogPath;
    int schemaVersion = 0;
    catalog::Counts counts;
    QString activeModel;     // the active retrieval model's name; empty = none
    QString activeVqaModel;  // the active VQA model's name; empty = none
    QString device;          // cpu | cuda
    int threads = 0;         // LibTorch intra-op threads in use
    QString precision;       // float32 | bfloat16 | float16: what a model loaded now runs at
    // Stored vectors by the precision that made them (catalog::Catalog::vectorPrecisions).
    QMap<QString, std::int64_t> vectorPrecisions;

    bool hasModel() const { return !activeModel.isEmpty() || !activeVqaModel.isEmpty(); }
    // The `status --json` document (field names are part of the CLI's contract).
    QJsonObject toJson() const;
};

class Engine : public QObject
{
    Q_OBJECT
public:
    struct Options {
        QString dataDir;   // empty: $UNISEARCH_DATA_DIR, then the platform default
        QString device;    // auto | cpu | cuda; empty: the "engine/device" setting
        int threads = -1;  // < 0: the "engine/threads" setting; 0: number of cores
        QString precision; // auto | float32 | bfloat16 | float16; empty: the "engine/precision" setting
    };

    explicit Engine(QObject *parent = nullptr);
    ~Engine() override;

    // Opens (creating) the data dir and its catalog and applies device and threads.
    // Returns false with errorString() set when it cannot; the Engine then stays closed.
    bool open(const Options &options);
    bool open() { return open(Options{}); }
    bool isOpen() const;
    QString errorString() const;

    QString dataDir() const;
    QString cacheDir() const;
    QString device() const;
    int threads() const;
    // The precision models load at now: Options::precision, else the "engine/precision"
    // setting (read at each call: the model manager changes it), resolved for device()
    // and this CPU (resolvePrecision in inference.h): float32, bfloat16 or float16.
    QString precision() const;
    // The same, before it is resolved: auto, float32, bfloat16 or float16. A model service
    // takes this (auto may also put parts of a float32 model in bfloat16: bfloat16Parts).
    QString precisionSetting() const;

    // Reads the counts now. With a closed engine: locations only, counts 0.
    Status status() const;

    // The catalog, for engine parts (jobs, search) that live beside the facade; null when
    // closed. Its methods throw catalog::CatalogError. ui/ does not use it: it asks the
    // queries below, which return values.
    catalog::Catalog *catalog() const;

    // --- Library queries (values; empty/nullopt when closed or on a catalog error) ---
    // The item the catalog has at path (as indexed: the canonical path).
    std::optional<catalog::Item> itemByPath(const QString &path) const;
    // The latest per-file errors, newest first, at most limit; nullopt with *error (the
    // catalog's message) when they cannot be read.
    std::optional<QList<catalog::ErrorEntry>> recentErrors(int limit, QString *error = nullptr) const;
    // The full-mode adapter pack of the named model that waits for its re-embed (its file
    // path, training.h); empty when none.
    QString pendingAdapterPack(const QString &modelName) const;

    // --- Search sessions (search.h) ---
    // What a search uses now: the active retrieval model with its adapter pack, on this
    // engine's device with the "engine/precision" setting. Read on the engine's thread;
    // the plan opens on any thread (SearchSession::open with no catalog: the window's
    // search thread). nullopt with *error when there is no usable search model.
    std::optional<SearchSessionPlan> searchSessionPlan(QString *error = nullptr) const;
    // The plan opened at once on this thread, with the engine's catalog (the CLI).
    std::unique_ptr<SearchSession> openSearchSession(QString *error = nullptr) const;

    // --- Duplicates (duplicates.h) ---
    // Byte-identical and near-identical items of the library, on this thread with the
    // engine's catalog (the CLI). The window runs engine::findDuplicates(searchSessionPlan(),
    // nullptr, ...) on a worker thread instead.
    std::optional<QList<DuplicateGroup>> findDuplicates(const DuplicateParams &params = {},
                                                        const DuplicateProgressFn &progress = {},
                                                        QString *error = nullptr) const;

    // --- Names as XMP keywords (xmpexport.h) ---
    // Writes the names taught for library items to PHOTO.EXT.xmp sidecars (merging, never
    // touching the originals), on this thread with the engine's catalog; params.dryRun
    // plans only. nullopt with *error when closed or the catalog cannot be read.
    std::optional<XmpExportResult> exportNamesToXmp(const XmpExportParams &params = {},
                                                    const XmpExportProgressFn &progress = {},
                                                    QString *error = nullptr) const;

    // Adds a folder to the library (indexing it is a later step). Returns the root id.
    std::optional<std::int64_t> addFolder(const QString &path, QString *error = nullptr);
    // The library's folders, sorted; empty when closed.
    QStringList folders() const;
    // Removes a folder from the library with its items and their vectors (the files stay
    // on disk). Refused while an indexer holds the library's lock. The vector store files
    // are marked stale, so the next search or indexing run rebuilds them from the catalog.
    bool removeFolder(const QString &path, QString *error = nullptr);
    // The languages Tesseract can read text in pictures in (media/ocr.h: its tessdata
    // folder, without osd), sorted; for the window's settings, which do not see media/.
    static QStringList installedTextLanguages();

    // --- Models (models.cpp; see models.h) ---
    // <dataDir>/models: one bundle folder per imported model.
    QString modelsDir() const;
    // Imports a checkpoint as models/<name>/ and records it in the catalog; it becomes the
    // active model of its task when that has none. architectureJson: see ModelImportRequest.
    std::optional<ImportedModel> importModel(const QString &path, const QString &name = {},
                                             const QString &task = {}, const QString &architectureJson = {},
                                             QString *error = nullptr);
    std::optional<ImportedModel> importModel(const ModelImportRequest &request, QString *error = nullptr);
    // Importing in steps, for a caller that runs the slow middle step on another thread:
    // prepareModelImport (checks, resolves the name) → runModelImport (models.h, any
    // thread) → registerModel (records it; removes the bundle again when that fails).
    std::optional<PreparedModelImport> prepareModelImport(const ModelImportRequest &request,
                                                          QString *error = nullptr) const;
    bool registerModel(ImportedModel &imported, QString *error = nullptr);
    // The imported models, by name (a model whose bundle is damaged has `problem` set).
    QList<ModelInfo> models(QString *error = nullptr) const;
    std::optional<ModelInfo> model(const QString &name, QString *error = nullptr) const;
    // The active model of a task (retrievalTask, vqaTask); nullopt when none.
    std::optional<ModelInfo> activeModel(const QString &task) const;
    // Makes the named model the active one of its task.
    bool setActiveModel(const QString &name, QString *error = nullptr);
    // An inference service for the named model, or the active model of task when name is
    // empty, on this engine's device with the "engine/precision" setting. It loads the
    // model on first use. Null with *error when there is no such model.
    std::unique_ptr<InferenceService> inference(const QString &task, const QString &name = {},
                                                QString *error = nullptr) const;

signals:
    // Counts or the active model changed.
    void statusChanged();

private:
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace unisearch::engine
