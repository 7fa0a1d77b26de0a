#include "tessera/collab/audit_log.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "tessera/common/civil_time.h"
#include "tessera/privacy/order_token.h"

namespace tessera::collab {
namespace {

// Released migrations are never edited (tests/server/migrations_test.cc pins each by hash).
constexpr store::Migration kMigrations[] = {
    // 1: the hash-chained audit log and its head (one row, created with the table so that
    // appenders always find a row to lock).
    {R"sql(CREATE TABLE collab_audit_log (
  seq            INTEGER PRIMARY KEY,
  occurred_at    INTEGER NOT NULL,
  party          TEXT NOT NULL,
  grant_id       TEXT NOT NULL,
  purpose        TEXT NOT NULL,
  query_hash     TEXT NOT NULL,
  cells_returned INTEGER NOT NULL,
  epsilon_micro  INTEGER NOT NULL,
  attestation    TEXT NOT NULL,
  outcome        TEXT NOT NULL,
  reason         TEXT NOT NULL,
  previous_hash  BLOB NOT NULL,
  entry_hash     BLOB NOT NULL
);
CREATE TABLE collab_audit_head (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  entries   INTEGER NOT NULL,
  head_hash BLOB NOT NULL
);
INSERT INTO collab_audit_head(id, entries, head_hash) VALUES (1, 0, zeroblob(32));
)sql",
     R"sql(CREATE TABLE collab_audit_log (
  seq            bigint PRIMARY KEY,
  occurred_at    bigint NOT NULL,
  party          text   NOT NULL,
  grant_id       text   NOT NULL,
  purpose        text   NOT NULL,
  query_hash     text   NOT NULL,
  cells_returned bigint NOT NULL,
  epsilon_micro  bigint NOT NULL,
  attestation    text   NOT NULL,
  outcome        text   NOT NULL,
  reason         text   NOT NULL,
  previous_hash  bytea  NOT NULL,
  entry_hash     bytea  NOT NULL
);
CREATE TABLE collab_audit_head (
  id        integer PRIMARY KEY CHECK (id = 1),
  entries   bigint  NOT NULL,
  head_hash bytea   NOT NULL
);
INSERT INTO collab_audit_head(id, entries, head_hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
)sql"},
};
constexpr store::Schema kSchema{"collab.audit", kMigrations};

constexpr size_t kHashSize = 32;
constexpr std::string_view kDomainTag = "tessera/collab/audit/v1";
// 2000-01-01 and 9999-12-31T23:59:59Z: a time outside is a unit mistake or unset.
constexpr int64_t kEarliestTime = 946684800;
constexpr int64_t kLatestTime = 253402300799;
constexpr size_t kMaxIdLength = 64;
constexpr size_t kMaxCodeLength = 48;

std::string ZeroHash() { return std::string(kHashSize, '\0'); }

StatusOr<std::string> Sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &n, EVP_sha256(), nullptr) != 1 ||
      n != kHashSize) {
    return InternalError("OpenSSL cannot compute SHA-256");
  }
  return std::string(reinterpret_cast<const char*>(md.data()), n);
}

Status FieldError(std::string_view field, std::string_view rule) {
  Status s = InvalidArgumentError("{} {}", field, rule);
  s.SetDetail("field", std::string(field));
  return s;
}

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

// An entry's fields as stored: what the hash covers. Verify hashes what it reads, before
// parsing anything, so that a value changed to something Append would never write is an
// entry changed, not an error.
struct StoredFields {
  int64_t sequence = 0;
  int64_t occurred_at = 0;
  std::string party, grant_id, purpose, query_hash;
  int64_t cells_returned = 0;
  int64_t epsilon_micro = 0;
  std::string attestation, outcome, reason;
  std::string previous_hash, entry_hash;
};

void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
void PutBytes(std::string& out, std::string_view bytes) {
  PutU64(out, bytes.size());
  out += bytes;
}

std::string Canonical(const StoredFields& f) {
  std::string out;
  out.reserve(256);
  PutBytes(out, kDomainTag);
  PutU64(out, static_cast<uint64_t>(f.sequence));
  PutU64(out, static_cast<uint64_t>(f.occurred_at));
  PutBytes(out, f.party);
  PutBytes(out, f.grant_id);
  PutBytes(out, f.purpose);
  PutBytes(out, f.query_hash);
  PutU64(out, static_cast<uint64_t>(f.cells_returned));
  PutU64(out, static_cast<uint64_t>(f.epsilon_micro));
  PutBytes(out, f.attestation);
  PutBytes(out, f.outcome);
  PutBytes(out, f.reason);
  PutBytes(out, f.previous_hash);
  return out;
}

