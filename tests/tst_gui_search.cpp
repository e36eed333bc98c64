// The desktop application's main views on the offscreen platform, with the fixture models
// (../shared/fixtures/uniadapter: retrieval-image and vqa, imported with their
// architectures) and a small library the test makes and indexes:
// - typing a caption and pressing Enter fills the results in the order of the caption's
//   column of sim_i2t (decoys may interleave: the relative order of pairs the reference separates clearly is checked);
// - the type and folder filters change the results;
// - selecting a result fills the preview (metadata, and the image, through the disk cache);
// - asking a question about a photo shows the fixture's answer, and Cancel frees the panel;
// - the library panel shows indexing progress, and Cancel stops the run keeping what it did;
// - the search history completes an earlier query, also in a new window.
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "engine/indexjob.h"
#include "media/filepath.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "support/npy.h"
#include "support/videogen.h"
#include "ui/askpanel.h"
#include "ui/enginecontroller.h"
#include "ui/librarypanel.h"
#include "ui/mainwindow.h"
#include "ui/previewpane.h"
#include "ui/resultsmodel.h"
#include "ui/uisettings.h"
#include "util/datadir.h"
#include "util/settings.h"

#include <QAbstractItemView>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QCompleter>
#include <QDateEdit>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QListWidget>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <QtTest>

#include <algorithm>
#include <numeric>

using namespace unisearch;

namespace {

constexpr int kTimeoutMs = 60000;

} // namespace

class TestGuiSearch : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();

    void enterSearchFollowsTheReferenceOrder();
    void newerSearchSupersedesOlder();
    void filtersChangeTheResults();
    void selectingAResultFillsThePreview();
    void askShowsTheFixtureAnswer();
    void indexingShowsProgressAndCancelWorks();
    void historyCompletesEarlierQueries();
    void videoResultShowsItsMoments();
    void combinedQuerySearchesWithAPhoto();
    void queryMistakeIsShownNotSearched();
    void droppedPhotoBecomesATerm();
    void sortByCaptureTimeReordersTheSameHits();
    void dateFilterUsesCaptureTime();

private:
    std::unique_ptr<ui::MainWindow> openWindow();
    // Types text into the search field and presses Enter; waits for the results.
    void search(ui::MainWindow &w, const QString &text);
    int rowOf(const ui::ResultsModel &m, const QString &path) const;
    QString fixtureImage(int i) const { return m_photos + QStringLiteral("/img%1.png").arg(i); }
    QString vqaImage(int i) const { return m_photos + QStringLiteral("/vqa%1.png").arg(i); }

    QTemporaryDir m_tmp;
    QString m_data;
    QString m_photos;  // the fixture images, the VQA images and decoys
    QString m_more;    // a second library folder
    int m_libraryImages = 0;
    std::unique_ptr<engine::Engine> m_engine;
};

void TestGuiSearch::initTestCase()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    initApplicationIdentity();
    QApplication::setQuitOnLastWindowClosed(false);
    qputenv("UNISEARCH_VOCAB", test::vocabPath().toUtf8());
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    QVERIFY(m_tmp.isValid());
    m_data = m_tmp.filePath(QStringLiteral("data"));
    m_photos = media::canonicalPath(m_tmp.path()) + QStringLiteral("/photos");
    m_more = media::canonicalPath(m_tmp.path()) + QStringLiteral("/more");
    QVERIFY(QDir().mkpath(m_photos));
    QVERIFY(QDir().mkpath(m_more));
    const QString retrieval = test::caseDir(QStringLiteral("retrieval-image"));
    for (int i = 0; i < 3; ++i)
        QVERIFY(QFile::copy(QStringLiteral("%1/img%2.png").arg(retrieval).arg(i), fixtureImage(i)));
    const QString vqa = test::caseDir(QStringLiteral("vqa"));
    for (int i = 0; i < 2; ++i)
        QVERIFY(QFile::copy(QStringLiteral("%1/img%2.png").arg(vqa).arg(i), vqaImage(i)));
    for (int i = 0; i < 4; ++i)
        QVERIFY(test::randomImage(48, 40, 1000 + quint32(i), false).save(QStringLiteral("%1/decoy%2.png").arg(m_photos).arg(i)));
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::randomImage(40, 48, 2000 + quint32(i), false).save(QStringLiteral("%1/other%2.jpg").arg(m_more).arg(i)));
    m_libraryImages = 3 + 2 + 4 + 3;

    m_engine = std::make_unique<engine::Engine>();
    engine::Engine::Options options;
    options.dataDir = m_data;
    options.device = QStringLiteral("cpu");
    options.threads = 1;
    QVERIFY2(m_engine->open(options), qPrintable(m_engine->errorString()));
    QString error;
    const QString weights = test::uniadapterDir() + QStringLiteral("/weights/");
    QVERIFY2(m_engine->importModel(weights + QStringLiteral("retrieval.pth"), QStringLiteral("fixture"),
                                   engine::retrievalTask, test::caseArchitectureJson(QStringLiteral("retrieval-image")), &error),
             qPrintable(error));
    QVERIFY2(m_engine->importModel(weights + QStringLiteral("vqa.pth"), QStringLiteral("fixture-vqa"),
                                   engine::vqaTask, test::caseArchitectureJson(QStringLiteral("vqa")), &error),
             qPrintable(error));
    QVERIFY(m_engine->addFolder(m_photos, &error));
    QVERIFY(m_engine->addFolder(m_more, &error));
    engine::IndexParams params;
    params.dataDir = m_data;
    params.paths = m_engine->folders();
    params.decodeThreads = 2;
    engine::IndexJob job(params);
    const engine::IndexResult r = job.run();
    QVERIFY2(r.ok, qPrintable(r.error));
    QCOMPARE(r.embedded, qint64(m_libraryImages));
}

