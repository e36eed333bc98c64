// What `status` says about indexing (IndexState, indexjob.h): read from the catalog and
// the data dir, and the marker that makes the next index job look for missing vectors.
#include "engine/indexjob.h"

#include "catalog/catalog.h"
#include "engine/adapterpacks.h"
#include "catalog/reader.h"
#include "engine/indexing/common.h"
#include "engine/lock.h"
#include "engine/vectorindex.h"

#include <QFileInfo>

#include <optional>

namespace unisearch::engine {

IndexState readIndexState(const catalog::Catalog &catalog, const QString &dataDir)
{
    IndexState s;
    if (const auto m = catalog.activeModel(QStringLiteral("retrieval"))) {
        s.model = m->name;
        s.fingerprint = vectorFingerprint(m->fingerprint, activeAdapterPackPath(catalog, m->name)); // adapterpacks.h
        s.storePath = VectorIndex::storePath(dataDir, s.fingerprint);
        const QFileInfo info(s.storePath);
        s.storeExists = info.isFile();
        s.storeBytes = s.storeExists ? info.size() : 0;
        s.generation = catalog.faissGeneration(s.fingerprint);
    }
    catalog::Reader reader(dataDir);
    if (!s.fingerprint.isEmpty())
        s.vectors = reader.vectorCount(s.fingerprint);
    if (const auto m = catalog.activeModel(QStringLiteral("retrieval"))) {
        if (const QString pending = pendingAdapterPackPath(catalog, m->name); !pending.isEmpty()) {
            s.reembedPack = QFileInfo(pending).completeBaseName();
            s.reembedVectors = reader.vectorCount(vectorFingerprint(m->fingerprint, pending));
        }
    }
    s.indexedImages = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Indexed);
    s.pendingImages = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Pending);
    s.errorItems = reader.countItems(catalog::ItemType::Image, catalog::ItemStatus::Error)
                   + reader.countItems(catalog::ItemType::Video, catalog::ItemStatus::Error);
    s.indexedVideos = reader.countItems(catalog::ItemType::Video, catalog::ItemStatus::Indexed);
    s.pendingVideos = reader.countItems(catalog::ItemType::Video, catalog::ItemStatus::Pending);
    s.indexerPid = IndexLock::holderPid(dataDir);
    std::optional<catalog::Job> last;
    if (const std::int64_t id = reader.lastJobId(QStringLiteral("index")); id > 0)
        last = catalog.job(id);
    if (last) {
        s.hasLastJob = true;
        s.lastJobState = catalog::toString(last->state);
        s.lastJobAt = last->updatedAt;
        s.lastJobError = last->error;
    }
    return s;
}

void markVectorsIncomplete(catalog::Catalog &catalog)
{
    catalog.setMeta(indexing::indexedModelKey, QString());
}

} // namespace unisearch::engine
