// UniAdapterModelImpl's answering: ranking candidate answers and generating them with the
// text decoder over a question's states (the reference's rank_answer and generate).
#include "uniadapter_p.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace unisearch::model {

torch::Tensor UniAdapterModelImpl::encodeQuestion(const torch::Tensor &ids, const torch::Tensor &mask,
                                                  const torch::Tensor &visualTokens) const
{
    torch::Tensor encIds = ids.clone();
    encIds.select(1, 0).fill_(static_cast<int64_t>(m_arch.special.enc));
    const CrossState cross = m_text->encoder->prepareCross(visualTokens, torch::Tensor(), torch::Tensor());
    return m_text->forward(encIds, mask, TextMode::Multimodal, &cross);
}

CrossState UniAdapterModelImpl::decoderCross(const torch::Tensor &questionStates, const torch::Tensor &questionMask) const
{
    return m_decoder->bert->encoder->prepareCross(questionStates.to(m_decoder->bert->dtype()), questionMask,
                                                  torch::Tensor());
}

torch::Tensor UniAdapterModelImpl::decoderStep(const torch::Tensor &ids, const CrossState &cross,
                                               SelfCache &cache) const
{
    torch::Tensor hidden = m_decoder->bert->forward(ids, torch::Tensor(), TextMode::Multimodal, &cross,
                                                    /*causal=*/true, &cache);
    return m_decoder->logits(hidden.select(1, hidden.size(1) - 1)).to(torch::kFloat32);
}

RankOutput UniAdapterModelImpl::rankAnswers(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                                            const torch::Tensor &answerIds, const torch::Tensor &answerMask,
                                            int64_t k) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    const int64_t numQuestions = questionStates.size(0);
    const int64_t numAnswers = answerIds.size(0);
    TORCH_CHECK(numAnswers > 0 && answerIds.size(1) >= 2, "the answer list is empty");
    k = std::clamp<int64_t>(k, 1, numAnswers);
    const auto device = questionStates.device();
    constexpr double kSmoothing = 0.1; // label smoothing of the reference's decoder loss
    const int64_t vocab = m_arch.text.vocabSize;
    const auto pad = static_cast<int64_t>(m_arch.special.pad);

    torch::Tensor ids = answerIds.to(device).clone();
    ids.select(1, 0).fill_(static_cast<int64_t>(m_arch.special.decBos));
    torch::Tensor atts = answerMask.to(device);
    const torch::Tensor firstTokens = ids.select(1, 1);

    RankOutput out;
    out.firstTokenProb = torch::empty({numQuestions, numAnswers}, torch::TensorOptions().dtype(torch::kFloat32));
    out.topkIds = torch::empty({numQuestions, k}, torch::kLong);
    out.topkScores = torch::empty({numQuestions, k}, torch::kFloat32);
    out.best = torch::empty({numQuestions}, torch::kLong);

    for (int64_t q = 0; q < numQuestions; ++q) {
        // The question's states serve all of its candidates: project cross K/V once.
        const CrossState cross = decoderCross(questionStates.narrow(0, q, 1),
                                              questionMask.defined() ? questionMask.narrow(0, q, 1) : torch::Tensor());

        // First token after [DEC]: softmax over the vocabulary, read at each answer's first token.
        SelfCache cache;
        torch::Tensor startLogits = decoderStep(ids.narrow(0, 0, 1).narrow(1, 0, 1), cross, cache); // [1,V]
        torch::Tensor prob = startLogits.softmax(-1).index_select(1, firstTokens).squeeze(0);     // [A]
        auto [topProb, topIds] = prob.topk(k);

        // Score each top-k candidate: -(sum over tokens of the label-smoothed cross entropy),
        // padding (id 0) ignored, [SEP] included, as BertLMHeadModel(reduction='none') does.
        torch::Tensor candIds = ids.index_select(0, topIds); // [k,La]
        torch::Tensor candAtts = atts.index_select(0, topIds);
        // Columns that are padding for every selected candidate cost compute and change nothing.
        const int64_t len = std::max<int64_t>(2, candAtts.sum(1).max().item<int64_t>());
        candIds = candIds.narrow(1, 0, len);
        candAtts = candAtts.narrow(1, 0, len);
        const double tokenWeight = 1.0 - kSmoothing, classWeight = kSmoothing / static_cast<double>(vocab);

        // Position 0 ([DEC]) is the same for every candidate: its prediction is the start step's.
        torch::Tensor logp0 = startLogits.log_softmax(-1).squeeze(0); // [V]
        torch::Tensor first = candIds.select(1, 1);
        torch::Tensor loss = (tokenWeight * -logp0.index_select(0, first) + classWeight * -logp0.sum())
                                 .mul_((first != pad).to(torch::kFloat32)); // [k]

        if (len > 2) {
            // Positions 1..len-2 continue from the cached [DEC] step, all candidates at once.
            SelfCache shared;
            for (size_t i = 0; i < cache.keys.size(); ++i) {
                shared.keys.push_back(cache.keys[i].expand({k, -1, -1, -1}));
                shared.values.push_back(cache.values[i].expand({k, -1, -1, -1}));
            }
            torch::Tensor hidden = m_decoder->bert->forward(candIds.narrow(1, 1, len - 2), candAtts.narrow(1, 0, len - 1),
                                                            TextMode::Multimodal, &cross, /*causal=*/true, &shared);
            // Only positions with a target go through the vocabulary projection, and each
            // distinct prefix once (candidates often share their first words).
            torch::Tensor idsCpu = candIds.cpu();
            auto idsA = idsCpu.accessor<int64_t, 2>();
            std::map<std::vector<int64_t>, int64_t> prefixRow;
            std::vector<int64_t> uniqueRows, inverse, targetIds, candidateOf;
            for (int64_t i = 0; i < k; ++i) {
                for (int64_t j = 0; j < len - 2; ++j) {
                    const int64_t target = idsA[i][j + 2];
                    if (target == pad)
                        continue;
                    std::vector<int64_t> prefix(&idsA[i][0], &idsA[i][0] + j + 2);
                    auto [it, inserted] = prefixRow.emplace(std::move(prefix), static_cast<int64_t>(uniqueRows.size()));
                    if (inserted)
                        uniqueRows.push_back(i * (len - 2) + j);
                    inverse.push_back(it->second);
                    targetIds.push_back(target);
                    candidateOf.push_back(i);
                }
            }
            if (!uniqueRows.empty()) {
                auto longOpts = torch::TensorOptions().dtype(torch::kLong).device(device);
                torch::Tensor rows = torch::tensor(uniqueRows, longOpts);
                torch::Tensor inv = torch::tensor(inverse, longOpts);
                torch::Tensor h = hidden.reshape({-1, hidden.size(2)}).index_select(0, rows);   // [u,W]
                torch::Tensor logp = m_decoder->logits(h).to(torch::kFloat32).log_softmax(-1); // [u,V]
                torch::Tensor nll = -logp.index({inv, torch::tensor(targetIds, longOpts)});     // [n]
                torch::Tensor smooth = -logp.sum(-1).index_select(0, inv);                      // [n]
                loss.index_add_(0, torch::tensor(candidateOf, longOpts), tokenWeight * nll + classWeight * smooth);
            }
        }
        torch::Tensor scores = -loss; // [k]

        out.firstTokenProb[q].copy_(prob.cpu());
        out.topkIds[q].copy_(topIds.cpu());
        out.topkScores[q].copy_(scores.cpu());
        out.best[q] = topIds[scores.argmax()].cpu();
    }
    return out;
}

