// `unisearch-bench waits`: what a person waits for, measured as a person meets it. In a
// data dir of its own (with its own settings) it imports a full-size retrieval model (384 px)
// and a full-size VQA model (480 px) with random weights through `unisearch-cli model import`,
// indexes generated photos with `unisearch-cli index`, then runs each command as a fresh child
// process (once to warm the page cache, then --reps times) and reports the median and maximum
// wall time and the child's peak resident memory (wait4's ru_maxrss, as /usr/bin/time).
// Last, in this process, the window's paths: a search session opened from the engine's plan,
// warmed up where the session can, and the first query after it is ready; and the question
// model readied on its own thread as the ask panel's first use does (InferenceWorker,
// InferenceService::warmUpQuestions), then a question about a photo and one about another, and
// one about a photo shown first (its vision tower run then, as the window does).
#include "bench_waits.h"
#include "benchsupport.h"

#include "engine/engine.h"
#include "engine/inference.h"
#include "engine/modelimage.h"
#include "engine/search.h"
#include "media/imagedecoder.h"
#include "model/architecture.h"
#include "model/modelrunner.h"
#include "model/preprocess.h"
#include "model/runtime.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPainter>
#include <QRandomGenerator>
#include <QTemporaryDir>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace {

using Clock = std::chrono::steady_clock;
namespace engine = unisearch::engine;
namespace media = unisearch::media;
namespace model = unisearch::model;
using unisearch::bench::loadAverage;

struct Options {
    int photos = 30;
    int reps = 3;
    int newPhotos = 8;   // 12-MP photos indexed in the `index` measurement
    QString keep;        // keep (and reuse) the data dir here
    QString tmp;         // parent of the temporary dir
    QString cli;         // unisearch-cli; default: next to this executable
    bool json = false;
    bool windowOnly = false; // only the in-process window rows (no child commands, no indexing)
};

// One measured command, its target from issue 13 and what it measured.
struct Wait {
    QString name;
    QStringList args;
    double targetS = 0;       // wall-time target (0: none)
    double targetMb = 0;      // peak-memory target (0: none)
    int perPhoto = 0;         // > 0: also report wall / perPhoto (indexing)
    std::vector<double> wall; // seconds, one per repetition
    std::vector<double> rssMb;
    QString error;
};

struct ChildResult {
    bool ok = false;
    double wallS = 0;
    double maxRssMb = 0;
    QString error; // the child's exit and the end of its stderr
};

void printUsage(FILE *out)
{
    std::fprintf(out, "usage: unisearch-bench waits [--photos N] [--reps N] [--new-photos N] [--keep DIR] [--tmp DIR]\n"
                      "                             [--cli PATH] [--window-only] [--json]\n"
                      "  --photos N      1600x1200 photos indexed before the searches (default 30)\n"
                      "  --reps N        measured runs of each command after one warm run (default 3;\n"
                      "                  indexing: min(N, 3) runs, each of a new folder)\n"
                      "  --new-photos N  4000x3000 photos per indexing run (default 8)\n"
                      "  --keep DIR      keep the data dir there; a later run reuses it and skips the setup\n"
                      "  --tmp DIR       where the temporary data dir goes (default: the system's)\n"
                      "  --cli PATH      the unisearch-cli to measure (default: next to this program)\n"
                      "  --window-only   only the window's waits, in this process (first query, question);\n"
                      "                  runs no command and indexes nothing into a kept dir\n");
}

bool parse(int argc, char **argv, Options &o)
{
    using unisearch::bench::optionValue;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--photos") o.photos = std::clamp(std::atoi(optionValue("waits", argc, argv, i)), 2, 10000);
        else if (a == "--reps") o.reps = std::clamp(std::atoi(optionValue("waits", argc, argv, i)), 1, 1000);
        else if (a == "--new-photos") o.newPhotos = std::clamp(std::atoi(optionValue("waits", argc, argv, i)), 1, 1000);
        else if (a == "--keep") o.keep = QString::fromLocal8Bit(optionValue("waits", argc, argv, i));
        else if (a == "--tmp") o.tmp = QString::fromLocal8Bit(optionValue("waits", argc, argv, i));
        else if (a == "--cli") o.cli = QString::fromLocal8Bit(optionValue("waits", argc, argv, i));
        else if (a == "--json") o.json = true;
        else if (a == "--window-only") o.windowOnly = true;
        else if (a == "--help" || a == "-h") { printUsage(stdout); std::exit(0); }
        else { printUsage(stderr); return false; }
    }
    return true;
}

