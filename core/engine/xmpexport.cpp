#include "engine/xmpexport.h"

#include "catalog/catalog.h"
#include "media/filepath.h"
#include "util/error.h"

#include <QFile>
#include <QFileInfo>
#include <QSaveFile>

#include <exiv2/exiv2.hpp>

#include <map>
#include <string>

namespace unisearch::engine {

namespace {

// The properties a name goes into, with the array type each has when it is created.
struct KeywordProperty {
    const char *key;
    Exiv2::TypeId type;
};
constexpr KeywordProperty keywordProperties[] = {
    {"Xmp.dc.subject", Exiv2::xmpBag},
    {"Xmp.lr.hierarchicalSubject", Exiv2::xmpBag},
    {"Xmp.digiKam.TagsList", Exiv2::xmpSeq},
};

// The strings of an array property; empty when it is absent.
QStringList arrayValues(const Exiv2::XmpData &xmp, const char *key)
{
    QStringList out;
    const auto it = xmp.findKey(Exiv2::XmpKey(key));
    if (it == xmp.end())
        return out;
    for (long i = 0; i < it->count(); ++i)
        out << QString::fromStdString(it->toString(i));
    return out;
}

// Appends the names a property lacks, keeping its type (bag or seq) when it exists.
void appendToArray(Exiv2::XmpData &xmp, const KeywordProperty &property, const QStringList &names)
{
    const QStringList existing = arrayValues(xmp, property.key);
    Exiv2::TypeId type = property.type;
    if (const auto it = xmp.findKey(Exiv2::XmpKey(property.key)); it != xmp.end()) {
        if (it->typeId() == Exiv2::xmpBag || it->typeId() == Exiv2::xmpSeq)
            type = it->typeId();
        xmp.erase(it);
    }
    Exiv2::XmpArrayValue value(type);
    for (const QString &s : existing)
        value.read(s.toStdString());
    for (const QString &name : names)
        if (!existing.contains(name))
            value.read(name.toStdString());
    xmp.add(Exiv2::XmpKey(property.key), &value);
}

// The sidecar's bytes, bounded; nullopt with *error when it cannot be read.
std::optional<QByteArray> readBounded(const QString &path, std::int64_t maxBytes, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return util::fail(error, QStringLiteral("Cannot read %1: %2").arg(media::displayPath(path), file.errorString()));
    if (file.size() > maxBytes)
        return util::fail(error, QStringLiteral("%1 is larger than %2 MiB; an XMP sidecar is a few KiB, so it is "
                                                "left alone")
                                     .arg(media::displayPath(path))
                                     .arg(maxBytes / (1024 * 1024)));
    return file.readAll();
}

// The sidecar as an Exiv2 XMP image in memory (a new empty one when bytes is empty).
Exiv2::Image::AutoPtr sidecarImage(const QByteArray &bytes, const QString &path)
{
    if (bytes.isEmpty())
        return Exiv2::ImageFactory::create(Exiv2::ImageType::xmp);
    Exiv2::Image::AutoPtr image =
        Exiv2::ImageFactory::open(reinterpret_cast<const Exiv2::byte *>(bytes.constData()), long(bytes.size()));
    if (!image.get() || image->imageType() != Exiv2::ImageType::xmp)
        throw std::runtime_error(QStringLiteral("%1 is not an XMP sidecar; it is left alone")
                                     .arg(media::displayPath(path))
                                     .toStdString());
    image->readMetadata();
    return image;
}

// The bytes Exiv2 wrote into an in-memory image.
QByteArray imageBytes(Exiv2::Image &image)
{
    Exiv2::BasicIo &io = image.io();
    if (io.open() != 0)
        throw std::runtime_error("cannot read the encoded XMP back");
    const Exiv2::DataBuf buf = io.read(io.size());
    io.close();
    return QByteArray(reinterpret_cast<const char *>(buf.pData_), int(buf.size_));
}

bool writeAtomically(const QString &path, const QByteArray &bytes, QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        if (error)
            *error = QStringLiteral("Cannot write %1: %2 (check that the folder is writable)")
                         .arg(media::displayPath(path), file.errorString());
        return false;
    }
    return true;
}

// Merges file.names into the sidecar; throws on an Exiv2 or file error.
void mergeSidecar(XmpFileResult &file, const XmpExportParams &params)
{
    file.sidecarExisted = QFileInfo::exists(file.sidecar);
    QByteArray bytes;
    if (file.sidecarExisted) {
        QString error;
        const auto read = readBounded(file.sidecar, params.maxSidecarBytes, &error);
        if (!read)
            throw std::runtime_error(error.toStdString());
        bytes = *read;
    }
    Exiv2::Image::AutoPtr image = sidecarImage(bytes, file.sidecar);
    Exiv2::XmpData xmp = image->xmpData();
    const QStringList subject = arrayValues(xmp, "Xmp.dc.subject");
    file.added.clear();
    for (const QString &name : file.names)
        if (!subject.contains(name))
            file.added << name;
    if (file.added.isEmpty()) {
        file.status = XmpFileStatus::Unchanged;
        return;
    }
    if (params.dryRun) {
        file.status = XmpFileStatus::WouldWrite;
        return;
    }
    // A reader that prefers a hierarchical list (darktable, digiKam) ignores dc:subject when
    // that list exists, so a new one starts with the keywords dc:subject already had.
    for (const KeywordProperty &p : keywordProperties) {
        const bool absent = xmp.findKey(Exiv2::XmpKey(p.key)) == xmp.end();
        appendToArray(xmp, p, absent ? subject + file.added : file.added);
    }
    image->setXmpData(xmp);
    image->writeMetadata();
    QString error;
    if (!writeAtomically(file.sidecar, imageBytes(*image), &error))
        throw std::runtime_error(error.toStdString());
    file.status = XmpFileStatus::Written;
}

} // namespace

