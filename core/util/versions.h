#pragma once
#include <QString>
#include <QList>
#include <QPair>

namespace unisearch {

// Name/version pairs of every library the engine is built on, for About and --version.
QList<QPair<QString, QString>> libraryVersions();

} // namespace unisearch
