#include "model/tokenizer.h"

#include "model/sha256.h"
#include "model/textclean.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace unisearch::model {
namespace {

// BERT's definition of a "Chinese character": the CJK Unified Ideographs blocks and their
// extensions plus the compatibility ideographs. Hangul, kana and full-width Latin are not
// in it (BERT's own comment explains: those languages write spaces between words).
bool isCjk(char32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)
        || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F)
        || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF)
        || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Tab, newline and carriage return are whitespace, not control, for BERT; every other
// character of a C* category (Cc, Cf, Cs, Co, Cn) is dropped, as the reference's
// category.startswith("C") does.
bool isControl(char32_t c)
{
    if (c == U'\t' || c == U'\n' || c == U'\r')
        return false;
    return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_C_MASK) != 0;
}

bool isBertWhitespace(char32_t c)
{
    if (c == U' ' || c == U'\t' || c == U'\n' || c == U'\r')
        return true;
    return u_charType(static_cast<UChar32>(c)) == U_SPACE_SEPARATOR;
}

// All non-alphanumeric ASCII counts as punctuation ("^", "$", "`" are symbols in Unicode
// but BERT splits them too), plus every Unicode P* category.
bool isPunctuation(char32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96)
        || (c >= 123 && c <= 126))
        return true;
    return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_P_MASK) != 0;
}

const icu::Normalizer2 &nfd()
{
    static const icu::Normalizer2 *instance = [] {
        UErrorCode status = U_ZERO_ERROR;
        const icu::Normalizer2 *n = icu::Normalizer2::getNFDInstance(status);
        if (U_FAILURE(status) || !n)
            throw TokenizerError(std::string("ICU NFD normaliser unavailable: ")
                                 + u_errorName(status));
        return n;
    }();
    return *instance;
}

// token.lower() then NFD without Mn marks, as BERT's uncased BasicTokenizer does per word.
std::u32string lowerStripAccents(const std::u32string &word)
{
    std::u32string out = pyunicode::lower(word);
    if (std::all_of(out.begin(), out.end(), [](char32_t c) { return c < 0x80; }))
        return out;
    const icu::UnicodeString s = icu::UnicodeString::fromUTF32(
        reinterpret_cast<const UChar32 *>(out.data()), static_cast<int32_t>(out.size()));
    out.clear();
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString decomposed = nfd().normalize(s, status);
    if (U_FAILURE(status))
        throw TokenizerError(std::string("ICU NFD normalisation failed: ") + u_errorName(status));
    out.reserve(static_cast<size_t>(decomposed.length()));
    for (int32_t k = 0; k < decomposed.length();) {
        const UChar32 c = decomposed.char32At(k);
        if (u_charType(c) != U_NON_SPACING_MARK)
            out.push_back(static_cast<char32_t>(c));
        k += U16_LENGTH(c);
    }
    return out;
}

void appendWhitespaceSplit(const std::u32string &text, std::vector<std::u32string> &out)
{
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && pyunicode::isSpace(text[i]))
            ++i;
        size_t j = i;
        while (j < text.size() && !pyunicode::isSpace(text[j]))
            ++j;
        if (j > i)
            out.emplace_back(text, i, j - i);
        i = j;
    }
}

// BERT's BasicTokenizer: the words that WordPiece then splits.
std::vector<std::u32string> basicTokens(const std::string &utf8)
{
    const std::u32string text = pyunicode::fromUtf8(utf8);
    std::u32string cleaned;
    cleaned.reserve(text.size() + 8);
    for (char32_t c : text) {
        if (c == 0 || c == 0xFFFD || isControl(c))
            continue;
        if (isBertWhitespace(c)) {
            cleaned.push_back(U' ');
        } else if (isCjk(c)) {
            cleaned.push_back(U' ');
            cleaned.push_back(c);
            cleaned.push_back(U' ');
        } else {
            cleaned.push_back(c);
        }
    }

    std::vector<std::u32string> words;
    appendWhitespaceSplit(cleaned, words);

    std::vector<std::u32string> tokens;
    tokens.reserve(words.size() * 2);
    std::u32string piece;
    for (const std::u32string &word : words) {
        const std::u32string folded = lowerStripAccents(word);
        // The reference re-splits " ".join(pieces) on whitespace; doing it per piece is the same.
        piece.clear();
        for (char32_t c : folded) {
            if (isPunctuation(c)) {
                appendWhitespaceSplit(piece, tokens);
                piece.clear();
                tokens.emplace_back(1, c);
            } else {
                piece.push_back(c);
            }
        }
        appendWhitespaceSplit(piece, tokens);
    }
    return tokens;
}

