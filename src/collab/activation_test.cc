// Activation (session.h, RunActivation): the members of a joint audience go to the owner of those
// customers only, as its own pseudonyms, above k_min, where the partner's grant allows
// activation. Two owners in-process (session_test_support.h) with the real join worker binary;
// A's people with a second order are the even ones, B's the multiples of 3, so every list is
// checked against the people the test wrote and A's own pseudonymizer.

#include "tessera/audience/activation.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "collab/session_test_support.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/budget_ledger.h"
#include "tessera/collab/session.h"
#include "tessera/privacy/pseudonymizer.h"

#ifdef TESSERA_WORKER_BINARY

namespace tessera::collab {
namespace {

using Json = nlohmann::json;
using testing::KeyOf;
using testing::Owner;

// What A's store calls person i: the pseudonym of the e-mail its orders carry.
std::vector<privacy::Uuid> PseudonymsOf(const privacy::OwnerKey& key,
                                        const std::vector<int>& people) {
  auto pseudonymizer = privacy::Pseudonymizer::Create(key);
  EXPECT_TRUE(pseudonymizer.ok());
  std::vector<privacy::Uuid> out;
  for (int i : people) {
    auto email = privacy::NormalizeEmail(fmt::format("Person.{}@Example.com", i));
    EXPECT_TRUE(email.ok());
    out.push_back(pseudonymizer->Pseudonym(privacy::IdentifierKind::kEmail, *email));
  }
  return out;
}

// People of both (250..399) that `keep` admits, in A's customer order (the order of its file).
std::vector<int> Shared(const std::function<bool(int)>& keep) {
  std::vector<int> out;
  for (int i = 250; i < 400; ++i) {
    if (keep(i)) out.push_back(i);
  }
  return out;
}

class ActivationTest : public testing::SessionTest {
 protected:
  void SetUp() override {
    brand_key_ = std::make_shared<const privacy::OwnerKey>(KeyOf(44));
    brand_.emplace(*PartyKey::Derive(*brand_key_));
    // A: a second order for even people; B: for multiples of 3. The brand owns no data.
    Build(400, 250, 400, 2, 3,
          {{"Brand", brand_->id(), "http://127.0.0.1:3", {PartyRole::kAnalyst}}});
  }

  static QuerySpec Activation(std::string own = "", std::string partner = "") {
    QuerySpec spec;
    spec.kind = QueryKind::kActivation;
    spec.owners = {"Retailer", "Telco"};
    spec.queries[0].expression = std::move(own);
    spec.queries[1].expression = std::move(partner);
    return spec;
  }

  // An activation run by A, its members mapped by A's own node.
  StatusOr<ActivationResult> Activate(const QuerySpec& spec) {
    LocalTransport transport = TransportOfA();
    auto grants = GrantStore(a_.store->db()).List();
    EXPECT_TRUE(grants.ok());
    return RunActivation(spec, RequesterOf(a_), *grants, transport, *a_.node);
  }

  // A grant of activation from B to A, imported at A.
  Grant GrantActivation(std::optional<DpPolicy> dp = std::nullopt) {
    return IssueToA(Purpose::kActivation, {OutputKind::kActivationList}, {"orders"}, 10, dp);
  }

  // A request of `requester` for the list, as its node would send it, with the owners given.
  SessionRequest Request(const PartyId& requester, const PartyId& owner_a, const PartyId& owner_b) {
    SessionRequest r;
    r.kind = QueryKind::kActivation;
    r.requester = requester.ToString();
    r.owners = {owner_a.ToString(), owner_b.ToString()};
    r.worker_host = r.requester;
    r.k_min = 10;
    r.issued_at = now_;
    r.session = *NewPsiSessionId();
    return r;
  }

  // `r` sent to `to`'s node as round 1, signed by `from`.
  StatusOr<NodeReply> SendRound1(const PartyKey& from, Owner& to, const SessionRequest& r) {
    LocalTransport transport(from, {to.node.get()}, nullptr, [this] { return now_; });
    const CollaborationParty* party = collaboration_.Find(to.party->id());
    EXPECT_NE(party, nullptr);
    return transport.Call(*party, "round1", SessionRequestJson(r));
  }

