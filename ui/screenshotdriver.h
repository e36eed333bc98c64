#pragma once
// A scripted tour of the main window that saves screenshots (QWidget::grab) of its views:
// scripts/screenshots.sh runs the application with UNISEARCH_SCREENSHOT_DIR set, under
// Xvfb, on a sample library. Steps wait for what they show (results and thumbnails loaded,
// the answer arrived) by polling, never by fixed sleeps alone; a step that takes longer
// than two minutes ends the tour with a failure.
//
// Environment: UNISEARCH_SCREENSHOT_DIR (where the PNGs go), UNISEARCH_SCREENSHOT_QUERY
// (the search), UNISEARCH_SCREENSHOT_QUESTION and UNISEARCH_SCREENSHOT_ANSWERS (the
// question asked about the first photo, and candidate answers separated by '|'),
// UNISEARCH_SCREENSHOT_ADD (folders, separated by ':', added to the library and indexed
// at the start; else the library is rescanned).
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

#include <functional>

namespace unisearch::ui {

class MainWindow;

class ScreenshotDriver : public QObject
{
    Q_OBJECT
public:
    ScreenshotDriver(MainWindow *window, const QString &directory, QObject *parent = nullptr);
    void start();

signals:
    void finished(bool ok);

private:
    struct Step {
        QString name;
        std::function<void()> action;
        std::function<bool()> ready;  // polled until true after the action
    };
    void poll();
    void grab(const QString &file);
    bool thumbnailsSettled() const;
    bool selectFirst(bool video);

    MainWindow *m_window;
    QString m_dir;
    QList<Step> m_steps;
    int m_index = -1;
    QTimer m_timer;
    QElapsedTimer m_clock;
    QTimer m_stallTimer;
    QElapsedTimer m_sinceTick;
    qint64 m_longestStallMs = 0;
    QString m_longestStallStep;
    int m_resultsShown = 0;
    bool m_hasVideo = false;
};

} // namespace unisearch::ui
