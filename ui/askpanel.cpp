#include "ui/askpanel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace unisearch::ui {

AskPanel::AskPanel(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("askPanel"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);

    auto *top = new QHBoxLayout;
    m_targetLabel = new QLabel(this);
    m_targetLabel->setObjectName(QStringLiteral("askTarget"));
    top->addWidget(m_targetLabel, 1);
    m_scope = new QComboBox(this);
    m_scope->setObjectName(QStringLiteral("askScope"));
    top->addWidget(m_scope);
    layout->addLayout(top);

    auto *row = new QHBoxLayout;
    m_question = new QLineEdit(this);
    m_question->setObjectName(QStringLiteral("askQuestion"));
    m_question->setPlaceholderText(tr("Ask about it, e.g. “what breed is the dog?”"));
    m_question->setClearButtonEnabled(true);
    row->addWidget(m_question, 1);
    m_ask = new QPushButton(tr("Ask"), this);
    m_ask->setObjectName(QStringLiteral("askButton"));
    m_ask->setDefault(true);
    row->addWidget(m_ask);
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName(QStringLiteral("askCancel"));
    row->addWidget(m_cancel);
    layout->addLayout(row);

    m_useCandidates = new QCheckBox(tr("Pick from my answers (one per line)"), this);
    m_useCandidates->setObjectName(QStringLiteral("askUseCandidates"));
    layout->addWidget(m_useCandidates);
    m_candidates = new QPlainTextEdit(this);
    m_candidates->setObjectName(QStringLiteral("askCandidates"));
    m_candidates->setPlaceholderText(tr("yes\nno\na dog\na cat"));
    m_candidates->setMaximumHeight(90);
    m_candidates->setVisible(false);
    layout->addWidget(m_candidates);

    m_busy = new QProgressBar(this);
    m_busy->setObjectName(QStringLiteral("askBusy"));
    m_busy->setRange(0, 0);
    m_busy->setTextVisible(false);
    m_busy->setMaximumHeight(8);
    m_busy->hide();
    layout->addWidget(m_busy);

    m_answer = new QLabel(this);
    m_answer->setObjectName(QStringLiteral("askAnswer"));
    m_answer->setWordWrap(true);
    m_answer->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_answer);
    m_others = new QListWidget(this);
    m_others->setObjectName(QStringLiteral("askOtherAnswers"));
    m_others->setMaximumHeight(110);
    m_others->hide();
    layout->addWidget(m_others);
    layout->addStretch(1);

    connect(m_useCandidates, &QCheckBox::toggled, m_candidates, &QWidget::setVisible);
    connect(m_question, &QLineEdit::returnPressed, this, [this] {
        if (m_ask->isEnabled())
            emit askRequested();
    });
    connect(m_question, &QLineEdit::textChanged, this, &AskPanel::updateEnabled);
    connect(m_question, &QLineEdit::textEdited, this, &AskPanel::noteUse);
    m_question->installEventFilter(this);  // focus: the model loads while the question is typed
    connect(m_ask, &QPushButton::clicked, this, &AskPanel::askRequested);
    connect(m_cancel, &QPushButton::clicked, this, &AskPanel::cancelRequested);
    setTarget(std::nullopt);
}

void AskPanel::noteUse()
{
    if (m_used)
        return;
    m_used = true;
    emit firstUsed();
}

bool AskPanel::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_question && event->type() == QEvent::FocusIn)
        noteUse();
    return QWidget::eventFilter(watched, event);
}

