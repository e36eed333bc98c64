#include "ui/screenshotdriver.h"

#include "ui/enginecontroller.h"
#include "ui/mainwindow.h"
#include "ui/previewpane.h"
#include "ui/resultsmodel.h"
#include "ui/thumbnailprovider.h"
#include "util/log.h"

#include <QCheckBox>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QPixmap>
#include <QPlainTextEdit>
#include <QPushButton>

#include <algorithm>
#include <cstdio>

namespace unisearch::ui {

namespace {

constexpr int kStepTimeoutMs = 120000;
constexpr int kSettleMs = 600;  // let the last repaint land before a grab

QString env(const char *name, const QString &fallback)
{
    const QString v = qEnvironmentVariable(name);
    return v.isEmpty() ? fallback : v;
}

} // namespace

ScreenshotDriver::ScreenshotDriver(MainWindow *window, const QString &directory, QObject *parent)
    : QObject(parent), m_window(window), m_dir(directory)
{
    connect(m_window, &MainWindow::resultsShown, this, [this] { ++m_resultsShown; });
    m_timer.setInterval(100);
    connect(&m_timer, &QTimer::timeout, this, &ScreenshotDriver::poll);
    // The longest time the event loop was kept from running a 10 ms timer: what a person
    // would feel as a freeze (reported at the end, for docs/performance.md).
    m_stallTimer.setInterval(10);
    m_stallTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_stallTimer, &QTimer::timeout, this, [this] {
        if (m_sinceTick.isValid() && m_sinceTick.elapsed() - 10 > m_longestStallMs) {
            m_longestStallMs = m_sinceTick.elapsed() - 10;
            m_longestStallStep = m_index >= 0 && m_index < m_steps.size() ? m_steps.at(m_index).name : QString();
        }
        m_sinceTick.restart();
    });
    auto find = [this](const char *name) { return m_window->findChild<QWidget *>(QString::fromLatin1(name)); };
    auto settled = [this] { return m_clock.elapsed() > kSettleMs; };
    const QString query = env("UNISEARCH_SCREENSHOT_QUERY", QStringLiteral("a red circle on a blue field"));

    // 1. Indexing the sample library, caught while paused so that the numbers hold still.
    m_steps.append({QStringLiteral("index"),
                     [this, find] {
                         const QString add = qEnvironmentVariable("UNISEARCH_SCREENSHOT_ADD");
                         if (!add.isEmpty())
                             m_window->addFolders(add.split(QLatin1Char(':'), Qt::SkipEmptyParts));  // indexes them
                         else
                             m_window->rescanLibrary();
                         if (auto *pause = qobject_cast<QPushButton *>(find("indexPause")))
                             pause->click();
                     },
                     [find, settled] {
                         auto *text = qobject_cast<QLabel *>(find("indexProgressText"));
                         return settled() && text && text->text().contains(QStringLiteral("paused"));
                     }});
    m_steps.append({QStringLiteral("library"),
                     [this, find] {
                         grab(QStringLiteral("indexing.png"));
                         if (auto *pause = qobject_cast<QPushButton *>(find("indexPause")))
                             pause->click();  // resume
                     },
                     [this] { return !m_window->controller()->isIndexing(); }});
    // 2. A search, in the thumbnail grid.
    m_steps.append({QStringLiteral("search"),
                     [this, find, query] {
                         grab(QStringLiteral("library.png"));  // indexed, with the files that failed
                         auto *field = qobject_cast<QLineEdit *>(find("searchField"));
                         field->setText(query);
                         m_resultsShown = 0;
                         m_window->startSearch();
                     },
                     [this, settled] { return m_resultsShown > 0 && thumbnailsSettled() && settled(); }});
    // 3. The preview of the best photo.
    m_steps.append({QStringLiteral("results"),
                     [this] {
                         grab(QStringLiteral("results.png"));
                         selectFirst(false);
                     },
                     [this, settled] {
                         auto *image = m_window->findChild<ImageView *>(QStringLiteral("previewImage"));
                         return image && !image->image().isNull() && settled();
                     }});
    // 4. A question about it.
    m_steps.append({QStringLiteral("preview"),
                     [this, find] {
                         grab(QStringLiteral("preview.png"));
                         const QString answers = qEnvironmentVariable("UNISEARCH_SCREENSHOT_ANSWERS");
                         if (!answers.isEmpty()) {
                             qobject_cast<QCheckBox *>(find("askUseCandidates"))->setChecked(true);
                             qobject_cast<QPlainTextEdit *>(find("askCandidates"))
                                 ->setPlainText(answers.split(QLatin1Char('|')).join(QLatin1Char('\n')));
                         }
                         qobject_cast<QLineEdit *>(find("askQuestion"))
                             ->setText(env("UNISEARCH_SCREENSHOT_QUESTION", QStringLiteral("what color is the circle?")));
                         qobject_cast<QPushButton *>(find("askButton"))->click();
                     },
                     [this, settled] { return !m_window->controller()->isAsking() && settled(); }});
    // 5. A video at its matched moment, with the timeline of moments (when there is one).
    m_steps.append({QStringLiteral("ask"),
                     [this] {
                         grab(QStringLiteral("ask.png"));
                         m_hasVideo = selectFirst(true);
                     },
                     [this, settled] {
                         auto *image = m_window->findChild<ImageView *>(QStringLiteral("previewImage"));
                         return image && !image->image().isNull() && settled();
                     }});
    m_steps.append({QStringLiteral("video"),
                     [this] {
                         if (m_hasVideo)
                             grab(QStringLiteral("video.png"));
                         m_window->setListMode(true);
                     },
                     [this, settled] { return thumbnailsSettled() && settled(); }});
    // 6. The list mode.
    m_steps.append({QStringLiteral("list"),
                     [this] {
                         grab(QStringLiteral("list.png"));
                         m_window->setListMode(false);
                     },
                     [] { return true; }});
}

