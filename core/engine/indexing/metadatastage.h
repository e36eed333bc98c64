#pragma once
// Capture metadata in indexing: when a photo or video was taken, where, with which camera
// (media/metadata.h), stored as the item's item_meta row (catalog.h ItemMeta).
//
// New and changed files are read on the decode threads (prepare.cpp: addMetadata, cheap
// beside decoding) and stored by BatchWriter::writeItem in the batch's transaction. Items
// indexed before the reader existed, or by an older reader, get a metadata-only pass at
// the end of `index` (runMetadataPass): nothing is decoded or embedded, rows are committed
// in small transactions, so a killed pass resumes where it stopped. Private to core/engine.
#include "catalog/catalog.h"
#include "engine/indexing/record.h"

#include <QString>

#include <functional>

namespace unisearch::engine::indexing {

// The item's row (itemId left 0): the file's capture time, else its file time (source File).
// Never throws.
catalog::ItemMeta readItemMeta(const QString &path, catalog::ItemType type, std::int64_t mtimeMs);

// Fills p.meta for a file the stages indexed (an image or a video); leaves failures alone.
void addMetadata(Processed &p);

struct MetadataPassResult {
    bool ok = true;
    QString error;    // !ok: the catalog could not be written
    qint64 total = 0; // items without a current row at the start
    qint64 done = 0;  // read and stored in this pass
    qint64 withCaptureTime = 0;  // of them, with a time from the file's metadata
};

// progress(done, total) after each transaction; false stops the pass (stored rows stay).
using MetadataProgressFn = std::function<bool(qint64 done, qint64 total)>;

// Reads the indexed items without a current item_meta row. Never throws.
MetadataPassResult runMetadataPass(catalog::Catalog &catalog, const MetadataProgressFn &progress,
                                   int commitEvery = 64);

} // namespace unisearch::engine::indexing
