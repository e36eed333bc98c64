#pragma once
// Paints a result: its thumbnail (a placeholder while it loads), a type badge, the score
// and, for a video, the matched moment (m:ss); when a keyword matched, the OCR or name
// snippet with the matched words highlighted. Two layouts: a grid cell (thumbnail above,
// name below, the snippet over the thumbnail's bottom edge) and a list row (small
// thumbnail, then name, folder, score and moment, and the snippet).
// Colours come from the palette only, so dark themes work.
#include <QStyledItemDelegate>

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
    // Thumbnail edge in logical pixels.
    void setThumbnailSize(int edge) { m_edge = edge; }
    int thumbnailSize() const { return m_edge; }
    QSize thumbnailBox() const;

    void paint(QPainter *painter, const QStyleOptionViewItem &option, const QModelIndex &index) const override;
    QSize sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const override;

private:
    void paintThumbnail(QPainter *painter, const QRect &box, const QStyleOptionViewItem &option,
                        const QModelIndex &index) const;
    Layout m_layout = Layout::Grid;
    int m_edge = 192;
};

} // namespace unisearch::ui
