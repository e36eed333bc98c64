#pragma once
// Vectors of other keys (the base model's next to a full-mode adapter pack's, a pending
// re-embed's: training.h) live on the same segments. When this job deletes them (an
// item removed or replaced) their stores are marked stale, so the next open rebuilds
// them from the catalog; when an item stays but its content changed, its other keys'
// vectors are deleted (they describe the old content) and the other keys' next run
// looks for items without a vector again. Shared by the cheap changes (plan.h) and the
// batch writer (batchwriter.h) for one run. Private to core/engine.
#include "catalog/catalog.h"

#include <QList>
#include <QSet>
#include <QString>
#include <QStringList>

namespace unisearch::engine::indexing {

class OtherKeys
{
public:
    // fingerprint: the key this job writes.
    OtherKeys(catalog::Catalog &catalog, QString fingerprint);

    // Inside the catalog transaction. itemsRemain: the items stay (their content changed).
    void invalidate(const QStringList &keys, bool itemsRemain);
    // The keys other than this job's that have vectors on these segments.
    QStringList of(const QList<catalog::Segment> &segments) const;

private:
    catalog::Catalog &m_catalog;
    QString m_fingerprint;
    QSet<QString> m_invalidated;
};

} // namespace unisearch::engine::indexing
