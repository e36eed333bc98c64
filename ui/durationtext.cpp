#include "ui/durationtext.h"

#include <QCoreApplication>

#include <cmath>

namespace unisearch::ui {

QString durationText(double seconds)
{
    const long long s = std::llround(std::max(0.0, seconds));
    if (s < 60)
        return QCoreApplication::translate("unisearch", "%1 s").arg(s);
    const long long minutes = (s + 30) / 60;
    if (minutes < 60)
        return QCoreApplication::translate("unisearch", "%1 min").arg(minutes);
    return QCoreApplication::translate("unisearch", "%1 h %2 min").arg(minutes / 60).arg(minutes % 60);
}

} // namespace unisearch::ui
