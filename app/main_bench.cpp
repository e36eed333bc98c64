#include <cstdio>
int main() { std::puts("unisearch-bench"); return 0; }
