#pragma once
// Read-only catalog queries that the indexing job and the search need in bulk (segment id
// → item, the segment ids that pass a filter, the items below a folder). A second SQLite
// connection beside a Catalog, read-only: WAL lets it read beside the writer. Like a
// Catalog, one Reader is one connection: use it from one thread at a time.
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

namespace unisearch::catalog {

struct SegmentInfo {
    std::int64_t segmentId = 0;
    std::int64_t itemId = 0;
    std::int64_t startMs = 0;
    std::int64_t endMs = 0;
    QString path;
    ItemType type = ItemType::Image;
    ItemStatus status = ItemStatus::Pending;
    std::int64_t mtimeMs = 0;
    int width = 0;
    int height = 0;
    double durationS = 0;  // videos
    // A video's whole-file segment (0, 0): its video-level feature, not a moment.
    bool isVideoLevel() const { return type == ItemType::Video && startMs == 0 && endMs == 0; }
};

struct SegmentFilter {
    std::optional<ItemType> type;
    QStringList folders;                 // absolute, clean: the item's path is one of them or below one
    // Capture time (ItemMeta::takenLocalMs, wall clock; for an item without item_meta its
    // file time as the local wall clock, fileTimeMeta): >= fromMs and < toMs.
    std::optional<std::int64_t> fromMs;
    std::optional<std::int64_t> toMs;
    bool isEmpty() const { return !type && folders.isEmpty() && !fromMs && !toMs; }
};

// A keyword hit (TextIndex): the item, its bm25 rank (lower is better) and a snippet of
// the name, folder or OCR text that matched.
struct KeywordMatch {
    std::int64_t itemId = 0;
    double rank = 0;
    QString snippet;
};

// Read-only access to the keyword index (FTS5 over name, folder, OCR text; text.cpp), on a
// connection of its own like Reader.
class TextIndex
{
public:
    explicit TextIndex(const QString &dataDir);  // throws CatalogError
    ~TextIndex();
    TextIndex(const TextIndex &) = delete;
    TextIndex &operator=(const TextIndex &) = delete;

    // Items matching an FTS5 expression, best first, at most limit. The expression must be
    // built from quoted tokens (engine/keywordsearch.h), never from raw user text.
    std::vector<KeywordMatch> match(const QString &ftsExpression, int limit);

private:
    struct Private;
    std::unique_ptr<Private> d;
};

class Reader
{
public:
    // Opens <dataDir>/catalog.sqlite (which must exist). Throws CatalogError.
    explicit Reader(const QString &dataDir);
    ~Reader();
    Reader(const Reader &) = delete;
    Reader &operator=(const Reader &) = delete;

    // The segments among ids that exist, with their items.
    std::unordered_map<std::int64_t, SegmentInfo> segments(std::span<const std::int64_t> ids);
    // Every segment of every item that passes the filter, sorted.
    std::vector<std::int64_t> segmentIds(const SegmentFilter &filter);
    std::optional<Item> itemByPath(const QString &path);
    std::vector<std::int64_t> segmentIdsOfItem(std::int64_t itemId);
    // Items whose path is dir or lies below it, by path.
    QList<Item> itemsUnder(const QString &dir);
    // Ids of items (images and videos) marked indexed that have no vector for the model.
    std::vector<std::int64_t> indexedItemsWithoutVector(const QString &modelFingerprint);
    // An item's segments, by time.
    QList<Segment> segmentsOfItem(std::int64_t itemId);
    // Number of segments with a vector of the model.
    std::int64_t vectorCount(const QString &modelFingerprint);
    std::int64_t countItems(ItemType type, ItemStatus status);
    // The newest job of a kind; 0 when none.
    std::int64_t lastJobId(const QString &kind);
    // Capture metadata of the items among ids that have a row (metadata.cpp); an item
    // missing from the map falls back to fileTimeMeta(its id, its mtime).
    std::unordered_map<std::int64_t, ItemMeta> itemMetas(std::span<const std::int64_t> itemIds);

private:
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace unisearch::catalog
