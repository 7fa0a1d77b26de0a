#pragma once

// A collaboration query between nodes (docs/collaboration.md, "Between nodes"): a requester asks
// two data owners for an overlap, joint audience counts or — when the requester is one of the
// owners — an activation list of its own customers (RunActivation); each owner checks the request
// against the grants it issued, reserves ε, blinds its match tokens, double-blinds its partner's,
// and sends its part sealed to the join worker (worker_channel.h) through the requester, which
// hosts the worker and alone can open the result.
//
//   requester                         owner A                           owner B
//   SessionRequest ── round1 ───────► grants, ledger, audit;
//                   ◄── r_A·k_A·H(x) ─ shuffled, blinded tokens
//   SessionRequest ── round1 ─────────────────────────────────────────► the same
//                   ◄───────────────────────────────────────── r_B·k_B·H(y)
//   B's values, worker's hello ── round2 ► double-blinds B's values, seals
//                   ◄── sealed stream ─  job, values, contribution to the worker; commits ε
//   A's values, worker's hello ── round2 ──────────────────────────────► the same
//   both sealed streams ──► tessera-worker ──► result sealed to the requester's result key
//
// Every message is signed (node_auth.h); an owner's round-1 reply carries its signature on to
// the partner, so that B double-blinds only values A itself sent for this session.
//
// Privacy: the request holds expressions over attributes and ids of parties, never a customer;
// replies hold blinded values (unlinkable between sessions) and ciphertext for the worker. An
// activation's members reach the requester-owner only, as session positions it alone can map to
// its pseudonyms (OwnerNode::ActivationMembers, in its own process).

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/collab/grant.h"
#include "tessera/collab/match_token.h"
#include "tessera/collab/node_auth.h"
#include "tessera/collab/party.h"
#include "tessera/collab/psi_message.h"
#include "tessera/collab/worker_channel.h"
#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/store.h"

