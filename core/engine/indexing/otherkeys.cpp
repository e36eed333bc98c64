#include "engine/indexing/otherkeys.h"

#include "engine/indexjob.h"

#include <utility>

namespace unisearch::engine::indexing {

OtherKeys::OtherKeys(catalog::Catalog &catalog, QString fingerprint)
    : m_catalog(catalog), m_fingerprint(std::move(fingerprint))
{
}

void OtherKeys::invalidate(const QStringList &keys, bool itemsRemain)
{
    for (const QString &key : keys) {
        if (key == m_fingerprint || m_invalidated.contains(key))
            continue;
        m_invalidated.insert(key);
        if (const std::int64_t generation = m_catalog.faissGeneration(key); generation > 0)
            m_catalog.setFaissGeneration(key, generation + 1);
    }
    if (itemsRemain && !keys.isEmpty())
        markVectorsIncomplete(m_catalog);
}

QStringList OtherKeys::of(const QList<catalog::Segment> &segments) const
{
    QStringList keys;
    for (const catalog::Segment &s : segments)
        for (const QString &k : m_catalog.vectorModels(s.id))
            if (k != m_fingerprint && !keys.contains(k))
                keys.append(k);
    return keys;
}

} // namespace unisearch::engine::indexing
