#pragma once
#include <string>

namespace unisearch::index {

std::string faissVersion();

} // namespace unisearch::index
