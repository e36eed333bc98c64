#include "benchsupport.h"

#include <cstdio>
#include <cstdlib>

#ifdef UNISEARCH_BENCH_CORE
#include <QCoreApplication>
#endif

namespace unisearch::bench {

const char *optionValue(const char *mode, int argc, char **argv, int &i)
{
    if (i + 1 >= argc) {
        std::fprintf(stderr, "unisearch-bench %s: %s needs a value\n", mode, argv[i]);
        std::exit(2);
    }
    return argv[++i];
}

double loadAverage()
{
    double l[1] = {-1};
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

#ifdef UNISEARCH_BENCH_CORE
std::unique_ptr<QCoreApplication> ensureCoreApplication()
{
    if (QCoreApplication::instance())
        return nullptr;
    static int qtArgc = 1;
    static char name[] = "unisearch-bench";
    static char *qtArgv[] = {name, nullptr};
    return std::make_unique<QCoreApplication>(qtArgc, qtArgv);
}
#endif

} // namespace unisearch::bench
