#include "engine/trainingdata.h"

#include "catalog/catalog.h"
#include "engine/failed_p.h"
#include "engine/models.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTextStream>

#include <map>

namespace unisearch::engine {

namespace {

// Splits one CSV line into fields ("..." quotes with "" escapes).
QStringList csvFields(const QString &line)
{
    QStringList out;
    QString field;
    bool quoted = false;
    for (qsizetype i = 0; i < line.size(); ++i) {
        const QChar c = line[i];
        if (quoted) {
            if (c == QLatin1Char('"') && i + 1 < line.size() && line[i + 1] == QLatin1Char('"')) {
                field += c;
                ++i;
            } else if (c == QLatin1Char('"')) {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == QLatin1Char('"')) {
            quoted = true;
        } else if (c == QLatin1Char(',')) {
            out << field.trimmed();
            field.clear();
        } else {
            field += c;
        }
    }
    out << field.trimmed();
    return out;
}

QString resolve(const QDir &base, const QString &path)
{
    return QDir::cleanPath(base.absoluteFilePath(path));
}

QStringList stringOrList(const QJsonValue &v)
{
    QStringList out;
    if (v.isString())
        out << v.toString();
    for (const auto &x : v.toArray())
        if (x.isString())
            out << x.toString();
    return out;
}

} // namespace

QStringList nameTemplates(const QString &name)
{
    return {name, QStringLiteral("a photo of %1").arg(name), QStringLiteral("an image of %1").arg(name),
            QStringLiteral("a picture of %1").arg(name), QStringLiteral("this is %1").arg(name)};
}

std::optional<QList<LabelledExample>> readTrainingFile(const QString &file, const QString &task, QString *error)
{
    using R = QList<LabelledExample>;
    const bool vqa = task == vqaTask;
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly))
        return failed<R>(error, QStringLiteral("Cannot read the training data %1: %2").arg(file, f.errorString()));
    const QByteArray bytes = f.readAll();
    const QDir base = QFileInfo(file).absoluteDir();
    R out;
    const QByteArray head = bytes.trimmed().left(1);
    if (head == "{" || head == "[") {
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(bytes, &pe);
        if (pe.error != QJsonParseError::NoError)
            return failed<R>(error, QStringLiteral("%1 is not valid JSON (at offset %2: %3)")
                                        .arg(file).arg(pe.offset).arg(pe.errorString()));
        if (doc.isObject()) {
            // COCO captions.
            const QJsonObject o = doc.object();
            if (vqa || !o.contains(QStringLiteral("annotations")) || !o.contains(QStringLiteral("images")))
                return failed<R>(error, QStringLiteral("%1: a JSON object must be COCO-style captions (\"images\" and "
                                                       "\"annotations\")%2")
                                            .arg(file, vqa ? QStringLiteral("; VQA data is a list of {image, question, "
                                                                            "answer}")
                                                           : QString()));
            std::map<qint64, QString> images;
            for (const auto &v : o.value(QStringLiteral("images")).toArray())
                images[v.toObject().value(QStringLiteral("id")).toInteger()] =
                    v.toObject().value(QStringLiteral("file_name")).toString();
            int i = 0;
            for (const auto &v : o.value(QStringLiteral("annotations")).toArray()) {
                const QJsonObject a = v.toObject();
                auto it = images.find(a.value(QStringLiteral("image_id")).toInteger(-1));
                const QString caption = a.value(QStringLiteral("caption")).toString();
                if (it == images.end() || caption.isEmpty())
                    return failed<R>(error, QStringLiteral("%1: annotation %2 has no caption or an unknown image_id")
                                                .arg(file).arg(i));
                out.append({resolve(base, it->second), caption, {}});
                ++i;
            }
        } else {
            int i = 0;
            for (const auto &v : doc.array()) {
                const QJsonObject o = v.toObject();
                const QString image = o.value(QStringLiteral("image")).toString();
                if (image.isEmpty())
                    return failed<R>(error, QStringLiteral("%1: entry %2 has no \"image\"").arg(file).arg(i));
                if (vqa) {
                    const QString q = o.value(QStringLiteral("question")).toString();
                    const QStringList answers = stringOrList(o.value(QStringLiteral("answer")));
                    if (q.isEmpty() || answers.isEmpty())
                        return failed<R>(error, QStringLiteral("%1: entry %2 needs a \"question\" and an \"answer\"")
                                                    .arg(file).arg(i));
                    out.append({resolve(base, image), q, answers});
                } else {
                    const QStringList captions = stringOrList(o.value(QStringLiteral("caption")));
                    if (captions.isEmpty())
                        return failed<R>(error, QStringLiteral("%1: entry %2 has no \"caption\"").arg(file).arg(i));
                    for (const QString &c : captions)
                        out.append({resolve(base, image), c, {}});
                }
                ++i;
            }
        }
    } else {
        QTextStream in(bytes);
        int lineNo = 0;
        while (!in.atEnd()) {
            const QString line = in.readLine();
            ++lineNo;
            if (line.trimmed().isEmpty() || line.startsWith(QLatin1Char('#')))
                continue;
            const QStringList fields = csvFields(line);
            if (lineNo == 1 && fields.value(0).compare(QStringLiteral("path"), Qt::CaseInsensitive) == 0)
                continue;
            if (fields.size() < (vqa ? 3 : 2) || fields[0].isEmpty() || fields[1].isEmpty())
                return failed<R>(error, QStringLiteral("%1, line %2: expected %3").arg(file).arg(lineNo)
                                            .arg(vqa ? QStringLiteral("path,question,answer")
                                                     : QStringLiteral("path,caption")));
            const QString path = resolve(base, fields[0]);
            if (vqa) {
                out.append({path, fields[1], fields[2].split(QLatin1Char('|'), Qt::SkipEmptyParts)});
            } else if (fields.value(2).compare(QStringLiteral("name"), Qt::CaseInsensitive) == 0) {
                for (const QString &t : nameTemplates(fields[1]))
                    out.append({path, t, {}, fields[1]});
            } else {
                out.append({path, fields[1], {}});
            }
        }
    }
    if (out.isEmpty())
        return failed<R>(error, QStringLiteral("%1 holds no training examples").arg(file));
    for (const auto &e : out)
        if (!QFileInfo(e.path).isFile())
            return failed<R>(error, QStringLiteral("%1 names the image %2, which does not exist")
                                        .arg(file, QDir::toNativeSeparators(e.path)));
    return out;
}

