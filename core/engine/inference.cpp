#include "engine/inference.h"

#include "engine/installedfile.h"
#include "engine/training.h"
#include "engine/videoframes_p.h"
#include "media/filepath.h"
#include "engine/modelimage.h"
#include "media/imageconvert.h"
#include "media/imagedecoder.h"
#include "model/adapterpack.h"
#include "model/bundle.h"
#include "model/modelrunner.h"
#include "model/preprocess.h"
#include "model/textclean.h"
#include "model/tokenizer.h"
#include "util/error.h"
#include "util/log.h"

#include <QDir>

#include <algorithm>
#include <cmath>

namespace unisearch::engine {

namespace {

using util::fail;

const QString logCategory = QStringLiteral("inference");
const QString vocabFile = QStringLiteral("bert-base-uncased.txt");

// BLIP's text length: captions, queries and questions are truncated to 35 tokens.
constexpr int maxTextTokens = 35;

QString native(const QString &path)
{
    return QDir::toNativeSeparators(path);
}

QString what(const std::exception &e)
{
    return QString::fromUtf8(e.what());
}

} // namespace

struct InferenceService::Private {
    std::unique_ptr<model::ModelRunner> runner;
    std::unique_ptr<model::Tokenizer> tokenizer;
    model::PreprocessParams preprocess;
    LoadedModel loaded;

    // Decodes and preprocesses images into one buffer of N × 3 × S × S floats.
    QString pixels(const QStringList &paths, bool scaled, std::vector<float> &buffer, std::vector<const float *> &ptrs)
    {
        const size_t per = model::preprocessedSize(preprocess);
        buffer.resize(per * static_cast<size_t>(paths.size()));
        ptrs.clear();
        media::DecodeParams params;
        params.targetSize = scaled ? preprocess.size : 0;
        for (qsizetype i = 0; i < paths.size(); ++i) {
            const QString &path = paths[i];
            // By type first (stat only): a FIFO or /dev/zero is refused before anything opens it.
            if (const QString problem = media::regularFileProblem(path); !problem.isEmpty())
                return QStringLiteral("%1: %2").arg(native(path), problem);
            const media::DecodedImage decoded = media::decodeImage(path, params);
            if (!decoded.ok())
                return QStringLiteral("Cannot read the image %1: %2").arg(native(path), decoded.error);
            float *out = buffer.data() + per * static_cast<size_t>(i);
            try {
                model::preprocessInto(toModelImage(decoded.image), preprocess, out);
            } catch (const std::exception &e) {
                return QStringLiteral("Cannot use the image %1: %2").arg(native(path), what(e));
            }
            ptrs.push_back(out);
        }
        return {};
    }

    std::optional<QList<ItmScore>> itm(const std::vector<const float *> &ptrs, const QStringList &texts,
                                       bool frameAware, QString *error)
    {
        try {
            std::vector<std::vector<int64_t>> ids;
            for (const QString &t : texts)
                ids.push_back(encode(t, maxTextTokens));
            const auto logits = runner->itmLogits(ptrs, ids, frameAware);
            QList<ItmScore> out;
            for (size_t i = 0; i < logits.size(); ++i) {
                ItmScore s;
                s.text = texts[static_cast<qsizetype>(i)];
                s.noMatch = logits[i].first;
                s.match = logits[i].second;
                // softmax over {no, yes}, written to stay finite for large logits
                s.probability = 1.0 / (1.0 + std::exp(s.noMatch - s.match));
                out.append(s);
            }
            return out;
        } catch (const std::exception &e) {
            return fail(error, QStringLiteral("Image-text matching failed: %1").arg(what(e)));
        }
    }

    // The images the last question was about (or prepareQuestionAbout named), as their
    // files were then, and their visual tokens: a second question about the same photo
    // skips decoding and the vision tower. One entry (2.8 MB at 480 px, float32).
    struct AskedImages {
        QStringList paths;
        QList<media::FileStatus> files;
        std::shared_ptr<const model::VisualTokens> tokens;
    } asked;
    int questionImagesEncoded = 0;

    static QList<media::FileStatus> statusOf(const QStringList &paths)
    {
        QList<media::FileStatus> out;
        for (const QString &p : paths)
            out.append(media::fileStatus(p));
        return out;
    }

