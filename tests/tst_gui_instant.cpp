// The window is ready when it looks ready (issue 13, points 2 and 5), on the offscreen
// platform with the fixture retrieval model (and the VQA fixture for the ask panel) over a
// small indexed library:
// - the search model loads in the background when the window opens: the controller reports
//   "loading" then "ready", the load ran on the search thread (never the GUI thread), and a
//   query typed before "ready" arrived runs once, after the load, without a second load;
// - with re-rank on, the store's results are shown before the re-rank ends, and the final
//   order is the order of the ITM probabilities the engine reports (pairs with clear margins);
// - a new query cancels the old re-rank: nothing of the old one shows after the new one starts;
// - a re-ordered list keeps the selected item selected;
// - after the idle time (a 1-second setting here) the session is freed, and the next query
//   loads it again in the background;
// - the question model loads when the ask panel is first used, off the GUI thread, and is
//   ready for a question when it says so (every part a question needs prepared).
#include "engine/engine.h"
#include "engine/indexjob.h"
#include "media/filepath.h"
#include "support/fixtures.h"
#include "support/guiwindow.h"
#include "support/images.h"
#include "ui/enginecontroller.h"
#include "ui/mainwindow.h"
#include "ui/resultsmodel.h"
#include "ui/uisettings.h"
#include "util/settings.h"

#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QPushButton>
#include <QSignalSpy>
#include <QStringListModel>
#include <QTemporaryDir>
#include <QtTest>

using namespace unisearch;
using State = ui::EngineController::ModelState;

namespace {

constexpr int kTimeoutMs = 60000;

// Types text into the window's search field and presses Enter (no waiting).
void typeQuery(ui::MainWindow &w, const QString &text)
{
    auto *field = w.findChild<QLineEdit *>(QStringLiteral("searchField"));
    QVERIFY(field);
    field->setFocus();
    field->clear();
    QTest::keyClicks(field, text);
    QTest::keyClick(field, Qt::Key_Return);
}

QStringList pathsOf(const QList<engine::SearchHit> &hits)
{
    QStringList paths;
    for (const engine::SearchHit &h : hits)
        paths << h.path;
    return paths;
}

QStringList pathsOf(const ui::ResultsModel &m)
{
    QStringList paths;
    for (int i = 0; i < m.rowCount(); ++i)
        paths << m.row(i).path;
    return paths;
}

} // namespace

class TestGuiInstant : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();

    void searchModelLoadsInTheBackgroundAtStart();
    void rerankShowsStoreResultsFirstAndEndsInItmOrder();
    void newQueryCancelsTheOldRerank();
    void reorderKeepsTheSelectedItem();
    void idleUnloadFreesTheSessionAndTheNextQueryLoadsAgain();
    void askPanelLoadsItsModelOnFirstUse();
    void shownPhotoIsEncodedBeforeTheQuestion();

private:
    QString caption(int k) const { return m_captions.at(k); }

    QTemporaryDir m_tmp;
    QString m_photos;
    QStringList m_captions;
    std::unique_ptr<engine::Engine> m_engine;
};

void TestGuiInstant::initTestCase()
{
    test::initGuiTest();
    QVERIFY(m_tmp.isValid());
    m_photos = media::canonicalPath(m_tmp.path()) + QStringLiteral("/photos");
    QVERIFY(QDir().mkpath(m_photos));
    const QString retrieval = test::caseDir(QStringLiteral("retrieval-image"));
    for (int i = 0; i < 3; ++i)
        QVERIFY(QFile::copy(QStringLiteral("%1/img%2.png").arg(retrieval).arg(i),
                            QStringLiteral("%1/img%2.png").arg(m_photos).arg(i)));
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::randomImage(48, 40, 3000 + quint32(i), false)
                    .save(QStringLiteral("%1/decoy%2.png").arg(m_photos).arg(i)));
    const nlohmann::json fixtureCase = test::readCase(QStringLiteral("retrieval-image"));
    for (const auto &c : fixtureCase.at("captions"))
        m_captions << QString::fromStdString(c.get<std::string>());
    QVERIFY(m_captions.size() >= 2);

    m_engine = std::make_unique<engine::Engine>();
    QString error;
    const QString data = m_tmp.filePath(QStringLiteral("data"));
    QVERIFY2(test::openEngineWithFixtureModel(*m_engine, data, &error), qPrintable(error));
    QVERIFY2(m_engine->importModel(test::uniadapterDir() + QStringLiteral("/weights/vqa.pth"),
                                   QStringLiteral("fixture-vqa"), engine::vqaTask,
                                   test::caseArchitectureJson(QStringLiteral("vqa")), &error),
             qPrintable(error));
    QVERIFY(m_engine->addFolder(m_photos, &error));
    engine::IndexParams params;
    params.dataDir = data;
    params.paths = m_engine->folders();
    engine::IndexJob job(params);
    const engine::IndexResult r = job.run();
    QVERIFY2(r.ok, qPrintable(r.error));
    QCOMPARE(r.embedded, qint64(6));
}

