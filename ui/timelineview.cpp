#include "ui/timelineview.h"

#include "ui/resultdelegate.h"
#include "ui/timelinemodel.h"

#include <QDate>
#include <QLocale>
#include <QPainter>
#include <QPaintEvent>
#include <QScrollBar>

#include <algorithm>

namespace unisearch::ui {

namespace {

constexpr int kPad = 4;  // around the grid and between a header and its cells

} // namespace

TimelineView::TimelineView(QWidget *parent) : QAbstractItemView(parent), m_delegate(new ResultDelegate(this))
{
    setItemDelegate(m_delegate);
    setSelectionMode(QAbstractItemView::ExtendedSelection);
    setSelectionBehavior(QAbstractItemView::SelectItems);
    // Always there, so the columns do not change when the library grows past one screen.
    setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOn);
    setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    setContextMenuPolicy(Qt::CustomContextMenu);
}

QString TimelineView::headerText(int year, int month, int count)
{
    return tr("%1 %2 · %3").arg(QLocale().standaloneMonthName(month, QLocale::LongFormat)).arg(year).arg(count);
}

void TimelineView::setTimelineModel(TimelineModel *model)
{
    m_model = model;
    setModel(model);
    connect(model, &QAbstractItemModel::modelReset, this, &TimelineView::relayout);
    relayout();
}

void TimelineView::setThumbnailEdge(int edge)
{
    m_edge = std::max(32, edge);
    relayout();
}

void TimelineView::relayout()
{
    // As many columns of at least the chosen thumbnail size as fit, the spare width spread
    // over them so that no empty band is left beside the grid.
    m_delegate->setThumbnailSize(m_edge);
    m_columns = m_delegate->fitColumns(std::max(1, viewport()->width() - 2 * kPad), 0);
    m_cellWidth = m_delegate->cellWidth();
    QStyleOptionViewItem option;
    initViewItemOption(&option);
    m_cellHeight = m_delegate->sizeHint(option, QModelIndex()).height();
    m_headerHeight = fontMetrics().height() * 2;
    m_monthTop.clear();
    int y = kPad;
    if (m_model)
        for (const engine::TimelineMonth &m : m_model->months()) {
            m_monthTop.push_back(y);
            y += m_headerHeight + (m.count + m_columns - 1) / m_columns * m_cellHeight + kPad;
        }
    m_contentHeight = y;
    updateGeometries();
    viewport()->update();
}

void TimelineView::resizeEvent(QResizeEvent *event)
{
    QAbstractItemView::resizeEvent(event);
    relayout();
}

void TimelineView::updateGeometries()
{
    verticalScrollBar()->setSingleStep(std::max(1, m_cellHeight / 4));
    verticalScrollBar()->setPageStep(viewport()->height());
    verticalScrollBar()->setRange(0, std::max(0, m_contentHeight - viewport()->height()));
    QAbstractItemView::updateGeometries();
}

int TimelineView::verticalOffset() const
{
    return verticalScrollBar()->value();
}

int TimelineView::monthOfRow(int row) const
{
    const auto &months = m_model->months();
    auto it = std::upper_bound(months.begin(), months.end(), row,
                               [](int r, const engine::TimelineMonth &m) { return r < m.first; });
    return int(it - months.begin()) - 1;
}

int TimelineView::monthAtY(int y) const
{
    auto it = std::upper_bound(m_monthTop.begin(), m_monthTop.end(), y);
    return std::max(0, int(it - m_monthTop.begin()) - 1);
}

QRect TimelineView::contentRect(int row) const
{
    const int month = monthOfRow(row);
    if (month < 0 || month >= int(m_monthTop.size()))
        return {};
    const int local = row - m_model->months()[std::size_t(month)].first;
    return QRect(kPad + (local % m_columns) * m_cellWidth,
                 m_monthTop[std::size_t(month)] + m_headerHeight + (local / m_columns) * m_cellHeight, m_cellWidth,
                 m_cellHeight);
}

QRect TimelineView::headerRect(int month) const
{
    if (month < 0 || month >= int(m_monthTop.size()))
        return {};
    return QRect(kPad, m_monthTop[std::size_t(month)] - verticalOffset(), viewport()->width() - 2 * kPad,
                 m_headerHeight);
}

QRect TimelineView::visualRect(const QModelIndex &index) const
{
    if (!m_model || !index.isValid())
        return {};
    return contentRect(index.row()).translated(0, -verticalOffset());
}

std::pair<int, int> TimelineView::rowsBetween(int top, int bottom) const
{
    if (!m_model || m_monthTop.empty())
        return {0, -1};
    const auto &months = m_model->months();
    auto rowAt = [&](int y, bool last) {
        const int month = monthAtY(y);
        const engine::TimelineMonth &m = months[std::size_t(month)];
        const int line = std::clamp((y - m_monthTop[std::size_t(month)] - m_headerHeight) / std::max(1, m_cellHeight), 0,
                                    (m.count - 1) / m_columns);
        return last ? std::min(m.first + m.count - 1, m.first + (line + 1) * m_columns - 1)
                    : m.first + line * m_columns;
    };
    return {rowAt(std::max(0, top), false), rowAt(std::max(0, bottom), true)};
}

