// Counts on a kept match (session.h KeptMatch): matched once, then counted again and again with
// only the owners' contributions sent — each count equal to what a new query answers, judged by
// the grants and the ledger like one, logged like one, and refused once the match has ended,
// expired or gone stale. Two owners with their own stores and keys, the real join worker binary.

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "collab/session_test_support.h"
#include "tessera/analytics/segments.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/session.h"

#ifdef TESSERA_WORKER_BINARY

namespace tessera::collab {
namespace {

using Json = nlohmann::json;
using Cells = std::map<std::vector<std::string>, int64_t>;

std::string RegionOfA(int i) { return i % 2 == 0 ? "Nord" : "Sued"; }
std::string RegionOfB(int i) { return i % 3 == 0 ? "Ost" : "West"; }

Cells CellsOf(const std::string& result_json) {
  Cells cells;
  const Json j = Json::parse(result_json);
  for (const Json& c : j["cells"]) {
    cells[c["labels"].get<std::vector<std::string>>()] = c["count"].get<int64_t>();
  }
  return cells;
}

class KeptMatchTest : public testing::SessionTest {
 protected:
  // A: people 0..399, a second order for every 5th, regions Nord/Sued; B: 250..649, a second
  // order for every 4th, regions Ost/West. 150 in common (250..399).
  void SetUp() override {
    Build(testing::People{.first = 0, .count = 400, .second_every = 5, .region_of = RegionOfA},
          testing::People{.first = 250, .count = 400, .second_every = 4, .region_of = RegionOfB});
    IssueToA(Purpose::kAudienceCounts, {OutputKind::kAudienceCount, OutputKind::kCellCounts},
             {"segment", "orders", "region"}, 10);
  }

  // The truth for people in both files that A's and B's filters admit, by A's then B's region.
  static Cells Truth(bool a_two_orders, bool b_two_orders, bool by_a_region, bool by_b_region) {
    Cells cells;
    for (int i = 250; i < 400; ++i) {
      if ((a_two_orders && i % 5 != 0) || (b_two_orders && i % 4 != 0)) continue;
      std::vector<std::string> labels;
      if (by_a_region) labels.push_back(RegionOfA(i));
      if (by_b_region) labels.push_back(RegionOfB(i));
      ++cells[labels];
    }
    std::erase_if(cells, [](const auto& c) { return c.second < 10; });  // k_min
    return cells;
  }

  QuerySpec Counts(std::string a_expression, std::vector<std::string> a_breakdown,
                   std::string b_expression, std::vector<std::string> b_breakdown) {
    QuerySpec spec = Overlap();
    spec.kind = QueryKind::kCounts;
    spec.queries[0] = {std::move(a_expression), std::move(a_breakdown)};
    spec.queries[1] = {std::move(b_expression), std::move(b_breakdown)};
    return spec;
  }

  // A match kept by A, made with a count of everyone matched.
  std::unique_ptr<KeptMatch> Match(LocalTransport& transport, QueryResult* first = nullptr) {
    QuerySpec spec = Counts("", {}, "", {});
    spec.keep = true;
    std::unique_ptr<KeptMatch> kept;
    auto result = RunQuery(spec, RequesterOf(a_), Grants(), transport, &kept);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (result.ok() && first != nullptr) *first = *result;
    return kept;
  }