    // The visual tokens of the images at paths for a question: the kept ones when the files
    // did not change, else decoded and encoded now (and kept). Null with *error on failure.
    std::shared_ptr<const model::VisualTokens> questionTokens(const QStringList &paths, bool scaled, QString *error)
    {
        const QList<media::FileStatus> files = statusOf(paths);
        const bool regular = std::all_of(files.begin(), files.end(),
                                         [](const media::FileStatus &f) { return f.type == media::FileType::File; });
        if (asked.tokens && regular && asked.paths == paths && sameFiles(asked.files, files))
            return asked.tokens;
        std::vector<float> buffer;
        std::vector<const float *> ptrs;
        if (QString err = pixels(paths, scaled, buffer, ptrs); !err.isEmpty()) {
            fail(error, err);
            return nullptr;
        }
        std::shared_ptr<const model::VisualTokens> tokens = encodeForQuestions(ptrs, error);
        if (tokens && regular)
            asked = AskedImages{paths, files, tokens};
        return tokens;
    }

    static bool sameFiles(const QList<media::FileStatus> &a, const QList<media::FileStatus> &b)
    {
        if (a.size() != b.size())
            return false;
        for (qsizetype i = 0; i < a.size(); ++i)
            if (a[i].size != b[i].size || a[i].mtimeMs != b[i].mtimeMs)
                return false;
        return true;
    }

    std::shared_ptr<const model::VisualTokens> encodeForQuestions(const std::vector<const float *> &ptrs, QString *error)
    {
        try {
            auto tokens = runner->questionTokens(ptrs);
            ++questionImagesEncoded;
            return tokens;
        } catch (const std::exception &e) {
            fail(error, QStringLiteral("Answering failed: %1").arg(what(e)));
            return nullptr;
        }
    }

    std::optional<AskResult> ask(const std::shared_ptr<const model::VisualTokens> &visual, const QString &question,
                                 const AskParams &params, QString *error)
    {
        AskResult out;
        out.question = QString::fromStdString(model::preQuestion(question.toStdString()));
        try {
            const std::vector<int64_t> questionIds = encode(out.question, maxTextTokens);
            if (!params.answers.isEmpty()) {
                std::vector<std::vector<int64_t>> answerIds;
                for (const QString &a : params.answers)
                    answerIds.push_back(encode(a, 0)); // the reference pads candidates, never truncates
                const int k = std::clamp(params.topK, 1, static_cast<int>(params.answers.size()));
                for (const auto &r : runner->rankAnswersTokens(visual, questionIds, answerIds, k)) {
                    RankedAnswer a;
                    a.index = r.index;
                    a.answer = params.answers.value(r.index);
                    a.score = r.score;
                    a.firstTokenProb = r.firstTokenProb;
                    out.ranked.append(a);
                }
                if (!out.ranked.isEmpty())
                    out.answer = out.ranked.front().answer;
            } else {
                model::GenerateParams g;
                g.numBeams = std::max(1, params.beams);
                g.maxLength = params.maxLength;
                g.minLength = params.minLength;
                for (const auto &h : runner->generateTokens(visual, questionIds, g)) {
                    GeneratedAnswer a;
                    a.ids = h.ids;
                    a.score = h.score;
                    a.answer = QString::fromStdString(tokenizer->decode(h.ids));
                    out.generated.append(a);
                }
                if (!out.generated.isEmpty())
                    out.answer = out.generated.front().answer;
            }
        } catch (const std::exception &e) {
            return fail(error, QStringLiteral("Answering failed: %1").arg(what(e)));
        }
        return out;
    }

