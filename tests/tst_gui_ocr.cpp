// Text in pictures in the window (offscreen platform), with the fixture retrieval model and a
// small library the test makes: a photo of rendered text ("INVOICE 4471", DejaVu Sans, 48 px
// black on white, named scan.png so that its name does not match) and two photos without text.
// - File ▸ Text Languages lists the installed languages (English among them) and keeps one checked;
// - a result's matched text is in the model (MatchedTextRole, MatchedWordsRole), painted by the
//   delegate with the query's words on the highlight colour (list and grid), and shown in the
//   preview (from a hand-set SearchHit, so without OCR);
// - the runs the window starts follow the settings (withTextSettings);
// - File ▸ Read Text in Pictures off: indexing reads no text, so "invoice 4471" has no keyword
//   hit; on again and rescanned: the photo's result carries the OCR snippet, highlighted.
#include "engine/engine.h"
#include "engine/indexjob.h"
#include "engine/search.h"
#include "media/filepath.h"
#include "support/fixtures.h"
#include "support/guiwindow.h"
#include "support/images.h"
#include "ui/enginecontroller.h"
#include "ui/mainwindow.h"
#include "ui/previewpane.h"
#include "ui/resultdelegate.h"
#include "ui/resultsmodel.h"
#include "util/datadir.h"
#include "util/settings.h"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFontDatabase>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPainter>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>

using namespace unisearch;

namespace {

constexpr int kTimeoutMs = 120000;
const QRgb kHighlight = qRgb(255, 0, 255);  // a colour nothing else in a cell has

// How many pixels of the highlight colour the delegate paints for row in layout.
int highlightedPixels(const ui::ResultsModel &model, int row, ui::ResultDelegate::Layout layout)
{
    ui::ResultDelegate delegate;
    delegate.setLayout(layout);
    delegate.setThumbnailSize(160);
    QStyleOptionViewItem option;
    option.font = QApplication::font();
    option.fontMetrics = QFontMetrics(option.font);
    option.palette = QApplication::palette();
    option.palette.setColor(QPalette::Highlight, QColor(kHighlight));
    option.palette.setColor(QPalette::HighlightedText, Qt::white);
    option.state = QStyle::State_Enabled;
    const QModelIndex index = model.index(row);
    // A grid cell is exactly as wide as its size hint (its square thumbnail is as wide as the
    // cell); a list row gets a wide view's width.
    const QSize hint = delegate.sizeHint(option, index);
    option.rect = QRect(QPoint(0, 0), layout == ui::ResultDelegate::Layout::Grid ? hint : hint.expandedTo(QSize(480, 0)));
    QImage image(option.rect.size(), QImage::Format_RGB32);
    image.fill(Qt::white);
    {
        QPainter p(&image);
        delegate.paint(&p, option, index);
    }
    int n = 0;
    for (int y = 0; y < image.height(); ++y)
        for (int x = 0; x < image.width(); ++x)
            n += image.pixel(x, y) == kHighlight;
    return n;
}

} // namespace

class TestGuiOcr : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();

    void languagesMenuListsEnglish();
    void matchedTextIsHighlighted();
    void runsFollowTheSettings();
    void switchOffReadsNoText();
    void switchOnShowsTheSnippet();

private:
    std::unique_ptr<ui::MainWindow> openWindow() { return test::openWindow(m_engine.get()); }
    void indexThroughWindow(ui::MainWindow &w, bool rescan);

    QTemporaryDir m_tmp;
    QString m_data;
    QString m_photos;
    QString m_scan;  // the photo of rendered text
    std::unique_ptr<engine::Engine> m_engine;
};

void TestGuiOcr::initTestCase()
{
    test::initGuiTest();
    QVERIFY(m_tmp.isValid());
    m_data = m_tmp.filePath(QStringLiteral("data"));
    m_photos = media::canonicalPath(m_tmp.path()) + QStringLiteral("/photos");
    QVERIFY(QDir().mkpath(m_photos));

    const int font = QFontDatabase::addApplicationFont(QStringLiteral("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"));
    QVERIFY2(font >= 0, "DejaVu Sans (fonts-dejavu-core) is needed to render the test's text");
    QImage text(900, 200, QImage::Format_RGB32);
    text.fill(Qt::white);
    {
        QPainter p(&text);
        QFont f(QFontDatabase::applicationFontFamilies(font).value(0));
        f.setPixelSize(48);
        p.setFont(f);
        p.setPen(Qt::black);
        p.drawText(text.rect(), Qt::AlignCenter, QStringLiteral("INVOICE 4471"));
    }
    m_scan = m_photos + QStringLiteral("/scan.png");
    QVERIFY(text.save(m_scan));
    for (int i = 0; i < 2; ++i)
        QVERIFY(test::randomImage(64, 48, 3000 + quint32(i), false).save(QStringLiteral("%1/decoy%2.png").arg(m_photos).arg(i)));

    m_engine = std::make_unique<engine::Engine>();
    QString error;
    QVERIFY2(test::openEngineWithFixtureModel(*m_engine, m_data, &error), qPrintable(error));
    QVERIFY(m_engine->addFolder(m_photos, &error));
}

