// The model catalogue: finding, reading and checking it (see modelcatalogue.h).
#include "engine/modelcatalogue.h"

#include "engine/installedfile.h"
#include "engine/models.h"
#include "media/filepath.h"
#include "util/log.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>

namespace unisearch::engine {

namespace {

const QString logCategory = QStringLiteral("download");
const QString catalogueFile = QStringLiteral("catalogue.json");

QString native(const QString &path)
{
    return QDir::toNativeSeparators(path);
}

} // namespace

QString quotedCatalogueName(const QString &name)
{
    constexpr qsizetype shown = 60;
    return media::displayPath(name.left(shown)) + (name.size() > shown ? QStringLiteral("…") : QString());
}

QString catalogueNameProblem(const QString &name)
{
    if (name.isEmpty())
        return QStringLiteral("it is empty");
    if (name.size() > 100)
        return QStringLiteral("it is longer than 100 characters");
    if (name.startsWith(QLatin1Char('.')))  // also "." and ".."
        return QStringLiteral("it starts with a dot");
    for (const QChar c : name) {
        if (c == QLatin1Char('/') || c == QLatin1Char('\\'))
            return QStringLiteral("it contains a path separator");
        if (c.unicode() < 0x20 || c.unicode() == 0x7F)
            return QStringLiteral("it contains a control character");
    }
    return {};
}

QString ModelCatalogue::defaultPath()
{
    // Installed, AppImage and build-tree layouts, as for the vocabulary.
    return locateInstalledFile("UNISEARCH_MODEL_CATALOGUE", QStringLiteral("models/") + catalogueFile);
}

std::optional<ModelCatalogue> ModelCatalogue::load(const QString &path, QString *error)
{
    auto failure = [&](const QString &message) -> std::optional<ModelCatalogue> {
        if (error)
            *error = message;
        log::warning(logCategory, message);
        return std::nullopt;
    };
    const QString file = path.isEmpty() ? defaultPath() : path;
    if (file.isEmpty())
        return failure(qEnvironmentVariableIsSet("UNISEARCH_MODEL_CATALOGUE")
                           ? QStringLiteral("The model catalogue named by UNISEARCH_MODEL_CATALOGUE (%1) does not exist.")
                                 .arg(native(qEnvironmentVariable("UNISEARCH_MODEL_CATALOGUE")))
                           : QStringLiteral("The model catalogue (%1) was not found; reinstall Unisearch or point "
                                            "UNISEARCH_MODEL_CATALOGUE at the file.")
                                 .arg(catalogueFile));
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly))
        return failure(QStringLiteral("Cannot read the model catalogue %1: %2").arg(native(file), f.errorString()));
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &parseError);
    if (parseError.error != QJsonParseError::NoError || !doc.isObject())
        return failure(QStringLiteral("The model catalogue %1 is not valid JSON: %2")
                           .arg(native(file), parseError.errorString()));
    ModelCatalogue out;
    const QJsonArray models = doc.object().value(QStringLiteral("models")).toArray();
    for (const QJsonValue &v : models) {
        const QJsonObject o = v.toObject();
        CatalogueEntry e;
        e.name = o.value(QStringLiteral("name")).toString();
        e.title = o.value(QStringLiteral("title")).toString(e.name);
        e.task = o.value(QStringLiteral("task")).toString();
        e.url = QUrl(o.value(QStringLiteral("url")).toString());
        e.sha256 = o.value(QStringLiteral("sha256")).toString().trimmed().toLower();
        e.size = o.value(QStringLiteral("size")).isDouble() ? qint64(o.value(QStringLiteral("size")).toDouble())
                                                            : -1;
        e.architecture = o.value(QStringLiteral("architecture")).toObject();
        e.architectureHint = o.value(QStringLiteral("architectureHint")).toString();
        e.licence = o.value(QStringLiteral("licence")).toString();
        e.source = o.value(QStringLiteral("source")).toString();
        if (const QString problem = catalogueNameProblem(e.name); !problem.isEmpty() && !e.name.isEmpty())
            return failure(QStringLiteral("The model catalogue %1 has an entry named '%2', which cannot be a model's "
                                          "name: %3 (a name is a plain file name).")
                               .arg(native(file), quotedCatalogueName(e.name), problem));
        static const QRegularExpression hex(QStringLiteral("^[0-9a-f]{64}$"));
        if (e.name.isEmpty() || !e.url.isValid() || e.url.scheme().isEmpty()
            || (e.task != retrievalTask && e.task != vqaTask) || (!e.sha256.isEmpty() && !hex.match(e.sha256).hasMatch()))
            return failure(QStringLiteral("The model catalogue %1 has an invalid entry '%2' (it needs a name, a "
                                          "URL, the task retrieval or vqa, and a sha256 of 64 hex digits or null).")
                               .arg(native(file), quotedCatalogueName(e.name)));
        out.models.append(e);
    }
    return out;
}

std::optional<CatalogueEntry> ModelCatalogue::find(const QString &name) const
{
    for (const CatalogueEntry &e : models)
        if (e.name == name)
            return e;
    return std::nullopt;
}

} // namespace unisearch::engine