void TestGuiSearch::init()
{
    QFile::remove(Settings().fileName());  // every test starts with default settings
}

std::unique_ptr<ui::MainWindow> TestGuiSearch::openWindow()
{
    auto w = std::make_unique<ui::MainWindow>(m_engine.get());
    w->show();
    if (!QTest::qWaitForWindowExposed(w.get()))
        return nullptr;
    return w;
}

void TestGuiSearch::search(ui::MainWindow &w, const QString &text)
{
    auto *field = w.findChild<QLineEdit *>(QStringLiteral("searchField"));
    QVERIFY(field);
    QSignalSpy shown(&w, &ui::MainWindow::resultsShown);
    field->setFocus();
    field->clear();
    QTest::keyClicks(field, text);
    QTest::keyClick(field, Qt::Key_Return);
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(shown.last().at(0).toBool(), true);
}

int TestGuiSearch::rowOf(const ui::ResultsModel &m, const QString &path) const
{
    for (int i = 0; i < m.rowCount(); ++i)
        if (m.row(i).path == path)
            return i;
    return -1;
}

void TestGuiSearch::enterSearchFollowsTheReferenceOrder()
{
    auto w = openWindow();
    QVERIFY(w);
    ui::ResultsModel *model = w->resultsModel();
    auto *view = w->findChild<QListView *>(QStringLiteral("resultsView"));
    QCOMPARE(view->model(), model);
    const nlohmann::json c = test::readCase(QStringLiteral("retrieval-image"));
    const test::Npy sim = test::readNpy(test::caseDir(QStringLiteral("retrieval-image")) + QStringLiteral("/sim_i2t.npy"));
    const auto captions = c.at("captions");
    for (int k = 0; k < int(captions.size()); ++k) {
        const QString caption = QString::fromStdString(captions[size_t(k)].get<std::string>());
        search(*w, caption);
        QCOMPARE(model->rowCount(), m_libraryImages);
        for (int i = 1; i < model->rowCount(); ++i)
            QVERIFY(model->row(i - 1).score >= model->row(i).score);
        for (int i = 0; i < 3; ++i)
            QVERIFY2(rowOf(*model, fixtureImage(i)) >= 0, qPrintable(fixtureImage(i)));
        // Pairs the reference separates clearly (near-ties may go either way on another CPU).
        for (const auto &[a, b] : test::clearlyOrderedRows(sim, k, 2e-3)) {
            const int above = rowOf(*model, fixtureImage(a));
            const int below = rowOf(*model, fixtureImage(b));
            QVERIFY2(above < below, qPrintable(QStringLiteral("caption %1: img%2 (row %3) should come before img%4 (row %5)")
                                                   .arg(k)
                                                   .arg(a)
                                                   .arg(above)
                                                   .arg(b)
                                                   .arg(below)));
        }
        // The view shows the model's rows: the first cell is the best hit.
        QCOMPARE(view->model()->index(0, 0).data(ui::ResultsModel::PathRole).toString(), model->row(0).path);
    }
    QVERIFY(w->close());
}

