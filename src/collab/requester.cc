// The requester's side of a collaboration query (session.h): the join worker as a child
// process, the owners' rounds, the result.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>

#include "tessera/collab/audit_log.h"
#include "tessera/collab/session.h"
#include "tessera/collab/worker.h"
#include "tessera/privacy/order_token.h"

extern char** environ;

namespace tessera::collab {
namespace {

using Json = nlohmann::json;

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status WriteAll(int fd, std::string_view s) {
  size_t at = 0;
  while (at < s.size()) {
    const ssize_t w = ::write(fd, s.data() + at, s.size() - at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return InternalError("writing to the join worker: {}", std::strerror(errno));
    at += static_cast<size_t>(w);
  }
  return OkStatus();
}

ReadFn FdReader(int fd) {
  return [fd](uint8_t* out, size_t n) -> StatusOr<size_t> {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd, out + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return InternalError("reading from the join worker: {}", std::strerror(errno));
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  };
}

// The join worker as a child process: owner A's stream, owner B's stream and its output on
// pipes, its error output kept for the message when it fails.
class WorkerProcess {
 public:
  static StatusOr<WorkerProcess> Start(const std::string& binary,
                                       const std::vector<std::string>& wrapper) {
    WorkerProcess w;
    int a[2], b[2], out[2], err[2];
    if (::pipe2(a, O_CLOEXEC) != 0 || ::pipe2(b, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
      return InternalError("pipes for the join worker: {}", std::strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, a[0], 3);
    posix_spawn_file_actions_adddup2(&actions, b[0], 4);
    posix_spawn_file_actions_adddup2(&actions, out[1], 5);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> args = wrapper;
    if (!wrapper.empty()) args.emplace_back("--worker");
    args.push_back(binary);
    for (const char* x : {"--sealed", "--a", "fd:3", "--b", "fd:4", "--out", "fd:5"}) {
      args.emplace_back(x);
    }
    std::vector<char*> argv;
    for (std::string& x : args) argv.push_back(x.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&w.pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    for (int fd : {a[0], b[0], out[1], err[1]}) ::close(fd);
    w.a_ = a[1];
    w.b_ = b[1];
    w.out_ = out[0];
    w.err_ = err[0];
    if (rc != 0) {
      w.pid_ = -1;
      return UnavailableError("cannot start the join worker {}: {} (give its path with --worker)",
                              argv[0], std::strerror(rc));
    }
    // Its error output is read on the side, so that a chatty failure never blocks it.
    const int err_fd = w.err_;
    w.errors_ = std::async(std::launch::async, [err_fd] {
      std::string text;
      char buf[4096];
      ssize_t r;
      while ((r = ::read(err_fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR)) {
        if (r > 0 && text.size() < 4096) text.append(buf, static_cast<size_t>(r));
      }
      return text;
    });
    return w;
  }

  WorkerProcess() = default;
  WorkerProcess(WorkerProcess&& o) noexcept { *this = std::move(o); }
  WorkerProcess& operator=(WorkerProcess&& o) noexcept {
    std::swap(pid_, o.pid_);
    std::swap(a_, o.a_);
    std::swap(b_, o.b_);
    std::swap(out_, o.out_);
    std::swap(err_, o.err_);
    std::swap(errors_, o.errors_);
    return *this;
  }
  ~WorkerProcess() {
    for (int* fd : {&a_, &b_, &out_}) CloseFd(fd);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (errors_.valid()) errors_.wait();
    CloseFd(&err_);
  }

  StatusOr<WorkerHello> Hello() {
    auto frame = ReadFrame(FdReader(out_));
    if (!frame.ok() || !*frame) return Failed("it sent no hello");
    return ParseWorkerHello(**frame);
  }

  // Feeds both streams (on two threads: the worker reads them in its own order) and returns the
  // result frame.
  StatusOr<std::string> Run(std::string_view a, std::string_view b) {
    // Each stream ends (its pipe closed) as soon as it is written: the worker reads a stream to
    // its end before it turns to the other.
    int fa = a_, fb = b_;
    a_ = b_ = -1;
    auto feed_a = std::async(std::launch::async, [&a, fa]() mutable {
      Status s = WriteAll(fa, a);
      CloseFd(&fa);
      return s;
    });
    Status wb = WriteAll(fb, b);
    CloseFd(&fb);
    Status wa = feed_a.get();
    auto frame = ReadFrame(FdReader(out_));
    CloseFd(&out_);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !wa.ok() || !wb.ok() || !frame.ok() ||
        !*frame) {
      return Failed(WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                        : fmt::format("exit {}", WEXITSTATUS(status)));
    }
    return std::move(**frame);
  }

 private:
  static void CloseFd(int* fd) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  Status Failed(const std::string& why) {
    std::string said;
    if (errors_.valid()) {
      CloseFd(&a_);
      CloseFd(&b_);
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
      }
      said = errors_.get();
      while (!said.empty() && (said.back() == '\n' || said.back() == '\r')) said.pop_back();
    }
    return InternalError("the join worker failed ({}){}{}", why, said.empty() ? "" : ": ", said);
  }

  pid_t pid_ = -1;
  int a_ = -1, b_ = -1, out_ = -1, err_ = -1;
  std::future<std::string> errors_;
};

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

Status Refused(std::string_view reason, std::string message) {
  Status s = FailedPreconditionError("{}", message);
  s.SetDetail("reason", std::string(reason));
  return s;
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
  if (spec.kind == QueryKind::kActivation) {
    // The list names owner A's customers and goes to the requester: they must be one party.
    if (owners[0]->id != self) {
      return Refused("requester_not_owner",
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
  r.worker_host = self.ToString();
  r.identifier = spec.identifier;
  r.queries = spec.queries;
  r.epsilon_micro = spec.epsilon_micro;

  // What the owners' grants will allow, judged here first with their own rules, so that a
  // request they would refuse is not sent at all.
  const Purpose purpose = PurposeOfKind(spec.kind);
  uint64_t k_min = 2;
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
      return Refused("activation_under_dp",
                     fmt::format("{}'s grants ask for differential privacy, and an activation list "
                                 "cannot be noised: they allow no activation",
                                 owner->name));
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

  TESSERA_ASSIGN_OR_RETURN(WorkerProcess worker,
                           WorkerProcess::Start(options.worker_binary, options.worker_args));
  TESSERA_ASSIGN_OR_RETURN(WorkerHello hello, worker.Hello());
  TESSERA_ASSIGN_OR_RETURN(ResultKeyPair result_key, ResultKeyPair::Generate());
  TESSERA_ASSIGN_OR_RETURN(r.session, NewPsiSessionId());
  r.result_key = result_key.public_key();
  r.issued_at = now();
  const std::string request = SessionRequestJson(r);

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
  result.bytes_to_owners += 2 * request.size();
  result.bytes_from_owners += round1[0].body.size() + round1[1].body.size();

  // Round 2: each owner double-blinds the other's values and seals its part to the worker.
  std::array<uint64_t, 2> sent{};
  auto second = [&](size_t i) -> StatusOr<NodeReply> {
    const NodeReply& partner = round1[1 - i];
    Json head{{"session", Hex(r.session)},
              {"worker", EncodeWorkerHello(hello)},
              {"partner", SignatureJson(partner.signature)}};
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
  result.bytes_to_owners += sent[0] + sent[1];
  result.bytes_from_owners += sealed_a->body.size() + sealed_b->body.size();

  TESSERA_ASSIGN_OR_RETURN(std::string sealed_result, worker.Run(sealed_a->body, sealed_b->body));
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

StatusOr<NodeReply> LocalTransport::Call(const CollaborationParty& to, std::string_view op,
                                         const std::string& body) {
  for (OwnerNode* node : locals_) {
    if (node->id() != to.id) continue;
    const int64_t now = clock_ ? clock_() : SystemNow();
    TESSERA_ASSIGN_OR_RETURN(NodeSignature sig, SignNodeMessage(key_, op, to.id, body, now));
    TESSERA_ASSIGN_OR_RETURN(NodeReply reply, node->Handle(op, sig, body));
    TESSERA_RETURN_IF_ERROR(VerifyNodeMessage(reply.signature, std::string(op) + ".reply", to.id,
                                              key_.id(), reply.body));
    return reply;
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
