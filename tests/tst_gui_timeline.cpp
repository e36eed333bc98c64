// The library as the window's first view (issue 15, parts 4 and 5), on the offscreen platform:
// - with no query the window shows the timeline: month groups newest first with their counts,
//   the items of different months in that order (their file times set before indexing);
// - typing a query and pressing Enter shows the results; clearing the query returns to the
//   timeline; selecting a timeline item fills the preview;
// - the model reads lazily: over a generated catalog of 5,000 items it holds only the pages
//   that were asked for, and the view asks only for the pages in sight;
// - the grid uses the width: as many columns as fit, no band wider than a cell left beside them.
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "engine/indexjob.h"
#include "media/filepath.h"
#include "support/fixtures.h"
#include "support/guiwindow.h"
#include "support/images.h"
#include "ui/mainwindow.h"
#include "ui/resultdelegate.h"
#include "ui/timelinemodel.h"
#include "ui/timelineview.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QScrollBar>
#include <QSignalSpy>
#include <QStackedWidget>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;

namespace {

constexpr int kTimeoutMs = 60000;

bool setModified(const QString &path, const QDateTime &when)
{
    QFile f(path);
    return f.open(QIODevice::ReadWrite) && f.setFileTime(when, QFileDevice::FileModificationTime);
}

} // namespace

class TestGuiTimeline : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void windowOpensOnTheTimelineByMonth();
    void queryShowsResultsAndClearingReturns();
    void selectingAnItemFillsThePreview();
    void modelReadsOnlyThePagesAskedFor();
    void gridFillsTheWidth();

private:
    QString photo(const QString &name) const { return m_photos + QLatin1Char('/') + name; }
    QTemporaryDir m_tmp;
    QString m_data;
    QString m_photos;
    std::unique_ptr<engine::Engine> m_engine;
};

void TestGuiTimeline::initTestCase()
{
    test::initGuiTest();
    QVERIFY(m_tmp.isValid());
    m_data = m_tmp.filePath(QStringLiteral("data"));
    m_photos = media::canonicalPath(m_tmp.path()) + QStringLiteral("/photos");
    QVERIFY(QDir().mkpath(m_photos));
    // Two photos from March 2024, one from November 2023, one from January 2025 (local time).
    const QString retrieval = test::caseDir(QStringLiteral("retrieval-image"));
    QVERIFY(QFile::copy(retrieval + QStringLiteral("/img0.png"), photo(QStringLiteral("mar1.png"))));
    QVERIFY(QFile::copy(retrieval + QStringLiteral("/img1.png"), photo(QStringLiteral("mar2.png"))));
    QVERIFY(QFile::copy(retrieval + QStringLiteral("/img2.png"), photo(QStringLiteral("nov.png"))));
    QVERIFY(test::randomImage(48, 40, 77, false).save(photo(QStringLiteral("jan.png"))));
    QVERIFY(setModified(photo(QStringLiteral("mar1.png")), QDateTime(QDate(2024, 3, 10), QTime(12, 0))));
    QVERIFY(setModified(photo(QStringLiteral("mar2.png")), QDateTime(QDate(2024, 3, 20), QTime(12, 0))));
    QVERIFY(setModified(photo(QStringLiteral("nov.png")), QDateTime(QDate(2023, 11, 5), QTime(12, 0))));
    QVERIFY(setModified(photo(QStringLiteral("jan.png")), QDateTime(QDate(2025, 1, 15), QTime(12, 0))));

    m_engine = std::make_unique<engine::Engine>();
    QString error;
    QVERIFY2(test::openEngineWithFixtureModel(*m_engine, m_data, &error), qPrintable(error));
    QVERIFY(m_engine->addFolder(m_photos, &error));
    engine::IndexParams params;
    params.dataDir = m_data;
    params.paths = m_engine->folders();
    params.decodeThreads = 1;
    params.ocr = false;
    engine::IndexJob job(params);
    const engine::IndexResult r = job.run();
    QVERIFY2(r.ok, qPrintable(r.error));
    QCOMPARE(r.embedded, qint64(4));
}

