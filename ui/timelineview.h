#pragma once
// The timeline's view: a virtualised grid of the library's items under month headers
// ("March 2024 · 312"), newest first. Only the cells in sight are painted, and painting a
// cell is what asks the model for its page and its thumbnail, so scrolling through 100,000
// items reads and decodes only what scrolls into view. The cells are the results grid's
// (ResultDelegate, square-cropped thumbnails): as many columns as fit the width, the spare
// width spread over them. Selection, keyboard and activation are QAbstractItemView's, so
// the window connects it like the results view.
#include <QAbstractItemView>

#include <vector>

namespace unisearch::ui {

class ResultDelegate;
class TimelineModel;

class TimelineView : public QAbstractItemView
{
    Q_OBJECT
public:
    explicit TimelineView(QWidget *parent = nullptr);

    void setTimelineModel(TimelineModel *model);
    TimelineModel *timelineModel() const { return m_model; }
    ResultDelegate *delegate() const { return m_delegate; }
    // The smallest thumbnail edge (logical pixels); cells grow from it to fill the width.
    void setThumbnailEdge(int edge);
    int columnCount() const { return m_columns; }
    QSize cellSize() const { return {m_cellWidth, m_cellHeight}; }
    // The header band of a month (index into TimelineModel::months()), in viewport coordinates.
    QRect headerRect(int month) const;
    // "March 2024 · 312"
    static QString headerText(int year, int month, int count);

    QRect visualRect(const QModelIndex &index) const override;
    void scrollTo(const QModelIndex &index, ScrollHint hint = EnsureVisible) override;
    QModelIndex indexAt(const QPoint &point) const override;

protected:
    QModelIndex moveCursor(CursorAction cursorAction, Qt::KeyboardModifiers modifiers) override;
    int horizontalOffset() const override { return 0; }
    int verticalOffset() const override;
    bool isIndexHidden(const QModelIndex &) const override { return false; }
    void setSelection(const QRect &rect, QItemSelectionModel::SelectionFlags command) override;
    QRegion visualRegionForSelection(const QItemSelection &selection) const override;
    void updateGeometries() override;
    void paintEvent(QPaintEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    // Content coordinates (not scrolled).
    QRect contentRect(int row) const;
    int monthOfRow(int row) const;
    int monthAtY(int y) const;
    void relayout();
    // Rows whose cells meet the content band [top, bottom].
    std::pair<int, int> rowsBetween(int top, int bottom) const;

    TimelineModel *m_model = nullptr;
    ResultDelegate *m_delegate = nullptr;
    int m_edge = 192;
    int m_columns = 1;
    int m_cellWidth = 0;
    int m_cellHeight = 0;
    int m_headerHeight = 0;
    std::vector<int> m_monthTop;  // content y of each month's header
    int m_contentHeight = 0;
};

} // namespace unisearch::ui