// The children's environment: ours, with the bench's data dir, cache and settings. The
// variables this program's own restart for OpenMP added (model::ensureThreadEnvironment:
// UNISEARCH_NO_REEXEC marks it) are dropped, so that each child starts as it does from a
// shell, restart included.
std::vector<std::string> childEnvironment(const QString &root)
{
    const bool restarted = std::getenv("UNISEARCH_NO_REEXEC") != nullptr;
    const std::vector<std::string> added = model::threadRestartVariables();
    std::vector<std::string> env;
    for (char **e = environ; *e; ++e) {
        const std::string s = *e;
        if (restarted && std::find(added.begin(), added.end(), s) != added.end())
            continue;
        if (s.rfind("UNISEARCH_DATA_DIR=", 0) != 0 && s.rfind("UNISEARCH_CACHE_DIR=", 0) != 0
            && s.rfind("XDG_CONFIG_HOME=", 0) != 0)
            env.push_back(s);
    }
    env.push_back("UNISEARCH_DATA_DIR=" + (root + QStringLiteral("/data")).toStdString());
    env.push_back("UNISEARCH_CACHE_DIR=" + (root + QStringLiteral("/cache")).toStdString());
    env.push_back("XDG_CONFIG_HOME=" + (root + QStringLiteral("/config")).toStdString());
    return env;
}

// Linux charges a child the peak of the memory it was forked from (ru_maxrss survives exec),
// and this process holds LibTorch and, on a first run, the checkpoints it wrote. So the peak is
// read where /usr/bin/time reads it: from a small parent, GNU time itself (-f %M), when there
// is one; else from wait4 here, which is then only an upper bound (said in the table).
const char *const kGnuTime = "/usr/bin/time";

bool haveGnuTime() { return ::access(kGnuTime, X_OK) == 0; }

// The child's peak resident memory in MB as GNU time wrote it to path (its last line, in KiB).
std::optional<double> readTimeOutput(const std::string &path)
{
    QFile f(QString::fromStdString(path));
    if (!f.open(QIODevice::ReadOnly))
        return std::nullopt;
    const QList<QByteArray> lines = f.readAll().trimmed().split('\n');
    bool ok = false;
    const double kib = lines.isEmpty() ? 0 : lines.constLast().trimmed().toDouble(&ok);
    return ok ? std::optional<double>(kib / 1024.0) : std::nullopt;
}

// Runs cli with args as a child (stdout to /dev/null, stderr to a file), through GNU time when
// there is one, and waits for it.
ChildResult runChild(const QString &cli, const QStringList &args, const QString &root)
{
    ChildResult r;
    const std::string errPath = (root + QStringLiteral("/child-stderr.txt")).toStdString();
    const std::string timePath = (root + QStringLiteral("/child-time.txt")).toStdString();
    std::vector<std::string> argStore;
    if (haveGnuTime())
        argStore = {kGnuTime, "-f", "%M", "-o", timePath};
    argStore.push_back(cli.toStdString());
    for (const QString &a : args)
        argStore.push_back(a.toStdString());
    std::vector<char *> argvC;
    for (auto &s : argStore)
        argvC.push_back(s.data());
    argvC.push_back(nullptr);
    std::vector<std::string> envStore = childEnvironment(root);
    std::vector<char *> envC;
    for (auto &s : envStore)
        envC.push_back(s.data());
    envC.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    const auto start = Clock::now();
    const int spawned = posix_spawn(&pid, argvC[0], &actions, nullptr, argvC.data(), envC.data());
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        r.error = QStringLiteral("cannot start %1").arg(cli);
        return r;
    }
    int status = 0;
    struct rusage usage {};
    while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    r.wallS = std::chrono::duration<double>(Clock::now() - start).count();
    r.maxRssMb = double(usage.ru_maxrss) / 1024.0; // KiB on Linux
    r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (r.ok && haveGnuTime()) {
        const std::optional<double> mb = readTimeOutput(timePath);
        r.ok = mb.has_value();
        r.maxRssMb = mb.value_or(0);
    }
    if (!r.ok) {
        QFile f(QString::fromStdString(errPath));
        const QByteArray err = f.open(QIODevice::ReadOnly) ? f.readAll().right(600) : QByteArray();
        r.error = QStringLiteral("'%1' exited with %2: %3")
                      .arg(args.join(QLatin1Char(' ')))
                      .arg(WIFEXITED(status) ? WEXITSTATUS(status) : -1)
                      .arg(QString::fromUtf8(err).trimmed());
    }
    return r;
}