void TestGuiSearch::newerSearchSupersedesOlder()
{
    auto w = openWindow();
    QVERIFY(w);
    ui::EngineController *controller = w->controller();
    QSignalSpy finished(controller, &ui::EngineController::searchFinished);
    QSignalSpy shown(w.get(), &ui::MainWindow::resultsShown);
    engine::SearchParams first;
    first.text = QStringLiteral("a dog running on the beach");
    first.filter.type = catalog::ItemType::Video;  // would show nothing
    engine::SearchParams second;
    second.text = QStringLiteral("two people riding bikes at sunset");
    const int a = controller->search(first);
    const int b = controller->search(second);
    QVERIFY(b > a);
    QVERIFY(shown.wait(kTimeoutMs));
    // Only the newest request reports; the older one never reaches the window.
    QTRY_COMPARE_WITH_TIMEOUT(controller->isSearching(), false, kTimeoutMs);
    QCOMPARE(finished.size(), 1);
    QCOMPARE(finished.first().at(0).toInt(), b);
    QCOMPARE(w->resultsModel()->rowCount(), m_libraryImages);
    QVERIFY(w->close());
}

void TestGuiSearch::filtersChangeTheResults()
{
    auto w = openWindow();
    QVERIFY(w);
    ui::ResultsModel *model = w->resultsModel();
    search(*w, QStringLiteral("a red circle on a blue field"));
    QCOMPARE(model->rowCount(), m_libraryImages);

    // Folder: only the second folder's three photos.
    auto *folder = w->findChild<QComboBox *>(QStringLiteral("folderFilter"));
    QVERIFY(folder);
    const int moreIndex = folder->findData(m_more);
    QVERIFY(moreIndex > 0);
    QSignalSpy shown(w.get(), &ui::MainWindow::resultsShown);
    folder->setCurrentIndex(moreIndex);
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(model->rowCount(), 3);
    for (int i = 0; i < model->rowCount(); ++i)
        QVERIFY2(model->row(i).path.startsWith(m_more + QLatin1Char('/')), qPrintable(model->row(i).path));
    folder->setCurrentIndex(0);
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(model->rowCount(), m_libraryImages);

    // Type: the library holds photos only, so "Videos" finds nothing and says so.
    auto *type = w->findChild<QComboBox *>(QStringLiteral("typeFilter"));
    QVERIFY(type);
    type->setCurrentIndex(type->findData(QStringLiteral("video")));
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(model->rowCount(), 0);
    auto *notice = w->findChild<QLabel *>(QStringLiteral("resultsNotice"));
    QVERIFY(notice->isVisible());
    QVERIFY2(notice->text().contains(QStringLiteral("Nothing found")), qPrintable(notice->text()));
    type->setCurrentIndex(type->findData(QStringLiteral("image")));
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(model->rowCount(), m_libraryImages);
    QVERIFY(!notice->isVisible());
    QVERIFY(w->close());
}

void TestGuiSearch::selectingAResultFillsThePreview()
{
    auto w = openWindow();
    QVERIFY(w);
    search(*w, QStringLiteral("a dog running on the beach"));
    ui::ResultsModel *model = w->resultsModel();
    auto *view = w->findChild<QListView *>(QStringLiteral("resultsView"));
    const int row = rowOf(*model, fixtureImage(1));
    QVERIFY(row >= 0);
    QSignalSpy previewed(w.get(), &ui::MainWindow::previewShown);
    view->scrollTo(model->index(row));
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, view->visualRect(model->index(row)).center());
    QTRY_COMPARE_WITH_TIMEOUT(previewed.size(), 1, kTimeoutMs);
    QCOMPARE(previewed.first().at(0).toString(), fixtureImage(1));

    auto text = [&](const char *name) { return w->findChild<QLabel *>(QString::fromLatin1(name))->text(); };
    QCOMPARE(text("previewPath"), QDir::toNativeSeparators(fixtureImage(1)));
    QCOMPARE(text("previewName"), QStringLiteral("img1.png"));
    const QImage original(fixtureImage(1));
    QVERIFY(text("previewDimensions").contains(QStringLiteral("%1 × %2").arg(original.width()).arg(original.height())));
    QVERIFY(!text("previewSize").isEmpty());
    QVERIFY(!text("previewDate").isEmpty());
    QVERIFY(w->findChild<QPushButton *>(QStringLiteral("previewFindSimilar"))->isEnabled());
    // The image arrives asynchronously, the size of the file (it is small) and upright.
    auto *image = w->findChild<ui::ImageView *>(QStringLiteral("previewImage"));
    QTRY_VERIFY_WITH_TIMEOUT(!image->image().isNull(), kTimeoutMs);
    QCOMPARE(image->image().size(), original.size());
    // ... through the disk cache under the engine's cache dir.
    QDirIterator it(m_engine->cacheDir() + QStringLiteral("/thumbnails"), {QStringLiteral("*.png")}, QDir::Files,
                    QDirIterator::Subdirectories);
    QVERIFY2(it.hasNext(), qPrintable(m_engine->cacheDir()));

    // Space hides and shows the preview while the results have the focus.
    auto *pane = w->findChild<ui::PreviewPane *>(QStringLiteral("previewPane"));
    QVERIFY(pane->isVisible());
    view->setFocus();
    QTest::keyClick(view, Qt::Key_Space);
    QTRY_VERIFY(!pane->isVisible());
    QTest::keyClick(view, Qt::Key_Space);
    QTRY_VERIFY(pane->isVisible());

    // Find Similar: the photo itself is left out, the others follow.
    QSignalSpy shown(w.get(), &ui::MainWindow::resultsShown);
    w->findChild<QPushButton *>(QStringLiteral("previewFindSimilar"))->click();
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(model->rowCount(), m_libraryImages - 1);
    QCOMPARE(rowOf(*model, fixtureImage(1)), -1);
    QVERIFY(w->close());
}

