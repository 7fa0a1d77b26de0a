#include "tessera/collab/worker_host.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "collab/refusal.h"
#include "collab/worker_process.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/worker.h"

namespace tessera::collab {
namespace {

using Json = nlohmann::json;
using internal::Refusal;

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status BindingError(std::string_view field, std::string_view why) {
  Status s = InvalidArgumentError("worker binding: {}: {}", field, why);
  s.SetDetail("field", std::string(field));
  return s;
}

Status BindingRefused(std::string message) {
  Status s = PermissionDeniedError("{}", message);
  s.SetDetail("reason", "worker_binding_invalid");
  return s;
}

constexpr uint64_t kMaxStartBytes = 1024;

}  // namespace

std::string WorkerBindingJson(const WorkerBinding& b) {
  Json j;  // keys in order: RFC 8785 for this ASCII-only object
  j["hello"] = b.hello;
  j["host"] = b.host;
  j["requester"] = b.requester;
  j["session"] = PsiSessionIdHex(b.session);
  j["type"] = kWorkerBindingType;
  return j.dump();
}

StatusOr<WorkerBinding> ParseWorkerBinding(std::string_view json) {
  const Json j = Json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("worker binding: not a JSON object");
  }
  static const std::set<std::string> kFields = {"hello", "host", "requester", "session", "type"};
  for (const auto& [k, v] : j.items()) {
    if (!kFields.contains(k)) return BindingError(k, "unknown field");
    if (!v.is_string()) return BindingError(k, "not a string");
  }
  for (const std::string& k : kFields) {
    if (!j.contains(k)) return BindingError(k, "missing");
  }
  if (j["type"] != kWorkerBindingType) return BindingError("type", "not a worker binding");
  WorkerBinding b;
  auto session = ParsePsiSessionIdHex(j["session"].get<std::string>());
  if (!session.ok()) return BindingError("session", session.status().message());
  b.session = *session;
  for (const char* k : {"host", "requester"}) {
    auto id = PartyId::Parse(j[k].get<std::string>());
    if (!id.ok()) return BindingError(k, "not a party id");
    (std::string_view(k) == "host" ? b.host : b.requester) = id->ToString();
  }
  b.hello = j["hello"].get<std::string>();
  if (auto hello = ParseWorkerHello(b.hello); !hello.ok()) {
    return BindingError("hello", hello.status().message());
  }
  return b;
}

Status CheckWorkerBinding(const SessionRequest& request, const NodeSignature& signature,
                          std::string_view binding, std::string_view hello) {
  auto host = PartyId::Parse(request.worker_host);
  auto requester = PartyId::Parse(request.requester);
  if (!host.ok() || !requester.ok()) return BindingRefused("the request names no valid parties");
  if (Status v = VerifyNodeMessage(signature, "worker_start.reply", *host, *requester, binding);
      !v.ok()) {
    return BindingRefused(
        fmt::format("the worker's hello is not signed by the worker host named in the request ({})",
                    v.message()));
  }
  if (signature.time < request.issued_at - kNodeClockSkewSeconds ||
      signature.time > request.issued_at + kSessionTimeoutSeconds + kNodeClockSkewSeconds) {
    return BindingRefused("the worker host signed the worker's hello outside the session's time");
  }
  auto b = ParseWorkerBinding(binding);
  if (!b.ok()) return BindingRefused(std::string(b.status().message()));
  if (b->session != request.session || b->requester != request.requester ||
      b->host != request.worker_host) {
    return BindingRefused("the worker host started that worker for another session");
  }
  if (b->hello != hello) {
    return BindingRefused("the worker's hello is not the one its host signed");
  }
  return OkStatus();
}

namespace {

// The session of a body {"session":"<32 hex>"} (worker_start, worker_stop).
StatusOr<PsiSessionId> SessionOfBody(std::string_view op, std::string_view body) {
  const Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.size() != 1 || !j.contains("session") ||
      !j["session"].is_string()) {
    return InvalidArgumentError("{}: the body is not {{\"session\": \"<32 hex>\"}}", op);
  }
  return ParsePsiSessionIdHex(j["session"].get<std::string>());
}

}  // namespace

