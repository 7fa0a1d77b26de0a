// Grants and collaboration files come from partners: any bytes must give a grant (or a
// collaboration) or an error, never a crash; a grant that parses has one canonical form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tessera/collab/grant.h"
#include "tessera/collab/party.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto grant = tessera::collab::ParseGrant(text); grant.ok()) {
    // What GrantToJson writes parses back to the same grant.
    auto again = tessera::collab::ParseGrant(tessera::collab::GrantToJson(*grant));
    if (!again.ok() || !(*again == *grant)) std::abort();
  }
  if (auto canonical = tessera::collab::CanonicalizeJson(text); canonical.ok()) {
    auto twice = tessera::collab::CanonicalizeJson(*canonical);
    if (!twice.ok() || *twice != *canonical) std::abort();  // canonical is a fixed point
  }
  (void)tessera::collab::ParseCollaboration(text, "fuzz.toml");
  return 0;
}
