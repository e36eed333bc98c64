#pragma once
// compatibility: remove once callers are switched. model::ModelEngine is now
// model::ModelRunner in model/modelrunner.h; this header only forwards to it.
#include "model/modelrunner.h"
