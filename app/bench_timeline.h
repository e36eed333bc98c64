#pragma once
// `unisearch-bench timeline`: the window's first view over a generated library of 100,000
// items (catalog rows only): time to the first view, time per scroll step, peak memory.
int runTimelineBench(int argc, char **argv);
