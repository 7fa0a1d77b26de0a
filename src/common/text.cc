#include "tessera/common/text.h"

#include <arpa/inet.h>

namespace tessera {

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiUpper(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view TrimWhitespace(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string CsvEscape(std::string_view s, const CsvDialect& dialect) {
  const char special[] = {dialect.separator, '"', '\r', '\n'};
  if (s.find_first_of(std::string_view(special, sizeof special)) == std::string_view::npos) {
    return std::string(s);
  }
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string CsvTextCell(std::string_view s, const CsvDialect& dialect) {
  if (!s.empty() &&
      (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r')) {
    return CsvEscape("'" + std::string(s), dialect);
  }
  return CsvEscape(s, dialect);
}

std::string CsvNumber(std::string_view formatted, const CsvDialect& dialect) {
  std::string out(formatted);
  for (char& c : out) {
    if (c == '.') c = dialect.decimal;
  }
  return out;
}

std::string CsvHeaderLine(std::span<const CsvColumn> columns, const CsvDialect& dialect) {
  std::string out = dialect.byte_order_mark ? "\xEF\xBB\xBF" : "";
  bool first = true;
  for (const CsvColumn& c : columns) {
    if (!first) out += dialect.separator;
    first = false;
    out += CsvEscape(dialect.german_headers ? c.de : c.en, dialect);
  }
  return out + "\r\n";
}

std::string WithThousands(uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  const std::string text(host);
  in_addr v4{};
  return ::inet_pton(AF_INET, text.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

}  // namespace tessera