size_t codePointCount(std::string_view utf8)
{
    return static_cast<size_t>(std::count_if(utf8.begin(), utf8.end(), [](char ch) {
        return (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    }));
}

void replaceAll(std::string &s, std::string_view from, std::string_view to)
{
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    for (;;) {
        const size_t hit = s.find(from, pos);
        if (hit == std::string::npos)
            break;
        out.append(s, pos, hit - pos);
        out.append(to);
        pos = hit + from.size();
    }
    out.append(s, pos, std::string::npos);
    s = std::move(out);
}

} // namespace

Tokenizer Tokenizer::fromFile(const std::string &vocabPath, const std::string &expectedSha256,
                              const TokenizerOptions &options)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(vocabPath, ec))
        throw TokenizerError("vocabulary file not found: " + vocabPath);

    if (!expectedSha256.empty()) {
        std::string actual;
        try {
            actual = sha256File(vocabPath);
        } catch (const std::exception &e) {
            throw TokenizerError(std::string("cannot read vocabulary: ") + e.what());
        }
        std::string expected = expectedSha256;
        std::transform(expected.begin(), expected.end(), expected.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (actual != expected)
            throw TokenizerError("vocabulary " + vocabPath + " has sha256 " + actual
                                 + " but " + expected
                                 + " was expected (bert-base-uncased WordPiece vocabulary);"
                                   " replace the file with the original");
    }

    std::ifstream in(vocabPath, std::ios::binary);
    if (!in)
        throw TokenizerError("cannot open vocabulary " + vocabPath);

    Tokenizer t;
    t.m_options = options;
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
            line.pop_back();
        const auto id = static_cast<int64_t>(t.m_tokens.size());
        // A duplicate line keeps the later id, as the reference's dict assignment does.
        t.m_ids[line] = id;
        t.m_longestToken = std::max(t.m_longestToken, codePointCount(line));
        t.m_tokens.push_back(std::move(line));
        line.clear();
    }
    if (in.bad())
        throw TokenizerError("error while reading vocabulary " + vocabPath);

    auto require = [&](const char *name) {
        const auto it = t.m_ids.find(std::string_view(name));
        if (it == t.m_ids.end())
            throw TokenizerError("vocabulary " + vocabPath + " has no " + name + " token");
        return it->second;
    };
    t.m_padId = require("[PAD]");
    t.m_unkId = require("[UNK]");
    t.m_clsId = require("[CLS]");
    t.m_sepId = require("[SEP]");
    if (const auto it = t.m_ids.find(std::string_view("[MASK]")); it != t.m_ids.end())
        t.m_maskId = it->second;

    // BLIP adds [DEC] as bos_token and [ENC] as an additional special token; a token that
    // is already in the vocabulary keeps its id, as HuggingFace's add_special_tokens does.
    auto addSpecial = [&](const char *name) {
        if (const auto it = t.m_ids.find(std::string_view(name)); it != t.m_ids.end())
            return it->second;
        const auto id = static_cast<int64_t>(t.m_tokens.size());
        t.m_ids.emplace(name, id);
        t.m_tokens.emplace_back(name);
        return id;
    };
    t.m_decId = addSpecial("[DEC]");
    t.m_encId = addSpecial("[ENC]");
    t.m_longestToken = std::max<size_t>(t.m_longestToken, 1);
    return t;
}

void Tokenizer::wordpieceIds(const std::u32string &word, std::vector<int64_t> &out) const
{
    const size_t n = word.size();
    if (n == 0)
        return;
    if (m_options.maxInputCharsPerWord > 0 && n > static_cast<size_t>(m_options.maxInputCharsPerWord)) {
        out.push_back(m_unkId);
        return;
    }
    std::string bytes;
    bytes.reserve(n * 2);
    std::vector<size_t> offsets(n + 1);
    for (size_t i = 0; i < n; ++i) {
        offsets[i] = bytes.size();
        pyunicode::appendUtf8(bytes, word[i]);
    }
    offsets[n] = bytes.size();

    const size_t mark = out.size();
    std::string probe;
    size_t start = 0;
    while (start < n) {
        // Greedy longest match first; no piece can be longer than the longest entry.
        size_t end = std::min(n, start + m_longestToken);
        int64_t found = -1;
        for (; end > start; --end) {
            const std::string_view sub(bytes.data() + offsets[start], offsets[end] - offsets[start]);
            decltype(m_ids)::const_iterator it;
            if (start > 0) {
                probe.assign("##");
                probe.append(sub);
                it = m_ids.find(std::string_view(probe));
            } else {
                it = m_ids.find(sub);
            }
            if (it != m_ids.end()) {
                found = it->second;
                break;
            }
        }
        if (found < 0) {
            // A word that cannot be covered entirely becomes a single [UNK].
            out.resize(mark);
            out.push_back(m_unkId);
            return;
        }
        out.push_back(found);
        start = end;
    }
}

