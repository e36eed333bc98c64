// libFuzzer target: query/question clean-up (model/textclean.h) and the WordPiece
// tokenizer (model/tokenizer.h) on arbitrary bytes (invalid UTF-8 included), as typed
// queries, training captions and answer lists reach them. The first byte picks the
// word and length limits, the rest is the text; decode() gets ids made from the bytes.
#include "fuzzcheck.h"
#include "fuzzsupport.h"

#include "model/textclean.h"
#include "model/tokenizer.h"

#include <string>
#include <vector>

namespace m = unisearch::model;

namespace {

const m::Tokenizer &tokenizer()
{
    static const m::Tokenizer t =
        m::Tokenizer::fromFile((unisearch::fuzz::sourceDir() / "resources/vocab/bert-base-uncased.txt").string());
    return t;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    (void)tokenizer(); // load once, outside the measured executions
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const int knob = data[0];
    const std::string text(reinterpret_cast<const char *>(data + 1), size - 1);
    const int maxWords = (knob & 0x3f) - 1; // -1 keeps every word
    const int maxLength = (knob >> 6) == 0 ? 0 : 2 + (knob >> 6) * 10;

    const std::string caption = m::preCaption(text, maxWords);
    (void)m::preQuestion(text, maxWords);
    (void)m::pyunicode::toUtf8(m::pyunicode::lower(m::pyunicode::fromUtf8(text)));

    const m::Tokenizer &tok = tokenizer();
    const auto vocab = static_cast<int64_t>(tok.vocabSize());
    (void)tok.tokenize(text);
    for (const std::string *s : {&text, &caption}) {
        const std::vector<int64_t> ids = tok.encode(*s, maxLength, true);
        if (maxLength > 0 && ids.size() != size_t(maxLength))
            unisearch::fuzz::fail("encode with padding did not give maxLength ids", *s);
        for (int64_t id : ids)
            if (id < 0 || id >= vocab)
                unisearch::fuzz::fail("encode gave an id outside the vocabulary", *s);
        (void)tok.decode(ids);
    }
    // Several texts at once (the query batch path), split on newlines.
    std::vector<std::string> lines;
    for (size_t start = 0; start <= text.size() && lines.size() < 16;) {
        const size_t end = text.find('\n', start);
        lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    const m::EncodedBatch batch = tok.encodeBatch(lines, maxLength);
    if (batch.ids.size() != size_t(batch.rows) * size_t(batch.cols) || batch.mask.size() != batch.ids.size())
        unisearch::fuzz::fail("encodeBatch's ids and mask do not match rows × cols", {});
    // Arbitrary ids for decode(): answers come from the model, but an out-of-range id must
    // be an error, never a read past the vocabulary.
    std::vector<int64_t> ids;
    for (size_t i = 1; i + 1 < size && ids.size() < 64; i += 2)
        ids.push_back(((int64_t(data[i]) << 8) | data[i + 1]) - 512);
    try {
        (void)tok.decode(ids);
    } catch (const m::TokenizerError &e) {
        unisearch::fuzz::checkMessage(e.what());
    }
    return 0;
}
