#pragma once
// The rows of the results view: photos, and videos with their matched moments, in the
// order of the search (or by date). Thumbnails come from a ThumbnailProvider: the
// ThumbnailRole of a row is a null image until its thumbnail is loaded, then dataChanged.
#include "catalog/catalog.h"

#include <QAbstractListModel>
#include <QColor>
#include <QHash>
#include <QImage>
#include <QList>
#include <QSize>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>
#include <utility>

namespace unisearch::engine {
struct SearchHit;
}

namespace unisearch::ui {

class ThumbnailProvider;

struct MomentRow {
    std::int64_t startMs = 0;
    std::int64_t endMs = 0;
    float score = 0;
};

struct ResultRow {
    std::int64_t itemId = 0;
    QString path;
    catalog::ItemType type = catalog::ItemType::Image;
    double score = 0;
    std::optional<double> itmProbability;
    std::int64_t timeMs = -1;        // the best moment of a video (its start); -1 for a photo
    std::int64_t endMs = -1;
    QList<MomentRow> moments;        // videos: every matching moment, best first
    std::int64_t mtimeMs = 0;
    int width = 0;
    int height = 0;
    QString matchedText;             // why a keyword matched (OCR or name snippet); empty: semantic only
    QStringList matchedWords;        // the query's words, highlighted where matchedText has them

    bool isVideo() const { return type == catalog::ItemType::Video; }
    static ResultRow fromHit(const engine::SearchHit &hit);
};

// "m:ss" (or "h:mm:ss") of a time in milliseconds.
QString formatMoment(std::int64_t ms);

// A query's words as the keyword search takes them (keywordsearch.h: runs of letters and
// digits), at most 16, each once.
QStringList queryWords(const QString &query);

// A matched-text snippet as shown: the text and the [start, start + length) ranges, in
// order, of the query's words in it (whole words, any case), to highlight. The engine's
// snippet carries no marks (catalog/text.cpp), so the window finds the words itself.
struct MarkedText {
    QString text;
    QList<std::pair<int, int>> marks;
};
MarkedText markedText(const QString &matchedText, const QStringList &words);
// The snippet as rich text for a label: HTML-escaped, the matched words in bold on the
// palette's highlight colour.
QString markedTextHtml(const MarkedText &marked, const QColor &background, const QColor &foreground);

class ResultsModel : public QAbstractListModel
{
    Q_OBJECT
public:
    enum Role {
        PathRole = Qt::UserRole + 1,
        ScoreRole,
        TimeRole,        // ms of the best moment; -1 for a photo
        ItemIdRole,
        TypeRole,        // "image" | "video"
        MomentTextRole,  // "1:23" for a video, empty for a photo
        ThumbnailRole,   // QImage (device pixels, with its device pixel ratio); null until loaded
        DateRole,        // QDateTime of the file's modification
        MatchedTextRole, // the OCR or name snippet a keyword matched, as the engine gives it; empty if none
        MatchedWordsRole,// QStringList: the query's words to highlight in it
    };
    enum class Sort { Relevance, Date };

    explicit ResultsModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

    // Rows in relevance order (best first); shown in the current sort order.
    void setResults(QList<ResultRow> rows);
    // The same rows (by path) in a new order with new scores, as a re-rank delivers them:
    // a layout change, so the view keeps its selection and current item on the items they
    // were on, and loaded thumbnails stay. False (nothing changed) when rows are not a
    // permutation of the rows shown: setResults is for that.
    bool reorderResults(QList<ResultRow> rows);
    // The words of the query the rows answer, highlighted in their matched text (this and
    // later rows, until the next call).
    void setMatchedWords(const QStringList &words);
    void clear();
    const ResultRow &row(int i) const { return m_rows.at(i); }
    const QList<ResultRow> &rows() const { return m_rows; }

    void setSort(Sort sort);
    Sort sort() const { return m_sort; }

    // Thumbnails of size (logical pixels) × devicePixelRatio.
    void setThumbnails(ThumbnailProvider *provider, QSize size, qreal devicePixelRatio);
    QSize thumbnailSize() const { return m_thumbSize; }

private:
    // rows (best first) become the relevance order, shown in the current sort.
    void setRelevanceOrder(QList<ResultRow> rows);
    // m_rows: the relevance order, sorted by date when that is the sort.
    void applySort();
    void onThumbnailReady(const QString &key);

    QList<ResultRow> m_byRelevance;
    QList<ResultRow> m_rows;
    Sort m_sort = Sort::Relevance;
    ThumbnailProvider *m_thumbs = nullptr;
    QSize m_thumbSize{192, 192};
    qreal m_dpr = 1;
    QStringList m_matchedWords;
    mutable QHash<QString, int> m_waiting;  // thumbnail key → row, for loads in flight
};

} // namespace unisearch::ui
