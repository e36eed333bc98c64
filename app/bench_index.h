#pragma once
// `unisearch-bench index`: the vector store over 1,000,000 random unit vectors:
// index type, build time, memory, recall@10 against exact search, search latency.
int runIndexBench(int argc, char **argv);
