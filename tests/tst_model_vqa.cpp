// The UniAdapter VQA model against the reference fixture (vqa/): question states, the
// reference's rank_answer (first-token probabilities, top-k, label-smoothed scores,
// chosen answers), greedy decoding; beam search and the decoder's key/value cache.
#include "model/modelrunner.h"
#include "model/uniadapter_p.h"
#include "support/fixtures.h"
#include "support/npy.h"
#include "support/tensorcompare.h"

#include <QtTest>

using namespace unisearch;
using namespace unisearch::model;

namespace {

constexpr double kTolerance = 1e-4;
const QString kCase = QStringLiteral("vqa");

torch::Tensor fixture(const nlohmann::json &c, const char *output)
{
    return test::caseOutput(kCase, c, output);
}

#define COMPARE_OUTPUT(label, got, expected) COMPARE_TENSORS(label, got, expected, kTolerance)

std::vector<int64_t> toIds(const torch::Tensor &row)
{
    std::vector<int64_t> out;
    for (int64_t i = 0; i < row.size(0); ++i)
        out.push_back(row[i].item<int64_t>());
    return out;
}

std::vector<int64_t> withoutPadding(const torch::Tensor &row)
{
    std::vector<int64_t> out;
    for (int64_t id : toIds(row))
        if (id != 0)
            out.push_back(id);
    return out;
}

std::string weightsPath(const nlohmann::json &spec)
{
    return test::caseDir(kCase).toStdString() + "/" + spec.at("weights").get<std::string>();
}

} // namespace

class TestModelVqa : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void loadReport();
    void questionStates();
    void rankAnswers();
    void greedyDecoding();
    void cacheMatchesFullForward();
    void beamSearch();
    void engine();
    void bfloat16();
    void bfloat16BlockEqualsPerParameterCast();
    void bfloat16DecoderBesideFloat32();

private:
    nlohmann::json m_spec;
    Architecture m_arch;
    UniAdapterModel m_model{nullptr};
    LoadReport m_report;
    torch::Tensor m_states, m_questionMask;
};

void TestModelVqa::initTestCase()
{
    at::set_num_threads(2);
    m_spec = test::readCase(kCase);
    m_arch = Architecture::fromJson(m_spec.at("architecture"));
    const StateDict dict = loadCheckpoint(weightsPath(m_spec));
    const CheckpointLayout layout = detectLayout(dict);
    m_model = UniAdapterModel(effectiveArchitecture(m_arch, layout), ModelHeads{layout.retrieval, layout.vqa});
    m_model->loadFrom(dict, m_report);
    m_model->eval();

    c10::InferenceMode guard;
    torch::Tensor ids = fixture(m_spec, "question_input_ids");
    m_questionMask = (ids != 0).to(torch::kLong);
    torch::Tensor tokens = m_model->encodeImage(fixture(m_spec, "pixels")); // image i ↔ question i
    m_states = m_model->encodeQuestion(ids, m_questionMask, tokens);
}

void TestModelVqa::loadReport()
{
    for (const auto &m : m_report.missing)
        qWarning("missing: %s", m.c_str());
    for (const auto &u : m_report.unexpected)
        qWarning("unexpected: %s", u.c_str());
    QVERIFY(m_report.ok());
    QVERIFY(m_report.hasVqa);
    QVERIFY(!m_report.hasRetrieval);
    QVERIFY(m_report.hasAdapters);
    QVERIFY(m_model->hasAdapters());
    bool sawUnusedDecoderAdapters = false;
    for (const auto &i : m_report.ignored)
        sawUnusedDecoderAdapters = sawUnusedDecoderAdapters || i.rfind("adapters_dec.", 0) == 0;
    QVERIFY(sawUnusedDecoderAdapters);
    qInfo("vqa.pth: %zu tensors loaded, %zu ignored", m_report.loaded, m_report.ignored.size());
}

