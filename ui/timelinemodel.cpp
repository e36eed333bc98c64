#include "ui/timelinemodel.h"

#include "ui/thumbnailprovider.h"

#include <QDateTime>
#include <QFileInfo>
#include <QTimeZone>

namespace unisearch::ui {

namespace {

const std::vector<engine::TimelineMonth> kNoMonths;

// A wall-clock time (ms since 1970-01-01T00:00, no zone) as a date and time to show.
QDateTime wallClock(std::int64_t localMs)
{
    QDateTime t = QDateTime::fromMSecsSinceEpoch(localMs, QTimeZone::utc());
    return QDateTime(t.date(), t.time());
}

} // namespace

TimelineModel::TimelineModel(QObject *parent) : QAbstractListModel(parent) {}
TimelineModel::~TimelineModel() = default;

bool TimelineModel::open(const QString &dataDir, QString *error)
{
    m_dataDir = dataDir;
    std::unique_ptr<engine::Timeline> timeline = engine::Timeline::open(dataDir, error);
    beginResetModel();
    m_timeline = std::move(timeline);
    m_pages.clear();
    m_recent.clear();
    m_waiting.clear();
    endResetModel();
    return m_timeline != nullptr;
}

bool TimelineModel::refresh(QString *error)
{
    if (!m_timeline)
        return !m_dataDir.isEmpty() && open(m_dataDir, error);
    beginResetModel();
    const bool ok = m_timeline->refresh(error);
    m_pages.clear();
    m_recent.clear();
    m_waiting.clear();
    endResetModel();
    return ok;
}

int TimelineModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() || !m_timeline ? 0 : m_timeline->count();
}

const std::vector<engine::TimelineMonth> &TimelineModel::months() const
{
    return m_timeline ? m_timeline->months() : kNoMonths;
}

const engine::TimelineItem *TimelineModel::item(int row) const
{
    if (!m_timeline || row < 0 || row >= m_timeline->count())
        return nullptr;
    const int page = row / pageSize;
    auto it = m_pages.find(page);
    if (it == m_pages.end()) {
        // Read on demand (one indexed statement for 200 ids, about a millisecond), the
        // least recently used page dropped when the cache is full.
        if (m_pages.size() >= maxCachedPages && !m_recent.isEmpty())
            m_pages.remove(m_recent.takeFirst());
        it = m_pages.insert(page, m_timeline->page(page * pageSize, pageSize));
        ++m_pagesRead;
    } else {
        m_recent.removeOne(page);
    }
    m_recent.append(page);
    const std::size_t at = std::size_t(row - page * pageSize);
    return at < it->size() ? &(*it)[at] : nullptr;
}

ResultRow TimelineModel::row(int i) const
{
    ResultRow r;
    if (const engine::TimelineItem *t = item(i)) {
        r.itemId = t->itemId;
        r.path = t->path;
        r.type = t->type;
        r.mtimeMs = t->mtimeMs;
        r.width = t->width;
        r.height = t->height;
        if (r.isVideo()) {
            r.timeMs = 0;
            r.endMs = std::int64_t(t->durationS * 1000);
        }
    }
    return r;
}

QVariant TimelineModel::data(const QModelIndex &index, int role) const
{
    const engine::TimelineItem *t = index.isValid() ? item(index.row()) : nullptr;
    if (!t)
        return {};
    const bool video = t->type == catalog::ItemType::Video;
    switch (role) {
    case Qt::DisplayRole: return QFileInfo(t->path).fileName();
    case Qt::ToolTipRole:
        return t->path + QLatin1Char('\n') + QLocale().toString(wallClock(t->takenLocalMs), QLocale::ShortFormat);
    case ResultsModel::PathRole: return t->path;
    case ResultsModel::TimeRole: return qint64(video ? 0 : -1);
    case ResultsModel::ItemIdRole: return qint64(t->itemId);
    case ResultsModel::TypeRole: return catalog::toString(t->type);
    case ResultsModel::MomentTextRole: return video ? formatMoment(std::int64_t(t->durationS * 1000)) : QString();
    case ResultsModel::DateRole: return wallClock(t->takenLocalMs);
    case ResultsModel::ThumbnailRole: {
        if (!m_thumbs || t->path.isEmpty())
            return QImage();
        const QSize px = m_thumbSize * m_dpr;
        QImage image = m_thumbs->request(t->path, t->type, 0, px);
        if (!image.isNull())
            image.setDevicePixelRatio(m_dpr);
        else
            m_waiting.insert(ThumbnailProvider::key(t->path, 0, px), index.row());
        return image;
    }
    default: return {};
    }
}

void TimelineModel::setThumbnails(ThumbnailProvider *provider, QSize size, qreal devicePixelRatio)
{
    if (m_thumbs != provider) {
        if (m_thumbs)
            disconnect(m_thumbs, nullptr, this, nullptr);
        m_thumbs = provider;
        if (m_thumbs)
            connect(m_thumbs, &ThumbnailProvider::thumbnailReady, this, &TimelineModel::onThumbnailReady);
    }
    m_thumbSize = size;
    m_dpr = devicePixelRatio;
    m_waiting.clear();
    if (rowCount() > 0)
        emit dataChanged(index(0), index(rowCount() - 1), {ResultsModel::ThumbnailRole});
}

void TimelineModel::onThumbnailReady(const QString &key)
{
    const auto it = m_waiting.constFind(key);
    if (it == m_waiting.cend())
        return;
    const int r = *it;
    m_waiting.erase(it);
    if (r >= 0 && r < rowCount())
        emit dataChanged(index(r), index(r), {ResultsModel::ThumbnailRole});
}

} // namespace unisearch::ui
