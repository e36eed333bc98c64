#pragma once
// Training data at the engine's edge: labelled examples read from a file (CSV, COCO
// captions, the reference's JSON lists) or from the labels the catalog keeps. The
// training job (trainingjob.h) trains on them; the wizard counts and picks them.
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace unisearch::catalog {
class Catalog;
}

namespace unisearch::engine {

// One labelled example.
struct LabelledExample {
    QString path;        // the image, absolute
    QString text;        // retrieval: a caption; vqa: the question
    QStringList answers; // vqa: the answers given (a repeated answer counts more)
    QString name;        // retrieval: the name this caption was made from (nameTemplates), if any
};

// Caption templates for a name attached to items ("Shrek" → "Shrek", "a photo of Shrek", ...).
QStringList nameTemplates(const QString &name);

// Reads training examples from a file, by content:
//  - CSV (fields may be "quoted"; a first line starting with `path,` is a header):
//    retrieval `path,caption` (an optional third column `name` marks the text as a name,
//    expanded with nameTemplates()); vqa `path,question,answer` (answers separated by `|`).
//  - JSON, COCO captions: {"images":[{"id","file_name"}], "annotations":[{"image_id","caption"}]}.
//  - JSON, the reference's lists: [{"image": path, "caption": text or [texts]}] (retrieval),
//    [{"image": path, "question": q, "answer": a or [answers]}] (vqa).
// Relative paths are resolved against the file's folder. nullopt with *error naming the
// line or entry when the file is malformed or an image is missing.
std::optional<QList<LabelledExample>> readTrainingFile(const QString &file, const QString &task, QString *error);

// Labels in the catalog (`labels` table): a training run stores the examples of library
// items there (captions, names, question/answer pairs), and a later run can train on them.
// Returns how many labels were added (identical ones are kept once).
int storeLabels(catalog::Catalog &catalog, const QList<LabelledExample> &examples, const QString &task);
QList<LabelledExample> labelsFromCatalog(const catalog::Catalog &catalog, const QString &task);

// Below this many examples a run is flagged: a few dozen teach a word reliably.
constexpr int fewTrainingExamples = 20;
// Below this many held-out examples the before/after scores are flagged as rough.
constexpr int fewValidationExamples = 10;

} // namespace unisearch::engine
