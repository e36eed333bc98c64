// Videos end to end with the fixture model (../shared/fixtures/uniadapter/retrieval-video and
// vqa, imported with their architectures): clips are generated here with the `ffmpeg`
// program from the fixture's frames (32 × 32 PNGs scaled up 8× with nearest-neighbour, so
// the decoder's area scaling back to the model's 32 × 32 undoes it), encoded lossy
// (H.264, yuv420p, CRF 18), 3 s per frame.
//
// Checked through the indexing job and the search API:
// - a clip's segments are found with their time ranges; the query whose fixture
//   similarity picks one frame most clearly returns that frame's segment as the best
//   moment; identical neighbouring segments merge, distinct ones do not;
// - the video-level feature of a clip made of exactly the fixture frames matches the
//   fixture's video_feat (T = 8 samples of a 4-frame clip take each frame twice, which
//   leaves the mean of the CLS tokens unchanged);
// - bad files beside a good clip are recorded errors and the clip is indexed; a moved clip
//   keeps its vectors and is not embedded again;
// - a clip whose MP4 header lies about its duration (patched here: mdhd timescale and
//   duration, stts deltas) costs what its frames cost, not what it claims: indexed by
//   unisearch-cli under an address-space limit beside photos, the photos are all indexed,
//   the clip is indexed with at most as many segments as its frames can fill (and, when
//   its frames end before the claim, with the duration they really have), and a second
//   run has nothing to redo;
// - an exception while one file is processed (std::bad_alloc) fails that file with its
//   reason, and the rest of the folder is indexed.
// And through unisearch-cli: `itm --frames CLIP [--frame-aware]` reproduces the fixture's
// itm_logits / itm_logits_frame_aware, `embed frames CLIP` its video_feat, `search --json`
// prints the moments, `ask CLIP` / `ask CLIP@TIME` give the VQA fixture's answer.
//
// Tolerances for lossy encoding (H.264 CRF 18, 4:2:0, decoded and area-scaled into 4:4:4 at
// the model's size): features (unit vectors) within FEATURE_TOL = 0.005 absolute per
// component of the reference, similarities likewise; ITM logits within LOGIT_TOL = 0.03.
// Measured here: features and similarities ≤ 0.0015, logits ≤ 0.011 (the test prints them).
#include "catalog/catalog.h"
#include "engine/indexjob.h"
#include "engine/inference.h"
#include "engine/retrievalmodel.h"
#include "engine/search.h"
#include "engine/tokencache.h"
#include "media/filepath.h"
#include "model/architecture.h"
#include "model/bundle.h"
#include "model/modelrunner.h"
#include "support/catalogfixture.h"
#include "support/cliprocess.h"
#include "support/fixtures.h"
#include "support/modelfixture.h"
#include "support/npy.h"
#include "support/videogen.h"
#include "support/workspace.h"

#include <QDir>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QTemporaryDir>
#include <QtTest>

#include <bit>
#include <cmath>
#include <functional>
#include <limits>

#include <sys/resource.h>

using namespace unisearch;

namespace {

constexpr double FEATURE_TOL = 0.005;
constexpr double LOGIT_TOL = 0.03;
constexpr int segmentSec = 3;

using Run = unisearch::test::CliRun;

double maxAbsDiff(const std::vector<float> &a, const float *b, size_t n)
{
    if (a.size() != n)
        return 1e9;
    double m = 0;
    for (size_t i = 0; i < n; ++i)
        m = std::max(m, std::abs(double(a[i]) - double(b[i])));
    return m;
}

// Rewrites an MP4's one video track so that it claims another duration: the media header's
// timescale and duration (`mdhd`, version 0), every sample's duration (`stts`), and the
// edit list renamed to `free` (otherwise FFmpeg takes the duration from it). The frames'
// timestamps become k × sttsDelta / timescale seconds. Empty on success.
QString patchMp4Timing(const QString &path, quint32 timescale, quint32 mdhdDuration, quint32 sttsDelta)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadWrite))
        return f.errorString();
    QByteArray d = f.readAll();
    auto be32 = [&](qsizetype at) {
        return quint32(quint8(d[at])) << 24 | quint32(quint8(d[at + 1])) << 16 | quint32(quint8(d[at + 2])) << 8
               | quint32(quint8(d[at + 3]));
    };
    auto put32 = [&](qsizetype at, quint32 v) {
        for (int i = 0; i < 4; ++i)
            d[at + i] = char(v >> (24 - 8 * i));
    };
    int patched = 0;
    // Boxes nest inside these; the others are leaves or not needed.
    const QByteArrayList containers{"moov", "trak", "mdia", "minf", "stbl"};
    std::function<bool(qsizetype, qsizetype)> walk = [&](qsizetype at, qsizetype end) {
        while (at + 8 <= end) {
            const qsizetype size = be32(at);
            const QByteArray type = d.mid(at + 4, 4);
            if (size < 8 || at + size > end)
                return false;  // 64-bit or open-ended sizes: not what ffmpeg writes here
            if (containers.contains(type) && !walk(at + 8, at + size))
                return false;
            if (type == "edts") {
                d.replace(at + 4, 4, "free");
            } else if (type == "mdhd") {
                if (d[at + 8] != 0)
                    return false;  // version 1 (64-bit times)
                put32(at + 20, timescale);
                put32(at + 24, mdhdDuration);
                ++patched;
            } else if (type == "stts") {
                const quint32 entries = be32(at + 12);
                if (16 + qsizetype(entries) * 8 > size)
                    return false;
                for (quint32 i = 0; i < entries; ++i)
                    put32(at + 16 + qsizetype(i) * 8 + 4, sttsDelta);
                ++patched;
            }
            at += size;
        }
        return true;
    };
    if (!walk(0, d.size()) || patched != 2)
        return QStringLiteral("not the MP4 layout expected (%1 of 2 boxes patched)").arg(patched);
    f.seek(0);
    if (f.write(d) != d.size())
        return f.errorString();
    return {};
}