void TestModelVqa::questionStates()
{
    COMPARE_OUTPUT("question_states", m_states, fixture(m_spec, "question_states"));
}

void TestModelVqa::rankAnswers()
{
    c10::InferenceMode guard;
    torch::Tensor answers = fixture(m_spec, "answer_input_ids");
    const int64_t k = m_spec.at("k").get<int64_t>();
    RankOutput r = m_model->rankAnswers(m_states, m_questionMask, answers, (answers != 0).to(torch::kLong), k);
    COMPARE_OUTPUT("first_token_prob", r.firstTokenProb, fixture(m_spec, "first_token_prob"));
    QCOMPARE(toIds(r.topkIds.flatten()), toIds(fixture(m_spec, "topk_ids").flatten()));
    COMPARE_OUTPUT("topk_log_prob_sum", r.topkScores, fixture(m_spec, "topk_log_prob_sum"));
    QCOMPARE(toIds(r.best), toIds(fixture(m_spec, "answer_index")));
    // The chosen answers by name, as case.json lists them.
    const auto list = m_spec.at("answer_list");
    const auto expected = m_spec.at("answers");
    for (int64_t q = 0; q < r.best.size(0); ++q)
        QCOMPARE(list.at(r.best[q].item<int64_t>()).get<std::string>(), expected.at(q).get<std::string>());
}

void TestModelVqa::greedyDecoding()
{
    c10::InferenceMode guard;
    const auto expected = m_spec.at("greedy_token_ids");
    for (int64_t q = 0; q < m_states.size(0); ++q) {
        const auto want = expected.at(q).get<std::vector<int64_t>>();
        const auto maxLength = static_cast<int>(want.size()); // 9 steps after [DEC] unless [SEP] came
        GeneratedSequence got = m_model->greedy(m_states.narrow(0, q, 1), m_questionMask.narrow(0, q, 1),
                                                std::max(maxLength, 10), 1);
        QCOMPARE(got.ids, want);
    }
}

void TestModelVqa::cacheMatchesFullForward()
{
    // The key/value-cached step-by-step decoding scores its tokens as the full causal
    // forward does.
    c10::InferenceMode guard;
    for (int64_t q = 0; q < m_states.size(0); ++q) {
        torch::Tensor states = m_states.narrow(0, q, 1), mask = m_questionMask.narrow(0, q, 1);
        GeneratedSequence got = m_model->greedy(states, mask, 10, 1);
        const double full = m_model->sequenceLogProb(states, mask, got.ids);
        qInfo("question %lld: cached %.6f, full forward %.6f", static_cast<long long>(q), got.sumLogProb, full);
        QVERIFY(std::abs(got.sumLogProb - full) < 1e-3);
    }
}

