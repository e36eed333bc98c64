#pragma once
// Model management: importing checkpoints as bundles (<dataDir>/models/<name>/), the
// catalog's record of them and the active model per task (retrieval, vqa).
//
// The Engine offers the whole of it (Engine::importModel, models, setActiveModel,
// activeModel). Importing a full-size checkpoint takes seconds to minutes, so the work is
// also available in three steps for callers that keep the catalog on one thread and the
// work on another (the GUI): prepare (catalog thread: checks the name) → runModelImport
// (any thread: converts and verifies, touches no catalog) → Engine::registerModel
// (catalog thread). Nothing here throws; errors are messages a person can act on.
#include <QDateTime>
#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>

namespace unisearch::engine {

inline const QString retrievalTask = QStringLiteral("retrieval");
inline const QString vqaTask = QStringLiteral("vqa");

// An imported model as the catalog and its model.json describe it.
struct ModelInfo {
    QString name;
    QString task;              // retrieval | vqa
    QString fingerprint;       // sha256 of the weights: keys the stored vectors
    QString path;              // the bundle directory
    QString weightsPath;       // <path>/weights.safetensors
    QString source;            // the file it was imported from
    QJsonObject architecture;  // the schema of a fixture's `architecture` object
    bool active = false;       // the model its task uses
    bool hasAdapters = false;  // UniAdapter tensors present (else: plain BLIP)
    std::int64_t parameterCount = 0;
    QDateTime importedAt;
    QString problem;           // non-empty: the bundle cannot be used (why, and what to do)
    QString adapterPack;       // the active adapter pack's path (training.h), set by Engine::inference(); "" = none

    // The `model list --json` entry (field names are part of the CLI's contract).
    QJsonObject toJson() const;
};

struct ModelImportRequest {
    QString checkpoint;        // .pth or .safetensors
    QString name;              // empty: the file name without its extension
    QString task;              // retrieval | vqa | empty: from the checkpoint's tensors
    // The architecture as JSON text (a fixture's `architecture` object, or an object that
    // holds one under "architecture", such as a fixture's case.json). Empty: inferred from
    // the tensor shapes, with heads = width / 64.
    QString architectureJson;
    bool replace = false;      // replace a model of the same name
};

// What prepare produced: the request with its name resolved and checked.
struct PreparedModelImport {
    ModelImportRequest request;
    QString modelsDir;
};

struct ImportedModel {
    ModelInfo model;
    QStringList ignored;      // dropped entries: "name [shape]: reason"
    int sharedAliases = 0;    // names of shared adapter tensors stored once
    bool activated = false;   // it became its task's active model
};

// Converts the checkpoint into a bundle under prepared.modelsDir (the slow part: read,
// verify every tensor against the architecture, write). Touches no catalog, so it may run
// on any thread. On failure returns nullopt with *error set and leaves no bundle behind.
std::optional<ImportedModel> runModelImport(const PreparedModelImport &prepared, QString *error);

} // namespace unisearch::engine
