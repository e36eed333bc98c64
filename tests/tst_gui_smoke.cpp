// GUI smoke test (offscreen): the main window opens with its parts, explains what is
// missing, shows About, remembers its geometry and closes cleanly.
#include "catalog/catalog.h"
#include "engine/engine.h"
#include "support/fixtures.h"
#include "ui/mainwindow.h"
#include "util/datadir.h"
#include "util/settings.h"

#include <QAction>
#include <QApplication>
#include <QFile>
#include <QFrame>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMessageBox>
#include <QProgressBar>
#include <QSignalSpy>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;

class TestGuiSmoke : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void opensWithSearchAndResults();
    void firstRunNoticeWithoutModel();
    void noFirstRunNoticeWithModel();
    void aboutListsLibraries();
    void ctrlFFocusesSearch();
    void remembersGeometry();
    void explainsUnopenableLibrary();
    void importsModelOnWorkerThread();
    void importErrorIsShown();

private:
    std::unique_ptr<engine::Engine> openEngine(const QString &dataDir);
    std::unique_ptr<QTemporaryDir> m_tmp;
};

void TestGuiSmoke::initTestCase()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    initApplicationIdentity();
    // Closing a test window must not end the application's event loop.
    QApplication::setQuitOnLastWindowClosed(false);
}

void TestGuiSmoke::init()
{
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
    QFile::remove(Settings().fileName());  // every test starts with default settings
}

std::unique_ptr<engine::Engine> TestGuiSmoke::openEngine(const QString &dataDir)
{
    auto e = std::make_unique<engine::Engine>();
    engine::Engine::Options options;
    options.dataDir = dataDir;
    options.device = QStringLiteral("cpu");
    e->open(options);
    return e;
}

void TestGuiSmoke::opensWithSearchAndResults()
{
    auto engine = openEngine(m_tmp->path());
    QVERIFY2(engine->isOpen(), qPrintable(engine->errorString()));
    ui::MainWindow w(engine.get());
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));

    auto *search = w.findChild<QLineEdit *>(QStringLiteral("searchField"));
    QVERIFY(search);
    QVERIFY(search->isVisible());
    QVERIFY(search->isEnabled());
    auto *results = w.findChild<QListView *>(QStringLiteral("resultsView"));
    QVERIFY(results);
    QVERIFY(results->isVisible());
    QVERIFY(results->model());
    QCOMPARE(results->model()->rowCount(), 0);
    QVERIFY(w.findChild<QWidget *>(QStringLiteral("libraryPanel"))->isVisible());
    QVERIFY(w.statusBar()->isVisible());

    for (const char *menuAction : {"actionAddFolder", "actionQuit", "actionImportModel", "actionAbout"})
        QVERIFY2(w.findChild<QAction *>(QString::fromLatin1(menuAction)), menuAction);
    QCOMPARE(w.findChild<QAction *>(QStringLiteral("actionAddFolder"))->shortcut(),
             QKeySequence(Qt::CTRL | Qt::Key_O));
    QCOMPARE(w.findChild<QAction *>(QStringLiteral("actionQuit"))->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_Q));

    // Quit closes the window cleanly.
    w.findChild<QAction *>(QStringLiteral("actionQuit"))->trigger();
    QVERIFY(!w.isVisible());
}

void TestGuiSmoke::firstRunNoticeWithoutModel()
{
    auto engine = openEngine(m_tmp->path());
    QVERIFY(!engine->status().hasModel());
    ui::MainWindow w(engine.get());
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    auto *notice = w.findChild<QFrame *>(QStringLiteral("firstRunNotice"));
    QVERIFY(notice);
    QVERIFY(notice->isVisible());
    auto *text = notice->findChild<QLabel *>(QStringLiteral("firstRunNoticeText"));
    QVERIFY(text);
    QVERIFY2(text->text().contains(QStringLiteral("Import")) && text->text().contains(QStringLiteral("download")),
             qPrintable(text->text()));
    QVERIFY(!w.findChild<QFrame *>(QStringLiteral("openErrorNotice"))->isVisible());
    QVERIFY(w.close());
}

void TestGuiSmoke::noFirstRunNoticeWithModel()
{
    {
        catalog::OpenResult r = catalog::Catalog::open(m_tmp->path());
        QVERIFY2(r, qPrintable(r.error));
        catalog::ModelRecord m;
        m.name = QStringLiteral("uniadapter-retrieval");
        m.fingerprint = QStringLiteral("fp");
        m.task = QStringLiteral("retrieval");
        m.path = m_tmp->filePath(QStringLiteral("models/uniadapter-retrieval"));
        m.active = true;
        r.catalog->upsertModel(m);
    }
    auto engine = openEngine(m_tmp->path());
    ui::MainWindow w(engine.get());
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QVERIFY(!w.findChild<QFrame *>(QStringLiteral("firstRunNotice"))->isVisible());
    QVERIFY(w.findChild<QLabel *>(QStringLiteral("modelLabel"))->text().contains(QStringLiteral("uniadapter")));
    QVERIFY(w.close());
}

void TestGuiSmoke::aboutListsLibraries()
{
    auto engine = openEngine(m_tmp->path());
    ui::MainWindow w(engine.get());
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    w.findChild<QAction *>(QStringLiteral("actionAbout"))->trigger();
    QMessageBox *box = nullptr;
    QTRY_VERIFY((box = w.findChild<QMessageBox *>(QStringLiteral("aboutBox"))) && box->isVisible());
    for (const char *lib : {"Qt", "LibTorch", "FAISS", "FFmpeg", "SQLite"})
        QVERIFY2(box->text().contains(QString::fromLatin1(lib)), lib);
    QVERIFY(box->text().contains(QString::fromLatin1(qVersion())));
    box->accept();
    QTRY_VERIFY(!w.findChild<QMessageBox *>(QStringLiteral("aboutBox")));  // deleted on close
    QVERIFY(w.close());
}

