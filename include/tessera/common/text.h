#pragma once

// Small text helpers shared by every module. ASCII-only case rules on purpose: identifiers,
// column names and codes are compared byte-exactly outside A-Z, so UTF-8 text is never
// mangled.

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

inline char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
std::string AsciiLower(std::string_view s);
std::string AsciiUpper(std::string_view s);

// Compares ASCII letters case-insensitively and every other byte exactly.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

inline bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
// Removes surrounding spaces and tabs.
std::string_view TrimBlanks(std::string_view s);
// Removes surrounding ASCII white space (blanks, CR, LF, VT, FF).
std::string_view TrimWhitespace(std::string_view s);

// A CSV cell per RFC 4180: quoted (with doubled quotes) when it holds a comma, a quote or a
// line break.
std::string CsvEscape(std::string_view s);
// A CSV cell of free text (names from rule files, labels) for spreadsheets: as CsvEscape, and
// a text starting with = + - @ tab or CR is prefixed with ' so that Excel, Google Sheets or
// LibreOffice never run it as a formula. Not for numbers.
std::string CsvTextCell(std::string_view s);

// 1234567 -> "1,234,567".
std::string WithThousands(uint64_t v);

}  // namespace tessera
