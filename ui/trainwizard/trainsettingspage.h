#pragma once
// The wizard's settings page (trainwizard.h): mode (query or full), passes over the
// examples, device, bfloat16, and an estimate of the training time.
#include <QWizardPage>

class QCheckBox;
class QComboBox;
class QLabel;
class QSpinBox;

namespace unisearch::engine {
class Engine;
}

namespace unisearch::ui {

class TrainExamplesPage;

class TrainSettingsPage : public QWizardPage
{
    Q_OBJECT
public:
    // mainEngine may be null; examples gives the count the estimate is for.
    TrainSettingsPage(const engine::Engine *mainEngine, const TrainExamplesPage *examples, QWidget *parent = nullptr);

    QString mode() const;   // query | full
    int epochs() const;
    QString device() const; // cpu | cuda
    bool bfloat16() const;

    void initializePage() override;

private:
    void updateEstimate();

    const TrainExamplesPage *m_examples;
    QComboBox *m_mode = nullptr;
    QComboBox *m_device = nullptr;
    QCheckBox *m_bfloat16 = nullptr;
    QSpinBox *m_epochs = nullptr;
    QLabel *m_estimate = nullptr;
};

} // namespace unisearch::ui
