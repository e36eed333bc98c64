#pragma once
// Grid cells are squares cropped from the middle of the thumbnail (not a justified layout):
// with uniform cells the view stays a plain virtualised grid, each row's position is known
// without measuring the photos before it (100,000 items scroll without reading their
// sizes), and columns line up at any width; the preview shows the whole picture.
// Paints a result: its thumbnail (a placeholder while it loads), a type badge, the score
// and, for a video, the matched moment (m:ss); when a keyword matched, the OCR or name
// snippet with the matched words highlighted. Two layouts: a grid cell (thumbnail above,
// name below, the snippet over the thumbnail's bottom edge) and a list row (small
// thumbnail, then name, folder, score and moment, and the snippet).
// Colours come from the palette only, so dark themes work.
#include <QStyledItemDelegate>

class QListView;

namespace unisearch::ui {

struct MarkedText;

// One line of a snippet in rect, its matched words on the palette's highlight colour;
// too long a snippet is cut so that its first match stays in view.
void paintMarkedText(QPainter *painter, const QRect &rect, const MarkedText &marked, const QFont &font,
                     const QPalette &palette, Qt::Alignment align);

class ResultDelegate : public QStyledItemDelegate
{
    Q_OBJECT
public:
    enum class Layout { Grid, List };
    explicit ResultDelegate(QObject *parent = nullptr);

    void setLayout(Layout layout) { m_layout = layout; }
    Layout layout() const { return m_layout; }
    // Thumbnail edge in logical pixels: the smallest a grid cell's square thumbnail gets.
    void setThumbnailSize(int edge) { m_edge = edge; }
    int thumbnailSize() const { return m_edge; }
    QSize thumbnailBox() const;
    // The grid cell's width when the view spreads its spare width over the columns (0: the
    // thumbnail edge and margins); the square thumbnail grows with it.
    void setCellWidth(int width) { m_cellWidth = width; }
    int cellWidth() const { return m_cellWidth; }
    // The pixel size (logical) to ask thumbnails at for the grid: large enough that a
    // square crop of a 3:2 photo fills a cell up to 1.5 × the edge without enlarging.
    QSize requestSize() const;
    // Spreads width (a view's viewport, less spacing around each cell) over as many columns
    // of at least the thumbnail edge as fit; sets the cell width and returns the columns.
    int fitColumns(int width, int spacing);

    void paint(QPainter *painter, const QStyleOptionViewItem &option, const QModelIndex &index) const override;
    QSize sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const override;

private:
    void paintThumbnail(QPainter *painter, const QRect &box, const QStyleOptionViewItem &option,
                        const QModelIndex &index) const;
    Layout m_layout = Layout::Grid;
    int m_edge = 192;
    int m_cellWidth = 0;
};

// A grid view of results (QListView in icon mode): its cells are fitted to the viewport's
// width now and whenever it is resized (as many columns as fit, the spare width spread).
void fitGridToView(QListView *view, ResultDelegate *delegate);
void keepGridFitted(QListView *view, ResultDelegate *delegate);

} // namespace unisearch::ui