void AskPanel::setTarget(const std::optional<ResultRow> &row, std::int64_t momentMs)
{
    const bool sameItem = row && m_target && row->path == m_target->path;
    m_target = row;
    m_momentMs = momentMs;
    m_scope->clear();
    // Another item: the answer shown was about the previous one.
    if (!sameItem && !m_isBusy) {
        m_answer->clear();
        m_others->clear();
        m_others->hide();
    }
    if (!row) {
        m_targetLabel->setText(tr("Select a result to ask about it."));
        m_scope->hide();
    } else if (row->isVideo()) {
        m_targetLabel->setText(tr("About %1:").arg(QFileInfo(row->path).fileName()));
        m_scope->addItem(tr("This moment"), int(Scope::Moment));
        m_scope->addItem(tr("The whole video"), int(Scope::WholeVideo));
        m_scope->show();
    } else {
        m_targetLabel->setText(tr("About the photo %1:").arg(QFileInfo(row->path).fileName()));
        m_scope->addItem(tr("The photo"), int(Scope::Item));
        m_scope->hide();
    }
    updateEnabled();
}

void AskPanel::setMoment(std::int64_t momentMs)
{
    m_momentMs = momentMs;
}

AskPanel::Scope AskPanel::scope() const
{
    return m_scope->count() ? Scope(m_scope->currentData().toInt()) : Scope::Item;
}

QString AskPanel::question() const
{
    return m_question->text().trimmed();
}

QStringList AskPanel::candidates() const
{
    QStringList out;
    if (!m_useCandidates->isChecked())
        return out;
    for (const QString &line : m_candidates->toPlainText().split(QLatin1Char('\n'))) {
        const QString a = line.trimmed();
        if (!a.isEmpty() && !out.contains(a))
            out.append(a);
    }
    return out;
}

void AskPanel::updateEnabled()
{
    m_ask->setEnabled(!m_isBusy && m_target && !question().isEmpty());
    m_cancel->setEnabled(m_isBusy);
}

void AskPanel::setBusy(bool busy)
{
    m_isBusy = busy;
    m_busy->setVisible(busy);
    if (busy) {
        m_answer->setText(tr("Thinking…"));
        m_others->clear();
        m_others->hide();
    }
    updateEnabled();
}

QList<double> AskPanel::confidences(const engine::AskResult &result)
{
    QList<double> out;
    if (!result.ranked.isEmpty()) {
        double best = -INFINITY;
        for (const engine::RankedAnswer &a : result.ranked)
            best = std::max(best, a.score);
        double sum = 0;
        for (const engine::RankedAnswer &a : result.ranked)
            sum += std::exp(a.score - best);
        for (const engine::RankedAnswer &a : result.ranked)
            out.append(std::exp(a.score - best) / sum);
    } else {
        for (const engine::GeneratedAnswer &g : result.generated)
            out.append(std::exp(std::min(0.0, g.score)));
    }
    return out;
}

void AskPanel::showAnswer(const engine::AskResult &result)
{
    setBusy(false);
    const QList<double> conf = confidences(result);
    const QString answer = result.answer.isEmpty() ? tr("(no answer)") : result.answer;
    m_answer->setText(conf.isEmpty() ? tr("<b>%1</b>").arg(answer.toHtmlEscaped())
                                     : tr("<b>%1</b> &nbsp;(confidence %2%)")
                                           .arg(answer.toHtmlEscaped())
                                           .arg(qRound(conf.first() * 100)));
    m_others->clear();
    QStringList rest;
    if (!result.ranked.isEmpty()) {
        for (int i = 1; i < result.ranked.size() && i < 6; ++i)
            m_others->addItem(tr("%1 (%2%)").arg(result.ranked.at(i).answer).arg(qRound(conf.value(i) * 100)));
    } else {
        for (int i = 1; i < result.generated.size() && i < 6; ++i)
            m_others->addItem(tr("%1 (%2%)").arg(result.generated.at(i).answer).arg(qRound(conf.value(i) * 100)));
    }
    m_others->setVisible(m_others->count() > 0);
}

void AskPanel::showError(const QString &error)
{
    setBusy(false);
    m_answer->setText(error.toHtmlEscaped());
}

void AskPanel::showCancelled()
{
    setBusy(false);
    m_answer->setText(tr("Cancelled."));
}

} // namespace unisearch::ui