QString toString(XmpFileStatus status)
{
    switch (status) {
    case XmpFileStatus::Written: return QStringLiteral("written");
    case XmpFileStatus::WouldWrite: return QStringLiteral("wouldWrite");
    case XmpFileStatus::Unchanged: return QStringLiteral("unchanged");
    case XmpFileStatus::Failed: return QStringLiteral("failed");
    }
    return {};
}

QList<XmpFileResult> xmpExportPlan(const catalog::Catalog &catalog)
{
    std::map<std::int64_t, QStringList> names;
    for (const catalog::Label &l : catalog.labels(QStringLiteral("name"))) {
        const QString name = l.text.trimmed();
        QStringList &list = names[l.itemId];
        if (!name.isEmpty() && !list.contains(name))
            list << name;
    }
    QList<XmpFileResult> plan;
    for (const auto &[itemId, list] : names) {
        const auto item = catalog.item(itemId);
        if (!item || list.isEmpty())
            continue;
        XmpFileResult file;
        file.itemId = itemId;
        file.path = item->path;
        file.sidecar = item->path + QStringLiteral(".xmp");
        file.names = list;
        plan << file;
    }
    return plan;
}

std::optional<QStringList> readSidecarKeywords(const QString &sidecar, QString *error)
{
    const auto bytes = readBounded(sidecar, XmpExportParams{}.maxSidecarBytes, error);
    if (!bytes)
        return std::nullopt;
    try {
        Exiv2::Image::AutoPtr image = sidecarImage(*bytes, sidecar);
        return arrayValues(image->xmpData(), "Xmp.dc.subject");
    } catch (const std::exception &e) {
        return util::fail(error, QString::fromStdString(e.what()));
    }
}

void exportXmpSidecar(XmpFileResult &file, const XmpExportParams &params)
{
    file.error.clear();
    if (!QFileInfo::exists(file.path)) {
        file.status = XmpFileStatus::Failed;
        file.error = QStringLiteral("%1 is gone; index its folder again").arg(media::displayPath(file.path));
        return;
    }
    try {
        mergeSidecar(file, params);
    } catch (const Exiv2::AnyError &e) {
        file.status = XmpFileStatus::Failed;
        file.error = QStringLiteral("%1: %2").arg(media::displayPath(file.sidecar), QString::fromStdString(e.what()));
    } catch (const std::exception &e) {
        file.status = XmpFileStatus::Failed;
        file.error = QString::fromStdString(e.what());
    }
}

std::optional<XmpExportResult> exportXmpSidecars(const catalog::Catalog &catalog, const XmpExportParams &params,
                                                 const XmpExportProgressFn &progress, QString *error)
{
    QList<XmpFileResult> plan;
    try {
        plan = xmpExportPlan(catalog);
    } catch (const catalog::CatalogError &e) {
        return util::fail(error, QStringLiteral("Cannot read the names from the catalog: %1").arg(e.what()));
    }
    XmpExportResult result;
    const int total = int(plan.size());
    for (int n = 0; n < total; ++n) {
        if (progress && !progress({n, total})) {
            result.cancelled = true;
            break;
        }
        XmpFileResult file = plan[n];
        exportXmpSidecar(file, params);
        result.written += file.status == XmpFileStatus::Written || file.status == XmpFileStatus::WouldWrite;
        result.unchanged += file.status == XmpFileStatus::Unchanged;
        result.failed += file.status == XmpFileStatus::Failed;
        result.files << file;
    }
    if (progress && !result.cancelled)
        progress({total, total});
    return result;
}

} // namespace unisearch::engine
