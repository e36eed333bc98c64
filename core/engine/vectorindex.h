#pragma once
// Keeps the FAISS store of one model in step with the catalog.
//
// The catalog is the source of truth (it holds every vector as float16); the store file
// vectors/<fingerprint>.faiss is a cache, written atomically (temp + rename) with a
// generation number that the catalog records (Catalog::faissGeneration).
//
// The protocol that makes a crash at any moment safe:
//  1. A transaction that changes the model's vectors (a batch of new items, deletions)
//     calls markDirty() inside it. The first such change after a save raises the
//     catalog's generation to file generation + 1, in the same transaction, so the
//     catalog can never claim that an older file is current.
//  2. After the commit the change is applied to the in-memory store (add/remove).
//  3. save() writes the file with the catalog's generation (only then do they match).
// A crash between 1 and 3 leaves a file whose generation is behind the catalog's: the
// next open() sees "stale" and rebuilds from the catalog's vectors. Saves can therefore
// be spaced out (saveIfDue) without ever serving a store that lacks committed vectors.
//
// Writers (the indexing job) must hold the IndexLock; readers (search) open with
// persistRebuild = false and rebuild in memory only when the file is behind.
#include "index/vectorstore.h"

#include <QElapsedTimer>
#include <QString>

#include <cstdint>
#include <memory>
#include <span>

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine {

struct VectorIndexReport {
    bool ok = false;
    bool rebuilt = false;   // the file was missing, stale or corrupt and was rebuilt
    QString reason;         // why it was rebuilt ("missing", "stale", "corrupt", ...), with detail
    std::int64_t vectors = 0;
    std::int64_t generation = 0;
    bool saved = false;     // a rebuilt store was written back
    QString error;          // !ok: what went wrong
};

class VectorIndex
{
public:
    // <dataDir>/vectors/<fingerprint>.faiss
    static QString storePath(const QString &dataDir, const QString &fingerprint);

    VectorIndex(catalog::Catalog &catalog, const QString &dataDir, const QString &fingerprint, int dim);
    ~VectorIndex();
    VectorIndex(const VectorIndex &) = delete;
    VectorIndex &operator=(const VectorIndex &) = delete;

    // Loads the file if it matches the catalog's generation, else rebuilds the store from
    // the catalog's vectors. persistRebuild: write a rebuilt store back (the caller holds
    // the IndexLock). Never throws.
    VectorIndexReport open(bool persistRebuild);

    index::VectorStore &store() { return *m_store; }
    const index::VectorStore &store() const { return *m_store; }
    QString filePath() const { return m_path; }
    QString fingerprint() const { return m_fingerprint; }

    // Inside the catalog transaction that changes this model's vectors (see above).
    // Throws catalog::CatalogError like any write in that transaction.
    void markDirty();
    bool isDirty() const { return m_dirty; }
    // After the commit: the same change in memory.
    void add(std::span<const std::int64_t> ids, std::span<const float> vectors);
    void remove(std::span<const std::int64_t> ids);

    // Writes the file (when dirty) and records its generation. false with *error when the
    // disk refused; the store stays dirty and the next open rebuilds, so nothing is lost.
    bool save(QString *error = nullptr);
    // save() when dirty and the last save is at least intervalMs old.
    bool saveIfDue(int intervalMs, QString *error = nullptr);
    // The generation of the file on disk (after load or the last save).
    std::int64_t fileGeneration() const { return m_fileGeneration; }

private:
    bool rebuildFromCatalog(QString *error);

    catalog::Catalog &m_catalog;
    QString m_dataDir;
    QString m_fingerprint;
    QString m_path;
    std::unique_ptr<index::VectorStore> m_store;
    std::int64_t m_fileGeneration = 0;
    bool m_dirty = false;
    QElapsedTimer m_sinceSave;
};

} // namespace unisearch::engine