struct WorkerHostNode::Impl {
  WorkerHostOptions options;
  PartyKey key;
  NonceCache nonces;
  struct Running {
    std::string requester;
    int64_t started = 0;
    std::unique_ptr<internal::WorkerProcess> process;  // none while it starts or runs
    bool running = false;                              // fed by a worker_run or count now
    bool kept = false;  // it ran, and keeps its match for counts (worker.h)
  };
  std::mutex mu;
  std::map<PsiSessionId, Running> workers;  // guarded by mu

  int64_t Now() const { return options.clock ? options.clock() : SystemNow(); }

  // The host's record of a step: who asked, the step (as the purpose: worker_start, worker_run,
  // worker_count, worker_stop), the hash of the step and session it concerns, the outcome and
  // why. Never a value: the host sees none. A failure to log fails nothing that happened, but is
  // said.
  void Audit(const PartyId& from, std::string_view op, std::string_view body,
             const Status& outcome) {
    if (!options.open_store) return;
    AuditRecord rec;
    rec.time = Now();
    rec.party = from.ToString();
    rec.purpose = ValidateCollabCode("purpose", op).ok() ? std::string(op) : "join_worker";
    // The session named by the body (its head frame for run and count), else the body's start.
    std::string session(body.substr(0, std::min<size_t>(body.size(), 200)));
    FrameCursor frames(body);
    if (op == "worker_run" || op == "worker_count") {
      if (auto head = frames.Next(); head.ok() && *head) session = std::string(**head);
    }
    const Json j = Json::parse(session, nullptr, false);
    if (j.is_object() && j.contains("session") && j["session"].is_string()) {
      session = std::string(op) + " " + j["session"].get<std::string>();
    }
    auto hash = QueryHash(session);
    if (!hash.ok()) return;
    rec.query_hash = *hash;
    rec.attestation = AttestationMode::kSimulated;
    if (!outcome.ok()) {
      const bool refused = outcome.code() == StatusCode::kFailedPrecondition ||
                           outcome.code() == StatusCode::kPermissionDenied;
      rec.outcome = refused ? AuditOutcome::kRefused : AuditOutcome::kFailed;
      std::string reason = outcome.TextDetail("reason").value_or(refused ? "refused" : "failed");
      if (!ValidateCollabCode("reason", reason).ok()) reason = refused ? "refused" : "failed";
      rec.reason = reason;
    } else {
      rec.reason = "";
    }
    auto store = options.open_store();
    Status logged = store.ok() ? AuditLog((*store)->db()).Append(rec).status() : store.status();
    if (!logged.ok()) std::fprintf(stderr, "tessera: audit log: %s\n", logged.message().c_str());
  }

  bool Hosts() const {
    const CollaborationParty* self = options.collaboration.Find(key.id());
    return self != nullptr && self->HasRole(PartyRole::kWorkerHost);
  }

  StatusOr<NodeReply> Reply(std::string_view op, const PartyId& to, std::string body) {
    TESSERA_ASSIGN_OR_RETURN(NodeSignature sig,
                             SignNodeMessage(key, std::string(op) + ".reply", to, body, Now()));
    return NodeReply{std::move(body), std::move(sig)};
  }

  // Stops workers past their time (their processes end with their entries): one not run after
  // the session timeout, one that keeps a match after the match's lifetime. Caller holds mu.
  void Expire() {
    const int64_t now = Now();
    for (auto it = workers.begin(); it != workers.end();) {
      const int64_t lifetime = it->second.kept ? kMatchLifetimeSeconds : kSessionTimeoutSeconds;
      const bool expired = !it->second.running && it->second.started + lifetime < now;
      it = expired ? workers.erase(it) : std::next(it);
    }
  }