StoredFields ToStored(int64_t sequence, const AuditRecord& r, std::string_view previous_hash) {
  StoredFields f;
  f.sequence = sequence;
  f.occurred_at = r.time;
  f.party = r.party;
  f.grant_id = r.grant_id;
  f.purpose = r.purpose;
  f.query_hash = r.query_hash;
  f.cells_returned = static_cast<int64_t>(r.cells_returned);
  f.epsilon_micro = static_cast<int64_t>(r.epsilon_micro);
  f.attestation = std::string(AttestationModeName(r.attestation));
  f.outcome = std::string(AuditOutcomeName(r.outcome));
  f.reason = r.reason;
  f.previous_hash = std::string(previous_hash);
  return f;
}

StatusOr<AuditEntry> ToEntry(const StoredFields& f) {
  auto attestation = ParseAttestationMode(f.attestation);
  auto outcome = ParseAuditOutcome(f.outcome);
  if (!attestation.ok() || !outcome.ok() || f.cells_returned < 0 || f.epsilon_micro < 0) {
    return DataLossError("audit log entry {} holds a value Append never writes; run verify",
                         f.sequence);
  }
  AuditEntry e;
  e.sequence = f.sequence;
  e.record.time = f.occurred_at;
  e.record.party = f.party;
  e.record.grant_id = f.grant_id;
  e.record.purpose = f.purpose;
  e.record.query_hash = f.query_hash;
  e.record.cells_returned = static_cast<uint64_t>(f.cells_returned);
  e.record.epsilon_micro = static_cast<uint64_t>(f.epsilon_micro);
  e.record.attestation = *attestation;
  e.record.outcome = *outcome;
  e.record.reason = f.reason;
  e.previous_hash = f.previous_hash;
  e.entry_hash = f.entry_hash;
  return e;
}

constexpr const char* kEntryColumns =
    "seq, occurred_at, party, grant_id, purpose, query_hash, cells_returned, epsilon_micro, "
    "attestation, outcome, reason, previous_hash, entry_hash";

// Reads kEntryColumns starting at column `c`.
StoredFields ReadStored(const store::SqlRow& row, int c) {
  StoredFields f;
  f.sequence = row.Int(c);
  f.occurred_at = row.Int(c + 1);
  f.party = row.Text(c + 2);
  f.grant_id = row.Text(c + 3);
  f.purpose = row.Text(c + 4);
  f.query_hash = row.Text(c + 5);
  f.cells_returned = row.Int(c + 6);
  f.epsilon_micro = row.Int(c + 7);
  f.attestation = row.Text(c + 8);
  f.outcome = row.Text(c + 9);
  f.reason = row.Text(c + 10);
  f.previous_hash = row.Bytes(c + 11);
  f.entry_hash = row.Bytes(c + 12);
  return f;
}

Status ValidateRecord(const AuditRecord& r) {
  if (r.time < kEarliestTime || r.time > kLatestTime) {
    return FieldError("time", "must be Unix seconds between 2000 and 9999");
  }
  TESSERA_RETURN_IF_ERROR(ValidatePartyIdText("party", r.party));
  if (!r.grant_id.empty()) TESSERA_RETURN_IF_ERROR(ValidateCollabId("grant_id", r.grant_id));
  if (!r.purpose.empty()) TESSERA_RETURN_IF_ERROR(ValidateCollabCode("purpose", r.purpose));
  bool hex = r.query_hash.size() == 2 * kHashSize;
  for (char c : r.query_hash) hex = hex && IsLowerHex(c);
  if (!hex) return FieldError("query_hash", "must be 64 lower-case hex digits (QueryHash)");
  const auto max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (r.cells_returned > max) return FieldError("cells_returned", "is out of range");
  if (r.epsilon_micro > kMaxMicroEpsilon) return FieldError("epsilon_micro", "is out of range");
  if (r.outcome == AuditOutcome::kOk) {
    if (!r.reason.empty()) return FieldError("reason", "must be empty for outcome ok");
  } else {
    TESSERA_RETURN_IF_ERROR(ValidateCollabCode("reason", r.reason));
  }
  if (r.outcome == AuditOutcome::kRefused && (r.cells_returned != 0 || r.epsilon_micro != 0)) {
    return FieldError("outcome", "refused must come with no cells and no ε");
  }
  return OkStatus();
}

