#pragma once
// The rows of the results view: photos, and moments inside videos. Filled by search
// (a later step); empty until then.
#include <QAbstractListModel>
#include <QList>
#include <QString>

#include <cstdint>

namespace unisearch::ui {

struct ResultRow {
    std::int64_t itemId = 0;
    QString path;
    double score = 0;
    std::int64_t timeMs = -1;  // the best moment of a video; -1 for a photo
};

class ResultsModel : public QAbstractListModel
{
    Q_OBJECT
public:
    enum Role { PathRole = Qt::UserRole + 1, ScoreRole, TimeRole, ItemIdRole };

    explicit ResultsModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

    void setResults(QList<ResultRow> rows);
    void clear();
    const ResultRow &row(int i) const { return m_rows.at(i); }

private:
    QList<ResultRow> m_rows;
};

} // namespace unisearch::ui
