#include "ui/logview.h"

#include <QFontDatabase>
#include <QMetaObject>

namespace unisearch::ui {

LogView::LogView(QWidget *parent)
    : QPlainTextEdit(parent)
{
    setObjectName(QStringLiteral("logView"));
    setReadOnly(true);
    setLineWrapMode(QPlainTextEdit::NoWrap);
    setMaximumBlockCount(5000);  // the file keeps everything; the view keeps it light
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
}

log::Sink LogView::sink()
{
    return [this](const log::Record &record) {
        // Engine threads must not touch widgets: hop to the view's thread. If the view
        // is gone by the time the call runs, Qt drops it with its context object.
        QMetaObject::invokeMethod(this, [this, record] { appendRecord(record); }, Qt::QueuedConnection);
    };
}

void LogView::appendRecord(const log::Record &record)
{
    const QString line = QStringLiteral("%1  %2  %3: %4")
                             .arg(record.time.toLocalTime().toString(QStringLiteral("HH:mm:ss")),
                                  log::toString(record.level).leftJustified(7), record.category, record.message);
    appendPlainText(line);
}

} // namespace unisearch::ui
