#pragma once
// Fine-tuning at the engine's edge, all of it: training data (trainingdata.h), the
// training job (trainingjob.h), adapter packs (adapterpacks.h) and the re-embed of the
// library with a full-mode pack (reembed.h). Include the one you use; this umbrella is
// for the callers that use several.
#include "engine/adapterpacks.h"
#include "engine/reembed.h"
#include "engine/trainingdata.h"
#include "engine/trainingjob.h"
