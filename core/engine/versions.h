#pragma once
// Name/version pairs of the libraries the engine is built on (Qt, LibTorch, FAISS, FFmpeg,
// SQLite, and the BLAS with its kernels), for About and --version. In core/engine because
// it asks index/ and model/ for theirs: the floors below the engine do not reach sideways
// into each other.
#include <QList>
#include <QPair>
#include <QString>

namespace unisearch::engine {

QList<QPair<QString, QString>> libraryVersions();

} // namespace unisearch::engine
