#include "engine/indexing/plan.h"

#include "catalog/reader.h"
#include "engine/indexing/livephoto.h"
#include "engine/indexing/otherkeys.h"
#include "engine/indexjob.h"
#include "engine/vectorindex.h"
#include "media/filepath.h"
#include "util/faultpoint.h"

#include <QDir>

#include <algorithm>

namespace unisearch::engine::indexing {

QString canonicalOrClean(const QString &path)
{
    const QString c = media::canonicalPath(path);
    return c.isEmpty() ? QDir::cleanPath(path) : c;
}

void Roots::load(const catalog::Catalog &catalog)
{
    m_roots.clear();
    for (const catalog::Root &r : catalog.roots())
        m_roots.append({canonicalOrClean(r.path), r.id});
    // Deepest first, so a file gets the innermost folder that contains it.
    std::sort(m_roots.begin(), m_roots.end(),
              [](const auto &a, const auto &b) { return a.first.size() > b.first.size(); });
}

std::optional<std::int64_t> Roots::rootFor(const QString &path) const
{
    for (const auto &[rootPath, id] : m_roots)
        if (media::isPathUnder(path, rootPath))
            return id;
    return std::nullopt;
}

QStringList scanScopes(const IndexParams &params)
{
    QStringList scopes;
    for (const QString &p : params.scopes.isEmpty() ? params.paths : params.scopes) {
        const QString c = canonicalOrClean(p);
        if (!scopes.contains(c))
            scopes.append(c);
    }
    return scopes;
}

KnownFiles knownFiles(const QStringList &scopes, const media::ScanResult &scanned, const catalog::Catalog &catalog,
                      catalog::Reader &reader)
{
    KnownFiles known;
    auto addKnown = [&](const catalog::Item &it) {
        if (known.items.contains(it.id))
            return;
        known.items.insert(it.id, it);
        known.files.append({it.id, it.path, it.size, it.mtimeMs, it.contentHash});
    };
    for (const QString &scope : scopes)
        for (const catalog::Item &it : reader.itemsUnder(scope))
            addKnown(it);
    // Files reached through a symbolic link lie outside the scanned folders.
    for (const media::ScannedFile &f : scanned.files) {
        if (std::none_of(scopes.cbegin(), scopes.cend(), [&](const QString &s) { return media::isPathUnder(f.path, s); }))
            if (const auto it = catalog.itemByPath(f.path))
                addKnown(*it);
    }
    for (const catalog::LivePhoto &pair : catalog.livePhotos())
        if (known.items.contains(pair.itemId))
            known.livePhotos.insert(pair.itemId, pair);
    return known;
}

std::unordered_set<std::int64_t> itemsWithoutVector(const catalog::Catalog &catalog, catalog::Reader &reader,
                                                    const QString &fingerprint)
{
    std::unordered_set<std::int64_t> withoutVector;
    // Only after a model change can an indexed item lack this model's vector.
    if (catalog.meta(indexedModelKey).value_or(QString()) != fingerprint)
        for (const std::int64_t id : reader.indexedItemsWithoutVector(fingerprint))
            withoutVector.insert(id);
    return withoutVector;
}

Status applyCheapChanges(const media::ChangeSet &changes, catalog::Catalog &catalog, VectorIndex &store,
                         OtherKeys &otherKeys, const Roots &roots)
{
    if (changes.touched.isEmpty() && changes.moved.isEmpty() && changes.deleted.isEmpty())
        return {};
    std::vector<std::int64_t> removed;
    QStringList keys;
    try {
        for (const media::KnownFile &k : changes.deleted) {
            const QList<catalog::Segment> segments = catalog.segments(k.id);
            for (const catalog::Segment &s : segments)
                removed.push_back(s.id);
            for (const QString &key : otherKeys.of(segments))
                if (!keys.contains(key))
                    keys.append(key);
        }
        catalog.transaction([&] {
            otherKeys.invalidate(keys, false);
            auto updateRow = [&](std::int64_t id, const media::ScannedFile &now) {
                std::optional<catalog::Item> it = catalog.item(id);
                if (!it)
                    return;
                it->size = now.size;
                it->mtimeMs = now.mtimeMs;
                if (!now.contentHash.isEmpty())
                    it->contentHash = now.contentHash;
                catalog.upsertItem(*it);
            };
            for (const media::FileUpdate &u : changes.touched)
                updateRow(u.before.id, u.after);
            for (const media::FileUpdate &u : changes.moved) {
                // Same content at a new path: the item keeps its id, segments and vectors.
                catalog.moveItem(u.before.id, u.after.path, roots.rootFor(u.after.path));
                updateRow(u.before.id, u.after);
            }
            for (const media::KnownFile &k : changes.deleted)
                catalog.removeItem(k.id);  // cascades to its segments and vectors
            if (!removed.empty())
                store.markDirty();
            util::faultPoint("index.cheap-changes");
        });
    } catch (const catalog::CatalogError &e) {
        return Status::failure(QStringLiteral("writing the catalog: %1").arg(QString::fromUtf8(e.what())));
    }
    if (!removed.empty())
        store.remove(removed);
    return {};
}

WorkList workList(const media::ScanResult &scanned, const media::ChangeSet &changes, const KnownFiles &known,
                  const std::unordered_set<std::int64_t> &withoutVector, const Roots &roots)
{
    WorkList work;
    QHash<QString, const media::ScannedFile *> scannedByPath;
    for (const media::ScannedFile &f : scanned.files)
        scannedByPath.insert(f.path, &f);
    auto workFor = [&](const media::ScannedFile &f, std::optional<std::int64_t> itemId) {
        WorkItem w;
        w.path = f.path;
        w.size = f.size;
        w.mtimeMs = f.mtimeMs;
        w.kind = f.kind;
        w.nameKind = f.nameKind;
        w.mimeType = f.mimeType;
        w.knownHash = f.contentHash;
        w.itemId = itemId;
        if (itemId)
            w.itemType = known.items.value(*itemId).type;
        w.rootId = roots.rootFor(f.path);
        return w;
    };
    for (const media::ScannedFile &f : changes.added)
        work.items.push_back(workFor(f, std::nullopt));
    for (const media::FileUpdate &u : changes.modified)
        work.items.push_back(workFor(u.after, u.before.id));

    for (const media::KnownFile &k : changes.unchanged) {
        const catalog::Item &it = known.items[k.id];
        const media::ScannedFile *f = scannedByPath.value(k.path);
        if (!f)
            continue;
        // Pending videos include those an earlier version recorded without embedding them.
        const bool retry = (it.status == catalog::ItemStatus::Error && it.error.startsWith(readErrorPrefix))
                           || it.status == catalog::ItemStatus::Pending || it.status == catalog::ItemStatus::Missing
                           || withoutVector.count(k.id) > 0;
        if (retry) {
            ++work.retried;
            work.items.push_back(workFor(*f, k.id));
            work.items.back().missingVector = it.status == catalog::ItemStatus::Indexed && withoutVector.count(k.id) > 0;
        }
    }
    planLivePhotos(scanned, known, withoutVector, workFor, work.items);
    return work;
}

} // namespace unisearch::engine::indexing
