#include "engine/versions.h"

#include "index/vectorstore.h"
#include "model/runtime.h"

#include <sqlite3.h>
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
}

namespace unisearch::engine {

QList<QPair<QString, QString>> libraryVersions()
{
    QList<QPair<QString, QString>> out{
        {QStringLiteral("Qt"), QString::fromLatin1(qVersion())},
        {QStringLiteral("LibTorch"), QString::fromStdString(model::libtorchVersion())},
        {QStringLiteral("FAISS"), QString::fromStdString(index::faissVersion())},
        {QStringLiteral("FFmpeg"), QString::fromLatin1(av_version_info())},
        {QStringLiteral("SQLite"), QString::fromLatin1(sqlite3_libversion())},
    };
    // Which kernels the BLAS runs matters for speed (model::chooseBlasKernels).
    if (const std::string blas = model::blasDescription(); !blas.empty())
        out.append({QStringLiteral("BLAS"), QString::fromStdString(blas)});
    return out;
}

} // namespace unisearch::engine