void TestGuiTimeline::windowOpensOnTheTimelineByMonth()
{
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    auto *area = w->findChild<QStackedWidget *>(QStringLiteral("resultsArea"));
    auto *view = w->findChild<ui::TimelineView *>(QStringLiteral("timelineView"));
    QVERIFY(area && view);
    QCOMPARE(area->currentWidget(), view);
    ui::TimelineModel *model = view->timelineModel();
    QCOMPARE(model->rowCount(), 4);
    const auto &months = model->months();
    QCOMPARE(int(months.size()), 3);
    QCOMPARE(std::make_pair(months[0].year, months[0].month), std::make_pair(2025, 1));
    QCOMPARE(std::make_pair(months[1].year, months[1].month), std::make_pair(2024, 3));
    QCOMPARE(std::make_pair(months[2].year, months[2].month), std::make_pair(2023, 11));
    QCOMPARE(months[0].count, 1);
    QCOMPARE(months[1].count, 2);
    QCOMPARE(months[2].count, 1);
    const QStringList expected{QStringLiteral("jan.png"), QStringLiteral("mar2.png"), QStringLiteral("mar1.png"),
                               QStringLiteral("nov.png")};
    for (int i = 0; i < 4; ++i)
        QCOMPARE(model->row(i).path, photo(expected[i]));
    // The headers are laid out in that order, each above its items.
    QVERIFY(view->headerRect(0).bottom() < view->visualRect(model->index(0)).top());
    QVERIFY(view->visualRect(model->index(0)).bottom() < view->headerRect(1).top());
    QVERIFY(view->headerRect(1).bottom() < view->visualRect(model->index(1)).top());
    QVERIFY(view->visualRect(model->index(2)).bottom() < view->headerRect(2).top());
    QVERIFY(ui::TimelineView::headerText(2024, 3, 2).endsWith(QStringLiteral("2024 · 2")));
}

void TestGuiTimeline::queryShowsResultsAndClearingReturns()
{
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    auto *area = w->findChild<QStackedWidget *>(QStringLiteral("resultsArea"));
    auto *results = w->findChild<QListView *>(QStringLiteral("resultsView"));
    auto *timeline = w->findChild<ui::TimelineView *>(QStringLiteral("timelineView"));
    QVERIFY(test::searchInWindow(*w, QStringLiteral("a dog running on the beach"), kTimeoutMs));
    QCOMPARE(area->currentWidget(), results);
    QVERIFY(results->model()->rowCount() > 0);
    auto *field = w->findChild<QLineEdit *>(QStringLiteral("searchField"));
    field->clear();
    QCOMPARE(area->currentWidget(), timeline);
    QVERIFY(!results->isVisible());
    QVERIFY(timeline->isVisible());
    QCOMPARE(timeline->timelineModel()->rowCount(), 4);
}

void TestGuiTimeline::selectingAnItemFillsThePreview()
{
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    auto *view = w->findChild<ui::TimelineView *>(QStringLiteral("timelineView"));
    ui::TimelineModel *model = view->timelineModel();
    QSignalSpy previewed(w.get(), &ui::MainWindow::previewShown);
    const QModelIndex nov = model->index(3);
    view->scrollTo(nov);
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, view->visualRect(nov).center());
    QTRY_COMPARE_WITH_TIMEOUT(previewed.size(), 1, kTimeoutMs);
    QCOMPARE(previewed.first().at(0).toString(), photo(QStringLiteral("nov.png")));
    QCOMPARE(w->findChild<QLabel *>(QStringLiteral("previewName"))->text(), QStringLiteral("nov.png"));
}

