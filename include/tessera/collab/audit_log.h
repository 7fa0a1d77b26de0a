#pragma once

// The audit log of a party's collaboration: one entry per request and per run, appended
// only, each entry chained to the one before by SHA-256, so that an entry changed, removed,
// reordered or replaced after the fact is found by Verify.
//
// Chain: entry n's hash is SHA-256 (OpenSSL) over a canonical encoding (CanonicalAuditBytes):
// the domain tag "tessera/collab/audit/v1", then sequence number, time, party, grant, purpose,
// query hash, cells, ε, attestation, outcome, reason and entry n - 1's hash, integers as 8
// bytes big-endian, texts and hashes as their 8-byte big-endian length and their bytes (so no
// two records encode alike); enums by their names. Entry 1 chains from 32 zero bytes. A
// one-row head table holds the number of entries and the last hash, updated in the
// transaction that appends, so that removing entries at the end is found too.
//
// What a chain kept in the same database cannot stop: someone with write access rewriting
// every entry after a point and the head with it. Head() is what to anchor elsewhere (print
// it in a report, send it to the partner, keep it in a file) and VerifyAgainst checks that
// the log still extends such an anchor.
//
// Privacy: an entry says who asked what and what came of it, never about whom. No field can
// hold a pseudonym, a customer's identifier or free text: the party is a party id (a public
// key, ValidatePartyIdText), grants, purposes and reason codes are names of a strict charset
// (ValidateCollabId, ValidateCollabCode), the query is kept only as a SHA-256 hash
// (QueryHash), the rest are numbers and enums. A record that breaks these rules is refused,
// and the error names the field, never the value.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/collab/attestation.h"
#include "tessera/collab/budget_ledger.h"
#include "tessera/common/status.h"
#include "tessera/store/database.h"

namespace tessera::collab {

enum class AuditOutcome { kOk, kRefused, kFailed };
std::string_view AuditOutcomeName(AuditOutcome outcome);  // "ok", "refused", "failed"
// Errors: kInvalidArgument unless "ok", "refused" or "failed".
StatusOr<AuditOutcome> ParseAuditOutcome(std::string_view name);

// One request or run, as the caller reports it. Append refuses a record unless: time lies in
// 2000 to 9999; party is a party id; grant_id and purpose are empty or well-formed; query_hash
// is 64 lower-case hex digits; outcome ok has no reason, refused and failed have one; refused
// comes with no cells and no ε (nothing ran).
struct AuditRecord {
  int64_t time = 0;             // when it happened, Unix seconds (UTC), from the caller's clock
  std::string party;            // who asked: a party id, "tp1:" + 64 hex (ValidatePartyIdText)
  std::string grant_id;         // under which grant (ValidateCollabId); empty if none applied
  std::string purpose;          // the grant's purpose, a code (ValidateCollabCode)
  std::string query_hash;       // QueryHash of the canonical query: 64 lower-case hex digits
  uint64_t cells_returned = 0;  // aggregate cells released (0 when refused)
  // ε spent, in millionths (integer micro-ε, as the budget ledger counts it): exact, so that
  // the log and the ledger add up to the same total, which floating point would not promise.
  uint64_t epsilon_micro = 0;
  AttestationMode attestation = AttestationMode::kNone;
  AuditOutcome outcome = AuditOutcome::kOk;
  // Why, for kRefused and kFailed: a code (ValidateCollabCode), e.g. "below_min_cell_size",
  // "budget_exhausted"; empty for kOk.
  std::string reason;

