// Strings that come from plugins, files or the command line are data. These helpers
// make them safe where they go: a terminal, a shell line, a path component.
#pragma once

#include <string>
#include <string_view>

namespace bncheck {

// s with control characters (C0, DEL, C1), escape sequences and invalid UTF-8 shown as
// \xNN, cut to at most max_bytes (then "... (N bytes)"): safe on a terminal and in
// JSON, and short. Idempotent: printable(printable(s)) == printable(s) when not cut.
std::string printable(std::string_view s, size_t max_bytes = 400);

// s single-quoted for a POSIX shell, embedded quotes escaped.
std::string shell_quote(std::string_view s);

// s as one shell word: unchanged when it holds only [A-Za-z0-9_./=,:@%+-] (and is not
// empty), else single-quoted with embedded quotes escaped. Pasting the result into a
// POSIX shell gives back s.
std::string shell_word(std::string_view s);

// A plugin or backend name: 1..64 characters of [A-Za-z0-9_-] (include/bncheck/plugin.h).
bool valid_backend_name(std::string_view s);

// The longest valid UTF-8 prefix decoding of s: each invalid byte is replaced by U+FFFD.
std::string valid_utf8(std::string_view s);

}  // namespace bncheck
