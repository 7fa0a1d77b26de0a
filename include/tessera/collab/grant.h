#pragma once

// Grants: what a data owner allows one partner to do with its data, for one purpose, signed by
// the owner's party key (party.h). A grant travels as one JSON object:
//
//   {"allowed_fields":["age_band","region"],"attestation_modes":["simulated","sgx-dcap"],
//    "created_at":"2026-01-05T09:30:00Z",
//    "differential_privacy":{"budget_per_period":"3","epsilon_per_query":"0.5","period":"month"},
//    "expires":"2026-07-01T00:00:00Z","grant_id":"g_4f2a9c01d3b7e655",
//    "grantee":"tp1:<64 hex>","grantor":"tp1:<64 hex>","k_min":100,
//    "not_before":"2026-01-05T00:00:00Z","output_kinds":["audience_count","cell_counts"],
//    "predicates":{"max_breakdown_attributes":2,"max_category_depth":2},
//    "purpose":"audience_counts","recipients":["tp1:<64 hex>"],
//    "signature":"<128 hex>","type":"tessera.grant.v1","worker_hosts":["tp1:<64 hex>"]}
//
// Every field is required but "differential_privacy" (absent: the owner asks for no noise)
// and the keys of "predicates" (absent: no limit of that kind). No other field is accepted.
// The signature is Ed25519 by the grantor's party key over the canonical JSON (RFC 8785,
// JCS) of every other field, "type" included, so that a grant's signature can be valid for
// nothing but a grant. Numbers are integers only (no floats, so JCS's number rules reduce to
// decimal digits); ε travels as an exact decimal string in its shortest form ("0.5", as
// FormatEpsilon of epsilon.h writes it) and is held as an integer count of micro-ε
// (500000). Attestation modes are audit_log.h's, "none" excepted: a grant accepts
// "simulated" and "sgx-dcap" only.
//
// "The strictest grant wins": CombineGrants turns the grants that apply to one request
// (possibly from several owners) into one effective policy, or refuses with a reason.
//
// Privacy: a grant names parties, attribute names and limits, never a customer or a value of
// personal data.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/collab/attestation.h"
#include "tessera/collab/epsilon.h"
#include "tessera/collab/party.h"
#include "tessera/common/status.h"
#include "tessera/store/database.h"

namespace tessera::collab {

inline constexpr std::string_view kGrantType = "tessera.grant.v1";
// The minimum cell size when a grant creator gives none: one policy with the export minimum.
inline constexpr int64_t kDefaultKMin = 100;
// The largest grant document ParseGrant reads.
inline constexpr size_t kMaxGrantBytes = 64 * 1024;

// What a grant allows the partner to do.
enum class Purpose { kOverlap, kAudienceCounts, kActivation, kCampaignMeasurement };
// "overlap", "audience_counts", "activation", "campaign_measurement".
std::string_view PurposeName(Purpose purpose);
// Errors: kInvalidArgument for any other text.
StatusOr<Purpose> ParsePurpose(std::string_view name);

// The forms in which results may leave.
enum class OutputKind {
  kOverlapSize,     // "overlap_size": how many customers both parties have
  kAudienceCount,   // "audience_count": the size of a joint audience
  kCellCounts,      // "cell_counts": a joint audience broken down by up to two attributes
  kActivationList,  // "activation_list": the members, to the party that owns them (activation)
};
std::string_view OutputKindName(OutputKind kind);
// Errors: kInvalidArgument for any other text.
StatusOr<OutputKind> ParseOutputKind(std::string_view name);

// Differential privacy the owner asks for: the noise of each query is calibrated to
// ε = epsilon_per_query_micro / 10^6, and the queries of one period together spend at most
// budget_per_period_micro.
struct DpPolicy {
  int64_t epsilon_per_query_micro = 0;  // > 0, at most kMaxMicroEpsilon
  int64_t budget_per_period_micro = 0;  // >= epsilon_per_query_micro, at most kMaxMicroEpsilon
  // The period of the budget: "month" (calendar month, UTC) is the only one so far.
  std::string period = "month";

  friend bool operator==(const DpPolicy&, const DpPolicy&) = default;
};

// Limits on how the allowed fields may be used; nullopt: no limit of that kind.
struct GrantPredicates {
  std::optional<int64_t> max_category_depth{};        // 1..16 levels of the category tree
  std::optional<int64_t> max_breakdown_attributes{};  // 0..2 attributes to break counts down by

