// The join worker at a worker host (worker_host.h): a neutral party starts the worker, signs its
// hello for the session, and runs it on the owners' sealed streams; the owners seal only to a
// worker whose host signed it for this very session. Real worker binary, real signatures.

#include "tessera/collab/worker_host.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "collab/session_test_support.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/worker.h"

#ifdef TESSERA_WORKER_BINARY

namespace tessera::collab {
namespace {

using Json = nlohmann::json;
using testing::KeyOf;

std::string ReasonOf(const Status& s) { return s.TextDetail("reason").value_or(""); }

class WorkerHostTest : public testing::SessionTest {
 protected:
  void SetUp() override {
    host_key_ = std::make_shared<const privacy::OwnerKey>(KeyOf(33));
    auto party = PartyKey::Derive(*host_key_);
    ASSERT_TRUE(party.ok());
    host_party_.emplace(std::move(*party));
    Build(400, 250, 400, 0, 0,
          {CollaborationParty{
              "Neutral", host_party_->id(), "http://127.0.0.1:3", {PartyRole::kWorkerHost}}});
    host_ = MakeHost(host_key_, collaboration_);
  }

  std::unique_ptr<WorkerHostNode> MakeHost(std::shared_ptr<const privacy::OwnerKey> key,
                                           const Collaboration& collaboration,
                                           size_t per_requester = 2) {
    WorkerHostOptions options;
    options.owner_key = std::move(key);
    options.collaboration = collaboration;
    options.worker_binary = TESSERA_WORKER_BINARY;
    options.max_workers_per_requester = per_requester;
    options.clock = [this] { return now_; };
    auto host = WorkerHostNode::Create(std::move(options));
    EXPECT_TRUE(host.ok()) << host.status().ToString();
    return std::move(*host);
  }

  // B grants A an overlap (or audience counts of everyone) with the worker allowed at `hosts`;
  // A imports it.
  void GrantOverlap(std::vector<PartyId> hosts, Purpose purpose = Purpose::kOverlap) {
    GrantSpec spec{.grantor = b_.party->id(), .grantee = a_.party->id()};
    spec.purpose = purpose;
    spec.output_kinds = {purpose == Purpose::kOverlap ? OutputKind::kOverlapSize
                                                      : OutputKind::kAudienceCount};
    if (purpose != Purpose::kOverlap) spec.allowed_fields = {"orders"};
    spec.k_min = 10;
    spec.recipients = {a_.party->id()};
    spec.worker_hosts = std::move(hosts);
    spec.attestation_modes = {AttestationMode::kSimulated};
    spec.not_before = now_ - 86400;
    spec.expires = now_ + 30 * 86400;
    auto grant = GrantStore(b_.store->db()).Create(spec, *b_.party);
    ASSERT_TRUE(grant.ok()) << grant.status().ToString();
    ASSERT_TRUE(GrantStore(a_.store->db())
                    .Import(GrantToJson(*grant), collaboration_, a_.party->id())
                    .ok());
  }

  StatusOr<QueryResult> RunWith(const std::string& worker_host, NodeTransport& transport) {
    RequesterOptions options = RequesterOf(a_);
    options.worker_host = worker_host;
    auto grants = GrantStore(a_.store->db()).List();
    EXPECT_TRUE(grants.ok());
    return RunQuery(Overlap(), options, *grants, transport);
  }

  StatusOr<QueryResult> RunAtHost(const std::string& worker_host) {
    LocalTransport transport = TransportOfA();
    transport.AddWorkerHost(host_.get());
    return RunWith(worker_host, transport);
  }

  size_t AuditEntriesOfB() { return AuditLog(b_.store->db()).List()->size(); }

  // A signed call to `host` as `from`.
  StatusOr<NodeReply> Call(WorkerHostNode& host, const PartyKey& from, std::string_view op,
                           const std::string& body) {
    auto sig = SignNodeMessage(from, op, host.id(), body, now_);
    if (!sig.ok()) return sig.status();
    return host.Handle(op, *sig, body);
  }

