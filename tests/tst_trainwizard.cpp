// The Model ▸ Teach… wizard driven through every page on the offscreen platform with the
// fixture model: goal → examples (count, warning) → settings → training (live loss) →
// results (before/after) → save and activate; and stopping a run saves nothing; a
// full-mode search pack is activated by re-embedding the library in the background.
#include "engine/engine.h"
#include "engine/training.h"
#include "support/fixtures.h"
#include "ui/enginecontroller.h"
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
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;

class TestTrainWizard : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void everyPageThroughToActivation();
    void stoppingSavesNothing();
    void fullModeReembedsInTheBackground();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    std::unique_ptr<engine::Engine> m_engine;
    QString m_csv;
};

void TestTrainWizard::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
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
    wizard.findChild<QSpinBox *>(QStringLiteral("epochs"))->setValue(10);
    QVERIFY(wizard.findChild<QLabel *>(QStringLiteral("estimate"))->text().contains(QStringLiteral("30 training steps")));
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

void TestTrainWizard::fullModeReembedsInTheBackground()
{
    // An indexed library (the example photos).
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
    QVERIFY(wizard.findChild<QCheckBox *>(QStringLiteral("activatePack"))->isEnabled());
    QVERIFY(wizard.findChild<QCheckBox *>(QStringLiteral("activatePack"))->isChecked());
    wizard.accept();
    // Pending, not active: search still runs on the vectors it had.
    QCOMPARE(requested.count(), 1);
    QCOMPARE(requested.at(0).at(0).toString(), wizard.packName());
    QVERIFY(engine::pendingAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")).endsWith(wizard.packName() + QStringLiteral(".safetensors")));
    QCOMPARE(engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")), activeBefore);
    QCOMPARE(engine::readIndexState(*m_engine->catalog(), dataDir).fingerprint, before.fingerprint);

    QSignalSpy finished(&controller, &ui::EngineController::reembedFinished);
    QVERIFY2(controller.startReembed(&error), qPrintable(error));
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
    QVERIFY2(finished.at(0).at(0).toBool(), qPrintable(finished.at(0).at(1).toString()));
    QVERIFY(engine::activeAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")).endsWith(wizard.packName() + QStringLiteral(".safetensors")));
    QVERIFY(engine::pendingAdapterPackPath(*m_engine->catalog(), QStringLiteral("base")).isEmpty());
    const engine::IndexState after = engine::readIndexState(*m_engine->catalog(), dataDir);
    QVERIFY2(after.fingerprint.startsWith(before.fingerprint + QLatin1Char('+')), qPrintable(after.fingerprint));
    QCOMPARE(after.vectors, 5);
}

QTEST_MAIN(TestTrainWizard)
#include "tst_trainwizard.moc"