void TestGuiInstant::init()
{
    QFile::remove(Settings().fileName());  // every test starts with default settings
    // The ITM orders below are the engine's own, at an explicit precision.
    Settings().setValue(settings::precision, QStringLiteral("float32"));
}

// The window opens the search session on the search thread at once; a query typed before the
// window heard "ready" waits for that load (no second one) and runs once.
void TestGuiInstant::searchModelLoadsInTheBackgroundAtStart()
{
    ui::MainWindow w(m_engine.get());  // not shown yet: no events were processed since it started the load
    ui::EngineController *c = w.controller();
    QSignalSpy states(c, &ui::EngineController::searchModelStateChanged);
    QSignalSpy started(c, &ui::EngineController::searchStarted);
    QSignalSpy finished(c, &ui::EngineController::searchFinished);
    QCOMPARE(c->searchModelState(), State::Unloaded);  // the GUI thread has not heard of the load yet
    typeQuery(w, caption(0));
    QVERIFY(QTest::qWaitFor([&] { return finished.count() == 1; }, kTimeoutMs));
    QCOMPARE(states.count(), 2);
    QCOMPARE(states.at(0).at(0).value<State>(), State::Loading);
    QCOMPARE(states.at(1).at(0).value<State>(), State::Ready);
    QCOMPARE(c->searchModelLoads(), 1);
    QCOMPARE(c->guiThreadLoads(), 0);
    QCOMPARE(started.count(), 1);
    QCOMPARE(w.resultsModel()->rowCount(), 6);

    // Ready: the next query loads nothing.
    typeQuery(w, caption(1));
    QVERIFY(QTest::qWaitFor([&] { return finished.count() == 2; }, kTimeoutMs));
    QCOMPARE(c->searchModelLoads(), 1);
    QCOMPARE(states.count(), 2);
}

void TestGuiInstant::rerankShowsStoreResultsFirstAndEndsInItmOrder()
{
    Settings().setValue(settings::rerank, true);
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    ui::EngineController *c = w->controller();
    QTRY_COMPARE_WITH_TIMEOUT(c->searchModelState(), State::Ready, kTimeoutMs);
    for (int k = 0; k < 2; ++k) {
        QSignalSpy updated(c, &ui::EngineController::searchUpdated);
        QSignalSpy finished(c, &ui::EngineController::searchFinished);
        int updatesBeforeEnd = -1;
        int rowsBeforeEnd = -1;
        QMetaObject::Connection probe = connect(c, &ui::EngineController::searchFinished, this, [&] {
            updatesBeforeEnd = int(updated.count());
            rowsBeforeEnd = w->resultsModel()->rowCount();
        });
        typeQuery(*w, caption(k));
        QVERIFY(finished.wait(kTimeoutMs));
        disconnect(probe);
        // The store's results were in the window before the re-rank ended.
        QVERIFY(updatesBeforeEnd >= 2);  // the store's order, then at least one re-ranked batch
        QCOMPARE(updated.first().at(2).toInt(), 0);  // done 0: the store's order
        QVERIFY(updated.at(1).at(2).toInt() > 0);
        const auto store = updated.first().at(1).value<engine::SearchResult>();
        QVERIFY(!store.reranked);
        QCOMPARE(rowsBeforeEnd, int(store.hits.size()));
        // The end: the engine's re-ranked order, every hit with its probability.
        const auto result = finished.first().at(1).value<engine::SearchResult>();
        QVERIFY(result.reranked);
        QCOMPARE(pathsOf(*w->resultsModel()), pathsOf(result.hits));
        QStringList storeSorted = pathsOf(store.hits), finalSorted = pathsOf(result.hits);
        storeSorted.sort();
        finalSorted.sort();
        QCOMPARE(finalSorted, storeSorted);  // the same items, re-ordered
        const ui::ResultsModel &m = *w->resultsModel();
        for (int i = 0; i < m.rowCount(); ++i)
            for (int j = i + 1; j < m.rowCount(); ++j) {
                const auto pi = m.row(i).itmProbability, pj = m.row(j).itmProbability;
                QVERIFY(pi.has_value() && pj.has_value());
                if (std::abs(*pi - *pj) > 0.02)  // a clear margin: any correct arithmetic orders it so
                    QVERIFY2(*pi > *pj, qPrintable(QStringLiteral("row %1 (%2) before row %3 (%4)")
                                                       .arg(i).arg(*pi).arg(j).arg(*pj)));
            }
        // The "no good match" notice exactly when the engine says none reached the threshold.
        auto *notice = w->findChild<QLabel *>(QStringLiteral("resultsNotice"));
        QVERIFY(notice);
        QCOMPARE(notice->text().contains(QStringLiteral("No good match")), result.noGoodMatch);
    }
}

