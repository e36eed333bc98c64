#pragma once
// The library panel: the folders of the library (add by dialog or by dropping folders on
// the panel, remove, rescan), what the catalog holds, the live progress of indexing
// (files, rate, ETA) with pause/resume/cancel, and the files that failed with why.
// It shows and asks; the window does the work (through the EngineController).
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "engine/indexjob.h"

#include <QWidget>

class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QTreeWidget;

namespace unisearch::ui {

class LibraryPanel : public QWidget
{
    Q_OBJECT
public:
    explicit LibraryPanel(QWidget *parent = nullptr);

    void setStatus(const engine::Status &status, const QStringList &folders);
    // One line about the running job (indexing, re-embedding); "Idle" when none.
    void setActivity(const QString &text);
    // Indexing state: running (and paused) shows the progress row and its buttons.
    void setIndexing(bool running, bool paused = false);
    void setProgress(const engine::IndexProgress &progress);
    // The files that could not be indexed, newest first.
    void setFailures(const QList<catalog::ErrorEntry> &errors);
    QStringList selectedFolders() const;

    // "12 of 40 files · 3.1 files/s · about 9 s left"
    static QString describe(const engine::IndexProgress &progress);

signals:
    void addFolderRequested();
    void foldersDropped(const QStringList &folders);
    void removeFolderRequested(const QString &folder);
    void rescanRequested();
    void pauseRequested();
    void resumeRequested();
    void cancelRequested();

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    QLabel *m_items = nullptr;
    QLabel *m_vectors = nullptr;
    QLabel *m_errors = nullptr;
    QLabel *m_model = nullptr;
    QLabel *m_compute = nullptr;
    QLabel *m_dataDir = nullptr;
    QLabel *m_activity = nullptr;
    QListWidget *m_folders = nullptr;
    QPushButton *m_add = nullptr;
    QPushButton *m_remove = nullptr;
    QPushButton *m_rescan = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_progressText = nullptr;
    QPushButton *m_pause = nullptr;
    QPushButton *m_cancel = nullptr;
    QTreeWidget *m_failures = nullptr;
    bool m_running = false;
    bool m_paused = false;
};

} // namespace unisearch::ui