  StatusOr<NodeReply> Start(const PartyId& from, std::string_view body) {
    TESSERA_ASSIGN_OR_RETURN(PsiSessionId session, SessionOfBody("worker_start", body));
    const std::string requester = from.ToString();
    // Workers are for those who may ask queries: a worker host of the file asks none.
    const CollaborationParty* asking = options.collaboration.Find(from);
    if (asking == nullptr ||
        (!asking->HasRole(PartyRole::kDataOwner) && !asking->HasRole(PartyRole::kAnalyst))) {
      return Refusal("not_a_requester",
                     "worker_start: only a data_owner or analyst of the collaboration file may "
                     "have a worker started");
    }
    {
      std::lock_guard lock(mu);
      Expire();
      if (workers.contains(session)) {
        return Refusal("session_exists", "worker_start: a worker for this session runs already");
      }
      // A requester's new worker ends its oldest idle kept one when it has no place left: only
      // the requester could count on it, and one that crashed cannot stop its own.
      size_t mine = 0;
      for (const auto& [id, w] : workers) mine += w.requester == requester ? 1 : 0;
      if (mine >= options.max_workers_per_requester || workers.size() >= options.max_workers) {
        auto oldest = workers.end();
        for (auto it = workers.begin(); it != workers.end(); ++it) {
          if (it->second.requester == requester && it->second.kept && !it->second.running &&
              (oldest == workers.end() || it->second.started < oldest->second.started)) {
            oldest = it;
          }
        }
        if (oldest != workers.end()) {
          workers.erase(oldest);
          --mine;
        }
      }
      if (workers.size() >= options.max_workers || mine >= options.max_workers_per_requester) {
        return Refusal("worker_host_busy",
                       fmt::format("worker_start: this host runs {} workers ({} for you) and "
                                   "takes at most {} ({} per party): try again later",
                                   workers.size(), mine, options.max_workers,
                                   options.max_workers_per_requester));
      }
      // Holds the place while the worker starts, outside the lock.
      workers[session] = Running{requester, Now(), nullptr};
    }
    auto release = [&](Status s) {
      std::lock_guard lock(mu);
      workers.erase(session);
      return s;
    };
    auto process = internal::WorkerProcess::Start(options.worker_binary, options.worker_args);
    if (!process.ok()) return release(process.status());
    auto process_ptr = std::make_unique<internal::WorkerProcess>(std::move(*process));
    auto hello = process_ptr->Hello();
    if (!hello.ok()) return release(hello.status());
    WorkerBinding binding{session, requester, key.id().ToString(), EncodeWorkerHello(*hello)};
    auto reply = Reply("worker_start", from, WorkerBindingJson(binding));
    if (!reply.ok()) return release(reply.status());
    std::lock_guard lock(mu);
    auto it = workers.find(session);
    if (it == workers.end()) return Refusal("unknown_session", "worker_start: timed out");
    it->second.process = std::move(process_ptr);
    return reply;
  }

  // "worker_run" (the first job; `count` false) and "worker_count" (a count on the match a
  // worker keeps): feeds the worker the owners' streams and returns its result.
  StatusOr<NodeReply> Feed(const PartyId& from, std::string_view op, std::string_view body,
                           bool count) {
    FrameCursor frames(body);
    TESSERA_ASSIGN_OR_RETURN(auto head_frame, frames.Next());
    if (!head_frame) return InvalidArgumentError("{}: empty request", op);
    const Json head = Json::parse(*head_frame, nullptr, false);
    const bool keep = !count && head.is_object() && head.contains("keep");
    if (head.is_discarded() || !head.is_object() || head.size() != (keep ? 3u : 2u) ||
        !head.contains("session") || !head["session"].is_string() || !head.contains("a_bytes") ||
        !head["a_bytes"].is_number_unsigned() || (keep && head["keep"] != true)) {
      return InvalidArgumentError(
          "{}: the head is not {{\"session\": \"<32 hex>\", \"a_bytes\": N{}}}", op,
          count ? "" : "[, \"keep\": true]");
    }
    TESSERA_ASSIGN_OR_RETURN(PsiSessionId session,
                             ParsePsiSessionIdHex(head["session"].get<std::string>()));
    const std::string_view streams = frames.rest();
    const uint64_t a_bytes = head["a_bytes"].get<uint64_t>();
    if (a_bytes > streams.size()) {
      return InvalidArgumentError("{}: a_bytes is larger than the streams sent", op);
    }
    std::unique_ptr<internal::WorkerProcess> process;
    {
      std::lock_guard lock(mu);
      Expire();
      auto it = workers.find(session);
      if (it != workers.end() && it->second.requester != from.ToString()) {
        return PermissionDeniedError("{}: another party started this session's worker", op);
      }
      if (it == workers.end() || !it->second.process || it->second.kept != count) {
        return Refusal(count ? "unknown_match" : "unknown_session",
                       fmt::format("{}: no worker of this {} waits here (never started, {}, timed "
                                   "out, or this node restarted): {}",
                                   op, count ? "match" : "session", count ? "ended" : "run already",
                                   count ? "match again" : "start the query again"));
      }
      // Counted among the host's workers until it has run (a kept one, until the match ends).
      process = std::move(it->second.process);
      it->second.running = true;
    }
    const std::string_view a = streams.substr(0, a_bytes), b = streams.substr(a_bytes);
    auto result = keep || count ? process->Exchange(a, b) : process->Run(a, b);
    {
      std::lock_guard lock(mu);
      auto it = workers.find(session);
      if (it != workers.end() && result.ok() && (keep || count)) {
        it->second.process = std::move(process);
        it->second.running = false;
        it->second.kept = true;
      } else if (it != workers.end()) {
        workers.erase(it);  // run once; or failed (a failed count ends the match)
      }
    }
    if (!result.ok()) return result.status();
    return Reply(op, from, std::move(*result));
  }