void TestGuiInstant::newQueryCancelsTheOldRerank()
{
    Settings().setValue(settings::rerank, true);
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    ui::EngineController *c = w->controller();
    QTRY_COMPARE_WITH_TIMEOUT(c->searchModelState(), State::Ready, kTimeoutMs);
    QSignalSpy started(c, &ui::EngineController::searchStarted);
    QSignalSpy updated(c, &ui::EngineController::searchUpdated);
    QSignalSpy finished(c, &ui::EngineController::searchFinished);
    typeQuery(*w, caption(0));
    const int oldId = started.last().at(0).toInt();
    // The old re-rank may have shown its store results; the new query starts now.
    QVERIFY(QTest::qWaitFor([&] { return updated.count() >= 1 || finished.count() >= 1; }, kTimeoutMs));
    const qsizetype updatesBefore = updated.count();
    typeQuery(*w, caption(1));
    const int newId = started.last().at(0).toInt();
    QVERIFY(newId != oldId);
    QVERIFY(QTest::qWaitFor([&] {
        return std::any_of(finished.cbegin(), finished.cend(), [&](const QList<QVariant> &a) { return a.at(0).toInt() == newId; });
    }, kTimeoutMs));
    QTest::qWait(200);  // anything the old task still posted is delivered (or dropped) by now
    // Nothing of the old query after the new one started: no update, no final order.
    for (qsizetype i = updatesBefore; i < updated.count(); ++i)
        QCOMPARE(updated.at(i).at(0).toInt(), newId);
    for (const QList<QVariant> &a : std::as_const(finished))
        QVERIFY(a.at(0).toInt() == newId || a.at(0).toInt() == oldId);
    const auto result = finished.last().at(1).value<engine::SearchResult>();
    QCOMPARE(finished.last().at(0).toInt(), newId);
    QCOMPARE(result.query, caption(1));
    QCOMPARE(pathsOf(*w->resultsModel()), pathsOf(result.hits));
}

// A re-rank re-orders the same items: the selection (and the preview) stays on its item.
void TestGuiInstant::reorderKeepsTheSelectedItem()
{
    ui::ResultsModel model;
    QListView view;
    view.setModel(&model);
    QList<ui::ResultRow> rows;
    for (int i = 0; i < 4; ++i) {
        ui::ResultRow r;
        r.path = QStringLiteral("/photos/p%1.png").arg(i);
        r.score = float(0.5 - 0.1 * i);
        rows << r;
    }
    model.setResults(rows);
    view.setCurrentIndex(model.index(1));
    QCOMPARE(model.row(view.currentIndex().row()).path, QStringLiteral("/photos/p1.png"));
    QList<ui::ResultRow> reordered{rows[3], rows[2], rows[0], rows[1]};
    reordered[0].itmProbability = 0.9;
    QVERIFY(model.reorderResults(reordered));
    QCOMPARE(model.row(0).path, QStringLiteral("/photos/p3.png"));
    QCOMPARE(model.row(0).itmProbability, std::optional<double>(0.9));
    QCOMPARE(view.currentIndex().row(), 3);
    QCOMPARE(model.row(view.currentIndex().row()).path, QStringLiteral("/photos/p1.png"));
    QVERIFY(view.selectionModel()->isSelected(model.index(3)));
    // Other items are not a re-order.
    QList<ui::ResultRow> other = rows;
    other[0].path = QStringLiteral("/photos/else.png");
    QVERIFY(!model.reorderResults(other));
    QCOMPARE(model.row(0).path, QStringLiteral("/photos/p3.png"));
}

