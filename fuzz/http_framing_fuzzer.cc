// What the event loop of `tessera serve` reads of a request before any worker or handler sees
// it (src/server/http/framing.h), from anyone who can connect: any head gives a framing or a
// refusal, never a crash; a framing says only what the head says; a chunked body is complete
// at exactly one place, never earlier on a shorter read, and never beyond its size limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/http/framing.h"

namespace http = tessera::server::http;

namespace {

bool Contains(std::string_view outer, std::string_view inner) {
  return inner.empty() || (inner.data() >= outer.data() &&
                           inner.data() + inner.size() <= outer.data() + outer.size());
}

bool ContainsIgnoreCase(std::string_view text, std::string_view lower) {
  for (size_t i = 0; i + lower.size() <= text.size(); ++i) {
    size_t k = 0;
    while (k < lower.size() && (text[i + k] | 0x20) == lower[k]) ++k;
    if (k == lower.size()) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the body's size limit; the rest is a head, "\r\n\r\n", and a body.
  const size_t max_body = size_t{data[0]} * 97;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t split = text.find("\r\n\r\n");
  const std::string_view head =
      text.substr(0, split == std::string_view::npos ? text.size() : split + 2);
  const std::string_view body =
      split == std::string_view::npos ? std::string_view() : text.substr(split + 4);

  const http::Framing f = http::ParseFraming(head);
  if (!Contains(head, f.token)) std::abort();
  if (f.bad == nullptr) {
    if (f.kind == http::Framing::kLength &&
        (f.length == 0 || !ContainsIgnoreCase(head, "content-length"))) {
      std::abort();
    }
    if (f.kind == http::Framing::kChunked && !ContainsIgnoreCase(head, "transfer-encoding")) {
      std::abort();
    }
  }

  size_t end = 0;
  const http::ChunkScan scan = http::ScanChunked(body, max_body, &end);
  if (scan == http::ChunkScan::kComplete) {
    if (end == 0 || end > body.size()) std::abort();
    // The same body alone is complete at the same place; no shorter read of it is complete.
    size_t again = 0;
    if (http::ScanChunked(body.substr(0, end), max_body, &again) != http::ChunkScan::kComplete ||
        again != end) {
      std::abort();
    }
    for (size_t cut = 0; cut < end; cut += 1 + cut / 8) {
      size_t early = 0;
      if (http::ScanChunked(body.substr(0, cut), max_body, &early) == http::ChunkScan::kComplete) {
        std::abort();
      }
    }
  }
  return 0;
}
