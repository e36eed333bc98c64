#include "engine/indexing/record.h"

namespace unisearch::engine::indexing {

Processed fail(const WorkItem &w, const QString &stage, const QString &message)
{
    Processed p;
    p.work = &w;
    p.outcome = Outcome::Failed;
    p.errorStage = stage;
    p.errorMessage = message;
    return p;
}

catalog::ItemType itemTypeOf(const WorkItem &w)
{
    if (w.kind == media::MediaKind::Video || (w.kind == media::MediaKind::Other && w.nameKind == media::MediaKind::Video))
        return catalog::ItemType::Video;
    return catalog::ItemType::Image;
}

} // namespace unisearch::engine::indexing
