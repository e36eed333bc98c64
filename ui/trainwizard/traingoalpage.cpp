#include "ui/trainwizard/traingoalpage.h"

#include "engine/models.h"

#include <QRadioButton>
#include <QVBoxLayout>

namespace unisearch::ui {

TrainGoalPage::TrainGoalPage(QWidget *parent)
    : QWizardPage(parent)
{
    setTitle(tr("What should it learn?"));
    m_names = new QRadioButton(tr("Names: who or what is in my photos (“Shrek”, “grandma’s kitchen”)"));
    m_names->setObjectName(QStringLiteral("goalNames"));
    m_captions = new QRadioButton(tr("Descriptions: my own way of describing photos"));
    m_captions->setObjectName(QStringLiteral("goalCaptions"));
    m_questions = new QRadioButton(tr("Questions: answers to my questions about photos"));
    m_questions->setObjectName(QStringLiteral("goalQuestions"));
    m_names->setChecked(true);
    auto *layout = new QVBoxLayout(this);
    for (auto *b : {m_names, m_captions, m_questions}) {
        layout->addWidget(b);
        connect(b, &QRadioButton::toggled, this, &TrainGoalPage::goalChanged);
    }
}

QString TrainGoalPage::task() const
{
    return m_questions->isChecked() ? engine::vqaTask : engine::retrievalTask;
}

QString TrainGoalPage::pickedKind() const
{
    return m_questions->isChecked() ? QStringLiteral("qa")
        : m_captions->isChecked()   ? QStringLiteral("caption")
                                    : QStringLiteral("name");
}

void TrainGoalPage::chooseNames()
{
    m_names->setChecked(true);
}

} // namespace unisearch::ui
