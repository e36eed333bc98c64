// The model manager dialog (offscreen): importing the fixture checkpoints through the
// dialog (on a worker thread) lists them; choosing another model makes it the active one;
// the compute choices are written to the settings the engine reads; a catalogue entry
// served by a local HTTP server is downloaded, checked and listed.
#include "engine/computesupport.h"
#include "engine/engine.h"
#include "support/fixtures.h"
#include "support/httpserver.h"
#include "ui/mainwindow.h"
#include "ui/modelmanager.h"
#include "util/datadir.h"
#include "util/settings.h"

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QCryptographicHash>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <QtTest>

using namespace unisearch;

namespace {

QString weights(const QString &file)
{
    return test::uniadapterDir() + QStringLiteral("/weights/") + file;
}

QStringList column(QTreeWidget *tree, int c)
{
    QStringList out;
    for (int i = 0; i < tree->topLevelItemCount(); ++i)
        out.append(tree->topLevelItem(i)->text(c));
    return out;
}

} // namespace

class TestGuiModelManager : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void importsCheckpointsAndSwitchesTheActiveModel();
    void importErrorIsShown();
    void computeChoicesAreSaved();
    void precisionAutoIsTheDefault_data();
    void precisionAutoIsTheDefault();
    void downloadsFromTheCatalogue();
    void mainWindowOpensIt();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    std::unique_ptr<engine::Engine> m_engine;
};

void TestGuiModelManager::initTestCase()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    initApplicationIdentity();
    QApplication::setQuitOnLastWindowClosed(false);
}

void TestGuiModelManager::init()
{
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
    QFile::remove(Settings().fileName());
    m_engine = std::make_unique<engine::Engine>();
    engine::Engine::Options options;
    options.dataDir = m_tmp->path();
    options.device = QStringLiteral("cpu");
    QVERIFY2(m_engine->open(options), qPrintable(m_engine->errorString()));
}