// Rewrites the Duration of a Matroska file's segment information (an 8-byte float in
// TimecodeScale units, milliseconds as ffmpeg writes it) to claim another duration. The
// element lies near the start; only the first 4 KB are searched. Empty on success.
QString patchMkvDuration(const QString &path, double seconds)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadWrite))
        return f.errorString();
    const QByteArray head = f.read(4096);
    const qsizetype at = head.indexOf(QByteArray("\x44\x89\x88", 3));  // ID 0x4489, size 8
    if (at < 0)
        return QStringLiteral("no 8-byte Duration element in the first 4 KB");
    const quint64 bits = std::bit_cast<quint64>(seconds * 1000);
    QByteArray value(8, 0);
    for (int i = 0; i < 8; ++i)
        value[i] = char(bits >> (56 - 8 * i));
    if (!f.seek(at + 3) || f.write(value) != 8)
        return f.errorString();
    return {};
}

std::vector<float> jsonFloats(const QJsonArray &a)
{
    std::vector<float> v;
    for (const QJsonValue &x : a)
        v.push_back(float(x.toDouble()));
    return v;
}

} // namespace

class TestVideoIndex : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();

    void bestMomentIsTheFrameTheQueryPicks();
    void identicalNeighboursMerge();
    void videoFeatureMatchesTheReference();
    void rerankKeepsVideoTokens();
    void badVideosAreRecordedAndTheRestIndexed();
    void movedVideoIsNotEmbeddedAgain();
    void lyingDurationCostsOnlyItsFrames_data();
    void lyingDurationCostsOnlyItsFrames();
    void exceptionInOneFileFailsOnlyThatFile();
    void cliItmEmbedAndSearchFromAVideoFile();
    void cliAskAboutAVideoAndAMoment();
    void timesParse();

private:
    // A clip of the given PNGs, segmentSec seconds each, scaled up 8×, at 25 frames per
    // second; extra: more ffmpeg output options. Empty on success.
    QString makeClip(const QStringList &frames, const QString &path, const QStringList &extra = {});
    QString videoFrame(int video, int frame) const
    {
        return QStringLiteral("%1/video%2_frame%3.png").arg(m_caseDir).arg(video).arg(frame);
    }
    QStringList videoFrames(int video) const
    {
        QStringList out;
        for (int i = 0; i < 4; ++i)
            out << videoFrame(video, i);
        return out;
    }
    engine::IndexResult index(double mergeCosine = 0.98, int videoFrames = 8);
    std::unique_ptr<catalog::Catalog> openCatalog();
    void registerModels();
    // childSetup: runs in the child before exec (resource limits).
    Run run(const QStringList &args, int timeoutMs = 180000, const std::function<void()> &childSetup = {});

    QString m_cli;
    QString m_caseDir;
    nlohmann::json m_case;
    QTemporaryDir m_shared;
    model::BundleInfo m_bundle;
    model::BundleInfo m_vqaBundle;
    std::shared_ptr<engine::RetrievalModel> m_model;
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_data;
    QString m_videos;
};

void TestVideoIndex::initTestCase()
{
    // UNISEARCH_CLI: another build of the CLI to test (an older one, to see a test fail).
    m_cli = qEnvironmentVariable("UNISEARCH_CLI", QStringLiteral(UNISEARCH_CLI_PATH));
    QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli));
    QVERIFY2(!test::ffmpegProgram().isEmpty(), "the ffmpeg program is needed (Debian package ffmpeg)");
    QVERIFY2(test::hasEncoder(QStringLiteral("libx264")), "ffmpeg lacks the libx264 encoder");
    QVERIFY(m_shared.isValid());
    m_caseDir = test::caseDir(QStringLiteral("retrieval-video"));
    m_case = test::readCase(QStringLiteral("retrieval-video"));
    auto import = [&](const QString &caseName, const char *task, const char *name) {
        return test::importCaseModel(caseName, task, name, m_shared.filePath(QStringLiteral("models"))).bundle;
    };
    m_bundle = import(QStringLiteral("retrieval-video"), "retrieval", "fixture");
    m_vqaBundle = import(QStringLiteral("vqa"), "vqa", "fixture-vqa");
    qputenv("UNISEARCH_VOCAB", test::vocabPath().toUtf8());
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    QString error;
    m_model = engine::RetrievalModel::fromRunner(model::ModelRunner::load(m_bundle.architecture, m_bundle.weightsPath),
                                                 QStringLiteral("fixture"), QString::fromStdString(m_bundle.fingerprint),
                                                 &error);
    QVERIFY2(m_model, qPrintable(error));
}

void TestVideoIndex::init()
{
    QVERIFY(test::makeWorkspace(m_tmp, m_data, m_videos, QStringLiteral("videos")));
    registerModels();
}

void TestVideoIndex::cleanup()
{
    m_tmp.reset();
}

void TestVideoIndex::registerModels()
{
    QString error;
    QVERIFY2(test::registerActiveModel(m_data, m_bundle, QStringLiteral("fixture"), QStringLiteral("retrieval"), &error),
             qPrintable(error));
    QVERIFY2(test::registerActiveModel(m_data, m_vqaBundle, QStringLiteral("fixture-vqa"), QStringLiteral("vqa"), &error),
             qPrintable(error));
    auto cat = openCatalog();
    QVERIFY(cat);
    cat->addRoot(m_videos);
}

std::unique_ptr<catalog::Catalog> TestVideoIndex::openCatalog()
{
    catalog::OpenResult r = catalog::Catalog::open(m_data);
    if (!r)
        qWarning("%s", qPrintable(r.error));
    return std::move(r.catalog);
}

