// The command table. To add a command: write int cmdXxx(Context &) in cmd_xxx.cpp,
// declare it below, list the file in app/CMakeLists.txt, and put its function in its
// row (a null function means "not available yet", which --help says too).
#include "cli/cli.h"

namespace unisearch::cli {

int cmdStatus(Context &ctx);
int cmdIndex(Context &ctx);
int cmdSearch(Context &ctx);
int cmdSimilar(Context &ctx);
int cmdModelImport(Context &ctx);
int cmdModelList(Context &ctx);
int cmdModelActivate(Context &ctx);
int cmdEmbedImage(Context &ctx);
int cmdEmbedText(Context &ctx);
int cmdEmbedFrames(Context &ctx);
int cmdItm(Context &ctx);
int cmdAsk(Context &ctx);

namespace {

constexpr Command table[] = {
    {"model import", "model import FILE [--name N] [--task retrieval|vqa] [--architecture JSON|@FILE] [--replace] [--json]",
     "Import a BLIP or UniAdapter checkpoint (.pth or .safetensors) as a model.", cmdModelImport},
    {"model list", "model list [--json]", "List the imported models; * marks the active ones.", cmdModelList},
    {"model activate", "model activate NAME", "Use an imported model for its task from now on.", cmdModelActivate},
    {"model download", "model download NAME", "Download a model from the built-in catalogue.", nullptr},
    {"index", "index PATH... [--watch] [--json]", "Add folders or files to the library and index them.", cmdIndex},
    {"status", "status [--json]", "Show the library, the catalog and the engine settings.", cmdStatus},
    {"search", "search TEXT [--top K] [--rerank] [--type image|video] [--folder DIR] [--json]",
     "Find photos and moments in videos that match a description.", cmdSearch},
    {"similar", "similar FILE [--top K] [--json]", "Find items that look like FILE.", cmdSimilar},
    {"ask", "ask FILE QUESTION [--answers FILE] [--top-k K] [--beams N] [--model NAME] [--json]",
     "Answer a question about a photo.", cmdAsk},
    {"embed image", "embed image FILE... --json [--model NAME]", "Print the feature vector of each image.",
     cmdEmbedImage},
    {"embed text", "embed text TEXT... --json [--model NAME]",
     "Print the feature vector of each text, exactly as given.", cmdEmbedText},
    {"embed frames", "embed frames FILE... --json [--model NAME]",
     "Print one video feature computed from frames, in order.", cmdEmbedFrames},
    {"itm", "itm (--image FILE | --frames FILE...) --text TEXT [--text TEXT...] [--frame-aware] --json [--model NAME]",
     "Print the image-text matching logits and probability of each text.", cmdItm},
    {"train", "train ...", "Teach the model your own words by training adapters.", nullptr},
    {"adapters list", "adapters list", "List the trained adapter packs.", nullptr},
    {"adapters activate", "adapters activate NAME", "Use an adapter pack from now on.", nullptr},
};

} // namespace

std::span<const Command> commands()
{
    return table;
}

} // namespace unisearch::cli
