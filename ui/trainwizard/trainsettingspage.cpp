#include "ui/trainwizard/trainsettingspage.h"

#include "engine/computesupport.h"
#include "engine/engine.h"
#include "ui/durationtext.h"
#include "ui/trainwizard/trainexamplespage.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QLabel>
#include <QSpinBox>
#include <QStandardItemModel>

#include <algorithm>
#include <cmath>

namespace unisearch::ui {

TrainSettingsPage::TrainSettingsPage(const engine::Engine *mainEngine, const TrainExamplesPage *examples, QWidget *parent)
    : QWizardPage(parent)
    , m_examples(examples)
{
    setTitle(tr("Settings"));
    m_mode = new QComboBox;
    m_mode->setObjectName(QStringLiteral("mode"));
    m_mode->addItem(tr("Quick: text side only, no re-indexing"), QStringLiteral("query"));
    m_mode->addItem(tr("Full: all adapters (slower)"), QStringLiteral("full"));
    m_epochs = new QSpinBox;
    m_epochs->setObjectName(QStringLiteral("epochs"));
    m_epochs->setRange(1, 200);
    m_epochs->setValue(20);
    m_estimate = new QLabel;
    m_estimate->setObjectName(QStringLiteral("estimate"));
    m_estimate->setWordWrap(true);
    // Device: the CPU, and the GPU when this machine and build have one (else why not).
    const engine::ComputeSupport support = engine::computeSupport();
    m_device = new QComboBox;
    m_device->setObjectName(QStringLiteral("device"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    m_device->addItem(tr("GPU (CUDA)"), QStringLiteral("cuda"));
    if (auto *items = qobject_cast<QStandardItemModel *>(m_device->model()); items && !support.cuda) {
        items->item(1)->setEnabled(false);
        items->item(1)->setToolTip(support.cudaUnavailableReason);
        m_device->setToolTip(tr("GPU: %1").arg(support.cudaUnavailableReason));
    }
    m_device->setCurrentIndex(support.cuda && mainEngine && mainEngine->device() == QLatin1String("cuda") ? 1 : 0);
    m_bfloat16 = new QCheckBox(tr("bfloat16 (faster on GPUs and some CPUs; see the tip)"));
    m_bfloat16->setObjectName(QStringLiteral("bfloat16"));
    m_bfloat16->setToolTip(support.cpuBfloat16 ? tr("This CPU computes in bfloat16 faster than in float32.")
                                               : tr("On this CPU bfloat16 is not faster than float32."));
    auto *form = new QFormLayout(this);
    form->addRow(tr("Mode:"), m_mode);
    form->addRow(tr("Passes over the examples:"), m_epochs);
    form->addRow(tr("Device:"), m_device);
    form->addRow(QString(), m_bfloat16);
    form->addRow(m_estimate);
    connect(m_epochs, &QSpinBox::valueChanged, this, &TrainSettingsPage::updateEstimate);
    connect(m_mode, &QComboBox::currentIndexChanged, this, &TrainSettingsPage::updateEstimate);
    connect(m_device, &QComboBox::currentIndexChanged, this, &TrainSettingsPage::updateEstimate);
    connect(m_bfloat16, &QCheckBox::toggled, this, &TrainSettingsPage::updateEstimate);
}

QString TrainSettingsPage::mode() const
{
    return m_mode->currentData().toString();
}

int TrainSettingsPage::epochs() const
{
    return m_epochs->value();
}

QString TrainSettingsPage::device() const
{
    return m_device->currentData().toString();
}

bool TrainSettingsPage::bfloat16() const
{
    return m_bfloat16->isChecked();
}

void TrainSettingsPage::initializePage()
{
    updateEstimate();
}

void TrainSettingsPage::updateEstimate()
{
    const int exampleCount = m_examples->exampleCount();
    const int train = exampleCount - (exampleCount >= 5 ? std::max(1, int(std::lround(exampleCount * 0.2))) : 0);
    const int steps = (std::max(1, train) + 7) / 8 * m_epochs->value();
    const bool full = m_mode->currentData().toString() == QLatin1String("full");
    const bool gpu = m_device->currentData().toString() == QLatin1String("cuda");
    // Measured on the full-size model at batch 8, 2 CPU cores (docs/performance.md: 0.31 s
    // query, 30 s full with activation checkpointing), rounded up; bfloat16 autocast: 0.9×
    // in full mode on a CPU with native bfloat16 (measured), else slower.
    double secondsPerStep = full ? 32.0 : 0.4;
    QString where = tr("on a laptop CPU");
    if (gpu) {
        secondsPerStep /= 10; // a guess: GPU training is not measured yet
        where = tr("on the GPU (a guess)");
    } else if (m_bfloat16->isChecked()) {
        secondsPerStep *= engine::computeSupport().cpuBfloat16 ? (full ? 0.9 : 1.0) : 2.0;
    }
    m_estimate->setText(tr("%1 training steps; %2 roughly %3 with the full-size model.")
                            .arg(steps)
                            .arg(where, durationText(std::max(60.0, std::ceil(steps * secondsPerStep / 60.0) * 60))));
}

} // namespace unisearch::ui
