// libFuzzer target: training data files (engine/trainingdata.h readTrainingFile: CSV, COCO
// caption JSON, the reference's JSON lists) for both tasks. The images the seeds name
// (a.jpg, b.jpg) exist beside the file so that parsing goes past the path checks.
#include "fuzzcheck.h"
#include "qtapp.h"
#include "fuzzsupport.h"

#include "engine/trainingdata.h"


#include <fstream>

namespace engine = unisearch::engine;

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    unisearch::fuzz::ensureCoreApplication();
    for (const char *name : {"a.jpg", "b.jpg"})
        std::ofstream(unisearch::fuzz::scratchDir() / name) << "x";
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const auto path = unisearch::fuzz::writeInput("data.txt", data, size);
    for (const char *task : {"retrieval", "vqa"}) {
        QString error;
        const auto examples = engine::readTrainingFile(QString::fromStdString(path.string()), QString::fromLatin1(task), &error);
        if (!examples) {
            unisearch::fuzz::checkMessage(error.toStdString());
            continue;
        }
        for (const engine::LabelledExample &e : *examples)
            if (e.path.isEmpty())
                unisearch::fuzz::fail("an example without an image path", {});
    }
    return 0;
}