  friend bool operator==(const GrantPredicates&, const GrantPredicates&) = default;
};

// What the grantor decides. Sets are vectors without duplicates; IssueGrant sorts them.
struct GrantSpec {
  PartyId grantor;  // the data owner
  PartyId grantee;  // the partner allowed to ask
  Purpose purpose = Purpose::kOverlap;
  // Attribute names ([a-z][a-z0-9_]{0,63}) the partner may use in expressions and breakdowns;
  // may be empty (an overlap needs none).
  std::vector<std::string> allowed_fields{};
  GrantPredicates predicates{};
  std::vector<OutputKind> output_kinds{};  // non-empty
  int64_t k_min = kDefaultKMin;            // 2..10^9: smaller cells are dropped
  std::optional<DpPolicy> differential_privacy{};
  std::vector<PartyId> recipients{};                 // non-empty: who may receive results
  std::vector<PartyId> worker_hosts{};               // non-empty: where the join worker may run
  std::vector<AttestationMode> attestation_modes{};  // non-empty, never kNone
  int64_t not_before = 0;                            // Unix seconds, UTC
  int64_t expires = 0;                               // Unix seconds, after not_before

  friend bool operator==(const GrantSpec&, const GrantSpec&) = default;
};

// A signed grant. Value type.
struct Grant {
  std::string id;  // "g_" + 16 lowercase hex digits, random
  GrantSpec spec;
  int64_t created_at = 0;  // Unix seconds, UTC
  Signature signature{};

  friend bool operator==(const Grant&, const Grant&) = default;
};

// Errors: kInvalidArgument naming the first rule `spec` breaks (the detail "field" names the
// field): an attribute name, an empty or duplicated set, k_min out of range, ε not above 0 or
// above kMaxMicroEpsilon, a budget below ε, an unknown period, the attestation mode "none", grantor
// = grantee, expires not after not_before, "activation_list" under a purpose other than activation,
// a predicate out of range.
Status ValidateGrantSpec(const GrantSpec& spec);

// A fresh grant id from libsodium's CSPRNG. Errors: kInternal if libsodium cannot initialize.
StatusOr<std::string> NewGrantId();

// Signs `spec` as the grant `id` created at `created_at`, its sets sorted. Pure (the id and the
// time come from the caller). Errors: those of ValidateGrantSpec; kInvalidArgument when `key`
// is not the grantor's or `id` is malformed.
StatusOr<Grant> IssueGrant(const GrantSpec& spec, const PartyKey& key, int64_t created_at,
                           std::string id);

// The bytes the grantor signs: the canonical JSON of every field but "signature".
std::string SignedGrantBytes(const Grant& grant);
// The grant's document: the canonical JSON of every field, "signature" included.
std::string GrantToJson(const Grant& grant);

// Parses a grant document strictly. Errors: kInvalidArgument, the message "grant: FIELD:
// reason" with the detail "field" (JSON syntax or a document above kMaxGrantBytes, a
// duplicated key, an unknown or missing field, a wrong type, a value out of range or not in
// its list, an ε not written in its shortest form, and the rules of ValidateGrantSpec). Does
// not check the signature: see VerifyGrant.
StatusOr<Grant> ParseGrant(std::string_view json_text);

// Checks that `grant` is signed by `grantor`, whose id the caller knows from elsewhere (the
// collaboration file). Errors: kInvalidArgument when the grant names another grantor or the
// signature does not verify (a changed field, a forged or damaged signature).
Status VerifyGrant(const Grant& grant, const PartyId& grantor);

// RFC 8785 (JCS) for the JSON this module signs: objects (members sorted by their names' UTF-16
// code units), arrays, strings (escaped as ECMAScript's JSON.stringify does, other characters
// as UTF-8), integers in I-JSON's exact range (|n| <= 2^53 - 1), true, false and null.
// Errors: kInvalidArgument for bad JSON, a duplicated member name, a fraction or exponent, an
// integer out of that range.
StatusOr<std::string> CanonicalizeJson(std::string_view json_text);

// "YYYY-MM-DDTHH:MM:SSZ" (UTC, seconds, nothing else) as Unix seconds; years 1970 to 9999.
// Errors: kInvalidArgument for any other form or an impossible date or time.
StatusOr<int64_t> ParseGrantTime(std::string_view iso);

// --- Stored grants

enum class GrantDirection { kIssued, kReceived };
// "issued", "received".
std::string_view GrantDirectionName(GrantDirection direction);

struct GrantRevocation {
  std::string revoked_at;  // ISO 8601 UTC
  std::string reason;
};

// A grant as a store keeps it: issued by this party or received from a partner.
struct StoredGrant {
  Grant grant;
  GrantDirection direction = GrantDirection::kIssued;
  std::string stored_at{};                      // ISO 8601 UTC
  std::optional<GrantRevocation> revocation{};  // set once revoked; a revoked grant stays listed
};

// The grants of a store, issued and received, and their revocations: the tables
// collab_grants and collab_grant_revocations. Every grant read back is verified against its
// grantor again (a changed row is kDataLoss). Borrows the connection; not thread-safe (one per
// thread, as connections are).
class GrantStore {
 public:
  explicit GrantStore(store::Database& db) : db_(db) {}

