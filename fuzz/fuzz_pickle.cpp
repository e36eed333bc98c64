// libFuzzer target: the restricted unpickler (model/pickle_p.h) on raw pickle bytes, as it
// reads the data.pkl of a .pth. Expected outcome for hostile input: a CheckpointError with
// a short message; never a crash, a sanitizer report, or memory beyond the fuzzer's limit.
#include "fuzzcheck.h"

#include "model/pickle_p.h"

#include <stdexcept>
#include <string_view>

namespace pk = unisearch::model::pickle;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pk::Unpickler unpickler;
    try {
        const pk::Value *top = unpickler.load(std::string_view(reinterpret_cast<const char *>(data), size));
        // What pth.cpp does next: look up the state dict and read the tensor descriptions.
        if (top) {
            (void)top->find("model");
            (void)top->find("state_dict");
        }
        for (const pk::TensorRef &t : unpickler.tensors()) {
            if (t.storage >= unpickler.storages().size())
                unisearch::fuzz::fail("tensor names a storage that does not exist", {});
            if (t.sizes.size() != t.strides.size())
                unisearch::fuzz::fail("tensor with sizes and strides of different ranks", {});
            if (t.extent < 0)
                unisearch::fuzz::fail("tensor with a negative extent", {});
        }
    } catch (const std::runtime_error &e) { // CheckpointError (statedict_p.h, which needs torch)
        unisearch::fuzz::checkMessage(e.what());
    }
    return 0;
}
