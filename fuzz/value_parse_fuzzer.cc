// Numbers and timestamps come straight from export files. Any bytes parse or fail cleanly,
// and what parses formats back to a value that parses to the same number.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tessera/io/value_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using tessera::io::DecimalMark;
  for (DecimalMark mark : {DecimalMark::kPoint, DecimalMark::kComma}) {
    auto v = tessera::io::ParseDecimal(text, mark, 6);
    if (v.ok()) {
      auto again =
          tessera::io::ParseDecimal(tessera::io::FormatDecimal(*v, 6), DecimalMark::kPoint, 6);
      if (!again.ok() || *again != *v) std::abort();
    }
  }
  static auto iso = tessera::io::TimestampParser::Create("", "UTC");
  static auto pattern = tessera::io::TimestampParser::Create("%d.%m.%Y %H:%M:%S%z", "+01:00");
  (void)iso->Parse(text);
  (void)pattern->Parse(text);
  return 0;
}
