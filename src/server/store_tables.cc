#include "tessera/server/store_tables.h"

#include "server/schedule.h"
#include "tessera/analytics/snapshot_store.h"
#include "tessera/audience/audience_store.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/budget_ledger.h"
#include "tessera/collab/grant.h"
#include "tessera/collab/party.h"
#include "tessera/destinations/destination_store.h"
#include "tessera/server/api_keys.h"
#include "tessera/sources/source_store.h"

namespace tessera::server {

std::span<const store::Schema* const> AllSchemas() {
  static const store::Schema* const kAll[] = {&store::Store::OrderSchema(),
                                              &analytics::SnapshotStore::Schema(),
                                              &ApiKeyStore::Schema(),
                                              &audience::AudienceStore::Schema(),
                                              &collab::PartyStore::Schema(),
                                              &collab::GrantStore::Schema(),
                                              &collab::BudgetLedger::Schema(),
                                              &collab::AuditLog::Schema(),
                                              &sources::SourceStore::Schema(),
                                              &destinations::DestinationStore::Schema(),
                                              &ScheduleSchema()};
  return kAll;
}

StatusOr<std::unique_ptr<store::Store>> OpenStore(const std::string& location, bool create) {
  TESSERA_ASSIGN_OR_RETURN(auto store, store::Store::Open(location, create));
  for (const store::Schema* schema : AllSchemas()) {
    TESSERA_RETURN_IF_ERROR(store->db().Migrate(*schema));
  }
  return store;
}

}  // namespace tessera::server