QModelIndex TimelineView::indexAt(const QPoint &point) const
{
    if (!m_model || m_monthTop.empty())
        return {};
    const QPoint p = point + QPoint(0, verticalOffset());
    const auto [first, last] = rowsBetween(p.y(), p.y());
    for (int row = first; row <= last; ++row)
        if (contentRect(row).contains(p))
            return m_model->index(row);
    return {};
}

void TimelineView::scrollTo(const QModelIndex &index, ScrollHint hint)
{
    const QRect r = visualRect(index);
    if (!r.isValid())
        return;
    const int height = viewport()->height();
    if (hint == PositionAtTop || (hint == EnsureVisible && r.top() < 0))
        verticalScrollBar()->setValue(verticalOffset() + r.top() - (r.top() < 0 ? m_headerHeight : 0));
    else if (hint == PositionAtBottom || (hint == EnsureVisible && r.bottom() > height))
        verticalScrollBar()->setValue(verticalOffset() + r.bottom() - height + kPad);
    else if (hint == PositionAtCenter)
        verticalScrollBar()->setValue(verticalOffset() + r.center().y() - height / 2);
}

QModelIndex TimelineView::moveCursor(CursorAction action, Qt::KeyboardModifiers)
{
    if (!m_model || m_model->rowCount() == 0)
        return {};
    const int count = m_model->rowCount();
    const int row = currentIndex().isValid() ? currentIndex().row() : -1;
    const int rowsPerPage = std::max(1, viewport()->height() / std::max(1, m_cellHeight)) * m_columns;
    int next = row;
    switch (action) {
    case MoveLeft: case MovePrevious: next = row - 1; break;
    case MoveRight: case MoveNext: next = row + 1; break;
    case MoveUp: next = row - m_columns; break;
    case MoveDown: next = row < 0 ? 0 : row + m_columns; break;
    case MovePageUp: next = row - rowsPerPage; break;
    case MovePageDown: next = row + rowsPerPage; break;
    case MoveHome: next = 0; break;
    case MoveEnd: next = count - 1; break;
    }
    return m_model->index(std::clamp(next, 0, count - 1));
}

void TimelineView::setSelection(const QRect &rect, QItemSelectionModel::SelectionFlags command)
{
    const QRect content = rect.normalized().translated(0, verticalOffset());
    const auto [first, last] = rowsBetween(content.top(), content.bottom());
    QItemSelection selection;
    for (int row = first; row <= last; ++row)
        if (contentRect(row).intersects(content))
            selection.select(m_model->index(row), m_model->index(row));
    selectionModel()->select(selection, command);
}

QRegion TimelineView::visualRegionForSelection(const QItemSelection &selection) const
{
    // Only the rows in sight matter for repainting.
    const auto [first, last] = rowsBetween(verticalOffset(), verticalOffset() + viewport()->height());
    QRegion region;
    for (const QItemSelectionRange &range : selection)
        for (int row = std::max(first, range.top()); row <= std::min(last, range.bottom()); ++row)
            region += visualRect(m_model->index(row));
    return region;
}

void TimelineView::paintEvent(QPaintEvent *event)
{
    if (!m_model)
        return;
    QPainter p(viewport());
    const QRect area = event->rect();
    const int top = verticalOffset() + area.top();
    const int bottom = verticalOffset() + area.bottom();
    QFont bold = font();
    bold.setBold(true);
    bold.setPointSizeF(bold.pointSizeF() * 1.15);
    const auto &months = m_model->months();
    for (int m = monthAtY(std::max(0, top)); m < int(months.size()) && m_monthTop[std::size_t(m)] <= bottom; ++m) {
        const QRect header = headerRect(m);
        p.setFont(bold);
        p.setPen(palette().color(QPalette::Text));
        p.drawText(header.adjusted(kPad, 0, 0, 0), Qt::AlignLeft | Qt::AlignVCenter,
                   headerText(months[std::size_t(m)].year, months[std::size_t(m)].month, months[std::size_t(m)].count));
    }
    const auto [first, last] = rowsBetween(top, bottom);
    QStyleOptionViewItem option;
    initViewItemOption(&option);
    for (int row = first; row <= last; ++row) {
        const QModelIndex index = m_model->index(row);
        option.rect = visualRect(index);
        if (!option.rect.intersects(area))
            continue;
        option.state = QStyle::State_Enabled;
        if (selectionModel()->isSelected(index))
            option.state |= QStyle::State_Selected;
        if (hasFocus())
            option.state |= QStyle::State_Active;
        if (index == currentIndex() && hasFocus())
            option.state |= QStyle::State_HasFocus;
        m_delegate->paint(&p, option, index);
    }
}

} // namespace unisearch::ui
