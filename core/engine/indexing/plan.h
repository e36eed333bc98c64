#pragma once
// The plan of a run: which folders are rescanned, what the catalog knows below them,
// the cheap changes (renames and moves, deletions, new mtimes: no decoding, applied
// first in one transaction) and the work list of what the model has to see (new and
// modified files, and unchanged ones to retry). Private to core/engine.
#include "engine/indexing/common.h"
#include "engine/indexing/record.h"

#include "catalog/catalog.h"
#include "media/scanner.h"

#include <QHash>
#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <unordered_set>
#include <vector>

namespace unisearch::catalog {
class Reader;
}

namespace unisearch::engine {
struct IndexParams;
class VectorIndex;
} // namespace unisearch::engine

namespace unisearch::engine::indexing {

class OtherKeys;

// The canonical path, or the cleaned one where it cannot be resolved (gone, unreadable).
QString canonicalOrClean(const QString &path);

// The library's folders: a file belongs to the innermost one that contains it.
class Roots
{
public:
    // Throws catalog::CatalogError.
    void load(const catalog::Catalog &catalog);
    std::optional<std::int64_t> rootFor(const QString &path) const;
    // Canonical root path, id (deepest first).
    const QList<QPair<QString, std::int64_t>> &all() const { return m_roots; }

private:
    QList<QPair<QString, std::int64_t>> m_roots;
};

// The folders (and files) this run rescans: params.scopes, else params.paths; canonical,
// so the catalog's rows (written from scans) match.
QStringList scanScopes(const IndexParams &params);

// What the catalog knows below the scopes, and of the scanned files reached through a
// symbolic link (they lie outside the scanned folders). Throws catalog::CatalogError.
struct KnownFiles {
    QHash<std::int64_t, catalog::Item> items;
    QList<media::KnownFile> files;
    QHash<std::int64_t, catalog::LivePhoto> livePhotos;  // the pairs of those items (livephoto.h)
};
KnownFiles knownFiles(const QStringList &scopes, const media::ScanResult &scanned, const catalog::Catalog &catalog,
                      catalog::Reader &reader);

// The indexed items without a vector of fingerprint; only after a model change (or
// markVectorsIncomplete) can there be any. Throws catalog::CatalogError.
std::unordered_set<std::int64_t> itemsWithoutVector(const catalog::Catalog &catalog, catalog::Reader &reader,
                                                    const QString &fingerprint);

// Renames, deletions and new mtimes cost no decoding: applied in one transaction, before
// the work list (fault point index.cheap-changes).
Status applyCheapChanges(const media::ChangeSet &changes, catalog::Catalog &catalog, VectorIndex &store,
                         OtherKeys &otherKeys, const Roots &roots);

// What the model has to see: the added and modified files, and the unchanged ones to
// retry (a read error, pending, missing, or without this model's vector).
struct WorkList {
    std::vector<WorkItem> items;
    qint64 retried = 0;
};
WorkList workList(const media::ScanResult &scanned, const media::ChangeSet &changes, const KnownFiles &known,
                  const std::unordered_set<std::int64_t> &withoutVector, const Roots &roots);

} // namespace unisearch::engine::indexing