void TestGuiSmoke::ctrlFFocusesSearch()
{
    auto engine = openEngine(m_tmp->path());
    ui::MainWindow w(engine.get());
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QApplication::setActiveWindow(&w);
    QVERIFY(QTest::qWaitForWindowActive(&w));
    auto *results = w.findChild<QListView *>(QStringLiteral("resultsView"));
    results->setFocus();
    QTRY_VERIFY(results->hasFocus());
    QTest::keyClick(&w, Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY(w.findChild<QLineEdit *>(QStringLiteral("searchField"))->hasFocus());
    QVERIFY(w.close());
}

void TestGuiSmoke::remembersGeometry()
{
    auto engine = openEngine(m_tmp->path());
    const QSize size(820, 560);
    {
        ui::MainWindow w(engine.get());
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        w.resize(size);
        QTRY_COMPARE(w.size(), size);
        QVERIFY(w.close());
    }
    ui::MainWindow again(engine.get());
    again.show();
    QVERIFY(QTest::qWaitForWindowExposed(&again));
    QCOMPARE(again.size(), size);
    QVERIFY(again.close());
}

void TestGuiSmoke::explainsUnopenableLibrary()
{
    const QString file = m_tmp->filePath(QStringLiteral("not-a-dir"));
    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.close();
    auto engine = openEngine(file);
    QVERIFY(!engine->isOpen());
    ui::MainWindow w(engine.get());
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    auto *notice = w.findChild<QFrame *>(QStringLiteral("openErrorNotice"));
    QVERIFY(notice->isVisible());
    QVERIFY(notice->findChild<QLabel *>()->text().contains(QStringLiteral("not a directory")));
    QVERIFY(!w.findChild<QAction *>(QStringLiteral("actionAddFolder"))->isEnabled());
    QVERIFY(w.close());
}

void TestGuiSmoke::importsModelOnWorkerThread()
{
    auto engine = openEngine(m_tmp->path());
    ui::MainWindow w(engine.get());
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QVERIFY(w.findChild<QFrame *>(QStringLiteral("firstRunNotice"))->isVisible());
    QSignalSpy finished(&w, &ui::MainWindow::modelImportFinished);
    const QString checkpoint = test::uniadapterDir() + QStringLiteral("/weights/retrieval.pth");
    QVERIFY(w.startModelImport(checkpoint));
    // Busy, not blocked: the call returned at once, with the indicator on and the action off.
    QVERIFY(w.isImportingModel());
    QVERIFY(w.findChild<QProgressBar *>(QStringLiteral("modelImportProgress"))->isVisible());
    QVERIFY(!w.findChild<QAction *>(QStringLiteral("actionImportModel"))->isEnabled());
    QVERIFY(finished.wait(120000));
    QCOMPARE(finished.first().at(0).toBool(), true);
    QVERIFY2(finished.first().at(1).toString().contains(QStringLiteral("'retrieval'")),
             qPrintable(finished.first().at(1).toString()));
    QVERIFY(!w.isImportingModel());
    QVERIFY(!w.findChild<QProgressBar *>(QStringLiteral("modelImportProgress"))->isVisible());
    QVERIFY(w.findChild<QAction *>(QStringLiteral("actionImportModel"))->isEnabled());
    QVERIFY(w.statusBar()->currentMessage().contains(QStringLiteral("retrieval")));
    QCOMPARE(engine->status().activeModel, QStringLiteral("retrieval"));
    QVERIFY(!w.findChild<QFrame *>(QStringLiteral("firstRunNotice"))->isVisible());

    // Importing the same file again picks a free name.
    finished.clear();
    QVERIFY(w.startModelImport(checkpoint));
    QVERIFY(finished.wait(120000));
    QCOMPARE(finished.first().at(0).toBool(), true);
    QCOMPARE(engine->models().size(), 2);
    QCOMPARE(engine->models().at(1).name, QStringLiteral("retrieval-2"));
    QVERIFY(w.close());
}

void TestGuiSmoke::importErrorIsShown()
{
    auto engine = openEngine(m_tmp->path());
    ui::MainWindow w(engine.get());
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    const QString file = m_tmp->filePath(QStringLiteral("notes.pth"));
    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not a checkpoint");
    f.close();
    QSignalSpy finished(&w, &ui::MainWindow::modelImportFinished);
    QVERIFY(w.startModelImport(file));
    QVERIFY(finished.wait(60000));
    QCOMPARE(finished.first().at(0).toBool(), false);
    const QString message = finished.first().at(1).toString();
    QVERIFY2(message.contains(file), qPrintable(message));
    auto *box = w.findChild<QMessageBox *>(QStringLiteral("errorBox"));
    QVERIFY(box);
    QVERIFY(box->isVisible());
    QCOMPARE(box->text(), message);
    box->close();
    QVERIFY(engine->models().isEmpty());
    QVERIFY(w.findChild<QAction *>(QStringLiteral("actionImportModel"))->isEnabled());
    QVERIFY(w.close());
}

QTEST_MAIN(TestGuiSmoke)
#include "tst_gui_smoke.moc"
