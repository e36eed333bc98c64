// The command table. To add a command: write int cmdXxx(Context &) in cmd_xxx.cpp,
// declare it below, list the file in app/CMakeLists.txt, and put its function in its
// row.
#include "cli/cli.h"

namespace unisearch::cli {

int cmdStatus(Context &ctx);
int cmdIndex(Context &ctx);
int cmdSearch(Context &ctx);
int cmdSimilar(Context &ctx);
int cmdModelImport(Context &ctx);
int cmdModelList(Context &ctx);
int cmdModelActivate(Context &ctx);
int cmdModelDownload(Context &ctx);
int cmdEmbedImage(Context &ctx);
int cmdEmbedText(Context &ctx);
int cmdEmbedFrames(Context &ctx);
int cmdItm(Context &ctx);
int cmdAsk(Context &ctx);
int cmdTrain(Context &ctx);
int cmdAdaptersList(Context &ctx);
int cmdAdaptersActivate(Context &ctx);
int cmdAdaptersDeactivate(Context &ctx);
int cmdAdaptersExport(Context &ctx);
int cmdAdaptersImport(Context &ctx);
int cmdDuplicates(Context &ctx);
int cmdLabelsExportXmp(Context &ctx);

namespace {

constexpr Command table[] = {
    {"model import", "model import FILE [--name N] [--task retrieval|vqa] [--architecture JSON|@FILE] [--replace] [--json]",
     "Import a BLIP or UniAdapter checkpoint (.pth or .safetensors) as a model.", cmdModelImport},
    {"model list", "model list [--json]", "List the imported models; * marks the active ones.", cmdModelList},
    {"model activate", "model activate NAME", "Use an imported model for its task from now on.", cmdModelActivate},
    {"model download", "model download NAME [--json] | model download --list [--json]",
     "Download a model from the built-in catalogue (resumes an interrupted download), check and import it.",
     cmdModelDownload},
    {"index", "index PATH... [--watch] [--json]", "Add folders or files to the library and index them.", cmdIndex},
    {"status", "status [--json]", "Show the library, the catalog and the engine settings.", cmdStatus},
    {"search", "search TEXT [--top K] [--rerank] [--type image|video] [--folder DIR] [--json]",
     "Find photos and moments in videos that match a description.", cmdSearch},
    {"similar", "similar FILE [--top K] [--json]", "Find items that look like FILE.", cmdSimilar},
    {"duplicates", "duplicates [--threshold T] [--json]",
     "Find byte-identical files and near-identical photos and videos (resized, recompressed, lightly edited).",
     cmdDuplicates},
    {"ask", "ask FILE QUESTION [--answers FILE] [--top-k K] [--beams N] [--model NAME] [--json]",
     "Answer a question about a photo or a video (VIDEO@TIME: one moment, TIME as 12.5, mm:ss or hh:mm:ss).",
     cmdAsk},
    {"embed image", "embed image FILE... --json [--model NAME]", "Print the feature vector of each image.",
     cmdEmbedImage},
    {"embed text", "embed text TEXT... --json [--model NAME]",
     "Print the feature vector of each text, exactly as given.", cmdEmbedText},
    {"embed frames", "embed frames FILE... --json [--model NAME]",
     "Print one video feature computed from frames, in order (or from a video file's 8 sampled frames).",
     cmdEmbedFrames},
    {"itm", "itm (--image FILE | --frames FILE...) --text TEXT [--text TEXT...] [--frame-aware] --json [--model NAME]",
     "Print the image-text matching logits and probability of each text.", cmdItm},
    {"train",
     "train --task retrieval|vqa --mode query|full --data FILE|--labels [--epochs N] [--name NAME] [--model NAME] "
     "[--batch-size N] [--learning-rate X] [--seed N] [--bfloat16] [--no-activate] [--replace] [--json]",
     "Teach the model your own words by training adapters on labelled examples.", cmdTrain},
    {"adapters list", "adapters list [--json]", "List the trained adapter packs; * marks the active ones.",
     cmdAdaptersList},
    {"adapters activate", "adapters activate NAME [--batch N] [--json]",
     "Use an adapter pack from now on (a full-mode search pack re-embeds the library first).", cmdAdaptersActivate},
    {"adapters deactivate", "adapters deactivate [--model NAME]", "Go back to the base model's weights.",
     cmdAdaptersDeactivate},
    {"adapters export", "adapters export NAME FILE", "Copy an adapter pack to a file.", cmdAdaptersExport},
    {"adapters import", "adapters import FILE [--name NAME] [--json]", "Add an adapter pack from a file.",
     cmdAdaptersImport},
    {"labels export-xmp", "labels export-xmp [--dry-run] [--json]",
     "Write the names taught for photos as XMP keywords to PHOTO.EXT.xmp sidecars (the photos stay untouched).",
     cmdLabelsExportXmp},
};

} // namespace

std::span<const Command> commands()
{
    return table;
}

} // namespace unisearch::cli
