// `unisearch-bench ocr`: what the OCR pass costs per photo (media::OcrEngine::read, which
// downscales first) at several long edges, and how many of the rendered words it reads back.
// The photos are generated: 4000×3000 "documents" with lines of words and numbers in DejaVu
// Sans (fonts-dejavu-core), and as many photos without text (colour blocks), so the numbers
// can be reproduced anywhere. Decoding the file is not included (the pass decodes JPEGs
// scaled to the edge, which is cheaper than a full decode).
#include "bench_ocr.h"

#include "benchsupport.h"
#include "engine/keywordsearch.h"
#include "media/ocr.h"

#include <QElapsedTimer>
#include <QFontDatabase>
#include <QGuiApplication>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPainter>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSet>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

namespace {

struct Params {
    int photos = 6;                    // of each kind
    QList<int> edges{1000, 1600, 2000, 4000};
    int textPx = 48;  // text height on the 4000-px photo: ~9 pt on a page photographed at 4000 px
    bool json = false;
};

const char *const kWords[] = {"invoice", "total", "amount", "payment", "order", "customer", "address", "street",
                              "receipt", "balance", "account", "number", "delivery", "service", "tax", "date"};

struct Photo {
    QImage image;
    QSet<QString> words;  // what was rendered, lower case
};

Photo documentPhoto(quint32 seed, const QString &family, int textPx)
{
    QRandomGenerator rng(seed);
    Photo p{QImage(4000, 3000, QImage::Format_RGB32), {}};
    p.image.fill(QColor(120, 110, 100));  // a table under the page
    QPainter painter(&p.image);
    painter.fillRect(500, 150, 3000, 2700, Qt::white);
    QFont font(family);
    font.setPixelSize(textPx);
    painter.setFont(font);
    painter.setPen(Qt::black);
    for (int line = 0; line < 14; ++line) {
        QStringList words;
        for (int w = 0; w < 5; ++w) {
            const QString word = w == 4 ? QString::number(1000 + rng.bounded(9000))
                                        : QString::fromLatin1(kWords[rng.bounded(int(std::size(kWords)))]);
            words << word;
            p.words.insert(word.toLower());
        }
        painter.drawText(650, 350 + line * textPx * 3, words.join(QLatin1Char(' ')));
    }
    return p;
}

Photo plainPhoto(quint32 seed)
{
    QRandomGenerator rng(seed);
    Photo p{QImage(4000, 3000, QImage::Format_RGB32), {}};
    p.image.fill(QColor::fromRgb(rng.generate()));
    QPainter painter(&p.image);
    for (int i = 0; i < 12; ++i)
        painter.fillRect(rng.bounded(3500), rng.bounded(2500), 200 + rng.bounded(1500), 200 + rng.bounded(1000),
                         QColor::fromRgb(rng.generate()));
    return p;
}

struct EdgeResult {
    int edge = 0;
    double textMs = 0;    // per document photo
    double plainMs = 0;   // per photo without text
    double recall = 0;    // rendered words read back
    qint64 falseWords = 0;  // words read in photos without text
};

bool parse(int argc, char **argv, Params &p)
{
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json") {
            p.json = true;
        } else if (a == "--photos") {
            p.photos = std::max(1, std::atoi(unisearch::bench::optionValue("ocr", argc, argv, i)));
        } else if (a == "--text-px") {
            p.textPx = std::clamp(std::atoi(unisearch::bench::optionValue("ocr", argc, argv, i)), 8, 160);
        } else if (a == "--edges") {
            p.edges.clear();
            for (const QString &e : QString::fromLocal8Bit(unisearch::bench::optionValue("ocr", argc, argv, i))
                                        .split(QLatin1Char(',')))
                if (e.toInt() > 0)
                    p.edges << e.toInt();
        } else {
            std::fprintf(a == "--help" ? stdout : stderr,
                         "usage: unisearch-bench ocr [--photos N] [--edges 1000,1600,2000,4000] [--text-px 48] [--json]\n"
                         "       unisearch-bench ocr --fusion [--queries 400] [--seed 16]\n"
                         "  ms per photo of the OCR pass's read (downscale + Tesseract) at each long edge,\n"
                         "  and the share of rendered words read back, on generated 4000x3000 photos;\n"
                         "  --fusion: keyword/semantic fusion, RRF against a fitted mix, on synthetic rankings\n");
            return false;
        }
    }
    return true;
}