  std::vector<AuditEntry> LogOf(Owner& o) {
    auto entries = AuditLog(o.store->db()).List();
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? *entries : std::vector<AuditEntry>{};
  }

  std::shared_ptr<const privacy::OwnerKey> brand_key_;
  std::optional<PartyKey> brand_;
};

TEST_F(ActivationTest, TheListIsExactlyTheRequestersPseudonymsOfTheJointAudience) {
  const Grant grant = GrantActivation();
  auto result = Activate(Activation("orders >= 2", "orders >= 2"));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_FALSE(result->withheld);
  const std::vector<int> joint = Shared([](int i) { return i % 2 == 0 && i % 3 == 0; });
  ASSERT_EQ(joint.size(), 25u);
  // Exactly them, once each, in A's customer order (as `tessera audience export` lists them).
  EXPECT_EQ(result->members, PseudonymsOf(*a_.key, joint));
  const Json j = Json::parse(result->query.result_json);
  EXPECT_EQ(j["kind"], "activation");
  EXPECT_EQ(j["withheld"], false);
  EXPECT_EQ(j["count"], 25);
  EXPECT_FALSE(j.contains("positions"));  // mapped, and gone
  EXPECT_EQ(j["attestation"]["mode"], "simulated");
  EXPECT_EQ(result->query.grant_ids, std::vector<std::string>{grant.id});
  EXPECT_EQ(result->query.cells_returned, 1u);

  // Without expressions: everyone both have.
  auto everyone = Activate(Activation());
  ASSERT_TRUE(everyone.ok()) << everyone.status().ToString();
  EXPECT_EQ(everyone->members, PseudonymsOf(*a_.key, Shared([](int) { return true; })));

  // Asked with the partner named first, the list is still this party's own customers.
  QuerySpec swapped = Activation();
  swapped.owners = {"Telco", "Retailer"};
  swapped.queries[1].expression = "orders >= 2";  // A's expression, beside A's name
  auto own = Activate(swapped);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->members, PseudonymsOf(*a_.key, Shared([](int i) { return i % 2 == 0; })));

  // The list is an audience export: `tessera match` takes it, and finds those people in A's file.
  const std::string list = (dir_ / "activation.csv").string();
  const std::string csv = ActivationListCsv(result->members);
  ASSERT_EQ(csv.rfind("uuid\r\n", 0), 0u);
  std::FILE* f = std::fopen(list.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(csv.data(), 1, csv.size(), f);
  std::fclose(f);
  char* rows = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&rows, &size);
  auto matched =
      audience::MatchAudience(*a_.key, (dir_ / "a.csv").string(), *io::LoadMapping("generic"), list,
                              audience::MatchFormat::kRows, out);
  std::fclose(out);
  std::free(rows);
  ASSERT_TRUE(matched.ok()) << matched.status().ToString();
  EXPECT_EQ(matched->audience_size, 25u);
  EXPECT_EQ(matched->matched_customers, 25u);

  // B's log: a request and a run per activation, under the grant, and never a pseudonym.
  const auto entries = LogOf(b_);
  ASSERT_EQ(entries.size(), 6u);
  for (const AuditEntry& e : entries) {
    EXPECT_EQ(e.record.purpose, "activation");
    EXPECT_EQ(e.record.outcome, AuditOutcome::kOk);
    EXPECT_EQ(e.record.grant_id, grant.id);
    EXPECT_EQ(e.record.party, a_.party->id().ToString());
  }
}

TEST_F(ActivationTest, NothingIsReleasedBelowKMin) {
  GrantActivation();
  QuerySpec spec = Activation("orders >= 2", "orders >= 2");  // 25 people
  spec.k_min = 26;
  auto result = Activate(spec);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->withheld);
  EXPECT_TRUE(result->members.empty());
  EXPECT_EQ(result->query.cells_returned, 0u);
  const Json j = Json::parse(result->query.result_json);
  EXPECT_EQ(j["withheld"], true);
  EXPECT_FALSE(j.contains("count"));  // not even how many
  EXPECT_FALSE(j.contains("positions"));
  // Withheld or not, the session's permutation is forgotten.
  EXPECT_EQ(a_.node->ActivationMembers(result->query.request.session, {}).status().code(),
            StatusCode::kNotFound);

