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

}  // namespace tessera::store
