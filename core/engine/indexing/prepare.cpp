#include "engine/indexing/prepare.h"

#include "engine/indexing/common.h"
#include "engine/indexing/imagestage.h"
#include "engine/indexing/metadatastage.h"

namespace unisearch::engine::indexing {

namespace {

Processed process(const WorkItem &w, const StageSettings &settings, const std::atomic<bool> &interrupt)
{
    Processed p;
    p.work = &w;
    if (interrupt.load())
        return p;  // Skipped: the job is stopping

    if (w.kind == media::MediaKind::Video)
        return processVideo(w, settings.pre, settings.video, interrupt);
    if (w.kind != media::MediaKind::Image) {
        const QString what = w.nameKind == media::MediaKind::Video ? QStringLiteral("a video")
                                                                    : QStringLiteral("an image");
        const QString content = w.mimeType.isEmpty() ? QStringLiteral("unrecognised") : w.mimeType;
        return fail(w, QStringLiteral("type"),
                    QStringLiteral("not %1: its name says so, but the content is %2").arg(what, content));
    }
    return processImage(w, settings.decode, settings.pre);
}

} // namespace

Processed prepareFile(const WorkItem &w, const StageSettings &settings, const std::atomic<bool> &interrupt)
{
    try {
        Processed p = process(w, settings, interrupt);
        addMetadata(p);  // capture time, place, camera: cheap beside the decoding
        return p;
    } catch (...) {
        // Whatever a file made go wrong (out of memory, a size beyond any
        // limit) fails that file, recorded like any other, not the job.
        return fail(w, QStringLiteral("decode"), QStringLiteral("cannot process the file: %1")
                                                  .arg(describeException(std::current_exception())));
    }
}

} // namespace unisearch::engine::indexing
