#include <cstdio>
int main() { std::puts("unisearch-cli"); return 0; }
