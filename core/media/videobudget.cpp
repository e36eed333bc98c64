#include "media/videodecoder_p.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

// DecodeLimits' time budgets and requestInterruption(): checked between steps and, through
// the format context's interrupt callback, inside a blocked demuxer read.

namespace unisearch::media {

using detail::Clock;
using detail::fail;

int VideoDecoder::Impl::interruptCallback(void *opaque)
{
    auto *self = static_cast<Impl *>(opaque);
    return self->shouldStop() ? 1 : 0;
}

bool VideoDecoder::Impl::shouldStop() const
{
    return interruptRequested.load(std::memory_order_relaxed) || (inCall && Clock::now() > deadline);
}

void VideoDecoder::Impl::checkStop() const
{
    if (interruptRequested.load(std::memory_order_relaxed))
        fail(DecodeError::Cancelled, "cancelled");
    if (inCall && Clock::now() > deadline)
        failTimedOut();
}

void VideoDecoder::Impl::failTimedOut() const
{
    char buf[160];
    if (deadlineIsFileBudget)
        std::snprintf(buf, sizeof buf, "decoding took too long: the file's time budget of %.1f s is used up",
                      fileBudgetSec);
    else
        std::snprintf(buf, sizeof buf, "decoding took too long: gave up after %.1f s (stalled read or broken stream?)",
                      options.limits.callBudgetSec);
    fail(DecodeError::TimedOut, buf);
}

void VideoDecoder::Impl::beginCall()
{
    callStart = Clock::now();
    const double fileLeft = fileBudgetSec - stats.secondsSpent;
    const double callBudget = options.limits.callBudgetSec;
    deadlineIsFileBudget = fileLeft < callBudget;
    // Capped so that "no limit" (a huge number) cannot overflow the clock.
    const double budget = std::clamp(std::min(fileLeft, callBudget), 0.0, 1e6);
    deadline = callStart + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(budget));
    inCall = true;
}

void VideoDecoder::Impl::endCall()
{
    inCall = false;
    stats.secondsSpent += std::chrono::duration<double>(Clock::now() - callStart).count();
}

} // namespace unisearch::media
