#include "benchsupport.h"

#include <cstdio>
#include <cstdlib>

namespace unisearch::bench {

const char *optionValue(const char *mode, int argc, char **argv, int &i)
{
    if (i + 1 >= argc) {
        std::fprintf(stderr, "unisearch-bench %s: %s needs a value\n", mode, argv[i]);
        std::exit(2);
    }
    return argv[++i];
}

} // namespace unisearch::bench
