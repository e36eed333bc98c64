#pragma once
// The inference service: one imported model (a bundle), its tokenizer and its image
// preprocessing, behind calls that take files and texts and return features, ITM scores
// and answers. The CLI's embed/itm/ask call it directly; the indexer and the search can
// run one inside an InferenceWorker, the one thread that owns the model.
//
// The model loads lazily, on the first call that needs it (load() forces it). An
// InferenceService is not thread-safe and has no thread affinity: use it from one thread
// at a time (ModelRunner calls are not reentrant). Nothing throws: every call returns its
// value, or std::nullopt with *error (when given) naming the file or text concerned and
// saying what to do.
//
// Text handling follows the reference exactly: embedText/itm texts are tokenized as given
// (the tokenizer lowercases; no clean-up; at most 35 tokens, BLIP's text length);
// questions go through the official pre_question first; candidate answers are tokenized as
// given. Images are decoded at full size (EXIF orientation applied), converted as PIL's
// convert("RGB") and resized as PIL's bicubic, like the reference's test transform.
#include "engine/models.h"
#include "model/runtime.h" // CpuFeatures (torch-free)

#include <QString>
#include <QStringList>

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace unisearch::model {
class ModelRunner;
class Tokenizer;
struct PreprocessParams;
} // namespace unisearch::model

namespace unisearch::engine {

struct InferenceOptions {
    QString device = QStringLiteral("cpu");       // cpu | cuda (Engine::device() resolved "auto")
    // auto | float32 | bfloat16 (float16: float32, with a warning); auto: resolvePrecision()
    QString precision = QStringLiteral("auto");
    int threads = 0;                               // > 0: LibTorch intra-op threads; 0: leave as set
    // Decode JPEGs scaled near the model's input size (faster, for indexing). Off: full
    // size, as the reference decodes (the CLI's embed/itm/ask reproduce its numbers).
    bool scaledDecoding = false;
    int batchSize = 8;                             // images per forward in embedImages
};

// The precision a model runs at for a setting ("auto", "float32", "bfloat16", "float16")
// on device ("cpu", "cuda"): an explicit value as given; auto = bfloat16 on CUDA and on a
// CPU where it is faster than float32 (model::CpuFeatures::bfloat16: AMX-BF16, or
// AVX512_BF16 on AMD), float32 elsewhere. Pure: the CPU description is an argument (tests
// stub it); the overload without detects it (model::detectCpuFeatures, which honours
// $UNISEARCH_CPU_FEATURES).
QString resolvePrecision(const QString &setting, const QString &device, const model::CpuFeatures &cpu);
QString resolvePrecision(const QString &setting, const QString &device);
// The model parts (model::ModelRunner::Part bits) whose weights are bfloat16 inside a
// float32 model (model::RunnerOptions::bfloat16Parts) for a precision setting on device:
// with "auto" on a CPU where float32 is the faster precision but bfloat16 weights speed up
// the answer decoder (model::CpuFeatures::bfloat16Decoder: an Intel CPU with AVX512_BF16 and
// no AMX), the decoder; none for an explicit choice, on CUDA, or where auto is bfloat16.
unsigned bfloat16Parts(const QString &setting, const QString &device, const model::CpuFeatures &cpu);
unsigned bfloat16Parts(const QString &setting, const QString &device); // this CPU (detectCpuFeatures)
// Whether text names a precision a person may choose: auto, float32, bfloat16, float16.
bool isPrecisionName(const QString &text);

struct ItmScore {
    QString text;
    double noMatch = 0;      // logit of "no match"
    double match = 0;        // logit of "match"
    double probability = 0;  // softmax(logits)[match]
};

struct RankedAnswer {
    QString answer;
    int index = -1;               // into the candidate list
    double score = 0;             // the reference's rank_answer score (negated smoothed loss)
    double firstTokenProb = 0;    // probability of its first token after [DEC]
};

struct GeneratedAnswer {
    QString answer;               // decoded, special tokens dropped
    std::vector<std::int64_t> ids; // [DEC] first; ends with [SEP] unless maxLength was reached
    double score = 0;             // sum log p / length^lengthPenalty
};

struct AskParams {
    QStringList answers;  // candidates: rank them; empty: generate an answer
    int topK = 128;       // rank: how many candidates (by first-token probability) are scored
    int beams = 3;        // generate: 1 = greedy (the reference's VQA inference uses 3)
    int maxLength = 10;   // generate: tokens including [DEC]
    int minLength = 1;
};

struct AskResult {
    QString question;       // after pre_question, as the model saw it
    QString answer;         // the best answer
    QList<RankedAnswer> ranked;        // with candidates: scored ones, best first
    QList<GeneratedAnswer> generated;  // without: hypotheses, best first
};

// What is loaded, for messages and JSON output.
struct LoadedModel {
    QString name;
    QString task;
    QString fingerprint;
    QString device;
    bool bfloat16 = false;
    bool bfloat16Decoder = false; // the answer decoder's weights (bfloat16 or the whole model)
    bool hasAdapters = false;
    int imageSize = 0;
    int embedDim = 0;
};

class InferenceService
{
public:
    InferenceService(ModelInfo model, InferenceOptions options);
    ~InferenceService();
    InferenceService(const InferenceService &) = delete;
    InferenceService &operator=(const InferenceService &) = delete;

