#pragma once
// `unisearch-bench waits`: what a person waits for, measured as a person meets it: cold
// unisearch-cli runs (status, search, search --rerank, ask) against a data dir holding a
// full-size model with random weights, wall time and peak resident memory of each.
int runWaitsBench(int argc, char **argv);
