#include "ui/resultdelegate.h"

#include "ui/resultsmodel.h"

#include <QApplication>
#include <QDir>
#include <QFileInfo>
#include <QEvent>
#include <QImage>
#include <QListView>
#include <QScrollBar>
#include <QPainter>
#include <QPainterPath>
#include <QTextLayout>

#include <algorithm>

namespace unisearch::ui {

namespace {

constexpr int kMargin = 6;
constexpr int kListEdge = 64;

// A small rounded label in highlight colours (readable in light and dark palettes).
void paintBadge(QPainter *p, const QPoint &at, const QString &text, const QPalette &pal, bool alignRight)
{
    QFont f = p->font();
    f.setPointSizeF(f.pointSizeF() * 0.85);
    f.setBold(true);
    p->setFont(f);
    const QFontMetrics fm(f);
    QRect r(0, 0, fm.horizontalAdvance(text) + 8, fm.height() + 2);
    if (alignRight)
        r.moveTopRight(at);
    else
        r.moveTopLeft(at);
    QPainterPath path;
    path.addRoundedRect(QRectF(r), 3, 3);
    QColor bg = pal.color(QPalette::Highlight);
    bg.setAlpha(220);
    p->fillPath(path, bg);
    p->setPen(pal.color(QPalette::HighlightedText));
    p->drawText(r, Qt::AlignCenter, text);
}

// The part of a snippet that fits width: when it is too long, it starts a little before
// the first matched word ("…" in front) and is cut at the end, so a match stays in view.
MarkedText fitMarkedText(const MarkedText &marked, const QFontMetrics &fm, int width)
{
    const QString ellipsis(QChar(0x2026));
    MarkedText out = marked;
    if (fm.horizontalAdvance(out.text) > width && !out.marks.isEmpty()) {
        const int first = out.marks.first().first;
        int from = first;
        while (from > 0 && fm.horizontalAdvance(out.text.mid(from - 1, first - from + 1)) < width / 4)
            --from;
        if (from > 0) {
            out.text = ellipsis + out.text.mid(from);
            for (auto &mark : out.marks)
                mark.first += 1 - from;
        }
    }
    const QString elided = fm.elidedText(out.text, Qt::ElideRight, width);
    const int visible = elided == out.text ? int(elided.size()) : int(elided.size()) - 1;
    out.text = elided;
    QList<std::pair<int, int>> kept;
    for (const auto &[start, length] : std::as_const(out.marks))
        if (start >= 0 && start < visible)
            kept.append({start, std::min(length, visible - start)});
    out.marks = kept;
    return out;
}

} // namespace

void paintMarkedText(QPainter *p, const QRect &rect, const MarkedText &marked, const QFont &font,
                     const QPalette &palette, Qt::Alignment align)
{
    const MarkedText shown = fitMarkedText(marked, QFontMetrics(font), rect.width());
    QList<QTextLayout::FormatRange> formats;
    for (const auto &[start, length] : shown.marks) {
        QTextLayout::FormatRange range;
        range.start = start;
        range.length = length;
        range.format.setBackground(palette.color(QPalette::Highlight));
        range.format.setForeground(palette.color(QPalette::HighlightedText));
        formats.append(range);
    }
    QTextLayout layout(shown.text, font, p->device());
    layout.setFormats(formats);
    QTextOption option;
    option.setWrapMode(QTextOption::NoWrap);
    layout.setTextOption(option);
    layout.beginLayout();
    QTextLine line = layout.createLine();
    if (!line.isValid()) {
        layout.endLayout();
        return;
    }
    line.setLineWidth(rect.width());
    layout.endLayout();
    const qreal x = (align & Qt::AlignHCenter) ? (rect.width() - line.naturalTextWidth()) / 2 : 0;
    const qreal y = (rect.height() - line.height()) / 2;
    p->save();
    p->setPen(palette.color(QPalette::Text));
    layout.draw(p, QPointF(rect.left() + std::max<qreal>(0, x), rect.top() + y));
    p->restore();
}

ResultDelegate::ResultDelegate(QObject *parent)
    : QStyledItemDelegate(parent)
{
}

QSize ResultDelegate::thumbnailBox() const
{
    return m_layout == Layout::Grid ? QSize(m_edge, m_edge) : QSize(kListEdge, kListEdge);
}

QSize ResultDelegate::requestSize() const
{
    return m_layout == Layout::Grid ? QSize(m_edge, m_edge) * 3 / 2 : QSize(kListEdge, kListEdge);
}

int ResultDelegate::fitColumns(int width, int spacing)
{
    const int minCell = m_edge + 2 * kMargin;
    const int columns = std::max(1, width / (minCell + spacing));
    m_cellWidth = std::max(minCell, width / columns - spacing);
    return columns;
}

QSize ResultDelegate::sizeHint(const QStyleOptionViewItem &option, const QModelIndex &) const
{
    const int line = option.fontMetrics.height();
    if (m_layout == Layout::Grid) {
        // A square thumbnail as wide as the cell, the name below it.
        const int width = std::max(m_cellWidth, m_edge + 2 * kMargin);
        return QSize(width, width + line + 4);
    }
    // Four lines of text: name, folder, details and the matched text.
    return QSize(400, std::max(kListEdge, 4 * (line + 2)) + 2 * kMargin);
}

void ResultDelegate::paintThumbnail(QPainter *p, const QRect &box, const QStyleOptionViewItem &option,
                                    const QModelIndex &index) const
{
    const QImage image = index.data(ResultsModel::ThumbnailRole).value<QImage>();
    if (image.isNull()) {
        // Loading (or not decodable): a quiet placeholder.
        p->fillRect(box, option.palette.color(QPalette::AlternateBase));
        p->setPen(option.palette.color(QPalette::PlaceholderText));
        p->drawRect(box.adjusted(0, 0, -1, -1));
        return;
    }
    if (m_layout == Layout::Grid) {
        // Square-cropped: the middle of the picture fills the cell.
        const qreal scale = std::min(image.width() / qreal(box.width()), image.height() / qreal(box.height()));
        QRectF crop(QPointF(0, 0), QSizeF(box.width() * scale, box.height() * scale));
        crop.moveCenter(QRectF(image.rect()).center());
        p->drawImage(QRectF(box), image, crop);
        return;
    }
    const QSizeF logical = image.deviceIndependentSize();
    const QSize size = logical.toSize().scaled(box.size(), Qt::KeepAspectRatio).boundedTo(logical.toSize());
    QRect target(QPoint(0, 0), size);
    target.moveCenter(box.center());
    p->drawImage(target, image);
}

void ResultDelegate::paint(QPainter *p, const QStyleOptionViewItem &option, const QModelIndex &index) const
{
    QStyleOptionViewItem opt = option;
    initStyleOption(&opt, index);
    p->save();
    p->setRenderHint(QPainter::SmoothPixmapTransform);
    // Background and selection as the style draws them (no text, no icon).
    opt.text.clear();
    opt.icon = QIcon();
    opt.state &= ~QStyle::State_Selected;  // drawn below, the same in every style
    const QWidget *widget = option.widget;
    QStyle *style = widget ? widget->style() : QApplication::style();
    style->drawPrimitive(QStyle::PE_PanelItemViewItem, &opt, p, widget);

    const QString path = index.data(ResultsModel::PathRole).toString();
    const bool video = index.data(ResultsModel::TypeRole).toString() == QLatin1String("video");
    const QString moment = index.data(ResultsModel::MomentTextRole).toString();
    const QVariant score = index.data(ResultsModel::ScoreRole);  // none in the timeline
    const QString scoreText = score.isValid() ? QString::number(score.toDouble(), 'f', 2) : QString();
    const QString matched = index.data(ResultsModel::MatchedTextRole).toString();
    const QStringList matchedWords = index.data(ResultsModel::MatchedWordsRole).toStringList();
    // The selection: a tinted, outlined cell in the palette's highlight colour (styles
    // draw little or nothing for a selected icon-mode cell without decoration).
    if (option.state & QStyle::State_Selected) {
        const QPalette::ColorGroup group = (option.state & QStyle::State_Active) ? QPalette::Active : QPalette::Inactive;
        QColor c = option.palette.color(group, QPalette::Highlight);
        p->setPen(QPen(c, 2));
        c.setAlpha(50);
        p->setBrush(c);
        p->setRenderHint(QPainter::Antialiasing);
        p->drawRoundedRect(QRectF(option.rect).adjusted(1.5, 1.5, -1.5, -1.5), 4, 4);
        p->setRenderHint(QPainter::Antialiasing, false);
        p->setBrush(Qt::NoBrush);
    }
    const QColor textColor = option.palette.color(QPalette::Text);
    const QRect r = option.rect.adjusted(kMargin, kMargin, -kMargin, -kMargin);
    const QString typeText = video ? tr("VIDEO %1").arg(moment) : tr("PHOTO");

    if (m_layout == Layout::Grid) {
        const QRect box(r.topLeft(), QSize(r.width(), r.width()));
        paintThumbnail(p, box, option, index);
        if (video)
            paintBadge(p, box.topLeft() + QPoint(3, 3), typeText, option.palette, false);
        if (!scoreText.isEmpty())
            paintBadge(p, box.topRight() + QPoint(-3, 3), scoreText, option.palette, true);
        if (!matched.isEmpty()) {
            // Over the bottom of the thumbnail, on a band of the base colour, so the cell keeps its size.
            const int h = option.fontMetrics.height() + 4;
            const QRect band(box.left(), box.bottom() + 1 - h, box.width(), h);
            QColor base = option.palette.color(QPalette::Base);
            base.setAlpha(225);
            p->fillRect(band, base);
            paintMarkedText(p, band.adjusted(3, 0, -3, 0), markedText(matched, matchedWords), option.font, option.palette,
                            Qt::AlignHCenter);
        }
        p->setFont(option.font);
        p->setPen(textColor);
        const QRect textRect(r.left(), box.bottom() + 4, r.width(), option.fontMetrics.height());
        p->drawText(textRect, Qt::AlignHCenter | Qt::AlignVCenter,
                    option.fontMetrics.elidedText(QFileInfo(path).fileName(), Qt::ElideMiddle, r.width()));
    } else {
        const QRect box(r.topLeft(), QSize(kListEdge, kListEdge));
        paintThumbnail(p, box, option, index);
        const int x = box.right() + 2 * kMargin;
        const int w = r.right() - x;
        const int line = option.fontMetrics.height();
        QFont bold = option.font;
        bold.setBold(true);
        p->setFont(bold);
        p->setPen(textColor);
        p->drawText(QRect(x, r.top(), w, line), Qt::AlignLeft | Qt::AlignVCenter,
                    QFontMetrics(bold).elidedText(QFileInfo(path).fileName(), Qt::ElideMiddle, w));
        p->setFont(option.font);
        p->drawText(QRect(x, r.top() + line + 2, w, line), Qt::AlignLeft | Qt::AlignVCenter,
                    option.fontMetrics.elidedText(QDir::toNativeSeparators(QFileInfo(path).absolutePath()),
                                                  Qt::ElideMiddle, w));
        QString details = scoreText.isEmpty() ? typeText : tr("%1 · score %2").arg(typeText, scoreText);
        const QDateTime date = index.data(ResultsModel::DateRole).toDateTime();
        if (date.isValid())
            details += QStringLiteral(" · ") + QLocale().toString(date, QLocale::ShortFormat);
        p->drawText(QRect(x, r.top() + 2 * (line + 2), w, line), Qt::AlignLeft | Qt::AlignVCenter,
                    option.fontMetrics.elidedText(details, Qt::ElideRight, w));
        if (!matched.isEmpty())
            paintMarkedText(p, QRect(x, r.top() + 3 * (line + 2), w, line), markedText(matched, matchedWords), option.font,
                            option.palette, Qt::AlignLeft);
    }
    p->restore();
}

namespace {

// Refits the grid when the viewport's width changes.
class GridFitter : public QObject
{
public:
    GridFitter(QListView *view, ResultDelegate *delegate) : QObject(view), m_view(view), m_delegate(delegate) {}

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() == QEvent::Resize)
            fitGridToView(m_view, m_delegate);
        return QObject::eventFilter(watched, event);
    }

private:
    QListView *m_view;
    ResultDelegate *m_delegate;
};

} // namespace

void fitGridToView(QListView *view, ResultDelegate *delegate)
{
    if (delegate->layout() != ResultDelegate::Layout::Grid)
        return;
    const int before = delegate->cellWidth();
    const int spacing = view->spacing();
    // QListView wraps a row before an item that would end on its last pixels: keep a spacing
    // and a pixel spare.
    delegate->fitColumns(view->viewport()->width() - 2 * spacing - 1, spacing);
    if (delegate->cellWidth() != before) {
        emit delegate->sizeHintChanged(QModelIndex());
        view->doItemsLayout();
    }
}

void keepGridFitted(QListView *view, ResultDelegate *delegate)
{
    // Always there, so the columns do not change when the results grow past one screen.
    view->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOn);
    view->viewport()->installEventFilter(new GridFitter(view, delegate));
    fitGridToView(view, delegate);
}

} // namespace unisearch::ui
