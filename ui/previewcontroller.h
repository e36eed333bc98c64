#pragma once
// The preview and the ask panel, as the window wires them: the preview over the ask panel
// (in a splitter the window remembers), following the current result; the item actions
// of the preview's buttons and of the results' menu (open, show in folder, copy path);
// questions about the previewed item through the EngineController's VQA worker.
#include "ui/resultsmodel.h"

#include <QObject>
#include <QString>

#include <cstdint>
#include <optional>

class QSplitter;
class QWidget;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class AskPanel;
class EngineController;
class PreviewPane;
class ThumbnailProvider;

class PreviewController : public QObject
{
    Q_OBJECT
public:
    // parent: the parent of the widgets (the layout moves them).
    PreviewController(engine::Engine *engine, EngineController *controller, ThumbnailProvider *thumbnails,
                      QWidget *parent);

    // The preview over the ask panel.
    QSplitter *splitter() const { return m_splitter; }

    // Shows the current result (nullopt: none), with what the catalog knows of it; a
    // question running about another item is cancelled.
    void showResult(const std::optional<ResultRow> &row);
    // The results were replaced: nothing is previewed or asked about.
    void clear();
    // Results ▸ Ask About It…: the question field takes the focus.
    void focusQuestion();

public slots:
    // The item actions, with what they did (or why not) as a message.
    void openItem(const QString &path, std::int64_t timeMs);
    void showInFolder(const QString &path);
    void copyPath(const QString &path);

signals:
    // For the status bar.
    void message(const QString &text, int timeoutMs);
    void findSimilarRequested(const QString &path);
    // The preview shows a result (its image may still be loading).
    void previewShown(const QString &path);

private:
    void onAskRequested();
    // Has the question model encode the shown photo ahead of a question (when it is in use).
    void prepareQuestion();

    engine::Engine *m_engine;
    EngineController *m_controller;
    PreviewPane *m_preview = nullptr;
    AskPanel *m_ask = nullptr;
    QSplitter *m_splitter = nullptr;
};

} // namespace unisearch::ui
