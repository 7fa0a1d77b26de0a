// Segment rule files are user input: any bytes give rules that assign every score
// combination, or an error; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tessera/analytics/segments.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto rules = tessera::analytics::SegmentRules::Parse(text, "fuzz.toml");
  if (rules.ok()) {
    for (uint8_t r = 1; r <= 5; ++r) {
      for (uint8_t f = 1; f <= 5; ++f) {
        for (uint8_t m = 1; m <= 5; ++m) {
          if (rules->Assign(r, f, m) >= rules->rules().size()) std::abort();
        }
      }
    }
  }
  return 0;
}
