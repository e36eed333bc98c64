#include "ui/previewpane.h"

#include "ui/thumbnailprovider.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QMouseEvent>
#include <QPainter>
#include <QPushButton>
#include <QVBoxLayout>

namespace unisearch::ui {

namespace {

// The preview is decoded at most this large (logical pixels; × device pixel ratio).
constexpr int kPreviewEdge = 1024;

} // namespace

ImageView::ImageView(QWidget *parent)
    : QWidget(parent)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setMinimumSize(120, 90);
}

void ImageView::setImage(const QImage &image)
{
    m_image = image;
    m_placeholder.clear();
    update();
}

void ImageView::setPlaceholder(const QString &text)
{
    m_image = QImage();
    m_placeholder = text;
    update();
}

void ImageView::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.fillRect(rect(), palette().color(QPalette::Base));
    if (m_image.isNull()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap, m_placeholder);
        return;
    }
    p.setRenderHint(QPainter::SmoothPixmapTransform);
    const QSize natural = m_image.deviceIndependentSize().toSize();
    QSize size = natural.scaled(rect().size(), Qt::KeepAspectRatio);
    // Never enlarged, except tiny images, which would be unreadable at their size.
    if (natural.width() >= 128 && natural.height() >= 128)
        size = size.boundedTo(natural);
    QRect target(QPoint(0, 0), size);
    target.moveCenter(rect().center());
    p.drawImage(target, m_image);
}

TimelineStrip::TimelineStrip(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("timelineStrip"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setCursor(Qt::PointingHandCursor);
    setToolTip(tr("Matching moments: click one to see it"));
}

void TimelineStrip::setTimeline(std::int64_t durationMs, const QList<MomentRow> &moments, int current)
{
    m_durationMs = durationMs;
    m_moments = moments;
    m_current = current;
    update();
}

QRect TimelineStrip::markRect(int i) const
{
    const QRect bar = rect().adjusted(4, 6, -4, -6);
    if (i < 0 || i >= m_moments.size())
        return {};
    std::int64_t duration = m_durationMs;
    for (const MomentRow &m : m_moments)
        duration = std::max(duration, m.endMs);
    if (duration <= 0)
        duration = 1;
    const MomentRow &m = m_moments.at(i);
    const int x0 = bar.left() + int(double(m.startMs) / double(duration) * bar.width());
    const int x1 = bar.left() + int(double(std::max(m.endMs, m.startMs)) / double(duration) * bar.width());
    return QRect(x0, bar.top(), std::max(6, x1 - x0), bar.height());
}

void TimelineStrip::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    const QRect bar = rect().adjusted(4, 10, -4, -10);
    p.fillRect(bar, palette().color(QPalette::Mid));
    for (int i = 0; i < m_moments.size(); ++i) {
        QColor c = palette().color(QPalette::Highlight);
        if (i != m_current)
            c.setAlpha(110);
        p.fillRect(markRect(i), c);
    }
}

void TimelineStrip::mousePressEvent(QMouseEvent *event)
{
    // The nearest mark under the click (marks are at least 6 px wide).
    for (int i = 0; i < m_moments.size(); ++i)
        if (markRect(i).adjusted(-3, 0, 3, 0).contains(event->position().toPoint())) {
            m_current = i;
            update();
            emit momentClicked(i);
            return;
        }
    QWidget::mousePressEvent(event);
}

