#pragma once
// The main window as GUI tests drive it (header-only: for tests that link us_ui): an Engine
// on a test data dir with the fixture retrieval model, the window shown, a query typed into
// its search field, the row of a path in the results.
#include "engine/engine.h"
#include "support/fixtures.h"
#include "ui/mainwindow.h"
#include "ui/resultsmodel.h"
#include "util/datadir.h"

#include <QApplication>
#include <QLineEdit>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QString>
#include <QTest>

#include <memory>

namespace unisearch::test {

// What a GUI test's initTestCase starts with: settings and caches in test locations (never
// the user's), the application's identity, windows that do not quit the application when
// closed, and the fixture vocabulary.
inline void initGuiTest()
{
    test::isolateUserSettings(); // settings never the user's, nor another test's
    initApplicationIdentity();
    QApplication::setQuitOnLastWindowClosed(false);
    qputenv("UNISEARCH_VOCAB", vocabPath().toUtf8());
    qputenv("UNISEARCH_CPU_FEATURES", "none"); // precision auto = float32: the float32 reference numbers
}

// Opens engine on dataDir (CPU, one thread) and imports the retrieval-image fixture case as
// the model "fixture". False with *error.
inline bool openEngineWithFixtureModel(engine::Engine &engine, const QString &dataDir, QString *error)
{
    engine::Engine::Options options;
    options.dataDir = dataDir;
    options.device = QStringLiteral("cpu");
    options.threads = 1;
    if (!engine.open(options)) {
        *error = engine.errorString();
        return false;
    }
    return bool(engine.importModel(uniadapterDir() + QStringLiteral("/weights/retrieval.pth"), QStringLiteral("fixture"),
                                   engine::retrievalTask, caseArchitectureJson(QStringLiteral("retrieval-image")), error));
}

// The window on engine, shown and exposed; null when it could not be exposed.
inline std::unique_ptr<ui::MainWindow> openWindow(engine::Engine *engine)
{
    auto w = std::make_unique<ui::MainWindow>(engine);
    w->show();
    if (!QTest::qWaitForWindowExposed(w.get()))
        return nullptr;
    return w;
}

// Types text into the search field and presses Enter; true when the results are shown
// within timeoutMs (false also for a search that failed).
inline bool searchInWindow(ui::MainWindow &w, const QString &text, int timeoutMs)
{
    auto *field = w.findChild<QLineEdit *>(QStringLiteral("searchField"));
    if (!field)
        return false;
    QSignalSpy shown(&w, &ui::MainWindow::resultsShown);
    field->setFocus();
    field->clear();
    QTest::keyClicks(field, text);
    QTest::keyClick(field, Qt::Key_Return);
    return shown.wait(timeoutMs) && shown.last().at(0).toBool();
}

// The row of the result for path; -1 when it is not among them.
inline int rowOfPath(const ui::ResultsModel &m, const QString &path)
{
    for (int i = 0; i < m.rowCount(); ++i)
        if (m.row(i).path == path)
            return i;
    return -1;
}

} // namespace unisearch::test
