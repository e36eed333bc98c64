#include "ui/trainwizard/trainresultspage.h"

#include "engine/engine.h"
#include "engine/models.h"
#include "ui/thumbnailprovider.h"
#include "ui/trainwizard/trainexamplespage.h"
#include "ui/trainwizard/trainrunpage.h"
#include "ui/trainwizard/workerengine.h"

#include <QCheckBox>
#include <QDir>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QJsonObject>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QThreadPool>
#include <QVBoxLayout>

#include <optional>

namespace unisearch::ui {

namespace {

QString metricsText(const QJsonObject &m)
{
    if (m.isEmpty())
        return QObject::tr("no held-out examples");
    if (m.contains(QStringLiteral("accuracy")))
        return QObject::tr("accuracy %1").arg(m.value(QStringLiteral("accuracy")).toDouble(), 0, 'f', 2);
    return QObject::tr("recall@1 %1, @5 %2, @10 %3")
        .arg(m.value(QStringLiteral("recall_at_1")).toDouble(), 0, 'f', 2)
        .arg(m.value(QStringLiteral("recall_at_5")).toDouble(), 0, 'f', 2)
        .arg(m.value(QStringLiteral("recall_at_10")).toDouble(), 0, 'f', 2);
}

// The engine's advice on a run (few examples, a score that fell), a line each.
QString adviceText(const QStringList &advice)
{
    QString text;
    for (const QString &a : advice)
        text += QLatin1Char('\n') + a;
    return text;
}

} // namespace

TrainResultsPage::TrainResultsPage(const engine::Engine *engine, const TrainExamplesPage *examples,
                                   const TrainRunPage *run, ThumbnailProvider *thumbnails, QThreadPool *pool,
                                   QWidget *parent)
    : QWizardPage(parent)
    , m_engine(engine)
    , m_examples(examples)
    , m_run(run)
    , m_thumbnails(thumbnails)
    , m_pool(pool)
{
    setTitle(tr("Results"));
    m_results = new QLabel;
    m_results->setObjectName(QStringLiteral("resultsLabel"));
    m_results->setWordWrap(true);
    m_results->setTextFormat(Qt::PlainText);
    m_activate = new QCheckBox(tr("Use it from now on"));
    m_activate->setObjectName(QStringLiteral("activatePack"));
    m_activate->setChecked(true);
    // The user's own queries, top 5 before and after side by side (search packs).
    m_sampleQueries = new QPlainTextEdit;
    m_sampleQueries->setObjectName(QStringLiteral("sampleQueries"));
    m_sampleQueries->setPlaceholderText(tr("A few searches to try, one per line (e.g. the name you taught)"));
    m_sampleQueries->setMaximumHeight(70);
    m_compare = new QPushButton(tr("Compare Before and After"));
    m_compare->setObjectName(QStringLiteral("compareQueries"));
    connect(m_compare, &QPushButton::clicked, this, &TrainResultsPage::startCompare);
    m_compareNote = new QLabel;
    m_compareNote->setObjectName(QStringLiteral("compareNote"));
    m_compareNote->setWordWrap(true);
    m_compareArea = new QWidget;
    m_compareGrid = new QGridLayout(m_compareArea);
    auto *scroll = new QScrollArea;
    scroll->setObjectName(QStringLiteral("comparison"));
    scroll->setWidgetResizable(true);
    scroll->setWidget(m_compareArea);
    auto *queryRow = new QHBoxLayout;
    queryRow->addWidget(m_sampleQueries, 1);
    queryRow->addWidget(m_compare, 0, Qt::AlignTop);
    auto *resLayout = new QVBoxLayout(this);
    resLayout->addWidget(m_results);
    resLayout->addLayout(queryRow);
    resLayout->addWidget(m_compareNote);
    resLayout->addWidget(scroll, 1);
    resLayout->addWidget(m_activate);
    if (m_thumbnails)
        connect(m_thumbnails, &ThumbnailProvider::thumbnailReady, this, &TrainResultsPage::onThumbnail);
}

void TrainResultsPage::initializePage()
{
    const bool search = m_run->params().task == engine::retrievalTask && m_run->succeeded();
    m_sampleQueries->setEnabled(search);
    m_compare->setEnabled(search);
    if (!search) {
        m_compareNote->setText(tr("Sample queries compare searches; this pack answers questions."));
        return;
    }
    if (m_sampleQueries->toPlainText().trimmed().isEmpty())
        m_sampleQueries->setPlainText(m_examples->taughtNames().join(QLatin1Char('\n')));
}

void TrainResultsPage::showOutcome()
{
    const engine::TrainingResult &outcome = m_run->result();
    m_results->setText(tr("Saved as “%1”.\nOn %2 held-out examples:\n  before: %3\n  after:  %4")
                           .arg(outcome.packName)
                           .arg(outcome.validationExamples)
                           .arg(metricsText(outcome.before), metricsText(outcome.after))
                       + adviceText(outcome.advice()));
    const bool needsReembed = m_run->params().task == engine::retrievalTask && m_run->params().mode == QLatin1String("full");
    // A pack that did worse on the held-out examples is kept but not put to use unasked.
    m_activate->setChecked(!outcome.heldOutScoreFell());
    m_activate->setEnabled(true);
    m_activate->setText(needsReembed ? tr("Use it from now on (the library is re-embedded with it in the "
                                          "background; search switches to it when that is done)")
                                     : tr("Use it from now on"));
}

bool TrainResultsPage::useFromNowOn() const
{
    return m_activate->isChecked() && m_activate->isEnabled();
}

void TrainResultsPage::addNote(const QString &text)
{
    m_results->setText(m_results->text() + QLatin1Char('\n') + text);
}

void TrainResultsPage::clearComparison()
{
    m_comparison.clear();
    m_comparisonScope.clear();
}

void TrainResultsPage::onThumbnail(const QString &key)
{
    for (const QPointer<QLabel> &label : m_thumbLabels.values(key)) {
        if (!label)
            continue;
        const QImage img = m_thumbnails->request(label->property("path").toString(), catalog::ItemType::Image, 0,
                                                 QSize(120, 120));
        if (!img.isNull())
            label->setPixmap(QPixmap::fromImage(img).scaled(label->size(), Qt::KeepAspectRatio,
                                                            Qt::SmoothTransformation));
    }
    m_thumbLabels.remove(key);
}

void TrainResultsPage::startCompare()
{
    if (!m_engine || m_comparing || m_run->result().packPath.isEmpty())
        return;
    QStringList queries;
    for (const QString &line : m_sampleQueries->toPlainText().split(QLatin1Char('\n')))
        if (!line.trimmed().isEmpty())
            queries << line.trimmed();
    if (queries.isEmpty()) {
        m_compareNote->setText(tr("Type a search or two, one per line."));
        return;
    }
    queries = queries.mid(0, 10);
    QStringList examplePaths;
    for (const auto &e : m_run->params().examples)
        if (!examplePaths.contains(e.path))
            examplePaths << e.path;
    m_comparing = true;
    m_compare->setEnabled(false);
    m_compareNote->setText(tr("Searching with the model before and after…"));
    const QString dataDir = m_engine->dataDir();
    const QString device = m_run->params().device;
    const QString pack = m_run->result().packPath;
    QPointer<TrainResultsPage> self(this);
    m_pool->start([self, dataDir, device, pack, queries, examplePaths] {
        engine::Engine worker;
        QString error;
        std::optional<engine::QueryComparisonResult> result;
        if (openWorkerEngine(worker, dataDir, device, &error))
            result = engine::compareQueries(worker, pack, queries, examplePaths, 5, device, &error);
        QMetaObject::invokeMethod(
            self.data(),
            [self, result, error] {
                if (!self)
                    return;
                self->m_comparing = false;
                self->m_compare->setEnabled(true);
                self->m_comparison = result ? result->queries : QList<engine::QueryComparison>{};
                self->m_comparisonScope = result ? result->scope : QString();
                self->showComparison(result ? QString() : error);
            },
            Qt::QueuedConnection);
    });
}

QWidget *TrainResultsPage::thumbnailLabel(const engine::PreviewHit &hit)
{
    auto *label = new QLabel;
    label->setFixedSize(60, 60);
    label->setAlignment(Qt::AlignCenter);
    label->setFrameShape(QFrame::StyledPanel);
    label->setProperty("path", hit.path);
    label->setToolTip(tr("%1\nsimilarity %2").arg(QDir::toNativeSeparators(hit.path)).arg(hit.score, 0, 'f', 3));
    const QSize size(120, 120);
    const QImage img = m_thumbnails ? m_thumbnails->request(hit.path, catalog::ItemType::Image, 0, size) : QImage();
    if (!img.isNull())
        label->setPixmap(QPixmap::fromImage(img).scaled(label->size(), Qt::KeepAspectRatio, Qt::SmoothTransformation));
    else if (m_thumbnails)
        m_thumbLabels.insert(ThumbnailProvider::key(hit.path, 0, size), label);
    if (img.isNull())
        label->setText(QFileInfo(hit.path).fileName());
    return label;
}

void TrainResultsPage::showComparison(const QString &error)
{
    while (QLayoutItem *item = m_compareGrid->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    m_thumbLabels.clear();
    if (!error.isEmpty()) {
        m_compareNote->setText(error);
        return;
    }
    m_compareNote->setText(m_comparisonScope == QLatin1String("library")
                               ? tr("The top 5 of your library for each search, before and after.")
                               : tr("This pack changes how photos are seen, so the library’s stored vectors do not "
                                    "apply: both columns rank only the training examples’ photos, embedded with "
                                    "each model."));
    auto header = [](const QString &text) {
        auto *l = new QLabel(text);
        QFont f = l->font();
        f.setBold(true);
        l->setFont(f);
        return l;
    };
    m_compareGrid->addWidget(header(tr("Search")), 0, 0);
    m_compareGrid->addWidget(header(tr("Before")), 0, 1);
    m_compareGrid->addWidget(header(tr("After")), 0, 2);
    int row = 1;
    for (const engine::QueryComparison &c : std::as_const(m_comparison)) {
        m_compareGrid->addWidget(new QLabel(c.query), row, 0, Qt::AlignTop);
        for (int side = 0; side < 2; ++side) {
            auto *strip = new QWidget;
            auto *h = new QHBoxLayout(strip);
            h->setContentsMargins(0, 0, 0, 0);
            for (const engine::PreviewHit &hit : side == 0 ? c.before : c.after)
                h->addWidget(thumbnailLabel(hit));
            h->addStretch(1);
            m_compareGrid->addWidget(strip, row, 1 + side);
        }
        ++row;
    }
    m_compareGrid->setRowStretch(row, 1);
}

} // namespace unisearch::ui
