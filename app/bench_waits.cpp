#include "bench_waits.h"

#include <cstdio>

int runWaitsBench(int, char **)
{
    std::fprintf(stderr, "unisearch-bench waits: not written yet\n");
    return 2;
}
