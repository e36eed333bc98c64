#pragma once
// The catalogue of models Unisearch can fetch (resources/models/catalogue.json): where the
// file is found, how it is read, and the checks every entry passes before its name may
// name a file (the download job, modeldownload.h, fetches one entry).
//
// A catalogue name must be a plain file name (no path separator, no leading dot, no
// control character), so that the part stays in the download folder.
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QUrl>

#include <optional>

namespace unisearch::engine {

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

// A name from the catalogue file as a message shows it: escaped and at most 60 characters.
QString quotedCatalogueName(const QString &name);

} // namespace unisearch::engine
