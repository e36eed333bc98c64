#pragma once
// The QCoreApplication the Qt-based targets need (image format plugins are found through
// its library paths; unisearch-cli runs with one too). Call from LLVMFuzzerInitialize.

namespace unisearch::fuzz {

void ensureCoreApplication();

} // namespace unisearch::fuzz
