#pragma once

// How an HTTP/1.1 request's body is delimited (RFC 9112 section 6), read by the event loop of
// `tessera serve` before a worker sees the request: the head's Content-Length or chunked
// Transfer-Encoding, refused when a proxy in front could read it differently (two lengths,
// both kinds, folded lines), and where a chunked body ends. A module of its own (common only)
// so that its fuzz target (fuzz/http_framing_fuzzer.cc) links it without the server.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tessera::server::http {

// A request head longer than this without its end goes to a worker, where cpp-httplib
// answers it (414 or 400) as it always did.
inline constexpr size_t kMaxHeadBytes = 16 << 10;

struct Framing {
  enum Kind { kNone, kLength, kChunked } kind = kNone;
  uint64_t length = 0;
  bool expect_continue = false;
  const char* bad = nullptr;  // why the head is refused, when it is
  std::string_view token;     // the API key of an "Authorization: Bearer" header (in `head`)
};

// `head`: the request line and header lines, each ending in CRLF, up to the empty line.
Framing ParseFraming(std::string_view head);

enum class ChunkScan { kComplete, kIncomplete, kBad, kTooLarge };

// Where a chunked body at the start of `data` ends (*end: one past its last trailer line, set
// on kComplete only); kTooLarge once the chunks' sizes add up to more than `max_body`.
ChunkScan ScanChunked(std::string_view data, size_t max_body, size_t* end);

}  // namespace tessera::server::http
