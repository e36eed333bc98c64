// Text and JSON read from files a person gives us, made safe for messages and parsers.
// No LibTorch: the executables use it (model.json, adapter pack metadata) without loading it.
#include "fileinput_p.h"

#include <algorithm>

namespace unisearch::model {

void detail::swapBytes(void *data, int64_t count, int64_t elementSize)
{
    if (elementSize <= 1)
        return;
    auto *p = static_cast<unsigned char *>(data);
    for (int64_t i = 0; i < count; ++i, p += elementSize)
        std::reverse(p, p + elementSize);
}

std::string detail::excerpt(std::string_view text, size_t most)
{
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : text.substr(0, most)) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7f && b != '\\') {
            out += c;
        } else {
            out += "\\x";
            out += digits[b >> 4];
            out += digits[b & 15];
        }
    }
    if (text.size() > most)
        out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

std::string detail::jsonExcerpt(const nlohmann::json &value, size_t most)
{
    // Depth is bounded by parseJson, so dump() cannot recurse far; invalid UTF-8 (a value
    // built by hand) is replaced rather than thrown.
    return excerpt(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), most);
}

namespace {

// "[json.exception.parse_error.101] parse error at ..." → "parse error at ..."
std::string_view withoutId(std::string_view message)
{
    const size_t end = message.starts_with("[json.exception.") ? message.find("] ") : std::string_view::npos;
    return end == std::string_view::npos ? message : message.substr(end + 2);
}

} // namespace

nlohmann::json detail::parseJson(std::string_view text, int maxDepth)
{
    // Counted on the text before parsing (nlohmann's parser callback also sees the depth,
    // but its DOM builder then rescans every parent object at each object's end: quadratic,
    // 200 s for a header of 100,000 tensors). Strings are skipped; for text that is not JSON
    // the count may be off, and the parser, which does not recurse, rejects it anyway.
    int depth = 0;
    bool inString = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                inString = false;
        } else if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            if (++depth > maxDepth)
                throw CheckpointError("it nests arrays or objects more than " + std::to_string(maxDepth)
                                      + " levels deep (at byte " + std::to_string(i) + ")");
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    try {
        return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception &e) {
        // e.what() quotes the token it stopped at, which may be megabytes long.
        throw CheckpointError("it is not valid JSON (" + excerpt(withoutId(e.what()), 160) + ")");
    }
}

} // namespace unisearch::model
