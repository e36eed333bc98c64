#include "catalog/catalog.h"

#include "catalog/catalog_p.h"
#include "catalog/rows_p.h"

// Catalog's jobs (so that an interrupted one can be resumed) and per-file errors.

namespace unisearch::catalog {

using detail::Statement;

// --- errors ------------------------------------------------------------------

std::int64_t Catalog::addError(const ErrorEntry &error)
{
    const std::int64_t at = detail::toMs(error.at).value_or(detail::nowMs());
    d->db.prepare("INSERT INTO errors(item_id, job_id, path, stage, message, at) VALUES (?, ?, ?, ?, ?, ?)",
                  error.itemId, error.jobId, error.path, error.stage, error.message, at)
        .run();
    return d->db.lastInsertRowId();
}

QList<ErrorEntry> Catalog::errors(int limit) const
{
    Statement s = d->db.prepare(
        "SELECT id, item_id, job_id, path, stage, message, at FROM errors ORDER BY at DESC, id DESC LIMIT ?", limit);
    QList<ErrorEntry> out;
    while (s.step())
        out.append(ErrorEntry{s.int64(0), s.optionalInt64(1), s.optionalInt64(2), s.text(3), s.text(4), s.text(5),
                              detail::fromMs(s.int64(6))});
    return out;
}

void Catalog::clearErrors(std::int64_t itemId)
{
    d->db.prepare("DELETE FROM errors WHERE item_id = ?", itemId).run();
}

// --- jobs --------------------------------------------------------------------

std::int64_t Catalog::createJob(const QString &kind, const QString &paramsJson)
{
    const std::int64_t now = detail::nowMs();
    d->db.prepare("INSERT INTO jobs(kind, state, params, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
                  kind, paramsJson.isEmpty() ? QStringLiteral("{}") : paramsJson, now, now)
        .run();
    return d->db.lastInsertRowId();
}

void Catalog::updateJob(std::int64_t id, JobState state, double progress, const QString &error)
{
    const std::int64_t now = detail::nowMs();
    const bool finished = state == JobState::Done || state == JobState::Failed || state == JobState::Cancelled;
    d->db.prepare("UPDATE jobs SET state = ?, progress = ?, error = ?, updated_at = ?,"
                  " started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END,"
                  " finished_at = CASE WHEN ? THEN ? ELSE NULL END"
                  " WHERE id = ?",
                  toString(state), progress, error.isEmpty() ? std::optional<QString>() : error, now,
                  state == JobState::Running, now, finished, now, id)
        .run();
}

std::optional<Job> Catalog::job(std::int64_t id) const
{
    Statement s = d->db.prepare(std::string("SELECT ") + detail::jobColumns + " FROM jobs WHERE id = ?", id);
    if (!s.step())
        return std::nullopt;
    return detail::readJob(s);
}

QList<Job> Catalog::unfinishedJobs() const
{
    Statement s = d->db.prepare(std::string("SELECT ") + detail::jobColumns +
                                " FROM jobs WHERE state IN ('queued', 'running', 'paused') ORDER BY id");
    QList<Job> out;
    while (s.step())
        out.append(detail::readJob(s));
    return out;
}

} // namespace unisearch::catalog
