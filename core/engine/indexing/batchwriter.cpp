#include "engine/indexing/batchwriter.h"

#include "catalog/catalog.h"
#include "engine/indexing/livephoto.h"
#include "engine/indexing/otherkeys.h"
#include "engine/vectorindex.h"
#include "util/faultpoint.h"

#include <QSet>
#include <QStringList>

#include <utility>

namespace unisearch::engine::indexing {

// What the batch replaces, read before its transaction.
struct BatchWriter::Replacements {
    QSet<std::int64_t> replace;              // items removed and recorded anew
    std::vector<std::int64_t> removeIds;     // their segments, out of the store
    QStringList removedKeys;                 // other keys' vectors deleted with replaced items
    QStringList staleKeys;                   // other keys' vectors made stale
    std::vector<std::int64_t> staleSegments; // an image with new content: its other keys' vectors go
};

BatchWriter::BatchWriter(catalog::Catalog &catalog, VectorIndex &store, OtherKeys &otherKeys, Settings settings)
    : m_catalog(catalog), m_store(store), m_otherKeys(otherKeys), m_settings(std::move(settings))
{
}

BatchWriter::Replacements BatchWriter::replacements(const std::vector<const Processed *> &all) const
{
    // An existing item that stops being an indexed image (now broken, now a video)
    // loses its segments with it: removed and recorded anew.
    Replacements r;
    for (const Processed *p : all) {
        const WorkItem &w = *p->work;
        for (const std::int64_t id : liveSegmentsReplaced(m_catalog, *p))  // livephoto.h
            r.removeIds.push_back(id);
        if (!w.itemId)
            continue;
        // A video gets new time ranges: its old segments go (and the item row with them).
        const bool sameKind = p->outcome == Outcome::Embedded && w.itemType == catalog::ItemType::Image;
        if (sameKind) {
            if (!w.missingVector) {
                const QList<catalog::Segment> segments = m_catalog.segments(*w.itemId);
                const QStringList keys = m_otherKeys.of(segments);
                if (!keys.isEmpty())
                    for (const catalog::Segment &s : segments)
                        r.staleSegments.push_back(s.id);
                for (const QString &k : keys)
                    if (!r.staleKeys.contains(k))
                        r.staleKeys.append(k);
            }
            continue;
        }
        // Re-embedding for another key: the other keys' segments and vectors stay.
        if (m_settings.keepOtherVectors && w.missingVector && p->outcome == Outcome::Video
            && w.itemType == catalog::ItemType::Video)
            continue;
        const QList<catalog::Segment> segments = m_catalog.segments(*w.itemId);
        if (segments.isEmpty() && w.itemType == itemTypeOf(w))
            continue;
        r.replace.insert(*w.itemId);
        for (const catalog::Segment &s : segments)
            r.removeIds.push_back(s.id);
        for (const QString &k : m_otherKeys.of(segments))
            if (!r.removedKeys.contains(k))
                r.removedKeys.append(k);
    }
    return r;
}

void BatchWriter::writeItem(const Processed &p, std::vector<std::int64_t> &addIds, std::vector<float> &addVectors)
{
    const WorkItem &w = *p.work;
    if (storeLiveVideo(m_catalog, p, m_settings.fingerprint, addIds, addVectors))
        return;  // a live photo's video: its segments are the photo's (livephoto.h)
    catalog::Item item;
    item.rootId = w.rootId;
    item.path = w.path;
    item.type = p.outcome == Outcome::Embedded ? catalog::ItemType::Image : itemTypeOf(w);
    item.size = w.size;
    item.mtimeMs = w.mtimeMs;
    item.contentHash = p.hash.isEmpty() ? w.knownHash : p.hash;
    item.width = p.width;
    item.height = p.height;
    item.durationS = p.durationS;
    switch (p.outcome) {
    case Outcome::Embedded:
    case Outcome::Video:
        item.status = catalog::ItemStatus::Indexed;
        break;
    default:
        item.status = catalog::ItemStatus::Error;
        item.error = p.errorMessage;
        break;
    }
    const std::int64_t id = m_catalog.upsertItem(item);
    m_catalog.clearErrors(id);
    const QString &fingerprint = m_settings.fingerprint;
    if (p.outcome == Outcome::Failed) {
        catalog::ErrorEntry e;
        e.itemId = id;
        e.jobId = m_settings.jobId;
        e.path = w.path;
        e.stage = p.errorStage;
        e.message = p.errorMessage;
        m_catalog.addError(e);
    } else if (p.outcome == Outcome::Embedded) {
        addIds.push_back(m_catalog.addSegmentWithVector(id, 0, 0, fingerprint, p.feature));
        addVectors.insert(addVectors.end(), p.feature.begin(), p.feature.end());
    } else if (p.outcome == Outcome::Video) {
        for (const StoredSegment &seg : p.segments) {
            addIds.push_back(m_catalog.addSegmentWithVector(id, seg.range.startMs, seg.range.endMs,
                                                            fingerprint, seg.feature));
            addVectors.insert(addVectors.end(), seg.feature.begin(), seg.feature.end());
        }
    }
    if (w.breakLivePhoto)
        m_catalog.breakLivePhoto(id);  // its video is gone (livephoto.h)
    if (p.meta) {  // capture metadata (metadatastage.h)
        catalog::ItemMeta meta = *p.meta;
        meta.itemId = id;
        m_catalog.setItemMeta(meta);
    }
    // A new stage's field is stored here, under the same id (see the top of batchwriter.h).
}

WriteResult BatchWriter::write(const std::vector<Processed> &images, const std::vector<Processed> &records,
                               double jobFraction)
{
    WriteResult result;
    std::vector<std::int64_t> addIds;
    std::vector<float> addVectors;
    std::vector<const Processed *> all;
    for (const Processed &p : images)
        all.push_back(&p);
    for (const Processed &p : records)
        all.push_back(&p);
    Replacements r;
    try {
        r = replacements(all);
        m_catalog.transaction([&] {
            for (const std::int64_t segment : r.staleSegments)
                m_catalog.removeOtherVectors(segment, m_settings.fingerprint);
            // A replaced item is recorded anew with this key's vectors only.
            m_otherKeys.invalidate(r.staleKeys + r.removedKeys, true);
            for (const Processed *p : all) {
                const WorkItem &w = *p->work;
                if (w.itemId && r.replace.contains(*w.itemId))
                    m_catalog.removeItem(*w.itemId);
                writeItem(*p, addIds, addVectors);
            }
            if (!addIds.empty() || !r.removeIds.empty())
                m_store.markDirty();
            m_catalog.updateJob(m_settings.jobId, catalog::JobState::Running, jobFraction);
            util::faultPoint("index.commit"); // every row written, the COMMIT not
        });
    } catch (const std::exception &e) {
        result.status = Status::failure(QStringLiteral("writing the catalog: %1").arg(QString::fromUtf8(e.what())));
        return result;
    }
    util::faultPoint("index.committed"); // in the catalog, not yet in the store file
    // Committed: the same change in memory, and on disk when a save is due.
    if (!r.removeIds.empty())
        m_store.remove(r.removeIds);
    if (!addIds.empty())
        m_store.add(addIds, addVectors);
    for (const Processed *p : all) {
        if (p->outcome == Outcome::Failed)
            result.fileErrors.append({p->work->path, p->errorStage, p->errorMessage});
        else if (p->outcome == Outcome::Video) {
            ++result.videos;
            result.segments += static_cast<qint64>(p->segments.size()) - 1;
        }
    }
    QString error;
    if (!m_store.saveIfDue(m_settings.saveIntervalMs, &error))
        result.warning = error;
    return result;
}

} // namespace unisearch::engine::indexing
