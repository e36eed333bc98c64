#pragma once
// compatibility: the read-only catalog queries moved to catalog::Reader (catalog/reader.h).
// Remove this header once core/engine's search, indexing and training files include
// "catalog/reader.h" and name catalog::Reader, catalog::SegmentInfo, catalog::SegmentFilter
// (and engine/indexing/plan.h forward-declares catalog::Reader instead of this class).
#include "catalog/reader.h"

namespace unisearch::engine::detail {

// A class rather than an alias, so that a forward declaration `class CatalogReader;` still fits.
class CatalogReader : public catalog::Reader
{
public:
    using catalog::Reader::Reader;
};
using SegmentInfo = catalog::SegmentInfo;
using SegmentFilter = catalog::SegmentFilter;

} // namespace unisearch::engine::detail
