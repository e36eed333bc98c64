#pragma once
// The Engine facade: the one object ui/ and app/ talk to. It owns the data dir and the
// catalog, picks the compute device and LibTorch's thread count once at start, and
// reports status. Indexing, search, VQA and training are added here by later work.
// Its methods never throw: failures come back as false/std::nullopt with a message a
// person can act on (errorString(), or an error out-parameter).
#include "catalog/catalog.h"

#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <optional>

namespace unisearch::engine {

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

    // Reads the counts now. With a closed engine: locations only, counts 0.
    Status status() const;

    // The catalog, for engine parts (jobs, search) that live beside the facade; null when
    // closed. Its methods throw catalog::CatalogError.
    catalog::Catalog *catalog() const;

    // Adds a folder to the library (indexing it is a later step). Returns the root id.
    std::optional<std::int64_t> addFolder(const QString &path, QString *error = nullptr);
    // The library's folders, sorted; empty when closed.
    QStringList folders() const;

signals:
    // Counts or the active model changed.
    void statusChanged();

private:
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace unisearch::engine
