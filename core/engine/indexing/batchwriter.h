#pragma once
// The batch writer: stores one batch of Processed records (record.h) in ONE catalog
// transaction (items, segments, float16 vectors, per-file errors, the job's progress),
// then applies the same change to the in-memory vector store and saves its file when a
// save is due (vectorindex.h). Nothing is written for a file before its batch commits,
// so a crash or kill loses at most the batch in flight. It returns what went wrong
// (WriteResult) instead of touching the job: the job counts and reports.
//
// How a new stage plugs in (EXIF metadata, OCR): one file of its own,
// indexing/<stage>.{h,cpp}, whose function runs on the decode pool from prepareFile()
// (prepare.h), or on the inference thread if it needs the model, and fills ONE new field
// of Processed (record.h) with its output. The writer stores that field in writeItem(),
// next to the item's row and inside the same transaction, so a crash keeps or loses it
// together with the item; a file whose new field is empty is written as before.
//
// Private to core/engine.
#include "engine/indexing/common.h"
#include "engine/indexing/record.h"
#include "engine/indexjob.h"

#include <QList>
#include <QString>

#include <cstdint>
#include <vector>

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine {
class VectorIndex;
}

namespace unisearch::engine::indexing {

class OtherKeys;

struct WriteResult {
    Status status;                   // !ok: the transaction failed, nothing of the batch was written
    QList<IndexFileError> fileErrors; // the files recorded with an error, in order
    qint64 videos = 0;               // videos stored with their segments
    qint64 segments = 0;             // their segments (video-level ones not counted)
    QString warning;                 // the store file could not be saved (the catalog has it all)
};

class BatchWriter
{
public:
    struct Settings {
        QString fingerprint;            // the key of this job's vectors
        std::int64_t jobId = 0;         // the catalog's job row (errors, progress)
        bool keepOtherVectors = false;  // IndexParams::keepOtherVectors
        int saveIntervalMs = 15'000;    // IndexParams::saveIntervalMs
    };

    BatchWriter(catalog::Catalog &catalog, VectorIndex &store, OtherKeys &otherKeys, Settings settings);

    // Stores images (Embedded) and records (Failed, Video) in that order; jobFraction is
    // the job's progress once they are stored.
    WriteResult write(const std::vector<Processed> &images, const std::vector<Processed> &records, double jobFraction);

private:
    struct Replacements;
    Replacements replacements(const std::vector<const Processed *> &all) const;
    // One file's rows, inside the transaction; appends the vectors to add to the store.
    void writeItem(const Processed &p, std::vector<std::int64_t> &addIds, std::vector<float> &addVectors);

    catalog::Catalog &m_catalog;
    VectorIndex &m_store;
    OtherKeys &m_otherKeys;
    Settings m_settings;
};

} // namespace unisearch::engine::indexing