  std::shared_ptr<const privacy::OwnerKey> host_key_;
  std::optional<PartyKey> host_party_;
  std::unique_ptr<WorkerHostNode> host_;
};

TEST_F(WorkerHostTest, OverlapWithTheWorkerAtANeutralHostEqualsTheTruth) {
  GrantOverlap({host_party_->id()});
  auto result = RunAtHost("Neutral");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(Json::parse(result->result_json)["cells"][0]["count"], 150);
  EXPECT_EQ(result->request.worker_host, host_party_->id().ToString());
  EXPECT_GT(result->bytes_to_worker_host, 150u * 32);
  auto entries = AuditLog(b_.store->db()).List();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  for (const AuditEntry& e : *entries) EXPECT_EQ(e.record.outcome, AuditOutcome::kOk);

  // Not named: the grants do not allow the worker at A, so it goes to the host they allow.
  auto chosen = RunAtHost("");
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  EXPECT_EQ(chosen->request.worker_host, host_party_->id().ToString());
  EXPECT_EQ(Json::parse(chosen->result_json)["cells"][0]["count"], 150);
}

// An owner of the query is never chosen as the worker's host unasked: its machine could read the
// worker's memory, and with its own session positions the other owner's data on its customers.
TEST_F(WorkerHostTest, AnOwnerIsNeverChosenAsHostUnasked) {
  GrantOverlap({b_.party->id()});  // B's grant: the worker at B only
  RequesterOptions options = RequesterOf(a_);
  options.collaboration.parties[1].roles.push_back(PartyRole::kWorkerHost);  // B hosts workers
  LocalTransport transport = TransportOfA();
  auto grants = GrantStore(a_.store->db()).List();
  ASSERT_TRUE(grants.ok());
  auto result = RunQuery(Overlap(), options, *grants, transport);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ReasonOf(result.status()), "worker_host_not_allowed") << result.status().ToString();
  EXPECT_NE(result.status().message().find("Telco"), std::string::npos)
      << "names the place to choose explicitly: " << result.status().message();
  EXPECT_EQ(AuditEntriesOfB(), 0u);
}

TEST_F(WorkerHostTest, APlaceTheGrantsDoNotAllowIsRefusedBeforeAnythingIsSent) {
  GrantOverlap({a_.party->id()});
  auto result = RunAtHost("Neutral");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ReasonOf(result.status()), "worker_host_not_allowed") << result.status().ToString();
  EXPECT_NE(result.status().message().find("Retailer"), std::string::npos)
      << "names where the grants allow it: " << result.status().message();
  EXPECT_EQ(AuditEntriesOfB(), 0u);
  // A party without the role worker_host cannot be asked to host.
  auto telco = RunAtHost("Telco");
  ASSERT_FALSE(telco.ok());
  EXPECT_EQ(telco.status().code(), StatusCode::kInvalidArgument) << telco.status().ToString();
}

// A requester that names the neutral host in its request but relays a worker of its own: the
// owner sees a hello not signed by the host and seals nothing to it.
class ForgingTransport : public NodeTransport {
 public:
  ForgingTransport(LocalTransport& inner, WorkerHostNode& own_host, const PartyKey& requester,
                   PartyId named_host, std::function<int64_t()> clock)
      : inner_(inner),
        own_host_(own_host),
        requester_(requester),
        named_host_(std::move(named_host)),
        clock_(std::move(clock)) {}

  StatusOr<NodeReply> Call(const CollaborationParty& to, std::string_view op,
                           const std::string& body) override {
    if (!op.starts_with("worker_")) return inner_.Call(to, op, body);
    TESSERA_ASSIGN_OR_RETURN(NodeSignature sig,
                             SignNodeMessage(requester_, op, own_host_.id(), body, clock_()));
    TESSERA_ASSIGN_OR_RETURN(NodeReply reply, own_host_.Handle(op, sig, body));
    if (op != "worker_start") return reply;
    // Its own worker, claimed to be the named host's, signed with its own key.
    TESSERA_ASSIGN_OR_RETURN(WorkerBinding b, ParseWorkerBinding(reply.body));
    b.host = named_host_.ToString();
    reply.body = WorkerBindingJson(b);
    TESSERA_ASSIGN_OR_RETURN(
        reply.signature,
        SignNodeMessage(requester_, "worker_start.reply", requester_.id(), reply.body, clock_()));
    reply.signature.from = named_host_.ToString();
    return reply;
  }

 private:
  LocalTransport& inner_;
  WorkerHostNode& own_host_;
  const PartyKey& requester_;
  PartyId named_host_;
  std::function<int64_t()> clock_;
};

