#pragma once
// `unisearch-bench train`: seconds per training step (batch 8) of the adapter trainer.
int runTrainBench(int argc, char **argv);