std::string SelectHeadSql(const store::Database& db) {
  // On PostgreSQL the row lock orders appenders; on SQLite the transaction's write lock does.
  return std::string("SELECT entries, head_hash FROM collab_audit_head WHERE id = 1") +
         (db.dialect() == store::Dialect::kPostgres ? " FOR UPDATE" : "");
}

}  // namespace

std::string_view AuditOutcomeName(AuditOutcome outcome) {
  switch (outcome) {
    case AuditOutcome::kRefused:
      return "refused";
    case AuditOutcome::kFailed:
      return "failed";
    case AuditOutcome::kOk:
      break;
  }
  return "ok";
}

StatusOr<AuditOutcome> ParseAuditOutcome(std::string_view name) {
  for (AuditOutcome o : {AuditOutcome::kOk, AuditOutcome::kRefused, AuditOutcome::kFailed}) {
    if (name == AuditOutcomeName(o)) return o;
  }
  return InvalidArgumentError("unknown audit outcome (expected ok, refused or failed)");
}

std::string_view AuditProblemName(AuditProblem problem) {
  switch (problem) {
    case AuditProblem::kNone:
      return "none";
    case AuditProblem::kEntryChanged:
      return "entry_changed";
    case AuditProblem::kEntryMissing:
      return "entry_missing";
    case AuditProblem::kReordered:
      return "reordered";
    case AuditProblem::kChainBroken:
      return "chain_broken";
    case AuditProblem::kTruncated:
      return "truncated";
    case AuditProblem::kHeadMismatch:
      return "head_mismatch";
    case AuditProblem::kUnrecordedEntries:
      return "unrecorded_entries";
    case AuditProblem::kAnchorMismatch:
      return "anchor_mismatch";
  }
  return "unknown";
}

Status ValidatePartyIdText(std::string_view field, std::string_view text) {
  constexpr std::string_view kPrefix = "tp1:";
  bool ok = text.size() == kPrefix.size() + 2 * kHashSize && text.starts_with(kPrefix);
  for (char c : text.substr(std::min(text.size(), kPrefix.size()))) ok = ok && IsLowerHex(c);
  if (!ok) return FieldError(field, "must be a party id: \"tp1:\" and 64 lower-case hex digits");
  return OkStatus();
}

Status ValidateCollabId(std::string_view field, std::string_view id) {
  bool ok = !id.empty() && id.size() <= kMaxIdLength && IsLower(id.front());
  for (char c : id) ok = ok && (IsLower(c) || IsDigit(c) || c == '.' || c == '_' || c == '-');
  if (!ok) {
    return FieldError(field,
                      "must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting "
                      "with a letter");
  }
  return OkStatus();
}

Status ValidateCollabCode(std::string_view field, std::string_view code) {
  bool ok = !code.empty() && code.size() <= kMaxCodeLength && IsLower(code.front());
  for (char c : code) ok = ok && (IsLower(c) || IsDigit(c) || c == '_');
  if (!ok) {
    return FieldError(field,
                      "must be a code of 1 to 48 characters of a-z, 0-9 and '_', starting "
                      "with a letter");
  }
  return OkStatus();
}

StatusOr<std::string> QueryHash(std::string_view canonical_query) {
  TESSERA_ASSIGN_OR_RETURN(const std::string digest, Sha256(canonical_query));
  return privacy::HexEncode(digest);
}

std::string CanonicalAuditBytes(int64_t sequence, const AuditRecord& record,
                                std::string_view previous_hash) {
  return Canonical(ToStored(sequence, record, previous_hash));
}

const store::Schema& AuditLog::Schema() { return kSchema; }

