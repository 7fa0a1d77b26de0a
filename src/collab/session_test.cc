// Collaboration queries between two owners (session.h): two stores with their own keys, grants
// issued and imported as partners would, the owners' node steps signed and checked, and the real
// join worker binary (sealed channel) computing the result. The owners' e-mail sets overlap in a
// known number of people (session_test_support.h), so every count is checked against the truth.

#include "tessera/collab/session.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "collab/session_test_support.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/budget_ledger.h"
#include "tessera/collab/worker.h"
#include "tessera/privacy/order_token.h"

#ifdef TESSERA_WORKER_BINARY

namespace tessera::collab {
namespace {

using Json = nlohmann::json;

using testing::KeyOf;
using testing::SessionTest;

TEST_F(SessionTest, OverlapEqualsTheTruth) {
  const Grant grant = IssueToA(Purpose::kOverlap, {OutputKind::kOverlapSize});

  auto result = Run(Overlap());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const Json j = Json::parse(result->result_json);
  ASSERT_EQ(j["cells"].size(), 1u) << result->result_json;
  EXPECT_EQ(j["cells"][0]["count"], 150);
  EXPECT_EQ(j["k_min"], 10);
  EXPECT_EQ(j["attestation"]["mode"], "simulated");
  EXPECT_EQ(result->grant_ids, std::vector<std::string>{grant.id});

  // B's audit log has the request and the run, under the grant, never a pseudonym.
  auto entries = AuditLog(b_.store->db()).List();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  for (const AuditEntry& e : *entries) {
    EXPECT_EQ(e.record.party, a_.party->id().ToString());
    EXPECT_EQ(e.record.grant_id, grant.id);
    EXPECT_EQ(e.record.outcome, AuditOutcome::kOk);
    EXPECT_EQ(e.record.attestation, AttestationMode::kSimulated);
  }
  EXPECT_TRUE(AuditLog(b_.store->db()).Verify()->ok());

  // Another session: new blinding, the same answer.
  auto again = Run(Overlap());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Json::parse(again->result_json)["cells"][0]["count"], 150);
  EXPECT_NE(again->request.session, result->request.session);
}

TEST_F(SessionTest, CountsBreakDownAndDropSmallCells) {
  IssueToA(Purpose::kAudienceCounts, {OutputKind::kAudienceCount, OutputKind::kCellCounts},
           {"segment", "orders"}, 10);
  QuerySpec spec = Overlap();
  spec.kind = QueryKind::kCounts;
  spec.queries[0].breakdown = {"segment"};  // A's side: its own segment (everyone in one)
  spec.queries[1].expression = "orders >= 1";
  auto result = Run(spec);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  Json j = Json::parse(result->result_json);
  ASSERT_EQ(j["dimensions"], Json::array({"a.segment"}));
  ASSERT_EQ(j["cells"].size(), 1u) << result->result_json;
  EXPECT_EQ(j["cells"][0]["count"], 150);

  // A partner's expression that selects nobody: the only cell is under k_min and withheld.
  spec.queries[1].expression = "orders >= 2";
  result = Run(spec);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  j = Json::parse(result->result_json);
  EXPECT_TRUE(j["cells"].empty()) << result->result_json;
  EXPECT_GE(j["filtered_cells"].get<int>(), 1);
}

TEST_F(SessionTest, OwnersRefuseWhatTheirGrantsDoNotAllow) {
  // No grant at all: A refuses before it asks.
  auto none = Run(Overlap());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().TextDetail("reason"), "no_grant");

  IssueToA(Purpose::kAudienceCounts, {OutputKind::kAudienceCount}, {"orders"}, 10);
  QuerySpec spec = Overlap();
  spec.kind = QueryKind::kCounts;
  spec.queries[1].expression = "clv > 10";  // clv is not allowed
  auto field = Run(spec);
  ASSERT_FALSE(field.ok());
  EXPECT_EQ(field.status().TextDetail("reason"), "field_not_allowed") << field.status().ToString();
  spec.queries[1].expression = "orders >= 1";
  spec.queries[1].breakdown = {"segment"};  // cell counts are not allowed
  auto cells = Run(spec);
  ASSERT_FALSE(cells.ok());
  EXPECT_EQ(cells.status().TextDetail("reason"), "output_kind_not_allowed");
  spec.queries[1].breakdown.clear();
  spec.k_min = 5;  // below the grant's 10: refused here already
  auto small = Run(spec);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().TextDetail("reason"), "k_min_too_small");

  // B logged each refusal it saw (the k_min one never reached it), nothing ran.
  auto entries = AuditLog(b_.store->db()).List();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  for (const AuditEntry& e : *entries) EXPECT_EQ(e.record.outcome, AuditOutcome::kRefused);
}

