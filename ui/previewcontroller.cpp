#include "ui/previewcontroller.h"

#include "engine/engine.h"
#include "engine/inference.h"
#include "ui/askpanel.h"
#include "ui/enginecontroller.h"
#include "ui/itemactions.h"
#include "ui/previewpane.h"

#include <QDir>
#include <QLineEdit>
#include <QSplitter>

namespace unisearch::ui {

namespace {

constexpr int messageTimeoutMs = 8000;

} // namespace

PreviewController::PreviewController(engine::Engine *engine, EngineController *controller,
                                     ThumbnailProvider *thumbnails, QWidget *parent)
    : QObject(parent), m_engine(engine), m_controller(controller)
{
    m_preview = new PreviewPane(thumbnails, parent);
    m_ask = new AskPanel(parent);
    m_splitter = new QSplitter(Qt::Vertical, parent);
    m_splitter->setObjectName(QStringLiteral("previewSplitter"));
    m_splitter->addWidget(m_preview);
    m_splitter->addWidget(m_ask);
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 1);

    connect(m_preview, &PreviewPane::openRequested, this, &PreviewController::openItem);
    connect(m_preview, &PreviewPane::showInFolderRequested, this, &PreviewController::showInFolder);
    connect(m_preview, &PreviewPane::copyPathRequested, this, &PreviewController::copyPath);
    connect(m_preview, &PreviewPane::findSimilarRequested, this, &PreviewController::findSimilarRequested);
    connect(m_preview, &PreviewPane::momentChanged, m_ask, &AskPanel::setMoment);
    connect(m_ask, &AskPanel::askRequested, this, &PreviewController::onAskRequested);
    connect(m_ask, &AskPanel::cancelRequested, m_controller, &EngineController::cancelAsk);
    // After the window's own handler of the first use has started loading the question model.
    connect(m_ask, &AskPanel::firstUsed, this, &PreviewController::prepareQuestion, Qt::QueuedConnection);

    connect(m_controller, &EngineController::askFinished, this,
            [this](int, const engine::AskResult &r) { m_ask->showAnswer(r); });
    connect(m_controller, &EngineController::askFailed, this, [this](int, const QString &e) { m_ask->showError(e); });
    connect(m_controller, &EngineController::askCancelled, m_ask, &AskPanel::showCancelled);
}

void PreviewController::openItem(const QString &path, std::int64_t timeMs)
{
    QString error;
    if (!ui::openItem(path, timeMs, &error))
        emit message(error, messageTimeoutMs);
}

void PreviewController::showInFolder(const QString &path)
{
    QString error;
    if (!ui::showInFolder(path, &error))
        emit message(error, messageTimeoutMs);
}

void PreviewController::copyPath(const QString &path)
{
    ui::copyPath(path);
    emit message(tr("Copied %1").arg(QDir::toNativeSeparators(path)), messageTimeoutMs);
}

void PreviewController::clear()
{
    m_preview->clear();
    m_ask->setTarget(std::nullopt);
}

void PreviewController::focusQuestion()
{
    if (auto *q = m_ask->findChild<QLineEdit *>(QStringLiteral("askQuestion")))
        q->setFocus(Qt::OtherFocusReason);
}

void PreviewController::showResult(const std::optional<ResultRow> &row)
{
    // A question running about the item that was selected is not wanted any more.
    const QString selected = row ? row->path : QString();
    if (m_controller->isAsking() && (!m_ask->target() || m_ask->target()->path != selected))
        m_controller->cancelAsk();
    if (!row) {
        clear();
        return;
    }
    // Without it (not in the catalog, or not readable): metadata from the hit and the file only.
    const std::optional<catalog::Item> item = m_engine->itemByPath(row->path);
    m_preview->showResult(*row, item);
    m_ask->setTarget(*row, m_preview->currentTimeMs());
    prepareQuestion();
    emit previewShown(row->path);
}

void PreviewController::prepareQuestion()
{
    // A photo shown while the question model is in use: its vision tower runs now, while the
    // person types (videos are asked about at a moment chosen later).
    if (const std::optional<ResultRow> &target = m_ask->target(); target && !target->isVideo())
        m_controller->prepareQuestionAbout(target->path);
}

void PreviewController::onAskRequested()
{
    const std::optional<ResultRow> &target = m_ask->target();
    const QString question = m_ask->question();
    if (!target || question.isEmpty())
        return;
    AskTarget t;
    t.path = target->path;
    t.type = target->type;
    if (target->isVideo() && m_ask->scope() == AskPanel::Scope::Moment) {
        const std::int64_t ms = m_ask->momentMs() >= 0 ? m_ask->momentMs() : target->timeMs;
        // The middle of the moment: the frame its vector was made from.
        std::int64_t end = target->endMs;
        for (const MomentRow &m : target->moments)
            if (m.startMs == ms)
                end = m.endMs;
        t.atSec = double(ms + std::max<std::int64_t>(0, end - ms) / 2) / 1000.0;
    }
    engine::AskParams params;
    params.answers = m_ask->candidates();
    QString error;
    if (m_controller->ask(t, question, params, &error) < 0) {
        m_ask->showError(error);
        return;
    }
    m_ask->setBusy(true);
}

} // namespace unisearch::ui