int storeLabels(catalog::Catalog &catalog, const QList<LabelledExample> &examples, const QString &task)
{
    const int before = int(catalog.labels().size());
    catalog.transaction([&] {
        for (const LabelledExample &e : examples) {
            const auto item = catalog.itemByPath(e.path);
            if (!item)
                continue; // not in the library: the file stays the only record
            catalog::Label l;
            l.itemId = item->id;
            if (task == vqaTask) {
                l.kind = QStringLiteral("qa");
                l.text = e.text;
                for (const QString &a : e.answers) {
                    l.answer = a;
                    catalog.addLabel(l);
                }
                continue;
            }
            l.kind = e.name.isEmpty() ? QStringLiteral("caption") : QStringLiteral("name");
            l.text = e.name.isEmpty() ? e.text : e.name;
            catalog.addLabel(l);
        }
    });
    return int(catalog.labels().size()) - before;
}

QList<LabelledExample> labelsFromCatalog(const catalog::Catalog &catalog, const QString &task)
{
    QList<LabelledExample> out;
    std::map<std::pair<qint64, QString>, qsizetype> question; // (item, question) → index in out
    for (const catalog::Label &l : catalog.labels()) {
        const auto item = catalog.item(l.itemId);
        if (!item)
            continue;
        if (task == vqaTask) {
            if (l.kind != QLatin1String("qa"))
                continue;
            auto [it, inserted] = question.emplace(std::make_pair(l.itemId, l.text), out.size());
            if (inserted)
                out.append({item->path, l.text, {}});
            out[it->second].answers << l.answer;
        } else if (l.kind == QLatin1String("name")) {
            for (const QString &t : nameTemplates(l.text))
                out.append({item->path, t, {}, l.text});
        } else if (l.kind == QLatin1String("caption")) {
            out.append({item->path, l.text, {}});
        }
    }
    return out;
}

} // namespace unisearch::engine