EdgeResult measure(int edge, const std::vector<Photo> &docs, const std::vector<Photo> &plain)
{
    EdgeResult r{edge};
    unisearch::media::OcrOptions options;
    options.maxEdge = edge;
    auto engine = unisearch::media::OcrEngine::create(options);
    if (!engine)
        return r;
    qint64 found = 0, rendered = 0;
    QElapsedTimer t;
    t.start();
    for (const Photo &p : docs) {
        const QString text = engine->read(p.image).value_or(QString()).toLower();
        QSet<QString> read;
        for (const QString &w : text.split(QRegularExpression(QStringLiteral("\\W+")), Qt::SkipEmptyParts))
            read.insert(w);
        for (const QString &w : p.words)
            found += read.contains(w) ? 1 : 0;
        rendered += p.words.size();
    }
    r.textMs = double(t.nsecsElapsed()) / 1e6 / double(docs.size());
    t.restart();
    for (const Photo &p : plain)
        r.falseWords += engine->read(p.image).value_or(QString()).split(QLatin1Char(' '), Qt::SkipEmptyParts).size();
    r.plainMs = double(t.nsecsElapsed()) / 1e6 / double(plain.size());
    r.recall = rendered > 0 ? double(found) / double(rendered) : 0;
    return r;
}


// `unisearch-bench ocr --fusion`: reciprocal rank fusion (engine::fuseRankings, the engine's
// code) against a calibrated mix, cosine + λ·bm25/max(bm25 of the query), on synthetic
// rankings (no model, no library). Each query scores N items: background cosines
// N(0.20, 0.04), a few related items N(0.27, 0.03). Kind (a), "the scanned invoice": the
// target's cosine is N(0.25, 0.04) (a page of text is only loosely close to the words) and
// it holds all query words (bm25 U(6, 12)); other items match by chance (rate 0.3 %, bm25
// U(2, 10)). Kind (b), "found by meaning": the target's cosine is N(0.32, 0.03), it has no
// keyword match, 1-5 unrelated background items do. The semantic list is the top 20 by
// cosine (SearchParams::top); a keyword hit outside it is completed with its cosine, as
// withKeywordHits does. λ is fitted (grid 0..1) on the even query pairs and reported on the odd ones.
struct FusionParams {
    int items = 2000;
    int queries = 400;  // of each kind
    int semanticTop = 20;
    quint32 seed = 16;
};

struct FusionQuery {
    bool meaningOnly = false;  // kind (b)
    std::vector<double> cosine;
    std::vector<std::pair<std::int64_t, double>> keyword;  // (item, bm25), best first
    std::int64_t target = 0;
};

FusionQuery makeQuery(std::mt19937 &rng, const FusionParams &p, bool meaningOnly)
{
    std::normal_distribution<double> background(0.20, 0.04), related(0.27, 0.03);
    std::uniform_real_distribution<double> u(0, 1);
    FusionQuery q{meaningOnly, std::vector<double>(size_t(p.items)), {}, 0};
    for (int i = 0; i < p.items; ++i)
        q.cosine[size_t(i)] = i < 8 ? related(rng) : background(rng);
    q.target = 8 + std::int64_t(u(rng) * (p.items - 8));
    if (meaningOnly) {
        q.cosine[size_t(q.target)] = std::normal_distribution<double>(0.32, 0.03)(rng);
        const int falseHits = 1 + int(u(rng) * 5);
        for (int i = 0; i < falseHits; ++i) {
            const std::int64_t id = 8 + std::int64_t(u(rng) * (p.items - 8));
            if (id != q.target)
                q.keyword.emplace_back(id, 2 + 10 * u(rng));
        }
    } else {
        q.cosine[size_t(q.target)] = std::normal_distribution<double>(0.25, 0.04)(rng);
        q.keyword.emplace_back(q.target, 6 + 6 * u(rng));
        for (int i = 0; i < p.items; ++i)
            if (i != q.target && u(rng) < 0.003)
                q.keyword.emplace_back(i, 2 + 8 * u(rng));
    }
    std::sort(q.keyword.begin(), q.keyword.end(), [](auto &a, auto &b) { return a.second > b.second; });
    q.keyword.erase(std::unique(q.keyword.begin(), q.keyword.end(),
                                [](auto &a, auto &b) { return a.first == b.first; }),
                    q.keyword.end());
    return q;
}