void TestModelVqa::beamSearch()
{
    c10::InferenceMode guard;
    const int64_t sep = m_arch.special.sep;
    for (int64_t q = 0; q < m_states.size(0); ++q) {
        torch::Tensor states = m_states.narrow(0, q, 1), mask = m_questionMask.narrow(0, q, 1);
        const GeneratedSequence greedy = m_model->greedy(states, mask, 10, 1);

        GenerateParams one;
        one.numBeams = 1;
        one.maxLength = 10;
        const auto single = m_model->generate(states, mask, one);
        QVERIFY(!single.empty());
        QCOMPARE(single.front().ids, greedy.ids);
        QVERIFY(std::abs(single.front().score - greedy.score) < 1e-4);

        for (int beams : {2, 3, 5}) {
            GenerateParams p;
            p.numBeams = beams;
            p.maxLength = 10;
            const auto hyps = m_model->generate(states, mask, p);
            QVERIFY(!hyps.empty());
            QVERIFY(static_cast<int>(hyps.size()) <= beams);
            for (size_t i = 0; i < hyps.size(); ++i) {
                const auto &h = hyps[i];
                if (i > 0)
                    QVERIFY2(hyps[i - 1].score >= h.score, "hypotheses are not ordered best first");
                QCOMPARE(h.ids.front(), static_cast<int64_t>(m_arch.special.decBos));
                QVERIFY(static_cast<int>(h.ids.size()) <= p.maxLength);
                // Each hypothesis's score is its own teacher-forced log-likelihood / length.
                const double full = m_model->sequenceLogProb(states, mask, h.ids);
                const double length = static_cast<double>(h.ids.back() == sep ? h.ids.size() - 1 : h.ids.size());
                QVERIFY2(std::abs(h.score - full / length) < 1e-3,
                         qPrintable(QStringLiteral("beam score %1 vs %2").arg(h.score).arg(full / length)));
            }
            // The best of a wider beam is at least as good as the greedy path when both run
            // the full length (no [SEP] in this fixture).
            if (greedy.ids.back() != sep && hyps.front().ids.back() != sep)
                QVERIFY(hyps.front().score >= greedy.score - 1e-5);
        }

        // min_length forbids [SEP] early.
        GenerateParams minLen;
        minLen.numBeams = 3;
        minLen.maxLength = 8;
        minLen.minLength = 6;
        for (const auto &h : m_model->generate(states, mask, minLen))
            for (size_t i = 0; i + 1 < h.ids.size() && i + 1 < 6; ++i)
                QVERIFY(h.ids[i + 1] != sep);
    }
}

void TestModelVqa::engine()
{
    LoadReport report;
    auto engine = ModelRunner::load(m_arch, weightsPath(m_spec), {}, &report);
    QVERIFY(report.ok());
    QVERIFY(engine->hasVqa());
    QVERIFY(!engine->hasRetrieval());
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->textFeatures({{101, 102}}));

    torch::Tensor pixels = fixture(m_spec, "pixels").contiguous();
    torch::Tensor questions = fixture(m_spec, "question_input_ids");
    torch::Tensor answers = fixture(m_spec, "answer_input_ids");
    std::vector<std::vector<int64_t>> answerIds;
    for (int64_t a = 0; a < answers.size(0); ++a) {
        auto ids = withoutPadding(answers[a]);
        ids.front() = 101; // as the tokenizer gives it: the engine puts [DEC] itself
        answerIds.push_back(ids);
    }
    torch::Tensor topkIds = fixture(m_spec, "topk_ids"), topkScores = fixture(m_spec, "topk_log_prob_sum");
    torch::Tensor best = fixture(m_spec, "answer_index");
    const auto greedy = m_spec.at("greedy_token_ids");
    const int k = m_spec.at("k").get<int>();
    for (int64_t q = 0; q < questions.size(0); ++q) {
        std::vector<const float *> image{pixels[q].data_ptr<float>()};
        auto question = withoutPadding(questions[q]);
        question.front() = 101; // [CLS]; the engine swaps in [ENC]
        const auto ranked = engine->rankAnswers(image, question, answerIds, k);
        QCOMPARE(static_cast<int64_t>(ranked.size()), static_cast<int64_t>(k));
        QCOMPARE(static_cast<int64_t>(ranked.front().index), best[q].item<int64_t>());
        double worst = 0;
        for (const auto &r : ranked) {
            int64_t slot = -1;
            for (int64_t j = 0; j < topkIds.size(1); ++j)
                if (topkIds[q][j].item<int64_t>() == r.index)
                    slot = j;
            QVERIFY(slot >= 0);
            worst = std::max(worst, std::abs(r.score - topkScores[q][slot].item<double>()));
        }
        qInfo("engine rank scores: max abs error %.3g", worst);
        QVERIFY(worst <= kTolerance);

        const auto hyps = engine->generate(image, question, {});
        QCOMPARE(hyps.front().ids, greedy.at(q).get<std::vector<int64_t>>());
        ModelRunner::GenerateParams beam;
        beam.numBeams = 3;
        const auto beams = engine->generate(image, question, beam);
        QVERIFY(!beams.empty());

        // The photo's kept tokens (a second question about it) give the same answers.
        const auto tokens = engine->questionTokens(image);
        const auto rankedFromTokens = engine->rankAnswersTokens(tokens, question, answerIds, k);
        QCOMPARE(rankedFromTokens.size(), ranked.size());
        for (size_t i = 0; i < ranked.size(); ++i) {
            QCOMPARE(rankedFromTokens[i].index, ranked[i].index);
            QVERIFY(std::abs(rankedFromTokens[i].score - ranked[i].score) < 1e-9);
        }
        QCOMPARE(engine->generateTokens(tokens, question, {}).front().ids, hyps.front().ids);
        const auto beamsFromTokens = engine->generateTokens(tokens, question, beam);
        QCOMPARE(beamsFromTokens.size(), beams.size());
        for (size_t i = 0; i < beams.size(); ++i)
            QCOMPARE(beamsFromTokens[i].ids, beams[i].ids);
    }
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->generateTokens(nullptr, {101, 102}, {}));
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->rankAnswers({pixels[0].data_ptr<float>()}, {101, 102}, {}));
    QVERIFY_THROWS_EXCEPTION(ModelError, engine->rankAnswers({pixels[0].data_ptr<float>()}, {101, 102}, {{101}}));
}

