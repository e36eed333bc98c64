#pragma once
// Names travel with the photos: the names taught for library items (labels of kind "name",
// from the wizard or `train --labels`/`--data` with a name column) written as XMP keywords
// to sidecar files beside the originals, PHOTO.EXT.xmp, the name digiKam and darktable
// read and write. The originals are never opened for writing.
//
// Which labels: names only. A name is a keyword ("Shrek", "Grandma"); a caption is a
// sentence ("a dog on the beach at dusk") and a question/answer pair is neither, so those
// would only clutter a keyword list.
//
// Each name goes into dc:subject (the plain keyword list every XMP reader knows),
// lr:hierarchicalSubject (darktable, Lightroom) and digiKam:TagsList (digiKam prefers it
// to dc:subject when present), as a top-level tag; a hierarchical list the sidecar lacked
// starts with its dc:subject keywords, so those readers keep showing them. An existing
// sidecar is merged, never replaced: its own keywords and other properties stay, a name it
// already has in dc:subject is not added again, and a sidecar that is not XMP is left
// alone with an error. Writes are atomic (QSaveFile: a temporary file in the same folder,
// renamed).
#include <QList>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <functional>
#include <optional>

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine {

struct XmpExportParams {
    bool dryRun = false;  // plan only: read existing sidecars, write nothing
    // Sidecars larger than this are not read (a real one is a few KiB).
    std::int64_t maxSidecarBytes = 16 * 1024 * 1024;
};

enum class XmpFileStatus {
    Written,     // the sidecar was created or merged
    WouldWrite,  // dry run: it would be
    Unchanged,   // the sidecar already holds every name
    Failed,      // see error; the other files go on
};
QString toString(XmpFileStatus status);  // written | wouldWrite | unchanged | failed

struct XmpFileResult {
    std::int64_t itemId = 0;
    QString path;          // the photo or video
    QString sidecar;       // path + ".xmp"
    QStringList names;     // every name the library has for it
    QStringList added;     // the names the sidecar lacked (added, or to add in a dry run)
    bool sidecarExisted = false;
    XmpFileStatus status = XmpFileStatus::Unchanged;
    QString error;         // Failed: what went wrong, for a person
};

struct XmpExportResult {
    QList<XmpFileResult> files;  // by item id
    int written = 0;             // Written or WouldWrite
    int unchanged = 0;
    int failed = 0;
    bool cancelled = false;      // progress returned false; files holds those done so far
};

struct XmpExportProgress {
    int done = 0;
    int total = 0;
};
using XmpExportProgressFn = std::function<bool(const XmpExportProgress &)>;

// The names of each labelled item (labels of kind "name", trimmed, each once, in the order
// taught), by item id; items no longer in the catalog are left out.
QList<XmpFileResult> xmpExportPlan(const catalog::Catalog &catalog);

// The keywords (dc:subject) of an XMP sidecar; nullopt with *error when it cannot be read
// or is not XMP.
std::optional<QStringList> readSidecarKeywords(const QString &sidecar, QString *error = nullptr);

// Adds names to one sidecar (creating it) and fills file.added, file.status, file.error.
void exportXmpSidecar(XmpFileResult &file, const XmpExportParams &params = {});

// The whole export over the library's names. nullopt with *error when the catalog cannot
// be read; a file that cannot be written is a Failed entry and the others go on.
std::optional<XmpExportResult> exportXmpSidecars(const catalog::Catalog &catalog, const XmpExportParams &params = {},
                                                 const XmpExportProgressFn &progress = {}, QString *error = nullptr);

} // namespace unisearch::engine
