#include "server/http/framing.h"

#include <cctype>
#include <charconv>
#include <system_error>

namespace tessera::server::http {
namespace {

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view TrimWhitespace(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

Framing ParseFraming(std::string_view head) {
  Framing f;
  bool has_length = false, has_chunked = false;
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const size_t next = head.find("\r\n", at + 2);
    std::string_view line = head.substr(at + 2, next - at - 2);
    at = next;
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      f.bad = "folded header lines are not accepted";
      return f;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // cpp-httplib answers it
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = TrimWhitespace(line.substr(colon + 1));
    auto is = [&](std::string_view n) {
      return name.size() == n.size() && StartsWithIgnoreCase(name, n);
    };
    if (is("content-length")) {
      uint64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size() ||
          value.front() == '+' || value.front() == '-') {
        f.bad = "Content-Length is not a whole number";
        return f;
      }
      // Two different lengths: a proxy in front may have used the other one (smuggling).
      if (has_length && n != f.length) {
        f.bad = "two different Content-Length headers";
        return f;
      }
      has_length = true;
      f.length = n;
    } else if (is("transfer-encoding")) {
      if (value.size() != 7 || !StartsWithIgnoreCase(value, "chunked") || has_chunked) {
        f.bad = "only Transfer-Encoding: chunked is accepted";
        return f;
      }
      has_chunked = true;
    } else if (is("expect")) {
      f.expect_continue = value.size() == 12 && StartsWithIgnoreCase(value, "100-continue");
    } else if (is("authorization") && StartsWithIgnoreCase(value, "bearer ")) {
      f.token = TrimWhitespace(value.substr(7));
    }
  }
  if (has_length && has_chunked) {
    f.bad = "both Content-Length and Transfer-Encoding";
    return f;
  }
  if (has_chunked) f.kind = Framing::kChunked;
  if (has_length && f.length > 0) f.kind = Framing::kLength;
  return f;
}

ChunkScan ScanChunked(std::string_view data, size_t max_body, size_t* end) {
  size_t pos = 0;
  uint64_t total = 0;
  for (;;) {
    const size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      return data.size() - pos > 1024 ? ChunkScan::kBad : ChunkScan::kIncomplete;
    }
    std::string_view size_text = data.substr(pos, eol - pos);
    size_text = TrimWhitespace(size_text.substr(0, size_text.find(';')));
    uint64_t size = 0;
    const auto [p, ec] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (size_text.empty() || size_text.size() > 15 || ec != std::errc() ||
        p != size_text.data() + size_text.size()) {
      return ChunkScan::kBad;
    }
    pos = eol + 2;
    if (size == 0) {
      for (;;) {  // trailer lines up to an empty one
        const size_t e = data.find("\r\n", pos);
        if (e == std::string_view::npos) {
          return data.size() - pos > kMaxHeadBytes ? ChunkScan::kBad : ChunkScan::kIncomplete;
        }
        if (e == pos) {
          *end = pos + 2;
          return ChunkScan::kComplete;
        }
        pos = e + 2;
      }
    }
    total += size;
    if (total > max_body) return ChunkScan::kTooLarge;
    if (data.size() - pos < size + 2) return ChunkScan::kIncomplete;
    if (data.substr(pos + size, 2) != "\r\n") return ChunkScan::kBad;
    pos += size + 2;
  }
}

}  // namespace tessera::server::http
