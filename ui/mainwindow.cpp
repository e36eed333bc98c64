#include "mainwindow.h"

namespace unisearch::ui {

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
{
    setWindowTitle(tr("Unisearch"));
}

} // namespace unisearch::ui