void TestGuiInstant::idleUnloadFreesTheSessionAndTheNextQueryLoadsAgain()
{
    Settings().setValue(settings::unloadAfterSeconds, 1);
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    ui::EngineController *c = w->controller();
    QSignalSpy states(c, &ui::EngineController::searchModelStateChanged);
    QVERIFY(test::searchInWindow(*w, caption(0), kTimeoutMs));
    QCOMPARE(c->searchModelLoads(), 1);
    QTRY_VERIFY_WITH_TIMEOUT(c->searchModelState() == State::Unloaded && !c->hasSearchSession(), kTimeoutMs);
    QCOMPARE(states.last().at(0).value<State>(), State::Unloaded);
    // The next query loads the session again, in the background, and is answered.
    QVERIFY(test::searchInWindow(*w, caption(1), kTimeoutMs));
    QCOMPARE(c->searchModelLoads(), 2);
    QCOMPARE(c->guiThreadLoads(), 0);
    QVERIFY(c->hasSearchSession() || c->searchModelState() == State::Unloaded);  // (it may be idle again already)
    QCOMPARE(w->resultsModel()->rowCount(), 6);
}

void TestGuiInstant::askPanelLoadsItsModelOnFirstUse()
{
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    ui::EngineController *c = w->controller();
    QCOMPARE(c->askModelState(), State::Unloaded);
    QSignalSpy states(c, &ui::EngineController::askModelStateChanged);
    auto *question = w->findChild<QLineEdit *>(QStringLiteral("askQuestion"));
    QVERIFY(question);
    QTest::keyClicks(question, QStringLiteral("what"));
    QTRY_COMPARE_WITH_TIMEOUT(c->askModelState(), State::Ready, kTimeoutMs);
    QCOMPARE(states.first().at(0).value<State>(), State::Loading);
    QCOMPARE(states.count(), 2);  // loaded once
    // "Ready" means ready for the first question: vision, text, cross-attention and decoder
    // were prepared by the warm-up, so the question does not pay for them.
    QVERIFY(c->askModelPrepared());
}

// While the question model is in use, the shown photo goes through the vision tower at once
// (on the question thread, while the person types): the question then runs only the question
// encoder and the decoder. Before the ask panel's first use, showing a photo loads nothing.
void TestGuiInstant::shownPhotoIsEncodedBeforeTheQuestion()
{
    auto w = test::openWindow(m_engine.get());
    QVERIFY(w);
    ui::EngineController *c = w->controller();
    QVERIFY(test::searchInWindow(*w, caption(0), kTimeoutMs));
    ui::ResultsModel *model = w->resultsModel();
    auto *view = w->findChild<QListView *>(QStringLiteral("resultsView"));
    auto *question = w->findChild<QLineEdit *>(QStringLiteral("askQuestion"));
    auto *askButton = w->findChild<QPushButton *>(QStringLiteral("askButton"));
    QVERIFY(view && question && askButton);
    QVERIFY(model->rowCount() >= 2);
    QSignalSpy prepared(c, &ui::EngineController::questionPrepared);
    view->setCurrentIndex(model->index(0));
    QCOMPARE(c->askModelState(), State::Unloaded);  // not used yet: nothing loads
    QCOMPARE(prepared.count(), 0);

    // The first use loads the model, then encodes the shown photo.
    QTest::keyClicks(question, QStringLiteral("what color is the circle"));
    QTRY_COMPARE_WITH_TIMEOUT(prepared.count(), 1, kTimeoutMs);
    QCOMPARE(prepared.last().at(0).toString(), model->row(0).path);
    QCOMPARE(c->askModelState(), State::Ready);
    const int encoded = c->questionImagesEncoded();
    QVERIFY(encoded >= 1);

    QSignalSpy done(c, &ui::EngineController::askFinished);
    QTest::mouseClick(askButton, Qt::LeftButton);
    QVERIFY(done.wait(kTimeoutMs));
    QCOMPARE(c->questionImagesEncoded(), encoded);  // the photo's tokens were ready

    // Another photo: encoded when shown; a second question about it encodes nothing more.
    view->setCurrentIndex(model->index(1));
    QTRY_COMPARE_WITH_TIMEOUT(prepared.count(), 2, kTimeoutMs);
    QCOMPARE(prepared.last().at(0).toString(), model->row(1).path);
    QCOMPARE(c->questionImagesEncoded(), encoded + 1);
    for (int round = 0; round < 2; ++round) {
        QSignalSpy again(c, &ui::EngineController::askFinished);
        QTest::mouseClick(askButton, Qt::LeftButton);
        QVERIFY(again.wait(kTimeoutMs));
    }
    QCOMPARE(c->questionImagesEncoded(), encoded + 1);
}

QTEST_MAIN(TestGuiInstant)
#include "tst_gui_instant.moc"
