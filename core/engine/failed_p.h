#pragma once
// The engine's edge reports failures as an empty result plus a message (error may be null).
#include <QString>

#include <optional>

namespace unisearch::engine {

template <typename T>
std::optional<T> failed(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return std::nullopt;
}

} // namespace unisearch::engine