QString TestVideoIndex::makeClip(const QStringList &frames, const QString &path, const QStringList &extra)
{
    QStringList args;
    QString inputs;
    for (qsizetype i = 0; i < frames.size(); ++i) {
        args << QStringLiteral("-loop") << QStringLiteral("1") << QStringLiteral("-framerate") << QStringLiteral("25")
             << QStringLiteral("-t") << QString::number(segmentSec) << QStringLiteral("-i") << frames[i];
        inputs += QStringLiteral("[%1:v]").arg(i);
    }
    args << QStringLiteral("-filter_complex")
         << inputs + QStringLiteral("concat=n=%1:v=1:a=0,scale=256:256:flags=neighbor,format=yuv420p[v]").arg(frames.size())
         << QStringLiteral("-map") << QStringLiteral("[v]") << QStringLiteral("-c:v") << QStringLiteral("libx264")
         << QStringLiteral("-crf") << QStringLiteral("18") << QStringLiteral("-g") << QStringLiteral("50")
         << QStringLiteral("-threads") << QStringLiteral("1") << extra << path;
    return test::runFfmpeg(args);
}

engine::IndexResult TestVideoIndex::index(double mergeCosine, int videoFrames)
{
    engine::IndexParams p;
    p.dataDir = m_data;
    p.paths = {m_videos};
    p.model = m_model;
    p.batchSize = 4;
    p.decodeThreads = 2;
    p.videoSegmentSeconds = segmentSec;
    p.videoMergeCosine = mergeCosine;
    p.videoFrames = videoFrames;
    engine::IndexJob job(p);
    const engine::IndexResult r = job.run();
    if (!r.ok)
        qWarning("index failed: %s", qPrintable(r.error));
    return r;
}

Run TestVideoIndex::run(const QStringList &args, int timeoutMs, const std::function<void()> &childSetup)
{
    QProcessEnvironment env = test::cliEnvironment(m_data, m_tmp->path());
    return unisearch::test::runProgram(m_cli, QStringList{QStringLiteral("--threads"), QStringLiteral("1")} + args, env, timeoutMs,
                                       childSetup);
}

void TestVideoIndex::bestMomentIsTheFrameTheQueryPicks()
{
    // The fixture's frame features against its caption features: for each of the two
    // videos and each caption (those that pre_caption leaves as they are), the best frame
    // and its lead over the second best. The test takes the clearest pick.
    const test::Npy frameFeat = test::readNpy(m_caseDir + QStringLiteral("/frame_feat.npy"));
    const test::Npy textFeat = test::readNpy(m_caseDir + QStringLiteral("/text_feat.npy"));
    const int dim = int(frameFeat.shape[2]);
    int bestVideo = -1, bestCaption = -1, bestFrame = -1;
    double bestLead = 0;
    for (int v = 0; v < 2; ++v)
        for (int c = 0; c < 3; ++c) {
            std::vector<double> sims;
            for (int f = 0; f < 4; ++f) {
                double s = 0;
                for (int k = 0; k < dim; ++k)
                    s += double(frameFeat.at({v, f, k})) * double(textFeat.at({c, k}));
                sims.push_back(s);
            }
            const int top = int(std::max_element(sims.begin(), sims.end()) - sims.begin());
            double second = -1e9;
            for (int f = 0; f < 4; ++f)
                if (f != top)
                    second = std::max(second, sims[size_t(f)]);
            if (sims[size_t(top)] - second > bestLead) {
                bestLead = sims[size_t(top)] - second;
                bestVideo = v;
                bestCaption = c;
                bestFrame = top;
            }
        }
    // Clearly: the lead is several times what lossy encoding may move a similarity.
    QVERIFY2(bestLead > 10 * FEATURE_TOL, qPrintable(QString::number(bestLead)));

    const QString clip = m_videos + QStringLiteral("/clip.mp4");
    QString err = makeClip(videoFrames(bestVideo), clip);
    QVERIFY2(err.isEmpty(), qPrintable(err));
    const engine::IndexResult r = index();
    QVERIFY(r.ok);
    QCOMPARE(r.videosEmbedded, 1);
    QCOMPARE(r.failed, 0);
    QCOMPARE(r.segmentsStored, 4);  // distinct frames: nothing merged

    auto cat = openCatalog();
    const auto item = cat->itemByPath(clip);
    QVERIFY(item);
    QCOMPARE(catalog::toString(item->type), QStringLiteral("video"));
    QCOMPARE(catalog::toString(item->status), QStringLiteral("indexed"));
    QVERIFY(std::abs(item->durationS - 12.0) < 0.1);
    QCOMPARE(item->width, 256);
    // Segments: 0–3, 3–6, 6–9, 9–12 s, plus the video-level (0, 0).
    const QList<catalog::Segment> segments = cat->segments(item->id);
    QCOMPARE(segments.size(), 5);
    QCOMPARE(segments[0].startMs, 0);
    QCOMPARE(segments[0].endMs, 0);
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(segments[i + 1].startMs, i * 3000);
        QCOMPARE(segments[i + 1].endMs, (i + 1) * 3000);
    }
    const engine::IndexState state = engine::readIndexState(*cat, m_data);
    QCOMPARE(state.indexedVideos, 1);
    QCOMPARE(state.pendingVideos, 0);
    QCOMPARE(state.vectors, 5);

    QString error;
    auto session = engine::SearchSession::open(*cat, m_data, m_model, &error);
    QVERIFY2(session, qPrintable(error));
    engine::SearchParams sp;
    sp.text = QString::fromStdString(m_case.at("captions")[size_t(bestCaption)].get<std::string>());
    sp.top = 5;
    sp.momentMargin = 1.0;  // every segment as a moment, to check their order
    const auto found = session->searcher().search(sp, &error);
    QVERIFY2(found, qPrintable(error));
    QCOMPARE(found->hits.size(), 1);
    const engine::SearchHit &hit = found->hits.front();
    QCOMPARE(hit.path, clip);
    QCOMPARE(hit.startMs, bestFrame * 3000);
    QCOMPARE(hit.endMs, (bestFrame + 1) * 3000);
    QCOMPARE(hit.moments.size(), 4);
    QCOMPARE(hit.moments.front().startMs, hit.startMs);
    QCOMPARE(hit.moments.front().segmentId, hit.segmentId);
    for (qsizetype i = 1; i < hit.moments.size(); ++i)
        QVERIFY(hit.moments[i - 1].score >= hit.moments[i].score);
    // The moment's score is the frame's similarity to the caption, within the tolerance.
    double expected = 0;
    for (int k = 0; k < dim; ++k)
        expected += double(frameFeat.at({bestVideo, bestFrame, k})) * double(textFeat.at({bestCaption, k}));
    qInfo("best moment: score %.5f, reference frame similarity %.5f", hit.moments.front().score, expected);
    QVERIFY2(std::abs(hit.moments.front().score - expected) < FEATURE_TOL,
             qPrintable(QStringLiteral("%1 vs %2").arg(hit.moments.front().score).arg(expected)));
    // The item's score is its best vector (a moment or the video-level one).
    QVERIFY(hit.score >= hit.moments.front().score);

    // With the default margin, only moments close to the best are reported.
    engine::SearchParams tight = sp;
    tight.momentMargin = 0.0;
    const auto one = session->searcher().search(tight, &error);
    QVERIFY(one);
    QCOMPARE(one->hits.front().moments.size(), 1);
}

