#pragma once
// The wizard's first page (trainwizard.h): what should it learn — names, descriptions or
// answers to questions. The choice sets the task and the kind of label picked later.
#include <QWizardPage>

class QRadioButton;

namespace unisearch::ui {

class TrainGoalPage : public QWizardPage
{
    Q_OBJECT
public:
    explicit TrainGoalPage(QWidget *parent = nullptr);

    QString task() const;       // retrieval | vqa
    QString pickedKind() const; // name | caption | qa
    void chooseNames();

signals:
    void goalChanged();

private:
    QRadioButton *m_names = nullptr, *m_captions = nullptr, *m_questions = nullptr;
};

} // namespace unisearch::ui
