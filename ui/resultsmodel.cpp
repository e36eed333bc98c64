#include "ui/resultsmodel.h"

#include "engine/search.h"
#include "ui/thumbnailprovider.h"

#include <QDateTime>
#include <QFileInfo>
#include <QRegularExpression>

#include <algorithm>

namespace unisearch::ui {

namespace {

constexpr int kMaxSnippetChars = 1000;  // the engine's snippets are short; a line shows less
constexpr int kMaxWords = 16;          // as the keyword search (KeywordParams::maxWords)

} // namespace

ResultRow ResultRow::fromHit(const engine::SearchHit &hit)
{
    ResultRow r;
    r.itemId = hit.itemId;
    r.path = hit.path;
    r.type = hit.type;
    r.score = hit.score;
    r.itmProbability = hit.itmProbability;
    r.mtimeMs = hit.mtimeMs;
    r.width = hit.width;
    r.height = hit.height;
    r.matchedText = hit.matchedText;
    if (hit.type == catalog::ItemType::Video) {
        r.timeMs = hit.startMs;
        r.endMs = hit.endMs;
        for (const engine::Moment &m : hit.moments)
            r.moments.append(MomentRow{m.startMs, m.endMs, m.score});
        if (r.moments.isEmpty())
            r.moments.append(MomentRow{hit.startMs, hit.endMs, hit.score});
    }
    return r;
}

QString formatMoment(std::int64_t ms)
{
    const std::int64_t s = std::max<std::int64_t>(0, ms) / 1000;
    if (s >= 3600)
        return QStringLiteral("%1:%2:%3")
            .arg(s / 3600)
            .arg((s / 60) % 60, 2, 10, QLatin1Char('0'))
            .arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

QStringList queryWords(const QString &query)
{
    static const QRegularExpression word(QStringLiteral("[\\p{L}\\p{N}]+"), QRegularExpression::UseUnicodePropertiesOption);
    QStringList words;
    for (auto it = word.globalMatch(query.left(kMaxSnippetChars)); it.hasNext() && words.size() < kMaxWords;) {
        const QString w = it.next().captured();
        if (!words.contains(w, Qt::CaseInsensitive))
            words << w;
    }
    return words;
}

MarkedText markedText(const QString &matchedText, const QStringList &words)
{
    MarkedText out{matchedText.left(kMaxSnippetChars), {}};
    for (const QString &w : words) {
        if (w.isEmpty())
            continue;
        // Whole words only, as the keyword index matches them.
        const QRegularExpression re(QStringLiteral("(?<![\\p{L}\\p{N}])%1(?![\\p{L}\\p{N}])").arg(QRegularExpression::escape(w)),
                                    QRegularExpression::CaseInsensitiveOption | QRegularExpression::UseUnicodePropertiesOption);
        for (auto it = re.globalMatch(out.text); it.hasNext();) {
            const QRegularExpressionMatch m = it.next();
            out.marks.append({int(m.capturedStart()), int(m.capturedLength())});
        }
    }
    std::sort(out.marks.begin(), out.marks.end());
    // Overlaps (a word given twice in other cases) become one mark.
    QList<std::pair<int, int>> merged;
    for (const auto &mark : std::as_const(out.marks)) {
        if (!merged.isEmpty() && mark.first <= merged.last().first + merged.last().second)
            merged.last().second = std::max(merged.last().second, mark.first + mark.second - merged.last().first);
        else
            merged.append(mark);
    }
    out.marks = merged;
    return out;
}

QString markedTextHtml(const MarkedText &marked, const QColor &background, const QColor &foreground)
{
    QString html;
    int at = 0;
    for (const auto &[start, length] : marked.marks) {
        html += marked.text.mid(at, start - at).toHtmlEscaped();
        html += QStringLiteral("<b style=\"background-color:%1; color:%2\">%3</b>")
                    .arg(background.name(), foreground.name(), marked.text.mid(start, length).toHtmlEscaped());
        at = start + length;
    }
    return html + marked.text.mid(at).toHtmlEscaped();
}

ResultsModel::ResultsModel(QObject *parent)
    : QAbstractListModel(parent)
{
}

int ResultsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

QVariant ResultsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const ResultRow &r = m_rows.at(index.row());
    switch (role) {
    case Qt::DisplayRole: {
        QString name = QFileInfo(r.path).fileName();
        if (r.isVideo())
            name += QStringLiteral(" @ ") + formatMoment(r.timeMs);
        return name;
    }
    case Qt::ToolTipRole: {
        QString tip = r.path + QLatin1Char('\n') + tr("score %1").arg(r.score, 0, 'f', 3);
        if (r.itmProbability)
            tip += tr(", match %1%").arg(qRound(*r.itmProbability * 100));
        if (r.isVideo())
            tip += QLatin1Char('\n') + tr("moment %1–%2").arg(formatMoment(r.timeMs), formatMoment(r.endMs));
        if (!r.matchedText.isEmpty())
            tip += QLatin1Char('\n') + tr("matched “%1”").arg(r.matchedText.left(kMaxSnippetChars));
        return tip;
    }
    case PathRole: return r.path;
    case ScoreRole: return r.score;
    case TimeRole: return qint64(r.timeMs);
    case ItemIdRole: return qint64(r.itemId);
    case TypeRole: return catalog::toString(r.type);
    case MomentTextRole: return r.isVideo() ? formatMoment(r.timeMs) : QString();
    case DateRole: return QDateTime::fromMSecsSinceEpoch(r.mtimeMs);
    case MatchedTextRole: return r.matchedText;
    case MatchedWordsRole: return r.matchedWords;
    case ThumbnailRole: {
        if (!m_thumbs)
            return QImage();
        const QSize px = m_thumbSize * m_dpr;
        QImage image = m_thumbs->request(r.path, r.type, r.isVideo() ? r.timeMs : 0, px);
        if (!image.isNull())
            image.setDevicePixelRatio(m_dpr);
        else
            m_waiting.insert(ThumbnailProvider::key(r.path, r.isVideo() ? r.timeMs : 0, px), index.row());
        return image;
    }
    default: return {};
    }
}

void ResultsModel::setRelevanceOrder(QList<ResultRow> rows)
{
    m_byRelevance = std::move(rows);
    for (ResultRow &row : m_byRelevance)
        row.matchedWords = m_matchedWords;
    applySort();
}

void ResultsModel::applySort()
{
    m_rows = m_byRelevance;
    if (m_sort == Sort::Date)
        std::stable_sort(m_rows.begin(), m_rows.end(),
                         [](const ResultRow &a, const ResultRow &b) { return a.mtimeMs > b.mtimeMs; });
}

void ResultsModel::setResults(QList<ResultRow> rows)
{
    if (m_thumbs)
        m_thumbs->cancelPending();  // the old list's queued loads are not wanted any more
    beginResetModel();
    m_waiting.clear();
    setRelevanceOrder(std::move(rows));
    endResetModel();
}

bool ResultsModel::reorderResults(QList<ResultRow> rows)
{
    if (rows.size() != m_byRelevance.size())
        return false;
    QHash<QString, int> oldRow;  // path → row shown now
    for (int i = 0; i < m_rows.size(); ++i)
        oldRow.insert(m_rows.at(i).path, i);
    for (const ResultRow &row : std::as_const(rows))
        if (!oldRow.contains(row.path))
            return false;
    if (oldRow.size() != rows.size())
        return false;
    emit layoutAboutToBeChanged();
    setRelevanceOrder(std::move(rows));
    QList<int> newRow(m_rows.size());  // old row → new row
    for (int i = 0; i < m_rows.size(); ++i)
        newRow[oldRow.value(m_rows.at(i).path)] = i;
    const QModelIndexList from = persistentIndexList();
    QModelIndexList to;
    to.reserve(from.size());
    for (const QModelIndex &i : from)
        to.append(i.row() >= 0 && i.row() < newRow.size() ? index(newRow.at(i.row())) : QModelIndex());
    changePersistentIndexList(from, to);
    for (auto it = m_waiting.begin(); it != m_waiting.end(); ++it)
        if (*it >= 0 && *it < newRow.size())
            *it = newRow.at(*it);
    emit layoutChanged();
    return true;
}

void ResultsModel::setMatchedWords(const QStringList &words)
{
    m_matchedWords = words;
    for (QList<ResultRow> *rows : {&m_byRelevance, &m_rows})
        for (ResultRow &row : *rows)
            row.matchedWords = words;
    if (!m_rows.isEmpty())
        emit dataChanged(index(0), index(int(m_rows.size()) - 1), {MatchedWordsRole});
}

void ResultsModel::clear()
{
    setResults({});
}

void ResultsModel::setSort(Sort sort)
{
    if (sort == m_sort)
        return;
    m_sort = sort;
    beginResetModel();
    m_waiting.clear();
    applySort();
    endResetModel();
}

void ResultsModel::setThumbnails(ThumbnailProvider *provider, QSize size, qreal devicePixelRatio)
{
    if (m_thumbs != provider) {
        if (m_thumbs)
            disconnect(m_thumbs, nullptr, this, nullptr);
        m_thumbs = provider;
        if (m_thumbs)
            connect(m_thumbs, &ThumbnailProvider::thumbnailReady, this, &ResultsModel::onThumbnailReady);
    }
    m_thumbSize = size;
    m_dpr = devicePixelRatio;
    m_waiting.clear();
    if (!m_rows.isEmpty())
        emit dataChanged(index(0), index(int(m_rows.size()) - 1), {ThumbnailRole});
}

void ResultsModel::onThumbnailReady(const QString &key)
{
    const auto it = m_waiting.constFind(key);
    if (it == m_waiting.cend())
        return;
    const int row = *it;
    m_waiting.erase(it);
    if (row >= 0 && row < m_rows.size())
        emit dataChanged(index(row), index(row), {ThumbnailRole});
}

} // namespace unisearch::ui
