#pragma once

// People with attributes (a mobile operator's subscribers, a CRM extract): files of identifiers
// plus attribute columns, loaded as customers (ingest/people_loader.h) whose attributes the
// audience index and expressions see (`age_band = "25-34"`), written in the same transactions
// as the customers they belong to.
//
// Privacy: as ingest::LoadPeople: identifiers are pseudonymized before anything is written;
// attribute values are kept by customer index (and pseudonym on PostgreSQL).

#include <string>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/ingest/loader.h"
#include "tessera/ingest/people_loader.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/store/store.h"

namespace tessera::audience {

// Loads `files` of people into `store` (ingest::LoadPeople) and their attribute values into the
// audience tables (AudienceStore), refusing a file whose attribute names ValidateAttributeName
// refuses before anything is written. A value replaces the customer's earlier value of the same
// name, whatever source set it (`tessera audience attributes import` too).
// Errors: those of ingest::LoadPeople and AudienceStore.
StatusOr<ingest::PeopleLoadSummary> LoadPeople(store::Store& store, const privacy::OwnerKey& key,
                                               const std::vector<std::string>& files,
                                               const ingest::LoadOptions& options);

}  // namespace tessera::audience
