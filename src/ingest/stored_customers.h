#pragma once

// The customers a store holds, as a load needs them: each pseudonym's index, the kinds of match
// tokens each has, and the index the next new customer gets. Read once when a load starts (the
// writer lock keeps them current). Internal to the ingest module; not thread-safe.

#include <cstdint>
#include <vector>

#include "ingest/flat_uuid_map.h"
#include "ingest/match_tokens.h"
#include "tessera/store/store.h"

namespace tessera::ingest::internal {

struct StoredCustomers {
  FlatUuidMap index;                 // pseudonym -> store index
  std::vector<KindSet> token_kinds;  // by store index: kinds of match tokens it has
  uint32_t next = 0;                 // the index of the next new customer

  // Reads the customers, and with `with_token_kinds` the kinds of their match tokens.
  // Errors: those of the store's scans.
  Status Read(store::Store& store, bool with_token_kinds) {
    TESSERA_RETURN_IF_ERROR(store.ScanCustomers([&](uint32_t idx, const privacy::Uuid& u) {
      index.Insert(u, idx);
      next = idx + 1;
    }));
    if (!with_token_kinds) return OkStatus();
    return store.ScanMatchTokenKinds([&](uint32_t idx, privacy::IdentifierKind kind) {
      if (token_kinds.size() <= idx) token_kinds.resize(idx + 1, 0);
      token_kinds[idx] |= KindBit(kind);
    });
  }

  KindSet TokenKinds(uint32_t customer) const {
    return customer < token_kinds.size() ? token_kinds[customer] : 0;
  }
};

}  // namespace tessera::ingest::internal
