#pragma once
// The adaptive batch/thread controller of the index job: it is fed what each batch cost
// (images, wall seconds) and says which configuration — model batch size and LibTorch
// threads — the next batch should use. Pure: no
// clock, no threads, no LibTorch, so tests drive it with synthetic timings.
//
// Why a controller instead of a fixed batch 8: on the 2-core development machine a batch
// of 8 was the fastest per image when idle (bfloat16 0.28 s/image) but fell to 1.9–2.5
// s/image in float32 while another process used part of one core, against 0.8 s at batch
// 1. Why (issue 13; the load bench, docs/performance.md "Indexing under load", shows the
// numbers; the mechanism below is the explanation the code acts on, not a profile):
// every LibTorch operator is an OpenMP parallel region whose work is split evenly between
// the team's threads up front and that ends at a barrier. When one of the two cores is
// shared with another process, the thread on it is descheduled for whole scheduler slices
// while its partner (PASSIVE wait policy: asleep, not spinning) waits at the barrier, so
// every operator runs at the speed of the slowest core, and the decode pool competes for
// the same cores on top. float32 matrix products go through OpenBLAS, whose own pthread
// pool (as many threads as cores, not governed by at::set_num_threads) polls while it
// waits; larger batches make larger products that OpenBLAS splits over all its threads.
// A larger batch also has a working set (attention maps of 8 × 12 heads × 577² floats per
// layer) far beyond the caches the other process shares. Fewer model threads (no barrier
// partner to wait for) and smaller batches lose less; which configuration wins depends on
// the machine, the precision and the load, so it
// is measured, not assumed.
//
// The algorithm (hill climbing on a small grid, with periodic re-checks):
//  1. calibration: starting at `start`, each neighbour of the incumbent (one batch step
//     up/down in `batches`, one LibTorch thread more/less) runs one batch; the best becomes
//     the incumbent and its unmeasured neighbours are tried, until no neighbour is better
//     by `margin`;
//  2. then the incumbent runs; every `exploreEvery` batches one neighbour (the one measured
//     longest ago) is probed and replaces the incumbent when faster by `margin`;
//  3. back-off: when the incumbent's average takes `slowdown` longer per image than when it
//     was chosen (the machine got busy), the next smaller batch and one thread fewer are
//     probed at once (at most every `minProbeGap` batches) instead of waiting for step 2.
//  A probe that wins starts a calibration round around the new incumbent (step 1 again,
//  re-measuring neighbours not measured in the last `exploreEvery` batches).
// Estimates are exponential moving averages per configuration; an estimate older than
// `staleAfter` batches is dropped when the configuration is measured again.
#include <vector>

namespace unisearch::engine::indexing {

struct AdaptiveConfig {
    int batch = 8;
    int threads = 1;  // LibTorch intra-op threads
    bool operator==(const AdaptiveConfig &o) const { return batch == o.batch && threads == o.threads; }
    bool operator!=(const AdaptiveConfig &o) const { return !(*this == o); }
};

struct AdaptiveParams {
    std::vector<int> batches{1, 2, 4, 8};  // candidate batch sizes, ascending
    int maxThreads = 2;       // LibTorch threads are chosen in [1, maxThreads] (the job: cores)
    int fixedBatch = 0;       // > 0: the user's batch size, never changed
    int fixedThreads = 0;     // > 0: the user's LibTorch threads, never changed
    // First configuration (threads 0: maxThreads): the fastest on an idle machine, so an
    // idle run pays only for probing its neighbours once. Batch 8 (again): with 12-MP JPEGs
    // decoded beside the model on 2 idle cores, bfloat16 indexed at 0.27-0.30 s/image at
    // batch 8 against 0.41-0.42 at batch 1 once OpenMP's threads stopped spinning against
    // the decoders (`unisearch-bench pipeline --load 0.5 --load-precision bfloat16`,
    // docs/performance.md); a start at batch 1 spent 4-7 probes climbing and ended at 2 or 4.
    AdaptiveConfig start{8, 0};
    int warmupBatches = 1;    // first observations ignored (model warm-up, an empty queue)
    int exploreEvery = 6;     // batches between periodic probes after the calibration
    int minProbeGap = 2;      // batches at least between two back-off probes
    double margin = 0.05;     // a probe must be this much faster (relative) to replace the incumbent
    double slowdown = 0.3;    // relative rise of the incumbent's per-image time that triggers back-off
    double smoothing = 0.5;   // weight of the newest observation in a configuration's average
    int staleAfter = 30;      // batches after which an estimate no longer counts
};

class AdaptiveController
{
public:
    explicit AdaptiveController(AdaptiveParams params = {});

    // The configuration for the next batch (a probe or the incumbent).
    AdaptiveConfig next();
    // What a batch run with `config` cost: `images` images in `seconds` (wall time).
    void observe(const AdaptiveConfig &config, int images, double seconds);

    AdaptiveConfig best() const { return m_best; }
    bool calibrating() const { return m_calibrating; }
    bool lastWasProbe() const { return m_lastWasProbe; }
    int probes() const { return m_probeCount; }
    // The per-image estimate of a configuration; < 0: never measured.
    double estimate(const AdaptiveConfig &config) const;
    // Whether the user fixed both values (the controller then never changes anything).
    bool fixed() const;

private:
    struct Entry {
        AdaptiveConfig config;
        double perImage = -1;
        long lastSeen = -1;  // batch number of the last observation
    };
    Entry &entry(const AdaptiveConfig &config);
    const Entry *find(const AdaptiveConfig &config) const;
    std::vector<AdaptiveConfig> neighbours(const AdaptiveConfig &config) const;
    AdaptiveConfig clamp(AdaptiveConfig config) const;
    int minThreads() const { return m_params.fixedThreads > 0 ? m_params.fixedThreads : 1; }
    // Measured within the last `window` batches.
    bool recent(const AdaptiveConfig &config, long window) const;
    void startRound();       // calibration: probe the incumbent's neighbours not measured lately
    void finishCalibration();
    void endRoundIfDone();
    void schedulePeriodicProbe();
    void scheduleBackoff();

    AdaptiveParams m_params;
    std::vector<Entry> m_entries;
    std::vector<AdaptiveConfig> m_pending;  // probes still to run, in order
    AdaptiveConfig m_best;
    bool m_calibrating = true;
    bool m_lastWasProbe = false;
    long m_batches = 0;            // observations counted (after warm-up)
    long m_warmupLeft = 0;
    long m_sinceProbe = 0;         // incumbent batches since the last probe
    int m_probeCount = 0;
    int m_roundLeft = 0;           // calibration probes of this round not yet observed
    double m_reference = -1;       // the incumbent's per-image time when it was chosen
};

} // namespace unisearch::engine::indexing