  // Issues and keeps a grant of `key`'s party: a new id, created now, signed. Errors: those of
  // IssueGrant; kInvalidArgument when it has expired already; the store's errors.
  StatusOr<Grant> Create(const GrantSpec& spec, const PartyKey& key);

  // Keeps a grant received from a partner, once verified: its grantor must be a data_owner of
  // `collaboration`, its grantee `self`, and its signature the grantor's. Importing the same
  // grant again returns it as stored. Errors: those of ParseGrant and VerifyGrant;
  // kInvalidArgument when it is addressed to another party or issued by `self`;
  // kFailedPrecondition when the grantor is not in the collaboration file or is not a
  // data_owner there; kAlreadyExists when another grant with this id is stored; the store's.
  StatusOr<StoredGrant> Import(std::string_view grant_json, const Collaboration& collaboration,
                               const PartyId& self);

  // Every grant, revoked ones too, in the order they were stored.
  StatusOr<std::vector<StoredGrant>> List();
  // Errors: kNotFound for an unknown id; kDataLoss as above; the store's errors.
  StatusOr<StoredGrant> Show(std::string_view grant_id);

  // Marks a grant revoked now, for `reason` (up to 200 bytes of text without control
  // characters). Returns false when it was revoked already (the first reason stays).
  // Errors: kNotFound for an unknown id; kInvalidArgument for a bad reason; the store's.
  StatusOr<bool> Revoke(std::string_view grant_id, std::string_view reason);

  // The tables this class owns, with their migrations.
  static const store::Schema& Schema();

 private:
  StatusOr<std::vector<StoredGrant>> Read(std::string_view where, const std::string& grant_id);
  Status Insert(const Grant& grant, GrantDirection direction);
  store::Database& db_;
};

// --- The strictest grant wins

// Why grants do not allow a request. The names are stable codes (for APIs and audit entries).
enum class GrantRefusal {
  kNoGrant,                   // "no_grant": nothing applies
  kRevoked,                   // "revoked"
  kWrongGrantee,              // "wrong_grantee": a grant for another partner
  kPurposeNotAllowed,         // "purpose_not_allowed"
  kNotYetValid,               // "not_yet_valid": before not_before
  kExpired,                   // "expired": at or after expires
  kNoCommonFields,            // "no_common_fields" (not for an overlap, which needs none)
  kNoCommonOutputKinds,       // "no_common_output_kinds"
  kNoCommonRecipients,        // "no_common_recipients"
  kNoCommonWorkerHosts,       // "no_common_worker_hosts"
  kNoCommonAttestationModes,  // "no_common_attestation_modes"
};
std::string_view GrantRefusalName(GrantRefusal refusal);

// One request, as far as grants judge it.
struct PolicyRequest {
  Purpose purpose = Purpose::kOverlap;
  PartyId requester;  // every grant must name it as grantee
  int64_t now = 0;    // Unix seconds
};

// What every applicable grant allows at once. Sets are sorted.
struct EffectivePolicy {
  Purpose purpose = Purpose::kOverlap;
  std::vector<std::string> grant_ids;       // the grants combined, in the order given
  std::vector<std::string> allowed_fields;  // intersection
  GrantPredicates predicates;               // per kind, the smallest limit any grant sets
  std::vector<OutputKind> output_kinds;     // intersection
  int64_t k_min = 0;                        // the largest
  // The smallest ε per query and budget of the grants that ask for noise (each the minimum
  // over those grants); nullopt when none does. The ledger draws each grant's own budget.
  std::optional<DpPolicy> differential_privacy;
  std::vector<PartyId> recipients;                 // intersection
  std::vector<PartyId> worker_hosts;               // intersection
  std::vector<AttestationMode> attestation_modes;  // intersection
  int64_t not_before = 0;                          // the latest
  int64_t expires = 0;                             // the earliest

  friend bool operator==(const EffectivePolicy&, const EffectivePolicy&) = default;
};

// Combines the grants that apply to `request`. Pure. Every grant must be in force (not
// revoked, not_before <= now < expires), name the requester as grantee and allow the purpose;
// the intersections must not be empty. Errors: kFailedPrecondition with the detail "reason"
// (GrantRefusalName) and, for a refusal caused by one grant, "grant_id" (the first such grant
// in the order given; per grant, the checks run in the enum's order).
StatusOr<EffectivePolicy> CombineGrants(std::span<const StoredGrant> grants,
                                        const PolicyRequest& request);

}  // namespace tessera::collab