void ScreenshotDriver::start()
{
    QDir().mkpath(m_dir);
    m_index = -1;
    m_clock.start();
    m_timer.start();
    m_stallTimer.start();
    poll();
}

bool ScreenshotDriver::thumbnailsSettled() const
{
    const auto *thumbs = m_window->findChild<ThumbnailProvider *>();
    return !thumbs || thumbs->pendingCount() == 0;
}

bool ScreenshotDriver::selectFirst(bool video)
{
    ResultsModel *model = m_window->resultsModel();
    auto *view = m_window->findChild<QListView *>(QStringLiteral("resultsView"));
    for (int i = 0; i < model->rowCount(); ++i)
        if (model->row(i).isVideo() == video) {
            view->setCurrentIndex(model->index(i));
            view->scrollTo(model->index(i));
            return true;
        }
    return false;
}

void ScreenshotDriver::grab(const QString &file)
{
    const QString path = QDir(m_dir).filePath(file);
    if (!m_window->grab().save(path, "png"))
        log::warning(QStringLiteral("ui"), QStringLiteral("could not write the screenshot %1").arg(path));
    else
        log::info(QStringLiteral("ui"), QStringLiteral("screenshot %1").arg(path));
    m_sinceTick.restart();  // the grab itself is not the application's doing
}

void ScreenshotDriver::poll()
{
    if (m_index >= 0) {
        const Step &step = m_steps.at(m_index);
        if (!step.ready()) {
            if (m_clock.elapsed() > kStepTimeoutMs) {
                m_timer.stop();
                log::error(QStringLiteral("ui"), QStringLiteral("screenshot step '%1' timed out").arg(step.name));
                emit finished(false);
            }
            return;
        }
    }
    ++m_index;
    if (m_index >= m_steps.size()) {
        m_timer.stop();
        m_stallTimer.stop();
        log::info(QStringLiteral("ui"), QStringLiteral("screenshot tour done; longest event-loop stall %1 ms "
                                                       "(in step %2, grabs excluded)")
                                            .arg(m_longestStallMs)
                                            .arg(m_longestStallStep));
        std::fprintf(stderr, "unisearch: longest event-loop stall during the tour: %lld ms (step %s; grabs excluded)\n",
                     static_cast<long long>(m_longestStallMs), qPrintable(m_longestStallStep));
        emit finished(true);
        return;
    }
    m_clock.restart();
    m_steps[m_index].action();
}

} // namespace unisearch::ui