void TestGuiOcr::init()
{
    QFile::remove(Settings().fileName());  // every test starts with default settings
}

void TestGuiOcr::indexThroughWindow(ui::MainWindow &w, bool rescan)
{
    QSignalSpy finished(w.controller(), &ui::EngineController::indexFinished);
    QSignalSpy failed(w.controller(), &ui::EngineController::indexFailed);
    if (rescan)
        w.rescanLibrary();
    else
        QVERIFY(w.controller()->startIndexing());
    QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty() || !failed.isEmpty(), kTimeoutMs);
    QVERIFY2(failed.isEmpty(), qPrintable(failed.value(0).value(0).toString()));
    const auto result = finished.first().at(0).value<engine::IndexResult>();
    QVERIFY2(result.ok, qPrintable(result.error));
}

void TestGuiOcr::languagesMenuListsEnglish()
{
    QVERIFY(engine::Engine::installedTextLanguages().contains(QStringLiteral("eng")));
    auto w = openWindow();
    QVERIFY(w);
    auto *read = w->findChild<QAction *>(QStringLiteral("actionReadText"));
    QVERIFY(read);
    QVERIFY(read->isCheckable());
    QVERIFY(read->isChecked());  // on by default
    auto *languages = w->findChild<QMenu *>(QStringLiteral("menuTextLanguages"));
    QVERIFY(languages);
    QVERIFY(languages->isEnabled());
    QAction *english = nullptr;
    for (QAction *a : languages->actions())
        if (a->data().toString() == QLatin1String("eng"))
            english = a;
    QVERIFY2(english, "English is not in File ▸ Text Languages");
    QVERIFY(english->text().contains(QLatin1String("eng")));
    QVERIFY(english->isChecked());
    // The only language in use cannot be unchecked: reading text needs one.
    QVERIFY(!english->isEnabled());
    // Switching reading off greys the languages out and is remembered.
    read->setChecked(false);
    QVERIFY(!languages->isEnabled());
    QCOMPARE(Settings().value(settings::ocr), false);
    QVERIFY(w->close());
}

void TestGuiOcr::matchedTextIsHighlighted()
{
    engine::SearchHit withText;
    withText.itemId = 1;
    withText.path = m_scan;
    withText.score = 0.5;
    withText.matchedText = QStringLiteral("… total due Invoice 4471 paid …");
    engine::SearchHit without = withText;
    without.itemId = 2;
    without.path = m_photos + QStringLiteral("/decoy0.png");
    without.matchedText.clear();
    ui::ResultsModel model;
    model.setResults({ui::ResultRow::fromHit(withText), ui::ResultRow::fromHit(without)});
    model.setMatchedWords(ui::queryWords(QStringLiteral("INVOICE 4471")));
    QCOMPARE(model.index(0).data(ui::ResultsModel::MatchedTextRole).toString(), withText.matchedText);
    QCOMPARE(model.index(0).data(ui::ResultsModel::MatchedWordsRole).toStringList(),
             QStringList({QStringLiteral("INVOICE"), QStringLiteral("4471")}));
    QVERIFY(model.index(1).data(ui::ResultsModel::MatchedTextRole).toString().isEmpty());

    // The words, whole and in any case, are what is highlighted.
    const ui::MarkedText marked = ui::markedText(withText.matchedText, model.row(0).matchedWords);
    QCOMPARE(marked.text, withText.matchedText);
    QCOMPARE(marked.marks.size(), 2);
    QCOMPARE(marked.text.mid(marked.marks[0].first, marked.marks[0].second), QStringLiteral("Invoice"));
    QCOMPARE(marked.text.mid(marked.marks[1].first, marked.marks[1].second), QStringLiteral("4471"));
    QVERIFY(ui::markedText(QStringLiteral("invoices 44710"), {QStringLiteral("invoice"), QStringLiteral("4471")}).marks.isEmpty());

    // The delegate paints the marks on the highlight colour, in both layouts; a result without
    // matched text shows none.
    for (const auto layout : {ui::ResultDelegate::Layout::List, ui::ResultDelegate::Layout::Grid}) {
        QVERIFY(highlightedPixels(model, 0, layout) > 20);
        QCOMPARE(highlightedPixels(model, 1, layout), 0);
    }

    // The preview's details show it, the words in bold; its row is hidden for a result without.
    ui::PreviewPane pane(nullptr);
    auto *label = pane.findChild<QLabel *>(QStringLiteral("previewMatchedText"));
    QVERIFY(label);
    pane.showResult(model.row(0), std::nullopt);
    QVERIFY(!label->isHidden());
    QVERIFY2(label->text().contains(QLatin1String(">Invoice</b>")), qPrintable(label->text()));
    QVERIFY2(label->text().contains(QLatin1String(">4471</b>")), qPrintable(label->text()));
    pane.showResult(model.row(1), std::nullopt);
    QVERIFY(label->isHidden());
}

