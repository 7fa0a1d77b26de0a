#include "tessera/collab/worker_host.h"

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "collab/refusal.h"
#include "collab/worker_process.h"
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

struct WorkerHostNode::Impl {
  WorkerHostOptions options;
  PartyKey key;
  NonceCache nonces;
  struct Running {
    std::string requester;
    int64_t started = 0;
    std::unique_ptr<internal::WorkerProcess> process;  // none while it starts or runs
    bool running = false;                              // fed by a worker_run now
  };
  std::mutex mu;
  std::map<PsiSessionId, Running> workers;  // guarded by mu

  int64_t Now() const { return options.clock ? options.clock() : SystemNow(); }

  bool Hosts() const {
    const CollaborationParty* self = options.collaboration.Find(key.id());
    return self != nullptr && self->HasRole(PartyRole::kWorkerHost);
  }

  StatusOr<NodeReply> Reply(std::string_view op, const PartyId& to, std::string body) {
    TESSERA_ASSIGN_OR_RETURN(NodeSignature sig,
                             SignNodeMessage(key, std::string(op) + ".reply", to, body, Now()));
    return NodeReply{std::move(body), std::move(sig)};
  }

  // Stops workers past their time (their processes end with their entries). Caller holds mu.
  void Expire() {
    const int64_t now = Now();
    for (auto it = workers.begin(); it != workers.end();) {
      const bool expired = !it->second.running && it->second.started + kSessionTimeoutSeconds < now;
      it = expired ? workers.erase(it) : std::next(it);
    }
  }

  StatusOr<NodeReply> Start(const PartyId& from, std::string_view body) {
    const Json j = Json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.size() != 1 || !j.contains("session") ||
        !j["session"].is_string()) {
      return InvalidArgumentError("worker_start: the body is not {{\"session\": \"<32 hex>\"}}");
    }
    TESSERA_ASSIGN_OR_RETURN(PsiSessionId session,
                             ParsePsiSessionIdHex(j["session"].get<std::string>()));
    const std::string requester = from.ToString();
    {
      std::lock_guard lock(mu);
      Expire();
      if (workers.contains(session)) {
        return Refusal("session_exists", "worker_start: a worker for this session runs already");
      }
      size_t mine = 0;
      for (const auto& [id, w] : workers) mine += w.requester == requester ? 1 : 0;
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

  StatusOr<NodeReply> Run(const PartyId& from, std::string_view body) {
    FrameCursor frames(body);
    TESSERA_ASSIGN_OR_RETURN(auto head_frame, frames.Next());
    if (!head_frame) return InvalidArgumentError("worker_run: empty request");
    const Json head = Json::parse(*head_frame, nullptr, false);
    if (head.is_discarded() || !head.is_object() || head.size() != 2 || !head.contains("session") ||
        !head["session"].is_string() || !head.contains("a_bytes") ||
        !head["a_bytes"].is_number_unsigned()) {
      return InvalidArgumentError(
          "worker_run: the head is not {{\"session\": \"<32 hex>\", \"a_bytes\": N}}");
    }
    TESSERA_ASSIGN_OR_RETURN(PsiSessionId session,
                             ParsePsiSessionIdHex(head["session"].get<std::string>()));
    const std::string_view streams = frames.rest();
    const uint64_t a_bytes = head["a_bytes"].get<uint64_t>();
    if (a_bytes > streams.size()) {
      return InvalidArgumentError("worker_run: a_bytes is larger than the streams sent");
    }
    std::unique_ptr<internal::WorkerProcess> process;
    {
      std::lock_guard lock(mu);
      Expire();
      auto it = workers.find(session);
      if (it != workers.end() && it->second.requester != from.ToString()) {
        return PermissionDeniedError("worker_run: another party started this session's worker");
      }
      if (it == workers.end() || !it->second.process) {
        return Refusal("unknown_session",
                       "worker_run: no worker of this session waits here (never started, run "
                       "already, timed out, or this node restarted): start the query again");
      }
      // Counted among the host's workers until it has run.
      process = std::move(it->second.process);
      it->second.running = true;
    }
    auto result = process->Run(streams.substr(0, a_bytes), streams.substr(a_bytes));
    {
      std::lock_guard lock(mu);
      workers.erase(session);
    }
    if (!result.ok()) return result.status();
    return Reply("worker_run", from, std::move(*result));
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

Status WorkerHostNode::Admit(const NodeSignature& signature) const {
  TESSERA_RETURN_IF_ERROR(
      AdmitNodeMessage(signature, impl_->options.collaboration, impl_->key.id(), impl_->Now()));
  if (!impl_->Hosts()) {
    return Refusal("not_a_worker_host",
                   "this party hosts no join workers (its collaboration file does not give it "
                   "the role worker_host)");
  }
  return OkStatus();
}

uint64_t WorkerHostNode::MaxBodyBytes(std::string_view op, uint64_t otherwise) {
  return op == "worker_start" ? kMaxStartBytes : otherwise;
}

StatusOr<NodeReply> WorkerHostNode::Handle(std::string_view op, const NodeSignature& signature,
                                           std::string_view body) {
  TESSERA_RETURN_IF_ERROR(Admit(signature));
  TESSERA_ASSIGN_OR_RETURN(PartyId from,
                           AcceptNodeMessage(signature, op, body, MaxBodyBytes(op, body.size()),
                                             impl_->key.id(), impl_->nonces, impl_->Now()));
  if (op == "worker_start") return impl_->Start(from, body);
  if (op == "worker_run") return impl_->Run(from, body);
  return NotFoundError("node message: no step '{}'", op);
}

}  // namespace tessera::collab
