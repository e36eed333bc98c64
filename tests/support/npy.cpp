#include "support/npy.h"

#include <algorithm>
#include <numeric>

#include <QFile>
#include <QRegularExpression>
#include <cstring>
#include <stdexcept>

namespace unisearch::test {

int64_t Npy::numel() const
{
    int64_t n = 1;
    for (auto d : shape)
        n *= d;
    return n;
}

float Npy::at(std::initializer_list<int64_t> idx) const
{
    if (idx.size() != shape.size())
        throw std::runtime_error("Npy::at: wrong number of indices");
    int64_t flat = 0;
    size_t k = 0;
    for (auto i : idx)
        flat = flat * shape[k++] + i;
    return f32.empty() ? float(i64.at(flat)) : f32.at(flat);
}

Npy readNpy(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        throw std::runtime_error("cannot open " + path.toStdString());
    const QByteArray data = f.readAll();
    if (data.size() < 10 || !data.startsWith("\x93NUMPY"))
        throw std::runtime_error("not an npy file: " + path.toStdString());
    const int major = uint8_t(data[6]);
    size_t headerLen, offset;
    if (major == 1) {
        headerLen = uint8_t(data[8]) | (uint8_t(data[9]) << 8);
        offset = 10;
    } else {
        headerLen = uint32_t(uint8_t(data[8])) | (uint32_t(uint8_t(data[9])) << 8)
            | (uint32_t(uint8_t(data[10])) << 16) | (uint32_t(uint8_t(data[11])) << 24);
        offset = 12;
    }
    const QString header = QString::fromLatin1(data.mid(offset, headerLen));
    offset += headerLen;
    Npy out;
    const auto descr = QRegularExpression(QStringLiteral("'descr':\\s*'([^']+)'")).match(header);
    const auto order = QRegularExpression(QStringLiteral("'fortran_order':\\s*(\\w+)")).match(header);
    const auto shape = QRegularExpression(QStringLiteral("'shape':\\s*\\(([^)]*)\\)")).match(header);
    if (!descr.hasMatch() || !shape.hasMatch() || order.captured(1) != QLatin1String("False"))
        throw std::runtime_error("unsupported npy header in " + path.toStdString());
    for (const QString &s : shape.captured(1).split(QLatin1Char(','), Qt::SkipEmptyParts))
        if (!s.trimmed().isEmpty())
            out.shape.push_back(s.trimmed().toLongLong());
    const int64_t n = out.numel();
    const char *p = data.constData() + offset;
    const size_t avail = size_t(data.size()) - offset;
    if (descr.captured(1) == QLatin1String("<f4")) {
        if (avail < size_t(n) * 4)
            throw std::runtime_error("truncated npy " + path.toStdString());
        out.f32.resize(n);
        std::memcpy(out.f32.data(), p, n * 4);
    } else if (descr.captured(1) == QLatin1String("<i8")) {
        if (avail < size_t(n) * 8)
            throw std::runtime_error("truncated npy " + path.toStdString());
        out.i64.resize(n);
        std::memcpy(out.i64.data(), p, n * 8);
    } else {
        throw std::runtime_error("unsupported npy dtype " + descr.captured(1).toStdString());
    }
    return out;
}

std::vector<std::pair<int, int>> clearlyOrderedRows(const Npy &m, int c, double minGap)
{
    std::vector<std::pair<int, int>> out;
    const int rows = static_cast<int>(m.shape.at(0));
    for (int a = 0; a < rows; ++a)
        for (int b = 0; b < rows; ++b)
            if (double(m.at({a, c})) - double(m.at({b, c})) > minGap)
                out.emplace_back(a, b);
    return out;
}

} // namespace unisearch::test
