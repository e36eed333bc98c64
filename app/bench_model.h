#pragma once
// `unisearch-bench model`: engine speed, full-size model with random weights.
int runModelBench(int argc, char **argv);