  // This party's own minimum export size is a floor of k_min as well.
  spec.k_min.reset();
  spec.k_min_floor = 26;
  result = Activate(spec);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->withheld);
  EXPECT_EQ(Json::parse(result->query.result_json)["k_min"], 26);
  spec.k_min_floor = 25;
  result = Activate(spec);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->members.size(), 25u);
}

TEST_F(ActivationTest, IsRefusedWithoutAnActivationGrantAndWithARevokedOne) {
  // No grant: refused here, before anything is sent.
  auto none = Activate(Activation());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().TextDetail("reason"), "no_grant") << none.status().ToString();
  // A grant of counts is no grant of activation.
  IssueToA(Purpose::kAudienceCounts, {OutputKind::kAudienceCount}, {"orders"});
  auto counts = Activate(Activation());
  ASSERT_FALSE(counts.ok());
  EXPECT_EQ(counts.status().TextDetail("reason"), "no_grant");
  EXPECT_TRUE(LogOf(b_).empty());

  // Sent to the partner past this party's own check: the partner refuses it and logs it.
  auto direct = SendRound1(*a_.party, b_, Request(a_.party->id(), a_.party->id(), b_.party->id()));
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.status().TextDetail("reason"), "no_grant") << direct.status().ToString();

  // A revoked grant: this party still holds its copy; the partner refuses.
  const Grant grant = GrantActivation();
  ASSERT_TRUE(GrantStore(b_.store->db()).Revoke(grant.id, "campaign over").ok());
  auto revoked = Activate(Activation());
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.status().TextDetail("reason"), "revoked") << revoked.status().ToString();

  // Both refusals logged at the partner, and nothing ran.
  const auto entries = LogOf(b_);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].record.reason, "no_grant");
  EXPECT_EQ(entries[1].record.reason, "revoked");
  for (const AuditEntry& e : entries) {
    EXPECT_EQ(e.record.outcome, AuditOutcome::kRefused);
    EXPECT_EQ(e.record.purpose, "activation");
    EXPECT_EQ(e.record.cells_returned, 0u);
  }
}

TEST_F(ActivationTest, IsRefusedUnderAGrantWithDifferentialPrivacy) {
  DpPolicy dp;
  dp.epsilon_per_query_micro = 500'000;
  dp.budget_per_period_micro = 1'000'000;
  const Grant grant = GrantActivation(dp);
  auto here = Activate(Activation());
  ASSERT_FALSE(here.ok());
  EXPECT_EQ(here.status().TextDetail("reason"), "activation_under_dp") << here.status().ToString();
  EXPECT_TRUE(LogOf(b_).empty());
  // At the partner too, logged, and no ε reserved or spent.
  auto direct = SendRound1(*a_.party, b_, Request(a_.party->id(), a_.party->id(), b_.party->id()));
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.status().TextDetail("reason"), "activation_under_dp");
  const auto entries = LogOf(b_);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].record.outcome, AuditOutcome::kRefused);
  auto left =
      BudgetLedger(b_.store->db()).Remaining(a_.party->id().ToString(), grant.id, 1'000'000, now_);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->spent_micro, 0u);
  EXPECT_EQ(left->reserved_micro, 0u);

  // A list takes no ε and no breakdown: such a request is malformed.
  QuerySpec noisy = Activation();
  noisy.epsilon_micro = 500'000;
  EXPECT_EQ(Activate(noisy).status().code(), StatusCode::kInvalidArgument);
  SessionRequest r = Request(a_.party->id(), a_.party->id(), b_.party->id());
  r.epsilon_micro = 500'000;
  EXPECT_EQ(ParseSessionRequest(SessionRequestJson(r)).status().TextDetail("field"), "epsilon");
  r.epsilon_micro.reset();
  r.queries[1].breakdown = {"segment"};
  EXPECT_EQ(ParseSessionRequest(SessionRequestJson(r)).status().TextDetail("field"), "queries");
}