    const ModelInfo &model() const { return m_model; }
    const InferenceOptions &options() const { return m_options; }
    // Loads the model and the tokenizer now (otherwise the first call does).
    std::optional<LoadedModel> load(QString *error = nullptr);
    bool isLoaded() const;
    // Readies the model for a person's first question (the window calls it on the ask thread
    // when the ask panel is first used): load(), every part a question needs prepared (vision,
    // text, cross-attention, decoder) and one throw-away question about a blank image, so that
    // the first forward's one-time set-up is paid here. False with *error when it cannot run.
    bool warmUpQuestions(QString *error = nullptr);
    // Whether the model is loaded with every part a question needs prepared.
    bool isPreparedForQuestions() const;
    // Readies questions about these images (the window calls it on the ask thread when a
    // photo is shown while the question model is in use): decodes them and runs the vision
    // tower now, and keeps their tokens, so that ask() about them runs only the question
    // encoder and the decoder. The tokens of the last images asked about (or prepared) are
    // kept either way, one set, until the files change: a second question about the same
    // photo skips the vision tower too. False with *error when an image cannot be read.
    bool prepareQuestionAbout(const QStringList &framePaths, QString *error = nullptr);
    // How many times images were run through the vision tower for questions (tests).
    int questionImagesEncoded() const;

    // One normalised feature per image, in order.
    std::optional<std::vector<std::vector<float>>> embedImages(const QStringList &paths, QString *error = nullptr);
    // One normalised feature per text, in order; texts exactly as given.
    std::optional<std::vector<std::vector<float>>> embedTexts(const QStringList &texts, QString *error = nullptr);
    // One video feature from frames in order: normalize(vision_proj(mean of the CLS tokens)).
    std::optional<std::vector<float>> embedFrames(const QStringList &paths, QString *error = nullptr);
    // Image-text matching of one visual item (an image, or a video's frames whose tokens
    // are concatenated) against each text; frameAware: frame-aware attention (2+ frames).
    std::optional<QList<ItmScore>> itm(const QStringList &framePaths, const QStringList &texts, bool frameAware = false,
                                       QString *error = nullptr);
    // Visual question answering about an image (or frames): rank candidates or generate.
    std::optional<AskResult> ask(const QStringList &framePaths, const QString &question, const AskParams &params = {},
                                 QString *error = nullptr);