// A photo of shapes on a plain background; photo 0 holds a large red circle (the query's).
QImage shapesPhoto(int w, int h, int index)
{
    QRandomGenerator rng(quint32(1000 + index));
    QImage img(w, h, QImage::Format_RGB32);
    img.fill(QColor::fromHsv(int(rng.bounded(360)), 40, 220));
    QPainter p(&img);
    p.setRenderHint(QPainter::Antialiasing);
    p.setPen(Qt::NoPen);
    for (int i = 0; i < 6; ++i) {
        p.setBrush(QColor::fromHsv(int(rng.bounded(360)), 200, 200));
        const QRectF r(rng.bounded(w * 3 / 4), rng.bounded(h * 3 / 4), w / 8 + rng.bounded(w / 4), h / 8 + rng.bounded(h / 4));
        if (i % 2)
            p.drawRect(r);
        else
            p.drawEllipse(r);
    }
    if (index == 0) {
        p.setBrush(Qt::red);
        p.drawEllipse(QPointF(w / 2.0, h / 2.0), h / 3.0, h / 3.0);
    }
    return img;
}

bool writePhotos(const QString &dir, int count, int w, int h, int firstIndex)
{
    QDir().mkpath(dir);
    for (int i = 0; i < count; ++i)
        if (!shapesPhoto(w, h, firstIndex + i).save(QStringLiteral("%1/photo%2.jpg").arg(dir).arg(i, 4, 10, QLatin1Char('0')), "JPG", 90))
            return false;
    return true;
}

// Writes both random checkpoints, imports and activates them, writes and indexes the photos.
// A kept dir that finished this once is reused as it is: nothing is imported or indexed again;
// only photos the questions ask about that were deleted are written again (the same pixels:
// writePhotos is deterministic). A data dir without the mark of a finished set-up is refused
// rather than imported into again.
bool prepare(const Options &o, const QString &root, QString *error)
{
    const QString ready = root + QStringLiteral("/waits-ready");
    const QString photos = root + QStringLiteral("/photos");
    if (QFile::exists(ready)) {
        if (QFile::exists(photos + QStringLiteral("/photo0000.jpg")) && QFile::exists(photos + QStringLiteral("/photo0001.jpg")))
            return true;
        if (writePhotos(photos, o.photos, 1600, 1200, 0))
            return true;
        *error = QStringLiteral("cannot write the photos under %1").arg(root);
        return false;
    }
    if (QFile::exists(root + QStringLiteral("/data"))) {
        *error = QStringLiteral("%1 holds a data dir that no finished set-up marked (no waits-ready): it is left "
                                "as it is; choose another --keep")
                     .arg(root);
        return false;
    }
    QDir().mkpath(root + QStringLiteral("/models"));
    try {
        unisearch::model::Architecture retrieval; // BLIP-base sizes, 384 px
        unisearch::model::writeRandomCheckpoint(retrieval, (root + QStringLiteral("/models/waits-retrieval.safetensors")).toStdString(), false, 1);
        unisearch::model::Architecture vqa;
        vqa.vision.imageSize = 480;
        unisearch::model::writeRandomCheckpoint(vqa, (root + QStringLiteral("/models/waits-vqa.safetensors")).toStdString(), true, 2);
    } catch (const std::exception &e) {
        *error = QString::fromUtf8(e.what());
        return false;
    }
    if (!writePhotos(photos, o.photos, 1600, 1200, 0)) {
        *error = QStringLiteral("cannot write the photos under %1").arg(root);
        return false;
    }
    const QList<QStringList> steps = {
        {"model", "import", root + "/models/waits-retrieval.safetensors", "--task", "retrieval", "--replace"},
        {"model", "import", root + "/models/waits-vqa.safetensors", "--task", "vqa", "--replace"},
        {"model", "activate", "waits-retrieval"},
        {"model", "activate", "waits-vqa"},
        {"index", "--no-ocr", root + "/photos"},
    };
    for (const QStringList &step : steps) {
        const ChildResult r = runChild(o.cli, step, root);
        if (!r.ok) {
            *error = r.error;
            return false;
        }
    }
    QFile f(ready);
    return f.open(QIODevice::WriteOnly);
}

