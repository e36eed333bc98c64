#include "engine/indexing/adaptive.h"

#include <algorithm>
#include <cmath>

namespace unisearch::engine::indexing {

AdaptiveController::AdaptiveController(AdaptiveParams params) : m_params(std::move(params))
{
    std::vector<int> &b = m_params.batches;
    b.erase(std::remove_if(b.begin(), b.end(), [](int v) { return v < 1; }), b.end());
    std::sort(b.begin(), b.end());
    b.erase(std::unique(b.begin(), b.end()), b.end());
    if (m_params.fixedBatch > 0)
        b = {m_params.fixedBatch};
    if (b.empty())
        b = {1};
    m_params.maxThreads = std::max(1, m_params.maxThreads);
    if (m_params.fixedThreads > 0)
        m_params.maxThreads = m_params.fixedThreads;
    m_params.exploreEvery = std::max(1, m_params.exploreEvery);
    m_params.minProbeGap = std::max(1, m_params.minProbeGap);
    m_params.smoothing = std::clamp(m_params.smoothing, 0.01, 1.0);
    AdaptiveConfig start = m_params.start;
    if (start.threads <= 0)
        start.threads = m_params.maxThreads;
    m_best = clamp(start);
    m_warmupLeft = std::max(0, m_params.warmupBatches);
    m_calibrating = !fixed();
    if (m_calibrating)
        startRound();
}

bool AdaptiveController::fixed() const
{
    return m_params.batches.size() == 1 && (m_params.fixedThreads > 0 || m_params.maxThreads == 1);
}

AdaptiveConfig AdaptiveController::clamp(AdaptiveConfig c) const
{
    const std::vector<int> &b = m_params.batches;
    if (m_params.fixedThreads > 0)
        c.threads = m_params.fixedThreads;
    c.threads = std::clamp(c.threads, minThreads(), m_params.maxThreads);
    // The largest candidate not above the wish, or the smallest candidate.
    auto it = std::upper_bound(b.begin(), b.end(), c.batch);
    c.batch = it == b.begin() ? b.front() : *(it - 1);
    return c;
}

std::vector<AdaptiveConfig> AdaptiveController::neighbours(const AdaptiveConfig &c) const
{
    const std::vector<int> &b = m_params.batches;
    const auto pos = static_cast<size_t>(std::find(b.begin(), b.end(), c.batch) - b.begin());
    std::vector<AdaptiveConfig> out;
    // Smaller first: under load the smaller batch and fewer threads are what helps.
    if (pos > 0 && pos < b.size())
        out.push_back({b[pos - 1], c.threads});
    if (c.threads > minThreads())
        out.push_back({c.batch, c.threads - 1});
    if (pos + 1 < b.size())
        out.push_back({b[pos + 1], c.threads});
    if (c.threads < m_params.maxThreads)
        out.push_back({c.batch, c.threads + 1});
    return out;
}

AdaptiveController::Entry &AdaptiveController::entry(const AdaptiveConfig &config)
{
    for (Entry &e : m_entries)
        if (e.config == config)
            return e;
    m_entries.push_back({config, -1, -1});
    return m_entries.back();
}

const AdaptiveController::Entry *AdaptiveController::find(const AdaptiveConfig &config) const
{
    for (const Entry &e : m_entries)
        if (e.config == config)
            return &e;
    return nullptr;
}

double AdaptiveController::estimate(const AdaptiveConfig &config) const
{
    const Entry *e = find(config);
    return e ? e->perImage : -1;
}

bool AdaptiveController::recent(const AdaptiveConfig &config, long window) const
{
    const Entry *e = find(config);
    return e && e->perImage >= 0 && m_batches - e->lastSeen <= window;
}

void AdaptiveController::startRound()
{
    m_calibrating = true;
    m_pending.clear();
    // What was measured before the last few batches may no longer hold (the load changed).
    const long window = m_batches == 0 ? m_params.staleAfter : m_params.exploreEvery;
    if (!recent(m_best, window))
        m_pending.push_back(m_best);
    for (const AdaptiveConfig &n : neighbours(m_best))
        if (!recent(n, window))
            m_pending.push_back(n);
    m_roundLeft = static_cast<int>(m_pending.size());
    if (m_roundLeft == 0)
        finishCalibration();
}

void AdaptiveController::finishCalibration()
{
    m_calibrating = false;
    m_pending.clear();
    m_sinceProbe = 0;
    m_reference = estimate(m_best);
}

void AdaptiveController::endRoundIfDone()
{
    if (--m_roundLeft > 0)
        return;
    const Entry *fastest = nullptr;
    for (const Entry &e : m_entries)
        if (recent(e.config, m_params.staleAfter) && (!fastest || e.perImage < fastest->perImage))
            fastest = &e;
    const double incumbent = estimate(m_best);
    if (fastest && fastest->config != m_best
        && (incumbent < 0 || fastest->perImage < (1 - m_params.margin) * incumbent)) {
        m_best = fastest->config;
        startRound();  // climb on from there
        return;
    }
    finishCalibration();
}

void AdaptiveController::schedulePeriodicProbe()
{
    const Entry *oldest = nullptr;
    AdaptiveConfig pick;
    bool found = false;
    for (const AdaptiveConfig &n : neighbours(m_best)) {
        const Entry *e = find(n);
        if (!e) {  // never measured: the oldest of all
            pick = n;
            found = true;
            break;
        }
        if (!found || e->lastSeen < oldest->lastSeen) {
            oldest = e;
            pick = n;
            found = true;
        }
    }
    if (found) {
        m_pending.push_back(pick);
        m_sinceProbe = 0;
    }
}

void AdaptiveController::scheduleBackoff()
{
    const std::vector<int> &b = m_params.batches;
    const auto pos = static_cast<size_t>(std::find(b.begin(), b.end(), m_best.batch) - b.begin());
    if (pos > 0 && pos < b.size())
        m_pending.push_back({b[pos - 1], m_best.threads});
    if (m_best.threads > minThreads())
        m_pending.push_back({m_best.batch, m_best.threads - 1});
    if (!m_pending.empty())
        m_sinceProbe = 0;
}

AdaptiveConfig AdaptiveController::next()
{
    m_lastWasProbe = false;
    if (m_warmupLeft > 0 || m_pending.empty())
        return m_best;
    const AdaptiveConfig c = m_pending.front();
    m_pending.erase(m_pending.begin());
    m_lastWasProbe = c != m_best;
    if (m_lastWasProbe)
        ++m_probeCount;
    return c;
}

void AdaptiveController::observe(const AdaptiveConfig &config, int images, double seconds)
{
    if (fixed() || images <= 0 || !(seconds > 0) || !std::isfinite(seconds))
        return;
    if (m_warmupLeft > 0) {
        --m_warmupLeft;
        return;
    }
    ++m_batches;
    const double x = seconds / images;
    Entry &e = entry(clamp(config));
    const bool fresh = e.perImage >= 0 && m_batches - e.lastSeen <= m_params.staleAfter;
    const double previous = fresh ? e.perImage : -1;
    e.perImage = fresh ? m_params.smoothing * x + (1 - m_params.smoothing) * previous : x;
    e.lastSeen = m_batches;

    if (m_calibrating) {
        endRoundIfDone();
        return;
    }
    if (e.config != m_best) {  // a probe came back
        if (e.perImage < (1 - m_params.margin) * estimate(m_best)) {
            m_best = e.config;
            startRound();  // climb on from there: its neighbours may be faster still
        } else if (m_pending.empty()) {
            m_reference = estimate(m_best);  // nothing better: this is the machine now
        }
        return;
    }
    ++m_sinceProbe;
    if (!m_pending.empty())
        return;
    // The machine got busy: the incumbent is slower than when it was chosen.
    if (m_reference > 0 && e.perImage > (1 + m_params.slowdown) * m_reference && m_sinceProbe >= m_params.minProbeGap)
        scheduleBackoff();
    else if (m_sinceProbe >= m_params.exploreEvery)
        schedulePeriodicProbe();
}

} // namespace unisearch::engine::indexing
