#include "media/ocr.h"

#include "util/error.h"

#include <QDir>
#include <QFileInfo>

#include <tesseract/baseapi.h>
#include <tesseract/resultiterator.h>

#include <memory>

namespace unisearch::media {

namespace {

// Where Tesseract looks for its languages: TESSDATA_PREFIX when set, else the folder the
// library was built for (asked from a throwaway instance without loading a language).
QString tessdataDir()
{
    const QByteArray prefix = qgetenv("TESSDATA_PREFIX");
    if (!prefix.isEmpty())
        return QFile::decodeName(prefix);
    for (const QString &dir : QDir(QStringLiteral("/usr/share/tesseract-ocr")).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        const QString candidate = QStringLiteral("/usr/share/tesseract-ocr/%1/tessdata").arg(dir);
        if (QFileInfo(candidate).isDir())
            return candidate;
    }
    return QStringLiteral("/usr/share/tessdata");
}

// Grey, and at most maxEdge pixels on its long side.
QImage prepared(const QImage &image, int maxEdge)
{
    QImage grey = image.convertToFormat(QImage::Format_Grayscale8);
    if (std::max(grey.width(), grey.height()) > maxEdge)
        grey = grey.scaled(maxEdge, maxEdge, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return grey;
}

} // namespace

QStringList installedOcrLanguages()
{
    QStringList languages;
    const QStringList files = QDir(tessdataDir()).entryList({QStringLiteral("*.traineddata")}, QDir::Files, QDir::Name);
    for (const QString &file : files) {
        const QString name = QFileInfo(file).completeBaseName();
        if (name != QLatin1String("osd"))
            languages << name;
    }
    return languages;
}

struct OcrEngine::Private {
    OcrOptions options;
    tesseract::TessBaseAPI api;
};

OcrEngine::OcrEngine(std::unique_ptr<Private> d) : d(std::move(d)) {}
OcrEngine::~OcrEngine()
{
    d->api.End();
}

const OcrOptions &OcrEngine::options() const
{
    return d->options;
}

std::unique_ptr<OcrEngine> OcrEngine::create(const OcrOptions &options, QString *error)
{
    const QStringList installed = installedOcrLanguages();
    QStringList languages;
    for (const QString &language : options.languages) {
        if (!installed.contains(language)) {
            util::fail(error, QStringLiteral("The OCR language \"%1\" is not installed (installed: %2); install its "
                                             "tesseract-ocr-* package or pick another in the settings.")
                                  .arg(language.left(40), installed.join(QStringLiteral(", "))));
            return nullptr;
        }
        languages << language;
    }
    if (languages.isEmpty())
        languages << QStringLiteral("eng");
    auto p = std::make_unique<Private>();
    p->options = options;
    const QByteArray dir = QFile::encodeName(tessdataDir());
    const QByteArray lang = languages.join(QLatin1Char('+')).toUtf8();
    if (p->api.Init(dir.constData(), lang.constData(), tesseract::OEM_LSTM_ONLY) != 0) {
        util::fail(error, QStringLiteral("Tesseract could not load the OCR languages %1 from %2.")
                              .arg(QString::fromUtf8(lang), QFile::decodeName(dir)));
        return nullptr;
    }
    p->api.SetPageSegMode(tesseract::PSM_AUTO);
    return std::unique_ptr<OcrEngine>(new OcrEngine(std::move(p)));
}

std::optional<QString> OcrEngine::read(const QImage &image, QString *error)
{
    if (image.isNull())
        return util::fail(error, QStringLiteral("There is no image to read text from."));
    if (std::min(image.width(), image.height()) < d->options.minEdge)
        return QString();
    const QImage grey = prepared(image, d->options.maxEdge);
    d->api.SetImage(grey.constBits(), grey.width(), grey.height(), 1, int(grey.bytesPerLine()));
    d->api.SetSourceResolution(300);  // images carry no trustworthy DPI; silences a warning
    if (d->api.Recognize(nullptr) != 0) {
        d->api.Clear();
        return util::fail(error, QStringLiteral("Tesseract could not read the image."));
    }
    // Words with their confidence, so that noise read in a photo without text is dropped.
    QStringList lines;
    QStringList line;
    std::unique_ptr<tesseract::ResultIterator> it(d->api.GetIterator());
    if (it) {
        do {
            if (it->Empty(tesseract::RIL_WORD))
                continue;
            if (it->IsAtBeginningOf(tesseract::RIL_TEXTLINE) && !line.isEmpty()) {
                lines << line.join(QLatin1Char(' '));
                line.clear();
            }
            std::unique_ptr<char[]> word(it->GetUTF8Text(tesseract::RIL_WORD));
            if (word && it->Confidence(tesseract::RIL_WORD) >= d->options.minConfidence)
                line << QString::fromUtf8(word.get()).simplified();
        } while (it->Next(tesseract::RIL_WORD));
    }
    if (!line.isEmpty())
        lines << line.join(QLatin1Char(' '));
    d->api.Clear();
    lines.removeAll(QString());
    return lines.join(QLatin1Char('\n')).left(d->options.maxChars);
}

} // namespace unisearch::media
