// The Model ▸ Teach… wizard driven through every page on the offscreen platform with the
// fixture model: goal → examples (count, warning) → settings → training (live loss) →
// results (before/after) → save and activate; and stopping a run saves nothing; a
// full-mode search pack is activated by re-embedding the library in the background (an
// indexing run goes straight on with it); photos picked and named in the library train a
// pack whose sample queries rank them first; results selected in the main window open the
// wizard with them; the device selector; the validation curve.
#include "engine/computesupport.h"
#include "engine/engine.h"
#include "engine/training.h"
#include "engine/trainingpreview.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "ui/enginecontroller.h"
#include "ui/mainwindow.h"
#include "ui/resultsmodel.h"
#include "ui/trainwizard.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QSignalSpy>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QListWidget>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QStandardItemModel>
#include <QRadioButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

using namespace unisearch;

class TestTrainWizard : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void everyPageThroughToActivation();
    void stoppingSavesNothing();
    void deviceSelector();
    void namesPickedInTheLibrary();
    void teachSelectedFromTheWindow();
    void fullModeReembedsInTheBackground();

private:
    void indexLibrary();
    QString m_library;
    std::unique_ptr<QTemporaryDir> m_tmp;
    std::unique_ptr<engine::Engine> m_engine;
    QString m_csv;
};

void TestTrainWizard::initTestCase()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
    m_engine = std::make_unique<engine::Engine>();
    engine::Engine::Options options;
    options.dataDir = m_tmp->filePath(QStringLiteral("data"));
    options.device = QStringLiteral("cpu");
    QVERIFY2(m_engine->open(options), qPrintable(m_engine->errorString()));
    QString error;
    const QString weights = test::uniadapterDir() + QStringLiteral("/weights/retrieval.pth");
    const QString arch = QString::fromStdString(test::readCase(QStringLiteral("retrieval-image")).at("architecture").dump());
    QVERIFY2(m_engine->importModel(weights, QStringLiteral("base"), {}, arch, &error), qPrintable(error));

    const QStringList words = {QStringLiteral("zorblat"), QStringLiteral("quindle"), QStringLiteral("fremmix"),
                               QStringLiteral("blorpton"), QStringLiteral("snazzit")};
    m_csv = m_tmp->filePath(QStringLiteral("names.csv"));
    QFile f(m_csv);
    QVERIFY(f.open(QIODevice::WriteOnly));
    for (int i = 0; i < words.size(); ++i) {
        QImage img(32, 32, QImage::Format_RGB32);
        img.fill(QColor::fromHsv(i * 70, 200, 60 + 40 * i));
        QVERIFY(img.save(m_tmp->filePath(QStringLiteral("img%1.png").arg(i))));
        f.write(QStringLiteral("img%1.png,%2,name\n").arg(i).arg(words[i]).toUtf8());
    }
}