// Once to warm the page cache, then o.reps measured runs.
void measure(const Options &o, const QString &root, Wait &w)
{
    for (int i = 0; i <= o.reps; ++i) {
        const ChildResult r = runChild(o.cli, w.args, root);
        if (!r.ok) {
            w.error = r.error;
            return;
        }
        if (i > 0) {
            w.wall.push_back(r.wallS);
            w.rssMb.push_back(r.maxRssMb);
        }
    }
}

// Indexing: each repetition indexes a folder of o.newPhotos new 12-MP photos at default settings.
void measureIndex(const Options &o, const QString &root, Wait &w)
{
    for (int rep = 0; rep < o.reps && rep < 3; ++rep) {
        const QString dir = QStringLiteral("%1/new-%2-%3").arg(root).arg(QDateTime::currentMSecsSinceEpoch()).arg(rep);
        if (!writePhotos(dir, o.newPhotos, 4000, 3000, 100 + rep * o.newPhotos)) {
            w.error = QStringLiteral("cannot write photos under %1").arg(dir);
            return;
        }
        const ChildResult r = runChild(o.cli, {QStringLiteral("index"), dir}, root);
        if (!r.ok) {
            w.error = r.error;
            return;
        }
        w.wall.push_back(r.wallS);
        w.rssMb.push_back(r.maxRssMb);
    }
}

// Calls session.warmUp() where the session has one (the window warms its tower up after
// loading; a session without it is measured as it is).
template <typename Session>
bool warmUpIfPossible(Session &session)
{
    if constexpr (requires { session.warmUp(); }) {
        session.warmUp();
        return true;
    }
    return false;
}

struct FirstQuery {
    double openS = 0, queryS = 0;
    bool warmedUp = false;
    QString error;
};

// The engine as the window opens it, on the bench's data dir and settings.
bool openEngine(engine::Engine &eng, const QString &root, QString *error)
{
    qputenv("XDG_CONFIG_HOME", (root + QStringLiteral("/config")).toLocal8Bit());
    engine::Engine::Options eo;
    eo.dataDir = root + QStringLiteral("/data");
    if (eng.open(eo))
        return true;
    *error = eng.errorString();
    return false;
}