void TestGuiTimeline::modelReadsOnlyThePagesAskedFor()
{
    QTemporaryDir dir;
    {
        catalog::OpenResult opened = catalog::Catalog::open(dir.path());
        QVERIFY2(opened, qPrintable(opened.error));
        catalog::Catalog &c = *opened.catalog;
        c.transaction([&] {
            const std::int64_t day = 86'400'000;
            const std::int64_t start = QDateTime(QDate(2020, 1, 1), QTime(12, 0)).toMSecsSinceEpoch();
            for (int i = 0; i < 5000; ++i) {
                catalog::Item item;
                item.path = QStringLiteral("/gen/%1.jpg").arg(i, 5, 10, QLatin1Char('0'));
                item.mtimeMs = start + i * day / 4;  // four a day: 1,250 days
                item.status = catalog::ItemStatus::Indexed;
                c.upsertItem(item);
            }
        });
    }
    ui::TimelineModel model;
    QString error;
    QVERIFY2(model.open(dir.path(), &error), qPrintable(error));
    QCOMPARE(model.rowCount(), 5000);
    QCOMPARE(model.pagesRead(), 0);
    int total = 0;
    for (const engine::TimelineMonth &m : model.months())
        total += m.count;
    QCOMPARE(total, 5000);
    QCOMPARE(model.months().front().year, 2023);  // day 1,249 after 2020-01-01: June 2023
    // The newest item first; the last row is the oldest, and reading it reads one page.
    QCOMPARE(model.row(0).path, QStringLiteral("/gen/04999.jpg"));
    QCOMPARE(model.pagesRead(), 1);
    QCOMPARE(model.row(4999).path, QStringLiteral("/gen/00000.jpg"));
    QCOMPARE(model.pagesRead(), 2);
    QCOMPARE(model.cachedPageCount(), 2);

    // A view of a screen paints (and so reads) only the pages in sight.
    ui::TimelineModel viewed;
    QVERIFY(viewed.open(dir.path()));
    ui::TimelineView view;
    view.resize(800, 600);
    view.setTimelineModel(&viewed);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.viewport()->repaint();
    QVERIFY(viewed.pagesRead() >= 1);
    QVERIFY(viewed.pagesRead() <= 2);
    // Scrolling to the end reads the last pages, and the cache stays bounded.
    view.verticalScrollBar()->setValue(view.verticalScrollBar()->maximum());
    view.viewport()->repaint();
    QVERIFY(viewed.cachedPageCount() <= ui::TimelineModel::maxCachedPages);
    QVERIFY(viewed.pagesRead() <= 4);
    QVERIFY(view.indexAt(view.viewport()->rect().center()).isValid());
}

void TestGuiTimeline::gridFillsTheWidth()
{
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    auto *view = w->findChild<ui::TimelineView *>(QStringLiteral("timelineView"));
    w->resize(1200, 800);
    QTRY_VERIFY(view->viewport()->width() > 0);
    const int edge = view->delegate()->thumbnailSize();
    const int columns = view->columnCount();
    QVERIFY(columns >= 1);
    // As many columns as fit, each at least the thumbnail edge, the spare width spread: what
    // is left beside the grid is less than one column's worth.
    QVERIFY(view->cellSize().width() >= edge);
    const int spare = view->viewport()->width() - columns * view->cellSize().width();
    QVERIFY2(spare >= 0 && spare < edge, qPrintable(QString::number(spare)));
    // The results grid too.
    QVERIFY(test::searchInWindow(*w, QStringLiteral("a dog running on the beach"), kTimeoutMs));
    auto *results = w->findChild<QListView *>(QStringLiteral("resultsView"));
    const QRect first = results->visualRect(results->model()->index(0, 0));
    QVERIFY(first.width() >= edge);
    // As many columns as fit: the second result sits beside the first when two fit.
    if (results->viewport()->width() >= 2 * (first.width() + results->spacing()) + results->spacing()) {
        const QRect second = results->visualRect(results->model()->index(1, 0));
        QCOMPARE(second.top(), first.top());
        QVERIFY(second.left() > first.right());
        // ... and the spare width is spread: less than a cell is left beside the grid.
        QVERIFY(results->viewport()->width() - second.right() < first.width());
    }
}

QTEST_MAIN(TestGuiTimeline)
#include "tst_gui_timeline.moc"