TEST_F(SessionTest, ARevokedGrantIsRefusedByItsOwnerEvenWhenTheRequesterStillHoldsIt) {
  const Grant grant = IssueToA(Purpose::kOverlap, {OutputKind::kOverlapSize});
  ASSERT_TRUE(GrantStore(b_.store->db()).Revoke(grant.id, "campaign over").ok());
  auto result = Run(Overlap());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().TextDetail("reason"), "revoked") << result.status().ToString();
}

TEST_F(SessionTest, TheBudgetIsReservedBeforeComputingAndRefusesWhenSpent) {
  DpPolicy dp;
  dp.epsilon_per_query_micro = 500'000;
  dp.budget_per_period_micro = 1'000'000;
  const Grant grant =
      IssueToA(Purpose::kAudienceCounts, {OutputKind::kAudienceCount}, {"orders"}, 10, dp);
  QuerySpec spec = Overlap();
  spec.kind = QueryKind::kCounts;
  for (int i = 0; i < 2; ++i) {
    auto result = Run(spec);  // ε defaults to the grant's 0.5
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result->request.epsilon_micro, 500'000u);
    const Json j = Json::parse(result->result_json);
    EXPECT_NE(j["noise"], "none");
  }
  auto spent = Run(spec);
  ASSERT_FALSE(spent.ok());
  EXPECT_EQ(spent.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(spent.status().TextDetail("reason"), "budget_exhausted");
  auto left =
      BudgetLedger(b_.store->db()).Remaining(a_.party->id().ToString(), grant.id, 1'000'000, now_);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->spent_micro, 1'000'000u);
  EXPECT_EQ(left->reserved_micro, 0u);
  // A larger ε than the grant allows is refused by the owner.
  spec.epsilon_micro = 900'000;
  auto large = Run(spec);
  ASSERT_FALSE(large.ok());
  EXPECT_EQ(large.status().TextDetail("reason"), "epsilon_too_large");
}

TEST_F(SessionTest, NodeMessagesAreSignedFreshAndOnce) {
  IssueToA(Purpose::kOverlap, {OutputKind::kOverlapSize});
  SessionRequest r;
  r.requester = a_.party->id().ToString();
  r.owners = {a_.party->id().ToString(), b_.party->id().ToString()};
  r.worker_host = r.requester;
  r.k_min = 10;
  r.issued_at = now_;
  r.session = *NewPsiSessionId();
  const std::string body = SessionRequestJson(r);
  auto sig = SignNodeMessage(*a_.party, "round1", b_.party->id(), body, now_);
  ASSERT_TRUE(sig.ok());
  // Another body under the same signature.
  SessionRequest other = r;
  other.k_min = 11;
  auto forged = b_.node->Handle("round1", *sig, SessionRequestJson(other));
  EXPECT_EQ(forged.status().code(), StatusCode::kPermissionDenied);
  // The signature of one step for another step.
  EXPECT_EQ(b_.node->Handle("round2", *sig, body).status().code(), StatusCode::kPermissionDenied);
  // Signed by a party outside the collaboration file.
  auto stranger = PartyKey::Derive(KeyOf(33));
  auto strange = SignNodeMessage(*stranger, "round1", b_.party->id(), body, now_);
  EXPECT_EQ(b_.node->Handle("round1", *strange, body).status().code(),
            StatusCode::kPermissionDenied);
  // Too old.
  auto old = SignNodeMessage(*a_.party, "round1", b_.party->id(), body, now_ - 3600);
  EXPECT_EQ(b_.node->Handle("round1", *old, body).status().code(), StatusCode::kPermissionDenied);
  // Accepted once, refused as a replay.
  auto first = b_.node->Handle("round1", *sig, body);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(b_.node->Handle("round1", *sig, body).status().code(), StatusCode::kPermissionDenied);
  // The reply is B's, for A, over exactly these values.
  EXPECT_TRUE(VerifyNodeMessage(first->signature, "round1.reply", b_.party->id(), a_.party->id(),
                                first->body)
                  .ok());
  std::string tampered = first->body;
  tampered[tampered.size() / 2] ^= 1;
  EXPECT_FALSE(
      VerifyNodeMessage(first->signature, "round1.reply", b_.party->id(), a_.party->id(), tampered)
          .ok());
  // The same session id again, freshly signed: refused.
  auto again = SignNodeMessage(*a_.party, "round1", b_.party->id(), body, now_);
  EXPECT_EQ(b_.node->Handle("round1", *again, body).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SessionTest, AnOwnerDoubleBlindsOnlyValuesThePartnerSignedForThisSession) {
  IssueToA(Purpose::kOverlap, {OutputKind::kOverlapSize});
  // Round 1 at A (A asks itself) and at B.
  SessionRequest r;
  r.requester = a_.party->id().ToString();
  r.owners = {a_.party->id().ToString(), b_.party->id().ToString()};
  r.worker_host = r.requester;
  r.k_min = 10;
  r.issued_at = now_;
  r.session = *NewPsiSessionId();
  const std::string body = SessionRequestJson(r);
  LocalTransport transport(*a_.party, {a_.node.get(), b_.node.get()}, nullptr,
                           [this] { return now_; });
  auto ra = transport.Call(collaboration_.parties[0], "round1", body);
  auto rb = transport.Call(collaboration_.parties[1], "round1", body);
  ASSERT_TRUE(ra.ok() && rb.ok());
  auto keys = WorkerKeyPair::Generate();
  WorkerHello hello;
  hello.public_key = keys->public_key();
  auto round2 = [&](const NodeReply& partner, std::string values) {
    Json head{{"session", privacy::HexEncode(std::string_view(
                              reinterpret_cast<const char*>(r.session.data()), 16))},
              {"worker", EncodeWorkerHello(hello)},
              {"partner",
               {{"from", partner.signature.from},
                {"to", partner.signature.to},
                {"time", partner.signature.time},
                {"nonce", partner.signature.nonce},
                {"signature", partner.signature.signature}}}};
    return transport.Call(collaboration_.parties[1], "round2", Frame(head.dump()) + values);
  };
  // A's values with one byte changed: B refuses them, and the session is gone.
  std::string changed = ra->body;
  changed[changed.size() - 1] ^= 1;
  auto refused = round2(*ra, changed);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << refused.status().ToString();
  auto gone = round2(*ra, ra->body);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().TextDetail("reason"), "unknown_session");
}

