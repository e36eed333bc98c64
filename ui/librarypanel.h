#pragma once
// The library and indexing status area: what is in the catalog, which model is
// active, the compute setup and where the data lives.
#include "engine/engine.h"

#include <QWidget>

class QLabel;
class QListWidget;

namespace unisearch::ui {

class LibraryPanel : public QWidget
{
    Q_OBJECT
public:
    explicit LibraryPanel(QWidget *parent = nullptr);

    void setStatus(const engine::Status &status, const QStringList &folders);
    // One line about the running job (indexing, re-embedding); "Idle" when none.
    void setActivity(const QString &text);

private:
    QLabel *m_items = nullptr;
    QLabel *m_vectors = nullptr;
    QLabel *m_errors = nullptr;
    QLabel *m_model = nullptr;
    QLabel *m_compute = nullptr;
    QLabel *m_dataDir = nullptr;
    QLabel *m_activity = nullptr;
    QListWidget *m_folders = nullptr;
};

} // namespace unisearch::ui
