#pragma once
// Adapter packs under <dataDir>/adapters/: list, activate, deactivate, export, import,
// and the key under which a pack's image vectors are stored. The CLI's `adapters`, the
// wizard and the training job (trainingjob.h) use this. Nothing here throws; errors are
// messages a person can act on.
//
// The active pack of a model is recorded in the catalog's meta table
// ("adapter_pack/active/<model name>" = the pack's path); Engine::inference() and
// RetrievalModel::loadActive() load it over the base weights. A pack trained in query
// mode leaves the image side untouched, so the stored image vectors stay valid (they are
// keyed by the base model's fingerprint). A full-mode retrieval pack changes the image
// side: its vectors are kept under their own key (vectorFingerprint()), next to the old
// ones. Activating it records it as *pending* ("adapter_pack/pending/<model name>");
// continueReembed() (reembed.h) then embeds the library with it while search keeps using
// the active pack and its vectors, and switches when every indexed item has a new vector.
// VQA packs have no stored vectors and activate at once.
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine {

class Engine;

struct AdapterPackInfo {
    QString name;       // file name without .safetensors
    QString path;
    QString baseModel, baseFingerprint, task, mode, createdAt, appVersion;
    int trainExamples = 0, validationExamples = 0;
    qint64 parameterCount = 0;
    QJsonObject metrics;
    bool touchesVision = false;
    bool active = false;
    bool pending = false; // activated, waiting for the library to be re-embedded with it
    QString problem;    // non-empty: unreadable
    QJsonObject toJson() const; // `adapters list --json` entry
};

QString adaptersDir(const Engine &engine);
QList<AdapterPackInfo> adapterPacks(const Engine &engine, QString *error = nullptr);
// Makes the pack active for its base model (which must be imported and match the pack's
// fingerprint). A full-mode retrieval pack that is not active yet becomes the pending one
// instead (*reembedPending = true): continueReembed() finishes its activation. Either way
// a pending re-embed of another pack is cancelled and its vectors deleted.
bool activateAdapterPack(Engine &engine, const QString &name, QString *error = nullptr,
                         bool *reembedPending = nullptr);
// Removes the active pack of a model (empty: the active model of each task), and cancels
// a pending re-embed.
bool deactivateAdapterPack(Engine &engine, const QString &modelName, QString *error = nullptr);
bool exportAdapterPack(const Engine &engine, const QString &name, const QString &destination, QString *error = nullptr);
// Copies a pack into the adapters folder (checked first); name empty: the file's name.
std::optional<AdapterPackInfo> importAdapterPack(Engine &engine, const QString &file, const QString &name = {},
                                                 QString *error = nullptr);
// The active pack's path of a model ("" when none), from the catalog.
QString activeAdapterPackPath(const catalog::Catalog &catalog, const QString &modelName);
// The pack waiting for its re-embed to finish ("" when none).
QString pendingAdapterPackPath(const catalog::Catalog &catalog, const QString &modelName);
// The key of the stored vectors (catalog and vectors/<key>.faiss) of a retrieval model
// running with the pack at packPath: the base fingerprint for no pack, a query-mode pack
// or a VQA pack; "<base>+<16 hex digits of the pack file's sha256>" for a pack that
// changes the image side. An unreadable pack counts as none.
QString vectorFingerprint(const QString &baseFingerprint, const QString &packPath);

} // namespace unisearch::engine
