#pragma once
// `unisearch-bench duplicates`: finding duplicates (engine/duplicates.h) over a generated set
// of 100,000 items: random unit vectors with planted near copies and byte copies; time of
// each part and peak memory.
int runDuplicatesBench(int argc, char **argv);