// The window's path in this process: plan, session open (+ warm-up), then one query.
FirstQuery firstQueryAfterReady(const QString &root)
{
    FirstQuery f;
    engine::Engine eng;
    if (!openEngine(eng, root, &f.error))
        return f;
    QString error;
    const auto start = Clock::now();
    const std::optional<engine::SearchSessionPlan> plan = eng.searchSessionPlan(&error);
    std::unique_ptr<engine::SearchSession> session = plan ? engine::SearchSession::open(*plan, nullptr, {}, &error) : nullptr;
    if (session)
        f.warmedUp = warmUpIfPossible(*session);
    f.openS = std::chrono::duration<double>(Clock::now() - start).count();
    if (!session) {
        f.error = error;
        return f;
    }
    engine::SearchParams params;
    params.text = QStringLiteral("a red circle");
    const auto q = Clock::now();
    if (!session->searcher().search(params, &error))
        f.error = error;
    f.queryS = std::chrono::duration<double>(Clock::now() - q).count();
    return f;
}

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// A question about a photo in the window, and where its time goes.
struct Question {
    double readyS = 0;                 // the ask panel's first use until "Ready" (load + warm-up)
    double firstS = 0, secondS = 0;    // a question about a photo, then about another
    double shownS = 0;                 // a question about a photo whose tokens were made when it was shown
    double decodeS = 0, visionS = 0;   // of a question: decode + preprocess, the vision tower
    QString photo;                     // the first photo's size, e.g. "1600x1200"
    QString error;
};

// Decode + preprocess of one photo as a question does it, then the same decode with the
// vision tower (what the window runs when a photo is shown while the question model is in use:
// InferenceService::prepareQuestionAbout), then the question about it, its tokens kept.
void questionParts(engine::InferenceService &s, const QString &path, const QString &question, Question &q)
{
    const model::PreprocessParams &pp = *s.preprocessParams();
    std::vector<float> pixels(model::preprocessedSize(pp));
    auto start = Clock::now();
    media::DecodeParams dp;
    dp.targetSize = s.options().scaledDecoding ? pp.size : 0;
    const media::DecodedImage decoded = media::decodeImage(path, dp);
    if (!decoded.ok()) {
        q.error = decoded.error;
        return;
    }
    q.photo = QStringLiteral("%1x%2").arg(decoded.image.width()).arg(decoded.image.height());
    model::preprocessInto(engine::toModelImage(decoded.image), pp, pixels.data());
    q.decodeS = secondsSince(start);
    start = Clock::now();
    if (!s.prepareQuestionAbout({path}, &q.error))
        return;
    q.visionS = std::max(0.0, secondsSince(start) - q.decodeS);
    start = Clock::now();
    if (!s.ask({path}, question, {}, &q.error))
        return;
    q.shownS = secondsSince(start);
}

