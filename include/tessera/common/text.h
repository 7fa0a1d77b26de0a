#pragma once

// Small text helpers shared by every module. ASCII-only case rules on purpose: identifiers,
// column names and codes are compared byte-exactly outside A-Z, so UTF-8 text is never
// mangled.

#include <cstdint>
#include <span>
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

// Whether a URL's host (without its port; IPv6 in brackets) is this machine: "localhost", an
// IPv4 address in 127.0.0.0/8 or "[::1]" — parsed, so that "127.example.com" is not.
bool IsLoopbackHost(std::string_view host);
// Removes surrounding ASCII white space (blanks, CR, LF, VT, FF).
std::string_view TrimWhitespace(std::string_view s);

// How a CSV file is written. The default is RFC 4180 (comma, decimal point, English headers,
// no byte order mark), what scripts and English spreadsheets read. kGermanCsv is what German
// Excel opens with a double click and Google Sheets imports under a German locale: `;`
// between cells, a decimal comma, German headers and a UTF-8 byte order mark so that Excel
// reads umlauts as UTF-8.
struct CsvDialect {
  char separator = ',';
  char decimal = '.';
  bool german_headers = false;
  bool byte_order_mark = false;
};
inline constexpr CsvDialect kRfc4180Csv{};
inline constexpr CsvDialect kGermanCsv{';', ',', true, true};

// A CSV cell per RFC 4180: quoted (with doubled quotes) when it holds the dialect's separator,
// a quote or a line break.
std::string CsvEscape(std::string_view s, const CsvDialect& dialect = kRfc4180Csv);
// A CSV cell of free text (names from rule files, labels) for spreadsheets: as CsvEscape, and
// a text starting with = + - @ tab or CR is prefixed with ' so that Excel, Google Sheets or
// LibreOffice never run it as a formula. Not for numbers.
std::string CsvTextCell(std::string_view s, const CsvDialect& dialect = kRfc4180Csv);
// A number already written with a decimal point ("1552515.64", "-0.5", "12") in the dialect:
// the point becomes the dialect's decimal separator. No thousands separators in any dialect,
// so that every spreadsheet reads the cell as a number.
std::string CsvNumber(std::string_view formatted, const CsvDialect& dialect);
// One column of a CSV header: its English and German name.
struct CsvColumn {
  std::string_view en, de;
};
// The header line (with its CRLF) of `columns` in the dialect's language, after the byte order
// mark when the dialect has one.
std::string CsvHeaderLine(std::span<const CsvColumn> columns, const CsvDialect& dialect);

// 1234567 -> "1,234,567".
std::string WithThousands(uint64_t v);

}  // namespace tessera
