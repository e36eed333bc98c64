#pragma once
// The record of one file as it goes through the indexing stages:
//
//   plan (plan.h)          → WorkItem: what the file is and which item it replaces
//   decode pool            → Processed: prepareFile() (prepare.h) hands it to the image
//                            stage (imagestage.h) or the video stage (videostage.h)
//   inference thread       → the embedder (embedder.h) adds the model's features
//   batch writer           → stores it (batchwriter.h), in the batch's one transaction
//
// A stage added later (EXIF metadata, OCR) fills one field of its own in Processed; the
// top of batchwriter.h says how it is stored. Private to core/engine.
#include "engine/indexing/videostage.h"

#include "catalog/catalog.h"
#include "media/scanner.h"

#include <QString>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace unisearch::engine::indexing {

enum class Outcome { Skipped, Embedded, Failed, Video };

struct WorkItem {
    QString path;
    qint64 size = 0;
    qint64 mtimeMs = 0;
    media::MediaKind kind = media::MediaKind::Other;
    media::MediaKind nameKind = media::MediaKind::Other;
    QString mimeType;
    QString knownHash;                           // already computed (change detection)
    std::optional<std::int64_t> itemId;          // an existing item this file replaces
    std::optional<catalog::ItemType> itemType;   // ... and its type
    std::optional<std::int64_t> rootId;
    bool missingVector = false;                  // unchanged and indexed, without this model's vector
    QString livePhotoOf;                         // a video beside a photo of its name (livephoto.h)
    bool breakLivePhoto = false;                 // a photo whose paired video is gone (livephoto.h)
};

struct Processed {
    const WorkItem *work = nullptr;
    Outcome outcome = Outcome::Skipped;
    // The item row (every file).
    QString hash;
    int width = 0;
    int height = 0;
    QString errorStage;
    QString errorMessage;
    // Images (imagestage.h → embedder.h).
    std::vector<float> pixels;   // preprocessed (Embedded, until the model ran)
    std::vector<float> feature;  // the model's output
    // Videos (videostage.h → embedder.h): the task and its first chunk (decoded on the
    // pool), then what is stored.
    std::shared_ptr<VideoTask> video;
    VideoChunk chunk;
    double durationS = 0;
    std::vector<StoredSegment> segments;
    // Capture metadata (metadatastage.h), for an image or video the stages indexed.
    std::optional<catalog::ItemMeta> meta;
    // A new stage's output goes here, one field (see the top of batchwriter.h).
};

// A file recorded with an error at stage (read, type, decode).
Processed fail(const WorkItem &w, const QString &stage, const QString &message);

// The catalog type of the item a file becomes (a file named as a video stays one, even
// when its content is not).
catalog::ItemType itemTypeOf(const WorkItem &w);

} // namespace unisearch::engine::indexing