  // "worker_stop": the party that started a worker ends it (a query refused before it ran, a
  // match it is done with). Reply {"stopped": bool}.
  StatusOr<NodeReply> Stop(const PartyId& from, std::string_view body) {
    TESSERA_ASSIGN_OR_RETURN(PsiSessionId session, SessionOfBody("worker_stop", body));
    bool stopped = false;
    {
      std::lock_guard lock(mu);
      auto it = workers.find(session);
      if (it != workers.end() && it->second.requester == from.ToString()) {
        workers.erase(it);  // a worker being fed ends when its feed returns
        stopped = true;
      }
    }
    return Reply("worker_stop", from, Json{{"stopped", stopped}}.dump());
  }
};

WorkerHostNode::WorkerHostNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerHostNode::~WorkerHostNode() = default;

StatusOr<std::unique_ptr<WorkerHostNode>> WorkerHostNode::Create(WorkerHostOptions options) {
  if (!options.owner_key) return InvalidArgumentError("a worker host needs its owner key");
  TESSERA_ASSIGN_OR_RETURN(PartyKey key, PartyKey::Derive(*options.owner_key));
  auto impl = std::unique_ptr<Impl>(new Impl{std::move(options), std::move(key), {}, {}, {}});
  impl->nonces.RefuseSignedBefore(impl->Now());
  return std::unique_ptr<WorkerHostNode>(new WorkerHostNode(std::move(impl)));
}

const PartyId& WorkerHostNode::id() const { return impl_->key.id(); }

Status WorkerHostNode::Admit(std::string_view op, const NodeSignature& signature) const {
  TESSERA_RETURN_IF_ERROR(
      AdmitNodeMessage(signature, op, impl_->options.collaboration, impl_->key.id(), impl_->Now()));
  if (!impl_->Hosts()) {
    return Refusal("not_a_worker_host",
                   "this party hosts no join workers (its collaboration file does not give it "
                   "the role worker_host)");
  }
  return OkStatus();
}

uint64_t WorkerHostNode::MaxBodyBytes(std::string_view op, uint64_t otherwise) {
  return op == "worker_start" || op == "worker_stop" ? kMaxStartBytes : otherwise;
}

StatusOr<NodeReply> WorkerHostNode::Handle(std::string_view op, const NodeSignature& signature,
                                           std::string_view body) {
  TESSERA_RETURN_IF_ERROR(Admit(op, signature));
  TESSERA_ASSIGN_OR_RETURN(PartyId from,
                           AcceptNodeMessage(signature, op, body, MaxBodyBytes(op, body.size()),
                                             impl_->key.id(), impl_->nonces, impl_->Now()));
  StatusOr<NodeReply> reply = NotFoundError("node message: no step '{}'", op);
  if (op == "worker_start") reply = impl_->Start(from, body);
  if (op == "worker_run") reply = impl_->Feed(from, op, body, false);
  if (op == "worker_count") reply = impl_->Feed(from, op, body, true);
  if (op == "worker_stop") reply = impl_->Stop(from, body);
  impl_->Audit(from, op, body, reply.status());
  return reply;
}

}  // namespace tessera::collab