TEST_F(ActivationTest, ThePartnerNeverReceivesAList) {
  GrantActivation();
  // A grants B activation too, so that only the rule refuses what B asks below.
  IssueGrant(a_, b_.party->id(), &b_, Purpose::kActivation, {OutputKind::kActivationList},
             {"orders"});
  auto result = Activate(Activation());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_FALSE(result->withheld);
  const PsiSessionId session = result->query.request.session;
  // The partner kept nothing that maps the session's positions to anyone...
  EXPECT_EQ(b_.node->ActivationMembers(session, {}).status().code(), StatusCode::kNotFound);
  // ...and this party hands its members out once.
  EXPECT_EQ(a_.node->ActivationMembers(session, {}).status().code(), StatusCode::kNotFound);

  // B asks for the list of A's customers (A as owner A, B the requester): A refuses and logs it,
  // although it granted B activation.
  const size_t logged = LogOf(a_).size();
  auto stolen = SendRound1(*b_.party, a_, Request(b_.party->id(), a_.party->id(), b_.party->id()));
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.status().TextDetail("reason"), "requester_not_owner")
      << stolen.status().ToString();
  const auto entries = LogOf(a_);
  ASSERT_EQ(entries.size(), logged + 1);
  EXPECT_EQ(entries.back().record.outcome, AuditOutcome::kRefused);
  EXPECT_EQ(entries.back().record.reason, "requester_not_owner");
  EXPECT_EQ(entries.back().record.party, b_.party->id().ToString());

  // Nor does A's requester ask for B's list (B as owner A of the request).
  QuerySpec theirs = Activation();
  theirs.owners = {"Telco", "Retailer"};
  auto refused = Run(theirs);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().TextDetail("reason"), "requester_not_owner");
}

TEST_F(ActivationTest, ARequesterThatIsNotAnOwnerIsRefused) {
  // B grants the brand activation, so that only the rule refuses.
  IssueGrant(b_, brand_->id(), nullptr, Purpose::kActivation, {OutputKind::kActivationList},
             {"orders"});
  OwnerNodeOptions options;
  options.open_store = []() -> StatusOr<std::unique_ptr<store::Store>> {
    return FailedPreconditionError("the brand owns no store");
  };
  options.owner_key = brand_key_;
  options.collaboration = collaboration_;
  auto brand_node = OwnerNode::Create(std::move(options));
  ASSERT_TRUE(brand_node.ok()) << brand_node.status().ToString();
  RequesterOptions requester = RequesterOf(a_);
  requester.owner_key = brand_key_;
  LocalTransport transport(*brand_, {a_.node.get(), b_.node.get()}, nullptr,
                           [this] { return now_; });
  // The brand's own requester refuses before anything is sent...
  auto here = RunActivation(Activation(), requester, {}, transport, **brand_node);
  ASSERT_FALSE(here.ok());
  EXPECT_EQ(here.status().TextDetail("reason"), "requester_not_owner") << here.status().ToString();
  EXPECT_TRUE(LogOf(b_).empty());
  // ...and an owner refuses it when it comes anyway, and logs it under the brand's id.
  auto sent = SendRound1(*brand_, b_, Request(brand_->id(), a_.party->id(), b_.party->id()));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.status().TextDetail("reason"), "requester_not_owner") << sent.status().ToString();
  const auto entries = LogOf(b_);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].record.outcome, AuditOutcome::kRefused);
  EXPECT_EQ(entries[0].record.party, brand_->id().ToString());
}

}  // namespace
}  // namespace tessera::collab

#endif  // TESSERA_WORKER_BINARY
