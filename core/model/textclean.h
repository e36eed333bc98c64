#pragma once
// Text clean-up exactly as the official BLIP/UniAdapter data/utils.py does it before
// tokenizing, plus the few Python str semantics (lower(), isspace()) it relies on.
// Everything is UTF-8 in and out; invalid UTF-8 sequences read as U+FFFD.
#include <string>
#include <string_view>

namespace unisearch::model {

// pre_caption: lowercase; each of .!"()*#:; and ~ becomes a space; runs of two or more
// whitespace characters become one space; trailing '\n' and surrounding ' ' removed;
// at most maxWords words (split on ' '). A negative maxWords keeps every word.
std::string preCaption(const std::string &text, int maxWords = 30);

// pre_question: lowercase; .!"()*#:; and ~ removed; trailing ' ' removed; at most maxWords
// words. Unlike pre_caption it neither collapses whitespace nor strips leading spaces,
// and '-' and '/' stay (the official BLIP/UniAdapter version; some forks differ).
std::string preQuestion(const std::string &text, int maxWords = 50);

// Python-compatible Unicode helpers (ICU underneath), shared with the tokenizer so that
// both follow the reference code's Python semantics.
namespace pyunicode {

std::u32string fromUtf8(std::string_view utf8);  // invalid sequences → U+FFFD
std::string toUtf8(std::u32string_view text);
// One code point of toUtf8: lone surrogates and values past U+10FFFF → U+FFFD.
void appendUtf8(std::string &out, char32_t c);
// str.lower(): full (one-to-many) case mapping with the final-sigma rule, no locale.
std::u32string lower(std::u32string_view text);
// str.isspace() and the `\s` of Python 3's re for str patterns.
bool isSpace(char32_t c);

} // namespace pyunicode
} // namespace unisearch::model
