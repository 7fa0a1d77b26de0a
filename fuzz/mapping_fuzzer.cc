// Mapping files are user input: any bytes must give a Mapping or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tessera/io/mapping.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto mapping = tessera::io::ParseMapping(text, "fuzz.toml");
  if (mapping.ok()) {
    const std::vector<std::string> columns = {"order_id", "customer_id", "ordered_at", "amount",
                                              "1"};
    (void)tessera::io::ResolveMapping(*mapping, columns, ';');
    // As a mapping of people: identifiers and [attributes].
    const std::vector<std::string> people = {"phone",  "Email",    "age_band", "region",
                                             "tariff", "Age Band", "name"};
    (void)tessera::io::ResolvePeopleMapping(*mapping, people);
  }
  return 0;
}
