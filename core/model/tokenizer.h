#pragma once
// BERT uncased WordPiece tokenizer, as BLIP/UniAdapter use it: BERT's reference
// BasicTokenizer (clean-up, CJK split, lowercase, accent strip, punctuation split) followed
// by greedy longest-match-first WordPiece, with BLIP's two extra tokens appended after the
// vocabulary: [DEC] (decoder start) and [ENC] (replaces [CLS] when text attends to an image).
//
// Text that looks like a special token ("[SEP]") is tokenized as plain text, as in
// BERT's reference code: user input can never inject control tokens.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace unisearch::model {

inline constexpr const char *kBertBaseUncasedSha256 =
    "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3";

// Ids of the special tokens with the bert-base-uncased vocabulary (checked at load).
inline constexpr int64_t kPadId = 0;
inline constexpr int64_t kUnkId = 100;
inline constexpr int64_t kClsId = 101;
inline constexpr int64_t kSepId = 102;
inline constexpr int64_t kMaskId = 103;
inline constexpr int64_t kDecId = 30522;
inline constexpr int64_t kEncId = 30523;

struct TokenizerError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct TokenizerOptions {
    // Words longer than this many code points become one [UNK]; 0 means no limit.
    // BERT's reference uses 100, but the reference fixture (produced by the code that
    // BLIP/UniAdapter ran) splits a 120-character word into wordpieces, so the default
    // is no limit. Matching stays linear in the word length either way, because no
    // candidate piece is tried that is longer than the longest vocabulary entry.
    int maxInputCharsPerWord = 0;
};

struct EncodedBatch {
    std::vector<int64_t> ids;   // rows × cols, row-major, padded with [PAD] = 0
    std::vector<int64_t> mask;  // 1 for real tokens, 0 for padding
    int rows = 0;
    int cols = 0;
};

class Tokenizer
{
public:
    // Reads a WordPiece vocabulary (one token per line, id = line number) and appends
    // [DEC] and [ENC]. Throws TokenizerError when the file is missing or unreadable, when
    // its sha256 differs from expectedSha256 (an empty string skips the check), or when
    // it lacks [PAD], [UNK], [CLS] or [SEP].
    static Tokenizer fromFile(const std::string &vocabPath,
                              const std::string &expectedSha256 = kBertBaseUncasedSha256,
                              const TokenizerOptions &options = {});

    // Wordpieces, without [CLS]/[SEP]; unknown words are "[UNK]".
    std::vector<std::string> tokenize(const std::string &utf8) const;
    // [CLS] wordpieces [SEP], no truncation, no padding.
    std::vector<int64_t> encode(const std::string &utf8) const;
    // Truncated to maxLength (keeping [SEP] last) and, with padToMax, padded with [PAD]
    // to exactly maxLength. maxLength 0 means no limit; 1 or negative throws TokenizerError.
    std::vector<int64_t> encode(const std::string &utf8, int maxLength, bool padToMax) const;
    // Encodes every text (truncated to maxLength as above) and pads to the longest row
    // when padToLongest (or when maxLength is 0), else to maxLength: queries are short,
    // so padding them to the training length would only cost time.
    EncodedBatch encodeBatch(const std::vector<std::string> &texts, int maxLength,
                             bool padToLongest = true) const;

    // The id of a vocabulary entry; [UNK]'s id for an unknown token.
    int64_t tokenId(std::string_view token) const;
    bool contains(std::string_view token) const;
    // The token of an id; throws TokenizerError when out of range.
    std::string token(int64_t id) const;
    size_t vocabSize() const { return m_tokens.size(); }

    // For answers: the wordpieces joined ("##" pieces glued to their word), special tokens
    // ([PAD] [UNK] [CLS] [SEP] [MASK] [DEC] [ENC]) skipped, and the spaces before
    // punctuation and English contractions removed, as HuggingFace's decode(ids,
    // skip_special_tokens=True) does. Throws TokenizerError for an out-of-range id.
    std::string decode(const std::vector<int64_t> &ids) const;

    int64_t padId() const { return m_padId; }
    int64_t unkId() const { return m_unkId; }
    int64_t clsId() const { return m_clsId; }
    int64_t sepId() const { return m_sepId; }
    int64_t decId() const { return m_decId; }
    int64_t encId() const { return m_encId; }

private:
    Tokenizer() = default;
    void wordpieceIds(const std::u32string &word, std::vector<int64_t> &out) const;
    std::vector<int64_t> wordpieceIds(const std::string &utf8) const;
    bool isSpecial(int64_t id) const;

    // Heterogeneous lookup: WordPiece probes substrings without building std::strings.
    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> m_ids;
    std::vector<std::string> m_tokens;
    TokenizerOptions m_options;
    size_t m_longestToken = 0; // in code points
    int64_t m_padId = kPadId, m_unkId = kUnkId, m_clsId = kClsId, m_sepId = kSepId;
    int64_t m_maskId = -1, m_decId = kDecId, m_encId = kEncId;
};

} // namespace unisearch::model
