#include "engine/vectorindex.h"

#include "catalog/catalog.h"
#include "media/filepath.h"
#include "util/faultpoint.h"
#include "util/log.h"

#include <QDir>
#include <QFileInfo>

#include <stdexcept>
#include <vector>

namespace unisearch::engine {

namespace {

const QString logCategory = QStringLiteral("index");

std::filesystem::path fsPath(const QString &path)
{
    // The data dir may itself have an odd name: hand the exact bytes to the store.
    const QByteArray bytes = media::encodeFileName(path);
    return std::filesystem::path(std::string(bytes.constData(), static_cast<size_t>(bytes.size())));
}

} // namespace

QString VectorIndex::storePath(const QString &dataDir, const QString &fingerprint)
{
    return QDir(dataDir).filePath(QStringLiteral("vectors/%1.faiss").arg(fingerprint));
}

VectorIndex::VectorIndex(catalog::Catalog &catalog, const QString &dataDir, const QString &fingerprint, int dim)
    : m_catalog(catalog), m_dataDir(dataDir), m_fingerprint(fingerprint), m_path(storePath(dataDir, fingerprint))
{
    index::VectorStore::Params params;
    params.dim = dim;
    m_store = std::make_unique<index::VectorStore>(params);
    m_sinceSave.start();
}

VectorIndex::~VectorIndex() = default;

bool VectorIndex::rebuildFromCatalog(QString *error)
{
    // In chunks, so that a million vectors do not sit in a second full-size buffer.
    constexpr size_t chunk = 65536;
    const size_t dim = static_cast<size_t>(m_store->dim());
    std::vector<std::int64_t> ids;
    std::vector<float> data;
    ids.reserve(chunk);
    data.reserve(chunk * dim);
    try {
        m_store->clear();
        auto flush = [&] {
            if (!ids.empty())
                m_store->add(ids, data);
            ids.clear();
            data.clear();
        };
        m_catalog.forEachVector(m_fingerprint, [&](std::int64_t id, std::span<const float> v) {
            if (v.size() != dim)
                throw std::invalid_argument("segment " + std::to_string(id) + " has a vector of "
                                            + std::to_string(v.size()) + " values, the model's have "
                                            + std::to_string(dim));
            ids.push_back(id);
            data.insert(data.end(), v.begin(), v.end());
            if (ids.size() == chunk)
                flush();
        });
        flush();
    } catch (const std::exception &e) {
        m_store->clear();
        if (error)
            *error = QStringLiteral("cannot rebuild the vector store from the catalog: %1")
                         .arg(QString::fromUtf8(e.what()));
        return false;
    }
    return true;
}

VectorIndexReport VectorIndex::open(bool persistRebuild)
{
    VectorIndexReport report;
    std::int64_t catalogGeneration = 0;
    try {
        catalogGeneration = m_catalog.faissGeneration(m_fingerprint);
    } catch (const catalog::CatalogError &e) {
        report.error = QStringLiteral("reading the catalog: %1").arg(QString::fromUtf8(e.what()));
        return report;
    }
    m_dirty = false;

    if (catalogGeneration > 0) {
        const index::StoreResult loaded = m_store->load(fsPath(m_path), static_cast<uint64_t>(catalogGeneration));
        if (loaded.ok()) {
            m_fileGeneration = catalogGeneration;
            m_sinceSave.restart();
            report.ok = true;
            report.vectors = static_cast<std::int64_t>(m_store->size());
            report.generation = m_fileGeneration;
            return report;
        }
        report.reason = QStringLiteral("%1: %2")
                            .arg(QString::fromLatin1(index::storeStatusName(loaded.status)),
                                 QString::fromStdString(loaded.message));
    }

    // No usable file: the catalog's vectors are the truth.
    QString error;
    if (!rebuildFromCatalog(&error)) {
        report.error = error;
        return report;
    }
    report.vectors = static_cast<std::int64_t>(m_store->size());
    // A catalog that never had a store file and has no vectors: nothing was rebuilt.
    report.rebuilt = catalogGeneration > 0 || report.vectors > 0;
    if (report.rebuilt && report.reason.isEmpty())
        report.reason = QStringLiteral("missing: the catalog has vectors but no store file was written yet");
    m_fileGeneration = catalogGeneration;
    if (report.rebuilt) {
        log::info(logCategory, QStringLiteral("vector store %1 rebuilt from the catalog (%2 vectors): %3")
                                   .arg(m_path)
                                   .arg(report.vectors)
                                   .arg(report.reason));
        m_dirty = true;  // the file on disk does not hold this content
        if (persistRebuild) {
            QString saveError;
            report.saved = save(&saveError);
            if (!report.saved)
                log::warning(logCategory, saveError);
        }
    }
    report.ok = true;
    report.generation = m_fileGeneration;
    return report;
}

void VectorIndex::markDirty()
{
    if (m_dirty)
        return;
    m_catalog.setFaissGeneration(m_fingerprint, m_fileGeneration + 1);
    m_dirty = true;
}

void VectorIndex::add(std::span<const std::int64_t> ids, std::span<const float> vectors)
{
    m_store->add(ids, vectors);
}

void VectorIndex::remove(std::span<const std::int64_t> ids)
{
    m_store->remove(ids);
}

bool VectorIndex::save(QString *error)
{
    if (!m_dirty)
        return true;
    try {
        std::int64_t generation = m_catalog.faissGeneration(m_fingerprint);
        if (generation <= m_fileGeneration)
            generation = m_fileGeneration + 1;
        if (const QString dir = QFileInfo(m_path).absolutePath(); !QDir().mkpath(dir)) {
            if (error)
                *error = QStringLiteral("cannot create %1").arg(QDir::toNativeSeparators(dir));
            return false;
        }
        const index::StoreResult saved = m_store->save(fsPath(m_path), static_cast<uint64_t>(generation));
        if (!saved.ok()) {
            if (error)
                *error = QStringLiteral("cannot write the vector store %1: %2")
                             .arg(QDir::toNativeSeparators(m_path), QString::fromStdString(saved.message));
            return false;
        }
        util::faultPoint("store.saved"); // the new file in place, the catalog still naming the old generation
        // After the rename: only now may the catalog say this file is current.
        if (m_catalog.faissGeneration(m_fingerprint) != generation)
            m_catalog.setFaissGeneration(m_fingerprint, generation);
        m_fileGeneration = generation;
        m_dirty = false;
        m_sinceSave.restart();
        return true;
    } catch (const std::exception &e) {
        if (error)
            *error = QStringLiteral("saving the vector store: %1").arg(QString::fromUtf8(e.what()));
        return false;
    }
}

bool VectorIndex::saveIfDue(int intervalMs, QString *error)
{
    if (!m_dirty || m_sinceSave.elapsed() < intervalMs)
        return true;
    return save(error);
}

} // namespace unisearch::engine