namespace tessera::collab {

class WorkerHostNode;  // worker_host.h

inline constexpr std::string_view kSessionRequestType = "tessera.collab.session.v1";
// How long an owner keeps a session between round 1 and round 2: well within the budget
// ledger's reservation timeout, so that a session that never ran gives its ε back.
inline constexpr int64_t kSessionTimeoutSeconds = 1800;
// Sessions one requester may have open at an owner at once (each holds its contribution).
inline constexpr size_t kMaxOpenSessionsPerRequester = 8;
// A kept match (SessionRequest::keep): how long owners and the worker keep it for counts on it,
// and how many one requester may keep at an owner at once (each holds 4 bytes per position; a
// new one beyond that ends the requester's oldest).
inline constexpr int64_t kMatchLifetimeSeconds = 4 * 3600;
inline constexpr size_t kMaxKeptMatchesPerRequester = 2;
inline constexpr std::string_view kCountRequestType = "tessera.collab.count.v1";

// kActivation: the members of a joint audience, to the owner of those customers (owner A, who
// must be the requester), as its own pseudonyms; purpose activation, output activation_list.
enum class QueryKind { kOverlap, kCounts, kActivation };
std::string_view QueryKindName(QueryKind kind);  // "overlap", "counts", "activation"

// What a requester asks of one owner's data.
struct OwnerQuery {
  std::string expression;              // audience expression on the owner's index; empty: all
  std::vector<std::string> breakdown;  // attribute names to break counts down by (0..2 in all)
  friend bool operator==(const OwnerQuery&, const OwnerQuery&) = default;
};

struct SessionRequest {
  PsiSessionId session{};
  QueryKind kind = QueryKind::kOverlap;
  // Party ids ("tp1:…"), valid (ParseSessionRequest checks them).
  std::string requester;
  std::array<std::string, 2> owners;  // owner A (the worker's "a"), owner B
  std::string worker_host;            // where the join worker runs (the requester, or a
                                      // worker host that signs the worker's hello)
  MatchKind identifier = MatchKind::kEmail;
  std::array<OwnerQuery, 2> queries;  // for owner A, owner B
  uint64_t k_min = kDefaultKMin;
  std::optional<uint64_t> epsilon_micro;  // ε of the release; none: exact counts (activation)
  X25519PublicKey result_key{};
  int64_t issued_at = 0;  // Unix seconds
  // An overlap or counts whose match the owners and the worker keep for counts on it, for
  // kMatchLifetimeSeconds or until the requester ends it (KeptMatch).
  bool keep = false;
  // A count on a kept match (type kCountRequestType): the match's session; `session` is then
  // this count's own id. Kind counts; owners, identifier and worker host those of the match.
  std::optional<PsiSessionId> match;
  friend bool operator==(const SessionRequest&, const SessionRequest&) = default;
};

// Canonical JSON (RFC 8785), fields:
//   {"epsilon":"0.5"|null,"identifier":"email"|"phone","issued_at":N,"k_min":N,
//    "kind":"overlap"|"counts"|"activation","owners":["tp1:…","tp1:…"],
//    "queries":[{"breakdown":[…],"expression":"…"},{…}],"requester":"tp1:…",
//    "result_key":"<64 hex>","session":"<32 hex>","type":"tessera.collab.session.v1",
//    "worker_host":"tp1:…"}
// plus "keep":true when it keeps its match; a count on a kept match has the type
// kCountRequestType and "match":"<32 hex>".
std::string SessionRequestJson(const SessionRequest& request);
// Strict: every field, no other, valid ids, owners distinct, at most two breakdown attributes in
// all, expressions up to 10,000 bytes, an overlap without expressions or breakdowns, an activation
// without breakdowns and without ε (a list takes no noise). Who may receive an activation is the
// owners' to judge (OwnerNode: "requester_not_owner"), not the parser's.
// Errors: kInvalidArgument "session request: FIELD: reason" (detail "field").
StatusOr<SessionRequest> ParseSessionRequest(std::string_view json);

// Why an owner refuses a request: a stable code (audit log, APIs) in the detail "reason" of a
// kFailedPrecondition, beside GrantRefusalName's codes: "not_an_owner", "worker_host_not_allowed",
// "recipient_not_allowed", "attestation_not_allowed", "output_kind_not_allowed",
// "field_not_allowed", "breakdown_not_allowed", "category_too_deep", "k_min_too_small",
// "epsilon_required", "epsilon_too_large", "budget_exhausted" (kResourceExhausted),
// "unknown_session", "worker_host_unknown" (the request places the worker at a party that is no
// worker_host of the owner's collaboration file), "worker_binding_invalid" (kPermissionDenied, in
// round 2: a worker at another host than the requester whose host did not sign its hello for this
// session, worker_host.h), and for activations "requester_not_owner" (the list would go to someone
// other than owner A, the owner of the customers listed) and "activation_under_dp" (a grant that
// asks for differential privacy: a list cannot be noised, so such a grant allows no activation);
// for kept matches "too_many_matches" (kMaxKeptMatchesPerRequester being made at once; a new
// match beyond the limit ends the requester's oldest instead), "unknown_match" (none kept
// here: never made, ended, older than kMatchLifetimeSeconds, or this node restarted) and
// "match_stale" (this owner's data changed since the match: its positions would name other
// customers).

struct OwnerNodeOptions {
  // Opens this owner's store (a new connection; called once per request).
  std::function<StatusOr<std::unique_ptr<store::Store>>()> open_store;
  // Where the audience index of the store is kept (audience::DefaultIndexPath).
  std::string index_path;
  std::shared_ptr<const privacy::OwnerKey> owner_key;
  Collaboration collaboration;
  std::function<int64_t()> clock;  // Unix seconds; the system clock when empty
};

// A reply of a node: its body and the responder's signature of it.
struct NodeReply {
  std::string body;
  NodeSignature signature;
};

// The owner's side of sessions, for its own data. Keeps each session between its rounds in
// memory (a node that restarts forgets them: the requester starts again). For an activation this
// party asked itself (requester = owner A = this party) it also keeps, from round 1, which of its
// customers each session position is, until ActivationMembers takes it or the session times out;
// for every other session the permutation is gone once round 1 has replied. Thread-safe.
class OwnerNode {
 public:
  static StatusOr<std::unique_ptr<OwnerNode>> Create(OwnerNodeOptions options);
  ~OwnerNode();

