// libFuzzer target: a whole .pth checkpoint (zip archive + restricted unpickler + tensor
// storages) through loadPth, as `model import` reads one. Only CheckpointError may leave
// the reader, with a short message.
#include "fuzzcheck.h"
#include "fuzzsupport.h"

#include "model/statedict_p.h"

#include <exception>
#include <map>
#include <string>
#include <typeinfo>

namespace m = unisearch::model;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const auto path = unisearch::fuzz::writeInput("input.pth", data, size);
    try {
        std::map<std::string, std::string> metadata;
        const m::StateDict dict = m::loadPth(path.string(), &metadata);
        for (const auto &[name, tensor] : dict.tensors())
            (void)tensor.numel();
    } catch (const m::CheckpointError &e) {
        unisearch::fuzz::checkMessage(e.what());
    } catch (const std::exception &e) {
        unisearch::fuzz::fail(typeid(e).name(), e.what()); // not CheckpointError: an unplanned path
    }
    return 0;
}
