#pragma once
// The log view: the records of the core logger, newest at the bottom. Its sink may be
// called from any thread; records reach the widget through a queued call.
#include "util/log.h"

#include <QPlainTextEdit>

namespace unisearch::ui {

class LogView : public QPlainTextEdit
{
    Q_OBJECT
public:
    explicit LogView(QWidget *parent = nullptr);

    // A sink to install with log::addSink(); remove it before the view is destroyed.
    log::Sink sink();

public slots:
    void appendRecord(const unisearch::log::Record &record);
};

} // namespace unisearch::ui
