#include "ui/resultsmodel.h"

#include <QFileInfo>
#include <QTime>

namespace unisearch::ui {

ResultsModel::ResultsModel(QObject *parent)
    : QAbstractListModel(parent)
{
}

int ResultsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

QVariant ResultsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const ResultRow &r = m_rows.at(index.row());
    switch (role) {
    case Qt::DisplayRole: {
        QString name = QFileInfo(r.path).fileName();
        if (r.timeMs >= 0)
            name += QStringLiteral(" @ ") + QTime::fromMSecsSinceStartOfDay(static_cast<int>(r.timeMs % 86400000))
                                                .toString(QStringLiteral("H:mm:ss"));
        return name;
    }
    case Qt::ToolTipRole:
    case PathRole: return r.path;
    case ScoreRole: return r.score;
    case TimeRole: return qint64(r.timeMs);
    case ItemIdRole: return qint64(r.itemId);
    default: return {};
    }
}

void ResultsModel::setResults(QList<ResultRow> rows)
{
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

void ResultsModel::clear()
{
    setResults({});
}

} // namespace unisearch::ui