  std::vector<StoredGrant> Grants() {
    auto grants = GrantStore(a_.store->db()).List();
    EXPECT_TRUE(grants.ok());
    return grants.ok() ? *grants : std::vector<StoredGrant>{};
  }
};

TEST_F(KeptMatchTest, CountsOnAKeptMatchEqualNewQueriesAndTheTruth) {
  LocalTransport transport = TransportOfA();
  QueryResult first;
  std::unique_ptr<KeptMatch> kept = Match(transport, &first);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(CellsOf(first.result_json), (Cells{{{}, 150}}));
  EXPECT_TRUE(kept->request().keep);
  EXPECT_EQ(kept->expires(), now_ + kMatchLifetimeSeconds);

  struct Case {
    QuerySpec spec;
    Cells truth;
  };
  const std::vector<Case> cases = {
      {Counts("", {}, "orders >= 2", {}), Truth(false, true, false, false)},
      {Counts("orders >= 2", {"region"}, "", {}), Truth(true, false, true, false)},
      // The two-attribute breakdown of the issue: one attribute of each owner.
      {Counts("", {"region"}, "", {"region"}), Truth(false, false, true, true)},
      {Counts("orders >= 2", {"region"}, "orders >= 2", {}), Truth(true, true, true, false)},
  };
  std::vector<PsiSessionId> ids;
  for (const Case& c : cases) {
    auto counted = kept->Count(c.spec, Grants(), transport);
    ASSERT_TRUE(counted.ok()) << counted.status().ToString();
    EXPECT_EQ(CellsOf(counted->result_json), c.truth) << counted->result_json;
    ASSERT_TRUE(counted->request.match.has_value());
    EXPECT_EQ(*counted->request.match, kept->request().session);
    ids.push_back(counted->request.session);
    const Json j = Json::parse(counted->result_json);
    EXPECT_EQ(j["count"], PsiSessionIdHex(counted->request.session));
    EXPECT_EQ(j["attestation"]["mode"], "simulated");
    // A new query (new blinding, a new match) answers the same.
    auto fresh = Run(c.spec);
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    EXPECT_EQ(CellsOf(fresh->result_json), c.truth);
  }
  EXPECT_EQ(std::set<PsiSessionId>(ids.begin(), ids.end()).size(), ids.size());

  // B logged the match and each count under its own hash, all as runs under the grant.
  auto entries = AuditLog(b_.store->db()).List();
  ASSERT_TRUE(entries.ok());
  std::set<std::string> hashes;
  for (const AuditEntry& e : *entries) {
    EXPECT_EQ(e.record.outcome, AuditOutcome::kOk);
    hashes.insert(e.record.query_hash);
  }
  // The match (rounds 1 and 2: one hash), four counts, four new queries.
  EXPECT_EQ(hashes.size(), 1u + 4u + 4u);
  EXPECT_TRUE(AuditLog(b_.store->db()).Verify()->ok());
}

TEST_F(KeptMatchTest, EachCountIsJudgedByTheGrantsAndSpendsItsOwnEpsilon) {
  DpPolicy dp{.epsilon_per_query_micro = 500'000, .budget_per_period_micro = 1'000'000};
  IssueToA(Purpose::kAudienceCounts, {OutputKind::kAudienceCount, OutputKind::kCellCounts},
           {"segment", "orders", "region"}, 10, dp);
  LocalTransport transport = TransportOfA();
  std::unique_ptr<KeptMatch> kept = Match(transport);  // spends 0.5 at B
  ASSERT_NE(kept, nullptr);
  auto counted = kept->Count(Counts("", {}, "orders >= 2", {}), Grants(), transport);
  ASSERT_TRUE(counted.ok()) << counted.status().ToString();
  EXPECT_NE(Json::parse(counted->result_json)["noise"], "none");
  // The budget of 1.0 is spent: the next count is refused before anything is computed.
  auto spent = kept->Count(Counts("", {}, "", {}), Grants(), transport);
  ASSERT_FALSE(spent.ok());
  EXPECT_EQ(spent.status().TextDetail("reason"), "budget_exhausted") << spent.status().ToString();
  // A field the grants do not allow is refused at the owner too, and the match stays usable.
  QuerySpec field = Counts("", {}, "clv > 1", {});
  auto refused = kept->Count(field, Grants(), transport);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().TextDetail("reason"), "field_not_allowed");
}

TEST_F(KeptMatchTest, AnEndedExpiredOrStaleMatchIsRefused) {
  LocalTransport transport = TransportOfA();
  std::unique_ptr<KeptMatch> ended = Match(transport);
  ASSERT_NE(ended, nullptr);
  const PsiSessionId ended_id = ended->request().session;
  ASSERT_TRUE(ended->End(transport).ok());
  auto after_end = ended->Count(Counts("", {}, "", {}), Grants(), transport);
  ASSERT_FALSE(after_end.ok());
  EXPECT_EQ(after_end.status().TextDetail("reason"), "unknown_match");
  // The owners forgot it: a count request straight to B is refused there.
  SessionRequest count = ended->request();
  count.kind = QueryKind::kCounts;
  count.keep = false;
  count.match = ended_id;
  count.session = *NewPsiSessionId();
  count.issued_at = now_;
  auto signature =
      SignNodeMessage(*a_.party, "count", b_.party->id(), SessionRequestJson(count), now_);
  ASSERT_TRUE(signature.ok());
  auto at_b = b_.node->Handle("count", *signature, SessionRequestJson(count));
  ASSERT_FALSE(at_b.ok());
  EXPECT_EQ(at_b.status().TextDetail("reason"), "unknown_match");

  // At most two kept matches per requester at an owner: a third ends the oldest (a requester
  // that crashed cannot end its own).
  std::unique_ptr<KeptMatch> oldest = Match(transport);
  now_ += 1;
  std::unique_ptr<KeptMatch> one = Match(transport);
  now_ += 1;
  std::unique_ptr<KeptMatch> two = Match(transport);
  ASSERT_NE(oldest, nullptr);
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  auto evicted = oldest->Count(Counts("", {}, "", {}), Grants(), transport);
  ASSERT_FALSE(evicted.ok());
  EXPECT_EQ(evicted.status().TextDetail("reason"), "unknown_match");
  auto still = one->Count(Counts("", {}, "", {}), Grants(), transport);
  ASSERT_TRUE(still.ok()) << still.status().ToString();

  // B loads more orders: its positions would name other customers, so it refuses to count.
  ingest::LoadOptions options;
  options.mapping = *io::LoadMapping("generic");
  options.match_tokens = true;
  ASSERT_TRUE(ingest::LoadOrders(*b_.store, *b_.key,
                                 {testing::WriteOrders(dir_, "b_more", 700, 20)}, options)
                  .ok());
  auto stale = one->Count(Counts("", {}, "", {}), Grants(), transport);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().TextDetail("reason"), "match_stale") << stale.status().ToString();

  // After its lifetime the match is gone everywhere.
  now_ += kMatchLifetimeSeconds + 1;
  auto expired = two->Count(Counts("", {}, "", {}), Grants(), transport);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.status().TextDetail("reason"), "unknown_match");
}

}  // namespace
}  // namespace tessera::collab

#endif  // TESSERA_WORKER_BINARY