StatusOr<AuditEntry> AuditLog::Append(const AuditRecord& record) {
  TESSERA_RETURN_IF_ERROR(ValidateRecord(record).WithContext("audit record"));
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  AuditEntry entry;
  TESSERA_RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    std::optional<AuditHead> head;
    TESSERA_RETURN_IF_ERROR(db_.Query(SelectHeadSql(db_), {}, [&](const store::SqlRow& row) {
      head = AuditHead{row.Int(0), row.Bytes(1)};
      return OkStatus();
    }));
    if (!head) return DataLossError("{}: the audit log's head is missing", db_.Describe());
    // Chained from the head, not from the last row: a log damaged at its end stays damaged
    // for Verify to find, instead of being papered over by the next entry.
    const int64_t sequence = head->entries + 1;
    StoredFields f = ToStored(sequence, record, head->hash);
    TESSERA_ASSIGN_OR_RETURN(f.entry_hash, Sha256(Canonical(f)));
    const auto inserted = db_.Execute(
        std::string("INSERT INTO collab_audit_log(") + kEntryColumns +
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        {f.sequence, f.occurred_at, f.party, f.grant_id, f.purpose, f.query_hash, f.cells_returned,
         f.epsilon_micro, f.attestation, f.outcome, f.reason,
         store::SqlValue::Bytes(f.previous_hash), store::SqlValue::Bytes(f.entry_hash)});
    if (inserted.status().code() == StatusCode::kAlreadyExists) {
      return DataLossError(
          "{}: audit log entry {} exists, but the head records {} entries: the log was changed "
          "outside Append; run verify",
          db_.Describe(), sequence, head->entries);
    }
    TESSERA_RETURN_IF_ERROR(inserted.status());
    TESSERA_RETURN_IF_ERROR(
        db_.Execute("UPDATE collab_audit_head SET entries = $1, head_hash = $2 WHERE id = 1",
                    {sequence, store::SqlValue::Bytes(f.entry_hash)})
            .status());
    TESSERA_ASSIGN_OR_RETURN(entry, ToEntry(f));
    return OkStatus();
  }));
  return entry;
}

StatusOr<std::vector<AuditEntry>> AuditLog::List(const AuditListOptions& options) {
  if (options.limit < 1 || options.limit > kMaxAuditListLimit) {
    return InvalidArgumentError("an audit log listing's limit must be 1 to {}", kMaxAuditListLimit);
  }
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::vector<AuditEntry> out;
  TESSERA_RETURN_IF_ERROR(db_.Query(std::string("SELECT ") + kEntryColumns +
                                        " FROM collab_audit_log WHERE seq > $1 ORDER BY seq "
                                        "LIMIT $2",
                                    {options.after_sequence, options.limit},
                                    [&](const store::SqlRow& row) -> Status {
                                      TESSERA_ASSIGN_OR_RETURN(auto e, ToEntry(ReadStored(row, 0)));
                                      out.push_back(std::move(e));
                                      return OkStatus();
                                    }));
  return out;
}

StatusOr<AuditHead> AuditLog::Head() {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::optional<AuditHead> head;
  TESSERA_RETURN_IF_ERROR(db_.Query("SELECT entries, head_hash FROM collab_audit_head WHERE id = 1",
                                    {}, [&](const store::SqlRow& row) {
                                      head = AuditHead{row.Int(0), row.Bytes(1)};
                                      return OkStatus();
                                    }));
  if (!head) return DataLossError("{}: the audit log's head is missing", db_.Describe());
  return *head;
}

StatusOr<AuditVerification> AuditLog::Verify() { return VerifyAgainst(AuditHead{}); }