void TestVideoIndex::identicalNeighboursMerge()
{
    // Frames a a b c: the two a segments merge into 0–6 s; b and c (cosine far below
    // the threshold in the fixture) stay apart.
    const QString clip = m_videos + QStringLiteral("/merge.mp4");
    QString err = makeClip({videoFrame(1, 0), videoFrame(1, 0), videoFrame(1, 1), videoFrame(1, 2)}, clip);
    QVERIFY2(err.isEmpty(), qPrintable(err));
    const engine::IndexResult r = index(0.98);
    QVERIFY(r.ok);
    QCOMPARE(r.videosEmbedded, 1);
    QCOMPARE(r.segmentsStored, 3);
    auto cat = openCatalog();
    const QList<catalog::Segment> segments = cat->segments(cat->itemByPath(clip)->id);
    QCOMPARE(segments.size(), 4);
    QCOMPARE(segments[1].startMs, 0);
    QCOMPARE(segments[1].endMs, 6000);
    QCOMPARE(segments[2].startMs, 6000);
    QCOMPARE(segments[2].endMs, 9000);
    QCOMPARE(segments[3].startMs, 9000);
    QCOMPARE(segments[3].endMs, 12000);
}

void TestVideoIndex::videoFeatureMatchesTheReference()
{
    const test::Npy videoFeat = test::readNpy(m_caseDir + QStringLiteral("/video_feat.npy"));
    const size_t dim = size_t(videoFeat.shape[1]);
    for (int v = 0; v < 2; ++v) {
        const QString clip = m_videos + QStringLiteral("/video%1.mp4").arg(v);
        QString err = makeClip(videoFrames(v), clip);
        QVERIFY2(err.isEmpty(), qPrintable(err));
    }
    QVERIFY(index().ok);
    auto cat = openCatalog();
    for (int v = 0; v < 2; ++v) {
        const auto item = cat->itemByPath(m_videos + QStringLiteral("/video%1.mp4").arg(v));
        QVERIFY(item);
        std::optional<std::vector<float>> stored;
        for (const catalog::Segment &s : cat->segments(item->id))
            if (s.startMs == 0 && s.endMs == 0)
                stored = cat->vector(s.id, QString::fromStdString(m_bundle.fingerprint));
        QVERIFY(stored);
        const double diff = maxAbsDiff(*stored, videoFeat.f32.data() + size_t(v) * dim, dim);
        qInfo("video %d: video-level feature, max abs difference to the reference %.5f", v, diff);
        QVERIFY2(diff < FEATURE_TOL, qPrintable(QString::number(diff)));
    }
}

// A re-ranked video's frame tokens stay in the model's token cache like an image's: refining
// the query scores it again without sampling and encoding its frames, with the same numbers;
// another frame count is another entry.
void TestVideoIndex::rerankKeepsVideoTokens()
{
    for (int v = 0; v < 2; ++v) {
        const QString err = makeClip(videoFrames(v), m_videos + QStringLiteral("/video%1.mp4").arg(v));
        QVERIFY2(err.isEmpty(), qPrintable(err));
    }
    QVERIFY(index().ok);
    auto cat = openCatalog();
    QString error;
    const auto session = engine::SearchSession::open(*cat, m_data, m_model, &error);
    QVERIFY2(session, qPrintable(error));
    engine::TokenCache &cache = m_model->tokenCache();
    cache.clear();
    const auto rerank = [&](const QString &text, int frames) {
        engine::SearchParams p;
        p.text = text;
        p.top = 2;
        p.rerank = true;
        p.rerankCount = 2;
        p.videoRerankFrames = frames;
        QString why;
        const auto r = session->searcher().search(p, &why);
        if (!r)
            qWarning("search failed: %s", qPrintable(why));
        return r.value_or(engine::SearchResult{});
    };
    const auto probabilities = [](const engine::SearchResult &r) {
        QMap<QString, double> out;
        for (const engine::SearchHit &h : r.hits)
            if (h.itmProbability)
                out.insert(h.path, *h.itmProbability);
        return out;
    };
    const QString caption = QString::fromStdString(m_case.at("captions")[0].get<std::string>());

    const engine::SearchResult first = rerank(caption, 4);
    QVERIFY(first.reranked);
    QCOMPARE(probabilities(first).size(), 2);
    const engine::TokenCacheStats encoded = cache.stats();
    QCOMPARE(encoded.misses, 2);
    QCOMPARE(encoded.entries, size_t(2));

    // The same query again: the numbers of the frames, from the kept tokens.
    const engine::SearchResult again = rerank(caption, 4);
    QCOMPARE(cache.stats().misses, encoded.misses);
    QCOMPARE(cache.stats().hits - encoded.hits, 2);
    const QMap<QString, double> a = probabilities(first), b = probabilities(again);
    QCOMPARE(b.keys(), a.keys());
    for (const QString &path : a.keys())
        QVERIFY2(std::abs(a[path] - b[path]) < 1e-6, qPrintable(QStringLiteral("%1: %2 vs %3").arg(path).arg(a[path]).arg(b[path])));
    // A refined query: no frame encoded again.
    QVERIFY(rerank(caption + QStringLiteral(" outside"), 4).reranked);
    QCOMPARE(cache.stats().misses, encoded.misses);
    // Two frames instead of four: other tokens.
    QVERIFY(rerank(caption, 2).reranked);
    QCOMPARE(cache.stats().misses, encoded.misses + 2);
    QCOMPARE(cache.stats().entries, size_t(4));
}