void TestTrainWizard::everyPageThroughToActivation()
{
    ui::TrainWizard wizard(m_engine.get());
    wizard.show();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::GoalPage));
    wizard.findChild<QRadioButton *>(QStringLiteral("goalNames"))->setChecked(true);
    QCOMPARE(wizard.task(), engine::retrievalTask);
    wizard.next();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::ExamplesPage));
    QVERIFY(!wizard.currentPage()->isComplete());
    wizard.findChild<QLineEdit *>(QStringLiteral("dataFile"))->setText(m_csv);
    QCOMPARE(wizard.exampleCount(), 25); // 5 names × 5 templates
    QLabel *countLabel = wizard.findChild<QLabel *>(QStringLiteral("countLabel"));
    QVERIFY2(countLabel->text().contains(QStringLiteral("25")) && !countLabel->text().contains(QStringLiteral("few")),
             qPrintable(countLabel->text()));
    // Too few examples: a warning; a file that does not exist: why, and no way on.
    const QString small = m_tmp->filePath(QStringLiteral("small.csv"));
    QFile f(small);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("img0.png,zorblat,name\n");
    f.close();
    wizard.findChild<QLineEdit *>(QStringLiteral("dataFile"))->setText(small);
    QCOMPARE(wizard.exampleCount(), 5);
    QVERIFY2(countLabel->text().contains(QStringLiteral("few")), qPrintable(countLabel->text()));
    wizard.findChild<QLineEdit *>(QStringLiteral("dataFile"))->setText(m_tmp->filePath(QStringLiteral("none.csv")));
    QCOMPARE(wizard.exampleCount(), 0);
    QVERIFY(!wizard.currentPage()->isComplete());
    QVERIFY2(countLabel->text().contains(QStringLiteral("none.csv")), qPrintable(countLabel->text()));
    wizard.findChild<QLineEdit *>(QStringLiteral("dataFile"))->setText(m_csv);
    QVERIFY(wizard.currentPage()->isComplete());
    wizard.next();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::SettingsPage));
    auto *estimate = wizard.findChild<QLabel *>(QStringLiteral("estimate"));
    // A long full-mode run is estimated in hours and minutes.
    auto *mode = wizard.findChild<QComboBox *>(QStringLiteral("mode"));
    mode->setCurrentIndex(mode->findData(QStringLiteral("full")));
    wizard.findChild<QSpinBox *>(QStringLiteral("epochs"))->setValue(100);
    QVERIFY2(estimate->text().contains(QStringLiteral("300 training steps")), qPrintable(estimate->text()));
    QVERIFY2(estimate->text().contains(QRegularExpression(QStringLiteral("roughly \\d+ h \\d+ min "))), qPrintable(estimate->text()));
    mode->setCurrentIndex(mode->findData(QStringLiteral("query")));
    wizard.findChild<QSpinBox *>(QStringLiteral("epochs"))->setValue(10);
    QVERIFY2(estimate->text().contains(QStringLiteral("30 training steps")), qPrintable(estimate->text()));
    QVERIFY2(estimate->text().contains(QRegularExpression(QStringLiteral("roughly \\d+ min "))), qPrintable(estimate->text()));
    wizard.next();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::TrainingPage));
    QVERIFY(wizard.isTraining());
    QTRY_VERIFY_WITH_TIMEOUT(!wizard.isTraining(), 60000);
    QVERIFY2(wizard.trainingSucceeded(), qPrintable(wizard.findChild<QLabel *>(QStringLiteral("lossLabel"))->text()));
    QVERIFY(wizard.currentPage()->isComplete());
    QVERIFY(wizard.findChild<QWidget *>(QStringLiteral("lossPlot")));
    wizard.next();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::ResultsPage));
    const QString results = wizard.findChild<QLabel *>(QStringLiteral("resultsLabel"))->text();
    QVERIFY2(results.contains(QStringLiteral("before: recall@1")) && results.contains(QStringLiteral("after:  recall@1")),
             qPrintable(results));
    // The engine's advice: 5 held-out examples say little.
    QVERIFY2(results.contains(QStringLiteral("rest on 5 examples held out")), qPrintable(results));
    QVERIFY(wizard.findChild<QCheckBox *>(QStringLiteral("activatePack"))->isChecked());
    QVERIFY(engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")).isEmpty());
    wizard.accept();
    const QString active = engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base"));
    QVERIFY(active.endsWith(wizard.packName() + QStringLiteral(".safetensors")));
    QVERIFY(QFileInfo(active).isFile());
}

