#pragma once
// How long something takes, for people: "40 s", "12 min", "2 h 5 min".
#include <QString>

namespace unisearch::ui {

QString durationText(double seconds);

} // namespace unisearch::ui
