#pragma once
// `unisearch-bench pipeline`: the indexing pipeline and the whole search, end to end:
//   efficiency  end-to-end images/s indexing generated 12-megapixel JPEGs against the
//               model-only images/s at the same batch size (full-size model, random weights)
//   query       whole `search` latency (clean-up, text feature, store, grouping) over a
//               store and catalog of --items rows, in a warm process
//   memory      resident memory while indexing --rss-images small photos (at 1k, 5k, 10k)
int runPipelineBench(int argc, char **argv);
