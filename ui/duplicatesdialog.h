#pragma once
// File ▸ Find Duplicates…: the library's byte-identical and near-identical items
// (engine/duplicates.h), a row per group with the copies side by side, and "Move to Trash"
// for the copies a person ticks. Files go to the desktop's trash (QFile::moveToTrash),
// never deleted outright; the dialog says what moved and what could not, and emits
// filesMoved so that the window rescans the library, which drops the moved files.
//
// The search runs on a worker thread (its own catalog connection); closing the dialog
// cancels it and waits for it.
#include "engine/duplicates.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QList>
#include <QStringList>

#include <atomic>
#include <memory>

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QVBoxLayout;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class ThumbnailProvider;

class DuplicatesDialog : public QDialog
{
    Q_OBJECT
public:
    // Starts the search at once.
    explicit DuplicatesDialog(engine::Engine *engine, QWidget *parent = nullptr);
    ~DuplicatesDialog() override;

    // Searches again with the threshold in the dialog.
    void findDuplicates();
    bool isSearching() const { return m_watcher.isRunning(); }
    // The groups shown (after the search finished).
    const QList<engine::DuplicateGroup> &groups() const { return m_groups; }
    // Ticks the copy at path (false when it is not shown).
    bool setChecked(const QString &path, bool checked);
    // Moves the ticked copies to the trash; returns the paths that moved.
    QStringList moveCheckedToTrash();

signals:
    // Files moved to the trash (the library should drop them).
    void filesMoved(const QStringList &paths);
    // The search finished (groups() holds the result; error empty on success).
    void searchFinished(const QString &error);

private:
    struct Outcome {
        std::optional<QList<engine::DuplicateGroup>> groups;
        QString error;
    };
    struct Cell {
        QString path;
        QCheckBox *box = nullptr;
        QLabel *thumbnail = nullptr;
        catalog::ItemType type = catalog::ItemType::Image;
    };

    void onFinished();
    void showGroups();
    QWidget *makeCell(const engine::DuplicateItem &item, bool first);
    void onThumbnailReady();
    void selectCopies();
    void updateButtons();
    void cancelSearch();

    engine::Engine *m_engine;
    ThumbnailProvider *m_thumbnails;
    QDoubleSpinBox *m_threshold = nullptr;
    QPushButton *m_searchButton = nullptr;
    QPushButton *m_selectButton = nullptr;
    QPushButton *m_trashButton = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_status = nullptr;
    QLabel *m_report = nullptr;
    QWidget *m_groupsWidget = nullptr;
    QVBoxLayout *m_groupsLayout = nullptr;
    QList<engine::DuplicateGroup> m_groups;
    QList<Cell> m_cells;
    QFutureWatcher<Outcome> m_watcher;
    std::shared_ptr<std::atomic<bool>> m_cancel;
};

} // namespace unisearch::ui