std::vector<std::int64_t> semanticOrder(const FusionQuery &q, int top)
{
    std::vector<std::int64_t> ids(q.cosine.size());
    for (size_t i = 0; i < ids.size(); ++i)
        ids[i] = std::int64_t(i);
    const size_t n = std::min(ids.size(), size_t(top));
    std::partial_sort(ids.begin(), ids.begin() + qsizetype(n), ids.end(),
                      [&](std::int64_t a, std::int64_t b) { return q.cosine[size_t(a)] > q.cosine[size_t(b)]; });
    ids.resize(n);
    return ids;
}

// The order RRF gives, through the engine's fuseRankings.
std::vector<std::int64_t> rrfOrder(const FusionQuery &q, int top)
{
    using unisearch::engine::SearchHit;
    QList<SearchHit> semantic;
    for (const std::int64_t id : semanticOrder(q, top)) {
        SearchHit h;
        h.itemId = id;
        h.score = float(q.cosine[size_t(id)]);
        semantic.append(h);
    }
    QList<unisearch::engine::KeywordHit> keyword;
    for (const auto &[id, bm25] : q.keyword)
        keyword.append({id, QStringLiteral("x")});
    const auto fused = unisearch::engine::fuseRankings(semantic, keyword, [&](std::int64_t id) {
        SearchHit h;
        h.itemId = id;
        h.score = float(q.cosine[size_t(id)]);
        return std::optional<SearchHit>(h);
    });
    std::vector<std::int64_t> out;
    for (const SearchHit &h : fused)
        out.push_back(h.itemId);
    return out;
}

// The calibrated mix over the same candidates (semantic top and keyword hits).
std::vector<std::int64_t> mixOrder(const FusionQuery &q, int top, double lambda)
{
    std::vector<std::pair<double, std::int64_t>> scored;
    const double maxBm25 = q.keyword.empty() ? 1.0 : q.keyword.front().second;
    std::vector<double> kw(q.cosine.size(), 0.0);
    for (const auto &[id, bm25] : q.keyword)
        kw[size_t(id)] = bm25 / maxBm25;
    std::vector<std::int64_t> candidates = semanticOrder(q, top);
    for (const auto &[id, bm25] : q.keyword)
        if (std::find(candidates.begin(), candidates.end(), id) == candidates.end())
            candidates.push_back(id);
    for (const std::int64_t id : candidates)
        scored.emplace_back(q.cosine[size_t(id)] + lambda * kw[size_t(id)], id);
    std::stable_sort(scored.begin(), scored.end(), [](auto &a, auto &b) { return a.first > b.first; });
    std::vector<std::int64_t> out;
    for (const auto &s : scored)
        out.push_back(s.second);
    return out;
}

double reciprocalRank(const std::vector<std::int64_t> &order, std::int64_t target)
{
    const auto it = std::find(order.begin(), order.end(), target);
    return it == order.end() ? 0.0 : 1.0 / double(it - order.begin() + 1);
}

struct FusionScore {
    double mrrA = 0, mrrB = 0, top1ChangedB = 0;
};

// Scores of one method over the query pairs with index parity `parity` (-1: all).
template <typename Order>
FusionScore scoreMethod(const std::vector<FusionQuery> &qs, int parity, Order order)
{
    FusionScore s;
    int na = 0, nb = 0;
    for (size_t i = 0; i < qs.size(); ++i) {
        if (parity >= 0 && int(i / 2 % 2) != parity)  // (a) and (b) alternate
            continue;
        const FusionQuery &q = qs[i];
        const std::vector<std::int64_t> o = order(q);
        const double rr = reciprocalRank(o, q.target);
        if (q.meaningOnly) {
            s.mrrB += rr;
            s.top1ChangedB += !o.empty() && o.front() != semanticOrder(q, 1).front() ? 1 : 0;
            ++nb;
        } else {
            s.mrrA += rr;
            ++na;
        }
    }
    s.mrrA /= std::max(1, na);
    s.mrrB /= std::max(1, nb);
    s.top1ChangedB /= std::max(1, nb);
    return s;
}