void TestModelVqa::bfloat16()
{
    ModelRunner::Options bf;
    bf.bfloat16 = true;
    auto engine = ModelRunner::load(m_arch, weightsPath(m_spec), bf);
    QVERIFY(engine->isBfloat16());
    {
        // The whole answer path runs in bfloat16 and still picks the fixture's answers here.
        torch::Tensor pixels = fixture(m_spec, "pixels").contiguous();
        torch::Tensor questions = fixture(m_spec, "question_input_ids");
        torch::Tensor answers = fixture(m_spec, "answer_input_ids");
        std::vector<std::vector<int64_t>> answerIds;
        for (int64_t a = 0; a < answers.size(0); ++a)
            answerIds.push_back(withoutPadding(answers[a]));
        torch::Tensor best = fixture(m_spec, "answer_index");
        for (int64_t q = 0; q < questions.size(0); ++q) {
            std::vector<const float *> image{pixels[q].data_ptr<float>()};
            const auto ranked = engine->rankAnswers(image, withoutPadding(questions[q]), answerIds, 4);
            qInfo("bfloat16 rank: best %d (reference %lld), score %.3f", ranked.front().index,
                  static_cast<long long>(best[q].item<int64_t>()), ranked.front().score);
            QCOMPARE(static_cast<int64_t>(ranked.front().index), best[q].item<int64_t>());
            ModelRunner::GenerateParams beam;
            beam.numBeams = 3;
            QVERIFY(!engine->generate(image, withoutPadding(questions[q]), beam).empty());
        }
    }
    // The bfloat16 model's question states stay close to the float32 reference.
    UniAdapterModel model(m_model->architecture(), m_model->heads());
    {
        const StateDict dict = loadCheckpoint(weightsPath(m_spec));
        LoadReport r;
        model->loadFrom(dict, r);
        QVERIFY(r.ok());
    }
    model->castTo(torch::kCPU, torch::kBFloat16);
    c10::InferenceMode guard;
    torch::Tensor ids = fixture(m_spec, "question_input_ids");
    torch::Tensor states = model->encodeQuestion(ids, m_questionMask, model->encodeImage(fixture(m_spec, "pixels")));
    QCOMPARE(states.scalar_type(), torch::kBFloat16);
    torch::Tensor expected = fixture(m_spec, "question_states");
    torch::Tensor valid = m_questionMask.to(torch::kBool);
    const double cos = torch::nn::functional::cosine_similarity(
                           states.to(torch::kFloat32).index({valid}), expected.index({valid}),
                           torch::nn::functional::CosineSimilarityFuncOptions().dim(-1))
                           .min()
                           .item<double>();
    qInfo("bfloat16 question states: min cosine %.5f", cos);
    QVERIFY(cos >= 0.995);
}

