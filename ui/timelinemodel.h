#pragma once
// The library as a timeline for the window's first view: every item, newest first by capture
// time, with the month groups. The rows are read from an engine::Timeline a page at a time
// when the view asks for them (a sparse cache of at most maxCachedPages pages, the least
// recently used dropped first), so 100,000 items never sit in memory as rows; what the model
// always holds is the Timeline's sort keys (16 bytes an item). The roles are the results
// model's (ResultsModel::Role), so the same delegate paints both and the preview, ask panel
// and actions take a row as a ResultRow.
#include "engine/timeline.h"
#include "ui/resultsmodel.h"

#include <QAbstractListModel>
#include <QHash>
#include <QList>
#include <QSize>

#include <memory>
#include <vector>

namespace unisearch::ui {

class ThumbnailProvider;

class TimelineModel : public QAbstractListModel
{
    Q_OBJECT
public:
    static constexpr int pageSize = 200;
    static constexpr int maxCachedPages = 32;  // 6,400 rows at most

    explicit TimelineModel(QObject *parent = nullptr);
    ~TimelineModel() override;

    // Opens the library's timeline (<dataDir>/catalog.sqlite); false and *error when it cannot
    // be read (no catalog yet): the model is then empty.
    bool open(const QString &dataDir, QString *error = nullptr);
    // Re-reads the library (after indexing; opens it when open() failed): the rows are read
    // again as they are shown.
    bool refresh(QString *error = nullptr);

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

    // Newest month first; TimelineMonth::first is a row.
    const std::vector<engine::TimelineMonth> &months() const;
    // The item of a row as the results give it (score 0), for the preview and the actions.
    ResultRow row(int i) const;
    // Pages read and still held (the test checks that the model reads lazily).
    int cachedPageCount() const { return int(m_pages.size()); }
    int pagesRead() const { return m_pagesRead; }

    // Thumbnails of size (device-independent pixels) × devicePixelRatio.
    void setThumbnails(ThumbnailProvider *provider, QSize size, qreal devicePixelRatio);

private:
    const engine::TimelineItem *item(int row) const;
    void onThumbnailReady(const QString &key);

    QString m_dataDir;
    std::unique_ptr<engine::Timeline> m_timeline;
    mutable QHash<int, std::vector<engine::TimelineItem>> m_pages;
    mutable QList<int> m_recent;  // page numbers, most recently used last
    mutable int m_pagesRead = 0;
    ThumbnailProvider *m_thumbs = nullptr;
    QSize m_thumbSize{192, 192};
    qreal m_dpr = 1;
    mutable QHash<QString, int> m_waiting;  // thumbnail key → row, for loads in flight
};

} // namespace unisearch::ui