void TestGuiModelManager::importsCheckpointsAndSwitchesTheActiveModel()
{
    ui::ModelManagerDialog dialog(m_engine.get());
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    auto *path = dialog.findChild<QLineEdit *>(QStringLiteral("importPath"));
    auto *import = dialog.findChild<QPushButton *>(QStringLiteral("importButton"));
    auto *list = dialog.findChild<QTreeWidget *>(QStringLiteral("modelList"));
    auto *active = dialog.findChild<QComboBox *>(QStringLiteral("activeRetrievalModel"));
    QVERIFY(path && import && list && active);
    QCOMPARE(list->topLevelItemCount(), 0);
    QVERIFY(!active->isEnabled());

    QSignalSpy finished(&dialog, &ui::ModelManagerDialog::importFinished);
    path->setText(weights(QStringLiteral("retrieval.pth")));
    QTest::mouseClick(import, Qt::LeftButton);
    QVERIFY(dialog.isImporting());
    QVERIFY(!import->isEnabled());  // one import at a time
    QTRY_COMPARE_WITH_TIMEOUT(list->topLevelItemCount(), 1, 60'000);
    QCOMPARE(finished.count(), 1);
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(finished.at(0).at(1).toString()));
    QCOMPARE(column(list, 0), QStringList{QStringLiteral("retrieval")});
    QVERIFY(!column(list, 3).at(0).isEmpty());  // the first model of its task is in use

    path->setText(weights(QStringLiteral("retrieval-noadapter.pth")));
    QTest::mouseClick(import, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(list->topLevelItemCount(), 2, 60'000);
    QTRY_VERIFY(import->isEnabled());
    QCOMPARE(active->count(), 2);
    QCOMPARE(active->currentText(), QStringLiteral("retrieval"));

    // Choose the other one in the "Model for search" box.
    const int other = active->findText(QStringLiteral("retrieval-noadapter"));
    QVERIFY(other >= 0);
    active->setCurrentIndex(other);
    emit active->activated(other);
    QCOMPARE(m_engine->activeModel(engine::retrievalTask)->name, QStringLiteral("retrieval-noadapter"));
    const int row = column(list, 0).indexOf(QStringLiteral("retrieval-noadapter"));
    QVERIFY(!column(list, 3).at(row).isEmpty());
    QVERIFY(column(list, 3).at(1 - row).isEmpty());
}

void TestGuiModelManager::importErrorIsShown()
{
    ui::ModelManagerDialog dialog(m_engine.get());
    QSignalSpy finished(&dialog, &ui::ModelManagerDialog::importFinished);
    QVERIFY(!dialog.startImport(m_tmp->filePath(QStringLiteral("missing.pth"))));
    QCOMPARE(finished.count(), 1);
    QVERIFY(!finished.at(0).at(0).toBool());
    auto *message = dialog.findChild<QLabel *>(QStringLiteral("modelManagerMessage"));
    QVERIFY2(message->text().contains(QStringLiteral("no such file")), qPrintable(message->text()));
    QCOMPARE(m_engine->models().size(), 0);
}

void TestGuiModelManager::computeChoicesAreSaved()
{
    ui::ModelManagerDialog dialog(m_engine.get());
    auto *device = dialog.findChild<QComboBox *>(QStringLiteral("deviceCombo"));
    auto *precision = dialog.findChild<QComboBox *>(QStringLiteral("precisionCombo"));
    auto *threads = dialog.findChild<QSpinBox *>(QStringLiteral("threadsSpin"));
    QVERIFY(device && precision && threads);

    // CUDA is offered only where it works; otherwise it is greyed out with the reason.
    const engine::ComputeSupport support = engine::computeSupport();
    auto *model = qobject_cast<QStandardItemModel *>(device->model());
    QStandardItem *cuda = model->item(device->findData(QStringLiteral("cuda")));
    QCOMPARE(cuda->isEnabled(), support.cuda);
    if (!support.cuda)
        QVERIFY(!cuda->toolTip().isEmpty());

    const int cpu = device->findData(QStringLiteral("cpu"));
    device->setCurrentIndex(cpu);
    emit device->activated(cpu);
    const int bf16 = precision->findData(QStringLiteral("bfloat16"));
    precision->setCurrentIndex(bf16);
    emit precision->activated(bf16);
    threads->setValue(3);

    const Settings s;
    QCOMPARE(s.value(settings::device), QStringLiteral("cpu"));
    QCOMPARE(s.value(settings::precision), QStringLiteral("bfloat16"));
    QCOMPARE(s.value(settings::threads), 3);

    // A new dialog shows what is stored.
    ui::ModelManagerDialog again(m_engine.get());
    QCOMPARE(again.findChild<QComboBox *>(QStringLiteral("precisionCombo"))->currentData().toString(),
             QStringLiteral("bfloat16"));
    QCOMPARE(again.findChild<QSpinBox *>(QStringLiteral("threadsSpin"))->value(), 3);
}

// The precision combo's first entry is "auto", the default, and says what it means on this
// CPU (stubbed through UNISEARCH_CPU_FEATURES); choosing it stores "auto" again.
void TestGuiModelManager::precisionAutoIsTheDefault_data()
{
    QTest::addColumn<QByteArray>("cpu");
    QTest::addColumn<QString>("label");
    QTest::newRow("AVX512_BF16") << QByteArray("avx512bf16") << QStringLiteral("Automatic (bfloat16 on this CPU)");
    QTest::newRow("AMX") << QByteArray("amx") << QStringLiteral("Automatic (bfloat16 on this CPU)");
    QTest::newRow("Intel AVX512_BF16, no AMX")
        << QByteArray("avx512bf16,intel")
        << QStringLiteral("Automatic (float32 on this CPU; answers decoded in bfloat16)");
    QTest::newRow("no bfloat16") << QByteArray("none") << QStringLiteral("Automatic (float32 on this CPU)");
}

void TestGuiModelManager::precisionAutoIsTheDefault()
{
    QFETCH(QByteArray, cpu);
    QFETCH(QString, label);
    qputenv("UNISEARCH_CPU_FEATURES", cpu);
    auto dialog = std::make_unique<ui::ModelManagerDialog>(m_engine.get());
    qunsetenv("UNISEARCH_CPU_FEATURES");
    auto *precision = dialog->findChild<QComboBox *>(QStringLiteral("precisionCombo"));
    QVERIFY(precision);
    QCOMPARE(precision->itemData(0).toString(), QStringLiteral("auto"));
    QCOMPARE(precision->itemText(0), label);
    QCOMPARE(precision->currentIndex(), 0); // nothing stored: the default
    QVERIFY(precision->findData(QStringLiteral("float32")) > 0);
    QVERIFY(precision->findData(QStringLiteral("bfloat16")) > 0);

    const int f32 = precision->findData(QStringLiteral("float32"));
    precision->setCurrentIndex(f32);
    emit precision->activated(f32);
    QCOMPARE(Settings().value(settings::precision), QStringLiteral("float32"));
    precision->setCurrentIndex(0);
    emit precision->activated(0);
    QCOMPARE(Settings().value(settings::precision), QStringLiteral("auto"));
}

void TestGuiModelManager::downloadsFromTheCatalogue()
{
    QFile checkpoint(weights(QStringLiteral("vqa.pth")));
    QVERIFY(checkpoint.open(QIODevice::ReadOnly));
    const QByteArray data = checkpoint.readAll();
    test::HttpServer server;
    server.addFile(QStringLiteral("/vqa.pth"), data);
    QVERIFY(server.listen());
    QFile catalogue(m_tmp->filePath(QStringLiteral("catalogue.json")));
    QVERIFY(catalogue.open(QIODevice::WriteOnly));
    catalogue.write(QStringLiteral(R"({"models": [{"name": "fixture-vqa", "title": "Fixture VQA", "task": "vqa",
        "url": "%1", "sha256": "%2", "size": %3, "licence": "test", "architecture": %4}]})")
                        .arg(server.url(QStringLiteral("/vqa.pth")).toString(),
                             QString::fromLatin1(QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex()))
                        .arg(data.size())
                        .arg(QString::fromStdString(test::readCase(QStringLiteral("vqa")).at("architecture").dump()))
                        .toUtf8());
    catalogue.close();
    qputenv("UNISEARCH_MODEL_CATALOGUE", catalogue.fileName().toUtf8());
    ui::ModelManagerDialog dialog(m_engine.get());
    qunsetenv("UNISEARCH_MODEL_CATALOGUE");
    QVERIFY2(dialog.catalogueError().isEmpty(), qPrintable(dialog.catalogueError()));
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));

    auto *entries = dialog.findChild<QTreeWidget *>(QStringLiteral("catalogueList"));
    auto *download = dialog.findChild<QPushButton *>(QStringLiteral("downloadButton"));
    auto *list = dialog.findChild<QTreeWidget *>(QStringLiteral("modelList"));
    QCOMPARE(column(entries, 0), QStringList{QStringLiteral("Fixture VQA")});
    QVERIFY(download->isEnabled());
    QSignalSpy finished(&dialog, &ui::ModelManagerDialog::downloadFinished);
    QTest::mouseClick(download, Qt::LeftButton);
    QVERIFY(dialog.isDownloading());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60'000);
    QVERIFY2(finished.at(0).at(1).toBool(), qPrintable(finished.at(0).at(2).toString()));
    QCOMPARE(column(list, 0), QStringList{QStringLiteral("fixture-vqa")});
    QCOMPARE(m_engine->activeModel(engine::vqaTask)->name, QStringLiteral("fixture-vqa"));
    QCOMPARE(dialog.findChild<QComboBox *>(QStringLiteral("activeVqaModel"))->currentText(),
             QStringLiteral("fixture-vqa"));
    QVERIFY(!download->isEnabled());  // imported: nothing to download
    QCOMPARE(server.requests().size(), 1);
}

void TestGuiModelManager::mainWindowOpensIt()
{
    ui::MainWindow window(m_engine.get());
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    // The first-run notice's button (no model yet) opens the manager, non-modal.
    auto *button = window.findChild<QPushButton *>(QStringLiteral("firstRunImportButton"));
    QVERIFY(button && button->isVisible());
    QTest::mouseClick(button, Qt::LeftButton);
    auto *dialog = window.findChild<ui::ModelManagerDialog *>(QStringLiteral("modelManager"));
    QVERIFY(dialog);
    QTRY_VERIFY(dialog->isVisible());
    QVERIFY(!dialog->isModal());
    dialog->close();
    // Model → Manage Models… shows the same dialog again (with its downloads).
    auto *action = window.findChild<QAction *>(QStringLiteral("actionManageModels"));
    QVERIFY(action);
    action->trigger();
    QTRY_VERIFY(dialog->isVisible());
    QCOMPARE(window.findChildren<ui::ModelManagerDialog *>().size(), 1);
}

QTEST_MAIN(TestGuiModelManager)
#include "tst_gui_modelmanager.moc"
