#include "catalog/catalog.h"
#include "catalog/reader.h"

#include "catalog/catalog_p.h"

// Text inside pictures: the OCR text of items and the keyword index (FTS5) over names,
// folders and that text. The tables and the triggers that keep them in step with items
// are migration 3 (migrations.cpp).

namespace unisearch::catalog {

using detail::Database;
using detail::nowMs;
using detail::Statement;

QList<OcrTask> Catalog::pendingOcr(const QString &languages, int limit, std::int64_t afterId) const
{
    Statement s = d->db.prepare(
        "SELECT i.id, i.path, i.type = 'video' FROM items i JOIN item_text t ON t.item_id = i.id"
        " WHERE i.type IN ('image', 'video') AND i.status = 'indexed' AND i.id > ?"
        "  AND (t.ocr_state = 'pending' OR (t.ocr_state = 'done' AND t.ocr_languages != ?))"
        " ORDER BY i.id LIMIT ?",
        afterId, languages, std::max(0, limit));
    QList<OcrTask> tasks;
    while (s.step())
        tasks.append(OcrTask{s.int64(0), s.text(1), s.int64(2) != 0, {}});
    return tasks;
}

std::int64_t Catalog::countPendingOcr(const QString &languages) const
{
    return d->db.queryInt(
        "SELECT count(*) FROM items i JOIN item_text t ON t.item_id = i.id"
        " WHERE i.type IN ('image', 'video') AND i.status = 'indexed'"
        "  AND (t.ocr_state = 'pending' OR (t.ocr_state = 'done' AND t.ocr_languages != ?))",
        languages);
}

void Catalog::setOcrText(std::int64_t itemId, const QString &text, const QString &languages, bool failed)
{
    d->db.prepare("UPDATE item_text SET ocr_text = ?, ocr_state = ?, ocr_languages = ?, updated_at = ?"
                  " WHERE item_id = ?",
                  text, failed ? "error" : "done", languages, nowMs(), itemId)
        .run();
}

std::optional<QString> Catalog::ocrText(std::int64_t itemId) const
{
    Statement s = d->db.prepare("SELECT ocr_text FROM item_text WHERE item_id = ?", itemId);
    if (!s.step())
        return std::nullopt;
    return s.text(0);
}

// --- TextIndex -------------------------------------------------------------------

struct TextIndex::Private {
    Database db;
};

TextIndex::TextIndex(const QString &dataDir) : d(std::make_unique<Private>())
{
    d->db = Database::open(QDir(dataDir).filePath(QString::fromLatin1(Catalog::fileName)), false);
    d->db.setBusyTimeout(5000);
    d->db.exec("PRAGMA query_only = ON");
}

TextIndex::~TextIndex() = default;

std::vector<KeywordMatch> TextIndex::match(const QString &ftsExpression, int limit)
{
    std::vector<KeywordMatch> out;
    if (ftsExpression.isEmpty() || limit <= 0)
        return out;
    // Name and OCR text weigh more than the folder, which every item inside it shares.
    Statement s = d->db.prepare(
        "SELECT rowid, bm25(item_fts, 1.0, 0.5, 1.0) AS r, snippet(item_fts, -1, '', '', '…', 12)"
        " FROM item_fts WHERE item_fts MATCH ? ORDER BY r LIMIT ?",
        ftsExpression, limit);
    while (s.step())
        out.push_back(KeywordMatch{s.int64(0), s.real(1), s.text(2).simplified()});
    return out;
}

} // namespace unisearch::catalog