TEST_F(WorkerHostTest, OwnersRefuseAWorkerItsNamedHostDidNotSign) {
  GrantOverlap({host_party_->id()});
  Collaboration with_a_hosting = collaboration_;
  with_a_hosting.parties[0].roles.push_back(PartyRole::kWorkerHost);
  auto own_host = MakeHost(a_.key, with_a_hosting);
  LocalTransport inner = TransportOfA();
  ForgingTransport forging(inner, *own_host, *a_.party, host_party_->id(), [this] { return now_; });
  auto result = RunWith("Neutral", forging);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kPermissionDenied) << result.status().ToString();
  EXPECT_EQ(ReasonOf(result.status()), "worker_binding_invalid");
  // B logged the refusal; its ε and values went nowhere.
  auto entries = AuditLog(b_.store->db()).List();
  ASSERT_TRUE(entries.ok());
  ASSERT_FALSE(entries->empty());
  EXPECT_EQ(entries->back().record.outcome, AuditOutcome::kRefused);
  EXPECT_EQ(entries->back().record.reason, "worker_binding_invalid");
}

TEST_F(WorkerHostTest, BindingBindsSessionRequesterHostAndHello) {
  SessionRequest r;
  r.session = *NewPsiSessionId();
  r.requester = a_.party->id().ToString();
  r.worker_host = host_party_->id().ToString();
  r.issued_at = now_;
  const std::string hello = R"({"attestation":"simulated","evidence":"","public_key":")" +
                            std::string(64, 'a') + R"(","version":1})";
  ASSERT_TRUE(ParseWorkerHello(hello).ok());
  WorkerBinding b{r.session, r.requester, r.worker_host, hello};
  auto sign = [&](const PartyKey& by, const std::string& body, int64_t at) {
    return *SignNodeMessage(by, "worker_start.reply", a_.party->id(), body, at);
  };
  const std::string body = WorkerBindingJson(b);
  EXPECT_EQ(*ParseWorkerBinding(body), b);
  EXPECT_TRUE(CheckWorkerBinding(r, sign(*host_party_, body, now_), body, hello).ok());

  auto refused = [&](const NodeSignature& sig, const std::string& text, const std::string& h) {
    const Status s = CheckWorkerBinding(r, sig, text, h);
    return s.code() == StatusCode::kPermissionDenied && ReasonOf(s) == "worker_binding_invalid";
  };
  // Signed by someone else (the requester itself).
  NodeSignature by_a = sign(*a_.party, body, now_);
  EXPECT_TRUE(refused(by_a, body, hello));
  by_a.from = host_party_->id().ToString();
  EXPECT_TRUE(refused(by_a, body, hello));
  // Another hello than the one signed.
  const std::string other_hello = R"({"attestation":"simulated","evidence":"","public_key":")" +
                                  std::string(64, 'b') + R"(","version":1})";
  EXPECT_TRUE(refused(sign(*host_party_, body, now_), body, other_hello));
  // Signed for another session, another requester, another host.
  for (int field = 0; field < 3; ++field) {
    WorkerBinding other = b;
    if (field == 0) other.session[0] ^= 1;
    if (field == 1) other.requester = b_.party->id().ToString();
    if (field == 2) other.host = b_.party->id().ToString();
    const std::string text = WorkerBindingJson(other);
    EXPECT_TRUE(refused(sign(*host_party_, text, now_), text, hello)) << field;
  }
  // Signed long before the request (a binding kept from an older session) or after it expired.
  EXPECT_TRUE(refused(sign(*host_party_, body, now_ - 3600), body, hello));
  EXPECT_TRUE(refused(sign(*host_party_, body, now_ + 2 * kSessionTimeoutSeconds), body, hello));
  // Not a binding at all.
  EXPECT_FALSE(ParseWorkerBinding(R"({"type":"tessera.collab.worker.v1"})").ok());
  EXPECT_FALSE(ParseWorkerBinding(body + "x").ok());
}