void TestTrainWizard::stoppingSavesNothing()
{
    const int packsBefore = int(engine::adapterPacks(*m_engine).size());
    const QString activeBefore = engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base"));
    ui::TrainWizard wizard(m_engine.get());
    wizard.show();
    wizard.next();
    wizard.findChild<QLineEdit *>(QStringLiteral("dataFile"))->setText(m_csv);
    wizard.next();
    wizard.findChild<QSpinBox *>(QStringLiteral("epochs"))->setValue(200);
    wizard.next();
    QVERIFY(wizard.isTraining());
    QTRY_VERIFY_WITH_TIMEOUT(wizard.findChild<QLabel *>(QStringLiteral("lossLabel"))->text().startsWith(QStringLiteral("Step")),
                             30000);
    QTest::mouseClick(wizard.findChild<QPushButton *>(QStringLiteral("cancelTraining")), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!wizard.isTraining(), 30000);
    QVERIFY(!wizard.trainingSucceeded());
    QVERIFY(!wizard.currentPage()->isComplete());
    QVERIFY(wizard.findChild<QLabel *>(QStringLiteral("lossLabel"))->text().contains(QStringLiteral("Nothing was saved")));
    QCOMPARE(int(engine::adapterPacks(*m_engine).size()), packsBefore);
    QCOMPARE(engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")), activeBefore);
}

// An indexed library (the example photos), once.
void TestTrainWizard::indexLibrary()
{
    if (!m_library.isEmpty())
        return;
    const QString library = m_tmp->filePath(QStringLiteral("library"));
    QVERIFY(QDir().mkpath(library));
    for (int i = 0; i < 5; ++i)
        QVERIFY(QFile::copy(m_tmp->filePath(QStringLiteral("img%1.png").arg(i)), QDir(library).filePath(QStringLiteral("img%1.png").arg(i))));
    QString error;
    QVERIFY2(m_engine->addFolder(library, &error), qPrintable(error));
    ui::EngineController controller(m_engine.get());
    QSignalSpy indexed(&controller, &ui::EngineController::indexFinished);
    QVERIFY2(controller.startIndexing({}, &error), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(indexed.count(), 1, 60000);
    m_library = library;
}

void TestTrainWizard::deviceSelector()
{
    ui::TrainWizard wizard(m_engine.get());
    wizard.show();
    wizard.next();
    wizard.findChild<QLineEdit *>(QStringLiteral("dataFile"))->setText(m_csv);
    wizard.next();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::SettingsPage));
    auto *device = wizard.findChild<QComboBox *>(QStringLiteral("device"));
    QVERIFY(device);
    QCOMPARE(device->count(), 2);
    QCOMPARE(device->itemData(0).toString(), QStringLiteral("cpu"));
    QCOMPARE(device->itemData(1).toString(), QStringLiteral("cuda"));
    auto *items = qobject_cast<QStandardItemModel *>(device->model());
    QVERIFY(items);
    QVERIFY(items->item(0)->isEnabled());
    const engine::ComputeSupport support = engine::computeSupport();
    auto *estimate = wizard.findChild<QLabel *>(QStringLiteral("estimate"));
    QVERIFY(estimate->text().contains(QStringLiteral("CPU")));
    if (!support.cuda) {
        // Offered, but disabled, with the reason where the user looks for it.
        QVERIFY(!items->item(1)->isEnabled());
        QVERIFY(!support.cudaUnavailableReason.isEmpty());
        QCOMPARE(items->item(1)->toolTip(), support.cudaUnavailableReason);
        QVERIFY(device->toolTip().contains(support.cudaUnavailableReason));
        QCOMPARE(device->currentData().toString(), QStringLiteral("cpu"));
    } else {
        QVERIFY(items->item(1)->isEnabled());
        device->setCurrentIndex(1);
        QVERIFY2(estimate->text().contains(QStringLiteral("GPU")), qPrintable(estimate->text()));
    }
    QVERIFY(wizard.findChild<QCheckBox *>(QStringLiteral("bfloat16")));
}

