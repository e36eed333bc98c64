#pragma once
// Read-only catalog queries that the indexing job and the search need in bulk and that
// catalog::Catalog does not offer (segment id → item, the segment ids that pass a filter,
// the items below a folder). A second SQLite connection through the catalog's own access
// layer (catalog/database_p.h), read-only: WAL lets it read beside the writer.
//
// NOTE(coordination): these belong in catalog::Catalog (segmentsInfo, filteredSegmentIds,
// itemsUnder); they live here because the catalog is owned by another engineer. Moving
// them is mechanical. Private to core/engine: it includes SQLite's wrapper.
#include "catalog/catalog.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace unisearch::engine::detail {

struct SegmentInfo {
    std::int64_t segmentId = 0;
    std::int64_t itemId = 0;
    std::int64_t startMs = 0;
    std::int64_t endMs = 0;
    QString path;
    catalog::ItemType type = catalog::ItemType::Image;
    catalog::ItemStatus status = catalog::ItemStatus::Pending;
    std::int64_t mtimeMs = 0;
    int width = 0;
    int height = 0;
    double durationS = 0;  // videos
    // A video's whole-file segment (0, 0): its video-level feature, not a moment.
    bool isVideoLevel() const { return type == catalog::ItemType::Video && startMs == 0 && endMs == 0; }
};

struct SegmentFilter {
    std::optional<catalog::ItemType> type;
    QStringList folders;                 // absolute, clean: the item's path is one of them or below one
    std::optional<std::int64_t> fromMs;  // item mtime >= fromMs
    std::optional<std::int64_t> toMs;    // item mtime < toMs
    bool isEmpty() const { return !type && folders.isEmpty() && !fromMs && !toMs; }
};

class CatalogReader
{
public:
    // Opens <dataDir>/catalog.sqlite (which must exist). Throws catalog::CatalogError.
    explicit CatalogReader(const QString &dataDir);
    ~CatalogReader();
    CatalogReader(const CatalogReader &) = delete;
    CatalogReader &operator=(const CatalogReader &) = delete;

    // The segments among ids that exist, with their items.
    std::unordered_map<std::int64_t, SegmentInfo> segments(std::span<const std::int64_t> ids);
    // Every segment of every item that passes the filter, sorted.
    std::vector<std::int64_t> segmentIds(const SegmentFilter &filter);
    std::optional<catalog::Item> itemByPath(const QString &path);
    std::vector<std::int64_t> segmentIdsOfItem(std::int64_t itemId);
    // Items whose path is dir or lies below it, by path.
    QList<catalog::Item> itemsUnder(const QString &dir);
    // Ids of items (images and videos) marked indexed that have no vector for the model.
    std::vector<std::int64_t> indexedItemsWithoutVector(const QString &modelFingerprint);
    // An item's segments, by time.
    QList<catalog::Segment> segmentsOfItem(std::int64_t itemId);
    // Number of segments with a vector of the model.
    std::int64_t vectorCount(const QString &modelFingerprint);
    std::int64_t countItems(catalog::ItemType type, catalog::ItemStatus status);
    // The newest job of a kind; 0 when none.
    std::int64_t lastJobId(const QString &kind);

private:
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace unisearch::engine::detail