StatusOr<AuditVerification> AuditLog::VerifyAgainst(const AuditHead& anchor) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  // The head and the entries in one statement, hence one snapshot on both backends, without
  // holding the write lock while a long log is read: an append in between would otherwise
  // look like an entry missing from the head, or the other way round.
  const std::string sql =
      std::string(
          "SELECT 0, entries, 0, '', '', '', '', 0, 0, '', '', '', head_hash, head_hash FROM "
          "collab_audit_head WHERE id = 1 UNION ALL SELECT 1, ") +
      kEntryColumns + " FROM collab_audit_log ORDER BY 1, 2";

  std::optional<AuditHead> head;
  AuditVerification v;
  v.head_hash = ZeroHash();
  // The first problem found wins; rows after it are only counted.
  const auto report = [&v](AuditProblem problem, int64_t sequence, std::string explanation) {
    if (!v.ok()) return;
    v.problem = problem;
    v.first_bad_sequence = sequence;
    v.explanation = std::move(explanation);
  };
  int64_t expected = 1;
  std::string broken_link;              // the previous_hash of the entry where the chain broke
  std::optional<std::string> anchored;  // the hash of entry anchor.entries, if read

  TESSERA_RETURN_IF_ERROR(db_.Query(sql, {}, [&](const store::SqlRow& row) -> Status {
    if (row.Int(0) == 0) {
      head = AuditHead{row.Int(1), row.Bytes(12)};
      return OkStatus();
    }
    const StoredFields f = ReadStored(row, 1);
    ++v.entries;
    if (f.sequence == anchor.entries) anchored = f.entry_hash;
    if (v.ok()) {
      if (f.sequence > expected) {
        report(AuditProblem::kEntryMissing, expected,
               fmt::format("entries {} to {} are missing", expected, f.sequence - 1));
      } else if (f.sequence < expected) {  // only a first entry numbered 0 or below
        report(AuditProblem::kEntryChanged, expected,
               fmt::format("an entry was renumbered {}", f.sequence));
      } else if (f.previous_hash != v.head_hash) {
        broken_link = f.previous_hash;
        report(AuditProblem::kChainBroken, f.sequence,
               fmt::format("entry {} does not follow entry {}", f.sequence, f.sequence - 1));
      } else {
        TESSERA_ASSIGN_OR_RETURN(const std::string hash, Sha256(Canonical(f)));
        if (hash != f.entry_hash) {
          report(AuditProblem::kEntryChanged, f.sequence,
                 fmt::format("entry {} was changed after it was appended", f.sequence));
        }
      }
    }
    expected = f.sequence + 1;
    v.head_hash = f.entry_hash;
    return OkStatus();
  }));
  if (!head) return DataLossError("{}: the audit log's head is missing", db_.Describe());

  if (v.problem == AuditProblem::kChainBroken) {
    // An entry whose predecessor's hash belongs to an entry further on was moved (sequence
    // numbers swapped). Otherwise its predecessor was removed (and the rest renumbered) or
    // rewritten with a new hash.
    TESSERA_ASSIGN_OR_RETURN(
        const auto moved,
        db_.QueryInt("SELECT seq FROM collab_audit_log WHERE entry_hash = $1 AND seq > $2",
                     {store::SqlValue::Bytes(broken_link), v.first_bad_sequence}));
    if (moved) {
      v.problem = AuditProblem::kReordered;
      v.explanation = fmt::format(
          "entry {} is out of order: it follows the entry now numbered {} (entries reordered)",
          v.first_bad_sequence, *moved);
    } else {
      v.explanation += ": an entry before it was removed, replaced or rewritten";
    }
  }
  const int64_t last = expected - 1;
  if (head->entries > last) {
    report(AuditProblem::kTruncated, last + 1,
           fmt::format("the head records {} entries, the log ends at entry {}: entries removed "
                       "at the end",
                       head->entries, last));
  } else if (head->entries < last) {
    report(AuditProblem::kUnrecordedEntries, head->entries + 1,
           fmt::format("the head records {} entries, the log ends at entry {}: entries added "
                       "outside Append",
                       head->entries, last));
  } else if (head->hash != v.head_hash) {
    report(AuditProblem::kHeadMismatch, last,
           fmt::format("entry {} is not the entry the head records: replaced", last));
  }
  if (anchor.entries > 0 && anchored != anchor.hash &&
      (v.ok() || anchor.entries < v.first_bad_sequence)) {
    v.problem = AuditProblem::kNone;  // an earlier finding replaces a later one
    report(AuditProblem::kAnchorMismatch, anchor.entries,
           anchored ? fmt::format("entry {} is not the entry anchored", anchor.entries)
                    : fmt::format("entry {}, anchored, is gone", anchor.entries));
  }
  return v;
}

nlohmann::ordered_json AuditEntryJson(const AuditEntry& entry) {
  const AuditRecord& r = entry.record;
  nlohmann::ordered_json j;
  j["sequence"] = entry.sequence;
  j["time"] = FormatIsoTimestamp(r.time);
  j["party"] = r.party;
  j["grant_id"] = r.grant_id;
  j["purpose"] = r.purpose;
  j["query_hash"] = r.query_hash;
  j["cells_returned"] = r.cells_returned;
  j["epsilon"] = FormatEpsilon(r.epsilon_micro);
  j["epsilon_micro"] = r.epsilon_micro;
  j["attestation"] = AttestationModeName(r.attestation);
  j["outcome"] = AuditOutcomeName(r.outcome);
  j["reason"] = r.reason;
  j["previous_hash"] = privacy::HexEncode(entry.previous_hash);
  j["entry_hash"] = privacy::HexEncode(entry.entry_hash);
  return j;
}

nlohmann::ordered_json AuditVerificationJson(const AuditVerification& verification) {
  nlohmann::ordered_json j;
  j["ok"] = verification.ok();
  j["entries"] = verification.entries;
  j["head_hash"] = privacy::HexEncode(verification.head_hash);
  if (!verification.ok()) {
    j["problem"] = AuditProblemName(verification.problem);
    j["first_bad_sequence"] = verification.first_bad_sequence;
    j["explanation"] = verification.explanation;
  }
  return j;
}

}  // namespace tessera::collab
