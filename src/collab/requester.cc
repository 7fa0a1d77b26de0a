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

}  // namespace

StatusOr<QueryResult> RunQuery(const QuerySpec& spec, const RequesterOptions& options,
                               std::span<const StoredGrant> received_grants,
                               NodeTransport& transport) {
  if (!options.owner_key) return InvalidArgumentError("a query needs this party's owner key");
  auto now = [&] { return options.clock ? options.clock() : SystemNow(); };
  TESSERA_ASSIGN_OR_RETURN(PartyKey key, PartyKey::Derive(*options.owner_key));
  const PartyId self = key.id();
  std::array<const CollaborationParty*, 2> owners{};
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
  const CollaborationParty* host = nullptr;  // none: the worker runs here
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

  QueryResult result;
  SessionRequest& r = result.request;
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
    result.grant_ids.insert(result.grant_ids.end(), policy->grant_ids.begin(),
                            policy->grant_ids.end());
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

  TESSERA_ASSIGN_OR_RETURN(r.session, NewPsiSessionId());
  // The worker: a child process here, or one a worker host starts and binds to this session
  // with its signature (worker_host.h), which the owners check before they seal to it. Started
  // before round 1, so that a host that cannot start one fails the query before any owner
  // reserves ε.
  std::optional<WorkerProcess> worker;
  std::optional<NodeReply> binding;
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
  }
  TESSERA_ASSIGN_OR_RETURN(ResultKeyPair result_key, ResultKeyPair::Generate());
  r.result_key = result_key.public_key();
  r.issued_at = now();
  const std::string request = SessionRequestJson(r);

  using Clock = std::chrono::steady_clock;
  const auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
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
    TESSERA_ASSIGN_OR_RETURN(sealed_result, worker->Run(sealed_a->body, sealed_b->body));
  } else {
    std::string run = Frame(
        Json{{"session", PsiSessionIdHex(r.session)}, {"a_bytes", sealed_a->body.size()}}.dump());
    run.reserve(run.size() + sealed_a->body.size() + sealed_b->body.size());
    run += sealed_a->body;
    sealed_a->body.clear();
    run += sealed_b->body;
    sealed_b->body.clear();
    result.bytes_to_worker_host = run.size();
    auto ran = transport.Call(*host, "worker_run", run);
    if (!ran.ok()) return ran.status().WithContext(host->name);
    sealed_result = std::move(ran->body);
  }
  result.seconds_worker = since(step_start);
  TESSERA_ASSIGN_OR_RETURN(result.result_json, result_key.Open(sealed_result));
  Json parsed = Json::parse(result.result_json, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("session") ||
      parsed["session"] != Hex(r.session) || !parsed.contains("kind") ||
      parsed["kind"] != QueryKindName(r.kind)) {
    return InternalError("the join worker's result is not one of this session");
  }
  if (r.kind == QueryKind::kActivation) {
    if (!parsed.contains("withheld") || !parsed["withheld"].is_boolean()) {
      return InternalError("the join worker's result is not an activation's");
    }
    result.cells_returned = parsed["withheld"].get<bool>() ? 0 : 1;  // one list, or none
  } else {
    if (!parsed.contains("cells") || !parsed["cells"].is_array()) {
      return InternalError("the join worker's result has no cells");
    }
    result.cells_returned = parsed["cells"].size();
  }
  return result;
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