void TestGuiOcr::runsFollowTheSettings()
{
    engine::IndexParams params;
    QVERIFY(ui::withTextSettings(params).ocr);
    QCOMPARE(ui::withTextSettings(params).ocrLanguages, QStringList{QStringLiteral("eng")});
    // A language that is not installed is left out (English remains).
    Settings().setValue(settings::ocrLanguages, QStringList{QStringLiteral("xx_notinstalled"), QStringLiteral("eng")});
    QCOMPARE(ui::withTextSettings(params).ocrLanguages, QStringList{QStringLiteral("eng")});
    Settings().setValue(settings::ocrLanguages, QStringList{QStringLiteral("xx_notinstalled")});
    QCOMPARE(ui::withTextSettings(params).ocrLanguages, QStringList{QStringLiteral("eng")});
    Settings().setValue(settings::ocr, false);
    QVERIFY(!ui::withTextSettings(params).ocr);
}

void TestGuiOcr::switchOffReadsNoText()
{
    auto w = openWindow();
    QVERIFY(w);
    auto *read = w->findChild<QAction *>(QStringLiteral("actionReadText"));
    QVERIFY(read);
    read->trigger();  // File ▸ Read Text in Pictures: off
    QVERIFY(!read->isChecked());
    indexThroughWindow(*w, false);
    auto *activity = w->findChild<QLabel *>(QStringLiteral("activityLabel"));
    QVERIFY(activity);
    QVERIFY2(!activity->text().contains(QLatin1String("Text in pictures")), qPrintable(activity->text()));
    QVERIFY(test::searchInWindow(*w, QStringLiteral("invoice 4471"), kTimeoutMs));
    ui::ResultsModel *model = w->resultsModel();
    QCOMPARE(model->rowCount(), 3);
    QVERIFY(test::rowOfPath(*model, m_scan) >= 0);
    for (int i = 0; i < model->rowCount(); ++i)
        QVERIFY2(model->row(i).matchedText.isEmpty(),
                 qPrintable(model->row(i).path + QStringLiteral(": ") + model->row(i).matchedText));
    QVERIFY(w->close());
}

void TestGuiOcr::switchOnShowsTheSnippet()
{
    auto w = openWindow();
    QVERIFY(w);
    auto *read = w->findChild<QAction *>(QStringLiteral("actionReadText"));
    QVERIFY(read);
    QVERIFY(read->isChecked());  // the default again
    QSignalSpy progress(w->controller(), &ui::EngineController::indexProgress);
    indexThroughWindow(*w, true);  // File ▸ Rescan Library: reads the text the first run skipped
    // The library panel showed the OCR pass and says what it read (the three photos, one with text).
    const bool ocrShown = std::any_of(progress.cbegin(), progress.cend(), [](const QList<QVariant> &args) {
        return args.at(0).value<engine::IndexProgress>().stage == engine::IndexProgress::Stage::Ocr;
    });
    QVERIFY(ocrShown);
    auto *activity = w->findChild<QLabel *>(QStringLiteral("activityLabel"));
    QVERIFY(activity);
    QVERIFY2(activity->text().contains(QLatin1String("Text in pictures: 3 read, 1 with text.")), qPrintable(activity->text()));
    QVERIFY(test::searchInWindow(*w, QStringLiteral("invoice 4471"), kTimeoutMs));
    ui::ResultsModel *model = w->resultsModel();
    const int row = test::rowOfPath(*model, m_scan);
    QVERIFY(row >= 0);
    const QModelIndex index = model->index(row);
    const QString matched = index.data(ui::ResultsModel::MatchedTextRole).toString();
    QVERIFY2(matched.contains(QLatin1String("4471")), qPrintable(matched));
    QVERIFY2(matched.contains(QLatin1String("invoice"), Qt::CaseInsensitive), qPrintable(matched));
    const ui::MarkedText marked = ui::markedText(matched, index.data(ui::ResultsModel::MatchedWordsRole).toStringList());
    QCOMPARE(marked.marks.size(), 2);
    for (const auto layout : {ui::ResultDelegate::Layout::List, ui::ResultDelegate::Layout::Grid})
        QVERIFY(highlightedPixels(*model, row, layout) > 20);
    // The photos without text got no keyword hit.
    for (int i = 0; i < model->rowCount(); ++i)
        if (i != row)
            QVERIFY2(model->row(i).matchedText.isEmpty(), qPrintable(model->row(i).path));
    QVERIFY(w->close());
}

QTEST_MAIN(TestGuiOcr)
#include "tst_gui_ocr.moc"
