#include "engine/query.h"

#include "media/filepath.h"
#include "media/mediatype.h"
#include "util/error.h"

#include <QDir>
#include <QRegularExpression>

#include <algorithm>
#include <cmath>

namespace unisearch::engine {

namespace {

bool failed(QString *error, const QString &message)
{
    util::fail(error, message);
    return false;
}

// A term as a message quotes it: at most 60 characters, control characters shown as '?'.
QString excerpt(const QString &term)
{
    QString s = term.size() > 60 ? term.left(59) + QChar(0x2026) : term;
    for (QChar &c : s)
        if (c.category() == QChar::Other_Control || c.category() == QChar::Other_Format)
            c = QLatin1Char('?');
    return QStringLiteral("'%1'").arg(s);
}

struct RawTerm {
    QString text;
    int sign = 1;
};

// Splits at " + " and " - " (outside double quotes when quotesCount). The text is padded
// with a space on both sides, so a leading or trailing sign leaves an empty term.
QList<RawTerm> splitTerms(const QString &text, bool quotesCount, bool *unbalanced)
{
    const QString s = QLatin1Char(' ') + text + QLatin1Char(' ');
    QList<RawTerm> out;
    RawTerm cur;
    bool inQuote = false;
    for (qsizetype i = 0; i < s.size(); ++i) {
        const QChar c = s[i];
        if (quotesCount && c == QLatin1Char('"'))
            inQuote = !inQuote;
        if (!inQuote && c == QLatin1Char(' ') && i + 2 < s.size()
            && (s[i + 1] == QLatin1Char('+') || s[i + 1] == QLatin1Char('-')) && s[i + 2] == QLatin1Char(' ')) {
            out.append(cur);
            cur = RawTerm{QString(), s[i + 1] == QLatin1Char('+') ? 1 : -1};
            ++i;  // the space after the sign may start the next separator
            continue;
        }
        cur.text += c;
    }
    out.append(cur);
    *unbalanced = inQuote;
    return out;
}

// Looks like a path a person meant: /x, ./x, ../x, ~/x, or dir/name.ext.
bool looksLikePath(const QString &t)
{
    static const QRegularExpression withExtension(QStringLiteral("/.*\\.[A-Za-z0-9]{1,5}$"));
    return t.startsWith(QLatin1Char('/')) || t.startsWith(QLatin1String("./")) || t.startsWith(QLatin1String("../"))
        || t.startsWith(QLatin1String("~/")) || withExtension.match(t).hasMatch();
}

QString resolvePath(const QString &t, const QString &baseDir)
{
    if (t.startsWith(QLatin1String("~/")))
        return QDir::cleanPath(QDir::homePath() + t.mid(1));
    const QString base = baseDir.isEmpty() ? QDir::currentPath() : baseDir;
    return QDir::cleanPath(QDir(base).absoluteFilePath(t));
}

// The term after its weight: text, item:ID or a file. False with *error.
bool classifyTerm(const QString &t, const QString &baseDir, QueryTerm *term, QString *error)
{
    if (t.size() >= 2 && t.startsWith(QLatin1Char('"')) && t.endsWith(QLatin1Char('"'))) {
        term->text = t.mid(1, t.size() - 2).trimmed();
        if (term->text.isEmpty())
            return failed(error, QStringLiteral("the query has an empty quoted term"));
        return true;
    }
    if (t.startsWith(QLatin1String("item:"), Qt::CaseInsensitive)) {
        static const QRegularExpression digits(QStringLiteral("^[0-9]{1,18}$"));
        const QString id = t.mid(5);
        if (!digits.match(id).hasMatch() || id.toLongLong() <= 0)
            return failed(error, QStringLiteral("%1 is not an item: write item:ID with the item's number "
                                                    "(unisearch-cli search --json shows itemId)")
                                         .arg(excerpt(t)));
        term->kind = QueryTerm::Kind::Item;
        term->itemId = id.toLongLong();
        return true;
    }
    const bool pathLike = looksLikePath(t);
    // A plain name counts as a file only when its extension is an image's or a video's. Only
    // a short alphanumeric extension reaches the MIME database, never the typed text itself:
    // Qt's glob matcher recursed past the stack on a crafted name (fuzz_query).
    static const QRegularExpression extension(QStringLiteral("\\.([A-Za-z0-9]{1,10})$"));
    const QRegularExpressionMatch ext = pathLike ? QRegularExpressionMatch() : extension.match(t);
    const bool mediaName = ext.hasMatch()
                        && media::mediaTypeFromFileName(QStringLiteral("x.") + ext.captured(1)).kind
                               != media::MediaKind::Other;
    if (pathLike || mediaName) {
        const QString path = resolvePath(t, baseDir);
        const media::FileStatus status = media::fileStatus(path);
        if (status.type == media::FileType::File) {
            term->kind = QueryTerm::Kind::File;
            term->path = path;
            return true;
        }
        if (pathLike && status.type == media::FileType::Missing)
            return failed(error, QStringLiteral("no such file: %1 (put a term in double quotes to search for it "
                                                    "as text)")
                                         .arg(excerpt(QDir::toNativeSeparators(path))));
        if (pathLike)
            return failed(error, QStringLiteral("%1 is not a file: a query term can name an image or a video")
                                         .arg(excerpt(QDir::toNativeSeparators(path))));
    }
    term->text = t;
    return true;
}

// "W:" at the start of a term of a combined query: false with *error for a bad weight.
bool takeWeight(QString &t, double *weight, QString *error)
{
    static const QRegularExpression prefix(QStringLiteral("^([+-]?[0-9.][0-9.eE+-]*):"));
    const QRegularExpressionMatch m = prefix.match(t);
    if (!m.hasMatch())
        return true;
    bool ok = false;
    const double w = m.captured(1).toDouble(&ok);
    if (!ok || !std::isfinite(w) || w <= 0 || w > 100)
        return failed(error, QStringLiteral("bad weight %1: give a number above 0 and at most 100, as in "
                                                "'2:a dog' (' - ' subtracts a term)")
                                     .arg(excerpt(m.captured(0))));
    *weight = w;
    t = t.mid(m.capturedLength()).trimmed();
    if (t.isEmpty())
        return failed(error, QStringLiteral("the weight %1 has no term after it").arg(excerpt(m.captured(0))));
    return true;
}

} // namespace

bool ParsedQuery::isCombined() const
{
    return terms.size() > 1
        || std::any_of(terms.begin(), terms.end(),
                       [](const QueryTerm &t) { return t.weight != 1.0 || t.kind != QueryTerm::Kind::Text; });
}

QString ParsedQuery::keywordText() const
{
    QStringList words;
    for (const QueryTerm &t : terms)
        if (t.kind == QueryTerm::Kind::Text && t.weight > 0)
            words.append(t.text);
    return words.join(QLatin1Char(' '));
}

std::optional<ParsedQuery> parseQuery(const QString &text, const QString &baseDir, QString *error)
{
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty())
        return util::fail(error, QStringLiteral("the query is empty"));
    if (trimmed.size() > maxQueryLength)
        return util::fail(error, QStringLiteral("the query is too long (%1 characters; at most %2)")
                                     .arg(trimmed.size())
                                     .arg(maxQueryLength));
    bool unbalanced = false;
    QList<RawTerm> raw = splitTerms(trimmed, true, &unbalanced);
    if (unbalanced) {
        // A stray quote in a plain query is text, as before combined queries.
        raw = splitTerms(trimmed, false, &unbalanced);
        if (raw.size() > 1)
            return util::fail(error, QStringLiteral("the query has a double quote without its closing quote"));
    }
    if (raw.size() > maxQueryTerms)
        return util::fail(error, QStringLiteral("the query has %1 terms; at most %2").arg(raw.size()).arg(maxQueryTerms));
    ParsedQuery q;
    for (qsizetype i = 0; i < raw.size(); ++i) {
        QString t = raw[i].text.trimmed();
        if (t.isEmpty())
            return util::fail(error, QStringLiteral("term %1 of the query is empty: put words, a file or item:ID "
                                                    "between ' + ' and ' - ' (or quote a sign to search for it)")
                                         .arg(i + 1));
        QueryTerm term;
        if (raw.size() > 1 && !takeWeight(t, &term.weight, error))
            return std::nullopt;
        term.weight *= raw[i].sign;
        if (!classifyTerm(t, baseDir, &term, error))
            return std::nullopt;
        q.terms.append(term);
    }
    return q;
}