void TestTrainWizard::namesPickedInTheLibrary()
{
    indexLibrary();
    if (QTest::currentTestFailed())
        return;
    // Before = the base model (the first test activated a pack taught other words).
    QString error;
    QVERIFY2(engine::deactivateAdapterPack(*m_engine, QStringLiteral("base"), &error), qPrintable(error));
    const QStringList words = {QStringLiteral("wumpfle"), QStringLiteral("gloxen"), QStringLiteral("trindop"),
                               QStringLiteral("vexmor"), QStringLiteral("plunkett")};
    QStringList paths;
    for (int i = 0; i < 5; ++i)
        paths << QDir(m_library).filePath(QStringLiteral("img%1.png").arg(i));

    ui::TrainWizard wizard(m_engine.get());
    wizard.setPreselectedItems({paths[0]}); // the main window's "Teach a name for the selected…"
    wizard.show();
    QCOMPARE(wizard.task(), engine::retrievalTask);
    wizard.next();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::ExamplesPage));
    QVERIFY(!wizard.currentPage()->isComplete());
    QTRY_VERIFY_WITH_TIMEOUT(!wizard.isListing(), 30000);
    QCOMPARE(wizard.listedItems(), paths); // the indexed photos, by path
    auto *view = wizard.findChild<QListView *>(QStringLiteral("libraryView"));
    // Each cell has room for its thumbnail and name, though none had loaded when the view
    // laid the items out.
    QTRY_VERIFY2(view->visualRect(view->model()->index(0, 0)).height() >= view->iconSize().height() + view->fontMetrics().height(),
                 qPrintable(QString::number(view->visualRect(view->model()->index(0, 0)).height())));
    auto *labelText = wizard.findChild<QLineEdit *>(QStringLiteral("labelText"));
    auto *add = wizard.findChild<QPushButton *>(QStringLiteral("addPicked"));
    auto *filter = wizard.findChild<QLineEdit *>(QStringLiteral("libraryFilter"));
    // The preselected item is selected: typing a name labels it.
    const QModelIndexList selected = view->selectionModel()->selectedIndexes();
    QCOMPARE(selected.size(), 1);
    QCOMPARE(selected.first().data(Qt::UserRole).toString(), paths[0]);
    labelText->setText(words[0]);
    QTest::mouseClick(add, Qt::LeftButton);
    QCOMPARE(wizard.exampleCount(), int(engine::nameTemplates(words[0]).size()));
    QVERIFY(wizard.findChild<QLabel *>(QStringLiteral("countLabel"))->text().contains(QStringLiteral("few")));
    // The others: found by the filter (path substring), selected, named.
    for (int i = 1; i < 5; ++i) {
        filter->clear();
        QTest::keyClicks(filter, QStringLiteral("IMG%1.").arg(i));
        QTRY_COMPARE_WITH_TIMEOUT(wizard.listedItems(), QStringList{paths[i]}, 30000);
        QTRY_VERIFY_WITH_TIMEOUT(!wizard.isListing(), 30000);
        view->selectAll();
        labelText->setText(words[i]);
        QTest::mouseClick(add, Qt::LeftButton);
    }
    const int count = 5 * int(engine::nameTemplates(words[0]).size());
    QCOMPARE(wizard.exampleCount(), count);
    auto *picked = wizard.findChild<QListWidget *>(QStringLiteral("pickedList"));
    QCOMPARE(picked->count(), 5);
    // A wrong label, added and removed again.
    labelText->setText(QStringLiteral("oops"));
    QTest::mouseClick(add, Qt::LeftButton);
    QCOMPARE(picked->count(), 6);
    QCOMPARE(wizard.exampleCount(), count + int(engine::nameTemplates(QStringLiteral("oops")).size()));
    picked->setCurrentRow(5);
    QTest::mouseClick(wizard.findChild<QPushButton *>(QStringLiteral("removePicked")), Qt::LeftButton);
    QCOMPARE(picked->count(), 5);
    QCOMPARE(wizard.exampleCount(), count);
    const QString countText = wizard.findChild<QLabel *>(QStringLiteral("countLabel"))->text();
    QVERIFY2(countText.contains(QString::number(count)) && !countText.contains(QStringLiteral("few")), qPrintable(countText));
    // The examples are the names' caption templates of the picked photos.
    const auto examples = wizard.examples();
    QCOMPARE(int(examples.size()), count);
    for (const auto &e : examples) {
        const int i = int(words.indexOf(e.name));
        QVERIFY2(i >= 0, qPrintable(e.name));
        QCOMPARE(e.path, paths[i]);
        QVERIFY(engine::nameTemplates(e.name).contains(e.text));
    }
    QVERIFY(wizard.currentPage()->isComplete());

    wizard.next();
    const int epochs = 20;
    wizard.findChild<QSpinBox *>(QStringLiteral("epochs"))->setValue(epochs);
    wizard.next();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::TrainingPage));
    QTRY_VERIFY_WITH_TIMEOUT(!wizard.isTraining(), 60000);
    QVERIFY2(wizard.trainingSucceeded(), qPrintable(wizard.findChild<QLabel *>(QStringLiteral("lossLabel"))->text()));
    // The held-out curve: a point at each epoch's end, the last one in the label.
    QCOMPARE(wizard.validationPointCount(), epochs);
    QVERIFY2(wizard.findChild<QLabel *>(QStringLiteral("lossLabel"))->text().contains(QStringLiteral("held-out recall@1")),
             qPrintable(wizard.findChild<QLabel *>(QStringLiteral("lossLabel"))->text()));

    wizard.next();
    QCOMPARE(wizard.currentId(), int(ui::TrainWizard::ResultsPage));
    // The sample queries start as the taught names; the comparison runs on the library.
    auto *queries = wizard.findChild<QPlainTextEdit *>(QStringLiteral("sampleQueries"));
    QCOMPARE(queries->toPlainText().split(QLatin1Char('\n')), words);
    QTest::mouseClick(wizard.findChild<QPushButton *>(QStringLiteral("compareQueries")), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!wizard.isComparing(), 60000);
    QVERIFY2(wizard.comparison().size() == 5, qPrintable(wizard.findChild<QLabel *>(QStringLiteral("compareNote"))->text()));
    QCOMPARE(wizard.comparisonScope(), QStringLiteral("library"));
    int beforeFirst = 0, afterFirst = 0;
    for (int i = 0; i < 5; ++i) {
        const engine::QueryComparison &c = wizard.comparison().at(i);
        QCOMPARE(c.query, words[i]);
        QCOMPARE(int(c.before.size()), 5);
        QCOMPARE(int(c.after.size()), 5);
        beforeFirst += c.before.first().path == paths[i];
        afterFirst += c.after.first().path == paths[i];
    }
    qInfo("sample queries: the taught photo ranks first for %d of 5 names before, %d after", beforeFirst, afterFirst);
    QCOMPARE(afterFirst, 5);
    QVERIFY2(beforeFirst < afterFirst, qPrintable(QString::number(beforeFirst)));
    wizard.accept();
    QVERIFY(engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")).endsWith(wizard.packName() + QStringLiteral(".safetensors")));
}