int runFusionBench(const FusionParams &p)
{
    std::mt19937 rng(p.seed);
    std::vector<FusionQuery> qs;
    for (int i = 0; i < p.queries; ++i) {
        qs.push_back(makeQuery(rng, p, false));
        qs.push_back(makeQuery(rng, p, true));
    }
    double bestLambda = 0, best = -1;
    for (int step = 0; step <= 200; ++step) {  // fit on the even queries: mean of both MRRs
        const double lambda = step * 0.005;
        const FusionScore s = scoreMethod(qs, 0, [&](auto &q) { return mixOrder(q, p.semanticTop, lambda); });
        if ((s.mrrA + s.mrrB) / 2 > best + 1e-12) {
            best = (s.mrrA + s.mrrB) / 2;
            bestLambda = lambda;
        }
    }
    const int top = p.semanticTop;
    const FusionScore sem = scoreMethod(qs, 1, [&](auto &q) { return semanticOrder(q, top); });
    const FusionScore rrf = scoreMethod(qs, 1, [&](auto &q) { return rrfOrder(q, top); });
    const FusionScore mix = scoreMethod(qs, 1, [&](auto &q) { return mixOrder(q, top, bestLambda); });
    std::printf("%d items, %d queries of each kind (seed %u), semantic top %d; lambda %.3f fitted on half,\n"
                "scores on the other half\n",
                p.items, p.queries, p.seed, top, bestLambda);
    std::printf("%-26s %10s %10s %22s\n", "method", "MRR (a)", "MRR (b)", "(b) top-1 changed");
    const auto row = [](const char *name, const FusionScore &s) {
        std::printf("%-26s %10.3f %10.3f %21.1f%%\n", name, s.mrrA, s.mrrB, 100.0 * s.top1ChangedB);
    };
    row("semantic only", sem);
    row("RRF k=60 (fuseRankings)", rrf);
    row("mix cos + lambda*bm25n", mix);
    return 0;
}

} // namespace

int runOcrBench(int argc, char **argv)
{
    if (argc > 1 && !std::strcmp(argv[1], "--fusion")) {
        FusionParams f;
        for (int i = 2; i + 1 < argc; i += 2) {
            if (!std::strcmp(argv[i], "--queries"))
                f.queries = std::clamp(std::atoi(argv[i + 1]), 2, 100000);
            else if (!std::strcmp(argv[i], "--seed"))
                f.seed = quint32(std::strtoul(argv[i + 1], nullptr, 10));
        }
        return runFusionBench(f);
    }
    Params p;
    if (!parse(argc, argv, p))
        return argc > 1 && !std::strcmp(argv[1], "--help") ? 0 : 2;
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");  // fonts without a display
    std::optional<QGuiApplication> app;
    static int fakeArgc = 1;
    if (!QCoreApplication::instance())
        app.emplace(fakeArgc, argv);
    const int font = QFontDatabase::addApplicationFont(QStringLiteral("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"));
    if (font < 0) {
        std::fprintf(stderr, "unisearch-bench ocr: DejaVuSans.ttf not found (install fonts-dejavu-core)\n");
        return 1;
    }
    const QString family = QFontDatabase::applicationFontFamilies(font).value(0);
    std::vector<Photo> docs, plain;
    for (int i = 0; i < p.photos; ++i) {
        docs.push_back(documentPhoto(quint32(100 + i), family, p.textPx));
        plain.push_back(plainPhoto(quint32(900 + i)));
    }
    QJsonArray rows;
    if (!p.json)
        std::printf("%-6s %14s %16s %12s %18s\n", "edge", "ms/text photo", "ms/plain photo", "words read",
                    "words in plain");
    for (const int edge : p.edges) {
        const EdgeResult r = measure(edge, docs, plain);
        rows.append(QJsonObject{{QStringLiteral("edge"), r.edge},
                                {QStringLiteral("msPerTextPhoto"), r.textMs},
                                {QStringLiteral("msPerPlainPhoto"), r.plainMs},
                                {QStringLiteral("wordRecall"), r.recall},
                                {QStringLiteral("wordsReadInPlainPhotos"), r.falseWords}});
        if (!p.json)
            std::printf("%-6d %14.0f %16.0f %11.1f%% %18lld\n", r.edge, r.textMs, r.plainMs, 100.0 * r.recall,
                        static_cast<long long>(r.falseWords));
        std::fflush(stdout);
    }
    if (p.json)
        std::printf("%s", QJsonDocument(QJsonObject{{QStringLiteral("photos"), p.photos},
                                                    {QStringLiteral("textPx"), p.textPx},
                                                    {QStringLiteral("edges"), rows}})
                              .toJson(QJsonDocument::Indented)
                              .constData());
    return 0;
}
