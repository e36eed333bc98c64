// libFuzzer target: opening an arbitrary file as <dataDir>/catalog.sqlite (Catalog::open:
// SQLite, schema checks, migrations), then the reads `status` makes. open() must report
// a problem as an OpenResult; once open, only CatalogError may leave a query.
#include "fuzzcheck.h"
#include "qtapp.h"
#include "fuzzsupport.h"

#include "catalog/catalog.h"


#include <exception>
#include <filesystem>
#include <typeinfo>

namespace catalog = unisearch::catalog;

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    unisearch::fuzz::ensureCoreApplication();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const auto dir = unisearch::fuzz::scratchDir() / "data";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    // A previous input's journal must not be replayed into this one.
    for (const char *suffix : {"-wal", "-shm", "-journal"})
        std::filesystem::remove(dir / (std::string(catalog::Catalog::fileName) + suffix), ec);
    const auto path = dir / catalog::Catalog::fileName;
    {
        std::filesystem::remove(path, ec);
        const auto written = unisearch::fuzz::writeInput("catalog.input", data, size);
        std::filesystem::rename(written, path, ec);
    }
    catalog::OpenOptions options;
    options.busyTimeoutMs = 0;
    catalog::OpenResult opened = catalog::Catalog::open(QString::fromStdString(dir.string()), options);
    if (!opened) {
        unisearch::fuzz::checkMessage(opened.error.toStdString());
        return 0;
    }
    catalog::Catalog &c = *opened.catalog;
    try {
        (void)c.schemaVersion();
        (void)c.counts();
        (void)c.pragma(QStringLiteral("journal_mode"));
        int rootsRead = 0;
        for (const catalog::Root &root : c.roots()) {
            const auto items = c.itemsInRoot(root.id);
            for (int i = 0; i < items.size() && i < 8; ++i)
                (void)c.segments(items[i].id);
            if (++rootsRead == 4)
                break;
        }
        (void)c.models();
        (void)c.activeModel(QStringLiteral("retrieval"));
        (void)c.errors(16);
        (void)c.labels();
        (void)c.unfinishedJobs();
        (void)c.faissGeneration(QStringLiteral("x"));
    } catch (const catalog::CatalogError &e) {
        unisearch::fuzz::checkMessage(e.what());
    } catch (const std::exception &e) {
        unisearch::fuzz::fail(typeid(e).name(), e.what());
    }
    return 0;
}