// A grantor that revokes tells the grantee's node: the grantee's copy says revoked too, and its
// own requester stops before asking. Only the grantor may say so, and only of its own grant.
TEST_F(SessionTest, ARevocationNoticeMarksTheGranteesCopy) {
  const Grant grant = IssueToA(Purpose::kOverlap, {OutputKind::kOverlapSize});
  ASSERT_TRUE(Run(Overlap()).ok());
  ASSERT_TRUE(*GrantStore(b_.store->db()).Revoke(grant.id, "contract ended"));
  LocalTransport from_b(*b_.party, {a_.node.get()}, nullptr, [this] { return now_; });
  auto told = NotifyRevocation(b_.store->db(), grant.id, collaboration_, from_b);
  ASSERT_TRUE(told.ok()) << told.status().ToString();
  EXPECT_TRUE(*told);
  auto copy = GrantStore(a_.store->db()).Show(grant.id);
  ASSERT_TRUE(copy.ok());
  ASSERT_TRUE(copy->revocation.has_value());
  EXPECT_EQ(copy->revocation->reason, "contract ended");
  EXPECT_FALSE(*NotifyRevocation(b_.store->db(), grant.id, collaboration_, from_b));  // knew
  // A's next query stops at A: B is not asked.
  const size_t b_entries = AuditLog(b_.store->db()).List()->size();
  auto refused = Run(Overlap());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().TextDetail("reason"), "no_grant") << refused.status().ToString();
  EXPECT_EQ(AuditLog(b_.store->db()).List()->size(), b_entries);

  // Not the grantor's to say: A tells B about B's own grant; a notice of a grant B never issued
  // to A; a malformed notice; a grant not revoked at the sender.
  const Grant other = IssueToA(Purpose::kAudienceCounts, {OutputKind::kAudienceCount}, {"orders"});
  LocalTransport from_a(*a_.party, {b_.node.get()}, nullptr, [this] { return now_; });
  auto not_yours = from_a.Call(collaboration_.parties[1], "grant_revoked",
                               RevocationNoticeJson({other.id, "x"}));
  EXPECT_EQ(not_yours.status().code(), StatusCode::kPermissionDenied)
      << not_yours.status().ToString();
  EXPECT_FALSE(GrantStore(b_.store->db()).Show(other.id)->revocation.has_value());
  auto unknown = from_b.Call(collaboration_.parties[0], "grant_revoked",
                             RevocationNoticeJson({"g_0123456789abcdef", "x"}));
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound) << unknown.status().ToString();
  auto malformed = from_b.Call(collaboration_.parties[0], "grant_revoked", R"({"grant_id":1})");
  EXPECT_EQ(malformed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NotifyRevocation(b_.store->db(), other.id, collaboration_, from_b).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(GrantStore(a_.store->db()).Show(other.id)->revocation.has_value());
}

}  // namespace
}  // namespace tessera::collab

#endif  // TESSERA_WORKER_BINARY
