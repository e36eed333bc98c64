#pragma once
// A fixture case's weights imported as a model bundle with the case's own architecture
// (what `model import FILE --architecture JSON` does), for the tests that index or search
// through the library API. Header-only: only tests that link us_model include it.
#include "model/architecture.h"
#include "model/bundle.h"
#include "support/fixtures.h"

#include <QDir>
#include <QString>

#include <string>

namespace unisearch::test {

inline model::ImportReport importCaseModel(const QString &caseName, const std::string &task, const std::string &name,
                                           const QString &modelsDir)
{
    const nlohmann::json c = readCase(caseName);
    const QString weights =
        QDir(caseDir(caseName)).filePath(QString::fromStdString(c.at("weights").get<std::string>()));
    model::ImportOptions options;
    options.name = name;
    options.task = task;
    options.architecture = model::Architecture::fromJson(c.at("architecture"));
    return model::importModel(weights.toStdString(), modelsDir.toStdString(), options);
}

} // namespace unisearch::test