// The window's question path in this process: the active VQA model's InferenceService on its
// own thread (an InferenceWorker, as EngineController::preloadAsk), readied with
// warmUpQuestions, then two questions with the ask panel's default parameters (generated
// answer) about two photos, each timed from submit to answer, as the window waits for it.
Question questionAfterReady(const QString &root)
{
    Question q;
    engine::Engine eng;
    if (!openEngine(eng, root, &q.error))
        return q;
    std::unique_ptr<engine::InferenceService> service = eng.inference(engine::vqaTask, {}, &q.error);
    if (!service)
        return q;
    engine::InferenceWorker worker(std::move(service));
    using Answer = std::pair<bool, QString>;
    auto start = Clock::now();
    Answer ready = worker.submit([](engine::InferenceService &s) {
        QString why;
        const bool ok = s.warmUpQuestions(&why);
        return Answer{ok, why};
    }).get();
    q.readyS = secondsSince(start);
    const QString question = QStringLiteral("what color is the circle?");
    const QString photos[2] = {root + QStringLiteral("/photos/photo0000.jpg"), root + QStringLiteral("/photos/photo0001.jpg")};
    double *times[2] = {&q.firstS, &q.secondS};
    for (int i = 0; i < 2 && ready.first; ++i) {
        start = Clock::now();
        ready = worker.submit([&](engine::InferenceService &s) {
            QString why;
            const bool ok = s.ask({photos[i]}, question, {}, &why).has_value();
            return Answer{ok, why};
        }).get();
        *times[i] = secondsSince(start);
    }
    if (!ready.first) {
        q.error = ready.second;
        return q;
    }
    // The first photo again, shown before the question as in the window (the tokens of the
    // second are the ones kept now).
    worker.submit([&](engine::InferenceService &s) { questionParts(s, photos[0], question, q); }).get();
    return q;
}

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double maxOf(const std::vector<double> &v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

void printQuestion(const Question &q)
{
    const char *name = "question after ready (window)";
    if (!q.error.isEmpty()) {
        std::printf("%-34s failed: %s\n", name, qPrintable(q.error));
        return;
    }
    std::printf("%-34s %10.3f %10s %10s   (model ready after %.2f s; second photo %.3f s; of a question:\n"
                "%-34s %10s %10s %10s    decode+preprocess of %s %.3f s, vision tower %.3f s)\n",
                name, q.firstS, "-", "1.5", q.readyS, q.secondS, "", "", "", "", qPrintable(q.photo), q.decodeS,
                q.visionS);
    std::printf("%-34s %10.3f %10s %10s   (its vision tower ran when the photo was shown)\n",
                "question about a shown photo", q.shownS, "-", "1.5");
}

void printTable(const std::vector<Wait> &waits, const FirstQuery &fq, const Question &q, const Options &o)
{
    std::printf("unisearch-bench waits: %d photos of 1600x1200, %d repetitions after one warm run, load average %.2f\n",
                o.photos, o.reps, loadAverage());
    if (!haveGnuTime())
        std::printf("(no %s: peak memory read by wait4, an upper bound that includes this process's peak)\n", kGnuTime);
    std::printf("%-34s %10s %10s %10s %10s %10s %10s\n", "wait", "median s", "max s", "target s", "peak MB", "max MB",
                "target MB");
    for (const Wait &w : waits) {
        if (!w.error.isEmpty()) {
            std::printf("%-34s failed: %s\n", qPrintable(w.name), qPrintable(w.error));
            continue;
        }
        const double div = w.perPhoto > 0 ? w.perPhoto : 1;
        std::printf("%-34s %10.3f %10.3f %10s %10.0f %10.0f %10s\n", qPrintable(w.name), median(w.wall) / div,
                    maxOf(w.wall) / div, w.targetS > 0 ? qPrintable(QString::number(w.targetS)) : "-",
                    median(w.rssMb), maxOf(w.rssMb), w.targetMb > 0 ? qPrintable(QString::number(w.targetMb)) : "-");
    }
    if (!fq.error.isEmpty())
        std::printf("%-34s failed: %s\n", "first query after ready (window)", qPrintable(fq.error));
    else
        std::printf("%-34s %10.3f %10s %10s   (model ready after %.2f s%s)\n", "first query after ready (window)",
                    fq.queryS, "-", "0.3", fq.openS, fq.warmedUp ? ", warmed up" : ", no warm-up");
    printQuestion(q);
}

// One JSON document; a failed wait carries its error (QJsonDocument escapes it).
void printJson(const std::vector<Wait> &waits, const FirstQuery &fq, const Question &q, const Options &o)
{
    QJsonArray rows;
    for (const Wait &w : waits) {
        const double div = w.perPhoto > 0 ? w.perPhoto : 1;
        QJsonObject row{{"name", w.name},         {"ok", w.error.isEmpty()},       {"medianS", median(w.wall) / div},
                        {"maxS", maxOf(w.wall) / div}, {"targetS", w.targetS},     {"peakMb", median(w.rssMb)},
                        {"maxPeakMb", maxOf(w.rssMb)}, {"targetMb", w.targetMb},   {"perPhoto", w.perPhoto > 0}};
        if (!w.error.isEmpty())
            row.insert(QStringLiteral("error"), w.error);
        rows.append(row);
    }
    QJsonObject first{{"ok", fq.error.isEmpty()}, {"queryS", fq.queryS}, {"targetS", 0.3},
                      {"readyAfterS", fq.openS}, {"warmedUp", fq.warmedUp}};
    if (!fq.error.isEmpty())
        first.insert(QStringLiteral("error"), fq.error);
    QJsonObject question{{"ok", q.error.isEmpty()}, {"firstS", q.firstS}, {"secondS", q.secondS},
                         {"targetS", 1.5}, {"readyAfterS", q.readyS}, {"decodeS", q.decodeS},
                         {"visionS", q.visionS}, {"shownPhotoS", q.shownS}, {"photo", q.photo}};
    if (!q.error.isEmpty())
        question.insert(QStringLiteral("error"), q.error);
    const QJsonObject doc{{"photos", o.photos}, {"reps", o.reps}, {"loadAverage", loadAverage()},
                          {"peakMemoryFrom", haveGnuTime() ? "gnu-time" : "wait4-upper-bound"},
                          {"waits", rows}, {"firstQueryAfterReady", first}, {"questionAfterReady", question}};
    std::printf("%s", QJsonDocument(doc).toJson(QJsonDocument::Indented).constData());
}

std::vector<Wait> plannedWaits(const Options &o, const QString &root)
{
    const QString photo = root + QStringLiteral("/photos/photo0000.jpg");
    return {
        {QStringLiteral("status"), {QStringLiteral("status")}, 0.2, 0, 0, {}, {}, {}},
        {QStringLiteral("search (cold CLI)"), {QStringLiteral("search"), QStringLiteral("a red circle")}, 1.0, 700, 0, {}, {}, {}},
        {QStringLiteral("search --rerank (cold CLI)"),
         {QStringLiteral("search"), QStringLiteral("a red circle"), QStringLiteral("--rerank")}, 5.0, 0, 0, {}, {}, {}},
        {QStringLiteral("ask PHOTO (cold CLI, 480 px VQA)"),
         {QStringLiteral("ask"), photo, QStringLiteral("what color is the circle?")}, 3.0, 0, 0, {}, {}, {}},
        {QStringLiteral("index 12-MP photos (s/photo)"), {}, 0.35, 0, o.newPhotos, {}, {}, {}},
    };
}

} // namespace

