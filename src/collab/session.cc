#include "tessera/collab/session.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "collab/refusal.h"
#include "tessera/audience/expression.h"
#include "tessera/audience/index.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/budget_ledger.h"
#include "tessera/collab/psi.h"
#include "tessera/collab/worker.h"
#include "tessera/collab/worker_host.h"
#include "tessera/privacy/order_token.h"

namespace tessera::collab {
namespace {

using Json = nlohmann::json;
using internal::Refusal;

constexpr size_t kMaxRequestBytes = 64 * 1024;
constexpr size_t kMaxExpressionBytes = 10000;
constexpr uint32_t kPointsPerChunk = 1u << 18;  // 8 MiB per round-1 message

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hex(std::span<const uint8_t> bytes) {
  return privacy::HexEncode(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

template <size_t N>
std::optional<std::array<uint8_t, N>> FromHex(std::string_view hex) {
  if (hex.size() != 2 * N) return std::nullopt;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  auto raw = privacy::HexDecode(hex);
  if (!raw.ok() || raw->size() != N) return std::nullopt;
  std::array<uint8_t, N> out{};
  std::copy(raw->begin(), raw->end(), out.begin());
  return out;
}

Status FieldError(std::string_view field, std::string_view why) {
  Status s = InvalidArgumentError("session request: {}: {}", field, why);
  s.SetDetail("field", std::string(field));
  return s;
}

std::string_view IdentifierName(MatchKind kind) {
  return kind == MatchKind::kPhone ? "phone" : "email";
}

bool IsAttributeName(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Purpose PurposeOf(const SessionRequest& r) {
  switch (r.kind) {
    case QueryKind::kOverlap:
      return Purpose::kOverlap;
    case QueryKind::kCounts:
      return Purpose::kAudienceCounts;
    case QueryKind::kActivation:
      return Purpose::kActivation;
  }
  return Purpose::kOverlap;
}

OutputKind OutputKindOf(const SessionRequest& r) {
  if (r.kind == QueryKind::kOverlap) return OutputKind::kOverlapSize;
  if (r.kind == QueryKind::kActivation) return OutputKind::kActivationList;
  return r.queries[0].breakdown.empty() && r.queries[1].breakdown.empty()
             ? OutputKind::kAudienceCount
             : OutputKind::kCellCounts;
}

// Frames one after the other in `bytes` (worker.h's framing), without copying the source.
// A node signature relayed in a round-2 head (the partner's, a worker host's).
StatusOr<NodeSignature> SignatureOfJson(const Json& p, std::string_view name) {
  if (!p.is_object()) return InvalidArgumentError("round2: {} is not an object", name);
  for (const char* k : {"from", "to", "nonce", "signature"}) {
    if (!p.contains(k) || !p[k].is_string()) {
      return InvalidArgumentError("round2: {}.{} missing", name, k);
    }
  }
  if (!p.contains("time") || !p["time"].is_number_integer()) {
    return InvalidArgumentError("round2: {}.time missing", name);
  }
  NodeSignature sig;
  sig.from = p["from"].get<std::string>();
  sig.to = p["to"].get<std::string>();
  sig.time = p["time"].get<int64_t>();
  sig.nonce = p["nonce"].get<std::string>();
  sig.signature = p["signature"].get<std::string>();
  return sig;
}

Status BindingMissing() {
  Status s = PermissionDeniedError(
      "round2: the worker runs at another host than the requester, and its host's signature of "
      "the worker's hello (worker_host) is missing");
  s.SetDetail("reason", "worker_binding_invalid");
  return s;
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::string_view QueryKindName(QueryKind kind) {
  switch (kind) {
    case QueryKind::kOverlap:
      return "overlap";
    case QueryKind::kCounts:
      return "counts";
    case QueryKind::kActivation:
      return "activation";
  }
  return "?";
}

std::string SessionRequestJson(const SessionRequest& r) {
  Json j;
  j["type"] = r.match ? kCountRequestType : kSessionRequestType;
  if (r.match) j["match"] = Hex(*r.match);
  if (r.keep) j["keep"] = true;
  j["session"] = Hex(r.session);
  j["kind"] = QueryKindName(r.kind);
  j["requester"] = r.requester;
  j["owners"] = Json::array({r.owners[0], r.owners[1]});
  j["worker_host"] = r.worker_host;
  j["identifier"] = IdentifierName(r.identifier);
  j["queries"] = Json::array();
  for (const OwnerQuery& q : r.queries) {
    j["queries"].push_back({{"expression", q.expression}, {"breakdown", q.breakdown}});
  }
  j["k_min"] = r.k_min;
  j["epsilon"] = r.epsilon_micro ? Json(FormatEpsilon(*r.epsilon_micro)) : Json(nullptr);
  j["result_key"] = Hex(r.result_key);
  j["issued_at"] = r.issued_at;
  auto canonical = CanonicalizeJson(j.dump());
  return canonical.ok() ? *canonical : j.dump();  // j holds integers and strings only
}

StatusOr<SessionRequest> ParseSessionRequest(std::string_view text) {
  if (text.size() > kMaxRequestBytes) return FieldError("(document)", "longer than 64 KiB");
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return FieldError("(document)", "not a JSON object");
  static const std::set<std::string> kFields = {
      "epsilon", "identifier", "issued_at",  "k_min",   "kind", "owners",
      "queries", "requester",  "result_key", "session", "type", "worker_host"};
  for (const auto& [k, v] : j.items()) {
    if (!kFields.contains(k) && k != "keep" && k != "match") return FieldError(k, "unknown field");
  }
  for (const std::string& k : kFields) {
    if (!j.contains(k)) return FieldError(k, "missing");
  }
  auto text_of = [&](const char* k) -> StatusOr<std::string> {
    if (!j[k].is_string()) return FieldError(k, "not a string");
    return j[k].get<std::string>();
  };
  SessionRequest r;
  TESSERA_ASSIGN_OR_RETURN(std::string type, text_of("type"));
  const bool count = type == kCountRequestType;
  if (type != kSessionRequestType && !count) return FieldError("type", "not a session request");
  if (j.contains("keep")) {
    if (j["keep"] != true) return FieldError("keep", "true or absent");
    r.keep = true;
  }
  if (count != j.contains("match")) {
    return FieldError("match", count ? "missing" : "only in a count on a kept match");
  }
  if (count) {
    TESSERA_ASSIGN_OR_RETURN(std::string match, text_of("match"));
    r.match = FromHex<16>(match);
    if (!r.match) return FieldError("match", "not 32 lowercase hex digits");
  }
  TESSERA_ASSIGN_OR_RETURN(std::string session, text_of("session"));
  auto sid = FromHex<16>(session);
  if (!sid) return FieldError("session", "not 32 lowercase hex digits");
  r.session = *sid;
  TESSERA_ASSIGN_OR_RETURN(std::string kind, text_of("kind"));
  if (kind == "overlap") {
    r.kind = QueryKind::kOverlap;
  } else if (kind == "counts") {
    r.kind = QueryKind::kCounts;
  } else if (kind == "activation") {
    r.kind = QueryKind::kActivation;
  } else {
    return FieldError("kind", "not overlap, counts or activation");
  }
  auto party = [&](const char* field, const Json& v) -> StatusOr<std::string> {
    if (!v.is_string()) return FieldError(field, "not a string");
    auto id = PartyId::Parse(v.get<std::string>());
    if (!id.ok()) return FieldError(field, "not a party id");
    return id->ToString();
  };
  TESSERA_ASSIGN_OR_RETURN(r.requester, party("requester", j["requester"]));
  TESSERA_ASSIGN_OR_RETURN(r.worker_host, party("worker_host", j["worker_host"]));
  if (!j["owners"].is_array() || j["owners"].size() != 2) {
    return FieldError("owners", "not a list of two parties");
  }
  for (size_t i = 0; i < 2; ++i) {
    TESSERA_ASSIGN_OR_RETURN(r.owners[i], party("owners", j["owners"][i]));
  }
  if (r.owners[0] == r.owners[1]) return FieldError("owners", "the same party twice");
  TESSERA_ASSIGN_OR_RETURN(std::string identifier, text_of("identifier"));
  if (identifier == "email") {
    r.identifier = MatchKind::kEmail;
  } else if (identifier == "phone") {
    r.identifier = MatchKind::kPhone;
  } else {
    return FieldError("identifier", "neither email nor phone");
  }
  if (!j["queries"].is_array() || j["queries"].size() != 2) {
    return FieldError("queries", "not a list of two queries");
  }
  size_t breakdowns = 0;
  for (size_t i = 0; i < 2; ++i) {
    const Json& q = j["queries"][i];
    if (!q.is_object() || q.size() != 2 || !q.contains("expression") || !q.contains("breakdown") ||
        !q["expression"].is_string() || !q["breakdown"].is_array()) {
      return FieldError("queries", "each query is {\"expression\": text, \"breakdown\": [names]}");
    }
    r.queries[i].expression = q["expression"].get<std::string>();
    if (r.queries[i].expression.size() > kMaxExpressionBytes) {
      return FieldError("queries", "an expression longer than 10,000 bytes");
    }
    for (const Json& b : q["breakdown"]) {
      if (!b.is_string() || !IsAttributeName(b.get<std::string>())) {
        return FieldError("queries", "a breakdown attribute is not a name of [a-z0-9_]");
      }
      const std::string name = b.get<std::string>();
      if (std::find(r.queries[i].breakdown.begin(), r.queries[i].breakdown.end(), name) !=
          r.queries[i].breakdown.end()) {
        return FieldError("queries", "a breakdown attribute named twice");
      }
      r.queries[i].breakdown.push_back(name);
      ++breakdowns;
    }
  }
  if (breakdowns > 2) return FieldError("queries", "more than two breakdown attributes in all");
  if (r.kind == QueryKind::kOverlap &&
      (breakdowns > 0 || !r.queries[0].expression.empty() || !r.queries[1].expression.empty())) {
    return FieldError("queries", "an overlap takes no expression and no breakdown");
  }
  if (r.kind == QueryKind::kActivation && breakdowns > 0) {
    return FieldError("queries", "an activation takes no breakdown");
  }
  if (r.keep && (r.kind == QueryKind::kActivation || count)) {
    return FieldError("keep", "only an overlap or counts keeps its match");
  }
  if (count && r.kind != QueryKind::kCounts) {
    return FieldError("kind", "a count on a kept match is of kind counts");
  }
  if (!j["k_min"].is_number_unsigned() || j["k_min"].get<uint64_t>() < 2 ||
      j["k_min"].get<uint64_t>() > 1'000'000'000) {
    return FieldError("k_min", "not a whole number from 2 to 10^9");
  }
  r.k_min = j["k_min"].get<uint64_t>();
  if (!j["epsilon"].is_null()) {
    TESSERA_ASSIGN_OR_RETURN(std::string eps, text_of("epsilon"));
    auto micro = ParseEpsilon(eps);
    if (!micro.ok()) return FieldError("epsilon", micro.status().message());
    r.epsilon_micro = *micro;
    if (r.kind == QueryKind::kActivation) {
      return FieldError("epsilon", "an activation takes no ε: a list cannot be noised");
    }
  }
  TESSERA_ASSIGN_OR_RETURN(std::string result_key, text_of("result_key"));
  auto rk = FromHex<32>(result_key);
  if (!rk) return FieldError("result_key", "not 64 lowercase hex digits");
  r.result_key = *rk;
  if (!j["issued_at"].is_number_integer()) return FieldError("issued_at", "not a whole number");
  r.issued_at = j["issued_at"].get<int64_t>();
  return r;
}

// --- The owner's side

namespace {

struct OwnerSession {
  SessionRequest request;
  std::string query_hash;
  int side = 0;  // 0: this owner is owner A of the request, 1: owner B
  std::optional<SessionScalar> scalar;
  Contribution contribution;
  std::vector<int64_t> reservations;
  std::string grant_id;  // the first grant applied (for the audit log), empty for our own query
  std::vector<std::string> grant_ids;  // every grant applied, checked again in round 2
  uint64_t epsilon_micro = 0;          // what this owner's budget pays (0 without its own DP)
  int64_t created = 0;
  // An activation this party asked itself as owner A, or a match kept for counts: the customer
  // index at each session position (ActivationMembers; the counts). Never set otherwise.
  std::optional<std::vector<uint32_t>> customers;
  std::string index_stamp;  // a kept match: the store state its customers are of
};

// A match kept for counts (SessionRequest::keep) after its round 2: this owner's side of it.
struct OwnerMatch {
  SessionRequest request;  // the query that made it
  int side = 0;
  std::vector<uint32_t> customers;  // by session position
  std::string index_stamp;          // the store state `customers` are of
  X25519PublicKey worker{};         // the kept worker's key, checked in round 2
  int64_t created = 0;
  std::set<PsiSessionId> counts;  // count ids seen (each count runs once)
};

// An activation's permutation after round 2, waiting for the released positions.
struct KeptActivation {
  std::vector<uint32_t> customers;  // by session position
  int64_t created = 0;
};

// What an owner contributes for each position of a session (`customers`: the customer index at
// each position): its audience bit and the codes of its breakdown attributes.
StatusOr<Contribution> BuildContribution(const PsiSessionId& session,
                                         std::span<const uint32_t> customers,
                                         const audience::AudienceIndex* index,
                                         const audience::Expression* expression,
                                         const std::vector<std::string>& breakdown) {
  const auto n = static_cast<uint32_t>(customers.size());
  Contribution c;
  c.session = session;
  c.in_audience.assign(n, true);
  if (index) {
    if (expression) {
      const audience::Bitmap selected = expression->Evaluate();
      for (uint32_t i = 0; i < n; ++i) c.in_audience[i] = selected.Contains(customers[i]);
    }
    for (const std::string& b : breakdown) {
      Dimension d;
      d.name = b;
      std::vector<uint16_t> code_of;  // by customer
      code_of.assign(index->info().customers, 0);
      const size_t values =
          b == "segment" ? index->segments().size() : index->attributes().at(b).size();
      if (values > kMaxDimensionLabels) {
        return InvalidArgumentError("'{}' has more than {} values to break counts down by", b,
                                    kMaxDimensionLabels);
      }
      auto mark = [&](const std::string& label, const audience::Bitmap& members) {
        d.labels.push_back(label);
        for (uint32_t customer : members.ToVector()) {
          if (customer < code_of.size()) code_of[customer] = static_cast<uint16_t>(d.labels.size());
        }
      };
      if (b == "segment") {
        for (size_t s = 0; s < index->segments().size(); ++s) {
          mark(index->segments()[s].key, index->segment(s));
        }
      } else {
        for (const auto& [label, members] : index->attributes().at(b)) mark(label, members);
      }
      d.codes.resize(n);
      for (uint32_t i = 0; i < n; ++i) {
        d.codes[i] = customers[i] < code_of.size() ? code_of[customers[i]] : 0;
      }
      c.dimensions.push_back(std::move(d));
    }
  }
  TESSERA_RETURN_IF_ERROR(ValidateContribution(c));
  return c;
}

// What the owner's grants allow for one request, once checked.
struct Allowance {
  std::vector<std::string> grant_ids;
  std::vector<std::pair<std::string, DpPolicy>> budgets;  // grant id, its DP policy
  std::optional<EffectivePolicy> policy;                  // none: the owner asks itself
};

// Reserves r's ε on every grant of `allowance` that asks for a budget, into *reservations, and
// sets *epsilon to what this owner's budget pays; releases them all if one cannot be reserved.
// Errors: the ledger's (kResourceExhausted with the reason "budget_exhausted").
Status Reserve(store::Database& db, const SessionRequest& r, const Allowance& allowance,
               std::vector<int64_t>* reservations, uint64_t* epsilon, int64_t now) {
  BudgetLedger ledger(db);
  for (const auto& [id, dp] : allowance.budgets) {
    auto reserved = ledger.Reserve(r.requester, id, *r.epsilon_micro,
                                   static_cast<uint64_t>(dp.budget_per_period_micro), now);
    if (!reserved.ok()) {
      for (int64_t done : *reservations) (void)ledger.Release(done, now);
      reservations->clear();
      Status s = reserved.status();
      if (s.code() == StatusCode::kResourceExhausted) s.SetDetail("reason", "budget_exhausted");
      return s;
    }
    reservations->push_back(reserved->id);
    *epsilon = *r.epsilon_micro;
  }
  return OkStatus();
}

}  // namespace

struct OwnerNode::Impl {
  OwnerNodeOptions options;
  PartyKey key;
  MatchTokenKey match_key;
  NonceCache nonces;
  std::mutex mu;
  std::mutex index_mu;                                             // around LoadOrBuildIndex
  std::map<PsiSessionId, std::shared_ptr<OwnerSession>> sessions;  // guarded by mu
  std::map<PsiSessionId, KeptActivation> activations;              // guarded by mu
  std::map<PsiSessionId, std::shared_ptr<OwnerMatch>> matches;     // guarded by mu

  Impl(OwnerNodeOptions o, PartyKey k, MatchTokenKey m)
      : options(std::move(o)), key(std::move(k)), match_key(std::move(m)) {}

  int64_t Now() const { return options.clock ? options.clock() : SystemNow(); }

  StatusOr<NodeReply> Reply(std::string_view op, const PartyId& to, std::string body) {
    TESSERA_ASSIGN_OR_RETURN(NodeSignature sig,
                             SignNodeMessage(key, std::string(op) + ".reply", to, body, Now()));
    return NodeReply{std::move(body), std::move(sig)};
  }

  void Audit(store::Database& db, const SessionRequest& r, std::string_view query_hash,
             std::string_view grant_id, uint64_t epsilon, const Status& outcome) {
    AuditRecord rec;
    rec.time = Now();
    rec.party = r.requester;
    rec.grant_id = std::string(grant_id);
    rec.purpose = std::string(PurposeName(PurposeOf(r)));
    rec.query_hash = std::string(query_hash);
    rec.epsilon_micro = outcome.ok() ? epsilon : 0;
    rec.attestation = AttestationMode::kSimulated;
    if (!outcome.ok()) {
      rec.outcome = outcome.code() == StatusCode::kFailedPrecondition ||
                            outcome.code() == StatusCode::kResourceExhausted ||
                            outcome.code() == StatusCode::kPermissionDenied
                        ? AuditOutcome::kRefused
                        : AuditOutcome::kFailed;
      rec.reason = outcome.TextDetail("reason").value_or(
          outcome.code() == StatusCode::kInvalidArgument ? "invalid_query" : "failed");
    }
    // The log is the owner's record of what was asked; a failure to write it fails nothing
    // that already happened, but it must not pass unnoticed.
    if (auto appended = AuditLog(db).Append(rec); !appended.ok()) {
      std::fprintf(stderr, "tessera: audit log: %s\n", appended.status().message().c_str());
    }
  }

  // Logs a request refused before it could be read as one (malformed, no such session): who
  // sent it, the hash of what came (its first 64 KiB), why.
  Status AuditUnread(const PartyId& from, std::string_view body, Status outcome) {
    AuditRecord rec;
    rec.time = Now();
    rec.party = from.ToString();
    auto hash = QueryHash(body.substr(0, std::min<size_t>(body.size(), kMaxRequestBytes)));
    if (!hash.ok()) return outcome;
    rec.query_hash = *hash;
    rec.attestation = AttestationMode::kSimulated;
    rec.outcome = outcome.code() == StatusCode::kFailedPrecondition ? AuditOutcome::kRefused
                                                                    : AuditOutcome::kFailed;
    rec.reason = outcome.TextDetail("reason").value_or("invalid_request");
    auto store = options.open_store();
    if (store.ok()) {
      if (auto appended = AuditLog((*store)->db()).Append(rec); !appended.ok()) {
        std::fprintf(stderr, "tessera: audit log: %s\n", appended.status().message().c_str());
      }
    }
    return outcome;
  }

  // Releases what expired sessions reserved: they never sent anything to a worker.
  void Sweep(store::Database& db) {
    std::vector<std::shared_ptr<OwnerSession>> expired;
    {
      std::lock_guard lock(mu);
      for (auto it = sessions.begin(); it != sessions.end();) {
        if (it->second->created + kSessionTimeoutSeconds < Now()) {
          expired.push_back(it->second);
          it = sessions.erase(it);
        } else {
          ++it;
        }
      }
      std::erase_if(activations, [&](const auto& kept) {
        return kept.second.created + kSessionTimeoutSeconds < Now();
      });
      std::erase_if(matches, [&](const auto& kept) {
        return kept.second->created + kMatchLifetimeSeconds < Now();
      });
    }
    BudgetLedger ledger(db);
    for (const auto& s : expired) {
      for (int64_t id : s->reservations) (void)ledger.Release(id, Now());
    }
  }

  // `extra_fields`: fields used beyond the expression's and breakdown's (none, or a parsed
  // expression's fields when the grants are checked a second time).
  StatusOr<Allowance> Check(store::Store& store, const SessionRequest& r,
                            const std::optional<audience::Expression>& expression,
                            const audience::AudienceIndex* index, int side,
                            const std::vector<std::string>& extra_fields = {});
  // The index and the parsed expression of this owner's query (none without `need_index`).
  // The index lives behind a pointer: the expression points into it, and Prepared moves.
  struct Prepared {
    std::unique_ptr<audience::AudienceIndex> index;
    std::optional<audience::Expression> expression;
  };
  StatusOr<Prepared> Prepare(store::Store& store, const SessionRequest& r, int side,
                             bool need_index);
  // Whether the grants a session relies on are still in force (revoked or expired since).
  Status StillInForce(store::Store& store, const OwnerSession& session);
  StatusOr<NodeReply> Count(const PartyId& from, std::string_view body);
  StatusOr<NodeReply> MatchEnd(const PartyId& from, std::string_view body);
  StatusOr<NodeReply> Round1(const PartyId& from, std::string_view body);
  StatusOr<NodeReply> Round2(const PartyId& from, std::string_view body);
  StatusOr<NodeReply> GrantRevoked(const PartyId& from, std::string_view body);
};

StatusOr<Allowance> OwnerNode::Impl::Check(store::Store& store, const SessionRequest& r,
                                           const std::optional<audience::Expression>& expression,
                                           const audience::AudienceIndex* index, int side,
                                           const std::vector<std::string>& extra_fields) {
  Allowance allowance;
  const std::string self = key.id().ToString();
  // An activation list names owner A's customers: it goes to owner A and to no one else, so A
  // must be the requester, whoever asks and whatever any grant says.
  if (r.kind == QueryKind::kActivation && r.requester != r.owners[0]) {
    return Refusal("requester_not_owner",
                   "an activation list goes only to the owner of those customers: the requester "
                   "must be the owner whose customers are listed (owner A)");
  }
  // The other owner must be a data owner this node knows: a party a requester made up (and
  // holds the key of) would otherwise match this owner's customers against anything it hashes.
  const std::string& other = r.owners[static_cast<size_t>(1 - side)];
  auto other_id = PartyId::Parse(other);
  const CollaborationParty* partner =
      other_id.ok() ? options.collaboration.Find(*other_id) : nullptr;
  if (partner == nullptr || !partner->HasRole(PartyRole::kDataOwner)) {
    return Refusal("unknown_owner",
                   "the other owner of the request is no data_owner of this node's "
                   "collaboration file");
  }
  if (r.requester == self) return allowance;  // an owner may ask about its own data
  // A worker elsewhere than at the requester runs at a worker host of the collaboration file,
  // which signs its hello for this session (checked in round 2, worker_host.h).
  if (r.worker_host != r.requester) {
    auto host_id = PartyId::Parse(r.worker_host);
    const CollaborationParty* host = host_id.ok() ? options.collaboration.Find(*host_id) : nullptr;
    if (host == nullptr || !host->HasRole(PartyRole::kWorkerHost)) {
      return Refusal("worker_host_unknown",
                     "the request's worker host is no worker_host of this node's collaboration "
                     "file");
    }
  }
  TESSERA_ASSIGN_OR_RETURN(std::vector<StoredGrant> all, GrantStore(store.db()).List());
  const Purpose purpose = PurposeOf(r);
  std::vector<StoredGrant> candidates, in_force;
  for (StoredGrant& g : all) {
    if (g.direction != GrantDirection::kIssued || g.grant.spec.grantee.ToString() != r.requester ||
        g.grant.spec.purpose != purpose) {
      continue;
    }
    const bool live =
        !g.revocation && g.grant.spec.not_before <= Now() && Now() < g.grant.spec.expires;
    (live ? in_force : candidates).push_back(g);
  }
  if (in_force.empty() && candidates.empty()) {
    return Refusal("no_grant", fmt::format("no grant of this party allows the requester a {}",
                                           PurposeName(purpose)));
  }
  // The grants in force combine (the strictest wins); with none, the first's reason refuses.
  TESSERA_ASSIGN_OR_RETURN(PartyId requester, PartyId::Parse(r.requester));
  auto policy = CombineGrants(in_force.empty() ? candidates : in_force,
                              PolicyRequest{purpose, requester, Now()});
  if (!policy.ok()) return policy.status();
  const EffectivePolicy& p = *policy;
  auto has = [](const auto& set, const auto& v) {
    return std::find(set.begin(), set.end(), v) != set.end();
  };
  TESSERA_ASSIGN_OR_RETURN(PartyId worker_host, PartyId::Parse(r.worker_host));
  if (!has(p.worker_hosts, worker_host)) {
    return Refusal("worker_host_not_allowed", "the grants do not allow the worker to run there");
  }
  if (!has(p.recipients, requester)) {
    return Refusal("recipient_not_allowed", "the grants do not allow results to the requester");
  }
  if (!has(p.attestation_modes, AttestationMode::kSimulated)) {
    return Refusal("attestation_not_allowed",
                   "the grants accept only attested enclaves, and this worker is simulated");
  }
  if (!has(p.output_kinds, OutputKindOf(r))) {
    return Refusal("output_kind_not_allowed", fmt::format("the grants do not allow {} as output",
                                                          OutputKindName(OutputKindOf(r))));
  }
  if (r.k_min < static_cast<uint64_t>(p.k_min)) {
    return Refusal(
        "k_min_too_small",
        fmt::format("the minimum cell size {} is below the grants' {}", r.k_min, p.k_min));
  }
  const OwnerQuery& q = r.queries[static_cast<size_t>(side)];
  std::vector<std::string> used = q.breakdown;
  if (expression) used.insert(used.end(), expression->fields().begin(), expression->fields().end());
  used.insert(used.end(), extra_fields.begin(), extra_fields.end());
  for (const std::string& field : used) {
    if (!has(p.allowed_fields, field)) {
      return Refusal("field_not_allowed",
                     fmt::format("the grants do not allow the field '{}'", field));
    }
  }
  const size_t breakdowns = r.queries[0].breakdown.size() + r.queries[1].breakdown.size();
  if (p.predicates.max_breakdown_attributes &&
      static_cast<int64_t>(breakdowns) > *p.predicates.max_breakdown_attributes) {
    return Refusal("breakdown_not_allowed",
                   fmt::format("the grants allow at most {} breakdown attributes",
                               *p.predicates.max_breakdown_attributes));
  }
  if (expression && p.predicates.max_category_depth &&
      expression->category_depth() > *p.predicates.max_category_depth) {
    return Refusal("category_too_deep", fmt::format("the grants allow categories {} levels deep",
                                                    *p.predicates.max_category_depth));
  }
  (void)index;
  for (const StoredGrant& g : in_force) {
    if (!has(p.grant_ids, g.grant.id) || !g.grant.spec.differential_privacy) continue;
    // A list cannot be noised, and a budget would be spent on nothing it protects: a grant that
    // asks for differential privacy allows no activation.
    if (r.kind == QueryKind::kActivation) {
      return Refusal("activation_under_dp",
                     "the grants ask for differential privacy, and an activation list cannot be "
                     "noised: no activation under such a grant");
    }
    const DpPolicy& dp = *g.grant.spec.differential_privacy;
    if (!r.epsilon_micro) {
      return Refusal("epsilon_required", "the grants ask for differential privacy: give an ε");
    }
    if (*r.epsilon_micro > static_cast<uint64_t>(dp.epsilon_per_query_micro)) {
      return Refusal("epsilon_too_large",
                     fmt::format("the grants allow at most ε = {} per query",
                                 FormatEpsilon(static_cast<uint64_t>(dp.epsilon_per_query_micro))));
    }
    allowance.budgets.emplace_back(g.grant.id, dp);
  }
  allowance.grant_ids = p.grant_ids;
  allowance.policy = p;
  return allowance;
}

StatusOr<OwnerNode::Impl::Prepared> OwnerNode::Impl::Prepare(store::Store& store,
                                                             const SessionRequest& r, int side,
                                                             bool need_index) {
  Prepared out;
  if (!need_index) return out;
  const OwnerQuery& q = r.queries[static_cast<size_t>(side)];
  bool rebuilt = false;
  {
    // One session at a time reads or (re)builds the index file: concurrent builds would write
    // the same file.
    std::lock_guard index_lock(index_mu);
    TESSERA_ASSIGN_OR_RETURN(audience::AudienceIndex index,
                             audience::LoadOrBuildIndex(store, options.index_path, &rebuilt));
    out.index = std::make_unique<audience::AudienceIndex>(std::move(index));
  }
  if (!q.expression.empty()) {
    auto parsed = audience::Expression::Parse(q.expression, *out.index);
    if (!parsed.ok()) {
      // A partner sees no suggestion: they would list this owner's values and fields.
      if (r.requester == key.id().ToString()) {
        return parsed.status().WithContext("this owner's expression");
      }
      const std::string& m = parsed.status().message();
      const std::string where = m.starts_with("column ") ? m.substr(0, m.find(':')) : "";
      return InvalidArgumentError(
          "this owner's expression does not parse, or names a field, value or category the "
          "grants do not let it show{}",
          where.empty() ? "" : " (" + where + ")");
    }
    out.expression = std::move(*parsed);
  }
  for (const std::string& b : q.breakdown) {
    if (b != "segment" && !out.index->attributes().contains(b)) {
      return InvalidArgumentError("this owner has no attribute '{}' to break counts down by", b);
    }
  }
  return out;
}

StatusOr<NodeReply> OwnerNode::Impl::Round1(const PartyId& from, std::string_view body) {
  auto parsed = ParseSessionRequest(body);
  if (!parsed.ok()) return AuditUnread(from, body, parsed.status());
  SessionRequest r = std::move(*parsed);
  if (r.requester != from.ToString()) {
    return AuditUnread(from, body,
                       PermissionDeniedError("round1: the request names another "
                                             "requester than its sender"));
  }
  const std::string self = key.id().ToString();
  const int side = r.owners[0] == self ? 0 : r.owners[1] == self ? 1 : -1;
  TESSERA_ASSIGN_OR_RETURN(auto store, options.open_store());
  Sweep(store->db());
  TESSERA_ASSIGN_OR_RETURN(std::string query_hash, QueryHash(SessionRequestJson(r)));
  // What cannot even be considered is refused and logged before anything else.
  Status early;
  if (side < 0) {
    early = Refusal("not_an_owner", "this party is not an owner of the request");
  } else if (r.issued_at < Now() - kNodeClockSkewSeconds ||
             r.issued_at > Now() + kNodeClockSkewSeconds) {
    early = Refusal("stale_request", "the request was issued too long ago or in the future");
  } else {
    std::lock_guard lock(mu);
    size_t open = 0;
    for (const auto& [id, kept] : sessions) open += kept->request.requester == r.requester;
    if (sessions.contains(r.session) || activations.contains(r.session)) {
      early = InvalidArgumentError("round1: this session id was used before");
    } else if (open >= kMaxOpenSessionsPerRequester) {
      early = Refusal("too_many_sessions",
                      fmt::format("the requester has {} sessions open here already", open));
    } else if (r.match) {
      early = InvalidArgumentError("round1: a count on a kept match goes to the step count");
    } else if (r.keep) {
      size_t pending = 0;  // kept matches between their rounds
      for (const auto& [id, o] : sessions) {
        pending += o->request.keep && o->request.requester == r.requester;
      }
      if (pending >= kMaxKeptMatchesPerRequester) {
        early =
            Refusal("too_many_matches",
                    fmt::format("the requester is making {} kept matches here already", pending));
      } else {
        // A requester's new match ends its oldest beyond the limit: only the requester could
        // count on them, and one that crashed cannot end its own.
        std::vector<std::pair<int64_t, PsiSessionId>> mine;
        for (const auto& [id, m] : matches) {
          if (m->request.requester == r.requester) mine.emplace_back(m->created, id);
        }
        std::sort(mine.begin(), mine.end());
        for (size_t i = 0;
             i < mine.size() && mine.size() - i + pending >= kMaxKeptMatchesPerRequester; ++i) {
          matches.erase(mine[i].second);
        }
      }
    }
  }
  if (!early.ok()) {
    Audit(store->db(), r, query_hash, "", 0, early);
    return early;
  }
  const OwnerQuery& q = r.queries[static_cast<size_t>(side)];

  auto session = std::make_shared<OwnerSession>();
  std::string grant_id, reply_body;
  // Everything that may refuse runs before anything is reserved or computed.
  auto decide = [&]() -> Status {
    // The grants first, as far as they can be judged without the index: a party without a
    // grant makes this node load nothing and learns nothing of its fields.
    TESSERA_RETURN_IF_ERROR(Check(*store, r, std::nullopt, nullptr, side).status());
    TESSERA_ASSIGN_OR_RETURN(Prepared prepared,
                             Prepare(*store, r, side, r.kind != QueryKind::kOverlap || r.keep));
    const std::unique_ptr<audience::AudienceIndex>& index = prepared.index;
    std::optional<audience::Expression>& expression = prepared.expression;
    TESSERA_ASSIGN_OR_RETURN(Allowance allowance,
                             Check(*store, r, expression, index ? &*index : nullptr, side));
    if (!allowance.grant_ids.empty()) grant_id = allowance.grant_ids.front();
    session->grant_ids = allowance.grant_ids;
    // Reserve ε on every grant that asks for a budget; refuse before computing if one cannot.
    TESSERA_RETURN_IF_ERROR(
        Reserve(store->db(), r, allowance, &session->reservations, &session->epsilon_micro, Now()));

    // This owner's tokens of the identifier kind.
    const auto kind = r.identifier == MatchKind::kPhone ? privacy::IdentifierKind::kPhone
                                                        : privacy::IdentifierKind::kEmail;
    std::vector<std::pair<std::array<uint8_t, 32>, uint32_t>> tokens;
    TESSERA_RETURN_IF_ERROR(store->ScanMatchTokens(
        [&](uint32_t customer, privacy::IdentifierKind k, std::span<const uint8_t, 32> token) {
          if (k != kind) return;
          std::array<uint8_t, 32> t{};
          std::copy(token.begin(), token.end(), t.begin());
          tokens.emplace_back(t, customer);
        }));
    // Each value once (the lowest customer keeps it), then each customer once (its lowest
    // value): one position per person, so that a person moves a count by one at most, as the
    // noise assumes.
    std::sort(tokens.begin(), tokens.end());
    tokens.erase(std::unique(tokens.begin(), tokens.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; }),
                 tokens.end());
    std::stable_sort(tokens.begin(), tokens.end(),
                     [](const auto& a, const auto& b) { return a.second < b.second; });
    tokens.erase(std::unique(tokens.begin(), tokens.end(),
                             [](const auto& a, const auto& b) { return a.second == b.second; }),
                 tokens.end());
    if (tokens.size() > kMaxContributionPositions) {
      return InvalidArgumentError("more than {} identifiers of this kind",
                                  kMaxContributionPositions);
    }
    const uint32_t n = static_cast<uint32_t>(tokens.size());
    TESSERA_ASSIGN_OR_RETURN(std::vector<uint32_t> permutation, ShuffleForSession(n));

    // Which customer each position is, and what this owner contributes for it.
    std::vector<uint32_t> customers(n);
    for (uint32_t i = 0; i < n; ++i) customers[i] = tokens[permutation[i]].second;
    TESSERA_ASSIGN_OR_RETURN(session->contribution,
                             BuildContribution(r.session, customers, index ? &*index : nullptr,
                                               expression ? &*expression : nullptr, q.breakdown));
    // Only the requester-owner of an activation (Check refused an activation for anyone but owner
    // A), and an owner of a match kept for counts, keep which customer each position is.
    if ((r.kind == QueryKind::kActivation && r.requester == self && side == 0) || r.keep) {
      session->customers = std::move(customers);
      if (r.keep) session->index_stamp = index->info().stamp;
    }

    // Round 1: the tokens in session order, blinded with a fresh scalar.
    TESSERA_ASSIGN_OR_RETURN(SessionScalar scalar, SessionScalar::Random());
    TESSERA_ASSIGN_OR_RETURN(
        std::vector<Point> points,
        DecodeAndBlind(
            n, [&](size_t i) { return std::span<const uint8_t>(tokens[permutation[i]].first); },
            scalar));
    tokens.clear();
    tokens.shrink_to_fit();
    session->scalar.emplace(std::move(scalar));
    // The reply names the request this owner accepted (its hash), so that its partner serves
    // round 2 only for the very request it accepted itself.
    std::string out = Frame(query_hash);
    out.reserve(static_cast<size_t>(n) * 32 + (n / kPointsPerChunk + 1) * 40 + 100);
    uint32_t sequence = 0;
    for (size_t at = 0; at < points.size() || sequence == 0; at += kPointsPerChunk) {
      PsiMessage m;
      m.type = PsiMessageType::kBlindedTokens;
      m.session = r.session;
      m.sequence = sequence++;
      const size_t end = std::min(points.size(), at + kPointsPerChunk);
      m.last = end == points.size();
      m.points.assign(points.begin() + static_cast<ptrdiff_t>(at),
                      points.begin() + static_cast<ptrdiff_t>(end));
      TESSERA_ASSIGN_OR_RETURN(std::string encoded, EncodePsiMessage(m));
      out += Frame(encoded);
    }
    session->request = r;
    session->query_hash = query_hash;
    session->side = side;
    session->grant_id = grant_id;
    session->created = Now();
    {
      std::lock_guard lock(mu);
      if (!sessions.emplace(r.session, session).second) {
        return InvalidArgumentError("round1: this session id was used before");
      }
    }
    reply_body = std::move(out);
    return OkStatus();
  };
  reply_body.clear();
  Status decided = decide();
  if (!decided.ok()) {
    BudgetLedger ledger(store->db());
    for (int64_t id : session->reservations) (void)ledger.Release(id, Now());
  }
  Audit(store->db(), r, query_hash, grant_id, 0, decided);
  if (!decided.ok()) return decided;
  return Reply("round1", from, std::move(reply_body));
}

Status OwnerNode::Impl::StillInForce(store::Store& store, const OwnerSession& session) {
  if (session.grant_ids.empty()) return OkStatus();  // the owner asked itself
  TESSERA_ASSIGN_OR_RETURN(std::vector<StoredGrant> all, GrantStore(store.db()).List());
  for (const StoredGrant& g : all) {
    if (std::find(session.grant_ids.begin(), session.grant_ids.end(), g.grant.id) ==
        session.grant_ids.end()) {
      continue;
    }
    if (g.revocation) return Refusal("revoked", "a grant was revoked since round 1");
    if (Now() >= g.grant.spec.expires) return Refusal("expired", "a grant expired since round 1");
  }
  return OkStatus();
}

StatusOr<NodeReply> OwnerNode::Impl::Round2(const PartyId& from, std::string_view body) {
  FrameCursor frames(body);
  auto head_frame = frames.Next();
  if (!head_frame.ok()) return AuditUnread(from, body, head_frame.status());
  if (!*head_frame) return AuditUnread(from, body, InvalidArgumentError("round2: empty request"));
  Json head = Json::parse(**head_frame, nullptr, false);
  if (head.is_discarded() || !head.is_object() || !head.contains("session") ||
      !head["session"].is_string() || !head.contains("worker") || !head["worker"].is_string() ||
      !head.contains("partner") || !head["partner"].is_object()) {
    return AuditUnread(
        from, body,
        InvalidArgumentError("round2: the head is not {{\"session\", \"worker\", \"partner\"}}"));
  }
  auto sid = FromHex<16>(head["session"].get<std::string>());
  if (!sid) {
    return AuditUnread(from, body,
                       InvalidArgumentError("round2: session: not 32 lowercase hex digits"));
  }
  std::shared_ptr<OwnerSession> session;
  {
    std::lock_guard lock(mu);
    auto it = sessions.find(*sid);
    // Only the session's requester may end it; a session's round 2 runs once, in time.
    if (it != sessions.end() && it->second->request.requester != from.ToString()) {
      return AuditUnread(
          from, body,
          PermissionDeniedError("round2: sent by another party than the session's requester"));
    }
    if (it != sessions.end()) {
      if (it->second->created + kSessionTimeoutSeconds >= Now()) session = it->second;
      sessions.erase(it);
    }
  }
  if (!session) {
    return AuditUnread(
        from, body,
        Refusal("unknown_session",
                "round2: no such session here (expired, run already, or this node restarted): "
                "start the query again"));
  }
  const SessionRequest& r = session->request;
  TESSERA_ASSIGN_OR_RETURN(auto store, options.open_store());
  BudgetLedger ledger(store->db());
  auto fail = [&](Status s) {
    for (int64_t id : session->reservations) (void)ledger.Release(id, Now());
    Audit(store->db(), r, session->query_hash, session->grant_id, 0, s);
    return s;
  };
  if (Status live = StillInForce(*store, *session); !live.ok()) return fail(live);
  auto requester = PartyId::Parse(r.requester);
  if (!requester.ok()) return fail(requester.status());
  auto hello = ParseWorkerHello(head["worker"].get<std::string>());
  if (!hello.ok()) return fail(hello.status().WithContext("round2: worker"));
  if (hello->mode != AttestationMode::kSimulated) {
    return fail(Refusal("attestation_not_allowed",
                        "round2: the worker's attestation is not one "
                        "this node can check"));
  }
  // A worker at another host than the requester: only the one its host started for this
  // session, as the host signed (worker_host.h).
  const bool hosted = r.worker_host != r.requester;
  if (hosted != head.contains("worker_host")) {
    return fail(hosted ? BindingMissing()
                       : InvalidArgumentError("round2: worker_host given for a worker at the "
                                              "requester"));
  }
  if (hosted) {
    const Json& w = head["worker_host"];
    if (!w.is_object() || !w.contains("binding") || !w["binding"].is_string() ||
        !w.contains("signature")) {
      return fail(BindingMissing());
    }
    auto host_sig = SignatureOfJson(w["signature"], "worker_host.signature");
    if (!host_sig.ok()) return fail(host_sig.status());
    if (Status b = CheckWorkerBinding(r, *host_sig, w["binding"].get<std::string>(),
                                      head["worker"].get<std::string>());
        !b.ok()) {
      return fail(b.WithContext("round2"));
    }
  }
  auto partner_sig_or = SignatureOfJson(head["partner"], "partner");
  if (!partner_sig_or.ok()) return fail(partner_sig_or.status());
  const NodeSignature& partner_sig = *partner_sig_or;
  auto partner_id = PartyId::Parse(r.owners[static_cast<size_t>(1 - session->side)]);
  if (!partner_id.ok()) return fail(partner_id.status());
  const PartyId& partner = *partner_id;
  const std::string_view partner_body = frames.rest();
  if (Status v = VerifyNodeMessage(partner_sig, "round1.reply", partner, *requester, partner_body);
      !v.ok()) {
    return fail(v.WithContext("round2: the partner's values"));
  }
  // The partner accepted the very request this owner accepted: a requester cannot show each
  // owner another one (each its own breakdown, say) and join them at the worker.
  FrameCursor partner_frames(partner_body);
  auto accepted = partner_frames.Next();
  if (!accepted.ok() || !*accepted || **accepted != session->query_hash) {
    return fail(Refusal("request_mismatch",
                        "round2: the partner accepted another request than this owner"));
  }

  // The partner's values, double-blinded with r·k, in its session order.
  const SessionScalar both = session->scalar->WithMatchKey(match_key);
  SealedStreamWriter* writer = nullptr;
  auto created = SealedStreamWriter::Create(hello->public_key);
  if (!created.ok()) return fail(created.status());
  writer = &*created;
  std::string out = writer->header();
  JoinJob job;
  job.session = r.session;
  job.kind = r.kind == QueryKind::kOverlap  ? JoinJob::Kind::kOverlap
             : r.kind == QueryKind::kCounts ? JoinJob::Kind::kCounts
                                            : JoinJob::Kind::kActivation;
  job.k_min = r.k_min;
  job.epsilon_micro = r.epsilon_micro;
  job.result_key = r.result_key;
  job.keep = r.keep;
  auto sealed = writer->Seal(JoinJobJson(job), false);
  if (!sealed.ok()) return fail(sealed.status());
  out += *sealed;
  ReplayGuard guard;
  const std::string partner_text = partner.ToString();
  bool last = false;
  while (true) {
    auto frame = partner_frames.Next();
    if (!frame.ok()) return fail(frame.status().WithContext("round2: the partner's values"));
    if (!*frame) break;
    auto m = ParsePsiMessage(Bytes(**frame), {}, 0);
    if (!m.ok()) return fail(m.status().WithContext("round2: the partner's values"));
    if (m->type != PsiMessageType::kBlindedTokens || m->session != r.session) {
      return fail(InvalidArgumentError("round2: the partner's values are not of this session"));
    }
    if (Status g = guard.Accept(partner_text, *m); !g.ok()) return fail(g);
    auto blinded = BlindBatch(std::move(m->points), both);
    if (!blinded.ok()) return fail(blinded.status());
    m->points = std::move(*blinded);
    m->type = PsiMessageType::kDoubleBlinded;
    last = m->last;
    auto encoded = EncodePsiMessage(*m);
    if (!encoded.ok()) return fail(encoded.status());
    auto chunk = writer->Seal(*encoded, false);
    if (!chunk.ok()) return fail(chunk.status());
    out += *chunk;
  }
  if (!last) {
    return fail(InvalidArgumentError("round2: the partner's values end before their last chunk"));
  }
  auto contribution = EncodeContribution(session->contribution);
  if (!contribution.ok()) return fail(contribution.status());
  auto final_chunk = writer->Seal(*contribution, true);
  if (!final_chunk.ok()) return fail(final_chunk.status());
  out += *final_chunk;
  // From here the worker can release a result: the ε is spent.
  for (int64_t id : session->reservations) {
    if (Status c = ledger.Commit(id); !c.ok()) return fail(c);
  }
  Audit(store->db(), r, session->query_hash, session->grant_id, session->epsilon_micro, OkStatus());
  if (r.keep) {
    auto kept = std::make_shared<OwnerMatch>();
    kept->request = r;
    kept->side = session->side;
    kept->customers = std::move(*session->customers);
    kept->index_stamp = session->index_stamp;
    kept->worker = hello->public_key;
    kept->created = Now();
    std::lock_guard lock(mu);
    matches[r.session] = std::move(kept);
  } else if (session->customers) {
    std::lock_guard lock(mu);
    activations[r.session] = KeptActivation{std::move(*session->customers), Now()};
  }
  return Reply("round2", from, std::move(out));
}

StatusOr<NodeReply> OwnerNode::Impl::Count(const PartyId& from, std::string_view body) {
  auto parsed = ParseSessionRequest(body);
  if (!parsed.ok()) return AuditUnread(from, body, parsed.status());
  SessionRequest r = std::move(*parsed);
  if (!r.match) {
    return AuditUnread(from, body, InvalidArgumentError("count: not a count on a kept match"));
  }
  if (r.requester != from.ToString()) {
    return AuditUnread(
        from, body,
        PermissionDeniedError("count: the request names another requester than its sender"));
  }
  TESSERA_ASSIGN_OR_RETURN(auto store, options.open_store());
  Sweep(store->db());
  TESSERA_ASSIGN_OR_RETURN(std::string query_hash, QueryHash(SessionRequestJson(r)));
  std::shared_ptr<OwnerMatch> match;
  Status early;
  {
    std::lock_guard lock(mu);
    auto it = matches.find(*r.match);
    if (it != matches.end() && it->second->request.requester == r.requester) match = it->second;
  }
  if (!match) {
    early = Refusal("unknown_match",
                    "count: no such match kept here (ended, older than its lifetime, or this node "
                    "restarted): match again");
  } else if (r.owners != match->request.owners || r.identifier != match->request.identifier ||
             r.worker_host != match->request.worker_host) {
    early = InvalidArgumentError(
        "count: its owners, identifier or worker host are not those of the match");
  } else if (r.issued_at < Now() - kNodeClockSkewSeconds ||
             r.issued_at > Now() + kNodeClockSkewSeconds) {
    early = Refusal("stale_request", "the request was issued too long ago or in the future");
  } else {
    std::lock_guard lock(mu);
    if (!match->counts.insert(r.session).second) {
      early = InvalidArgumentError("count: this count id was used before");
    }
  }
  if (!early.ok()) {
    Audit(store->db(), r, query_hash, "", 0, early);
    return early;
  }
  const int side = match->side;
  const OwnerQuery& q = r.queries[static_cast<size_t>(side)];
  std::vector<int64_t> reservations;
  std::string grant_id, reply_body;
  uint64_t epsilon = 0;
  // As a round 1 judges a request, then as a round 2 seals: the worker holds the match already.
  auto decide = [&]() -> Status {
    TESSERA_RETURN_IF_ERROR(Check(*store, r, std::nullopt, nullptr, side).status());
    TESSERA_ASSIGN_OR_RETURN(Prepared prepared, Prepare(*store, r, side, true));
    if (prepared.index->info().stamp != match->index_stamp) {
      return Refusal("match_stale",
                     "this owner's data changed since the match, and its positions would name "
                     "other customers: match again");
    }
    TESSERA_ASSIGN_OR_RETURN(Allowance allowance,
                             Check(*store, r, prepared.expression, &*prepared.index, side));
    if (!allowance.grant_ids.empty()) grant_id = allowance.grant_ids.front();
    TESSERA_RETURN_IF_ERROR(Reserve(store->db(), r, allowance, &reservations, &epsilon, Now()));
    TESSERA_ASSIGN_OR_RETURN(
        Contribution c,
        BuildContribution(*r.match, match->customers, &*prepared.index,
                          prepared.expression ? &*prepared.expression : nullptr, q.breakdown));
    TESSERA_ASSIGN_OR_RETURN(SealedStreamWriter writer, SealedStreamWriter::Create(match->worker));
    std::string out = writer.header();
    JoinJob job;
    job.session = *r.match;
    job.kind = JoinJob::Kind::kCounts;
    job.k_min = r.k_min;
    job.epsilon_micro = r.epsilon_micro;
    job.result_key = r.result_key;
    job.count = r.session;
    job.request = query_hash;
    TESSERA_ASSIGN_OR_RETURN(std::string sealed_job, writer.Seal(JoinJobJson(job), false));
    out += sealed_job;
    TESSERA_ASSIGN_OR_RETURN(std::string encoded, EncodeContribution(c));
    TESSERA_ASSIGN_OR_RETURN(std::string sealed, writer.Seal(encoded, true));
    out += sealed;
    // From here the worker can release a result: the ε is spent.
    BudgetLedger ledger(store->db());
    for (int64_t id : reservations) TESSERA_RETURN_IF_ERROR(ledger.Commit(id));
    reservations.clear();
    reply_body = std::move(out);
    return OkStatus();
  };
  Status decided = decide();
  if (!decided.ok()) {
    BudgetLedger ledger(store->db());
    for (int64_t id : reservations) (void)ledger.Release(id, Now());
  }
  Audit(store->db(), r, query_hash, grant_id, decided.ok() ? epsilon : 0, decided);
  if (!decided.ok()) return decided;
  return Reply("count", from, std::move(reply_body));
}

StatusOr<NodeReply> OwnerNode::Impl::MatchEnd(const PartyId& from, std::string_view body) {
  const Json j = Json::parse(body, nullptr, false);
  std::optional<PsiSessionId> id;
  if (j.is_object() && j.size() == 1 && j.contains("match") && j["match"].is_string()) {
    id = FromHex<16>(j["match"].get<std::string>());
  }
  if (!id) return InvalidArgumentError("match_end: the body is not {{\"match\": \"<32 hex>\"}}");
  bool ended = false;
  {
    std::lock_guard lock(mu);
    auto it = matches.find(*id);
    if (it != matches.end() && it->second->request.requester == from.ToString()) {
      matches.erase(it);
      ended = true;
    }
  }
  return Reply("match_end", from, Json{{"ended", ended}}.dump());
}

StatusOr<std::unique_ptr<OwnerNode>> OwnerNode::Create(OwnerNodeOptions options) {
  if (!options.owner_key) return InvalidArgumentError("an owner node needs the owner key");
  if (!options.open_store) return InvalidArgumentError("an owner node needs its store");
  TESSERA_ASSIGN_OR_RETURN(PartyKey key, PartyKey::Derive(*options.owner_key));
  TESSERA_ASSIGN_OR_RETURN(MatchTokenKey match_key, MatchTokenKey::Create(*options.owner_key));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(key), std::move(match_key));
  impl->nonces.RefuseSignedBefore(impl->Now());
  return std::unique_ptr<OwnerNode>(new OwnerNode(std::move(impl)));
}

OwnerNode::OwnerNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OwnerNode::~OwnerNode() = default;
const PartyId& OwnerNode::id() const { return impl_->key.id(); }

StatusOr<std::vector<privacy::Uuid>> OwnerNode::ActivationMembers(
    const PsiSessionId& session, std::span<const uint32_t> positions) {
  KeptActivation kept;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->activations.find(session);
    if (it == impl_->activations.end() ||
        it->second.created + kSessionTimeoutSeconds < impl_->Now()) {
      if (it != impl_->activations.end()) impl_->activations.erase(it);
      return NotFoundError(
          "no activation of this session waits here (taken already, timed out, or this node "
          "restarted): run the activation again");
    }
    kept = std::move(it->second);
    impl_->activations.erase(it);
  }
  std::vector<uint32_t> customers;
  customers.reserve(positions.size());
  for (uint32_t p : positions) {
    if (p >= kept.customers.size()) {
      return InvalidArgumentError("position {} is outside the session's {} positions", p,
                                  kept.customers.size());
    }
    customers.push_back(kept.customers[p]);
  }
  kept = {};
  // A customer with two identifiers of the kind can match at two positions: listed once.
  std::sort(customers.begin(), customers.end());
  customers.erase(std::unique(customers.begin(), customers.end()), customers.end());
  TESSERA_ASSIGN_OR_RETURN(auto store, impl_->options.open_store());
  TESSERA_ASSIGN_OR_RETURN(std::vector<privacy::Uuid> pseudonyms, store->CustomerPseudonyms());
  std::vector<privacy::Uuid> members;
  members.reserve(customers.size());
  for (uint32_t c : customers) {
    if (c >= pseudonyms.size()) {
      return DataLossError("the store no longer holds a customer of the session");
    }
    members.push_back(pseudonyms[c]);
  }
  return members;
}

std::string RevocationNoticeJson(const RevocationNotice& notice) {
  return Json{
      {"grant_id", notice.grant_id}, {"reason", notice.reason}, {"type", kRevocationNoticeType}}
      .dump();
}

StatusOr<RevocationNotice> ParseRevocationNotice(std::string_view json) {
  const Json j = Json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.size() != 3 || !j.contains("type") ||
      j["type"] != kRevocationNoticeType || !j.contains("grant_id") || !j["grant_id"].is_string() ||
      !j.contains("reason") || !j["reason"].is_string()) {
    return InvalidArgumentError(
        "grant_revoked: the body is not {{\"grant_id\", \"reason\", \"type\": \"{}\"}}",
        kRevocationNoticeType);
  }
  return RevocationNotice{j["grant_id"].get<std::string>(), j["reason"].get<std::string>()};
}

StatusOr<bool> NotifyRevocation(store::Database& db, std::string_view grant_id,
                                const Collaboration& collaboration, NodeTransport& transport) {
  TESSERA_ASSIGN_OR_RETURN(StoredGrant g, GrantStore(db).Show(grant_id));
  if (g.direction != GrantDirection::kIssued || !g.revocation) {
    return FailedPreconditionError("grant {} is no revoked grant this party issued", grant_id);
  }
  const CollaborationParty* grantee = collaboration.Find(g.grant.spec.grantee);
  if (grantee == nullptr) {
    return NotFoundError("the grantee of {} is not in the collaboration file", grant_id);
  }
  const std::string body = RevocationNoticeJson({g.grant.id, g.revocation->reason});
  TESSERA_ASSIGN_OR_RETURN(NodeReply reply, transport.Call(*grantee, "grant_revoked", body));
  const Json j = Json::parse(reply.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("changed") || !j["changed"].is_boolean()) {
    return InternalError("{} answered the revocation notice with something else", grantee->name);
  }
  return j["changed"].get<bool>();
}

Status OwnerNode::Admit(std::string_view op, const NodeSignature& signature) const {
  return AdmitNodeMessage(signature, op, impl_->options.collaboration, impl_->key.id(),
                          impl_->Now());
}

uint64_t OwnerNode::MaxBodyBytes(std::string_view op, uint64_t otherwise) {
  return op == "round1" || op == "grant_revoked" || op == "count" || op == "match_end"
             ? kMaxRequestBytes
             : otherwise;
}

// A grantor tells this party that it revoked a grant it had issued to this party: the copy here
// is marked revoked too, so that this party's requests stop relying on it (the grantor refuses
// them regardless).
StatusOr<NodeReply> OwnerNode::Impl::GrantRevoked(const PartyId& from, std::string_view body) {
  TESSERA_ASSIGN_OR_RETURN(RevocationNotice notice, ParseRevocationNotice(body));
  TESSERA_ASSIGN_OR_RETURN(auto store, options.open_store());
  GrantStore grants(store->db());
  TESSERA_ASSIGN_OR_RETURN(StoredGrant g, grants.Show(notice.grant_id));
  if (g.direction != GrantDirection::kReceived || g.grant.spec.grantor != from) {
    return PermissionDeniedError("grant_revoked: {} is no grant the sender issued to this party",
                                 notice.grant_id);
  }
  TESSERA_ASSIGN_OR_RETURN(const bool changed, grants.Revoke(notice.grant_id, notice.reason));
  return Reply("grant_revoked", from, Json{{"changed", changed}}.dump());
}

StatusOr<NodeReply> OwnerNode::Handle(std::string_view op, const NodeSignature& signature,
                                      std::string_view body) {
  TESSERA_RETURN_IF_ERROR(Admit(op, signature));
  TESSERA_ASSIGN_OR_RETURN(PartyId from,
                           AcceptNodeMessage(signature, op, body, MaxBodyBytes(op, body.size()),
                                             impl_->key.id(), impl_->nonces, impl_->Now()));
  if (op == "round1") return impl_->Round1(from, body);
  if (op == "round2") return impl_->Round2(from, body);
  if (op == "count") return impl_->Count(from, body);
  if (op == "match_end") return impl_->MatchEnd(from, body);
  if (op == "grant_revoked") return impl_->GrantRevoked(from, body);
  return NotFoundError("node message: no step '{}'", op);
}

}  // namespace tessera::collab
