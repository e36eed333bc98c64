#include "catalog/migrations_p.h"

// Conventions: times are INTEGER milliseconds since the epoch (UTC); enumerations are
// lower-case TEXT guarded by CHECK; JSON is TEXT. Deleting a root or an item cascades to
// everything derived from it, so foreign_keys must be ON for every connection.

namespace unisearch::catalog::detail {

namespace {

// Version 1: the library. Items are unique by path; content_hash finds a moved file
// (same hash, old path missing) so it keeps its vectors and labels. Segments carry time
// ranges (an image has the single range 0..0) and their id is the FAISS id. Vectors are
// float16 blobs keyed by (segment, model fingerprint), so several models (or a vision
// adapter pack, which gets its own fingerprint) can coexist while a re-embed runs.
constexpr const char *v1Library = R"sql(
PRAGMA application_id = 1431520072;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE roots (
    id           INTEGER PRIMARY KEY,
    path         TEXT NOT NULL UNIQUE,
    added_at     INTEGER NOT NULL,
    last_scan_at INTEGER
);

CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    root_id      INTEGER REFERENCES roots(id) ON DELETE CASCADE,
    path         TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL CHECK (type IN ('image', 'video')),
    size         INTEGER NOT NULL DEFAULT 0,
    mtime_ms     INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT,
    width        INTEGER NOT NULL DEFAULT 0,
    height       INTEGER NOT NULL DEFAULT 0,
    duration_s   REAL NOT NULL DEFAULT 0,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'indexed', 'error', 'missing')),
    error        TEXT,
    added_at     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX items_root ON items(root_id);
CREATE INDEX items_content_hash ON items(content_hash) WHERE content_hash IS NOT NULL;
CREATE INDEX items_status ON items(status);

CREATE TABLE segments (
    id       INTEGER PRIMARY KEY,
    item_id  INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    start_ms INTEGER NOT NULL DEFAULT 0,
    end_ms   INTEGER NOT NULL DEFAULT 0,
    CHECK (end_ms >= start_ms),
    UNIQUE (item_id, start_ms, end_ms)
);

CREATE TABLE vectors (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    model      TEXT NOT NULL,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (segment_id, model)
) WITHOUT ROWID;
CREATE INDEX vectors_model ON vectors(model, segment_id);
)sql";

// Version 2: models, adapter packs, labels for fine-tuning, resumable jobs and the
// per-file error list.
constexpr const char *v2ModelsAndWork = R"sql(
CREATE TABLE models (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    fingerprint  TEXT NOT NULL,
    task         TEXT NOT NULL CHECK (task IN ('retrieval', 'vqa')),
    architecture TEXT NOT NULL DEFAULT '{}',
    path         TEXT NOT NULL,
    active       INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    imported_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX models_one_active_per_task ON models(task) WHERE active = 1;

CREATE TABLE adapter_packs (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    model_id       INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    path           TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    task           TEXT NOT NULL,
    touches_vision INTEGER NOT NULL DEFAULT 0 CHECK (touches_vision IN (0, 1)),
    metadata       TEXT NOT NULL DEFAULT '{}',
    active         INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    created_at     INTEGER NOT NULL
);

CREATE TABLE labels (
    id         INTEGER PRIMARY KEY,
    item_id    INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    segment_id INTEGER REFERENCES segments(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('caption', 'name', 'qa')),
    text       TEXT NOT NULL,
    answer     TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX labels_item ON labels(item_id);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'paused', 'done', 'failed', 'cancelled')),
    progress    REAL NOT NULL DEFAULT 0,
    params      TEXT NOT NULL DEFAULT '{}',
    error       TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX jobs_state ON jobs(state);

CREATE TABLE errors (
    id      INTEGER PRIMARY KEY,
    item_id INTEGER REFERENCES items(id) ON DELETE CASCADE,
    job_id  INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    path    TEXT NOT NULL,
    stage   TEXT NOT NULL,
    message TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX errors_item ON errors(item_id);
)sql";

