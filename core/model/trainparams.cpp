// Names of training choices (no LibTorch: the engine and the CLI print them).
#include "trainer.h"

namespace unisearch::model {

std::string toString(TrainTask task)
{
    return task == TrainTask::Vqa ? "vqa" : "retrieval";
}

std::string toString(TrainMode mode)
{
    return mode == TrainMode::Full ? "full" : "query";
}

} // namespace unisearch::model
