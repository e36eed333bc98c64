#pragma once
// Fixture outputs as tensors and their comparison, for the tests of core/model (which link
// LibTorch; us_testsupport does not, so this is header-only).
#include "support/fixtures.h"
#include "support/npy.h"

#include <QtTest>
#include <torch/torch.h>

#include <limits>

namespace unisearch::test {

inline torch::Tensor toTensor(const Npy &npy)
{
    std::vector<int64_t> shape(npy.shape.begin(), npy.shape.end());
    if (!npy.f32.empty())
        return torch::from_blob(const_cast<float *>(npy.f32.data()), shape, torch::kFloat32).clone();
    return torch::from_blob(const_cast<int64_t *>(npy.i64.data()), shape, torch::kLong).clone();
}

// The case's output `output` (its file named in case.json's "outputs").
inline torch::Tensor caseOutput(const QString &caseName, const nlohmann::json &spec, const char *output)
{
    const std::string file = spec.at("outputs").at(output).get<std::string>();
    return toTensor(readNpy(caseDir(caseName) + QLatin1Char('/') + QString::fromStdString(file)));
}

// Infinity when the shapes differ.
inline double maxAbsError(const torch::Tensor &got, const torch::Tensor &expected)
{
    if (got.sizes() != expected.sizes())
        return std::numeric_limits<double>::infinity();
    return (got.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>();
}

} // namespace unisearch::test

// Fails the test unless got has expected's shape and every element is within tolerance.
#define COMPARE_TENSORS(label, got, expected, tolerance)                                                    \
    do {                                                                                                    \
        const torch::Tensor g_ = (got), e_ = (expected);                                                    \
        QCOMPARE(std::vector<int64_t>(g_.sizes().begin(), g_.sizes().end()),                                \
                 std::vector<int64_t>(e_.sizes().begin(), e_.sizes().end()));                               \
        const double err_ = ::unisearch::test::maxAbsError(g_, e_);                                         \
        qInfo("%s: max abs error %.3g", label, err_);                                                       \
        QVERIFY2(err_ <= (tolerance), qPrintable(QStringLiteral("%1 differs by %2").arg(label).arg(err_))); \
    } while (false)