QTEST_GUILESS_MAIN(TestModelVqa)
void TestModelVqa::bfloat16BlockEqualsPerParameterCast()
{
    // Preparing a bfloat16 model converts its parameters into one block (the attention's
    // weights fused as views of it, the word tables left float32 and cast row by row): the
    // question states and the generated answers are bit for bit those of a model whose
    // parameters were cast one by one, as every bfloat16 model was before.
    const StateDict dict = loadCheckpoint(weightsPath(m_spec));
    UniAdapterModel block(m_model->architecture(), m_model->heads());
    UniAdapterModel single(m_model->architecture(), m_model->heads());
    LoadReport blockReport, singleReport;
    block->bindFrom(dict, blockReport);
    single->bindFrom(dict, singleReport);
    QVERIFY(blockReport.ok() && singleReport.ok());
    {
        torch::NoGradGuard noGrad;
        for (auto &p : single->parameters())
            p.set_data(p.to(torch::kBFloat16).clone());
    }
    for (UniAdapterModel *m : {&block, &single}) {
        (*m)->prepareParts(ModelRunner::AllParts, torch::kCPU, torch::kBFloat16);
        (*m)->eval();
    }
    c10::InferenceMode guard;
    const torch::Tensor ids = fixture(m_spec, "question_input_ids");
    const torch::Tensor pixels = fixture(m_spec, "pixels");
    const torch::Tensor fromBlock = block->encodeQuestion(ids, m_questionMask, block->encodeImage(pixels));
    const torch::Tensor fromSingle = single->encodeQuestion(ids, m_questionMask, single->encodeImage(pixels));
    QCOMPARE(fromBlock.scalar_type(), torch::kBFloat16);
    QVERIFY(torch::equal(fromBlock, fromSingle));
    ModelRunner::GenerateParams beam;
    beam.numBeams = 3;
    const auto a = block->generate(fromBlock.narrow(0, 0, 1), m_questionMask.narrow(0, 0, 1), beam);
    const auto b = single->generate(fromSingle.narrow(0, 0, 1), m_questionMask.narrow(0, 0, 1), beam);
    QCOMPARE(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        QCOMPARE(a[i].ids, b[i].ids);
        QCOMPARE(a[i].score, b[i].score);
    }
}

