#pragma once

// A join worker on a host other than the requester (docs/collaboration.md, "Where the worker
// runs"): a neutral party, or one of the owners, named in the owners' grants (worker_hosts) and
// holding the role worker_host in the collaboration file.
//
//   requester                          worker host                     owners
//   worker_start {session} ──────────► starts tessera-worker;
//                  ◄── WorkerBinding ─ signs {session, requester, host, the worker's hello}
//   round 1, round 2 with the binding ─────────────────────────────────► check the host's
//                  ◄───────────────────────────────────────────────────── signature, then seal
//                                                                          to that worker only
//   worker_run {session, A's stream, B's stream} ► feeds the worker
//                  ◄── result sealed to the requester's result key
//
// The host's signature binds the worker's key to the host: without it a requester could name a
// neutral host in the request and relay a hello of a worker of its own. The host sees sealed
// streams and a sealed result only, so it learns nothing but the sizes (a simulated worker runs
// in the host's sandbox; only an attested enclave would also keep the host's operator out).
//
// Privacy: nothing here touches an identifier; the streams are ciphertext to the worker's key.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/collab/node_auth.h"
#include "tessera/collab/party.h"
#include "tessera/collab/psi_message.h"
#include "tessera/collab/session.h"
#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/store/store.h"

namespace tessera::collab {

inline constexpr std::string_view kWorkerBindingType = "tessera.collab.worker.v1";

// What a worker host signs (as the body of its "worker_start.reply") when it has started a
// worker for a session: that worker's hello, for that session and requester only.
struct WorkerBinding {
  PsiSessionId session{};
  std::string requester;  // party ids
  std::string host;
  std::string hello;  // EncodeWorkerHello (worker_channel.h)
  friend bool operator==(const WorkerBinding&, const WorkerBinding&) = default;
};
// {"hello":"…","host":"tp1:…","requester":"tp1:…","session":"<32 hex>",
//  "type":"tessera.collab.worker.v1"}
std::string WorkerBindingJson(const WorkerBinding& binding);
// Strict: every field, nothing else, valid party ids, a hello that parses.
// Errors: kInvalidArgument "worker binding: FIELD: reason".
StatusOr<WorkerBinding> ParseWorkerBinding(std::string_view json);

// An owner's check of a worker on another host than the requester, in round 2: `binding` is
// signed by `host` for `request`'s requester (op "worker_start.reply"), names `request`'s
// session, requester and host, and carries `hello`; its signature was made no earlier than the
// request was issued less the clock skew, and no later than the session could live. Errors:
// kPermissionDenied "worker_binding_invalid" (detail "reason") naming what does not hold.
Status CheckWorkerBinding(const SessionRequest& request, const NodeSignature& signature,
                          std::string_view binding, std::string_view hello);

struct WorkerHostOptions {
  std::shared_ptr<const privacy::OwnerKey> owner_key;
  Collaboration collaboration;
  std::string worker_binary;             // tessera-worker
  std::vector<std::string> worker_args;  // a sandbox wrapper, as RequesterOptions'
  size_t max_workers = 4;                // running at once, for all requesters
  size_t max_workers_per_requester = 2;
  std::function<int64_t()> clock;  // Unix seconds; the system clock when empty
  // This party's store, for its audit log (audit_log.h): every step asked of it — who, the step
  // as the purpose (worker_start, worker_run, worker_count, worker_stop), the hash of the step
  // and session, the outcome and why. None: no log.
  std::function<StatusOr<std::unique_ptr<store::Store>>()> open_store;
};

// The worker host's side: starts a worker per session when a party of the collaboration asks
// ("worker_start"), and feeds it the owners' sealed streams the same party relays ("worker_run").
// A worker not run within kSessionTimeoutSeconds is stopped. Refuses unless this party has the
// role worker_host in its own collaboration file. Thread-safe.
class WorkerHostNode {
 public:
  // Errors: the owner key's (deriving the party key).
  static StatusOr<std::unique_ptr<WorkerHostNode>> Create(WorkerHostOptions options);
  ~WorkerHostNode();

  const PartyId& id() const;

  // As OwnerNode::Admit, and kFailedPrecondition "not_a_worker_host" (detail "reason") when
  // this party hosts no workers.
  Status Admit(std::string_view op, const NodeSignature& signature) const;
  // The largest body a step takes: worker_start a small JSON; worker_run `otherwise`.
  static uint64_t MaxBodyBytes(std::string_view op, uint64_t otherwise);

  // "worker_start": body {"session":"<32 hex>"}, from a data_owner or analyst of the file; reply
  // WorkerBindingJson. "worker_run": body Frame({"session":"<32 hex>","a_bytes":N[,"keep":true]})
  // then owner A's sealed stream (N bytes) then owner B's; reply the worker's result (sealed to
  // the requester's result key), once; with "keep", the worker keeps its match for counts
  // (session.h KeptMatch) until kMatchLifetimeSeconds after its start. "worker_count": the same
  // body without "keep", for a count on a kept match; reply the count's result (a count that
  // fails ends the worker). "worker_stop": body {"session":"<32 hex>"} from the party that
  // started the worker; stops it (a query refused before it ran, a match ended); reply
  // {"stopped": bool}.
  // Errors: kPermissionDenied (not signed, unknown party, replayed, a run of another party's
  // worker); kInvalidArgument (malformed); kFailedPrecondition with the detail "reason":
  // "not_a_worker_host", "not_a_requester", "worker_host_busy" (too many workers running, kept
  // ones included), "unknown_session" (none started, run already, timed out, or this node
  // restarted), "unknown_match" (worker_count: no kept worker of that session), "session_exists";
  // kInternal or kUnavailable when the worker fails or cannot start.
  StatusOr<NodeReply> Handle(std::string_view op, const NodeSignature& signature,
                             std::string_view body);

 private:
  struct Impl;
  explicit WorkerHostNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::collab
