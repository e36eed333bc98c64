#pragma once
// The error convention at module edges (engine/engine.h describes it): a call that can fail
// returns std::optional<T> (bool when there is no value, a null pointer from a factory) and
// fills an optional `QString *error = nullptr` out-parameter with a message a person can
// act on; where callers must tell failures apart, a second optional out-parameter takes
// the code.
#include <QString>

#include <optional>

namespace unisearch::util {

// Sets *error when the caller asked for it and returns std::nullopt, so that
// `return util::fail(error, message);` ends a function returning std::optional<T>.
inline std::nullopt_t fail(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return std::nullopt;
}

} // namespace unisearch::util