// Version 3: text inside pictures. item_text keeps each item's OCR text and whether its
// OCR pass is done (pending, done, error) with which languages; item_fts is the FTS5
// keyword index over the file name, its folder (relative to its library folder; a lone
// file: its whole folder) and the OCR text, rowid = item id. Triggers keep both in step
// with items: a new item gets pending OCR and its names, a move renames, a changed content
// hash drops the stale text, a deletion removes the row. Existing items get their names now
// and their OCR on the next index run.
constexpr const char *v3ItemText = R"sql(
CREATE TABLE item_text (
    item_id       INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    ocr_text      TEXT NOT NULL DEFAULT '',
    ocr_state     TEXT NOT NULL DEFAULT 'pending' CHECK (ocr_state IN ('pending', 'done', 'error')),
    ocr_languages TEXT NOT NULL DEFAULT '',
    updated_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX item_text_state ON item_text(ocr_state);

CREATE VIRTUAL TABLE item_fts USING fts5(name, folder, text, tokenize = 'unicode61 remove_diacritics 2');

-- rtrim(path, <path without its slashes>) is the folder part of path with its trailing slash.
CREATE VIEW item_names AS
SELECT i.id AS id,
       substr(i.path, length(rtrim(i.path, replace(i.path, '/', ''))) + 1) AS name,
       CASE WHEN r.path IS NOT NULL AND length(rtrim(i.path, replace(i.path, '/', ''))) > length(r.path) + 1
            THEN substr(rtrim(i.path, replace(i.path, '/', '')), length(r.path) + 2)
            WHEN r.path IS NULL
            THEN rtrim(i.path, replace(i.path, '/', ''))
            ELSE '' END AS folder
FROM items i LEFT JOIN roots r ON r.id = i.root_id;

CREATE TRIGGER items_text_insert AFTER INSERT ON items BEGIN
    INSERT OR IGNORE INTO item_text(item_id, updated_at) VALUES (new.id, new.updated_at);
    INSERT INTO item_fts(rowid, name, folder, text)
        SELECT id, name, folder, '' FROM item_names WHERE id = new.id;
END;

CREATE TRIGGER items_text_rename AFTER UPDATE OF path, root_id ON items
WHEN old.path IS NOT new.path OR old.root_id IS NOT new.root_id BEGIN
    UPDATE item_fts SET (name, folder) = (SELECT name, folder FROM item_names WHERE id = new.id)
        WHERE rowid = new.id;
END;

CREATE TRIGGER items_text_changed AFTER UPDATE OF content_hash, size ON items
WHEN old.content_hash IS NOT new.content_hash OR old.size IS NOT new.size BEGIN
    UPDATE item_text SET ocr_text = '', ocr_state = 'pending', ocr_languages = '' WHERE item_id = new.id;
END;

CREATE TRIGGER items_text_delete AFTER DELETE ON items BEGIN
    DELETE FROM item_fts WHERE rowid = old.id;
END;

CREATE TRIGGER item_text_update AFTER UPDATE OF ocr_text ON item_text BEGIN
    UPDATE item_fts SET text = new.ocr_text WHERE rowid = new.item_id;
END;

INSERT INTO item_text(item_id, updated_at) SELECT id, updated_at FROM items;
INSERT INTO item_fts(rowid, name, folder, text) SELECT id, name, folder, '' FROM item_names;
)sql";

// Version 4: capture metadata. One row per item, written by the metadata reader
// (media/metadata.h) whose version it records, so a newer reader re-reads; an item without
// a row has not been read yet and falls back to its file time. taken_local_ms is the wall
// clock where the photo was taken (ms since 1970-01-01T00:00, no zone), taken_offset_min
// that clock's offset east of UTC when known. A changed file drops its row (read again).
constexpr const char *v4ItemMeta = R"sql(
CREATE TABLE item_meta (
    item_id          INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    taken_local_ms   INTEGER NOT NULL,
    taken_offset_min INTEGER,
    taken_source     TEXT NOT NULL CHECK (taken_source IN ('exif', 'video', 'file')),
    gps_lat          REAL,
    gps_lon          REAL,
    make             TEXT,
    model            TEXT,
    orientation      INTEGER,
    reader_version   INTEGER NOT NULL
);
CREATE INDEX item_meta_taken ON item_meta(taken_local_ms);

CREATE TRIGGER items_meta_changed AFTER UPDATE OF content_hash, size ON items
WHEN old.content_hash IS NOT new.content_hash OR old.size IS NOT new.size BEGIN
    DELETE FROM item_meta WHERE item_id = new.id;
END;
)sql";

// Version 5: live photos. A photo item paired with the short video of the same name in
// its folder (IMG_1234.HEIC + IMG_1234.MOV): the video's segments are the photo's segments
// with a time range, and the video file is no item of its own while the pair holds. Its
// size and mtime tell the next scan whether the pair still holds.
constexpr const char *v5LivePhotos = R"sql(
CREATE TABLE live_photos (
    item_id        INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    video_path     TEXT NOT NULL,
    video_size     INTEGER NOT NULL,
    video_mtime_ms INTEGER NOT NULL
);
)sql";

// Version 6: each vector records the precision of the model that computed it (float32
// before this version). float32 and bfloat16 vectors of one model may mix in a store (the
// ranking difference is measured in docs/performance.md, "Precision"), so the precision
// is a column beside the vector, not part of its model key; its index serves `status`.
constexpr const char *v6VectorPrecision = R"sql(
ALTER TABLE vectors ADD COLUMN precision TEXT NOT NULL DEFAULT 'float32'
    CHECK (precision IN ('float32', 'bfloat16', 'float16'));
CREATE INDEX vectors_precision ON vectors(precision);
)sql";

constexpr Migration steps[] = {
    {1, "library (roots, items, segments, vectors, meta)", v1Library},
    {2, "models, adapter packs, labels, jobs, errors", v2ModelsAndWork},
    {3, "text inside pictures: OCR text and the keyword index", v3ItemText},
    {4, "capture metadata: time, place, camera, orientation", v4ItemMeta},
    {5, "live photos: a photo paired with its short video", v5LivePhotos},
    {6, "the precision that computed each vector", v6VectorPrecision},
};

} // namespace

std::span<const Migration> migrations()
{
    return steps;
}

} // namespace unisearch::catalog::detail