  const PartyId& id() const;

  // Handles one signed node request: "round1" (body: a session request's JSON), "round2"
  // (body: Frame(JSON {"session","worker","partner"[,"worker_host"]}) then Frame(the partner's
  // round-1 reply body)), "grant_revoked" (a RevocationNotice from the grant's grantor; reply
  // {"changed": bool}), and for kept matches "count" (body: a count request's JSON; reply this
  // owner's stream for the count, sealed to the match's worker: judged by the grants and the
  // ledger as a round 1, ε committed as in a round 2) and "match_end" (body {"match":"<32 hex>"};
  // reply {"ended": bool}). Checks the signature (the sender must be a party of the collaboration),
  // its time and nonce, then the step. Errors: kPermissionDenied (not signed, unknown party,
  // replayed), kInvalidArgument (malformed), kFailedPrecondition / kResourceExhausted with the
  // detail "reason" (refused by policy; audited), the store's errors.
  StatusOr<NodeReply> Handle(std::string_view op, const NodeSignature& signature,
                             std::string_view body);

  // What can be checked of a node request for step `op` before its body is read: the sender is
  // a party of the collaboration file, the request is addressed to this party, its time is
  // within the allowed skew, and the sender's signature of its head (step, parties, time, nonce,
  // the body's size) verifies (AdmitNodeMessage). A transport calls it first, so that nobody
  // makes a node read a body its sender did not sign the size of. Errors: kPermissionDenied.
  Status Admit(std::string_view op, const NodeSignature& signature) const;
  // The largest body a step takes (round 1: a session request).
  static uint64_t MaxBodyBytes(std::string_view op, uint64_t otherwise);

  // The last step of an activation this party asked as owner A (RunActivation), in this process
  // only: no op of Handle, and so no node route, reaches it. Maps `positions` of the session
  // `session` — as the join worker released them — to this party's own pseudonyms, each once,
  // in customer-index order (as `tessera audience export` lists them), and forgets the session's
  // permutation whatever the outcome: a session's members are handed out once.
  // Privacy: in, positions of a shuffled session; out, this party's own pseudonyms; the
  // permutation is dropped here.
  // Errors: kNotFound when no activation session of that id waits here (never asked by this
  // party, not through its round 2, taken already, timed out, or this node restarted);
  // kInvalidArgument for a position outside the session; the store's errors.
  StatusOr<std::vector<privacy::Uuid>> ActivationMembers(const PsiSessionId& session,
                                                         std::span<const uint32_t> positions);