void TestGuiSearch::askShowsTheFixtureAnswer()
{
    auto w = openWindow();
    QVERIFY(w);
    search(*w, QStringLiteral("what color is the circle"));
    ui::ResultsModel *model = w->resultsModel();
    auto *view = w->findChild<QListView *>(QStringLiteral("resultsView"));
    auto *question = w->findChild<QLineEdit *>(QStringLiteral("askQuestion"));
    auto *askButton = w->findChild<QPushButton *>(QStringLiteral("askButton"));
    auto *answer = w->findChild<QLabel *>(QStringLiteral("askAnswer"));
    auto *others = w->findChild<QListWidget *>(QStringLiteral("askOtherAnswers"));
    QVERIFY(question && askButton && answer && others);
    QVERIFY(!askButton->isEnabled());  // nothing selected yet

    // The fixture's question per image, ranked over its top-k candidates (their scores do
    // not depend on the other candidates, so the best one is the fixture's answer).
    const nlohmann::json spec = test::readCase(QStringLiteral("vqa"));
    const int k = spec.at("k").get<int>();
    const test::Npy topk = test::readNpy(test::caseDir(QStringLiteral("vqa")) + QStringLiteral("/topk_ids.npy"));
    for (int q = 0; q < int(spec.at("questions").size()); ++q) {
        const int row = rowOf(*model, vqaImage(q));
        QVERIFY(row >= 0);
        view->setCurrentIndex(model->index(row));
        QStringList candidates;
        for (int j = 0; j < k; ++j)
            candidates.append(QString::fromStdString(
                spec.at("answer_list").at(size_t(topk.i64.at(size_t(q) * size_t(k) + size_t(j)))).get<std::string>()));
        w->findChild<QCheckBox *>(QStringLiteral("askUseCandidates"))->setChecked(true);
        w->findChild<QPlainTextEdit *>(QStringLiteral("askCandidates"))->setPlainText(candidates.join(QLatin1Char('\n')));
        question->clear();
        QTest::keyClicks(question, QString::fromStdString(spec.at("questions").at(size_t(q)).get<std::string>()));
        QVERIFY(askButton->isEnabled());
        QSignalSpy done(w->controller(), &ui::EngineController::askFinished);
        QTest::mouseClick(askButton, Qt::LeftButton);
        QVERIFY(!askButton->isEnabled());  // busy, not blocked: the click returned at once
        QVERIFY(w->findChild<QPushButton *>(QStringLiteral("askCancel"))->isEnabled());
        QVERIFY(done.wait(kTimeoutMs));
        const QString expected = QString::fromStdString(spec.at("answers").at(size_t(q)).get<std::string>());
        QVERIFY2(answer->text().startsWith(QStringLiteral("<b>%1</b>").arg(expected)), qPrintable(answer->text()));
        QVERIFY(answer->text().contains(QStringLiteral("confidence")));
        QCOMPARE(others->count(), k - 1);  // the next best answers
        QVERIFY(askButton->isEnabled());
    }

    // Cancel: the panel is free at once and the late answer is ignored.
    QSignalSpy finished(w->controller(), &ui::EngineController::askFinished);
    QTest::mouseClick(askButton, Qt::LeftButton);
    QVERIFY(w->controller()->isAsking());
    QTest::mouseClick(w->findChild<QPushButton *>(QStringLiteral("askCancel")), Qt::LeftButton);
    QVERIFY(!w->controller()->isAsking());
    QCOMPARE(answer->text(), QStringLiteral("Cancelled."));
    QVERIFY(askButton->isEnabled());
    // A new question after the cancelled one is answered (the worker went on in order).
    QSignalSpy again(w->controller(), &ui::EngineController::askFinished);
    QTest::mouseClick(askButton, Qt::LeftButton);
    QVERIFY(again.wait(kTimeoutMs));
    QCOMPARE(again.size(), 1);
    QCOMPARE(finished.size(), 1);  // the cancelled request never reported
    QVERIFY(w->close());
}

