// File ▸ Find Duplicates… (ui/duplicatesdialog.h) with the fixture model and a small
// library: the window's action opens the dialog; it shows a byte copy beside its original
// and leaves distinct photos out; "Move to Trash" moves the ticked copy into the trash of
// this test's private home ($XDG_DATA_HOME/Trash/files, set before QApplication), never
// deleting it; the next scan drops it from the library; a file that cannot be moved is
// reported and left as it was.
#include "engine/engine.h"
#include "engine/indexjob.h"
#include "media/filepath.h"
#include "support/fixtures.h"
#include "support/images.h"
#include "ui/duplicatesdialog.h"
#include "ui/mainwindow.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;

namespace {
// Made before QApplication (main below), so that the trash and the settings are the test's.
QTemporaryDir *privateHome = nullptr;
}

class TestGuiDuplicates : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void menuOpensTheDialog();
    void movesTheTickedCopyToTheTrash();
    void reportsWhatCouldNotMove();

private:
    QString photo(const QString &name) const { return m_photos + QLatin1Char('/') + name; }
    QString trashed(const QString &name) const
    {
        return qEnvironmentVariable("XDG_DATA_HOME") + QStringLiteral("/Trash/files/") + name;
    }
    void rescan();
    // A dialog whose search has finished.
    std::unique_ptr<ui::DuplicatesDialog> openDialog();

    QString m_data;
    QString m_photos;
    std::unique_ptr<engine::Engine> m_engine;
};

void TestGuiDuplicates::initTestCase()
{
    QApplication::setQuitOnLastWindowClosed(false);
    qputenv("UNISEARCH_VOCAB", test::vocabPath().toUtf8());
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
    m_data = privateHome->filePath(QStringLiteral("data"));
    m_photos = media::canonicalPath(privateHome->path()) + QStringLiteral("/photos");
    QVERIFY(QDir().mkpath(m_photos));
    // Distinct photos (their cosines with the fixture model stay below 0.9, tst_duplicates)
    // and a byte copy of a.
    const QStringList names{QStringLiteral("a.png"), QStringLiteral("b.png"), QStringLiteral("c.png")};
    for (int i = 0; i < names.size(); ++i)
        QVERIFY(test::randomImage(320, 240, 7000 + quint32(i) * 31, false).save(photo(names[i])));
    QVERIFY(QFile::copy(photo(QStringLiteral("a.png")), photo(QStringLiteral("a copy.png"))));

    m_engine = std::make_unique<engine::Engine>();
    engine::Engine::Options options;
    options.dataDir = m_data;
    options.device = QStringLiteral("cpu");
    options.threads = 1;
    QVERIFY2(m_engine->open(options), qPrintable(m_engine->errorString()));
    QString error;
    QVERIFY2(m_engine->importModel(test::uniadapterDir() + QStringLiteral("/weights/retrieval.pth"),
                                   QStringLiteral("fixture"), engine::retrievalTask,
                                   test::caseArchitectureJson(QStringLiteral("retrieval-image")), &error),
             qPrintable(error));
    QVERIFY(m_engine->addFolder(m_photos, &error));
    rescan();
}

void TestGuiDuplicates::rescan()
{
    engine::IndexParams params;
    params.dataDir = m_data;
    params.paths = m_engine->folders();
    params.decodeThreads = 1;
    engine::IndexJob job(params);
    const engine::IndexResult r = job.run();
    QVERIFY2(r.ok, qPrintable(r.error));
}

std::unique_ptr<ui::DuplicatesDialog> TestGuiDuplicates::openDialog()
{
    auto dialog = std::make_unique<ui::DuplicatesDialog>(m_engine.get());
    dialog->show();
    if (!QTest::qWaitForWindowExposed(dialog.get()))
        return nullptr;
    if (!QTest::qWaitFor([&] { return !dialog->isSearching(); }, 120000))
        return nullptr;
    QCoreApplication::processEvents();
    return dialog;
}

void TestGuiDuplicates::menuOpensTheDialog()
{
    ui::MainWindow window(m_engine.get());
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto *action = window.findChild<QAction *>(QStringLiteral("actionFindDuplicates"));
    QVERIFY(action);
    QVERIFY(action->isEnabled());
    action->trigger();
    auto *dialog = window.findChild<ui::DuplicatesDialog *>();
    QVERIFY(dialog);
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->isSearching(), 120000);
    QTRY_COMPARE(dialog->groups().size(), qsizetype(1));
    dialog->close();
}

