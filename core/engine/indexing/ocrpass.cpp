#include "engine/indexing/ocrpass.h"

#include "catalog/catalog.h"
#include "media/imagedecoder.h"
#include "media/videodecoder.h"
#include "util/faultpoint.h"
#include "util/log.h"

#include <QElapsedTimer>
#include <QMutex>
#include <QThread>
#include <QThreadPool>
#include <QtConcurrent/QtConcurrentMap>

#include <QSet>

#include <algorithm>
#include <memory>
#include <vector>

#ifdef Q_OS_LINUX
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace unisearch::engine::indexing {

namespace {

const QString logCategory = QStringLiteral("ocr");

// Tesseract instances, one per thread at a time (TessBaseAPI is not thread-safe): a
// worker takes one (creating it the first time), reads, and gives it back.
class EnginePool
{
public:
    explicit EnginePool(media::OcrOptions options) : m_options(std::move(options)) {}

    std::unique_ptr<media::OcrEngine> take(QString *error)
    {
        {
            QMutexLocker lock(&m_mutex);
            if (!m_free.empty()) {
                auto e = std::move(m_free.back());
                m_free.pop_back();
                return e;
            }
        }
        return media::OcrEngine::create(m_options, error);
    }
    void give(std::unique_ptr<media::OcrEngine> e)
    {
        QMutexLocker lock(&m_mutex);
        m_free.push_back(std::move(e));
    }

private:
    media::OcrOptions m_options;
    QMutex m_mutex;
    std::vector<std::unique_ptr<media::OcrEngine>> m_free;
};

struct Read {
    std::int64_t itemId = 0;
    QString text;
    bool failed = false;
    QString error;     // failed: why (decode or Tesseract)
    bool fatal = false;  // Tesseract could not start: the pass stops
};

// Below normal priority, so that the pass gives way to the window and the first pass.
// (QThread::LowPriority is a no-op for SCHED_OTHER threads on Linux; a thread's nice
// value is what the scheduler honours there.)
void lowerPriority()
{
    QThread::currentThread()->setPriority(QThread::LowPriority);
#ifdef Q_OS_LINUX
    static thread_local bool lowered = false;
    if (!lowered) {
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
        lowered = true;
    }
#endif
}

// Adds the lines of text not in seen yet to out, up to maxChars in all: a title card
// that spans many segments is stored once.
void appendNewLines(const QString &text, QSet<QString> &seen, QString &out, int maxChars)
{
    for (const QString &line : text.split(QLatin1Char('\n'), Qt::SkipEmptyParts)) {
        const QString key = line.simplified().toCaseFolded();
        if (key.isEmpty() || seen.contains(key))
            continue;
        if (out.size() + line.size() + 1 > maxChars)
            return;
        seen.insert(key);
        if (!out.isEmpty())
            out += QLatin1Char('\n');
        out += line;
    }
}

// A video: one frame per segment (the middle; a video without ranged segments: its
// middle), read in time order; the item's text is
// the union of the frames' lines. A file that cannot be opened, or a frame that cannot be
// decoded other than in a damaged stretch, makes the video's OCR an error.
Read readVideo(const catalog::OcrTask &task, media::OcrEngine &engine, const OcrPassSettings &settings)
{
    Read r{task.itemId};
    media::DecodeOptions options;
    options.maxLongSide = settings.maxEdge;
    options.threads = 1;
    media::VideoDecoder decoder(options);
    const std::optional<media::VideoInfo> info = decoder.open(task.path, &r.error);
    if (!info) {
        r.failed = true;
        return r;
    }
    QList<double> times = task.frameTimesSec;
    if (times.isEmpty())  // no segment with a time range: the middle of the video
        times.append(info->durationSec / 2);
    QSet<QString> seen;
    for (double t : times) {
        media::DecodeError code = media::DecodeError::None;
        const std::optional<media::VideoFrame> frame = decoder.frameAt(t, &r.error, &code);
        if (!frame && code == media::DecodeError::DecodeFailed)
            continue;
        const std::optional<QString> text = frame ? engine.read(frame->image, &r.error) : std::nullopt;
        if (!text) {
            r.failed = true;
            r.text.clear();
            return r;
        }
        appendNewLines(*text, seen, r.text, engine.options().maxChars);
    }
    r.error.clear();
    return r;
}

Read readOne(const catalog::OcrTask &task, EnginePool &engines, const OcrPassSettings &settings)
{
    lowerPriority();
    Read r{task.itemId};
    if (task.video) {
        std::unique_ptr<media::OcrEngine> engine = engines.take(&r.error);
        if (!engine) {
            r.failed = r.fatal = true;
            return r;
        }
        r = readVideo(task, *engine, settings);
        engines.give(std::move(engine));
        return r;
    }
    media::DecodeParams decode;
    decode.targetSize = settings.maxEdge;  // JPEG decodes scaled when it can
    decode.maxPixels = settings.maxPixels;
    const media::DecodedImage decoded = media::decodeImage(task.path, decode);
    if (!decoded.ok()) {
        r.failed = true;
        r.error = decoded.error;
        return r;
    }
    std::unique_ptr<media::OcrEngine> engine = engines.take(&r.error);
    if (!engine) {
        r.failed = r.fatal = true;
        return r;
    }
    const std::optional<QString> text = engine->read(decoded.image, &r.error);
    engines.give(std::move(engine));
    r.failed = !text;
    r.text = text.value_or(QString());
    return r;
}

} // namespace

QList<double> videoFrameTimes(const catalog::Catalog &catalog, std::int64_t itemId, int maxFrames)
{
    QList<double> mids;
    for (const catalog::Segment &s : catalog.segments(itemId))
        if (s.endMs > s.startMs)
            mids.append(double(s.startMs + s.endMs) / 2000.0);
    std::sort(mids.begin(), mids.end());
    const qsizetype n = mids.size();
    if (maxFrames <= 0 || n <= maxFrames)
        return mids;
    QList<double> spread;  // evenly over the video
    for (int i = 0; i < maxFrames; ++i)
        spread.append(mids[qsizetype((i + 0.5) * double(n) / maxFrames)]);
    return spread;
}

QString ocrLanguageKey(const QStringList &languages)
{
    QStringList sorted = languages;
    sorted.removeDuplicates();
    sorted.sort();
    return sorted.join(QLatin1Char('+'));
}

OcrPassResult runOcrPass(catalog::Catalog &catalog, const OcrPassSettings &settings, const OcrProgressFn &progress)
{
    OcrPassResult result;
    QElapsedTimer timer;
    timer.start();
    const QString key = ocrLanguageKey(settings.languages);
    media::OcrOptions options;
    options.languages = settings.languages;
    options.maxEdge = settings.maxEdge;
    EnginePool engines(options);
    QThreadPool pool;
    pool.setMaxThreadCount(settings.threads > 0 ? settings.threads : std::max(1, QThread::idealThreadCount() / 2));
    const int chunk = std::max(1, settings.commitEvery);
    try {
        result.total = catalog.countPendingOcr(key);
        std::int64_t after = 0;
        while (true) {
            if (progress && !progress(result.done + result.failed, result.total)) {
                result.cancelled = true;
                break;
            }
            QList<catalog::OcrTask> tasks = catalog.pendingOcr(key, chunk, after);
            if (tasks.isEmpty())
                break;
            after = tasks.back().itemId;
            for (catalog::OcrTask &t : tasks)
                if (t.video)
                    t.frameTimesSec = videoFrameTimes(catalog, t.itemId, settings.maxVideoFrames);
            const QList<Read> reads = QtConcurrent::blockingMapped<QList<Read>>(
                &pool, tasks, [&](const catalog::OcrTask &t) { return readOne(t, engines, settings); });
            for (const Read &r : reads)
                if (r.fatal)
                    return OcrPassResult{false, false, r.error, result.total, result.done, result.withText,
                                         result.failed, double(timer.elapsed()) / 1000.0};
            catalog.transaction([&] {
                for (const Read &r : reads)
                    catalog.setOcrText(r.itemId, r.text, key, r.failed);
            });
            util::faultPoint("ocr.commit");  // a transaction of OCR text committed, more pending
            for (qsizetype i = 0; i < reads.size(); ++i) {
                if (reads[i].failed) {
                    ++result.failed;
                    log::info(logCategory, QStringLiteral("%1: %2").arg(tasks[i].path, reads[i].error));
                } else {
                    ++result.done;
                    result.withText += reads[i].text.isEmpty() ? 0 : 1;
                }
            }
        }
    } catch (const std::exception &e) {
        result.ok = false;
        result.error = QStringLiteral("the OCR pass could not use the catalog: %1").arg(QString::fromUtf8(e.what()));
    }
    result.seconds = double(timer.elapsed()) / 1000.0;
    return result;
}

} // namespace unisearch::engine::indexing
