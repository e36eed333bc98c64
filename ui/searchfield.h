#pragma once
// The search field: a QLineEdit that also takes image and video files dropped onto it
// (a file manager's drag: QMimeData urls). It reports the local files; the search
// controller turns them into terms of a combined query (engine/query.h). Dropped text
// is inserted as QLineEdit does.
#include <QLineEdit>
#include <QStringList>

namespace unisearch::ui {

class SearchField : public QLineEdit
{
    Q_OBJECT
public:
    explicit SearchField(QWidget *parent = nullptr);

signals:
    // Local files dropped onto the field, in the order of the drag.
    void filesDropped(const QStringList &paths);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dragMoveEvent(QDragMoveEvent *event) override;
    void dropEvent(QDropEvent *event) override;
};

} // namespace unisearch::ui