void TestModelVqa::bfloat16DecoderBesideFloat32()
{
    // RunnerOptions::bfloat16Parts = Decoder (what precision "auto" runs on an Intel CPU with
    // AVX512_BF16 and no AMX): the answer decoder's own weights become bfloat16, everything
    // else, the adapters the decoder shares included, stays float32; the question states are
    // the float32 model's, and the decoder's scores stay close to the reference's.
    const StateDict dict = loadCheckpoint(weightsPath(m_spec));
    UniAdapterModel mixed(m_model->architecture(), m_model->heads());
    LoadReport report;
    mixed->bindFrom(dict, report);
    QVERIFY(report.ok());
    constexpr unsigned decoder = ModelRunner::Decoder;
    mixed->prepareParts(decoder, torch::kCPU, torch::kBFloat16, false, /*within=*/decoder);
    mixed->prepareParts(ModelRunner::AllParts & ~decoder, torch::kCPU, torch::kFloat32);
    mixed->eval();
    int bfloat16Count = 0, sharedCount = 0;
    for (const auto &item : mixed->named_parameters(true)) {
        const std::string &name = item.key();
        const bool own = UniAdapterModelImpl::partsOfParameter(name) == decoder;
        const bool wordTable = name.find(".embeddings.word_embeddings.weight") != std::string::npos; // stays float32
        const auto expected = own && !wordTable ? torch::kBFloat16 : torch::kFloat32;
        QVERIFY2(item.value().scalar_type() == expected, name.c_str());
        bfloat16Count += expected == torch::kBFloat16;
        sharedCount += (UniAdapterModelImpl::partsOfParameter(name) & decoder) && !own;
    }
    QVERIFY(bfloat16Count > 0);
    QVERIFY(sharedCount > 0); // the fixture's adapters serve the decoder and the encoder

    c10::InferenceMode guard;
    const torch::Tensor ids = fixture(m_spec, "question_input_ids");
    const torch::Tensor states = mixed->encodeQuestion(ids, m_questionMask, mixed->encodeImage(fixture(m_spec, "pixels")));
    QCOMPARE(states.scalar_type(), torch::kFloat32);
    COMPARE_OUTPUT("question_states", states, fixture(m_spec, "question_states"));

    // rank_answer: the reference's choices; log-probabilities within bfloat16's rounding
    // (its 8-bit mantissa: 0.03-0.04 nats a token on average here, 0.11 at most over the
    // first tokens; a decoder with wrong weights or states is off by whole nats a token).
    constexpr double kNatsPerToken = 0.25;
    torch::Tensor answers = fixture(m_spec, "answer_input_ids");
    const int64_t k = m_spec.at("k").get<int64_t>();
    RankOutput r = mixed->rankAnswers(states, m_questionMask, answers, (answers != 0).to(torch::kLong), k);
    QCOMPARE(toIds(r.best), toIds(fixture(m_spec, "answer_index")));
    const double firstTokenError =
        (r.firstTokenProb.log() - fixture(m_spec, "first_token_prob").log()).abs().max().item<double>();
    qInfo("bfloat16 decoder: first-token log-probabilities max abs error %.3g", firstTokenError);
    QVERIFY(firstTokenError < kNatsPerToken);

    // The reference's greedy answers score as the float32 decoder scores them.
    const auto greedy = m_spec.at("greedy_token_ids");
    for (int64_t q = 0; q < states.size(0); ++q) {
        const auto want = greedy.at(q).get<std::vector<int64_t>>();
        const double ref = m_model->sequenceLogProb(m_states.narrow(0, q, 1), m_questionMask.narrow(0, q, 1), want);
        const double got = mixed->sequenceLogProb(states.narrow(0, q, 1), m_questionMask.narrow(0, q, 1), want);
        qInfo("question %lld: log p %.5f (float32 %.5f) over %zu tokens", static_cast<long long>(q), got, ref,
              want.size() - 1);
        QVERIFY(std::abs(got - ref) <= kNatsPerToken * static_cast<double>(want.size() - 1));
        ModelRunner::GenerateParams beam;
        beam.numBeams = 3;
        QVERIFY(!mixed->generate(states.narrow(0, q, 1), m_questionMask.narrow(0, q, 1), beam).empty());
    }

    // Through the runner: the option applies to a float32 CPU runner only.
    ModelRunner::Options options;
    options.bfloat16Parts = decoder;
    auto runner = ModelRunner::load(m_arch, weightsPath(m_spec), options);
    QVERIFY(!runner->isBfloat16());
    QCOMPARE(runner->bfloat16Parts(), ModelRunner::Parts(decoder));
    torch::Tensor pixels = fixture(m_spec, "pixels").contiguous();
    auto question = withoutPadding(fixture(m_spec, "question_input_ids")[0]);
    QVERIFY(!runner->generate({pixels[0].data_ptr<float>()}, question, {}).empty());
    options.bfloat16 = true;
    QCOMPARE(ModelRunner::load(m_arch, weightsPath(m_spec), options)->bfloat16Parts(),
             ModelRunner::Parts(ModelRunner::AllParts));
    QCOMPARE(ModelRunner::load(m_arch, weightsPath(m_spec), {})->bfloat16Parts(), ModelRunner::Parts(0));
}

#include "tst_model_vqa.moc"
