// The requester's side of a collaboration query (session.h): the join worker as a child
// process, the owners' rounds, the result.

#include <algorithm>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>

#include "collab/refusal.h"
#include "collab/worker_process.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/session.h"
#include "tessera/collab/worker.h"
#include "tessera/collab/worker_host.h"
#include "tessera/privacy/order_token.h"

namespace tessera::collab {
namespace {

using Json = nlohmann::json;
using internal::Refusal;
using internal::WorkerProcess;

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const CollaborationParty* Resolve(const Collaboration& c, const std::string& name_or_id) {
  if (auto id = PartyId::Parse(name_or_id); id.ok()) return c.Find(*id);
  return c.FindByName(name_or_id);
}

std::string Hex(std::span<const uint8_t> bytes) {
  return privacy::HexEncode(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

Purpose PurposeOfKind(QueryKind kind) {
  switch (kind) {
    case QueryKind::kOverlap:
      return Purpose::kOverlap;
    case QueryKind::kCounts:
      return Purpose::kAudienceCounts;
    case QueryKind::kActivation:
      return Purpose::kActivation;
  }
  return Purpose::kOverlap;
}

Json SignatureJson(const NodeSignature& s) {
  return Json{{"from", s.from},
              {"to", s.to},
              {"time", s.time},
              {"nonce", s.nonce},
              {"signature", s.signature}};
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Stops a worker a host started for a query, unless disarmed (it ran, or the match keeps it).
struct HostedWorkerStop {
  NodeTransport* transport = nullptr;
  const CollaborationParty* host = nullptr;
  std::string session;  // hex
  bool armed = true;
  HostedWorkerStop(NodeTransport* t, const CollaborationParty* h, std::string s)
      : transport(t), host(h), session(std::move(s)) {}
  HostedWorkerStop(const HostedWorkerStop&) = delete;
  HostedWorkerStop& operator=(const HostedWorkerStop&) = delete;
  ~HostedWorkerStop() {
    if (armed) (void)transport->Call(*host, "worker_stop", Json{{"session", session}}.dump());
  }
};

// Opens the worker's result sealed to `key` and checks it is the one of result->request: its
// session (a count on a kept match: the match's, and the count's id), its kind, its cells.
Status OpenResult(const ResultKeyPair& key, const std::string& sealed, QueryResult* result) {
  const SessionRequest& r = result->request;
  TESSERA_ASSIGN_OR_RETURN(result->result_json, key.Open(sealed));
  Json parsed = Json::parse(result->result_json, nullptr, false);
  const std::string session = Hex(r.match ? *r.match : r.session);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("session") ||
      parsed["session"] != session || !parsed.contains("kind") ||
      parsed["kind"] != QueryKindName(r.kind) ||
      (r.match && (!parsed.contains("count") || parsed["count"] != Hex(r.session)))) {
    return InternalError("the join worker's result is not one of this session");
  }
  if (r.kind == QueryKind::kActivation) {
    if (!parsed.contains("withheld") || !parsed["withheld"].is_boolean()) {
      return InternalError("the join worker's result is not an activation's");
    }
    result->cells_returned = parsed["withheld"].get<bool>() ? 0 : 1;  // one list, or none
  } else {
    if (!parsed.contains("cells") || !parsed["cells"].is_array()) {
      return InternalError("the join worker's result has no cells");
    }
    result->cells_returned = parsed["cells"].size();
  }
  return OkStatus();
}

// A query's parties and what the grants received allow it, judged before anything is sent.
struct Plan {
  std::array<const CollaborationParty*, 2> owners{};
  const CollaborationParty* host = nullptr;  // none: the worker runs here
  SessionRequest request;                    // all but session, result_key and issued_at
  std::vector<std::string> grant_ids;
};

// Resolves the owners and the worker's place, and judges the request with the owners' own
// rules on the grants received, so that a request they would refuse is not sent at all.
StatusOr<Plan> PlanQuery(const QuerySpec& spec, const RequesterOptions& options,
                         std::span<const StoredGrant> received_grants, const PartyId& self) {
  auto now = [&] { return options.clock ? options.clock() : SystemNow(); };
  Plan plan;
  std::array<const CollaborationParty*, 2>& owners = plan.owners;
  for (size_t i = 0; i < 2; ++i) {
    owners[i] = Resolve(options.collaboration, spec.owners[i]);
    if (owners[i] == nullptr) {
      return NotFoundError("no party '{}' in the collaboration file", spec.owners[i]);
    }
    if (!owners[i]->HasRole(PartyRole::kDataOwner)) {
      return InvalidArgumentError("{} is no data_owner in the collaboration file", owners[i]->name);
    }
  }
  if (owners[0]->id == owners[1]->id) return InvalidArgumentError("the two owners are one party");
  const CollaborationParty*& host = plan.host;
  if (!options.worker_host.empty()) {
    host = Resolve(options.collaboration, options.worker_host);
    if (host == nullptr) {
      return NotFoundError("no party '{}' in the collaboration file", options.worker_host);
    }
    if (host->id == self) {
      host = nullptr;
    } else if (!host->HasRole(PartyRole::kWorkerHost)) {
      return InvalidArgumentError("{} is no worker_host in the collaboration file", host->name);
    }
  }
  if (spec.kind == QueryKind::kActivation) {
    // The list names owner A's customers and goes to the requester: they must be one party.
    if (owners[0]->id != self) {
      return Refusal("requester_not_owner",
                     "an activation list goes only to the owner of those customers: this party "
                     "must be the first owner (tessera collab activate --partner NAME)");
    }
    if (spec.epsilon_micro) {
      return InvalidArgumentError("an activation takes no ε: a list cannot be noised");
    }
  }

  SessionRequest& r = plan.request;
  r.kind = spec.kind;
  r.requester = self.ToString();
  r.owners = {owners[0]->id.ToString(), owners[1]->id.ToString()};
  r.identifier = spec.identifier;
  r.queries = spec.queries;
  r.epsilon_micro = spec.epsilon_micro;

  // What the owners' grants will allow, judged here first with their own rules, so that a
  // request they would refuse is not sent at all.
  const Purpose purpose = PurposeOfKind(spec.kind);
  uint64_t k_min = 2;
  // Where every owner's grants let the worker run (none asked: anywhere).
  std::optional<std::vector<PartyId>> placements;
  for (const CollaborationParty* owner : owners) {
    if (owner->id == self) continue;
    std::vector<StoredGrant> mine;
    for (const StoredGrant& g : received_grants) {
      if (g.direction == GrantDirection::kReceived && g.grant.spec.grantor == owner->id &&
          g.grant.spec.grantee == self && g.grant.spec.purpose == purpose && !g.revocation &&
          g.grant.spec.not_before <= now() && now() < g.grant.spec.expires) {
        mine.push_back(g);
      }
    }
    if (mine.empty()) {
      Status s = FailedPreconditionError(
          "{} has granted this party no {} in force (import its grant with `tessera grant "
          "import`)",
          owner->name, PurposeName(purpose));
      s.SetDetail("reason", "no_grant");
      return s;
    }
    auto policy = CombineGrants(mine, PolicyRequest{purpose, self, now()});
    if (!policy.ok()) return policy.status().WithContext(owner->name);
    if (spec.kind == QueryKind::kActivation && policy->differential_privacy) {
      return Refusal("activation_under_dp",
                     fmt::format("{}'s grants ask for differential privacy, and an activation list "
                                 "cannot be noised: they allow no activation",
                                 owner->name));
    }
    if (!placements) {
      placements = policy->worker_hosts;
    } else {
      std::erase_if(*placements, [&](const PartyId& p) {
        return std::find(policy->worker_hosts.begin(), policy->worker_hosts.end(), p) ==
               policy->worker_hosts.end();
      });
    }
    k_min = std::max<uint64_t>(k_min, static_cast<uint64_t>(policy->k_min));
    // Without an ε given, the smallest any owner's grants allow per query (a larger one would
    // be refused by that owner, after the other had reserved its own).
    if (policy->differential_privacy && !spec.epsilon_micro) {
      const auto allowed =
          static_cast<uint64_t>(policy->differential_privacy->epsilon_per_query_micro);
      r.epsilon_micro = r.epsilon_micro ? std::min(*r.epsilon_micro, allowed) : allowed;
    }
    plan.grant_ids.insert(plan.grant_ids.end(), policy->grant_ids.begin(), policy->grant_ids.end());
  }
  if (owners[0]->id == self && owners[1]->id == self) k_min = kDefaultKMin;
  if (spec.k_min) {
    if (*spec.k_min < k_min) {
      Status s = FailedPreconditionError("the grants ask for cells of at least {}", k_min);
      s.SetDetail("reason", "k_min_too_small");
      return s;
    }
    k_min = *spec.k_min;
  }
  r.k_min = std::max<uint64_t>({k_min, spec.k_min_floor, 2});
  // The worker's place: the one asked for, if the grants allow it; else here, if they allow
  // that; else the first worker host of the collaboration file they all allow.
  auto allowed = [&](const PartyId& id) {
    return !placements ||
           std::find(placements->begin(), placements->end(), id) != placements->end();
  };
  if (options.worker_host.empty() && !allowed(self)) {
    for (const CollaborationParty& p : options.collaboration.parties) {
      // Never an owner of the query unasked: its machine could read the worker's memory and,
      // with its own session positions, the other owner's data about its customers.
      if (p.HasRole(PartyRole::kWorkerHost) && allowed(p.id) && p.id != owners[0]->id &&
          p.id != owners[1]->id) {
        host = &p;
        break;
      }
    }
  }
  const PartyId& worker_at = host ? host->id : self;
  if (!allowed(worker_at)) {
    std::string names;
    for (const PartyId& id : *placements) {
      const CollaborationParty* p = options.collaboration.Find(id);
      names += (names.empty() ? "" : ", ") + (p ? p->name : id.ToString());
    }
    return Refusal("worker_host_not_allowed",
                   fmt::format("the grants let the join worker run only at {} (choose one with "
                               "--worker-host, and make sure it has the role worker_host)",
                               names.empty() ? "no party all owners accept" : names));
  }
  r.worker_host = worker_at.ToString();
  r.keep = spec.keep;
  return plan;
}

}  // namespace

struct KeptMatch::Impl {
  RequesterOptions options;
  SessionRequest request;
  int64_t created = 0;
  std::optional<CollaborationParty> host;  // none: the worker runs here
  std::optional<WorkerProcess> worker;
  bool ended = false;
};

StatusOr<QueryResult> RunQuery(const QuerySpec& spec, const RequesterOptions& options,
                               std::span<const StoredGrant> received_grants,
                               NodeTransport& transport) {
  return RunQuery(spec, options, received_grants, transport, nullptr);
}

StatusOr<QueryResult> RunQuery(const QuerySpec& spec, const RequesterOptions& options,
                               std::span<const StoredGrant> received_grants,
                               NodeTransport& transport, std::unique_ptr<KeptMatch>* kept) {
  if (!options.owner_key) return InvalidArgumentError("a query needs this party's owner key");
  if (spec.keep && (kept == nullptr || spec.kind == QueryKind::kActivation)) {
    return InvalidArgumentError(
        "only an overlap or counts keeps its match, for a caller that takes it");
  }
  auto now = [&] { return options.clock ? options.clock() : SystemNow(); };
  TESSERA_ASSIGN_OR_RETURN(PartyKey key, PartyKey::Derive(*options.owner_key));
  const PartyId self = key.id();
  TESSERA_ASSIGN_OR_RETURN(Plan plan, PlanQuery(spec, options, received_grants, self));
  const std::array<const CollaborationParty*, 2> owners = plan.owners;
  const CollaborationParty* host = plan.host;
  QueryResult result;
  result.request = std::move(plan.request);
  result.grant_ids = std::move(plan.grant_ids);
  SessionRequest& r = result.request;
  TESSERA_ASSIGN_OR_RETURN(r.session, NewPsiSessionId());
  // The worker: a child process here, or one a worker host starts and binds to this session
  // with its signature (worker_host.h), which the owners check before they seal to it. Started
  // before round 1, so that a host that cannot start one fails the query before any owner
  // reserves ε.
  std::optional<WorkerProcess> worker;
  std::optional<NodeReply> binding;
  // A worker a host started for this query is stopped there when the query ends before it ran:
  // it would hold one of the host's places for the whole session timeout.
  std::optional<HostedWorkerStop> stop_hosted;
  std::string hello;  // the worker's, as the owners seal to it
  if (host == nullptr) {
    TESSERA_ASSIGN_OR_RETURN(worker,
                             WorkerProcess::Start(options.worker_binary, options.worker_args));
    TESSERA_ASSIGN_OR_RETURN(WorkerHello h, worker->Hello());
    hello = EncodeWorkerHello(h);
  } else {
    const std::string start = Json{{"session", PsiSessionIdHex(r.session)}}.dump();
    auto started = transport.Call(*host, "worker_start", start);
    if (!started.ok()) return started.status().WithContext(host->name);
    auto b = ParseWorkerBinding(started->body);
    if (!b.ok()) return b.status().WithContext(host->name);
    if (b->session != r.session || b->requester != r.requester || b->host != r.worker_host) {
      return InternalError("{} started a worker for another session", host->name);
    }
    hello = b->hello;
    binding = std::move(*started);
    stop_hosted.emplace(&transport, host, PsiSessionIdHex(r.session));
  }
  TESSERA_ASSIGN_OR_RETURN(ResultKeyPair result_key, ResultKeyPair::Generate());
  r.result_key = result_key.public_key();
  r.issued_at = now();
  const std::string request = SessionRequestJson(r);

  auto step_start = Clock::now();
  // Round 1 at both owners at once.
  auto call = [&](size_t i, std::string_view op, const std::string& body) {
    return transport.Call(*owners[i], op, body);
  };
  auto first_b = std::async(std::launch::async, call, 1, "round1", std::cref(request));
  auto first_a = call(0, "round1", request);
  auto reply_b = first_b.get();
  if (!first_a.ok()) return first_a.status().WithContext(owners[0]->name);
  if (!reply_b.ok()) return reply_b.status().WithContext(owners[1]->name);
  std::array<NodeReply, 2> round1 = {std::move(*first_a), std::move(*reply_b)};
  result.seconds_round1 = since(step_start);
  step_start = Clock::now();
  result.bytes_to_owners += 2 * request.size();
  result.bytes_from_owners += round1[0].body.size() + round1[1].body.size();

  // Round 2: each owner double-blinds the other's values and seals its part to the worker.
  std::array<uint64_t, 2> sent{};
  auto second = [&](size_t i) -> StatusOr<NodeReply> {
    const NodeReply& partner = round1[1 - i];
    Json head{{"session", Hex(r.session)},
              {"worker", hello},
              {"partner", SignatureJson(partner.signature)}};
    if (binding) {
      head["worker_host"] = {{"binding", binding->body},
                             {"signature", SignatureJson(binding->signature)}};
    }
    std::string body = Frame(head.dump());
    body += partner.body;
    sent[i] = body.size();
    return call(i, "round2", body);
  };
  auto second_b = std::async(std::launch::async, second, 1);
  auto sealed_a = second(0);
  auto sealed_b = second_b.get();
  if (!sealed_a.ok()) return sealed_a.status().WithContext(owners[0]->name);
  if (!sealed_b.ok()) return sealed_b.status().WithContext(owners[1]->name);
  round1 = {};
  result.seconds_round2 = since(step_start);
  step_start = Clock::now();
  result.bytes_to_owners += sent[0] + sent[1];
  result.bytes_from_owners += sealed_a->body.size() + sealed_b->body.size();

  std::string sealed_result;
  if (worker) {
    TESSERA_ASSIGN_OR_RETURN(sealed_result, r.keep
                                                ? worker->Exchange(sealed_a->body, sealed_b->body)
                                                : worker->Run(sealed_a->body, sealed_b->body));
  } else {
    Json head{{"session", PsiSessionIdHex(r.session)}, {"a_bytes", sealed_a->body.size()}};
    if (r.keep) head["keep"] = true;
    std::string run = Frame(head.dump());
    run.reserve(run.size() + sealed_a->body.size() + sealed_b->body.size());
    run += sealed_a->body;
    sealed_a->body.clear();
    run += sealed_b->body;
    sealed_b->body.clear();
    result.bytes_to_worker_host = run.size();
    stop_hosted->armed = false;  // the host ends the worker after this step, or keeps it
    auto ran = transport.Call(*host, "worker_run", run);
    if (!ran.ok()) return ran.status().WithContext(host->name);
    sealed_result = std::move(ran->body);
  }
  result.seconds_worker = since(step_start);
  TESSERA_RETURN_IF_ERROR(OpenResult(result_key, sealed_result, &result));
  if (r.keep) {
    auto impl = std::make_unique<KeptMatch::Impl>();
    impl->options = options;
    impl->request = r;
    impl->created = r.issued_at;
    if (host) impl->host = *host;
    impl->worker = std::move(worker);
    *kept = std::unique_ptr<KeptMatch>(new KeptMatch(std::move(impl)));
  }
  return result;
}

KeptMatch::KeptMatch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeptMatch::~KeptMatch() = default;
const SessionRequest& KeptMatch::request() const { return impl_->request; }
int64_t KeptMatch::expires() const { return impl_->created + kMatchLifetimeSeconds; }

StatusOr<QueryResult> KeptMatch::Count(const QuerySpec& spec,
                                       std::span<const StoredGrant> received_grants,
                                       NodeTransport& transport) {
  Impl& m = *impl_;
  const auto now = [&] { return m.options.clock ? m.options.clock() : SystemNow(); };
  if (m.ended || now() >= expires()) {
    return Refusal("unknown_match", "this match has ended: match again");
  }
  if (spec.kind != QueryKind::kCounts || spec.keep) {
    return InvalidArgumentError("a query on a kept match is a count");
  }
  // The worker stays where the match put it, if the grants still allow it there.
  RequesterOptions options = m.options;
  options.worker_host = m.request.worker_host;
  TESSERA_ASSIGN_OR_RETURN(PartyKey key, PartyKey::Derive(*options.owner_key));
  TESSERA_ASSIGN_OR_RETURN(Plan plan, PlanQuery(spec, options, received_grants, key.id()));
  if (plan.request.owners != m.request.owners || plan.request.identifier != m.request.identifier) {
    return InvalidArgumentError("a count on a match asks the match's owners about its identifier");
  }
  QueryResult result;
  result.request = std::move(plan.request);
  result.grant_ids = std::move(plan.grant_ids);
  SessionRequest& r = result.request;
  r.worker_host = m.request.worker_host;
  r.match = m.request.session;
  TESSERA_ASSIGN_OR_RETURN(r.session, NewPsiSessionId());
  TESSERA_ASSIGN_OR_RETURN(ResultKeyPair result_key, ResultKeyPair::Generate());
  r.result_key = result_key.public_key();
  r.issued_at = now();
  const std::string request = SessionRequestJson(r);

  // Each owner judges the count and seals its contribution to the match's worker, at once.
  auto step_start = Clock::now();
  auto call = [&](size_t i) { return transport.Call(*plan.owners[i], "count", request); };
  auto from_b = std::async(std::launch::async, call, 1);
  auto sealed_a = call(0);
  auto sealed_b = from_b.get();
  if (!sealed_a.ok()) return sealed_a.status().WithContext(plan.owners[0]->name);
  if (!sealed_b.ok()) return sealed_b.status().WithContext(plan.owners[1]->name);
  result.seconds_round2 = since(step_start);
  step_start = Clock::now();
  result.bytes_to_owners = 2 * request.size();
  result.bytes_from_owners = sealed_a->body.size() + sealed_b->body.size();

  std::string sealed_result;
  if (m.worker) {
    auto ran = m.worker->Exchange(sealed_a->body, sealed_b->body);
    if (!ran.ok()) m.ended = true;  // a count that fails ends the worker, and the match with it
    TESSERA_ASSIGN_OR_RETURN(sealed_result, std::move(ran));
  } else {
    std::string run = Frame(Json{
        {"session", PsiSessionIdHex(m.request.session)},
        {"a_bytes",
         sealed_a->body.size()}}.dump());
    run += sealed_a->body;
    run += sealed_b->body;
    result.bytes_to_worker_host = run.size();
    auto ran = transport.Call(*m.host, "worker_count", run);
    if (!ran.ok()) {
      if (ran.status().code() != StatusCode::kUnavailable) m.ended = true;
      return ran.status().WithContext(m.host->name);
    }
    sealed_result = std::move(ran->body);
  }
  result.seconds_worker = since(step_start);
  TESSERA_RETURN_IF_ERROR(OpenResult(result_key, sealed_result, &result));
  return result;
}

Status KeptMatch::End(NodeTransport& transport) {
  Impl& m = *impl_;
  m.ended = true;
  m.worker.reset();
  Status first;
  const std::string match = PsiSessionIdHex(m.request.session);
  for (const std::string& owner : m.request.owners) {
    const CollaborationParty* p = Resolve(m.options.collaboration, owner);
    if (p == nullptr) continue;
    auto told = transport.Call(*p, "match_end", Json{{"match", match}}.dump());
    if (!told.ok() && first.ok()) first = told.status().WithContext(p->name);
  }
  if (m.host) {
    auto told = transport.Call(*m.host, "worker_stop", Json{{"session", match}}.dump());
    if (!told.ok() && first.ok()) first = told.status().WithContext(m.host->name);
  }
  return first;
}

LocalTransport::LocalTransport(const PartyKey& requester_key, std::vector<OwnerNode*> locals,
                               NodeTransport* remote, std::function<int64_t()> clock)
    : key_(requester_key), locals_(std::move(locals)), remote_(remote), clock_(std::move(clock)) {}

void LocalTransport::AddWorkerHost(WorkerHostNode* host) { hosts_.push_back(host); }

StatusOr<NodeReply> LocalTransport::Call(const CollaborationParty& to, std::string_view op,
                                         const std::string& body) {
  const bool to_host = op.starts_with("worker_");
  auto call = [&](auto* node) -> StatusOr<NodeReply> {
    const int64_t now = clock_ ? clock_() : SystemNow();
    TESSERA_ASSIGN_OR_RETURN(NodeSignature sig, SignNodeMessage(key_, op, to.id, body, now));
    TESSERA_ASSIGN_OR_RETURN(NodeReply reply, node->Handle(op, sig, body));
    TESSERA_RETURN_IF_ERROR(VerifyNodeMessage(reply.signature, std::string(op) + ".reply", to.id,
                                              key_.id(), reply.body));
    return reply;
  };
  for (OwnerNode* node : locals_) {
    if (!to_host && node->id() == to.id) return call(node);
  }
  for (WorkerHostNode* host : hosts_) {
    if (to_host && host->id() == to.id) return call(host);
  }
  if (remote_ == nullptr) return UnavailableError("no way to reach {}", to.name);
  return remote_->Call(to, op, body);
}

}  // namespace tessera::collab

namespace tessera::collab {

Status AuditQuery(store::Database& db, const PartyId& self, const QuerySpec& spec,
                  const StatusOr<QueryResult>& outcome, int64_t now) {
  nlohmann::json q;
  q["kind"] = QueryKindName(spec.kind);
  q["owners"] = {spec.owners[0], spec.owners[1]};
  q["identifier"] = spec.identifier == MatchKind::kPhone ? "phone" : "email";
  for (const OwnerQuery& oq : spec.queries) {
    q["queries"].push_back({{"expression", oq.expression}, {"breakdown", oq.breakdown}});
  }
  AuditRecord rec;
  rec.time = now;
  rec.party = self.ToString();
  rec.purpose = std::string(PurposeName(PurposeOfKind(spec.kind)));
  // The hash the owners log for the same request, when there was one; else the spec's.
  TESSERA_ASSIGN_OR_RETURN(
      rec.query_hash, QueryHash(outcome.ok() ? SessionRequestJson(outcome->request) : q.dump()));
  rec.attestation = AttestationMode::kSimulated;
  if (outcome.ok()) {
    if (!outcome->grant_ids.empty()) rec.grant_id = outcome->grant_ids.front();
    rec.cells_returned = outcome->cells_returned;
    rec.epsilon_micro = outcome->request.epsilon_micro.value_or(0);
  } else {
    const Status& s = outcome.status();
    const bool refused = s.code() == StatusCode::kFailedPrecondition ||
                         s.code() == StatusCode::kResourceExhausted ||
                         s.code() == StatusCode::kPermissionDenied;
    rec.outcome = refused ? AuditOutcome::kRefused : AuditOutcome::kFailed;
    std::string reason = s.TextDetail("reason").value_or(refused ? "refused" : "failed");
    if (!ValidateCollabCode("reason", reason).ok()) reason = refused ? "refused" : "failed";
    rec.reason = reason;
  }
  return AuditLog(db).Append(rec).status();
}

}  // namespace tessera::collab