int runWaitsBench(int argc, char **argv)
{
    Options o;
    if (!parse(argc, argv, o))
        return 2;
    const std::unique_ptr<QCoreApplication> app = unisearch::bench::ensureCoreApplication();
    if (o.cli.isEmpty())
        o.cli = QCoreApplication::applicationDirPath() + QStringLiteral("/unisearch-cli");
    std::optional<QTemporaryDir> tmp;
    QString root = o.keep;
    if (root.isEmpty()) {
        tmp.emplace((o.tmp.isEmpty() ? QDir::tempPath() : o.tmp) + QStringLiteral("/unisearch-bench-waits-XXXXXX"));
        if (!tmp->isValid()) {
            std::fprintf(stderr, "unisearch-bench waits: cannot create a temporary directory\n");
            return 1;
        }
        root = tmp->path();
    }
    QDir().mkpath(root);
    root = QDir(root).absolutePath();
    QString error;
    if (!o.json)
        std::fprintf(stderr, "unisearch-bench waits: preparing %s (models, photos, index) ...\n", qPrintable(root));
    if (!prepare(o, root, &error)) {
        std::fprintf(stderr, "unisearch-bench waits: %s\n", qPrintable(error));
        return 1;
    }
    std::vector<Wait> waits = o.windowOnly ? std::vector<Wait>{} : plannedWaits(o, root);
    for (Wait &w : waits)
        w.perPhoto > 0 ? measureIndex(o, root, w) : measure(o, root, w);
    // The first query on a thread that then ends, as the window's search thread does when
    // nothing is queued (EngineController): a thread kept after it would keep its OpenMP team,
    // and the question's team would sleep at once between operators (engine/inference.h).
    FirstQuery fq;
    std::thread([&] { fq = firstQueryAfterReady(root); }).join();
    const Question q = questionAfterReady(root);
    o.json ? printJson(waits, fq, q, o) : printTable(waits, fq, q, o);
    bool ok = fq.error.isEmpty() && q.error.isEmpty();
    for (const Wait &w : waits)
        ok = ok && w.error.isEmpty();
    return ok ? 0 : 1;
}