void TestGuiSearch::indexingShowsProgressAndCancelWorks()
{
    // A third folder with enough photos for a run that can be caught midway.
    const QString many = media::canonicalPath(m_tmp.path()) + QStringLiteral("/many");
    QVERIFY(QDir().mkpath(many));
    const int count = 120;
    for (int i = 0; i < count; ++i)
        QVERIFY(test::randomImage(40 + i % 7, 40, 5000 + quint32(i), false).save(QStringLiteral("%1/p%2.png").arg(many).arg(i)));
    auto w = openWindow();
    QVERIFY(w);
    ui::EngineController *controller = w->controller();
    QSignalSpy progress(controller, &ui::EngineController::indexProgress);
    QSignalSpy finished(controller, &ui::EngineController::indexFinished);
    const qint64 before = m_engine->status().counts.vectors;
    // Adding the folder starts indexing it; pausing at once holds the run at its first
    // batch, so that it cannot end before Cancel.
    w->addFolders({many});
    QVERIFY(controller->isIndexing());
    controller->pauseIndexing();
    auto *bar = w->findChild<QProgressBar *>(QStringLiteral("indexProgress"));
    auto *text = w->findChild<QLabel *>(QStringLiteral("indexProgressText"));
    auto *cancel = w->findChild<QPushButton *>(QStringLiteral("indexCancel"));
    QVERIFY(bar->isVisible());
    QVERIFY(cancel->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(text->text().contains(QStringLiteral("of %1 files").arg(count)), kTimeoutMs);
    QVERIFY2(text->text().contains(QStringLiteral("paused")), qPrintable(text->text()));
    QCOMPARE(bar->maximum(), count);
    QVERIFY(progress.size() > 0);
    QVERIFY(finished.isEmpty());

    QTest::mouseClick(cancel, Qt::LeftButton);
    QVERIFY(finished.wait(kTimeoutMs));
    const auto result = finished.first().at(0).value<engine::IndexResult>();
    QVERIFY(result.cancelled);
    QVERIFY(!controller->isIndexing());
    QVERIFY(!bar->isVisible());
    auto *activity = w->findChild<QLabel *>(QStringLiteral("activityLabel"));
    QVERIFY2(activity->text().contains(QStringLiteral("cancelled")), qPrintable(activity->text()));
    const qint64 afterCancel = m_engine->status().counts.vectors;
    QVERIFY(afterCancel - before < count);

    // Rescan finishes the rest.
    finished.clear();
    w->findChild<QPushButton *>(QStringLiteral("folderRescan"))->click();
    QVERIFY(controller->isIndexing());
    QVERIFY(finished.wait(kTimeoutMs * 2));
    QVERIFY(!finished.first().at(0).value<engine::IndexResult>().cancelled);
    QCOMPARE(m_engine->status().counts.vectors, before + count);
    QVERIFY(activity->text().contains(QStringLiteral("Indexing done")));

    // Removing the folder takes its photos out of the results again.
    auto *folders = w->findChild<QListWidget *>(QStringLiteral("foldersList"));
    const auto items = folders->findItems(QDir::toNativeSeparators(many), Qt::MatchExactly);
    QCOMPARE(items.size(), 1);
    items.first()->setSelected(true);
    w->findChild<QPushButton *>(QStringLiteral("folderRemove"))->click();
    QCOMPARE(m_engine->status().counts.vectors, before);
    search(*w, QStringLiteral("a dog running on the beach"));
    QCOMPARE(w->resultsModel()->rowCount(), m_libraryImages);
    QVERIFY(w->close());
}

void TestGuiSearch::historyCompletesEarlierQueries()
{
    const QString query = QStringLiteral("two people riding bikes at sunset");
    {
        auto w = openWindow();
        QVERIFY(w);
        search(*w, query);
        search(*w, QStringLiteral("a red circle on a blue field"));
        QCOMPARE(w->searchHistory().first(), QStringLiteral("a red circle on a blue field"));
        QVERIFY(w->close());
    }
    QCOMPARE(Settings().value(settings::searchHistory).value(1), query);
    auto w = openWindow();
    QVERIFY(w);
    auto *field = w->findChild<QLineEdit *>(QStringLiteral("searchField"));
    QCompleter *completer = field->completer();
    QVERIFY(completer);
    field->setFocus();
    QTest::keyClicks(field, QStringLiteral("BIKES"));  // any case, anywhere in the query
    QCOMPARE(completer->completionPrefix(), QStringLiteral("BIKES"));
    QCOMPARE(completer->completionCount(), 1);
    QCOMPARE(completer->currentCompletion(), query);
    // Down in an empty field lists every earlier query, newest first.
    completer->popup()->hide();
    field->clear();
    QTest::keyClick(field, Qt::Key_Down);
    QCOMPARE(completer->completionCount(), 2);
    QCOMPARE(completer->completionModel()->index(0, 0).data().toString(),
             QStringLiteral("a red circle on a blue field"));
    QVERIFY(w->close());
}

void TestGuiSearch::videoResultShowsItsMoments()
{
    // A 12-second video made of three differently coloured 4-second scenes.
    QVERIFY2(!test::ffmpegProgram().isEmpty(), "ffmpeg is needed to make the test video");
    const QString videos = media::canonicalPath(m_tmp.path()) + QStringLiteral("/videos");
    QVERIFY(QDir().mkpath(videos));
    const QString video = videos + QStringLiteral("/scenes.mp4");
    const QString error = test::runFfmpeg(
        {QStringLiteral("-f"), QStringLiteral("lavfi"), QStringLiteral("-i"),
         QStringLiteral("color=c=red:s=96x64:r=10:d=4"), QStringLiteral("-f"), QStringLiteral("lavfi"),
         QStringLiteral("-i"), QStringLiteral("testsrc2=s=96x64:r=10:d=4"), QStringLiteral("-f"),
         QStringLiteral("lavfi"), QStringLiteral("-i"), QStringLiteral("color=c=blue:s=96x64:r=10:d=4"),
         QStringLiteral("-filter_complex"), QStringLiteral("[0:v][1:v][2:v]concat=n=3:v=1[v]"), QStringLiteral("-map"),
         QStringLiteral("[v]"), QStringLiteral("-pix_fmt"), QStringLiteral("yuv420p"), QStringLiteral("-c:v"),
         QStringLiteral("mpeg4"), video});
    QVERIFY2(error.isEmpty(), qPrintable(error));

    auto w = openWindow();
    QVERIFY(w);
    QSignalSpy finished(w->controller(), &ui::EngineController::indexFinished);
    w->addFolders({videos});
    QVERIFY(finished.wait(kTimeoutMs * 2));
    QVERIFY(!finished.first().at(0).value<engine::IndexResult>().cancelled);

    auto *type = w->findChild<QComboBox *>(QStringLiteral("typeFilter"));
    type->setCurrentIndex(type->findData(QStringLiteral("video")));
    search(*w, QStringLiteral("a red circle on a blue field"));
    ui::ResultsModel *model = w->resultsModel();
    QCOMPARE(model->rowCount(), 1);
    const ui::ResultRow row = model->row(0);
    QCOMPARE(row.path, video);
    QVERIFY(row.isVideo());
    QVERIFY(!row.moments.isEmpty());
    QCOMPARE(row.timeMs, row.moments.first().startMs);
    // The cell says where: the moment as m:ss.
    const QString moment = model->index(0).data(ui::ResultsModel::MomentTextRole).toString();
    QCOMPARE(moment, ui::formatMoment(row.timeMs));
    QVERIFY(QRegularExpression(QStringLiteral("^\\d+:\\d\\d$")).match(moment).hasMatch());

    auto *view = w->findChild<QListView *>(QStringLiteral("resultsView"));
    view->setCurrentIndex(model->index(0));
    auto text = [&](const char *name) { return w->findChild<QLabel *>(QString::fromLatin1(name))->text(); };
    QCOMPARE(text("previewDuration"), QStringLiteral("0:12"));
    QVERIFY2(text("previewMoment").startsWith(ui::formatMoment(row.timeMs)), qPrintable(text("previewMoment")));
    auto *timeline = w->findChild<ui::TimelineStrip *>(QStringLiteral("timelineStrip"));
    QVERIFY(timeline->isVisible());
    QCOMPARE(timeline->moments().size(), row.moments.size());
    // The frame at the moment, decoded off the GUI thread.
    auto *image = w->findChild<ui::ImageView *>(QStringLiteral("previewImage"));
    QTRY_VERIFY_WITH_TIMEOUT(!image->image().isNull(), kTimeoutMs);
    QCOMPARE(image->image().size(), QSize(96, 64));
    // Clicking the last mark shows that moment.
    const int last = int(row.moments.size()) - 1;
    auto *pane = w->findChild<ui::PreviewPane *>(QStringLiteral("previewPane"));
    QTest::mouseClick(timeline, Qt::LeftButton, {}, timeline->markRect(last).center());
    QCOMPARE(timeline->currentMoment(), last);
    QCOMPARE(pane->currentTimeMs(), row.moments.at(last).startMs);

    // Asking about the moment shown gets an answer from the video path.
    auto *question = w->findChild<QLineEdit *>(QStringLiteral("askQuestion"));
    auto *scope = w->findChild<QComboBox *>(QStringLiteral("askScope"));
    QVERIFY(scope->isVisible());
    QCOMPARE(scope->count(), 2);
    QTest::keyClicks(question, QStringLiteral("what color is it?"));
    w->findChild<QCheckBox *>(QStringLiteral("askUseCandidates"))->setChecked(true);
    w->findChild<QPlainTextEdit *>(QStringLiteral("askCandidates"))->setPlainText(QStringLiteral("red\nblue\ngreen"));
    QSignalSpy answered(w->controller(), &ui::EngineController::askFinished);
    QSignalSpy failed(w->controller(), &ui::EngineController::askFailed);
    w->findChild<QPushButton *>(QStringLiteral("askButton"))->click();
    QTRY_VERIFY_WITH_TIMEOUT(answered.size() + failed.size() == 1, kTimeoutMs);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
    const auto answer = answered.first().at(1).value<engine::AskResult>();
    QVERIFY(QStringList({QStringLiteral("red"), QStringLiteral("blue"), QStringLiteral("green")}).contains(answer.answer));

    // Remove it again: the other tests' library is photos only.
    QString removeError;
    QVERIFY2(m_engine->removeFolder(videos, &removeError), qPrintable(removeError));
    QVERIFY(w->close());
}

// Combined queries (engine/query.h) in the search field: a caption plus a photo of the
// library; the photo itself is left out of its results.
void TestGuiSearch::combinedQuerySearchesWithAPhoto()
{
    auto w = openWindow();
    QVERIFY(w);
    ui::ResultsModel *model = w->resultsModel();
    search(*w, QStringLiteral("a dog running on the beach"));
    const int plain = model->rowCount();
    QVERIFY(rowOf(*model, fixtureImage(1)) >= 0);
    search(*w, QStringLiteral("a dog running on the beach + ") + fixtureImage(1));
    QCOMPARE(model->rowCount(), plain - 1);
    QCOMPARE(rowOf(*model, fixtureImage(1)), -1);
    for (int i = 1; i < model->rowCount(); ++i)
        QVERIFY(model->row(i - 1).score >= model->row(i).score);
    QVERIFY(w->close());
}

// A mistake in a combined query shows in the results notice; nothing is searched.
void TestGuiSearch::queryMistakeIsShownNotSearched()
{
    auto w = openWindow();
    QVERIFY(w);
    search(*w, QStringLiteral("a red circle on a blue field"));
    const int before = w->resultsModel()->rowCount();
    auto *field = w->findChild<QLineEdit *>(QStringLiteral("searchField"));
    field->clear();
    QTest::keyClicks(field, QStringLiteral("a dog + ./no-such-unisearch-photo.jpg"));
    QTest::keyClick(field, Qt::Key_Return);
    QVERIFY(!w->controller()->isSearching());
    auto *notice = w->findChild<QLabel *>(QStringLiteral("resultsNotice"));
    QVERIFY(notice->isVisible());
    QVERIFY2(notice->text().contains(QLatin1String("no such file")), qPrintable(notice->text()));
    QVERIFY2(notice->text().contains(QLatin1String("no-such-unisearch-photo.jpg")), qPrintable(notice->text()));
    QCOMPARE(w->resultsModel()->rowCount(), before);  // the earlier results stay
    // A bad weight too.
    field->clear();
    QTest::keyClicks(field, QStringLiteral("0:a dog + a cat"));
    QTest::keyClick(field, Qt::Key_Return);
    QVERIFY(!w->controller()->isSearching());
    QVERIFY2(notice->text().contains(QLatin1String("bad weight")), qPrintable(notice->text()));
    QVERIFY(w->close());
}

// Dropping a photo onto the search field appends it as a term (" + PATH"); a file that is
// not an image, or whose path would split the term and is not indexed, is refused with a notice.
void TestGuiSearch::droppedPhotoBecomesATerm()
{
    auto w = openWindow();
    QVERIFY(w);
    auto *field = w->findChild<QLineEdit *>(QStringLiteral("searchField"));
    auto *notice = w->findChild<QLabel *>(QStringLiteral("resultsNotice"));
    auto drop = [&](const QString &path) {
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(path)});
        // What a drag from a file manager delivers: enter, move, drop.
        QDragEnterEvent enter(QPoint(5, 5), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(field, &enter);
        QDragMoveEvent move(QPoint(5, 5), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(field, &move);
        QDropEvent event(QPointF(5, 5), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(field, &event);
    };
    field->setText(QStringLiteral("a dog"));
    drop(fixtureImage(2));
    QCOMPARE(field->text(), QStringLiteral("a dog + ") + fixtureImage(2));
    // The field's text is then a query that searches.
    QSignalSpy shown(w.get(), &ui::MainWindow::resultsShown);
    QTest::keyClick(field, Qt::Key_Return);
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(shown.last().at(0).toBool(), true);
    QCOMPARE(rowOf(*w->resultsModel(), fixtureImage(2)), -1);

    const QString text = m_tmp.filePath(QStringLiteral("notes.txt"));
    QFile f(text);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not a photo\n");
    f.close();
    drop(text);
    QCOMPARE(field->text(), QStringLiteral("a dog + ") + fixtureImage(2));
    QVERIFY2(notice->text().contains(QLatin1String("not an image or a video")), qPrintable(notice->text()));

    const QString split = m_tmp.filePath(QStringLiteral("beach - day.png"));
    QVERIFY(test::randomImage(32, 32, 77, false).save(split));
    drop(split);
    QCOMPARE(field->text(), QStringLiteral("a dog + ") + fixtureImage(2));
    QVERIFY2(notice->text().contains(QLatin1String("cannot be added")), qPrintable(notice->text()));
    QVERIFY(w->close());
}

// Newest/Oldest first reorder the hits the search returned (none added, none dropped), by
// capture time (here the file times: the photos have no EXIF), and the choice is remembered.
void TestGuiSearch::sortByCaptureTimeReordersTheSameHits()
{
    auto w = openWindow();
    QVERIFY(w);
    ui::ResultsModel *model = w->resultsModel();
    auto *sort = w->findChild<QComboBox *>(QStringLiteral("sortOrder"));
    QVERIFY(sort);
    sort->setCurrentIndex(sort->findData(QStringLiteral("relevance")));
    search(*w, QStringLiteral("a red circle on a blue field"));
    QStringList byRelevance;
    for (int i = 0; i < model->rowCount(); ++i)
        byRelevance.append(model->row(i).path);
    QCOMPARE(byRelevance.size(), m_libraryImages);
    for (const QString &order : {QStringLiteral("newest"), QStringLiteral("oldest")}) {
        sort->setCurrentIndex(sort->findData(order));
        QStringList paths;
        for (int i = 0; i < model->rowCount(); ++i) {
            paths.append(model->row(i).path);
            if (i > 0) {
                const qint64 before = model->row(i - 1).mtimeMs, now = model->row(i).mtimeMs;
                QVERIFY2(order == QLatin1String("newest") ? before >= now : before <= now, qPrintable(order));
            }
        }
        QStringList a = paths, b = byRelevance;
        a.sort();
        b.sort();
        QCOMPARE(a, b);  // the same hits
        QCOMPARE(Settings().value(settings::resultsSort), order);
    }
    sort->setCurrentIndex(sort->findData(QStringLiteral("relevance")));
    QStringList back;
    for (int i = 0; i < model->rowCount(); ++i)
        back.append(model->row(i).path);
    QCOMPARE(back, byRelevance);
    QVERIFY(w->close());
}

// The date filter keeps the items taken between its dates (the photos here: today, by file
// time): a range that ends before today finds nothing, one that includes today finds all.
void TestGuiSearch::dateFilterUsesCaptureTime()
{
    auto w = openWindow();
    QVERIFY(w);
    ui::ResultsModel *model = w->resultsModel();
    search(*w, QStringLiteral("a red circle on a blue field"));
    QCOMPARE(model->rowCount(), m_libraryImages);
    auto *on = w->findChild<QCheckBox *>(QStringLiteral("dateFilter"));
    auto *from = w->findChild<QDateEdit *>(QStringLiteral("dateFrom"));
    auto *to = w->findChild<QDateEdit *>(QStringLiteral("dateTo"));
    QVERIFY(on && from && to);
    QSignalSpy shown(w.get(), &ui::MainWindow::resultsShown);
    from->setDate(QDate::currentDate().addDays(-10));
    to->setDate(QDate::currentDate().addDays(-5));
    on->setChecked(true);
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(model->rowCount(), 0);
    to->setDate(QDate::currentDate());  // inclusive: today's photos come back
    QVERIFY(shown.wait(kTimeoutMs));
    QCOMPARE(model->rowCount(), m_libraryImages);
    on->setChecked(false);
    QVERIFY(shown.wait(kTimeoutMs));
    QVERIFY(w->close());
}

QTEST_MAIN(TestGuiSearch)
#include "tst_gui_search.moc"
