#include "ui/librarycontroller.h"

#include "engine/engine.h"
#include "engine/indexjob.h"
#include "ui/enginecontroller.h"
#include "ui/librarypanel.h"
#include "util/log.h"
#include "util/settings.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QLocale>
#include <QMenu>

namespace unisearch::ui {

namespace {

const QString logCategory = QStringLiteral("ui");
constexpr int messageTimeoutMs = 8000;

// The last checked language stays checked (its action disabled): reading text needs one.
bool isOnlyLanguage(const QStringList &inUse, const QString &code)
{
    return inUse.size() == 1 && inUse.first() == code;
}

} // namespace

LibraryController::LibraryController(engine::Engine *engine, EngineController *controller, LibraryPanel *panel,
                                     QWidget *window)
    : QObject(window), m_engine(engine), m_controller(controller), m_panel(panel), m_window(window)
{
    connect(m_panel, &LibraryPanel::addFolderRequested, this, &LibraryController::addFolder);
    connect(m_panel, &LibraryPanel::foldersDropped, this, &LibraryController::addFolders);
    connect(m_panel, &LibraryPanel::rescanRequested, this, &LibraryController::rescan);
    connect(m_panel, &LibraryPanel::pauseRequested, this, [this] {
        m_controller->pauseIndexing();
        m_panel->setIndexing(true, true);
    });
    connect(m_panel, &LibraryPanel::resumeRequested, this, [this] {
        m_controller->resumeIndexing();
        m_panel->setIndexing(true, false);
    });
    connect(m_panel, &LibraryPanel::cancelRequested, this, [this] {
        m_controller->cancelIndexing();
        m_panel->setActivity(tr("Cancelling…"));
    });
    connect(m_panel, &LibraryPanel::removeFolderRequested, this, &LibraryController::removeFolder);

    connect(m_controller, &EngineController::indexProgress, this, &LibraryController::onIndexProgress);
    connect(m_controller, &EngineController::indexFinished, this, &LibraryController::onIndexFinished);
    connect(m_controller, &EngineController::indexFailed, this, &LibraryController::onIndexFailed);
    connect(m_controller, &EngineController::reembedStarted, this, &LibraryController::showReembedding);
    connect(m_controller, &EngineController::reembedFinished, this, &LibraryController::onReembedFinished);
}

void LibraryController::addTextMenu(QMenu *menu, QAction *before)
{
    auto *read = new QAction(tr("Read &Text in Pictures"), menu);
    read->setObjectName(QStringLiteral("actionReadText"));
    read->setCheckable(true);
    read->setChecked(Settings().value(settings::ocr));
    read->setStatusTip(tr("Find photos by the words in them: indexing reads their text (OCR) after the photos "
                          "are searchable"));
    auto *languages = new QMenu(tr("Text &Languages"), menu);
    languages->setObjectName(QStringLiteral("menuTextLanguages"));
    languages->setEnabled(read->isChecked());
    fillTextLanguages(languages);
    connect(languages, &QMenu::aboutToShow, this, [this, languages] { fillTextLanguages(languages); });
    connect(read, &QAction::toggled, this, [this, languages](bool on) {
        Settings().setValue(settings::ocr, on);
        languages->setEnabled(on);
        emit message(on ? tr("Text in pictures is read from the next indexing on (File ▸ Rescan Library).")
                        : tr("Indexing no longer reads text in pictures."),
                     messageTimeoutMs);
    });
    menu->insertAction(before, read);
    menu->insertMenu(before, languages);
    menu->insertSeparator(before);
}

void LibraryController::fillTextLanguages(QMenu *languages)
{
    languages->clear();
    const QStringList installed = engine::Engine::installedTextLanguages();
    if (installed.isEmpty()) {
        languages->addAction(tr("No languages installed (tesseract-ocr-*)"))->setEnabled(false);
        return;
    }
    const QStringList inUse = textLanguagesInUse(installed);
    for (const QString &code : installed) {
        // Tesseract names languages by ISO 639-2 codes, with a script after '_' (chi_sim).
        const QLocale::Language language = QLocale::codeToLanguage(code.section(QLatin1Char('_'), 0, 0));
        const QString name = language == QLocale::AnyLanguage
                                 ? code
                                 : QStringLiteral("%1 (%2)").arg(QLocale::languageToString(language), code);
        QAction *action = languages->addAction(name);
        action->setObjectName(QStringLiteral("actionTextLanguage_") + code);
        action->setData(code);
        action->setCheckable(true);
        action->setChecked(inUse.contains(code));
        action->setEnabled(!isOnlyLanguage(inUse, code));
        connect(action, &QAction::toggled, this,
                [this, languages, code](bool on) { setTextLanguage(languages, code, on); });
    }
}

void LibraryController::setTextLanguage(QMenu *languages, const QString &language, bool on)
{
    QStringList inUse = textLanguagesInUse(engine::Engine::installedTextLanguages());
    inUse.removeAll(language);
    if (on)
        inUse << language;
    if (inUse.isEmpty())
        return;  // refused: the action is disabled then, this is only a guard
    Settings().setValue(settings::ocrLanguages, inUse);
    for (QAction *action : languages->actions())
        action->setEnabled(!isOnlyLanguage(inUse, action->data().toString()));
    emit message(tr("Text in pictures is read in %1 from the next indexing on.").arg(inUse.join(QStringLiteral(", "))),
                 messageTimeoutMs);
}

void LibraryController::startReembed(const QString &pack)
{
    QString error;
    if (!m_controller->startReembed(&error))
        emit message(tr("Cannot re-embed the library for “%1”: %2").arg(pack, error), 0);
    else if (m_controller->isIndexing())
        showReembedding(pack);
}

void LibraryController::showReembedding(const QString &pack)
{
    m_panel->setIndexing(true, false);
    m_panel->setActivity(tr("Re-embedding the library for “%1”; search uses the previous vectors until it is done.")
                             .arg(pack));
}

void LibraryController::onReembedFinished(bool switched, const QString &text)
{
    const QString shown = switched ? tr("The library is re-embedded: search now uses the new adapter pack.") : text;
    m_panel->setActivity(shown);
    emit message(shown, messageTimeoutMs);
    emit statusChanged();
    emit searchOutdated();
}

void LibraryController::removeFolder(const QString &folder)
{
    QString error;
    if (!m_engine->removeFolder(folder, &error)) {
        emit message(error, messageTimeoutMs);
        return;
    }
    m_controller->invalidateSearch();
    emit message(tr("Removed %1 from the library.").arg(QDir::toNativeSeparators(folder)), messageTimeoutMs);
    emit statusChanged();
    emit searchOutdated();
}

void LibraryController::refreshFailures()
{
    if (!m_engine->isOpen())
        return;
    QString error;
    if (const auto errors = m_engine->recentErrors(500, &error))
        m_panel->setFailures(*errors);
    else
        log::warning(logCategory, QStringLiteral("reading the failed files: %1").arg(error));
}

void LibraryController::addFolder()
{
    Settings s;
    const QString start = s.value(settings::lastFolder).isEmpty() ? QDir::homePath() : s.value(settings::lastFolder);
    const QString dir = QFileDialog::getExistingDirectory(m_window, tr("Add a Folder to the Library"), start);
    if (dir.isEmpty())
        return;
    s.setValue(settings::lastFolder, dir);
    addFolders({dir});
}

void LibraryController::addFolders(const QStringList &folders)
{
    QStringList added;
    for (const QString &dir : folders) {
        QString error;
        if (m_engine->addFolder(dir, &error))
            added.append(dir);
        else
            emit errorOccurred(tr("Add Folder"), error);
    }
    if (added.isEmpty())
        return;
    emit statusChanged();
    if (!m_engine->activeModel(engine::retrievalTask)) {
        emit message(tr("Added %1 to the library. It will be indexed once a model is imported.")
                         .arg(QDir::toNativeSeparators(added.join(QStringLiteral(", ")))),
                     messageTimeoutMs);
        return;
    }
    if (m_controller->isIndexing()) {
        emit message(tr("Added %1; it will be indexed after the current run (Rescan).")
                         .arg(QDir::toNativeSeparators(added.join(QStringLiteral(", ")))),
                     messageTimeoutMs);
        return;
    }
    rescan();
}

void LibraryController::rescan()
{
    QString error;
    if (!m_controller->startIndexing({}, &error)) {
        emit message(error, messageTimeoutMs);
        m_panel->setActivity(error);
        return;
    }
    m_panel->setIndexing(true, false);
    m_panel->setActivity(tr("Indexing…"));
    emit indexingStarted();
    emit message(tr("Indexing the library…"), messageTimeoutMs);
}

void LibraryController::onIndexProgress(const engine::IndexProgress &progress)
{
    using Stage = engine::IndexProgress::Stage;
    m_panel->setProgress(progress);
    const bool ocr = progress.stage == Stage::Ocr;
    m_panel->setActivity(progress.paused ? tr("Indexing paused")
                         : ocr         ? tr("Reading text in pictures; the photos can be searched already.")
                                       : tr("Indexing…"));
    // The OCR pass comes after the photos are committed: search them now, not at the run's end.
    if (ocr && m_lastStage != Stage::Ocr) {
        m_controller->invalidateSearch();
        emit statusChanged();
        emit searchOutdated();
    }
    m_lastStage = progress.stage;
}

void LibraryController::onIndexFinished(const engine::IndexResult &r)
{
    m_lastStage = engine::IndexProgress::Stage::Scanning;
    m_panel->setIndexing(false);
    const QString summary =
        r.cancelled ? tr("Indexing cancelled: %1 files embedded before it stopped (they are kept).")
                          .arg(r.embedded + r.videosEmbedded)
                    : tr("Indexing done: %1 new, %2 changed, %3 removed, %4 could not be read (%5 s).")
                          .arg(r.added)
                          .arg(r.modified)
                          .arg(r.deleted)
                          .arg(r.failed)
                          .arg(r.seconds, 0, 'f', 1);
    const QString shown = summary + textSummary(r);
    m_panel->setActivity(shown);
    emit message(shown, messageTimeoutMs);
    emit statusChanged();
    refreshFailures();
    emit searchOutdated();  // new files may match what is shown
}

QString LibraryController::textSummary(const engine::IndexResult &r)
{
    if (!r.ocrError.isEmpty())
        return QLatin1Char(' ') + tr("Text in pictures could not be read: %1").arg(r.ocrError);
    if (r.ocrRead == 0)
        return {};
    return QLatin1Char(' ') + tr("Text in pictures: %1 read, %2 with text.").arg(r.ocrRead).arg(r.ocrWithText);
}

void LibraryController::onIndexFailed(const QString &error)
{
    m_lastStage = engine::IndexProgress::Stage::Scanning;
    m_panel->setIndexing(false);
    m_panel->setActivity(tr("Indexing failed: %1").arg(error));
    emit message(tr("Indexing failed: %1").arg(error), messageTimeoutMs);
    emit statusChanged();
    refreshFailures();
}

} // namespace unisearch::ui
