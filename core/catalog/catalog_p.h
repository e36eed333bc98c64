#pragma once
// Private to core/catalog: the state of one Catalog (its connection) and the small
// conversions that the files implementing Catalog's methods share (catalog.cpp: opening,
// transactions, meta; items.cpp; vectors.cpp; models.cpp; jobs.cpp).
#include "catalog/catalog.h"
#include "catalog/database_p.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>

#include <cstdint>
#include <optional>

namespace unisearch::catalog {

struct Catalog::Private {
    detail::Database db;
    QString path;
    int transactionDepth = 0;
    QString vectorPrecision = QStringLiteral("float32"); // recorded with the vectors written next
};

namespace detail {

inline std::int64_t nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

inline QDateTime fromMs(const std::optional<std::int64_t> &ms)
{
    return ms ? QDateTime::fromMSecsSinceEpoch(*ms, Qt::UTC) : QDateTime();
}

inline std::optional<std::int64_t> toMs(const QDateTime &t)
{
    if (!t.isValid())
        return std::nullopt;
    return t.toMSecsSinceEpoch();
}

inline QString cleanPath(const QString &path)
{
    return QDir::cleanPath(QFileInfo(path).absoluteFilePath());
}

} // namespace detail

} // namespace unisearch::catalog
