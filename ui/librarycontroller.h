#pragma once
// The library, as the window wires it: adding folders (by dialog or by dropping them),
// removing them, indexing (rescan, progress, pause/resume/cancel), re-embedding for a
// full-mode adapter pack, the files that failed, and whether indexing reads text in
// pictures (and in which languages). The LibraryPanel shows it; the work
// runs through the EngineController. What changes the library or its status is reported
// (statusChanged, searchOutdated) for the window to refresh the rest.
#include "engine/indexjob.h"

#include <QObject>
#include <QString>
#include <QStringList>

class QAction;
class QMenu;
class QWidget;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class EngineController;
class LibraryPanel;

class LibraryController : public QObject
{
    Q_OBJECT
public:
    // window: the parent of the dialogs.
    LibraryController(engine::Engine *engine, EngineController *controller, LibraryPanel *panel, QWidget *window);

    // File ▸ Add Folder…: asks for a folder, then addFolders.
    void addFolder();
    // Adds folders to the library and starts indexing them (when a model is there).
    void addFolders(const QStringList &folders);
    // Indexes new and changed files of the library's folders.
    void rescan();
    // Re-embeds the library for the pending full-mode pack (named pack) in the background,
    // or says in the status bar why it cannot.
    void startReembed(const QString &pack);
    // The files that could not be indexed, read again.
    void refreshFailures();
    // Read Text in Pictures (the "index/ocr" setting: an OCR pass after indexing) and the
    // Text Languages submenu (the installed Tesseract languages, "index/ocrLanguages"; at
    // least one stays checked), inserted into menu before `before`. They apply from the
    // next indexing run on.
    void addTextMenu(QMenu *menu, QAction *before);

signals:
    // For the status bar; timeoutMs 0: until the next message.
    void message(const QString &text, int timeoutMs);
    void errorOccurred(const QString &title, const QString &message);
    void indexingStarted();
    // The library's counts or folders changed.
    void statusChanged();
    // What the results show may have changed (files indexed, a folder removed).
    void searchOutdated();

private:
    // The library panel shows the re-embed as its indexing activity.
    void showReembedding(const QString &pack);
    void removeFolder(const QString &folder);
    void onIndexProgress(const engine::IndexProgress &progress);
    void onIndexFinished(const engine::IndexResult &result);
    void onIndexFailed(const QString &error);
    // What the OCR pass of a run did (or why it could not run), for the panel; empty when it read nothing.
    static QString textSummary(const engine::IndexResult &result);
    void onReembedFinished(bool switched, const QString &text);
    // The languages submenu from what is installed now, checked as the settings say.
    void fillTextLanguages(QMenu *languages);
    void setTextLanguage(QMenu *languages, const QString &language, bool on);

    engine::Engine *m_engine;
    EngineController *m_controller;
    LibraryPanel *m_panel;
    QWidget *m_window;
    engine::IndexProgress::Stage m_lastStage = engine::IndexProgress::Stage::Scanning;  // of the run's latest progress
};

} // namespace unisearch::ui
