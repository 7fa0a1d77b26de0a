// Phone numbers come straight from export files. Any bytes normalize to E.164 or fail cleanly,
// in every way the mapping may read them, and a result normalizes to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tessera/privacy/pseudonymizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using tessera::privacy::PhoneDefaults;
  static const PhoneDefaults kDefaults[] = {
      PhoneDefaults{},
      PhoneDefaults{*tessera::io::FindPhoneCountry("DE"), false},
      PhoneDefaults{*tessera::io::FindPhoneCountry("HU"), true},
      PhoneDefaults{*tessera::io::FindPhoneCountry("IT"), false},
      PhoneDefaults{*tessera::io::FindPhoneCountry("225"), true},
  };
  for (const PhoneDefaults& d : kDefaults) {
    auto e164 = tessera::privacy::NormalizePhone(text, d);
    if (!e164.ok()) continue;
    const std::string& n = *e164;
    if (n.size() < 9 || n.size() > 16 || n[0] != '+' || n[1] == '0') std::abort();
    for (size_t i = 1; i < n.size(); ++i) {
      if (n[i] < '0' || n[i] > '9') std::abort();
    }
    auto again = tessera::privacy::NormalizePhone(n, d);
    if (!again.ok() || *again != n) std::abort();
  }
  return 0;
}