PreviewPane::PreviewPane(ThumbnailProvider *thumbnails, QWidget *parent)
    : QWidget(parent), m_thumbs(thumbnails)
{
    setObjectName(QStringLiteral("previewPane"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_image = new ImageView(this);
    m_image->setObjectName(QStringLiteral("previewImage"));
    layout->addWidget(m_image, 1);
    m_timeline = new TimelineStrip(this);
    layout->addWidget(m_timeline);

    m_name = new QLabel(this);
    m_name->setObjectName(QStringLiteral("previewName"));
    QFont f = m_name->font();
    f.setBold(true);
    m_name->setFont(f);
    m_name->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_name);

    auto *form = m_form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    auto field = [&](const QString &label, const char *name) {
        auto *l = new QLabel(this);
        l->setObjectName(QString::fromLatin1(name));
        l->setTextInteractionFlags(Qt::TextSelectableByMouse);
        l->setWordWrap(true);
        form->addRow(label, l);
        return l;
    };
    m_path = field(tr("Path:"), "previewPath");
    m_size = field(tr("Size:"), "previewSize");
    m_date = field(tr("Date:"), "previewDate");
    m_dimensions = field(tr("Dimensions:"), "previewDimensions");
    m_duration = field(tr("Duration:"), "previewDuration");
    m_moment = field(tr("Moment:"), "previewMoment");
    m_score = field(tr("Score:"), "previewScore");
    m_matched = field(tr("Matched:"), "previewMatchedText");
    m_matched->setTextFormat(Qt::RichText);
    m_matched->setToolTip(tr("The text in the picture or the name that the search words matched"));
    layout->addLayout(form);

    auto *buttons = new QHBoxLayout;
    auto button = [&](const QString &text, const char *name, const QString &tip) {
        auto *b = new QPushButton(text, this);
        b->setObjectName(QString::fromLatin1(name));
        b->setToolTip(tip);
        buttons->addWidget(b);
        return b;
    };
    m_open = button(tr("Open"), "previewOpen", tr("Open with the default application"));
    m_folder = button(tr("Show in Folder"), "previewShowInFolder", tr("Open the folder that holds it"));
    m_copy = button(tr("Copy Path"), "previewCopyPath", tr("Copy the file's path to the clipboard"));
    m_similar = button(tr("Find Similar"), "previewFindSimilar", tr("Search for items that look like this one"));
    buttons->addStretch(1);
    layout->addLayout(buttons);

    connect(m_open, &QPushButton::clicked, this, [this] {
        if (m_row)
            emit openRequested(m_row->path, currentTimeMs());
    });
    connect(m_folder, &QPushButton::clicked, this, [this] {
        if (m_row)
            emit showInFolderRequested(m_row->path);
    });
    connect(m_copy, &QPushButton::clicked, this, [this] {
        if (m_row)
            emit copyPathRequested(m_row->path);
    });
    connect(m_similar, &QPushButton::clicked, this, [this] {
        if (m_row)
            emit findSimilarRequested(m_row->path);
    });
    connect(m_timeline, &TimelineStrip::momentClicked, this, &PreviewPane::showMoment);
    if (m_thumbs)
        connect(m_thumbs, &ThumbnailProvider::thumbnailReady, this, &PreviewPane::onThumbnailReady);
    clear();
}

void PreviewPane::clear()
{
    m_row.reset();
    m_momentIndex = -1;
    m_waitingKey.clear();
    m_image->setPlaceholder(tr("Select a result to preview it."));
    m_timeline->hide();
    for (QLabel *l : {m_name, m_path, m_size, m_date, m_dimensions, m_duration, m_moment, m_score, m_matched})
        l->clear();
    m_form->setRowVisible(m_matched, false);
    for (QPushButton *b : {m_open, m_folder, m_copy, m_similar})
        b->setEnabled(false);
}

std::int64_t PreviewPane::currentTimeMs() const
{
    if (!m_row || !m_row->isVideo())
        return -1;
    if (m_momentIndex >= 0 && m_momentIndex < m_row->moments.size())
        return m_row->moments.at(m_momentIndex).startMs;
    return m_row->timeMs;
}

void PreviewPane::showResult(const ResultRow &row, const std::optional<catalog::Item> &item)
{
    m_row = row;
    m_momentIndex = row.isVideo() ? 0 : -1;
    const QFileInfo info(row.path);
    m_name->setText(info.fileName());
    m_path->setText(QDir::toNativeSeparators(row.path));
    const qint64 bytes = item ? item->size : info.size();
    m_size->setText(QLocale().formattedDataSize(bytes));
    const QDateTime date =
        QDateTime::fromMSecsSinceEpoch(item ? item->mtimeMs : (row.mtimeMs ? row.mtimeMs : info.lastModified().toMSecsSinceEpoch()));
    m_date->setText(QLocale().toString(date, QLocale::LongFormat));
    const int w = item && item->width ? item->width : row.width;
    const int h = item && item->height ? item->height : row.height;
    m_dimensions->setText(w > 0 && h > 0 ? tr("%1 × %2 pixels").arg(w).arg(h) : tr("unknown"));
    const double duration = item ? item->durationS : 0;
    m_duration->setText(row.isVideo() ? (duration > 0 ? formatMoment(std::int64_t(duration * 1000)) : tr("unknown"))
                                      : tr("— (photo)"));
    QString score = QString::number(row.score, 'f', 3);
    if (row.itmProbability)
        score += tr(" (match probability %1%)").arg(qRound(*row.itmProbability * 100));
    m_score->setText(score);
    m_matched->setText(markedTextHtml(markedText(row.matchedText, row.matchedWords), palette().color(QPalette::Highlight),
                                      palette().color(QPalette::HighlightedText)));
    m_form->setRowVisible(m_matched, !row.matchedText.isEmpty());
    for (QPushButton *b : {m_open, m_folder, m_copy, m_similar})
        b->setEnabled(true);
    m_similar->setEnabled(!row.isVideo());  // "more like this" takes a photo
    m_timeline->setVisible(row.isVideo());
    m_durationMs = std::int64_t(duration * 1000);
    if (row.isVideo())
        m_timeline->setTimeline(m_durationMs, row.moments, 0);
    showMoment(m_momentIndex);
}

void PreviewPane::showMoment(int index)
{
    if (!m_row)
        return;
    if (m_row->isVideo()) {
        if (index < 0 || index >= m_row->moments.size())
            index = 0;
        m_momentIndex = index;
        const MomentRow m = m_row->moments.value(index);
        m_moment->setText(tr("%1 – %2 (%3 of %4 matching moments)")
                              .arg(formatMoment(m.startMs), formatMoment(m.endMs))
                              .arg(index + 1)
                              .arg(m_row->moments.size()));
        if (m_timeline->currentMoment() != index)
            m_timeline->setTimeline(m_durationMs, m_row->moments, index);
        emit momentChanged(m.startMs);
    } else {
        m_moment->setText(tr("— (photo)"));
    }
    loadImage();
}

void PreviewPane::loadImage()
{
    if (!m_row || !m_thumbs)
        return;
    const qreal dpr = devicePixelRatioF();
    const QSize px = QSize(kPreviewEdge, kPreviewEdge) * dpr;
    const std::int64_t t = m_row->isVideo() ? currentTimeMs() : 0;
    m_waitingKey = ThumbnailProvider::key(m_row->path, t, px);
    QImage image = m_thumbs->request(m_row->path, m_row->type, t, px);
    if (image.isNull()) {
        m_image->setPlaceholder(tr("Loading…"));
        return;
    }
    m_waitingKey.clear();
    image.setDevicePixelRatio(dpr);
    m_image->setImage(image);
}

void PreviewPane::onThumbnailReady(const QString &key)
{
    if (!m_waitingKey.isEmpty() && key == m_waitingKey)
        loadImage();
}

} // namespace unisearch::ui