// Photos selected among the main window's results (Ctrl-click for several) and
// right-click ▸ Teach a Name… open the wizard with those photos selected on the examples
// page; right-clicking a result outside the selection acts on that one only.
void TestTrainWizard::teachSelectedFromTheWindow()
{
    indexLibrary();
    if (QTest::currentTestFailed())
        return;
    const QString first = QDir(m_library).filePath(QStringLiteral("img3.png"));
    const QString second = QDir(m_library).filePath(QStringLiteral("img4.png"));
    ui::MainWindow window(m_engine.get());
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy shown(&window, &ui::MainWindow::resultsShown);
    auto *field = window.findChild<QLineEdit *>(QStringLiteral("searchField"));
    QTest::keyClicks(field, QStringLiteral("a photo"));
    QTest::keyClick(field, Qt::Key_Return);
    QVERIFY(shown.wait(30000));
    ui::ResultsModel *results = window.resultsModel();
    QCOMPARE(results->rowCount(), 5);
    auto *view = window.findChild<QListView *>(QStringLiteral("resultsView"));
    auto centreOf = [&](const QString &path) {
        for (int r = 0; r < results->rowCount(); ++r)
            if (results->row(r).path == path) {
                view->scrollTo(results->index(r));
                return view->visualRect(results->index(r)).center();
            }
        return QPoint(-1, -1);
    };
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, centreOf(first));
    QTest::mouseClick(view->viewport(), Qt::LeftButton, Qt::ControlModifier, centreOf(second));
    QCOMPARE(view->selectionModel()->selectedIndexes().size(), 2);

    // Opens the results menu at pos; inspect runs on it while it is shown, then it closes.
    auto withMenu = [&](const QPoint &pos, const std::function<void(QAction *)> &inspect) {
        bool seen = false;
        QTimer::singleShot(0, &window, [&] {
            auto *menu = window.findChild<QMenu *>(QStringLiteral("resultsMenu"));
            QAction *teach = menu ? menu->findChild<QAction *>(QStringLiteral("actionTeachSelected")) : nullptr;
            if (teach) {
                seen = true;
                inspect(teach);
            }
            if (menu)
                menu->close();
        });
        emit view->customContextMenuRequested(pos);
        return seen;
    };
    // Outside the selection: that result alone.
    const QString other = QDir(m_library).filePath(QStringLiteral("img0.png"));
    QVERIFY(withMenu(centreOf(other), [](QAction *teach) {
        QVERIFY(teach->isEnabled());
        QCOMPARE(teach->text(), QStringLiteral("&Teach a Name for This Photo…"));
    }));
    QCOMPARE(view->selectionModel()->selectedIndexes().size(), 1);
    QCOMPARE(results->row(view->currentIndex().row()).path, other);
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, centreOf(first));
    QTest::mouseClick(view->viewport(), Qt::LeftButton, Qt::ControlModifier, centreOf(second));
    // On the selection: both, and the wizard opens with them.
    QVERIFY(withMenu(centreOf(second), [](QAction *teach) {
        QCOMPARE(teach->text(), QStringLiteral("&Teach a Name for the 2 Selected Photos…"));
        teach->trigger();
    }));
    QCOMPARE(view->selectionModel()->selectedIndexes().size(), 2);
    auto *wizard = window.findChild<ui::TrainWizard *>();
    QVERIFY(wizard);
    QVERIFY(window.findChild<QAction *>(QStringLiteral("actionTeach"))->data().isNull()); // the next Teach… starts empty
    QVERIFY(wizard->findChild<QRadioButton *>(QStringLiteral("goalNames"))->isChecked());
    wizard->next();
    QCOMPARE(wizard->currentId(), int(ui::TrainWizard::ExamplesPage));
    QTRY_VERIFY_WITH_TIMEOUT(!wizard->isListing(), 30000);
    QStringList selected;
    for (const QModelIndex &i : wizard->findChild<QListView *>(QStringLiteral("libraryView"))->selectionModel()->selectedIndexes())
        selected << i.data(Qt::UserRole).toString();
    selected.sort();
    QCOMPARE(selected, (QStringList{first, second}));
    // Search (by meaning) lists the best matches first: with the pack the previous test
    // activated, the photo named "gloxen" there.
    QTest::keyClicks(wizard->findChild<QLineEdit *>(QStringLiteral("libraryFilter")), QStringLiteral("gloxen"));
    QTest::mouseClick(wizard->findChild<QPushButton *>(QStringLiteral("librarySearch")), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(wizard->listedItems().size() == 5 && !wizard->isListing(), 30000);
    QCOMPARE(wizard->listedItems().first(), QDir(m_library).filePath(QStringLiteral("img1.png")));
    wizard->reject();
}

