#include "catalog/catalog.h"

#include "catalog/catalog_p.h"
#include "catalog/rows_p.h"

// Catalog's models (imported bundles, the active one per task) and the labels for fine-tuning.

namespace unisearch::catalog {

using detail::Statement;

// --- labels ------------------------------------------------------------------

std::int64_t Catalog::addLabel(const Label &label)
{
    std::int64_t id = 0;
    transaction([&] {
        Statement s = d->db.prepare("SELECT id FROM labels WHERE item_id = ? AND kind = ? AND text = ?"
                                    " AND COALESCE(answer, '') = ?",
                                    label.itemId, label.kind, label.text, label.answer);
        if (s.step()) {
            id = s.int64(0);
            return;
        }
        const std::int64_t at = detail::toMs(label.createdAt).value_or(detail::nowMs());
        d->db.prepare("INSERT INTO labels(item_id, kind, text, answer, created_at) VALUES (?, ?, ?, ?, ?)",
                      label.itemId, label.kind, label.text,
                      label.answer.isEmpty() ? std::optional<QString>() : std::optional<QString>(label.answer), at)
            .run();
        id = d->db.lastInsertRowId();
    });
    return id;
}

QList<Label> Catalog::labels(const QString &kind) const
{
    Statement s = d->db.prepare("SELECT id, item_id, kind, text, COALESCE(answer, ''), created_at FROM labels"
                                " WHERE ? = '' OR kind = ? ORDER BY item_id, id",
                                kind, kind);
    QList<Label> out;
    while (s.step())
        out.append(Label{s.int64(0), s.int64(1), s.text(2), s.text(3), s.text(4), detail::fromMs(s.int64(5))});
    return out;
}

// --- models ------------------------------------------------------------------

std::int64_t Catalog::upsertModel(const ModelRecord &model)
{
    std::int64_t id = 0;
    transaction([&] {
        // At most one active model per task (a unique partial index enforces it).
        if (model.active)
            d->db.prepare("UPDATE models SET active = 0 WHERE task = ? AND name <> ?", model.task, model.name).run();
        Statement s = d->db.prepare(
            "INSERT INTO models(name, fingerprint, task, architecture, path, active, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET fingerprint = excluded.fingerprint, task = excluded.task,"
            "  architecture = excluded.architecture, path = excluded.path, active = excluded.active,"
            "  imported_at = excluded.imported_at"
            " RETURNING id",
            model.name, model.fingerprint, model.task,
            model.architectureJson.isEmpty() ? QStringLiteral("{}") : model.architectureJson, model.path,
            model.active, detail::toMs(model.importedAt).value_or(detail::nowMs()));
        if (!s.step())
            throw CatalogError("upsertModel returned no id");
        id = s.int64(0);
        s.run();
    });
    return id;
}

QList<ModelRecord> Catalog::models() const
{
    Statement s = d->db.prepare(std::string("SELECT ") + detail::modelColumns + " FROM models ORDER BY name");
    QList<ModelRecord> out;
    while (s.step())
        out.append(detail::readModel(s));
    return out;
}

std::optional<ModelRecord> Catalog::activeModel(const QString &task) const
{
    Statement s =
        d->db.prepare(std::string("SELECT ") + detail::modelColumns + " FROM models WHERE task = ? AND active = 1", task);
    if (!s.step())
        return std::nullopt;
    return detail::readModel(s);
}

bool Catalog::setActiveModel(const QString &name)
{
    bool found = false;
    transaction([&] {
        Statement s = d->db.prepare("SELECT task FROM models WHERE name = ?", name);
        if (!s.step())
            return;
        const QString task = s.text(0);
        found = true;
        d->db.prepare("UPDATE models SET active = 0 WHERE task = ?", task).run();
        d->db.prepare("UPDATE models SET active = 1 WHERE name = ?", name).run();
    });
    return found;
}

} // namespace unisearch::catalog
