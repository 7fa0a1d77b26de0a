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

StatusOr<std::vector<privacy::Uuid>> Store::CustomerPseudonyms() {
  std::vector<privacy::Uuid> out;
  TESSERA_RETURN_IF_ERROR(ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
    if (i >= out.size()) out.resize(i + 1);
    out[i] = u;
  }));
  return out;
}

const Schema& Store::OrderSchema() { return internal::OrderSchema(); }

std::string DefaultStoreLocation() {
  if (const char* env = std::getenv("TESSERA_STORE"); env != nullptr && *env != '\0') return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/tessera/store.db";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/tessera/store.db";
}

}  // namespace tessera::store