    std::vector<int64_t> encode(const QString &text, int maxTokens) const
    {
        return tokenizer->encode(text.toStdString(), maxTokens, /*padToMax=*/false);
    }
};

QString resolvePrecision(const QString &setting, const QString &device, const model::CpuFeatures &cpu)
{
    if (setting != QLatin1String("auto") && isPrecisionName(setting))
        return setting;
    // auto (or a value no setting accepts): bfloat16 where it is faster than float32.
    const bool faster = device == QLatin1String("cuda") || cpu.bfloat16();
    return faster ? QStringLiteral("bfloat16") : QStringLiteral("float32");
}

QString resolvePrecision(const QString &setting, const QString &device)
{
    if (setting != QLatin1String("auto") && isPrecisionName(setting))
        return setting; // no CPU detection needed
    return resolvePrecision(setting, device, model::detectCpuFeatures());
}

unsigned bfloat16Parts(const QString &setting, const QString &device, const model::CpuFeatures &cpu)
{
    const bool automatic = setting == QLatin1String("auto") || !isPrecisionName(setting);
    if (!automatic || device != QLatin1String("cpu") || resolvePrecision(setting, device, cpu) != QLatin1String("float32"))
        return 0;
    return cpu.bfloat16Decoder() ? unsigned(model::ModelRunner::Decoder) : 0u;
}

unsigned bfloat16Parts(const QString &setting, const QString &device)
{
    return bfloat16Parts(setting, device, model::detectCpuFeatures());
}

bool isPrecisionName(const QString &text)
{
    return text == QLatin1String("auto") || text == QLatin1String("float32") || text == QLatin1String("bfloat16") ||
           text == QLatin1String("float16");
}

InferenceService::InferenceService(ModelInfo model, InferenceOptions options)
    : m_model(std::move(model)), m_options(std::move(options)), d(std::make_unique<Private>())
{
}

InferenceService::~InferenceService() = default;

bool InferenceService::isLoaded() const
{
    return d->runner != nullptr;
}

QString InferenceService::vocabularyPath()
{
    return locateInstalledFile("UNISEARCH_VOCAB", QStringLiteral("vocab/") + vocabFile);
}

std::optional<LoadedModel> InferenceService::load(QString *error)
{
    if (d->runner)
        return d->loaded;

    const QString vocab = vocabularyPath();
    if (vocab.isEmpty())
        return fail(error, QStringLiteral("The tokenizer vocabulary (%1) was not found; reinstall Unisearch or "
                                          "point UNISEARCH_VOCAB at the file.")
                               .arg(vocabFile));
    std::unique_ptr<model::Tokenizer> tokenizer;
    try {
        tokenizer = std::make_unique<model::Tokenizer>(model::Tokenizer::fromFile(vocab.toStdString()));
    } catch (const std::exception &e) {
        return fail(error, QStringLiteral("Cannot use the vocabulary %1: %2").arg(native(vocab), what(e)));
    }

    const QString device = m_options.device.isEmpty() ? QStringLiteral("cpu") : m_options.device;
    model::RunnerOptions options;
    options.device = device.toStdString();
    options.threads = m_options.threads;
    options.keepConversions = true; // a bundle's folder in the data folder: the next start maps it
    const QString precision = resolvePrecision(m_options.precision, device);
    if (precision == QLatin1String("bfloat16")) {
        options.bfloat16 = true;
    } else if (precision == QLatin1String("float16")) {
        log::warning(logCategory, QStringLiteral("float16 inference is not supported; using float32 (bfloat16 is)"));
    } else {
        options.bfloat16Parts = bfloat16Parts(m_options.precision, device);
    }
    try {
        const model::BundleInfo bundle = model::readBundle(m_model.path.toStdString());
        if (!m_model.adapterPack.isEmpty()) { // training.h: the model's active adapter pack
            const model::PackInfo pack = model::readPack(m_model.adapterPack.toStdString());
            model::checkPackFits(pack, bundle.fingerprint, m_model.name.toStdString());
            options.adapterPack = pack.path;
        }
        d->runner = model::ModelRunner::load(bundle.architecture, bundle.weightsPath, options);
    } catch (const std::exception &e) {
        return fail(error, QStringLiteral("Cannot load the model '%1': %2").arg(m_model.name, what(e)));
    }
    d->tokenizer = std::move(tokenizer);
    const model::Architecture &arch = d->runner->architecture();
    d->preprocess.size = arch.vision.imageSize;
    d->preprocess.mean = arch.mean;
    d->preprocess.std = arch.std;

    LoadedModel &l = d->loaded;
    l.name = m_model.name;
    l.task = m_model.task;
    // A pack that changes the image side keeps its vectors under its own key (training.h).
    l.fingerprint = vectorFingerprint(m_model.fingerprint, m_model.adapterPack);
    l.device = QString::fromStdString(d->runner->device());
    l.bfloat16 = d->runner->isBfloat16();
    l.bfloat16Decoder = d->runner->bfloat16Parts() & model::ModelRunner::Decoder;
    l.hasAdapters = d->runner->hasAdapters();
    l.imageSize = arch.vision.imageSize;
    l.embedDim = arch.embedDim;
    log::info(logCategory, QStringLiteral("model '%1' loaded on %2 (%3%4)")
                               .arg(l.name, l.device, l.bfloat16 ? QStringLiteral("bfloat16") : QStringLiteral("float32"),
                                    !l.bfloat16 && l.bfloat16Decoder && d->runner->hasVqa()
                                        ? QStringLiteral(", answer decoder bfloat16")
                                        : QString()));
    return l;
}

bool InferenceService::warmUpQuestions(QString *error)
{
    if (!load(error))
        return false;
    try {
        d->runner->prepare(model::ModelRunner::AllParts);
    } catch (const std::exception &e) {
        fail(error, QStringLiteral("Cannot prepare the model '%1': %2").arg(m_model.name, what(e)));
        return false;
    }
    // Mid-grey after normalisation: the pixels do not matter, the shapes do.
    const std::vector<float> blank(model::preprocessedSize(d->preprocess), 0.0f);
    const auto tokens = d->encodeForQuestions({blank.data()}, error);
    return tokens && d->ask(tokens, QStringLiteral("what is this?"), AskParams{}, error).has_value();
}

bool InferenceService::prepareQuestionAbout(const QStringList &framePaths, QString *error)
{
    if (framePaths.isEmpty()) {
        fail(error, QStringLiteral("No image given."));
        return false;
    }
    if (!load(error))
        return false;
    return d->questionTokens(framePaths, m_options.scaledDecoding, error) != nullptr;
}

int InferenceService::questionImagesEncoded() const
{
    return d->questionImagesEncoded;
}

bool InferenceService::isPreparedForQuestions() const
{
    return d->runner && d->runner->preparedParts() == model::ModelRunner::AllParts;
}

model::ModelRunner *InferenceService::runner()
{
    return d->runner.get();
}

const model::Tokenizer *InferenceService::tokenizer() const
{
    return d->tokenizer.get();
}

const model::PreprocessParams *InferenceService::preprocessParams() const
{
    return d->runner ? &d->preprocess : nullptr;
}

std::optional<std::vector<std::vector<float>>> InferenceService::embedImages(const QStringList &paths, QString *error)
{
    if (!load(error))
        return std::nullopt;
    std::vector<std::vector<float>> out;
    const qsizetype batch = std::max(1, m_options.batchSize);
    std::vector<float> buffer;
    std::vector<const float *> ptrs;
    for (qsizetype start = 0; start < paths.size(); start += batch) {
        const QStringList part = paths.mid(start, batch);
        if (QString err = d->pixels(part, m_options.scaledDecoding, buffer, ptrs); !err.isEmpty())
            return fail(error, err);
        try {
            for (auto &f : d->runner->imageFeatures(ptrs))
                out.push_back(std::move(f));
        } catch (const std::exception &e) {
            return fail(error, QStringLiteral("Embedding the images failed: %1").arg(what(e)));
        }
    }
    return out;
}

std::optional<std::vector<std::vector<float>>> InferenceService::embedTexts(const QStringList &texts, QString *error)
{
    if (!load(error))
        return std::nullopt;
    try {
        std::vector<std::vector<int64_t>> ids;
        for (const QString &t : texts)
            ids.push_back(d->encode(t, maxTextTokens));
        return d->runner->textFeatures(ids);
    } catch (const std::exception &e) {
        return fail(error, QStringLiteral("Embedding the texts failed: %1").arg(what(e)));
    }
}

std::optional<InferenceService::Frames> InferenceService::loadAndDecode(const QStringList &paths, QString *error)
{
    if (!load(error))
        return std::nullopt;
    Frames frames; // moving it keeps ptrs valid: they point into buffer's heap block
    if (QString err = d->pixels(paths, m_options.scaledDecoding, frames.buffer, frames.ptrs); !err.isEmpty())
        return fail(error, err);
    return frames;
}

std::optional<std::vector<float>> InferenceService::embedFrames(const QStringList &paths, QString *error)
{
    if (paths.isEmpty())
        return fail(error, QStringLiteral("No frames given."));
    const std::optional<Frames> frames = loadAndDecode(paths, error);
    if (!frames)
        return std::nullopt;
    try {
        return d->runner->videoFeature(frames->ptrs);
    } catch (const std::exception &e) {
        return fail(error, QStringLiteral("Embedding the frames failed: %1").arg(what(e)));
    }
}

namespace {

std::vector<const float *> framePointers(const std::vector<float> &pixels, size_t per)
{
    std::vector<const float *> ptrs;
    for (size_t at = 0; at + per <= pixels.size(); at += per)
        ptrs.push_back(pixels.data() + at);
    return ptrs;
}

} // namespace

std::optional<QList<ItmScore>> InferenceService::itm(const QStringList &framePaths, const QStringList &texts,
                                                     bool frameAware, QString *error)
{
    if (framePaths.isEmpty())
        return fail(error, QStringLiteral("No image given."));
    if (texts.isEmpty())
        return fail(error, QStringLiteral("No text given."));
    const std::optional<Frames> frames = loadAndDecode(framePaths, error);
    return frames ? d->itm(frames->ptrs, texts, frameAware, error) : std::nullopt;
}

std::optional<QList<ItmScore>> InferenceService::itmVideo(const QString &videoPath, const QStringList &texts,
                                                          bool frameAware, int frames, QString *error)
{
    if (texts.isEmpty())
        return fail(error, QStringLiteral("No text given."));
    if (!load(error))
        return std::nullopt;
    const detail::VideoPixels v = detail::sampleVideoPixels(videoPath, d->preprocess, frames);
    if (!v.ok())
        return fail(error, v.error);
    return d->itm(framePointers(v.pixels, model::preprocessedSize(d->preprocess)), texts, frameAware, error);
}

std::optional<std::vector<float>> InferenceService::embedVideo(const QString &videoPath, int frames, QString *error)
{
    if (!load(error))
        return std::nullopt;
    const detail::VideoPixels v = detail::sampleVideoPixels(videoPath, d->preprocess, frames);
    if (!v.ok())
        return fail(error, v.error);
    try {
        return d->runner->videoFeature(framePointers(v.pixels, model::preprocessedSize(d->preprocess)));
    } catch (const std::exception &e) {
        return fail(error, QStringLiteral("Embedding the video failed: %1").arg(what(e)));
    }
}

std::optional<AskResult> InferenceService::ask(const QStringList &framePaths, const QString &question,
                                               const AskParams &params, QString *error)
{
    if (framePaths.isEmpty())
        return fail(error, QStringLiteral("No image given."));
    if (!load(error))
        return std::nullopt;
    if (QString::fromStdString(model::preQuestion(question.toStdString())).trimmed().isEmpty())
        return fail(error, QStringLiteral("The question is empty."));
    const auto tokens = d->questionTokens(framePaths, m_options.scaledDecoding, error);
    if (!tokens)
        return std::nullopt;
    return d->ask(tokens, question, params, error);
}

std::optional<AskResult> InferenceService::askVideo(const QString &videoPath, const QString &question,
                                                    const AskParams &params, std::optional<double> atSec,
                                                    QString *error)
{
    if (!load(error))
        return std::nullopt;
    if (QString::fromStdString(model::preQuestion(question.toStdString())).trimmed().isEmpty())
        return fail(error, QStringLiteral("The question is empty."));
    const detail::VideoPixels v = detail::sampleVideoPixels(videoPath, d->preprocess, videoFrames, atSec);
    if (!v.ok())
        return fail(error, v.error);
    const auto tokens = d->encodeForQuestions(framePointers(v.pixels, model::preprocessedSize(d->preprocess)), error);
    if (!tokens)
        return std::nullopt;
    return d->ask(tokens, question, params, error);
}

// --- InferenceWorker -----------------------------------------------------------------

InferenceWorker::InferenceWorker(std::unique_ptr<InferenceService> service) : m_service(std::move(service)) {}

InferenceWorker::~InferenceWorker()
{
    // The running thread (if any) finishes what is queued, then ends.
    std::thread last;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        last = std::move(m_thread);
    }
    if (last.joinable())
        last.join();
}

void InferenceWorker::enqueue(std::function<void(InferenceService &)> job)
{
    std::thread ended;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_jobs.push_back(std::move(job));
        if (m_running)
            return; // the running thread takes it
        m_running = true;
        ended = std::move(m_thread); // it found the queue empty: it runs nothing more
        m_thread = std::thread([this] { loop(); });
    }
    if (ended.joinable())
        ended.join(); // at most its thread-exit clean-up (its OpenMP team ending) is left
}

void InferenceWorker::loop()
{
    for (;;) {
        std::function<void(InferenceService &)> job;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_jobs.empty()) {
                m_running = false;
                return; // the thread ends, its OpenMP team with it
            }
            job = std::move(m_jobs.front());
            m_jobs.pop_front();
        }
        job(*m_service); // a packaged_task: exceptions land in its future
    }
}

} // namespace unisearch::engine
