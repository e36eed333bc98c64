// libFuzzer target: .safetensors files through loadSafetensors (header JSON, dtypes,
// offsets) and through mapSafetensors, which must accept exactly the same files and give
// the same bytes; then the writer on what was read: a file we accept and can write back
// must survive our own save/load round trip with the same names and metadata.
#include "fuzzcheck.h"
#include "fuzzsupport.h"

#include "model/statedict_p.h"

#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <typeinfo>

namespace m = unisearch::model;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const auto path = unisearch::fuzz::writeInput("input.safetensors", data, size);
    std::map<std::string, std::string> metadata;
    m::StateDict dict;
    try {
        dict = m::loadSafetensors(path.string(), &metadata);
    } catch (const m::CheckpointError &e) {
        unisearch::fuzz::checkMessage(e.what());
        return 0;
    } catch (const std::exception &e) {
        unisearch::fuzz::fail(typeid(e).name(), e.what());
    }
    try {
        std::map<std::string, std::string> mappedMetadata;
        const m::StateDict mapped = m::mapSafetensors(path.string(), &mappedMetadata);
        if (mapped.keys() != dict.keys() || mappedMetadata != metadata)
            unisearch::fuzz::fail("the mapped reader read other names or metadata", {});
        for (const std::string &name : dict.keys()) {
            const torch::Tensor a = dict.get(name).contiguous(), b = mapped.get(name).contiguous();
            if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()
                || (a.nbytes() != 0 && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) != 0))
                unisearch::fuzz::fail("the mapped reader read other values for", name);
        }
    } catch (const m::CheckpointError &e) {
        unisearch::fuzz::fail("the mapped reader refused a file the reader accepts", e.what());
    }
    const auto copy = unisearch::fuzz::scratchDir() / "roundtrip.safetensors";
    try {
        m::saveSafetensors(copy.string(), dict, metadata);
    } catch (const m::CheckpointError &e) {
        // The writer may refuse what the reader tolerates; it must say so briefly.
        unisearch::fuzz::checkMessage(e.what());
        return 0;
    }
    try {
        std::map<std::string, std::string> metadata2;
        const m::StateDict dict2 = m::loadSafetensors(copy.string(), &metadata2);
        if (dict2.keys() != dict.keys())
            unisearch::fuzz::fail("round trip changed the tensor names", {});
        // The writer may add its own keys ("format"); every key read must come back as read.
        for (const auto &[key, value] : metadata) {
            auto it = metadata2.find(key);
            if (it == metadata2.end() || it->second != value)
                unisearch::fuzz::fail("round trip changed the metadata key", key);
        }
    } catch (const std::exception &e) {
        unisearch::fuzz::fail("round trip of an accepted file failed", e.what());
    }
    return 0;
}
