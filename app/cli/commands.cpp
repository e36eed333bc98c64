// The command table. To add a command: write int cmdXxx(Context &) in cmd_xxx.cpp,
// declare it below, list the file in app/CMakeLists.txt, and put its function in its
// row (a null function means "not available yet", which --help says too).
#include "cli/cli.h"

namespace unisearch::cli {

int cmdStatus(Context &ctx);

namespace {

constexpr Command table[] = {
    {"model import", "model import FILE [--name N] [--task retrieval|vqa] [--architecture JSON]",
     "Import a BLIP or UniAdapter checkpoint (.pth or .safetensors) as a model.", nullptr},
    {"model list", "model list", "List the imported models.", nullptr},
    {"model download", "model download NAME", "Download a model from the built-in catalogue.", nullptr},
    {"index", "index PATH... [--watch]", "Add folders or files to the library and index them.", nullptr},
    {"status", "status [--json]", "Show the library, the catalog and the engine settings.", cmdStatus},
    {"search", "search TEXT [--top K] [--rerank] [--type image|video] [--json]",
     "Find photos and moments in videos that match a description.", nullptr},
    {"similar", "similar FILE [--top K] [--json]", "Find items that look like FILE.", nullptr},
    {"ask", "ask FILE QUESTION [--answers FILE] [--json]", "Answer a question about a photo or a video.", nullptr},
    {"embed image", "embed image FILE... --json", "Print the feature vector of each image.", nullptr},
    {"embed text", "embed text TEXT... --json", "Print the feature vector of each text, exactly as given.",
     nullptr},
    {"embed frames", "embed frames FILE... --json", "Print one video feature computed from frames, in order.",
     nullptr},
    {"itm", "itm (--image FILE | --frames FILE...) --text TEXT [--frame-aware] --json",
     "Print the image-text matching probability.", nullptr},
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