TEST_F(WorkerHostTest, HostLimitsAndRefusals) {
  auto host = MakeHost(host_key_, collaboration_, /*per_requester=*/1);
  auto start = [&](const PartyKey& from, const PsiSessionId& s) {
    return Call(*host, from, "worker_start", Json{{"session", PsiSessionIdHex(s)}}.dump());
  };
  const PsiSessionId s1 = *NewPsiSessionId(), s2 = *NewPsiSessionId();
  auto first = start(*a_.party, s1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(ParseWorkerBinding(first->body)->session, s1);
  // One at a time for A; B may start its own; the same session twice is refused.
  auto second = start(*a_.party, s2);
  EXPECT_EQ(ReasonOf(second.status()), "worker_host_busy") << second.status().ToString();
  EXPECT_TRUE(start(*b_.party, s2).ok());
  EXPECT_EQ(ReasonOf(start(*b_.party, s1).status()), "session_exists");
  // Only the party that started a worker runs it.
  const std::string run = Frame(Json{{"session", PsiSessionIdHex(s1)}, {"a_bytes", 0}}.dump());
  EXPECT_EQ(Call(*host, *b_.party, "worker_run", run).status().code(),
            StatusCode::kPermissionDenied);
  // A run with garbage streams fails in the worker, and the session is gone afterwards.
  auto bad = Call(*host, *a_.party, "worker_run", run + "garbage");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(ReasonOf(Call(*host, *a_.party, "worker_run", run).status()), "unknown_session");
  // A worker that fails before it reads B's stream to its end: the host gets an error, not
  // SIGPIPE (which would end the node hosting it), and goes on hosting.
  const PsiSessionId s3 = *NewPsiSessionId();
  ASSERT_TRUE(start(*a_.party, s3).ok());
  const std::string big_b(std::size_t{1} << 20, 'x');
  auto broken = Call(*host, *a_.party, "worker_run",
                     Frame(Json{{"session", PsiSessionIdHex(s3)}, {"a_bytes", 0}}.dump()) + big_b);
  EXPECT_FALSE(broken.ok());
  EXPECT_TRUE(start(*a_.party, *NewPsiSessionId()).ok());
  // A worker not run in time is stopped: B's, after the session timeout.
  now_ += kSessionTimeoutSeconds + 1;
  const std::string run2 = Frame(Json{{"session", PsiSessionIdHex(s2)}, {"a_bytes", 0}}.dump());
  EXPECT_EQ(ReasonOf(Call(*host, *b_.party, "worker_run", run2).status()), "unknown_session");
  // Malformed heads.
  EXPECT_EQ(Call(*host, *a_.party, "worker_start", "{}").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Call(*host, *a_.party, "worker_run", Frame("{\"session\":1}")).status().code(),
            StatusCode::kInvalidArgument);
  const std::string too_long =
      Frame(Json{{"session", PsiSessionIdHex(s1)}, {"a_bytes", 99}}.dump()) + "short";
  EXPECT_EQ(Call(*host, *a_.party, "worker_run", too_long).status().code(),
            StatusCode::kInvalidArgument);
  // A party that is no worker_host in its own collaboration file hosts nothing.
  auto not_host = MakeHost(b_.key, collaboration_);
  EXPECT_EQ(ReasonOf(Call(*not_host, *a_.party, "worker_start",
                          Json{{"session", PsiSessionIdHex(s1)}}.dump())
                         .status()),
            "not_a_worker_host");
  // Workers are for parties that ask queries: a worker host of the file has none started.
  EXPECT_EQ(ReasonOf(start(*host_party_, *NewPsiSessionId()).status()), "not_a_requester");
  // worker_stop: only the starter's, then the place is free again.
  auto own = MakeHost(host_key_, collaboration_, /*per_requester=*/1);
  const PsiSessionId s4 = *NewPsiSessionId();
  ASSERT_TRUE(
      Call(*own, *a_.party, "worker_start", Json{{"session", PsiSessionIdHex(s4)}}.dump()).ok());
  const std::string stop = Json{{"session", PsiSessionIdHex(s4)}}.dump();
  EXPECT_EQ(Json::parse(Call(*own, *b_.party, "worker_stop", stop)->body)["stopped"], false);
  EXPECT_EQ(Json::parse(Call(*own, *a_.party, "worker_stop", stop)->body)["stopped"], true);
  EXPECT_TRUE(
      Call(*own, *a_.party, "worker_start", Json{{"session", PsiSessionIdHex(s1)}}.dump()).ok());
}

// A query refused after its worker was started (here: B revoked its grant, which A still holds)
// stops that worker at once, instead of holding one of the host's places for 30 minutes.
TEST_F(WorkerHostTest, AQueryRefusedAfterItsWorkerStartedStopsIt) {
  host_ = MakeHost(host_key_, collaboration_, /*per_requester=*/1);
  GrantOverlap({host_party_->id()});
  auto grants = GrantStore(b_.store->db()).List();
  ASSERT_TRUE(grants.ok());
  ASSERT_TRUE(GrantStore(b_.store->db()).Revoke(grants->front().grant.id, "over").ok());
  for (int i = 0; i < 2; ++i) {  // the second would find the host busy if the first held it
    auto refused = RunAtHost("Neutral");
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(ReasonOf(refused.status()), "revoked") << refused.status().ToString();
  }
  EXPECT_TRUE(Call(*host_, *a_.party, "worker_start",
                   Json{{"session", PsiSessionIdHex(*NewPsiSessionId())}}.dump())
                  .ok());
}

// A match kept at a neutral host: counts go through worker_count to the same worker, until the
// requester ends it; its place at the host is then free again.
TEST_F(WorkerHostTest, AKeptMatchCountsAtItsHostUntilEnded) {
  host_ = MakeHost(host_key_, collaboration_, /*per_requester=*/1);
  GrantOverlap({host_party_->id()}, Purpose::kAudienceCounts);
  LocalTransport transport = TransportOfA();
  transport.AddWorkerHost(host_.get());
  RequesterOptions options = RequesterOf(a_);
  options.worker_host = "Neutral";
  auto grants = GrantStore(a_.store->db()).List();
  ASSERT_TRUE(grants.ok());
  QuerySpec spec = Overlap();
  spec.kind = QueryKind::kCounts;
  spec.keep = true;
  std::unique_ptr<KeptMatch> kept;
  auto matched = RunQuery(spec, options, *grants, transport, &kept);
  ASSERT_TRUE(matched.ok()) << matched.status().ToString();
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(Json::parse(matched->result_json)["cells"][0]["count"], 150);
  spec.keep = false;
  for (int i = 0; i < 2; ++i) {
    auto counted = kept->Count(spec, *grants, transport);
    ASSERT_TRUE(counted.ok()) << counted.status().ToString();
    EXPECT_EQ(Json::parse(counted->result_json)["cells"][0]["count"], 150);
    EXPECT_GT(counted->bytes_to_worker_host, 0u);
  }
  // A count to A's kept worker is not B's to make.
  const std::string run =
      Frame(Json{{"session", PsiSessionIdHex(kept->request().session)}, {"a_bytes", 0}}.dump());
  EXPECT_EQ(Call(*host_, *b_.party, "worker_count", run).status().code(),
            StatusCode::kPermissionDenied);
  // Ended, the match's worker is gone and its place free.
  ASSERT_TRUE(kept->End(transport).ok());
  EXPECT_EQ(ReasonOf(Call(*host_, *a_.party, "worker_count", run).status()), "unknown_match");
  const std::string next = Json{{"session", PsiSessionIdHex(*NewPsiSessionId())}}.dump();
  EXPECT_TRUE(Call(*host_, *a_.party, "worker_start", next).ok());
  EXPECT_TRUE(Call(*host_, *a_.party, "worker_stop", next).ok());
  // A requester that crashed cannot end its match: its next worker takes the place of its
  // oldest kept one (A has one place here), and that match ends.
  spec.keep = true;
  std::unique_ptr<KeptMatch> crashed;
  ASSERT_TRUE(RunQuery(spec, options, *grants, transport, &crashed).ok());
  spec.keep = false;
  ASSERT_TRUE(RunQuery(spec, options, *grants, transport).ok());  // takes the place
  auto gone = crashed->Count(spec, *grants, transport);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(ReasonOf(gone.status()), "unknown_match") << gone.status().ToString();
}

// The host keeps its own audit log of what it was asked: each step, who asked, the outcome —
// never a value (it sees none).
TEST_F(WorkerHostTest, TheHostLogsEveryStepItWasAsked) {
  const std::string location = (dir_ / "host.db").string();
  {
    auto created = store::Store::Open(location, true);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }
  WorkerHostOptions options;
  options.owner_key = host_key_;
  options.collaboration = collaboration_;
  options.worker_binary = TESSERA_WORKER_BINARY;
  options.clock = [this] { return now_; };
  options.open_store = [location]() -> StatusOr<std::unique_ptr<store::Store>> {
    return store::Store::Open(location, false);
  };
  auto host = WorkerHostNode::Create(std::move(options));
  ASSERT_TRUE(host.ok());
  host_ = std::move(*host);
  GrantOverlap({host_party_->id()});
  auto result = RunAtHost("Neutral");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  // A refusal: B may not run A's worker.
  EXPECT_FALSE(Call(*host_, *b_.party, "worker_start", "{}").ok());
  auto store = store::Store::Open(location, false);
  ASSERT_TRUE(store.ok());
  auto entries = AuditLog((*store)->db()).List();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].record.purpose, "worker_start");
  EXPECT_EQ((*entries)[1].record.purpose, "worker_run");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ((*entries)[i].record.party, a_.party->id().ToString());
    EXPECT_EQ((*entries)[i].record.outcome, AuditOutcome::kOk);
  }
  EXPECT_EQ((*entries)[2].record.party, b_.party->id().ToString());
  EXPECT_EQ((*entries)[2].record.outcome, AuditOutcome::kFailed);  // a malformed body
  EXPECT_TRUE(AuditLog((*store)->db()).Verify()->ok());
}

}  // namespace
}  // namespace tessera::collab

#endif  // TESSERA_WORKER_BINARY