 private:
  struct Impl;
  explicit OwnerNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// How a requester reaches an owner: over HTTP (server/node_client.h) or in-process (its own
// OwnerNode when the requester is an owner itself). Sends `body` for `op`, signed, and returns
// the reply once its signature is checked.
class NodeTransport {
 public:
  virtual ~NodeTransport() = default;
  virtual StatusOr<NodeReply> Call(const CollaborationParty& to, std::string_view op,
                                   const std::string& body) = 0;
};

// A grantor's notice to a grantee that it revoked a grant (node step "grant_revoked"): the
// grantee's node marks its copy revoked (OwnerNode::Handle), so that the grantee stops relying
// on it; the grantor refuses requests under it whatever the grantee's copy says.
inline constexpr std::string_view kRevocationNoticeType = "tessera.collab.revocation.v1";
struct RevocationNotice {
  std::string grant_id;
  std::string reason;
};
// {"grant_id":"g_…","reason":"…","type":"tessera.collab.revocation.v1"}
std::string RevocationNoticeJson(const RevocationNotice& notice);
// Errors: kInvalidArgument for anything but that object.
StatusOr<RevocationNotice> ParseRevocationNotice(std::string_view json);

// Tells the grantee of `grant_id` (a grant this party issued and revoked, in `db`) through its
// node that the grant is revoked. Returns whether the grantee's copy changed (false: it knew).
// Errors: kFailedPrecondition for a grant not issued here or not revoked; kNotFound when the
// grantee is not in `collaboration`; the transport's (kUnavailable: its node cannot be reached)
// and the grantee's (kNotFound: it never imported the grant).
StatusOr<bool> NotifyRevocation(store::Database& db, std::string_view grant_id,
                                const Collaboration& collaboration, NodeTransport& transport);

// What the requester asks, before it becomes a SessionRequest.
struct QuerySpec {
  QueryKind kind = QueryKind::kOverlap;
  std::array<std::string, 2> owners;  // names or ids in the collaboration file
  MatchKind identifier = MatchKind::kEmail;
  std::array<OwnerQuery, 2> queries;
  std::optional<uint64_t> epsilon_micro;
  std::optional<uint64_t> k_min;  // default: the largest k_min of the grants received
  // A floor of this party's own on k_min, whatever the grants and `k_min` say (an activation:
  // its minimum export size, audience::MinExportSize, since the list is an export).
  uint64_t k_min_floor = 0;
  // Keep the match for counts on it (an overlap or counts only; RunQuery's `kept`).
  bool keep = false;
};

struct QueryResult {
  std::string result_json;  // the worker's result (worker.h RunJoinJob), as released
  SessionRequest request;
  std::vector<std::string> grant_ids;  // the grants received that the query relied on
  uint64_t cells_returned = 0;
  // What travelled between the requester and the owners (bodies, both rounds), and to a worker
  // host (both sealed streams), for benchmarks.
  uint64_t bytes_to_owners = 0, bytes_from_owners = 0, bytes_to_worker_host = 0;
  // Wall time of each step, for benchmarks: both owners' round 1 (matching tokens blinded), their
  // round 2 (double-blinding, sealing), and the worker's join and release once it has both
  // streams (the part a query pays once the values are matched).
  double seconds_round1 = 0, seconds_round2 = 0, seconds_worker = 0;
};

struct RequesterOptions {
  std::shared_ptr<const privacy::OwnerKey> owner_key;
  Collaboration collaboration;
  std::string worker_binary;  // tessera-worker
  // A sandbox wrapper to run the worker in (scripts/tessera-worker-sandboxed): called as
  // `wrapper --worker BINARY ARGS...`; empty: the worker runs directly (it confines itself).
  std::vector<std::string> worker_args;
  // Where the join worker runs: a party (name or id) with the role worker_host that every
  // owner's grants accept, which starts it and signs its hello (worker_host.h). Empty: here, if
  // the grants allow it, else the first worker host of the collaboration file they all allow.
  std::string worker_host;
  std::function<int64_t()> clock;
};

// Runs a query as the requester: resolves the owners, builds and signs the request, starts the
// join worker here, drives both owners through their rounds, feeds the worker and opens the
// result. `received_grants`: the grants this party received (GrantStore), to choose k_min and to
// fail early with the owner's own reason when it would refuse. An activation goes through
// RunActivation (this returns its positions, which only this party's OwnerNode can map). Errors:
// the owners' refusals as they sent them (and, before sending anything, an activation whose owner
// A is not this party: "requester_not_owner"; one under a grant with differential privacy:
// "activation_under_dp"); kUnavailable when an owner cannot be reached; kInternal when the worker
// fails.
StatusOr<QueryResult> RunQuery(const QuerySpec& spec, const RequesterOptions& options,
                               std::span<const StoredGrant> received_grants,
                               NodeTransport& transport);

// A match kept at the owners and the worker (QuerySpec::keep), for joint counts that send only
// what each owner's query selects: no blinding, no matching — a count on 10 M matched people
// takes seconds where a new query takes minutes. Each count is judged by the owners' grants and
// ledgers like a new query (its own ε, k_min, audit entry); the owners keep which customer each
// position of the match is (never the partner's), the worker keeps which positions matched.
// Ends when End is called, after kMatchLifetimeSeconds, when an owner's data changes
// ("match_stale"), when a count fails at the worker, or when a node restarts. Not thread-safe:
// one count at a time (a server serializes them).
class KeptMatch {
 public:
  ~KeptMatch();  // stops a worker running here; tells no one else (End does)
  const SessionRequest& request() const;  // the query that made the match
  // Unix seconds after which the owners have forgotten it.
  int64_t expires() const;

