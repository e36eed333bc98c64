#pragma once
// The preview of the selected result: the photo scaled to fit, or a video's frame at the
// matched moment with a timeline strip that marks every matching moment (clicking a mark
// shows that frame); its metadata, with the OCR or name snippet a keyword matched (its
// matched words highlighted); and the actions (open, show in folder, copy path, find
// similar). Images load asynchronously through the ThumbnailProvider.
#include "catalog/catalog.h"
#include "ui/resultsmodel.h"

#include <QImage>
#include <QWidget>

#include <optional>

class QFormLayout;
class QLabel;
class QPushButton;

namespace unisearch::ui {

class ThumbnailProvider;

// Paints an image scaled to fit, centred, never enlarged past its size.
class ImageView : public QWidget
{
    Q_OBJECT
public:
    explicit ImageView(QWidget *parent = nullptr);
    void setImage(const QImage &image);
    const QImage &image() const { return m_image; }
    void setPlaceholder(const QString &text);
    QSize sizeHint() const override { return {320, 240}; }

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QImage m_image;
    QString m_placeholder;
};

// A video's length with a mark per matching moment; the current one is highlighted.
class TimelineStrip : public QWidget
{
    Q_OBJECT
public:
    explicit TimelineStrip(QWidget *parent = nullptr);
    void setTimeline(std::int64_t durationMs, const QList<MomentRow> &moments, int current);
    int currentMoment() const { return m_current; }
    const QList<MomentRow> &moments() const { return m_moments; }
    // The mark's rectangle (for tests and hit testing).
    QRect markRect(int i) const;
    QSize sizeHint() const override { return {320, 28}; }
    QSize minimumSizeHint() const override { return {80, 28}; }

signals:
    void momentClicked(int index);

protected:
    void paintEvent(QPaintEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;

private:
    std::int64_t m_durationMs = 0;
    QList<MomentRow> m_moments;
    int m_current = -1;
};

class PreviewPane : public QWidget
{
    Q_OBJECT
public:
    explicit PreviewPane(ThumbnailProvider *thumbnails, QWidget *parent = nullptr);

    // Shows a result; item: its catalog record when known (size, dimensions, duration).
    void showResult(const ResultRow &row, const std::optional<catalog::Item> &item);
    void clear();
    bool hasResult() const { return m_row.has_value(); }
    const std::optional<ResultRow> &result() const { return m_row; }
    // The moment shown (ms) of a video; -1 for a photo or none.
    std::int64_t currentTimeMs() const;
    void showMoment(int index);

signals:
    void openRequested(const QString &path, std::int64_t timeMs);
    void showInFolderRequested(const QString &path);
    void copyPathRequested(const QString &path);
    void findSimilarRequested(const QString &path);
    void momentChanged(std::int64_t timeMs);

private:
    void loadImage();
    void onThumbnailReady(const QString &key);

    ThumbnailProvider *m_thumbs;
    ImageView *m_image = nullptr;
    TimelineStrip *m_timeline = nullptr;
    QLabel *m_name = nullptr;
    QLabel *m_path = nullptr;
    QLabel *m_size = nullptr;
    QLabel *m_date = nullptr;
    QLabel *m_dimensions = nullptr;
    QLabel *m_duration = nullptr;
    QLabel *m_moment = nullptr;
    QLabel *m_score = nullptr;
    QLabel *m_matched = nullptr;  // the matched-text snippet; its row is hidden when there is none
    QFormLayout *m_form = nullptr;
    QPushButton *m_open = nullptr;
    QPushButton *m_folder = nullptr;
    QPushButton *m_copy = nullptr;
    QPushButton *m_similar = nullptr;
    std::optional<ResultRow> m_row;
    int m_momentIndex = -1;
    std::int64_t m_durationMs = 0;
    QString m_waitingKey;
};

} // namespace unisearch::ui
