#pragma once
// Reader for the fixtures' .npy files (little-endian, C order, float32 or int64).
#include <QString>
#include <cstdint>
#include <utility>
#include <vector>

namespace unisearch::test {

struct Npy {
    std::vector<int64_t> shape;
    std::vector<float> f32;    // filled for '<f4'
    std::vector<int64_t> i64;  // filled for '<i8'
    int64_t numel() const;
    // Row-major flat index helper.
    float at(std::initializer_list<int64_t> idx) const;
};

Npy readNpy(const QString &path); // throws std::runtime_error

// The rows of a [rows, cols] float matrix ordered by their value in column c, highest first.
// The pairs (a, b) of rows whose value in column c is larger for a than for b by more than
// minGap: the orders a test may assert. A closer pair is a near-tie that another CPU, BLAS
// kernel or precision may order either way, while both scores stay within tolerance.
std::vector<std::pair<int, int>> clearlyOrderedRows(const Npy &m, int c, double minGap);

} // namespace unisearch::test
