// `unisearch-bench ocr`: what the OCR pass costs per photo (media::OcrEngine::read, which
// downscales first) at several long edges, and how many of the rendered words it reads back.
// The photos are generated: 4000×3000 "documents" with lines of words and numbers in DejaVu
// Sans (fonts-dejavu-core), and as many photos without text (colour blocks), so the numbers
// can be reproduced anywhere. Decoding the file is not included (the pass decodes JPEGs
// scaled to the edge, which is cheaper than a full decode).
#include "bench_ocr.h"

#include "benchsupport.h"
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
#include <cstdio>
#include <cstring>
#include <optional>
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
                         "  ms per photo of the OCR pass's read (downscale + Tesseract) at each long edge,\n"
                         "  and the share of rendered words read back, on generated 4000x3000 photos\n");
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

} // namespace

int runOcrBench(int argc, char **argv)
{
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
