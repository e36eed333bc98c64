#include "media/contenthash.h"

#include "media/filepath.h"

#include <QCryptographicHash>
#include <QFile>
#include <QtEndian>

#include <array>

namespace unisearch::media {

namespace {

constexpr auto algorithm = QCryptographicHash::Blake2b_256;

void addPrefix(QCryptographicHash &hash, qint64 size, bool whole)
{
    std::array<char, 9> prefix{};
    qToLittleEndian<quint64>(quint64(size), prefix.data());
    prefix[8] = whole ? 'W' : 'S';
    hash.addData(QByteArrayView(prefix.data(), qsizetype(prefix.size())));
}

// Reads exactly length bytes from offset into the hash; false if the file came up short
// (it shrank while we read it) or failed.
bool addRange(QCryptographicHash &hash, QFile &file, qint64 offset, qint64 length, QByteArray &buffer)
{
    if (!file.seek(offset))
        return false;
    while (length > 0) {
        const qint64 n = file.read(buffer.data(), qMin<qint64>(length, buffer.size()));
        if (n <= 0)
            return false;
        hash.addData(QByteArrayView(buffer.constData(), qsizetype(n)));
        length -= n;
    }
    return true;
}

} // namespace

QString contentHashOfData(const QByteArray &data)
{
    QCryptographicHash hash(algorithm);
    const qint64 size = data.size();
    const bool whole = size <= contentHashWholeFileLimit;
    addPrefix(hash, size, whole);
    if (whole) {
        hash.addData(data);
    } else {
        const qint64 s = contentHashSampleSize;
        hash.addData(QByteArrayView(data).sliced(0, s));
        hash.addData(QByteArrayView(data).sliced((size - s) / 2, s));
        hash.addData(QByteArrayView(data).sliced(size - s, s));
    }
    return QString::fromLatin1(hash.result().toHex());
}

ContentHash contentHash(const QString &path)
{
    ContentHash result;
    QFile file;
    if (!openForReading(file, path, &result.error))
        return result;
    const qint64 size = file.size();
    const bool whole = size <= contentHashWholeFileLimit;
    QCryptographicHash hash(algorithm);
    addPrefix(hash, size, whole);
    QByteArray buffer(int(contentHashSampleSize), Qt::Uninitialized);
    bool ok = true;
    if (whole) {
        ok = addRange(hash, file, 0, size, buffer);
    } else {
        const qint64 s = contentHashSampleSize;
        ok = addRange(hash, file, 0, s, buffer) && addRange(hash, file, (size - s) / 2, s, buffer)
             && addRange(hash, file, size - s, s, buffer);
    }
    if (!ok) {
        result.error = file.error() != QFileDevice::NoError
                           ? QStringLiteral("read error: %1").arg(file.errorString())
                           : QStringLiteral("the file changed while it was being read");
        return result;
    }
    // A file that grew while we read it would hash as its old size: treat as changing.
    if (file.size() != size) {
        result.error = QStringLiteral("the file changed while it was being read");
        return result;
    }
    result.hash = QString::fromLatin1(hash.result().toHex());
    return result;
}

} // namespace unisearch::media
