#include "tessera/store/store.h"

#include <cstdlib>

#include "store/backends.h"

namespace tessera::store {

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& location, bool create) {
  if (internal::IsPostgresLocation(location)) {
    return internal::OpenPostgresStore(location, create);
  }
  return internal::OpenSqliteStore(location, create);
}

std::string DefaultStoreLocation() {
  if (const char* env = std::getenv("TESSERA_STORE"); env != nullptr && *env != '\0') return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/tessera/store.db";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/tessera/store.db";
}

namespace internal {

Status ValidateSnapshot(const std::vector<SnapshotSegment>& segments,
                        const std::vector<SnapshotProfile>& profiles, uint32_t customers) {
  if (segments.empty()) return InvalidArgumentError("a snapshot needs at least one segment");
  int64_t previous = -1;
  for (const auto& p : profiles) {
    if (p.customer >= customers) {
      return InvalidArgumentError("a snapshot profile names customer {} of {}", p.customer,
                                  customers);
    }
    if (static_cast<int64_t>(p.customer) <= previous) {
      return InvalidArgumentError("snapshot profiles are not in increasing customer order at {}",
                                  p.customer);
    }
    if (p.segment >= segments.size()) {
      return InvalidArgumentError("a snapshot profile names segment {} of {}", p.segment,
                                  segments.size());
    }
    previous = p.customer;
  }
  return OkStatus();
}

}  // namespace internal

}  // namespace tessera::store
