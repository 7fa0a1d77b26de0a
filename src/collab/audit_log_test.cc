// The audit log on both stores: entries chained and listed in order; tampering through raw SQL
// (a field changed, an entry removed from the middle or the end, two entries swapped, the end
// replaced, a rewrite from an anchor on) found at the right entry for the right reason; two
// appenders on their own connections making one chain.

#include "tessera/collab/audit_log.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/test_stores.h"
#include "tessera/privacy/order_token.h"
#include "tessera/store/store.h"

namespace tessera::collab {
namespace {

using store::Backend;
using store::BackendName;
using store::Store;

constexpr int64_t kTime = 1'780'000'000;  // 2026-05-28

// A party id of the form PartyId::ToString prints.
std::string Party(char hex_digit) { return "tp1:" + std::string(64, hex_digit); }

std::string HashOf(std::string_view text) {
  auto h = QueryHash(text);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : "";
}

// Entry i's record: a run that returned cells, or every third a refusal.
AuditRecord Record(int i, const std::string& party = Party('a')) {
  AuditRecord r;
  r.time = kTime + i;
  r.party = party;
  r.grant_id = "g-2026.measurement";
  r.purpose = "measurement";
  r.query_hash = HashOf("count overlap where segment = champions #" + std::to_string(i));
  if (i % 3 == 0) {
    r.attestation = AttestationMode::kNone;
    r.outcome = AuditOutcome::kRefused;
    r.reason = "below_min_cell_size";
  } else {
    r.cells_returned = static_cast<uint64_t>(i) * 10;
    r.epsilon_micro = 250'000;
    r.attestation = AttestationMode::kSimulated;
  }
  return r;
}

TEST(AuditLogRules, IdsAndCodesAreNamesNotData) {
  EXPECT_TRUE(ValidatePartyIdText("party", Party('0')).ok());
  EXPECT_TRUE(ValidatePartyIdText(
                  "party", "tp1:3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
                  .ok());
  for (const std::string& bad :
       {std::string(), "tp1:" + std::string(63, 'a'), "tp1:" + std::string(65, 'a'),
        "tp1:" + std::string(64, 'A'), "tp1:" + std::string(64, 'g'), "tp2:" + std::string(64, 'a'),
        std::string(68, 'a'), std::string("alice@example.com")}) {
    const Status s = ValidatePartyIdText("party", bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.TextDetail("field").value_or(""), "party");
  }
  for (const char* good : {"g_4f2a9c01d3b7e655", "acme", "acme-retail", "a.b_c-1", "p0"}) {
    EXPECT_TRUE(ValidateCollabId("grant_id", good).ok()) << good;
  }
  for (const std::string& bad :
       {std::string(), std::string("Acme"), std::string("alice@example.com"),
        std::string("+4915112345678"), std::string("4915112345678"), std::string("a b"),
        std::string("ümlaut"), std::string(65, 'a'), std::string("-acme")}) {
    const Status s = ValidateCollabId("grant_id", bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.TextDetail("field").value_or(""), "grant_id");
    if (!bad.empty()) {
      EXPECT_EQ(s.message().find(bad), std::string::npos) << s.message();
    }
  }
  EXPECT_TRUE(ValidateCollabCode("reason", "below_min_cell_size").ok());
  for (const char* bad : {"", "refused: too small", "Budget", "budget-exhausted", "x.y"}) {
    EXPECT_EQ(ValidateCollabCode("reason", bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ValidateCollabCode("reason", std::string(49, 'a')).code(),
            StatusCode::kInvalidArgument);
}

TEST(AuditLogRules, EnumsParseTheirOwnNames) {
  for (AttestationMode m :
       {AttestationMode::kNone, AttestationMode::kSimulated, AttestationMode::kSgxDcap}) {
    EXPECT_EQ(*ParseAttestationMode(AttestationModeName(m)), m);
  }
  EXPECT_EQ(AttestationModeName(AttestationMode::kSgxDcap), "sgx-dcap");
  EXPECT_FALSE(ParseAttestationMode("sgx").ok());
  for (AuditOutcome o : {AuditOutcome::kOk, AuditOutcome::kRefused, AuditOutcome::kFailed}) {
    EXPECT_EQ(*ParseAuditOutcome(AuditOutcomeName(o)), o);
  }
  EXPECT_FALSE(ParseAuditOutcome("OK").ok());
}

TEST(AuditLogHash, QueryHashIsSha256InHex) {
  // FIPS 180-2, appendix B.1.
  EXPECT_EQ(HashOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AuditLogHash, EveryFieldIsLengthPrefixedSoBoundariesCannotShift) {
  AuditRecord a = Record(1);
  AuditRecord b = a;
  a.party = "ab";
  a.grant_id = "c";
  b.party = "a";
  b.grant_id = "bc";
  const std::string zeros(32, '\0');
  EXPECT_NE(CanonicalAuditBytes(1, a, zeros), CanonicalAuditBytes(1, b, zeros));
  // Every field counts, the previous hash and the sequence number too.
  const std::string base = CanonicalAuditBytes(1, a, zeros);
  EXPECT_NE(base, CanonicalAuditBytes(2, a, zeros));
  EXPECT_NE(base, CanonicalAuditBytes(1, a, std::string(31, '\0') + "\1"));
  AuditRecord c = a;
  c.epsilon_micro += 1;
  EXPECT_NE(base, CanonicalAuditBytes(1, c, zeros));
  c = a;
  c.attestation = AttestationMode::kSgxDcap;
  EXPECT_NE(base, CanonicalAuditBytes(1, c, zeros));
  c = a;
  c.time += 1;
  EXPECT_NE(base, CanonicalAuditBytes(1, c, zeros));
}

TEST(AuditLogJson, AnEntryRendersEveryFieldInAFixedOrder) {
  AuditEntry e;
  e.sequence = 7;
  e.record = Record(1);
  e.previous_hash = std::string(32, '\0');
  e.entry_hash = std::string(32, '\xab');
  const auto j = AuditEntryJson(e);
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"sequence", "time", "party", "grant_id", "purpose",
                                            "query_hash", "cells_returned", "epsilon",
                                            "epsilon_micro", "attestation", "outcome", "reason",
                                            "previous_hash", "entry_hash"}));
  EXPECT_EQ(j["time"], "2026-05-28T20:26:41Z");
  EXPECT_EQ(j["epsilon"], "0.25");
  EXPECT_EQ(j["epsilon_micro"], 250000);
  EXPECT_EQ(j["attestation"], "simulated");
  EXPECT_EQ(j["outcome"], "ok");
  EXPECT_EQ(j["previous_hash"], std::string(64, '0'));
  EXPECT_EQ(j["entry_hash"].get<std::string>().substr(0, 4), "abab");

  AuditVerification v;
  v.entries = 3;
  v.head_hash = std::string(32, '\0');
  EXPECT_EQ(AuditVerificationJson(v).dump(),
            R"({"ok":true,"entries":3,"head_hash":")" + std::string(64, '0') + R"("})");
  v.problem = AuditProblem::kReordered;
  v.first_bad_sequence = 2;
  v.explanation = "x";
  EXPECT_EQ(AuditVerificationJson(v)["problem"], "reordered");
  EXPECT_EQ(AuditVerificationJson(v)["first_bad_sequence"], 2);
}

class AuditLogTest : public store::StoreFixture {
 protected:
  void SetUp() override { OpenNewStore("audit.db", &AuditLog::Schema()); }

  store::Database& db() { return store_->db(); }

  // Appends entries 1..n (Record(i)).
  void AppendEntries(int n) {
    AuditLog log(db());
    for (int i = 1; i <= n; ++i) {
      auto e = log.Append(Record(i));
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      ASSERT_EQ(e->sequence, i);
    }
  }

  void Sql(const std::string& sql) {
    auto done = db().Execute(sql);
    ASSERT_TRUE(done.ok()) << sql << ": " << done.status().ToString();
  }

  // Writes an entry past Append, chained to `previous` and hashed right, as a forger who
  // knows the format would.
  void InsertWellFormed(int64_t sequence, const AuditRecord& r, const std::string& previous) {
    auto hash = privacy::HexDecode(HashOf(CanonicalAuditBytes(sequence, r, previous)));
    ASSERT_TRUE(hash.ok());
    auto inserted = db().Execute(
        "INSERT INTO collab_audit_log(seq, occurred_at, party, grant_id, purpose, query_hash, "
        "cells_returned, epsilon_micro, attestation, outcome, reason, previous_hash, entry_hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        {sequence, r.time, r.party, r.grant_id, r.purpose, r.query_hash,
         static_cast<int64_t>(r.cells_returned), static_cast<int64_t>(r.epsilon_micro),
         AttestationModeName(r.attestation), AuditOutcomeName(r.outcome), r.reason,
         store::SqlValue::Bytes(previous), store::SqlValue::Bytes(*hash)});
    ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  }

  AuditVerification Verify() {
    auto v = AuditLog(db()).Verify();
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : AuditVerification{};
  }

  void ExpectProblem(AuditProblem problem, int64_t sequence) {
    const AuditVerification v = Verify();
    EXPECT_FALSE(v.ok());
    EXPECT_EQ(AuditProblemName(v.problem), AuditProblemName(problem)) << v.explanation;
    EXPECT_EQ(v.first_bad_sequence, sequence) << v.explanation;
    EXPECT_FALSE(v.explanation.empty());
  }
};

TEST_P(AuditLogTest, AppendedEntriesChainFromZerosAndListInOrder) {
  AppendEntries(5);
  auto all = AuditLog(db()).List();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 5u);
  std::string previous(32, '\0');
  for (int i = 0; i < 5; ++i) {
    const AuditEntry& e = (*all)[static_cast<size_t>(i)];
    EXPECT_EQ(e.sequence, i + 1);
    EXPECT_EQ(e.record, Record(i + 1));
    EXPECT_EQ(e.previous_hash, previous);
    // The entry hash is SHA-256 of the canonical bytes, computed independently here.
    auto expected =
        privacy::HexDecode(HashOf(CanonicalAuditBytes(e.sequence, e.record, e.previous_hash)));
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(e.entry_hash, *expected);
    previous = e.entry_hash;
  }
  auto head = AuditLog(db()).Head();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->entries, 5);
  EXPECT_EQ(head->hash, previous);
}

