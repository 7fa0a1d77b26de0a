#pragma once

// Opening a store with every module's tables up to date. Each module keeps its own tables
// and brings them up to date when first used (store/database.h); the binary, which links
// them all, migrates them all when it opens a store, so that a store is upgraded whole by any
// command (and a failing migration is seen at once, not by the first command that needs it).

#include <memory>
#include <span>
#include <string>

#include "tessera/common/status.h"
#include "tessera/store/store.h"

namespace tessera::server {

// The schemas of every module that owns tables, the order system's first.
std::span<const store::Schema* const> AllSchemas();

// Store::Open, then every schema migrated. Errors: Store::Open's, a failing migration's.
StatusOr<std::unique_ptr<store::Store>> OpenStore(const std::string& location, bool create);

}  // namespace tessera::server
