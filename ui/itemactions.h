#pragma once
// What can be done with a result, shared by the preview's buttons and the context menu.
#include <QString>

#include <cstdint>

namespace unisearch::ui {

// Opens the file with the desktop's default application. For a video at a moment
// (timeMs >= 0) a player that can start there (mpv, VLC, Celluloid... as found on PATH)
// is used; otherwise the default application. false with *error when nothing could open it.
bool openItem(const QString &path, std::int64_t timeMs = -1, QString *error = nullptr);
// Shows the file in the file manager: with it selected where the desktop's file manager
// offers org.freedesktop.FileManager1 on the session bus (Nautilus, Dolphin, Nemo, Caja,
// Thunar...), else (no such service, or it answers with an error) by opening the folder
// that holds it. false with *error when neither can be tried.
bool showInFolder(const QString &path, QString *error = nullptr);
// Puts the path (native separators) on the clipboard.
void copyPath(const QString &path);

} // namespace unisearch::ui
