#include "catalog/catalog.h"

#include "catalog/catalog_p.h"
#include "catalog/rows_p.h"

#include <QFloat16>

#include <cstring>

// Catalog's segments (the searchable spans of an item) and their vectors, one per model.

namespace unisearch::catalog {

using detail::nowMs;
using detail::Statement;

namespace {

// Vectors are stored as IEEE half floats in the machine's byte order; every platform
// we build for is little-endian, which is what the blob format promises.
QByteArray toFloat16Blob(std::span<const float> v)
{
    QByteArray blob(static_cast<qsizetype>(v.size() * sizeof(qfloat16)), Qt::Uninitialized);
    qFloatToFloat16(reinterpret_cast<qfloat16 *>(blob.data()), v.data(), static_cast<qsizetype>(v.size()));
    return blob;
}

std::vector<float> fromFloat16Blob(const char *data, qsizetype bytes)
{
    const qsizetype n = bytes / static_cast<qsizetype>(sizeof(qfloat16));
    std::vector<qfloat16> halves(static_cast<size_t>(n));
    std::memcpy(halves.data(), data, static_cast<size_t>(n) * sizeof(qfloat16));
    std::vector<float> out(static_cast<size_t>(n));
    qFloatFromFloat16(out.data(), halves.data(), n);
    return out;
}

} // namespace

// --- segments and vectors ----------------------------------------------------

std::int64_t Catalog::addSegment(std::int64_t itemId, std::int64_t startMs, std::int64_t endMs)
{
    d->db.prepare("INSERT INTO segments(item_id, start_ms, end_ms) VALUES (?, ?, ?)"
                  " ON CONFLICT(item_id, start_ms, end_ms) DO NOTHING",
                  itemId, startMs, endMs)
        .run();
    return d->db.queryInt("SELECT id FROM segments WHERE item_id = ? AND start_ms = ? AND end_ms = ?", itemId,
                          startMs, endMs);
}

QList<Segment> Catalog::segments(std::int64_t itemId) const
{
    return detail::selectSegmentsOfItem(d->db, itemId);
}

void Catalog::putVector(std::int64_t segmentId, const QString &modelFingerprint, std::span<const float> vector)
{
    if (vector.empty())
        throw CatalogError("putVector: empty vector");
    if (modelFingerprint.isEmpty())
        throw CatalogError("putVector: empty model fingerprint");
    d->db.prepare("INSERT INTO vectors(segment_id, model, data, created_at, precision) VALUES (?, ?, ?, ?, ?)"
                  " ON CONFLICT(segment_id, model) DO UPDATE SET data = excluded.data,"
                  " created_at = excluded.created_at, precision = excluded.precision",
                  segmentId, modelFingerprint, toFloat16Blob(vector), nowMs(), d->vectorPrecision)
        .run();
}

void Catalog::setVectorPrecision(const QString &precision)
{
    if (precision != QLatin1String("float32") && precision != QLatin1String("bfloat16") &&
        precision != QLatin1String("float16"))
        throw CatalogError("setVectorPrecision: not float32, bfloat16 or float16");
    d->vectorPrecision = precision;
}

QString Catalog::vectorPrecision() const
{
    return d->vectorPrecision;
}

QMap<QString, std::int64_t> Catalog::vectorPrecisions() const
{
    // Counted on the index vectors_precision (the rows hold the vector data).
    Statement s = d->db.prepare("SELECT precision, count(*) FROM vectors GROUP BY precision");
    QMap<QString, std::int64_t> out;
    while (s.step())
        out.insert(s.text(0), s.int64(1));
    return out;
}

std::int64_t Catalog::addSegmentWithVector(std::int64_t itemId, std::int64_t startMs, std::int64_t endMs,
                                           const QString &modelFingerprint, std::span<const float> vector)
{
    std::int64_t id = 0;
    transaction([&] {
        id = addSegment(itemId, startMs, endMs);
        putVector(id, modelFingerprint, vector);
    });
    return id;
}

std::optional<std::vector<float>> Catalog::vector(std::int64_t segmentId, const QString &modelFingerprint) const
{
    Statement s = d->db.prepare("SELECT data FROM vectors WHERE segment_id = ? AND model = ?", segmentId,
                                modelFingerprint);
    if (!s.step())
        return std::nullopt;
    const QByteArray blob = s.blob(0);
    return fromFloat16Blob(blob.constData(), blob.size());
}

std::int64_t Catalog::forEachVector(const QString &modelFingerprint,
                                    const std::function<void(std::int64_t, std::span<const float>)> &fn) const
{
    Statement s = d->db.prepare("SELECT segment_id, data FROM vectors WHERE model = ? ORDER BY segment_id",
                                modelFingerprint);
    std::int64_t n = 0;
    while (s.step()) {
        const QByteArray blob = s.blob(1);
        const std::vector<float> v = fromFloat16Blob(blob.constData(), blob.size());
        fn(s.int64(0), v);
        ++n;
    }
    return n;
}

std::int64_t Catalog::removeVectors(const QString &modelFingerprint)
{
    d->db.prepare("DELETE FROM vectors WHERE model = ?", modelFingerprint).run();
    return d->db.changes();
}

QStringList Catalog::vectorModels(std::int64_t segmentId) const
{
    Statement s = d->db.prepare("SELECT model FROM vectors WHERE segment_id = ? ORDER BY model", segmentId);
    QStringList out;
    while (s.step())
        out.append(s.text(0));
    return out;
}

QStringList Catalog::removeOtherVectors(std::int64_t segmentId, const QString &keepModel)
{
    QStringList removed = vectorModels(segmentId);
    removed.removeAll(keepModel);
    if (!removed.isEmpty())
        d->db.prepare("DELETE FROM vectors WHERE segment_id = ? AND model <> ?", segmentId, keepModel).run();
    return removed;
}

std::int64_t Catalog::removeSegmentsWithoutVectors()
{
    d->db.prepare("DELETE FROM segments WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.segment_id = segments.id)"
                  " AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.segment_id = segments.id)")
        .run();
    return d->db.changes();
}

} // namespace unisearch::catalog