    // The same from a video file, through the model's video path: T = videoFrames frames
    // sampled uniformly (media::uniformTimes) and concatenated; with atSec, the one frame
    // nearest that time instead. Frames are decoded with the short side scaled to the
    // model's input size (as the indexer takes them), then preprocessed as images are.
    static constexpr int videoFrames = 8;
    std::optional<AskResult> askVideo(const QString &videoPath, const QString &question, const AskParams &params = {},
                                      std::optional<double> atSec = std::nullopt, QString *error = nullptr);
    // ITM of a video file's T sampled frames (concatenated) against each text.
    std::optional<QList<ItmScore>> itmVideo(const QString &videoPath, const QStringList &texts, bool frameAware = false,
                                            int frames = videoFrames, QString *error = nullptr);
    // The video-level feature of a video file from its T sampled frames.
    std::optional<std::vector<float>> embedVideo(const QString &videoPath, int frames = videoFrames,
                                                 QString *error = nullptr);

    // For engine parts that bring their own pixels (the indexer's decode pool): the loaded
    // model runner, tokenizer and preprocessing. Valid after a successful load().
    model::ModelRunner *runner();
    const model::Tokenizer *tokenizer() const;
    const model::PreprocessParams *preprocessParams() const;

    // Where the WordPiece vocabulary is read from: $UNISEARCH_VOCAB; next to the executable
    // (../share/unisearch/vocab: an installed .deb, an AppImage); the XDG data dirs
    // (unisearch/vocab under /usr/share, /usr/local/share, ...); the source tree's
    // resources/vocab (a build tree). Empty when none exists.
    static QString vocabularyPath();

private:
    // Decoded model inputs: one per path in buffer, ptrs to each.
    struct Frames {
        std::vector<float> buffer;
        std::vector<const float *> ptrs;
    };
    // load(), then decode paths; nullopt with *error set when either fails.
    std::optional<Frames> loadAndDecode(const QStringList &paths, QString *error);

    struct Private;
    ModelInfo m_model;
    InferenceOptions m_options;
    std::unique_ptr<Private> d;
};

// A time inside a video as a person writes it: seconds ("12.5", "75"), "mm:ss" or
// "hh:mm:ss" (with a fraction on the seconds); nullopt when it is none of these.
std::optional<double> parseVideoTime(const QString &text);

// Runs one InferenceService off the caller's thread. Work is submitted as functions of the
// service and runs one at a time, in submission order; the destructor runs what is queued,
// then joins. The thread ends when nothing is queued and a later submission starts another:
// an idle worker keeps no thread, and so no OpenMP team. libgomp lets a team spin between
// parallel regions (GOMP_SPINCOUNT, model/runtime.cpp) only while its threads are no more
// than the CPUs: an idle team on another thread made every team sleep at once, and the
// question asked in the window 0.2 s slower (docs/performance.md, "Threads").
class InferenceWorker
{
public:
    explicit InferenceWorker(std::unique_ptr<InferenceService> service);
    ~InferenceWorker();
    InferenceWorker(const InferenceWorker &) = delete;
    InferenceWorker &operator=(const InferenceWorker &) = delete;

    template <typename F>
    auto submit(F &&fn) -> std::future<std::invoke_result_t<F, InferenceService &>>
    {
        using R = std::invoke_result_t<F, InferenceService &>;
        auto task = std::make_shared<std::packaged_task<R(InferenceService &)>>(std::forward<F>(fn));
        std::future<R> future = task->get_future();
        enqueue([task](InferenceService &s) { (*task)(s); });
        return future;
    }

private:
    void enqueue(std::function<void(InferenceService &)> job);
    void loop();

    std::unique_ptr<InferenceService> m_service;
    std::mutex m_mutex;
    std::deque<std::function<void(InferenceService &)>> m_jobs;
    bool m_running = false; // m_thread runs jobs; false once it has found the queue empty
    std::thread m_thread;   // the thread running jobs, or the last one (ended or ending)
};

} // namespace unisearch::engine
