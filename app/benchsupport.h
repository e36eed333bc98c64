// Small pieces the `unisearch-bench` modes share.
#pragma once

#ifdef UNISEARCH_BENCH_CORE
#include <memory>
class QCoreApplication;
#endif

namespace unisearch::bench {

// The value of option argv[i] (argv[i + 1]; `i` steps past it). Without one, prints
// "unisearch-bench <mode>: <option> needs a value" on stderr and exits with 2.
const char *optionValue(const char *mode, int argc, char **argv, int &i);

// The 1-minute load average, or -1 when the system does not say.
double loadAverage();

#ifdef UNISEARCH_BENCH_CORE
// A QCoreApplication named unisearch-bench when there is none yet (QStandardPaths, QProcess and
// the engine want one); null when one exists. Keep it alive for the suite's run.
std::unique_ptr<QCoreApplication> ensureCoreApplication();
#endif

} // namespace unisearch::bench