std::vector<int64_t> Tokenizer::wordpieceIds(const std::string &utf8) const
{
    std::vector<int64_t> ids;
    for (const std::u32string &word : basicTokens(utf8))
        wordpieceIds(word, ids);
    return ids;
}

std::vector<std::string> Tokenizer::tokenize(const std::string &utf8) const
{
    std::vector<std::string> out;
    for (int64_t id : wordpieceIds(utf8))
        out.push_back(m_tokens[static_cast<size_t>(id)]);
    return out;
}

std::vector<int64_t> Tokenizer::encode(const std::string &utf8) const
{
    return encode(utf8, 0, false);
}

std::vector<int64_t> Tokenizer::encode(const std::string &utf8, int maxLength, bool padToMax) const
{
    if (maxLength < 0 || maxLength == 1)
        throw TokenizerError("maxLength must be 0 (no limit) or at least 2 for [CLS] and [SEP], got "
                             + std::to_string(maxLength));
    const std::vector<int64_t> pieces = wordpieceIds(utf8);
    size_t keep = pieces.size();
    if (maxLength > 0)
        keep = std::min(keep, static_cast<size_t>(maxLength) - 2);
    std::vector<int64_t> ids;
    ids.reserve(maxLength > 0 && padToMax ? static_cast<size_t>(maxLength) : keep + 2);
    ids.push_back(m_clsId);
    ids.insert(ids.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(keep));
    ids.push_back(m_sepId);
    if (padToMax && maxLength > 0)
        ids.resize(static_cast<size_t>(maxLength), m_padId);
    return ids;
}

EncodedBatch Tokenizer::encodeBatch(const std::vector<std::string> &texts, int maxLength,
                                    bool padToLongest) const
{
    std::vector<std::vector<int64_t>> rows;
    rows.reserve(texts.size());
    size_t longest = 0;
    for (const std::string &text : texts) {
        rows.push_back(encode(text, maxLength, false));
        longest = std::max(longest, rows.back().size());
    }
    const size_t cols = (padToLongest || maxLength == 0) ? longest : static_cast<size_t>(maxLength);

    EncodedBatch batch;
    batch.rows = static_cast<int>(rows.size());
    batch.cols = static_cast<int>(cols);
    batch.ids.assign(rows.size() * cols, m_padId);
    batch.mask.assign(rows.size() * cols, 0);
    for (size_t r = 0; r < rows.size(); ++r) {
        std::copy(rows[r].begin(), rows[r].end(), batch.ids.begin() + static_cast<std::ptrdiff_t>(r * cols));
        std::fill_n(batch.mask.begin() + static_cast<std::ptrdiff_t>(r * cols), rows[r].size(), 1);
    }
    return batch;
}

int64_t Tokenizer::tokenId(std::string_view token) const
{
    const auto it = m_ids.find(token);
    return it == m_ids.end() ? m_unkId : it->second;
}

bool Tokenizer::contains(std::string_view token) const
{
    return m_ids.find(token) != m_ids.end();
}

std::string Tokenizer::token(int64_t id) const
{
    if (id < 0 || static_cast<size_t>(id) >= m_tokens.size())
        throw TokenizerError("token id " + std::to_string(id) + " is outside the vocabulary (size "
                             + std::to_string(m_tokens.size()) + ")");
    return m_tokens[static_cast<size_t>(id)];
}

bool Tokenizer::isSpecial(int64_t id) const
{
    return id == m_padId || id == m_unkId || id == m_clsId || id == m_sepId || id == m_maskId
        || id == m_decId || id == m_encId;
}

std::string Tokenizer::decode(const std::vector<int64_t> &ids) const
{
    std::string text;
    for (int64_t id : ids) {
        const std::string piece = token(id);
        if (isSpecial(id))
            continue;
        if (!text.empty())
            text.push_back(' ');
        text += piece;
    }
    replaceAll(text, " ##", "");
    // clean_up_tokenization of HuggingFace, applied in its order.
    static constexpr std::pair<std::string_view, std::string_view> kCleanUps[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto &[from, to] : kCleanUps)
        replaceAll(text, from, to);
    return text;
}

} // namespace unisearch::model