QString describeQuery(const ParsedQuery &query)
{
    QString out;
    for (qsizetype i = 0; i < query.terms.size(); ++i) {
        const QueryTerm &t = query.terms[i];
        if (i > 0)
            out += t.weight < 0 ? QLatin1String(" - ") : QLatin1String(" + ");
        else if (t.weight < 0)
            out += QLatin1String("-");
        if (std::abs(t.weight) != 1.0)
            out += QString::number(std::abs(t.weight), 'g', 6) + QLatin1Char(':');
        switch (t.kind) {
        case QueryTerm::Kind::Text:
            out += query.terms.size() > 1 && (t.text.contains(QLatin1String(" + ")) || t.text.contains(QLatin1String(" - ")))
                       ? QLatin1Char('"') + t.text + QLatin1Char('"')
                       : t.text;
            break;
        case QueryTerm::Kind::File:
            out += t.path;
            break;
        case QueryTerm::Kind::Item:
            out += QStringLiteral("item:%1").arg(t.itemId);
            break;
        }
    }
    return out;
}

std::optional<std::vector<float>> combineFeatures(const std::vector<WeightedFeature> &terms, QString *error)
{
    if (terms.empty())
        return util::fail(error, QStringLiteral("the query has no terms"));
    const size_t dim = terms.front().feature.size();
    std::vector<double> sum(dim, 0.0);
    double weights = 0;
    for (const WeightedFeature &t : terms) {
        if (t.feature.size() != dim || dim == 0)
            return util::fail(error, QStringLiteral("the query's features differ in length (%1 and %2 values): "
                                                    "were they made by different models?")
                                         .arg(dim)
                                         .arg(t.feature.size()));
        double norm = 0;
        for (const float v : t.feature)
            norm += double(v) * double(v);
        norm = std::sqrt(norm);
        if (!(norm > 0) || !std::isfinite(norm))
            return util::fail(error, QStringLiteral("a term of the query has a zero feature"));
        for (size_t i = 0; i < dim; ++i)
            sum[i] += t.weight * double(t.feature[i]) / norm;
        weights += std::abs(t.weight);
    }
    double norm = 0;
    for (const double v : sum)
        norm += v * v;
    norm = std::sqrt(norm);
    if (!(norm > 1e-6 * weights))
        return util::fail(error, QStringLiteral("the terms of the query cancel out (as in 'a - a'): nothing is left "
                                                "to search for"));
    std::vector<float> out(dim);
    for (size_t i = 0; i < dim; ++i)
        out[i] = static_cast<float>(sum[i] / norm);
    return out;
}

} // namespace unisearch::engine
