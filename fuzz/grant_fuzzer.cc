// Grants, collaboration files and worker hosts' bindings come from partners: any bytes must give
// a grant (a collaboration, a binding) or an error, never a crash; a grant that parses has one
// canonical form, and a binding writes back to one that parses the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tessera/collab/grant.h"
#include "tessera/collab/party.h"
#include "tessera/collab/worker_host.h"

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
  if (auto binding = tessera::collab::ParseWorkerBinding(text); binding.ok()) {
    auto again = tessera::collab::ParseWorkerBinding(tessera::collab::WorkerBindingJson(*binding));
    if (!again.ok() || !(*again == *binding)) std::abort();
  }
  return 0;
}
