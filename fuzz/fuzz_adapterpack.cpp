// libFuzzer target: adapter packs (model/adapterpack.h) as `adapters import` and the
// window's import read one: readPack (safetensors + metadata checks), the architecture
// and metrics JSON a pack carries, and the base-model check. Only PackError may leave
// readPack and checkPackFits; Architecture::fromJson documents std::runtime_error.
#include "fuzzcheck.h"
#include "fuzzsupport.h"

#include "model/adapterpack.h"
#include "model/architecture.h"

#include <nlohmann/json.hpp>

#include <exception>
#include <typeinfo>

namespace m = unisearch::model;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const auto path = unisearch::fuzz::writeInput("input.safetensors", data, size);
    m::PackInfo pack;
    try {
        pack = m::readPack(path.string());
    } catch (const m::PackError &e) {
        unisearch::fuzz::checkMessage(e.what());
        return 0;
    } catch (const std::exception &e) {
        unisearch::fuzz::fail(typeid(e).name(), e.what());
    }
    // Parsing JSON nested without bound would recurse without bound: the depth limit is
    // the parser's callback here, as anyone reading these values should do.
    const auto parse = [](const std::string &text) {
        return nlohmann::json::parse(
            text,
            [](int depth, nlohmann::json::parse_event_t, nlohmann::json &) { return depth <= 64; },
            false);
    };
    const nlohmann::json architecture = parse(pack.metadata.architectureJson);
    if (architecture.is_object()) {
        try {
            (void)m::Architecture::fromJson(architecture);
        } catch (const std::runtime_error &e) {
            unisearch::fuzz::checkMessage(e.what());
        }
    }
    (void)parse(pack.metadata.metricsJson);
    try {
        m::checkPackFits(pack, std::string(64, '0'), "base");
    } catch (const m::PackError &e) {
        unisearch::fuzz::checkMessage(e.what());
    }
    return 0;
}
