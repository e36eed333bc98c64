#pragma once
// The ask panel: a question about the selected item (a photo, a whole video or the
// moment shown), an optional list of candidate answers (one per line: the model ranks
// them; none: it generates an answer), and the answer with its confidence and the next
// best answers. The work runs elsewhere (EngineController); Cancel gives the panel back
// at once and the late answer is ignored.
#include "engine/inference.h"
#include "ui/resultsmodel.h"

#include <QWidget>

#include <optional>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;

namespace unisearch::ui {

class AskPanel : public QWidget
{
    Q_OBJECT
public:
    enum class Scope { Item, WholeVideo, Moment };

    explicit AskPanel(QWidget *parent = nullptr);

    // The item asked about; nullopt: nothing selected. momentMs: the moment the preview shows.
    void setTarget(const std::optional<ResultRow> &row, std::int64_t momentMs = -1);
    void setMoment(std::int64_t momentMs);
    Scope scope() const;
    std::int64_t momentMs() const { return m_momentMs; }
    const std::optional<ResultRow> &target() const { return m_target; }

    QString question() const;
    QStringList candidates() const;  // empty: generate

    void setBusy(bool busy);
    void showAnswer(const engine::AskResult &result);
    void showError(const QString &error);
    void showCancelled();

    // The confidence shown for the best answer, in [0, 1]: for ranked candidates the
    // softmax of their scores over the scored ones; for a generated answer the
    // geometric-mean token probability (exp of its length-normalised log-likelihood).
    static QList<double> confidences(const engine::AskResult &result);

signals:
    void askRequested();
    // The question field was first typed into or focused: its model can load now.
    void firstUsed();
    void cancelRequested();

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void updateEnabled();
    void noteUse();

    QLabel *m_targetLabel = nullptr;
    QComboBox *m_scope = nullptr;
    QLineEdit *m_question = nullptr;
    QCheckBox *m_useCandidates = nullptr;
    QPlainTextEdit *m_candidates = nullptr;
    QPushButton *m_ask = nullptr;
    QPushButton *m_cancel = nullptr;
    QProgressBar *m_busy = nullptr;
    QLabel *m_answer = nullptr;
    QListWidget *m_others = nullptr;
    std::optional<ResultRow> m_target;
    std::int64_t m_momentMs = -1;
    bool m_isBusy = false;
    bool m_used = false;
};

} // namespace unisearch::ui
