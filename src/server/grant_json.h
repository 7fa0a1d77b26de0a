#pragma once

// Grants as the API reads and writes them (docs/api.md, "Collaboration"): a stored grant as
// JSON, and a grant spec from the JSON body of POST /api/v1/collab/grants. Pure functions over
// collab's types; the HTTP handlers are in collab_routes.cc.
//
// Privacy: grants name parties, attribute names and limits, never a customer.
//
// Internal to the server module.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "tessera/collab/grant.h"
#include "tessera/collab/party.h"
#include "tessera/common/status.h"

namespace tessera::server::internal {

// "active", "revoked", "expired" or "not_yet_valid" at `now` (Unix seconds); revoked first.
std::string_view GrantState(const collab::StoredGrant& grant, int64_t now);

// The grant's document (GrantToJson's members, signature included), then "direction"
// ("issued" or "received"), "stored_at", "revoked" (null, or {"at", "reason"}) and "state"
// (GrantState at `now`).
nlohmann::ordered_json StoredGrantJson(const collab::StoredGrant& grant, int64_t now);

// The body of POST /api/v1/collab/grants as the spec of a grant of `self`, created at `now`:
//
//   {"partner": "Telco" | "tp1:...",                     required: the grantee
//    "purpose": "audience_counts",                        required
//    "output_kinds": ["cell_counts"],                     required, non-empty
//    "allowed_fields": ["age_band", "tariff"],            default []
//    "k_min": 100,                                        default collab::kDefaultKMin
//    "differential_privacy": {"epsilon_per_query": "0.5", "budget_per_period": "3"},
//                                                         default none (no noise)
//    "predicates": {"max_breakdown_attributes": 2, "max_category_depth": 2},   default {}
//    "recipients": ["Telco"],                             default [partner]
//    "worker_hosts": ["Frischmarkt"],                     default [self]
//    "attestation_modes": ["simulated"],                  default ["simulated"]
//    "expires": "2026-12-31"  or  "valid_for": "6m"}      default valid_for "90d"
//
// the defaults of `tessera grant create`. Parties are party ids ("tp1:...") or names of
// `collaboration` (nullptr: ids only). A grant lasts from `now` to the end of its last day
// (UTC). Errors: kInvalidArgument with the detail "field" naming the member: an unknown
// member, a wrong type, an unknown purpose, output kind, attestation mode or party, a bad ε,
// date or duration. The rules of collab::ValidateGrantSpec are GrantStore::Create's to check.
StatusOr<collab::GrantSpec> GrantSpecFromJson(const nlohmann::ordered_json& body,
                                              const collab::Collaboration* collaboration,
                                              const collab::PartyId& self, int64_t now);

}  // namespace tessera::server::internal