void TestVideoIndex::badVideosAreRecordedAndTheRestIndexed()
{
    const QString good = m_videos + QStringLiteral("/good.mp4");
    QString err = makeClip(videoFrames(0), good);
    QVERIFY2(err.isEmpty(), qPrintable(err));
    QVERIFY(test::writeTruncatedCopy(good, m_videos + QStringLiteral("/truncated.mp4"), 0.4));
    err = test::runFfmpeg({QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"),
                           QStringLiteral("sine=duration=2"), QStringLiteral("-c:a"), QStringLiteral("aac"),
                           m_videos + QStringLiteral("/audio-only.mp4")});
    QVERIFY2(err.isEmpty(), qPrintable(err));
    {
        QFile f(m_videos + QStringLiteral("/notavideo.mp4"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("this is text, not a video\n");
        QFile z(m_videos + QStringLiteral("/empty.mkv"));
        QVERIFY(z.open(QIODevice::WriteOnly));
    }
    const engine::IndexResult r = index();
    QVERIFY2(r.ok, qPrintable(r.error));
    QCOMPARE(r.videosEmbedded, 1);
    QStringList failed;
    for (const engine::IndexFileError &e : r.errors) {
        failed << QFileInfo(e.path).fileName();
        QVERIFY2(!e.message.isEmpty(), qPrintable(e.path));
    }
    failed.sort();
    QVERIFY2(failed.contains(QStringLiteral("truncated.mp4")), qPrintable(failed.join(' ')));
    QVERIFY2(failed.contains(QStringLiteral("audio-only.mp4")), qPrintable(failed.join(' ')));
    QVERIFY2(failed.contains(QStringLiteral("notavideo.mp4")), qPrintable(failed.join(' ')));
    auto cat = openCatalog();
    QCOMPARE(catalog::toString(cat->itemByPath(good)->status), QStringLiteral("indexed"));
    for (const QString &name : {QStringLiteral("truncated.mp4"), QStringLiteral("audio-only.mp4")}) {
        const auto it = cat->itemByPath(m_videos + QLatin1Char('/') + name);
        QVERIFY2(it, qPrintable(name));
        QCOMPARE(catalog::toString(it->status), QStringLiteral("error"));
        QVERIFY(cat->segments(it->id).isEmpty());
    }
    // The next run does not retry them (the files did not change), nor re-embed the clip.
    const engine::IndexResult again = index();
    QVERIFY(again.ok);
    QCOMPARE(again.videosEmbedded, 0);
    QCOMPARE(again.failed, 0);
}

void TestVideoIndex::movedVideoIsNotEmbeddedAgain()
{
    const QString clip = m_videos + QStringLiteral("/a.mp4");
    QString err = makeClip(videoFrames(1), clip);
    QVERIFY2(err.isEmpty(), qPrintable(err));
    QVERIFY(index().ok);
    auto cat = openCatalog();
    const auto before = cat->itemByPath(clip);
    QVERIFY(before);
    const QList<catalog::Segment> segsBefore = cat->segments(before->id);
    cat.reset();

    QVERIFY(QDir().mkpath(m_videos + QStringLiteral("/moved")));
    const QString moved = m_videos + QStringLiteral("/moved/b.mp4");
    QVERIFY(QFile::rename(clip, moved));
    const engine::IndexResult r = index();
    QVERIFY(r.ok);
    QCOMPARE(r.moved, 1);
    QCOMPARE(r.videosEmbedded, 0);
    QCOMPARE(r.framesEmbedded, 0);
    cat = openCatalog();
    QVERIFY(!cat->itemByPath(clip));
    const auto after = cat->itemByPath(moved);
    QVERIFY(after);
    QCOMPARE(after->id, before->id);
    const QList<catalog::Segment> segsAfter = cat->segments(after->id);
    QCOMPARE(segsAfter.size(), segsBefore.size());
    for (qsizetype i = 0; i < segsAfter.size(); ++i)
        QCOMPARE(segsAfter[i].id, segsBefore[i].id);
}

void TestVideoIndex::lyingDurationCostsOnlyItsFrames_data()
{
    // The clip: 300 frames (12 s at 25 fps) before patching. maxSegments: the most its
    // frames can fill with the CLI's 4-s segments, within the 21,600 segments (86,400 s)
    // planned at most per video.
    QTest::addColumn<QString>("name");
    QTest::addColumn<quint32>("timescale");     // MP4: the patched mdhd and stts
    QTest::addColumn<quint32>("mdhdDuration");
    QTest::addColumn<quint32>("sttsDelta");
    QTest::addColumn<double>("mkvDuration");    // Matroska (WebM): the patched Duration, seconds
    QTest::addColumn<int>("maxSegments");
    QTest::addColumn<double>("realEnd");  // where the frames end, when before the claim (else 0)
    // The report's file: 4.29e9 s claimed, frames 2^31 s (68 years) apart; before the fix
    // about 1e9 segments were planned (12 GB in 70 s, the job ended "std::exception").
    QTest::newRow("mp4 claims 4.29e9 s") << "img2_lying.mp4" << 1u << 0xffffffffu << 0x7fffffffu << 0.0 << 1 << 0.0;
    // 1e6 s claimed and the frames spread over it (3334 s apart): before the fix 250,008
    // frames were embedded; within 86,400 s lie 26 of them.
    QTest::newRow("mp4 claims 1e6 s, frames spread") << "img2_lying.mp4" << 1u << 1'000'000u << 3334u << 0.0 << 26 << 0.0;
    // 1e6 s claimed, the frames where they were (12 s): the plan ends where they do (before
    // the fix the video failed: "stops before its stated duration"). WebM, as Matroska
    // without a video DocType is not taken for a video (media/mediatype.cpp).
    QTest::newRow("webm claims 1e6 s, frames end at 12 s") << "img2_lying.webm" << 0u << 0u << 0u << 1e6 << 3 << 12.0;
}

void TestVideoIndex::lyingDurationCostsOnlyItsFrames()
{
    QFETCH(QString, name);
    QFETCH(quint32, timescale);
    QFETCH(quint32, mdhdDuration);
    QFETCH(quint32, sttsDelta);
    QFETCH(double, mkvDuration);
    QFETCH(int, maxSegments);
    QFETCH(double, realEnd);
    // Photos around the clip in the scan order (img2.png < img2_lying.mp4 < img3.png).
    constexpr int photos = 6;
    QVERIFY(test::writePatternImages(m_videos, photos, 14));
    const QString clip = m_videos + QLatin1Char('/') + name;
    // MP4 without B-frames: composition offsets (ctts) would be stretched with the timescale
    // too. WebM takes VP9 (fast settings).
    const QStringList codec = mkvDuration > 0 ? QStringList{QStringLiteral("-c:v"), QStringLiteral("libvpx-vp9"),
                                                            QStringLiteral("-b:v"), QStringLiteral("0"),
                                                            QStringLiteral("-deadline"), QStringLiteral("realtime"),
                                                            QStringLiteral("-cpu-used"), QStringLiteral("8")}
                                              : QStringList{QStringLiteral("-bf"), QStringLiteral("0")};
    QString err = makeClip(videoFrames(0), clip, codec);
    QVERIFY2(err.isEmpty(), qPrintable(err));
    err = mkvDuration > 0 ? patchMkvDuration(clip, mkvDuration) : patchMp4Timing(clip, timescale, mdhdDuration, sttsDelta);
    QVERIFY2(err.isEmpty(), qPrintable(err));

    // Under an address-space limit, so that a regression fails here instead of taking the
    // machine's memory (a run of the CLI on this folder maps about 1.2 GB).
    constexpr rlim_t addressSpace = 4ULL << 30;
    const auto limited = [] {
        const struct rlimit r{addressSpace, addressSpace};
        ::setrlimit(RLIMIT_AS, &r);
    };
    auto indexOnce = [&] { return run({QStringLiteral("index"), m_videos, QStringLiteral("--json")}, 120000, limited); };
    const Run first = indexOnce();
    VERIFY_RUN(first, 0);
    QVERIFY2(!first.err.contains(QLatin1String("std::exception")), qPrintable(first.err));
    const QJsonObject j = first.json();
    QVERIFY2(j.value(QStringLiteral("ok")).toBool(), qPrintable(first.out));

    auto cat = openCatalog();
    QVERIFY(cat);
    for (int i = 0; i < photos; ++i) {
        const auto photo = cat->itemByPath(m_videos + QStringLiteral("/img%1.png").arg(i));
        QVERIFY2(photo, qPrintable(QString::number(i)));
        QCOMPARE(catalog::toString(photo->status), QStringLiteral("indexed"));
    }
    const auto video = cat->itemByPath(clip);
    QVERIFY(video);
    const QList<catalog::Segment> segments = cat->segments(video->id);
    qInfo("the video: %s, %lld segments stored (video-level one included), %lld frames embedded, %.1f s",
          qPrintable(catalog::toString(video->status)), static_cast<long long>(segments.size()),
          static_cast<long long>(j.value(QStringLiteral("videoFramesEmbedded")).toInteger()),
          j.value(QStringLiteral("seconds")).toDouble());
    // Indexed for what its frames hold: its segments and the video-level one, at most one
    // embedding per segment plus the 8 video-level frames.
    QVERIFY2(video->status == catalog::ItemStatus::Indexed, qPrintable(video->error));
    QVERIFY(segments.size() >= 2);
    QVERIFY2(segments.size() <= maxSegments + 1, qPrintable(QString::number(segments.size())));
    QVERIFY(j.value(QStringLiteral("videoFramesEmbedded")).toInteger() <= maxSegments + 8);
    const std::int64_t endMs = realEnd > 0 ? std::llround(realEnd * 1000) : 86'400'000;
    for (const catalog::Segment &s : segments)
        QVERIFY2(s.endMs <= endMs, qPrintable(QString::number(s.endMs)));
    // The stored duration is what decoding found, when the frames end before the claim.
    if (realEnd > 0)
        QVERIFY2(std::abs(video->durationS - realEnd) < 0.1, qPrintable(QString::number(video->durationS)));

    // The next run does not repeat anything: nothing failed, nothing embedded again.
    cat.reset();
    const Run second = indexOnce();
    VERIFY_RUN(second, 0);
    const QJsonObject j2 = second.json();
    QVERIFY2(j2.value(QStringLiteral("ok")).toBool(), qPrintable(second.out));
    QCOMPARE(j2.value(QStringLiteral("failed")).toInteger(), 0);
    QCOMPARE(j2.value(QStringLiteral("embedded")).toInteger(), 0);
    QCOMPARE(j2.value(QStringLiteral("videosEmbedded")).toInteger(), 0);
}

void TestVideoIndex::exceptionInOneFileFailsOnlyThatFile()
{
    // Whatever goes wrong while one file is processed (here std::bad_alloc) fails that file
    // with its reason, and the job goes on with the rest. Made to happen: 2^31 - 1
    // video-level frames asked for, whose times alone need 17 GB, under an address-space
    // limit of what this process maps plus 3 GB (so that nothing is ever really allocated).
    constexpr int photos = 4;
    QVERIFY(test::writePatternImages(m_videos, photos, 15));
    const QString clip = m_videos + QStringLiteral("/img1_clip.mp4");
    const QString err = makeClip(videoFrames(1), clip);
    QVERIFY2(err.isEmpty(), qPrintable(err));

    QFile status(QStringLiteral("/proc/self/status"));
    QVERIFY(status.open(QIODevice::ReadOnly));
    const QRegularExpressionMatch vm = QRegularExpression(QStringLiteral("VmSize:\\s+(\\d+) kB")).match(status.readAll());
    QVERIFY(vm.hasMatch());
    struct rlimit old{};
    QVERIFY(::getrlimit(RLIMIT_AS, &old) == 0);
    struct rlimit tight = old;  // only the soft limit: it can be raised again
    tight.rlim_cur = rlim_t(vm.captured(1).toULongLong() * 1024 + (3ULL << 30));
    QVERIFY(tight.rlim_max == RLIM_INFINITY || tight.rlim_cur < tight.rlim_max);
    QVERIFY(::setrlimit(RLIMIT_AS, &tight) == 0);
    auto restore = qScopeGuard([&] { ::setrlimit(RLIMIT_AS, &old); });
    const engine::IndexResult r = index(0.98, std::numeric_limits<int>::max());
    restore.dismiss();
    QVERIFY(::setrlimit(RLIMIT_AS, &old) == 0);

    QVERIFY2(r.ok, qPrintable(r.error));
    QCOMPARE(r.embedded, photos);
    QCOMPARE(r.failed, 1);
    QCOMPARE(r.errors.front().path, clip);
    QVERIFY2(r.errors.front().message.contains(QLatin1String("out of memory")), qPrintable(r.errors.front().message));
    auto cat = openCatalog();
    QCOMPARE(catalog::toString(cat->itemByPath(clip)->status), QStringLiteral("error"));
    cat.reset();
    // The next run does not try it again (the file did not change).
    const engine::IndexResult again = index();
    QVERIFY2(again.ok, qPrintable(again.error));
    QCOMPARE(again.failed, 0);
    QCOMPARE(again.videosEmbedded, 0);
}

void TestVideoIndex::cliItmEmbedAndSearchFromAVideoFile()
{
    const test::Npy itm = test::readNpy(m_caseDir + QStringLiteral("/itm_logits.npy"));
    const test::Npy itmFa = test::readNpy(m_caseDir + QStringLiteral("/itm_logits_frame_aware.npy"));
    const test::Npy videoFeat = test::readNpy(m_caseDir + QStringLiteral("/video_feat.npy"));
    QStringList textArgs;
    const auto captions = m_case.at("captions");
    for (const auto &c : captions)
        textArgs << QStringLiteral("--text") << QString::fromStdString(c.get<std::string>());
    for (int v = 0; v < 2; ++v) {
        const QString clip = m_videos + QStringLiteral("/video%1.mp4").arg(v);
        QString err = makeClip(videoFrames(v), clip);
        QVERIFY2(err.isEmpty(), qPrintable(err));
        for (bool frameAware : {false, true}) {
            QStringList args{QStringLiteral("itm"), QStringLiteral("--frames"), clip, QStringLiteral("--count"),
                             QStringLiteral("4"), QStringLiteral("--json")};
            if (frameAware)
                args << QStringLiteral("--frame-aware");
            const Run r = run(args + textArgs);
            QVERIFY2(r.exitCode == 0, qPrintable(r.err));
            const QJsonArray results = r.json().value(QStringLiteral("results")).toArray();
            QCOMPARE(results.size(), qsizetype(captions.size()));
            const test::Npy &ref = frameAware ? itmFa : itm;
            double worst = 0;
            for (int c = 0; c < int(captions.size()); ++c) {
                const QJsonArray logits = results[c].toObject().value(QStringLiteral("logits")).toArray();
                for (int k = 0; k < 2; ++k) {
                    const double got = logits[k].toDouble();
                    const double want = ref.at({v, c, k});
                    worst = std::max(worst, std::abs(got - want));
                    QVERIFY2(std::abs(got - want) < LOGIT_TOL,
                             qPrintable(QStringLiteral("video %1 caption %2 logit %3 frame-aware %4: %5 vs %6")
                                            .arg(v).arg(c).arg(k).arg(frameAware).arg(got).arg(want)));
                }
            }
            qInfo("video %d: itm logits%s, max abs difference to the reference %.5f", v,
                  frameAware ? " (frame-aware)" : "", worst);
        }
        const Run e = run({QStringLiteral("embed"), QStringLiteral("frames"), clip, QStringLiteral("--json")});
        QVERIFY2(e.exitCode == 0, qPrintable(e.err));
        const std::vector<float> f = jsonFloats(e.json().value(QStringLiteral("feature")).toArray());
        const size_t dim = size_t(videoFeat.shape[1]);
        const double diff = maxAbsDiff(f, videoFeat.f32.data() + size_t(v) * dim, dim);
        qInfo("video %d: embed frames CLIP, max abs difference to video_feat %.5f", v, diff);
        QVERIFY2(diff < FEATURE_TOL, qPrintable(QString::number(diff)));
    }

    // search --json lists the moments of the video hits.
    const Run indexed = run({QStringLiteral("index"), m_videos, QStringLiteral("--json")});
    QVERIFY2(indexed.exitCode == 0, qPrintable(indexed.err));
    QCOMPARE(indexed.json().value(QStringLiteral("videosEmbedded")).toInt(), 2);
    const Run s = run({QStringLiteral("search"), QString::fromStdString(captions[0].get<std::string>()),
                       QStringLiteral("--json")});
    QVERIFY2(s.exitCode == 0, qPrintable(s.err));
    const QJsonArray results = s.json().value(QStringLiteral("results")).toArray();
    QCOMPARE(results.size(), 2);
    for (const QJsonValue &v : results) {
        const QJsonObject o = v.toObject();
        QCOMPARE(o.value(QStringLiteral("type")).toString(), QStringLiteral("video"));
        const QJsonArray moments = o.value(QStringLiteral("moments")).toArray();
        QVERIFY(!moments.isEmpty());
        const QJsonObject best = moments.first().toObject();
        QCOMPARE(best.value(QStringLiteral("startMs")).toInteger(), o.value(QStringLiteral("startMs")).toInteger());
        QCOMPARE(best.value(QStringLiteral("endMs")).toInteger(), o.value(QStringLiteral("endMs")).toInteger());
        // The CLI indexes with the default 4 s segments: 0–4, 4–8, 8–12 s.
        QCOMPARE(best.value(QStringLiteral("endMs")).toInteger() - best.value(QStringLiteral("startMs")).toInteger(),
                 4000);
    }
    // --rerank scores videos with ITM over their frames (frame-aware): a probability each.
    const Run rr = run({QStringLiteral("search"), QString::fromStdString(captions[0].get<std::string>()),
                        QStringLiteral("--rerank"), QStringLiteral("--json")});
    QVERIFY2(rr.exitCode == 0, qPrintable(rr.err));
    for (const QJsonValue &v : rr.json().value(QStringLiteral("results")).toArray()) {
        const double p = v.toObject().value(QStringLiteral("itmProbability")).toDouble(-1);
        QVERIFY(p > 0 && p < 1);
    }
}

void TestVideoIndex::cliAskAboutAVideoAndAMoment()
{
    // The VQA fixture's answers are for single images. A clip of one image gives T equal
    // frames, and attention over T copies of the same tokens equals attention over one
    // copy: `ask CLIP` must give the image's answer. `ask CLIP@TIME` takes the frame at
    // TIME of a clip of two images.
    const nlohmann::json c = test::readCase(QStringLiteral("vqa"));
    const QString vqaDir = test::caseDir(QStringLiteral("vqa"));
    const QString answers = m_tmp->filePath(QStringLiteral("answers.txt"));
    {
        QFile f(answers);
        QVERIFY(f.open(QIODevice::WriteOnly));
        for (const auto &a : c.at("answer_list"))
            f.write(QByteArray::fromStdString(a.get<std::string>()) + '\n');
    }
    const QString k = QString::number(c.at("k").get<int>());
    const QString img0 = vqaDir + QStringLiteral("/img0.png");
    const QString img1 = vqaDir + QStringLiteral("/img1.png");
    // A name with '@' that exists is the file itself.
    const QString still = m_videos + QStringLiteral("/still@home.mp4");
    QString err = makeClip({img0, img0}, still);
    QVERIFY2(err.isEmpty(), qPrintable(err));
    const QString both = m_videos + QStringLiteral("/both.mp4");
    err = makeClip({img0, img1}, both);
    QVERIFY2(err.isEmpty(), qPrintable(err));

    auto ask = [&](const QString &file, int q) {
        const Run r = run({QStringLiteral("ask"), file,
                           QString::fromStdString(c.at("questions")[size_t(q)].get<std::string>()),
                           QStringLiteral("--answers"), answers, QStringLiteral("--top-k"), k, QStringLiteral("--json")});
        if (r.exitCode != 0)
            qWarning("%s", qPrintable(r.err));
        return r.json();
    };
    const QString want0 = QString::fromStdString(c.at("answers")[0].get<std::string>());
    const QString want1 = QString::fromStdString(c.at("answers")[1].get<std::string>());
    const QJsonObject a = ask(still, 0);
    QCOMPARE(a.value(QStringLiteral("video")).toBool(), true);
    QCOMPARE(a.value(QStringLiteral("answer")).toString(), want0);
    QCOMPARE(ask(both + QStringLiteral("@1.5"), 0).value(QStringLiteral("answer")).toString(), want0);
    const QJsonObject at = ask(both + QStringLiteral("@0:04.5"), 1);
    QCOMPARE(at.value(QStringLiteral("timeSec")).toDouble(), 4.5);
    QCOMPARE(at.value(QStringLiteral("answer")).toString(), want1);
    // Times outside the clip and bad times are errors a person can act on.
    const Run late = run({QStringLiteral("ask"), both + QStringLiteral("@1:00"), QStringLiteral("what?")});
    QVERIFY(late.exitCode != 0);
    QVERIFY2(late.err.contains(QStringLiteral("outside")), qPrintable(late.err));
    const Run bad = run({QStringLiteral("ask"), both + QStringLiteral("@soon"), QStringLiteral("what?")});
    QVERIFY(bad.exitCode != 0);
    QVERIFY2(bad.err.contains(QStringLiteral("invalid time")), qPrintable(bad.err));
}

void TestVideoIndex::timesParse()
{
    QCOMPARE(engine::parseVideoTime(QStringLiteral("12.5")).value_or(-1), 12.5);
    QCOMPARE(engine::parseVideoTime(QStringLiteral("75")).value_or(-1), 75.0);
    QCOMPARE(engine::parseVideoTime(QStringLiteral("1:15")).value_or(-1), 75.0);
    QCOMPARE(engine::parseVideoTime(QStringLiteral("90:00")).value_or(-1), 5400.0);
    QCOMPARE(engine::parseVideoTime(QStringLiteral("01:02:03.5")).value_or(-1), 3723.5);
    QVERIFY(!engine::parseVideoTime(QStringLiteral("1:75")));
    QVERIFY(!engine::parseVideoTime(QStringLiteral("1:60:00")));
    QVERIFY(!engine::parseVideoTime(QStringLiteral("-3")));
    QVERIFY(!engine::parseVideoTime(QStringLiteral("1:2:3:4")));
    QVERIFY(!engine::parseVideoTime(QStringLiteral("")));
    QVERIFY(!engine::parseVideoTime(QStringLiteral("abc")));
}

QTEST_GUILESS_MAIN(TestVideoIndex)
#include "tst_video_index.moc"