GeneratedSequence UniAdapterModelImpl::greedy(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                                              int maxLength, int minLength, double lengthPenalty) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    const CrossState cross = decoderCross(questionStates, questionMask);
    const int64_t eos = static_cast<int64_t>(m_arch.special.sep);
    GeneratedSequence seq;
    seq.ids.push_back(static_cast<int64_t>(m_arch.special.decBos));
    SelfCache cache;
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(questionStates.device());
    while (static_cast<int>(seq.ids.size()) < maxLength) {
        torch::Tensor logp = decoderStep(torch::full({1, 1}, seq.ids.back(), opts), cross, cache).log_softmax(-1);
        if (static_cast<int>(seq.ids.size()) < minLength)
            logp.select(1, eos).fill_(-std::numeric_limits<float>::infinity());
        const int64_t next = logp.argmax(-1).item<int64_t>();
        seq.sumLogProb += logp[0][next].item<double>();
        seq.ids.push_back(next);
        if (next == eos)
            break;
    }
    const auto length = static_cast<double>(seq.ids.back() == eos ? seq.ids.size() - 1 : seq.ids.size());
    seq.score = seq.sumLogProb / std::pow(length, lengthPenalty);
    return seq;
}

std::vector<GeneratedSequence> UniAdapterModelImpl::generate(const torch::Tensor &questionStates,
                                                             const torch::Tensor &questionMask,
                                                             const GenerateParams &options) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    const int numBeams = std::max(1, options.numBeams);
    const int maxLength = std::max(2, options.maxLength);
    const int64_t eos = static_cast<int64_t>(m_arch.special.sep);
    const double lp = options.lengthPenalty;
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(questionStates.device());

    // Cross K/V of the question once (batch 1, broadcast over the beams).
    const CrossState cross = decoderCross(questionStates, questionMask);

    // Beam search in the manner of Hugging Face's BeamSearchScorer (batch of one, no early
    // stopping): 2·beams candidates per step, [SEP] candidates ranked within the first
    // `beams` close a hypothesis, finished scores are sum log p / length^lengthPenalty.
    std::vector<std::vector<int64_t>> beams(numBeams, std::vector<int64_t>{static_cast<int64_t>(m_arch.special.decBos)});
    std::vector<double> beamScores(numBeams, -1e9);
    beamScores[0] = 0.0; // identical start beams: only the first may expand at step one
    std::vector<GeneratedSequence> finished;
    auto worstFinished = [&finished]() {
        double worst = std::numeric_limits<double>::infinity();
        for (const auto &f : finished)
            worst = std::min(worst, f.score);
        return worst;
    };
    auto addFinished = [&](std::vector<int64_t> ids, double sumLogProb, size_t scoredLength) {
        GeneratedSequence seq;
        seq.ids = std::move(ids);
        seq.sumLogProb = sumLogProb;
        seq.score = sumLogProb / std::pow(static_cast<double>(scoredLength), lp);
        if (static_cast<int>(finished.size()) < numBeams || seq.score > worstFinished()) {
            finished.push_back(std::move(seq));
            if (static_cast<int>(finished.size()) > numBeams) {
                auto worst = std::min_element(finished.begin(), finished.end(),
                                              [](const auto &a, const auto &b) { return a.score < b.score; });
                finished.erase(worst);
            }
        }
    };

    SelfCache cache;
    bool done = false;
    torch::Tensor lastTokens = torch::full({numBeams, 1}, static_cast<int64_t>(m_arch.special.decBos), opts);
    for (int curLen = 1; curLen < maxLength && !done; ++curLen) {
        torch::Tensor logp = decoderStep(lastTokens, cross, cache).log_softmax(-1).cpu(); // [nb,V]
        if (curLen < options.minLength)
            logp.select(1, eos).fill_(-std::numeric_limits<float>::infinity());
        torch::Tensor scores = logp + torch::tensor(beamScores, torch::kFloat64).to(torch::kFloat32).unsqueeze(1);
        const int64_t vocab = scores.size(1);
        auto [topScores, topIdx] = scores.view({-1}).topk(2 * numBeams);
        auto topScoresA = topScores.accessor<float, 1>();
        auto topIdxA = topIdx.accessor<int64_t, 1>();

        std::vector<int64_t> nextBeam, nextToken;
        std::vector<double> nextScores;
        for (int64_t r = 0; r < topIdx.size(0) && static_cast<int>(nextBeam.size()) < numBeams; ++r) {
            const int64_t beam = topIdxA[r] / vocab, token = topIdxA[r] % vocab;
            if (token == eos) {
                if (r >= numBeams)
                    continue;
                auto ids = beams[beam];
                const size_t scoredLength = ids.size(); // [SEP] not counted
                ids.push_back(eos);
                addFinished(std::move(ids), topScoresA[r], scoredLength);
            } else {
                nextBeam.push_back(beam);
                nextToken.push_back(token);
                nextScores.push_back(topScoresA[r]);
            }
        }
        // Done when no running beam can beat the worst kept hypothesis.
        if (static_cast<int>(finished.size()) >= numBeams) {
            const double best = topScoresA[0] / std::pow(static_cast<double>(curLen), lp);
            done = worstFinished() >= best;
        }
        if (done || nextBeam.empty())
            break;

        std::vector<std::vector<int64_t>> newBeams;
        for (size_t i = 0; i < nextBeam.size(); ++i) {
            newBeams.push_back(beams[nextBeam[i]]);
            newBeams.back().push_back(nextToken[i]);
        }
        beams = std::move(newBeams);
        beamScores = nextScores;
        cache.reorder(torch::tensor(nextBeam, opts));
        lastTokens = torch::tensor(nextToken, opts).unsqueeze(1);
    }
    if (!done) {
        for (size_t b = 0; b < beams.size(); ++b)
            if (beams[b].size() > 1)
                addFinished(beams[b], beamScores[b], beams[b].size());
    }
    std::sort(finished.begin(), finished.end(), [](const auto &a, const auto &b) { return a.score > b.score; });
    return finished;
}

