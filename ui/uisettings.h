#pragma once
// Settings that only the desktop application reads (typed keys, see util/settings.h).
#include "util/settings.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace unisearch::settings {

// Earlier queries, newest first (the search field's history and completion).
inline const SettingKey<QStringList> searchHistory{"ui/searchHistory", QStringList()};
inline constexpr int searchHistoryLimit = 50;
// The results view: "grid" (thumbnails) or "list".
inline const SettingKey<QString> resultsViewMode{"ui/resultsViewMode", QStringLiteral("grid"), [](const QString &v) {
    return v == QLatin1String("grid") || v == QLatin1String("list");
}};
// The splitter between results and preview, and the one inside the preview side.
inline const SettingKey<QByteArray> mainSplitter{"ui/mainSplitter", QByteArray()};
inline const SettingKey<QByteArray> previewSplitter{"ui/previewSplitter", QByteArray()};
inline const SettingKey<bool> previewVisible{"ui/previewVisible", true};
// The results' order: "relevance" (best match), "newest" or "oldest" (capture time; it
// reorders the hits the search kept, so weak matches never come in).
inline const SettingKey<QString> resultsSort{"ui/resultsSort", QStringLiteral("relevance"), [](const QString &v) {
    return v == QLatin1String("relevance") || v == QLatin1String("newest") || v == QLatin1String("oldest");
}};

// The window frees the loaded search and question models after this many seconds without a
// search or a question (an idle window does not hold gigabytes); 0: never. The next search
// loads them again in the background. Offered in minutes (View ▸ Free Models When Idle).
inline const SettingKey<int> unloadAfterSeconds{"ui/unloadAfterSeconds", 600,
                                                [](const int &v) { return v >= 0 && v <= 7 * 24 * 3600; }};

} // namespace unisearch::settings