void TestGuiDuplicates::movesTheTickedCopyToTheTrash()
{
    auto dialog = openDialog();
    QVERIFY(dialog);
    // One group: the original and its byte copy side by side, with their check boxes.
    QCOMPARE(dialog->groups().size(), qsizetype(1));
    const engine::DuplicateGroup group = dialog->groups().front();
    QCOMPARE(group.items.size(), qsizetype(2));
    QStringList inGroup{group.items[0].path, group.items[1].path};
    inGroup.sort();
    QCOMPARE(inGroup, (QStringList{photo(QStringLiteral("a copy.png")), photo(QStringLiteral("a.png"))}));
    QVERIFY(group.items[1].sameBytes);
    QCOMPARE(dialog->findChildren<QCheckBox *>().size(), 2);
    auto *trash = dialog->findChild<QPushButton *>(QStringLiteral("moveToTrashButton"));
    QVERIFY(trash);
    QVERIFY(!trash->isEnabled());  // nothing ticked yet

    QVERIFY(dialog->setChecked(photo(QStringLiteral("a copy.png")), true));
    QVERIFY(trash->isEnabled());
    QSignalSpy moved(dialog.get(), &ui::DuplicatesDialog::filesMoved);
    trash->click();
    QCOMPARE(moved.size(), 1);
    QCOMPARE(moved.front().front().toStringList(), QStringList{photo(QStringLiteral("a copy.png"))});
    // In the private trash, gone from the folder; the original stays.
    QVERIFY(!QFileInfo::exists(photo(QStringLiteral("a copy.png"))));
    QVERIFY2(QFileInfo::exists(trashed(QStringLiteral("a copy.png"))), qPrintable(trashed(QStringLiteral("a copy.png"))));
    QCOMPARE(QFileInfo(trashed(QStringLiteral("a copy.png"))).size(), QFileInfo(photo(QStringLiteral("a.png"))).size());
    QVERIFY(QFileInfo::exists(photo(QStringLiteral("a.png"))));
    auto *report = dialog->findChild<QLabel *>(QStringLiteral("trashReport"));
    QVERIFY(report);
    QVERIFY2(report->text().contains(QStringLiteral("Moved 1 file")), qPrintable(report->text()));
    QVERIFY(!trash->isEnabled());

    // The next scan drops it; a new search finds no duplicates.
    rescan();
    const auto item = m_engine->itemByPath(photo(QStringLiteral("a copy.png")));
    QVERIFY(!item || item->status == catalog::ItemStatus::Missing);
    dialog->findDuplicates();
    QTRY_VERIFY_WITH_TIMEOUT(!dialog->isSearching(), 120000);
    QTRY_VERIFY(dialog->groups().isEmpty());
}

void TestGuiDuplicates::reportsWhatCouldNotMove()
{
    QVERIFY(QFile::copy(photo(QStringLiteral("b.png")), photo(QStringLiteral("b again.png"))));
    rescan();
    auto dialog = openDialog();
    QVERIFY(dialog);
    QCOMPARE(dialog->groups().size(), qsizetype(1));
    // Ticked, then removed by someone else before the move: reported, nothing else moves.
    QVERIFY(dialog->setChecked(photo(QStringLiteral("b again.png")), true));
    QVERIFY(QFile::remove(photo(QStringLiteral("b again.png"))));
    QSignalSpy moved(dialog.get(), &ui::DuplicatesDialog::filesMoved);
    QVERIFY(dialog->moveCheckedToTrash().isEmpty());
    QCOMPARE(moved.size(), 0);
    const QString text = dialog->findChild<QLabel *>(QStringLiteral("trashReport"))->text();
    QVERIFY2(text.contains(QStringLiteral("Could not move 1 file")) && text.contains(QStringLiteral("b again.png")),
             qPrintable(text));
    QVERIFY(QFileInfo::exists(photo(QStringLiteral("b.png"))));
}

int main(int argc, char **argv)
{
    QTemporaryDir home;
    if (!home.isValid())
        return 1;
    privateHome = &home;
    qputenv("HOME", home.path().toUtf8());
    qputenv("XDG_DATA_HOME", home.filePath(QStringLiteral("share")).toUtf8());
    if (!QDir().mkpath(home.filePath(QStringLiteral("share"))))  // Qt makes Trash inside, not share
        return 1;
    qputenv("XDG_CONFIG_HOME", home.filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_CACHE_HOME", home.filePath(QStringLiteral("cache")).toUtf8());
    QApplication app(argc, argv);
    TestGuiDuplicates test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_gui_duplicates.moc"
