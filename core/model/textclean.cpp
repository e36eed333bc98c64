#include "model/textclean.h"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>

namespace unisearch::model {
namespace pyunicode {

std::u32string fromUtf8(std::string_view utf8)
{
    std::u32string out;
    out.reserve(utf8.size());
    // Fast path: ASCII needs no decoding, and queries are mostly ASCII.
    size_t i = 0;
    while (i < utf8.size() && static_cast<unsigned char>(utf8[i]) < 0x80)
        out.push_back(static_cast<char32_t>(utf8[i++]));
    if (i == utf8.size())
        return out;
    const icu::UnicodeString rest = icu::UnicodeString::fromUTF8(
        icu::StringPiece(utf8.data() + i, static_cast<int32_t>(utf8.size() - i)));
    for (int32_t k = 0; k < rest.length();) {
        const UChar32 c = rest.char32At(k);
        out.push_back(static_cast<char32_t>(c));
        k += U16_LENGTH(c);
    }
    return out;
}

void appendUtf8(std::string &out, char32_t c)
{
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        // Lone surrogates cannot come out of fromUtf8; write U+FFFD for safety.
        if (c >= 0xD800 && c <= 0xDFFF)
            c = 0xFFFD;
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c <= 0x10FFFF) {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.append("\xEF\xBF\xBD");
    }
}

std::string toUtf8(std::u32string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (char32_t c : text)
        appendUtf8(out, c);
    return out;
}

std::u32string lower(std::u32string_view text)
{
    std::u32string out;
    const bool ascii = std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; });
    if (ascii) {
        out.assign(text.begin(), text.end());
        for (char32_t &c : out)
            if (c >= U'A' && c <= U'Z')
                c += U'a' - U'A';
        return out;
    }
    // The root locale gives the language-independent full mapping that Python uses
    // (e.g. U+0130 → "i̇", final sigma in context), without Turkish/Lithuanian rules.
    icu::UnicodeString s = icu::UnicodeString::fromUTF32(
        reinterpret_cast<const UChar32 *>(text.data()), static_cast<int32_t>(text.size()));
    s.toLower(icu::Locale::getRoot());
    out.reserve(text.size());
    for (int32_t k = 0; k < s.length();) {
        const UChar32 c = s.char32At(k);
        out.push_back(static_cast<char32_t>(c));
        k += U16_LENGTH(c);
    }
    return out;
}

bool isSpace(char32_t c)
{
    if (c < 0x80)
        return c == U' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    // CPython marks a character as whitespace when its bidirectional class is WS, B or S,
    // or its category is Zs (Tools/unicode/makeunicodedata.py); ask ICU for the same.
    const auto uc = static_cast<UChar32>(c);
    const UCharDirection dir = u_charDirection(uc);
    return dir == U_WHITE_SPACE_NEUTRAL || dir == U_BLOCK_SEPARATOR || dir == U_SEGMENT_SEPARATOR
        || u_charType(uc) == U_SPACE_SEPARATOR;
}

} // namespace pyunicode

namespace {

// The character class [.!"()*#:;~] of both helpers' first re.sub.
bool isStrippedPunct(char32_t c)
{
    switch (c) {
    case U'.': case U'!': case U'"': case U'(': case U')':
    case U'*': case U'#': case U':': case U';': case U'~':
        return true;
    default:
        return false;
    }
}

// ' '.join(text.split(' ')[:maxWords]) when there are more than maxWords words.
void truncateWords(std::u32string &text, int maxWords)
{
    if (maxWords < 0)
        return;
    int words = 1;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != U' ')
            continue;
        if (words == maxWords) {
            text.resize(i);
            return;
        }
        ++words;
    }
    if (maxWords == 0)
        text.clear();
}

} // namespace

std::string preCaption(const std::string &text, int maxWords)
{
    std::u32string s = pyunicode::lower(pyunicode::fromUtf8(text));
    for (char32_t &c : s)
        if (isStrippedPunct(c))
            c = U' ';

    // re.sub(r"\s{2,}", ' ', s): every maximal run of two or more whitespace characters
    // becomes one space; a lone whitespace character (a tab, a newline) stays as it is.
    std::u32string collapsed;
    collapsed.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        if (!pyunicode::isSpace(s[i])) {
            collapsed.push_back(s[i++]);
            continue;
        }
        size_t j = i;
        while (j < s.size() && pyunicode::isSpace(s[j]))
            ++j;
        if (j - i >= 2)
            collapsed.push_back(U' ');
        else
            collapsed.push_back(s[i]);
        i = j;
    }

    // rstrip('\n') then strip(' ').
    while (!collapsed.empty() && collapsed.back() == U'\n')
        collapsed.pop_back();
    const size_t first = collapsed.find_first_not_of(U' ');
    if (first == std::u32string::npos)
        return {};
    const size_t last = collapsed.find_last_not_of(U' ');
    std::u32string stripped = collapsed.substr(first, last - first + 1);

    truncateWords(stripped, maxWords);
    return pyunicode::toUtf8(stripped);
}

std::string preQuestion(const std::string &text, int maxWords)
{
    const std::u32string lowered = pyunicode::lower(pyunicode::fromUtf8(text));
    std::u32string s;
    s.reserve(lowered.size());
    for (char32_t c : lowered)
        if (!isStrippedPunct(c))
            s.push_back(c);
    while (!s.empty() && s.back() == U' ')
        s.pop_back();
    truncateWords(s, maxWords);
    return pyunicode::toUtf8(s);
}

} // namespace unisearch::model
