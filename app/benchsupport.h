// Small pieces the `unisearch-bench` modes share.
#pragma once

namespace unisearch::bench {

// The value of option argv[i] (argv[i + 1]; `i` steps past it). Without one, prints
// "unisearch-bench <mode>: <option> needs a value" on stderr and exits with 2.
const char *optionValue(const char *mode, int argc, char **argv, int &i);

} // namespace unisearch::bench