TEST_P(AuditLogTest, ListingPagesBySequenceNumber) {
  AppendEntries(7);
  AuditLog log(db());
  auto page = log.List({.after_sequence = 2, .limit = 3});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ(page->front().sequence, 3);
  EXPECT_EQ(page->back().sequence, 5);
  EXPECT_EQ(log.List({.after_sequence = 7})->size(), 0u);
  EXPECT_EQ(log.List({.limit = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log.List({.limit = kMaxAuditListLimit + 1}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(AuditLogTest, AnEmptyLogAndAnIntactLogVerify) {
  AuditVerification v = Verify();
  EXPECT_TRUE(v.ok()) << v.explanation;
  EXPECT_EQ(v.entries, 0);
  EXPECT_EQ(v.head_hash, std::string(32, '\0'));
  AppendEntries(6);
  v = Verify();
  EXPECT_TRUE(v.ok()) << v.explanation;
  EXPECT_EQ(v.entries, 6);
  EXPECT_EQ(v.head_hash, AuditLog(db()).Head()->hash);
  EXPECT_EQ(v.first_bad_sequence, 0);
}

TEST_P(AuditLogTest, ARecordThatCouldCarryPersonalDataIsRefusedAndNothingIsWritten) {
  AuditLog log(db());
  std::vector<std::pair<std::string, AuditRecord>> bad;
  auto with = [](std::string field, auto change) {
    AuditRecord r = Record(1);
    change(r);
    return std::pair{std::move(field), r};
  };
  bad.push_back(with("party", [](AuditRecord& r) { r.party = "alice@example.com"; }));
  bad.push_back(with("party", [](AuditRecord& r) { r.party = ""; }));
  bad.push_back(with("party", [](AuditRecord& r) { r.party = "acme-retail"; }));
  bad.push_back(with("grant_id", [](AuditRecord& r) { r.grant_id = "Grant 7"; }));
  bad.push_back(with("purpose", [](AuditRecord& r) { r.purpose = "find Jane Doe"; }));
  bad.push_back(with("query_hash", [](AuditRecord& r) { r.query_hash = "jane.doe@example.com"; }));
  bad.push_back(with("query_hash", [](AuditRecord& r) {
    for (char& c : r.query_hash) c = static_cast<char>(std::toupper(c));
  }));
  bad.push_back(with("reason", [](AuditRecord& r) {
    r.outcome = AuditOutcome::kRefused;
    r.cells_returned = 0;
    r.epsilon_micro = 0;
    r.reason = "customer 4711 asked";
  }));
  bad.push_back(with("reason", [](AuditRecord& r) { r.reason = "fine"; }));  // ok has none
  bad.push_back(with("outcome", [](AuditRecord& r) {
    r.outcome = AuditOutcome::kRefused;
    r.reason = "no_grant";
  }));  // a refusal released cells
  bad.push_back(with("time", [](AuditRecord& r) { r.time = 0; }));
  bad.push_back(with("time", [](AuditRecord& r) { r.time = kTime * 1000; }));  // milliseconds
  bad.push_back(
      with("epsilon_micro", [](AuditRecord& r) { r.epsilon_micro = kMaxMicroEpsilon + 1; }));
  for (const auto& [field, record] : bad) {
    auto appended = log.Append(record);
    ASSERT_FALSE(appended.ok()) << field;
    EXPECT_EQ(appended.status().code(), StatusCode::kInvalidArgument) << field;
    EXPECT_EQ(appended.status().TextDetail("field").value_or(""), field)
        << appended.status().ToString();
    EXPECT_EQ(appended.status().message().find("example.com"), std::string::npos);
  }
  EXPECT_EQ(log.List()->size(), 0u);
  EXPECT_EQ(log.Head()->entries, 0);
  // A refusal before any grant applied needs neither grant nor purpose.
  AuditRecord refused = Record(3);
  refused.grant_id.clear();
  refused.purpose.clear();
  refused.reason = "no_grant";
  EXPECT_TRUE(log.Append(refused).ok());
}

TEST_P(AuditLogTest, AFieldChangedAfterTheFactIsFoundAtItsEntry) {
  AppendEntries(5);
  const AuditRecord third = Record(3);  // a refusal: no cells, no ε
  const std::string where = " WHERE seq = 3";
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"cells_returned = 1000", "cells_returned = 0"},
      {"epsilon_micro = 1", "epsilon_micro = 0"},
      {"party = '" + Party('b') + "'", "party = '" + third.party + "'"},
      {"outcome = 'ok', reason = ''", "outcome = 'refused', reason = '" + third.reason + "'"},
      {"attestation = 'sgx-dcap'", "attestation = 'none'"},
      {"occurred_at = occurred_at + 1", "occurred_at = occurred_at - 1"},
      {"query_hash = '" + HashOf("another query") + "'", "query_hash = '" + third.query_hash + "'"},
  };
  for (const auto& [change, undo] : changes) {
    Sql("UPDATE collab_audit_log SET " + change + where);
    ExpectProblem(AuditProblem::kEntryChanged, 3);
    Sql("UPDATE collab_audit_log SET " + undo + where);
    EXPECT_TRUE(Verify().ok()) << change;
  }
}

TEST_P(AuditLogTest, AnEntryRemovedFromTheMiddleIsFoundMissing) {
  AppendEntries(5);
  Sql("DELETE FROM collab_audit_log WHERE seq = 3");
  ExpectProblem(AuditProblem::kEntryMissing, 3);
}

TEST_P(AuditLogTest, AnEntryRemovedAndTheRestRenumberedBreaksTheChain) {
  AppendEntries(5);
  Sql("DELETE FROM collab_audit_log WHERE seq = 3");
  Sql("UPDATE collab_audit_log SET seq = 3 WHERE seq = 4");
  Sql("UPDATE collab_audit_log SET seq = 4 WHERE seq = 5");
  Sql("UPDATE collab_audit_head SET entries = 4");
  ExpectProblem(AuditProblem::kChainBroken, 3);
}

TEST_P(AuditLogTest, TwoEntriesWithSwappedSequenceNumbersAreFoundReordered) {
  AppendEntries(5);
  Sql("UPDATE collab_audit_log SET seq = -1 WHERE seq = 2");
  Sql("UPDATE collab_audit_log SET seq = 2 WHERE seq = 3");
  Sql("UPDATE collab_audit_log SET seq = 3 WHERE seq = -1");
  ExpectProblem(AuditProblem::kReordered, 2);
}

TEST_P(AuditLogTest, TheLastEntryRemovedIsFoundAgainstTheHead) {
  AppendEntries(5);
  Sql("DELETE FROM collab_audit_log WHERE seq = 5");
  ExpectProblem(AuditProblem::kTruncated, 5);
}

TEST_P(AuditLogTest, TheLastEntryReplacedByAWellFormedForgeryIsFoundAgainstTheHead) {
  AppendEntries(5);
  auto entries = AuditLog(db()).List();
  ASSERT_TRUE(entries.ok());
  Sql("DELETE FROM collab_audit_log WHERE seq = 5");
  AuditRecord forged = Record(5);
  forged.cells_returned = 0;
  InsertWellFormed(5, forged, (*entries)[3].entry_hash);
  ExpectProblem(AuditProblem::kHeadMismatch, 5);
}

TEST_P(AuditLogTest, AnAppendAfterTheEndWasRemovedLeavesAGap) {
  AppendEntries(5);
  Sql("DELETE FROM collab_audit_log WHERE seq = 5");
  // The next entry follows the head, not what is left of the log: the removal stays visible.
  auto next = AuditLog(db()).Append(Record(6));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->sequence, 6);
  ExpectProblem(AuditProblem::kEntryMissing, 5);
}

TEST_P(AuditLogTest, EntriesInsertedOutsideAppendAreFoundAndRefuseTheNextAppend) {
  AppendEntries(3);
  InsertWellFormed(4, Record(4), AuditLog(db()).Head()->hash);
  ExpectProblem(AuditProblem::kUnrecordedEntries, 4);
  auto next = AuditLog(db()).Append(Record(4));
  EXPECT_EQ(next.status().code(), StatusCode::kDataLoss) << next.status().ToString();
  EXPECT_EQ(AuditLog(db()).Head()->entries, 3);
}

TEST_P(AuditLogTest, AMissingHeadIsDataLossNotAnEmptyLog) {
  AppendEntries(2);
  Sql("DELETE FROM collab_audit_head");
  AuditLog log(db());
  EXPECT_EQ(log.Append(Record(3)).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(log.Verify().status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(log.Head().status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(log.List()->size(), 2u);
}

TEST_P(AuditLogTest, ALogRewrittenWholeVerifiesButNotAgainstAnEarlierAnchor) {
  AppendEntries(3);
  auto anchor = AuditLog(db()).Head();
  ASSERT_TRUE(anchor.ok());
  {
    AuditLog log(db());
    ASSERT_TRUE(log.Append(Record(4)).ok());
    auto v = log.VerifyAgainst(*anchor);
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->ok()) << v->explanation;
  }
  // Someone with write access starts over and writes a consistent log of their own.
  Sql("DELETE FROM collab_audit_log");
  Sql(std::string("UPDATE collab_audit_head SET entries = 0, head_hash = ") +
      (GetParam() == Backend::kSqlite ? "zeroblob(32)" : "decode(repeat('00', 32), 'hex')"));
  AuditLog log(db());
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(log.Append(Record(i, Party('e'))).ok());
  EXPECT_TRUE(Verify().ok());
  auto v = log.VerifyAgainst(*anchor);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->problem, AuditProblem::kAnchorMismatch);
  EXPECT_EQ(v->first_bad_sequence, 3);
  // An anchor beyond the end: the log was cut below it.
  auto beyond = log.VerifyAgainst(AuditHead{9, anchor->hash});
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(beyond->problem, AuditProblem::kAnchorMismatch);
}

TEST_P(AuditLogTest, TwoAppendersOnTheirOwnConnectionsMakeOneChain) {
  constexpr int kPerAppender = 40;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < 2; ++i) {
    auto s = Store::Open(location_, false);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    stores.push_back(std::move(*s));
  }
  std::vector<std::vector<int64_t>> sequences(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      AuditLog log(stores[static_cast<size_t>(t)]->db());
      const std::string party = Party(t == 0 ? 'a' : 'b');
      for (int i = 1; i <= kPerAppender; ++i) {
        auto e = log.Append(Record(i, party));
        if (!e.ok()) {
          errors[static_cast<size_t>(t)] = e.status().ToString();
          return;
        }
        sequences[static_cast<size_t>(t)].push_back(e->sequence);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  std::set<int64_t> all;
  for (const auto& s : sequences) all.insert(s.begin(), s.end());
  EXPECT_EQ(all.size(), 2u * kPerAppender);  // no sequence number twice
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), 2 * kPerAppender);
  const AuditVerification v = Verify();
  EXPECT_TRUE(v.ok()) << v.explanation;
  EXPECT_EQ(v.entries, 2 * kPerAppender);
  // Each appender's entries are all there, in its own order.
  auto listed = AuditLog(db()).List();
  ASSERT_TRUE(listed.ok());
  int64_t last_a = 0;
  int count_a = 0;
  for (const AuditEntry& e : *listed) {
    if (e.record.party != Party('a')) continue;
    EXPECT_GT(e.record.time, last_a);
    last_a = e.record.time;
    ++count_a;
  }
  EXPECT_EQ(count_a, kPerAppender);
}

INSTANTIATE_TEST_SUITE_P(Backends, AuditLogTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

}  // namespace
}  // namespace tessera::collab
