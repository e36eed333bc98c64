#pragma once
// Registers an imported model bundle in a data directory's catalog as the active model of its
// task (what `model import` records), for the black-box tests that then run unisearch-cli
// against that data directory. Header-only: only tests that link us_core include it.
#include "catalog/catalog.h"
#include "model/architecture.h"
#include "model/bundle.h"

#include <nlohmann/json.hpp>

#include <QString>

namespace unisearch::test {

// False, with the catalog's error in *error, when the catalog in dataDir does not open.
inline bool registerActiveModel(const QString &dataDir, const model::BundleInfo &bundle,
                                const QString &name = QStringLiteral("fixture"),
                                const QString &task = QStringLiteral("retrieval"), QString *error = nullptr)
{
    catalog::OpenResult opened = catalog::Catalog::open(dataDir);
    if (!opened) {
        if (error)
            *error = opened.error;
        return false;
    }
    catalog::ModelRecord record;
    record.name = name;
    record.fingerprint = QString::fromStdString(bundle.fingerprint);
    record.task = task;
    record.architectureJson = QString::fromStdString(bundle.architecture.toJson().dump());
    record.path = QString::fromStdString(bundle.dir);
    record.active = true;
    opened.catalog->upsertModel(record);
    return true;
}

} // namespace unisearch::test