  // A joint count on the match: `spec` of kind counts, with the match's owners and identifier
  // (as names or ids). Errors: as RunQuery's, kFailedPrecondition "unknown_match" (ended or
  // expired here or at an owner), "match_stale"; kInternal when the worker fails (the match
  // has ended).
  StatusOr<QueryResult> Count(const QuerySpec& spec, std::span<const StoredGrant> received_grants,
                              NodeTransport& transport);
  // Tells the owners and the worker host to forget the match, and stops a worker running here.
  // Errors: the first owner's or host's that could not be told (the rest are told anyway).
  Status End(NodeTransport& transport);

 private:
  friend StatusOr<QueryResult> RunQuery(const QuerySpec&, const RequesterOptions&,
                                        std::span<const StoredGrant>, NodeTransport&,
                                        std::unique_ptr<KeptMatch>*);
  struct Impl;
  explicit KeptMatch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// As above; with spec.keep, also the kept match in *kept (which must be given).
StatusOr<QueryResult> RunQuery(const QuerySpec& spec, const RequesterOptions& options,
                               std::span<const StoredGrant> received_grants,
                               NodeTransport& transport, std::unique_ptr<KeptMatch>* kept);

// What an activation gives its requester: the members of the joint audience among its own
// customers, or nothing when they are fewer than k_min.
struct ActivationResult {
  // result_json: the worker's release without its positions (its attestation covers them too).
  QueryResult query;
  // Nothing released: fewer than k_min matched pairs (the worker's answer), or fewer than k_min
  // distinct customers once the positions are mapped (a customer with two e-mails matches twice).
  bool withheld = false;
  std::vector<privacy::Uuid> members;  // this party's pseudonyms, customer-index order; none when
                                       // withheld
};

// Runs an activation as the requester, which must be one of `spec.owners` (spec.kind is
// kActivation) and whose own node `own` is (it becomes owner A of the request: the worker releases
// A's positions only). Then hands the released positions to `own` (ActivationMembers). The
// partner must have granted this party activation with output activation_list, without
// differential privacy; this party needs no grant from itself. Privacy: the members are this
// party's own pseudonyms; the partner receives no list and learns nothing of who matched.
// Errors: kInvalidArgument (a kind other than activation, an ε, a breakdown); kFailedPrecondition
// "requester_not_owner" when this party is not one of the owners or `own` is not this party's
// node; those of RunQuery and ActivationMembers.
StatusOr<ActivationResult> RunActivation(QuerySpec spec, const RequesterOptions& options,
                                         std::span<const StoredGrant> received_grants,
                                         NodeTransport& transport, OwnerNode& own);

// The members as `tessera audience export` writes an audience (header "uuid", one pseudonym a
// line, CRLF), so that `tessera match` takes the list.
std::string ActivationListCsv(std::span<const privacy::Uuid> members);

// The requester's own record of a query in its audit log: the cells it received and the ε the
// release spent, or why it was refused or failed. The query is kept as the hash of its kind,
// owners, identifier kind and expressions (QueryHash). Errors: the log's.
Status AuditQuery(store::Database& db, const PartyId& self, const QuerySpec& spec,
                  const StatusOr<QueryResult>& outcome, int64_t now);

// A transport for owners in this process (tests; the requester's own data), falling back to
// `remote` for everyone else.
class LocalTransport : public NodeTransport {
 public:
  LocalTransport(const PartyKey& requester_key, std::vector<OwnerNode*> locals,
                 NodeTransport* remote, std::function<int64_t()> clock = {});
  // A worker host in this process, for the steps "worker_start" and "worker_run" (tests).
  void AddWorkerHost(WorkerHostNode* host);
  StatusOr<NodeReply> Call(const CollaborationParty& to, std::string_view op,
                           const std::string& body) override;

 private:
  const PartyKey& key_;
  std::vector<OwnerNode*> locals_;
  std::vector<WorkerHostNode*> hosts_;
  NodeTransport* remote_;
  std::function<int64_t()> clock_;
};

}  // namespace tessera::collab
