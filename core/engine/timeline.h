#pragma once
// The library as a timeline: every item (indexed or waiting to be), newest first by capture
// time, grouped by month. A Timeline reads the catalog through a read-only connection of its
// own (WAL lets it read beside the indexer) and holds only the sort keys (16 bytes an item:
// 1.6 MB for 100,000 items) and the month groups; the rows themselves (path, type, size) are
// read a page at a time, so a view of 100,000 items never holds them all. One Timeline is one
// connection: use it from one thread at a time. refresh() re-reads the keys after indexing.
//
// Capture time: item_meta.taken_local_ms (the wall clock where the photo was taken) when the
// metadata reader has stored it, else the file's modification time in this machine's zone.
#include "catalog/catalog.h"

#include <QString>

#include <cstdint>
#include <memory>
#include <vector>

namespace unisearch::engine {

struct TimelineItem {
    std::int64_t itemId = 0;
    QString path;
    catalog::ItemType type = catalog::ItemType::Image;
    std::int64_t takenLocalMs = 0;  // wall-clock ms since 1970-01-01T00:00 (no zone)
    std::int64_t mtimeMs = 0;
    int width = 0;
    int height = 0;
    double durationS = 0;
};

struct TimelineMonth {
    int year = 0;
    int month = 0;   // 1..12
    int first = 0;   // index of its first (newest) item in the timeline
    int count = 0;
};

class Timeline
{
public:
    // The most rows one page() reads.
    static constexpr int maxPage = 1000;

    // Opens <dataDir>/catalog.sqlite read-only and reads the keys; nullptr and *error when the
    // catalog cannot be read.
    static std::unique_ptr<Timeline> open(const QString &dataDir, QString *error = nullptr);
    ~Timeline();
    Timeline(const Timeline &) = delete;
    Timeline &operator=(const Timeline &) = delete;

    // Re-reads the keys and months (the library changed); false and *error on failure (the
    // old keys stay).
    bool refresh(QString *error = nullptr);
    int count() const;
    // Newest month first.
    const std::vector<TimelineMonth> &months() const;
    // The items [first, first + count) in timeline order (count at most maxPage), one entry
    // each: an item deleted since the last refresh has an empty path. Empty and *error on failure.
    std::vector<TimelineItem> page(int first, int count, QString *error = nullptr);
    // Bytes held for the keys and months (the memory bound the benchmark reports).
    std::size_t keyBytes() const;

private:
    Timeline();
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace unisearch::engine