torch::Tensor UniAdapterModelImpl::decoderLogits(const torch::Tensor &ids, const torch::Tensor &mask,
                                                 const torch::Tensor &questionStates,
                                                 const torch::Tensor &questionMask) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    const CrossState cross = decoderCross(questionStates, questionMask);
    torch::Tensor hidden = m_decoder->bert->forward(ids, mask, TextMode::Multimodal, &cross, /*causal=*/true);
    return m_decoder->logits(hidden);
}

double UniAdapterModelImpl::sequenceLogProb(const torch::Tensor &questionStates, const torch::Tensor &questionMask,
                                            const std::vector<int64_t> &ids) const
{
    TORCH_CHECK(m_decoder, "this model has no VQA decoder");
    TORCH_CHECK(ids.size() >= 2, "sequenceLogProb needs at least two ids");
    const CrossState cross = decoderCross(questionStates, questionMask);
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(questionStates.device());
    torch::Tensor t = torch::tensor(ids, opts).unsqueeze(0);
    torch::Tensor hidden = m_decoder->bert->forward(t, torch::Tensor(), TextMode::Multimodal, &cross, true);
    torch::Tensor logp = m_decoder->logits(hidden.squeeze(0).narrow(0, 0, t.size(1) - 1)).to(torch::kFloat32).log_softmax(-1);
    return logp.gather(1, t.squeeze(0).narrow(0, 1, t.size(1) - 1).unsqueeze(1)).sum().item<double>();
}

} // namespace unisearch::model
