#include "engine/indexing/common.h"

#include <QUnhandledException>

#include <new>
#include <stdexcept>

namespace unisearch::engine::indexing {

QString describeException(const std::exception_ptr &error)
{
    try {
        std::rethrow_exception(error);
    } catch (const QUnhandledException &e) {
        if (e.exception())
            return describeException(e.exception());
        return QStringLiteral("an unknown error");
    } catch (const std::bad_alloc &) {
        return QStringLiteral("out of memory (std::bad_alloc)");
    } catch (const std::length_error &e) {
        return QStringLiteral("a size beyond what can be allocated (std::length_error: %1)").arg(QString::fromUtf8(e.what()));
    } catch (const std::exception &e) {
        const QString what = QString::fromUtf8(e.what());
        if (what.isEmpty() || what == QLatin1String("std::exception"))
            return QStringLiteral("an unexpected error (an exception without a message)");
        return what;
    } catch (...) {
        return QStringLiteral("an unknown error (not a std::exception)");
    }
    return {};
}

} // namespace unisearch::engine::indexing