  bool operator==(const AuditRecord&) const = default;
};

// An entry of the log: the record, its place, and its links.
struct AuditEntry {
  int64_t sequence = 0;  // 1, 2, 3, ... without gaps
  AuditRecord record;
  std::string previous_hash;  // 32 bytes: the previous entry's hash (zeros for entry 1)
  std::string entry_hash;     // 32 bytes
};

// Where the log ends: its number of entries and the last entry's hash (32 zero bytes when
// empty).
struct AuditHead {
  int64_t entries = 0;
  std::string hash;
};

enum class AuditProblem {
  kNone,
  kEntryChanged,       // an entry's fields no longer match its hash
  kEntryMissing,       // a sequence number is missing (removed from the middle)
  kReordered,          // entries out of order (sequence numbers swapped)
  kChainBroken,        // an entry does not follow its predecessor (removed and renumbered, or
                       // a predecessor rewritten with a new hash)
  kTruncated,          // the head records more entries than the log holds (removed at the end)
  kHeadMismatch,       // the last entry is not the one the head records (replaced at the end)
  kUnrecordedEntries,  // entries after the one the head records, not appended by Append
  kAnchorMismatch,     // the log does not extend the head given to VerifyAgainst
};
std::string_view AuditProblemName(AuditProblem problem);  // "entry_changed", ...

struct AuditVerification {
  bool ok() const { return problem == AuditProblem::kNone; }
  int64_t entries = 0;    // entries read
  std::string head_hash;  // the last entry's hash as read (32 bytes)
  AuditProblem problem = AuditProblem::kNone;
  int64_t first_bad_sequence = 0;  // the first sequence number found wrong (0 when ok)
  std::string explanation;         // for people: what is wrong where
};

struct AuditListOptions {
  int64_t after_sequence = 0;  // entries with a larger sequence number
  int64_t limit = 1000;        // at most this many (1 to kMaxAuditListLimit)
};
inline constexpr int64_t kMaxAuditListLimit = 100'000;

// A party's audit log in its store: collab's tables collab_audit_log and collab_audit_head,
// brought up to date on first use. Borrows the connection; not thread-safe (one per thread,
// as connections are). Appenders on separate connections, threads or processes are safe: an
// append takes the head row's lock (SQLite's write lock; a row lock on PostgreSQL) for its
// transaction, so the chain has one order and no sequence number twice.
class AuditLog {
 public:
  explicit AuditLog(store::Database& db) : db_(db) {}

  // Appends `record` in one transaction: next sequence number, the head's hash as previous
  // hash, the entry's hash, and the head updated. Errors: kInvalidArgument for a record that
  // breaks the rules above (detail "field" names it); kDataLoss when the head row is missing;
  // the store's errors.
  StatusOr<AuditEntry> Append(const AuditRecord& record);

  // Entries in sequence order. Errors: kInvalidArgument for a limit out of range; kDataLoss
  // for a stored value that is not what Append writes; the store's errors.
  StatusOr<std::vector<AuditEntry>> List(const AuditListOptions& options = {});

  // The head as recorded. Errors: kDataLoss when it is missing; the store's errors.
  StatusOr<AuditHead> Head();

  // Reads the whole log in one snapshot and checks every link, every hash and the head.
  // A damaged log is a result (ok() false, first_bad_sequence, problem), not an error.
  // Errors: the store's errors; kDataLoss when the head row is missing.
  StatusOr<AuditVerification> Verify();
  // Verify, and that the entry `anchor.entries` still has the hash `anchor.hash` (an empty
  // anchor, zero entries, is always extended). Errors: as Verify.
  StatusOr<AuditVerification> VerifyAgainst(const AuditHead& anchor);

  // The tables this class owns, with their migrations.
  static const store::Schema& Schema();

 private:
  store::Database& db_;
};

// Checks the form of a party id as PartyId::ToString (party.h) prints it: "tp1:" and 64
// lower-case hex digits. Whether they are a valid Ed25519 key is PartyId::Parse's to say where
// the party is authenticated; the log and the ledger only keep it. Errors: kInvalidArgument
// naming `field` (detail "field"), never the value.
Status ValidatePartyIdText(std::string_view field, std::string_view text);
// Checks a grant id ("g_" + 16 hex digits, grant.h) or another name from configuration: 1 to 64
// characters of a-z, 0-9, '.', '_' and '-', starting with a letter. No '@', '+', space or upper
// case, so that e-mail addresses, phone numbers and names as people write them do not fit.
// Errors: as ValidatePartyIdText.
Status ValidateCollabId(std::string_view field, std::string_view id);
// Checks a purpose or reason code: 1 to 48 characters of a-z, 0-9 and '_', starting with a
// letter. Errors: as ValidateCollabId.
Status ValidateCollabCode(std::string_view field, std::string_view code);

// SHA-256 of a canonical query text, as 64 lower-case hex digits: what the log keeps of a
// query. Errors: kInternal when OpenSSL fails.
StatusOr<std::string> QueryHash(std::string_view canonical_query);

// The canonical bytes an entry's hash covers (see the file comment); exposed for tests and
// for verifiers written elsewhere.
std::string CanonicalAuditBytes(int64_t sequence, const AuditRecord& record,
                                std::string_view previous_hash);

// JSON of an entry, fields in a fixed order (for `--format json`): sequence, time (ISO 8601
// UTC), party, grant_id, purpose, query_hash, cells_returned, epsilon (exact decimal text),
// epsilon_micro, attestation, outcome, reason, previous_hash, entry_hash (hex).
nlohmann::ordered_json AuditEntryJson(const AuditEntry& entry);
// JSON of a verification: ok, entries, head_hash (hex), and when not ok problem,
// first_bad_sequence and explanation.
nlohmann::ordered_json AuditVerificationJson(const AuditVerification& verification);

}  // namespace tessera::collab