void TestTrainWizard::fullModeReembedsInTheBackground()
{
    indexLibrary();
    if (QTest::currentTestFailed())
        return;
    QString error;
    ui::EngineController controller(m_engine.get());
    const QString dataDir = m_engine->dataDir();
    const engine::IndexState before = engine::readIndexState(*m_engine->catalog(), dataDir);
    QCOMPARE(before.vectors, 5);
    const QString activeBefore = engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base"));

    ui::TrainWizard wizard(m_engine.get());
    QSignalSpy requested(&wizard, &ui::TrainWizard::reembedRequested);
    wizard.show();
    wizard.findChild<QRadioButton *>(QStringLiteral("goalNames"))->setChecked(true);
    wizard.next();
    wizard.findChild<QLineEdit *>(QStringLiteral("dataFile"))->setText(m_csv);
    wizard.next();
    auto *mode = wizard.findChild<QComboBox *>(QStringLiteral("mode"));
    mode->setCurrentIndex(mode->findData(QStringLiteral("full")));
    wizard.findChild<QSpinBox *>(QStringLiteral("epochs"))->setValue(2);
    wizard.next();
    QTRY_VERIFY_WITH_TIMEOUT(!wizard.isTraining(), 60000);
    QVERIFY(wizard.trainingSucceeded());
    wizard.next();
    // The image side changed: the sample queries rank the examples' photos, embedded with
    // each model, and say so.
    wizard.findChild<QPlainTextEdit *>(QStringLiteral("sampleQueries"))->setPlainText(QStringLiteral("zorblat"));
    QTest::mouseClick(wizard.findChild<QPushButton *>(QStringLiteral("compareQueries")), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!wizard.isComparing(), 60000);
    QCOMPARE(wizard.comparisonScope(), QStringLiteral("examples"));
    QCOMPARE(wizard.comparison().size(), 1);
    QStringList examplePhotos;
    for (int i = 0; i < 5; ++i)
        examplePhotos << m_tmp->filePath(QStringLiteral("img%1.png").arg(i));
    for (const auto &side : {wizard.comparison().first().before, wizard.comparison().first().after}) {
        QStringList ranked;
        for (const auto &hit : side)
            ranked << hit.path;
        ranked.sort();
        QCOMPARE(ranked, examplePhotos);
    }
    QVERIFY(wizard.findChild<QLabel *>(QStringLiteral("compareNote"))->text().contains(QStringLiteral("training examples")));
    QVERIFY(wizard.findChild<QCheckBox *>(QStringLiteral("activatePack"))->isEnabled());
    QVERIFY(wizard.findChild<QCheckBox *>(QStringLiteral("activatePack"))->isChecked());
    wizard.accept();
    // Pending, not active: search still runs on the vectors it had.
    QCOMPARE(requested.count(), 1);
    QCOMPARE(requested.at(0).at(0).toString(), wizard.packName());
    QVERIFY(engine::pendingAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")).endsWith(wizard.packName() + QStringLiteral(".safetensors")));
    QCOMPARE(engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")), activeBefore);
    QCOMPARE(engine::readIndexState(*m_engine->catalog(), dataDir).fingerprint, before.fingerprint);

    // A photo added to the library before the re-embed ran: indexing it (with the active
    // vectors) goes straight on with the pending re-embed, which covers it too and switches.
    QVERIFY(test::randomImage(48, 48, 77).save(QDir(m_library).filePath(QStringLiteral("added.png"))));
    QSignalSpy indexed(&controller, &ui::EngineController::indexFinished);
    QSignalSpy started(&controller, &ui::EngineController::reembedStarted);
    QSignalSpy finished(&controller, &ui::EngineController::reembedFinished);
    QVERIFY2(controller.startIndexing({}, &error), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
    // Two jobs ran: the indexing (which added the photo), then the re-embed it started.
    QCOMPARE(indexed.count(), 2);
    QCOMPARE(indexed.at(0).at(0).value<engine::IndexResult>().added, qint64(1));
    QCOMPARE(started.count(), 1);
    QCOMPARE(started.at(0).at(0).toString(), wizard.packName());
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(finished.at(0).at(1).toString()));
    QVERIFY(engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")).endsWith(wizard.packName() + QStringLiteral(".safetensors")));
    QVERIFY(engine::pendingAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")).isEmpty());
    const engine::IndexState after = engine::readIndexState(*m_engine->catalog(), dataDir);
    QVERIFY2(after.fingerprint.startsWith(before.fingerprint + QLatin1Char('+')), qPrintable(after.fingerprint));
    QCOMPARE(after.vectors, 6);
}

QTEST_MAIN(TestTrainWizard)
#include "tst_trainwizard.moc"
