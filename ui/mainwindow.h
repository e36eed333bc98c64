#pragma once
#include <QMainWindow>

namespace unisearch::ui {

class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
};

} // namespace unisearch::ui
