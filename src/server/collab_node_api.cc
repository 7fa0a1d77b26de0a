#include "server/collab_node_api.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "server/http_common.h"
#include "tessera/audience/audiences.h"
#include "tessera/collab/epsilon.h"
#include "tessera/collab/grant.h"
#include "tessera/server/node_client.h"
#include "tessera/server/store_tables.h"

namespace tessera::server::internal {
namespace {

// Matches this server keeps for its analysts at once (each holds a worker here, or a place at a
// worker host, and a place at each owner).
constexpr size_t kMaxKeptMatches = 4;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The HTTP answer to a refusal or failure of a node step or a query: the reason travels as
// "reason" beside the message, so that the requester (and the dashboard) can act on it.
HttpError ErrorOf(const Status& s) {
  HttpError e = FromStatus(s);
  switch (s.code()) {
    case StatusCode::kPermissionDenied:
      e = {403, "forbidden", s.message(), ""};
      break;
    case StatusCode::kResourceExhausted:
      e = {409, "budget_exhausted", s.message(), ""};
      if (auto left = s.IntDetail("remaining_micro")) {
        e.extra["remaining_micro"] = *left;
        e.extra["remaining"] = collab::FormatEpsilon(static_cast<uint64_t>(*left));
      }
      break;
    case StatusCode::kUnavailable:
      e = {502, "partner_unreachable", s.message(), ""};
      break;
    default:
      break;
  }
  if (auto reason = s.TextDetail("reason")) e.extra["reason"] = *reason;
  return e;
}

std::optional<HttpError> ParseOwnerQuery(const Json& body, const char* member,
                                         collab::OwnerQuery* out) {
  if (!body.contains(member)) return std::nullopt;
  const Json& q = body[member];
  if (!q.is_object()) return BadParameter(member, fmt::format("{} must be an object", member));
  for (const auto& [k, v] : q.items()) {
    if (k != "expression" && k != "breakdown") {
      return BadParameter(member,
                          fmt::format("{} takes expression and breakdown, not {}", member, k));
    }
  }
  if (q.contains("expression")) {
    if (!q["expression"].is_string()) {
      return BadParameter(member, fmt::format("{}.expression must be text", member));
    }
    out->expression = q["expression"].get<std::string>();
  }
  if (q.contains("breakdown")) {
    if (!q["breakdown"].is_array()) {
      return BadParameter(member, fmt::format("{}.breakdown must be a list of names", member));
    }
    for (const Json& b : q["breakdown"]) {
      if (!b.is_string()) {
        return BadParameter(member, fmt::format("{}.breakdown must be a list of names", member));
      }
      out->breakdown.push_back(b.get<std::string>());
    }
  }
  return std::nullopt;
}

}  // namespace

StatusOr<std::unique_ptr<CollabNodeApi>> CollabNodeApi::Create(const Options& options,
                                                               Hooks hooks) {
  std::unique_ptr<CollabNodeApi> api(new CollabNodeApi());
  api->options_ = options;
  api->hooks_ = std::move(hooks);
  if (api->options_.worker_binary.empty()) api->options_.worker_binary = DefaultWorkerBinary();
  if (options.collaboration_path.empty()) {
    api->why_not_ =
        "this node takes part in no collaboration: start tessera serve with --collaboration FILE";
    return api;
  }
  TESSERA_ASSIGN_OR_RETURN(auto collaboration,
                           collab::LoadCollaboration(options.collaboration_path));
  api->collaboration_ = std::move(collaboration);
  if (options.key_path.empty()) {
    api->why_not_ =
        "this node runs without the owner key: start tessera serve with --with-key to take part "
        "in collaboration queries";
    return api;
  }
  TESSERA_ASSIGN_OR_RETURN(auto key, privacy::OwnerKey::Load(options.key_path));
  api->owner_key_ = std::make_shared<const privacy::OwnerKey>(std::move(key));
  TESSERA_ASSIGN_OR_RETURN(auto party_key, collab::PartyKey::Derive(*api->owner_key_));
  api->party_key_.emplace(std::move(party_key));
  if (api->collaboration_->Find(api->party_key_->id()) == nullptr) {
    api->why_not_ = fmt::format("this party ({}) is not in the collaboration file",
                                api->party_key_->id().ToString());
    return api;
  }
  collab::OwnerNodeOptions node;
  const std::string location = options.store_location;
  node.open_store = [location] { return OpenStore(location, false); };
  node.index_path = options.index_path;
  node.owner_key = api->owner_key_;
  node.collaboration = *api->collaboration_;
  TESSERA_ASSIGN_OR_RETURN(api->node_, collab::OwnerNode::Create(std::move(node)));
  collab::WorkerHostOptions host;
  host.owner_key = api->owner_key_;
  host.collaboration = *api->collaboration_;
  host.worker_binary = api->options_.worker_binary;
  host.open_store = [location] { return OpenStore(location, false); };
  TESSERA_ASSIGN_OR_RETURN(api->host_, collab::WorkerHostNode::Create(std::move(host)));
  return api;
}

CollabNodeApi::~CollabNodeApi() = default;

StatusOr<bool> CollabNodeApi::NotifyRevocation(store::Database& db, std::string_view grant_id) {
  if (!node_) return FailedPreconditionError("{}", why_not_);
  HttpNodeTransport remote(*party_key_);
  return collab::NotifyRevocation(db, grant_id, *collaboration_, remote);
}

collab::RequesterOptions CollabNodeApi::RequesterOptions() const {
  collab::RequesterOptions requester;
  requester.owner_key = owner_key_;
  if (collaboration_) requester.collaboration = *collaboration_;
  requester.worker_binary = options_.worker_binary;
  return requester;
}

bool CollabNodeApi::StreamsBody(std::string_view method, std::string_view path) {
  return method == "POST" && path.substr(0, path.find('?')).starts_with("/api/v1/collab/node/");
}

std::string CollabNodeApi::Unavailable() const { return node_ ? "" : why_not_; }

void CollabNodeApi::AddRoutes(httplib::Server& http) {
  http.Post(
      R"(/api/v1/collab/node/(round1|round2|count|match_end|grant_revoked|worker_start|worker_run|worker_count|worker_stop))",
      [this](const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader) { Node(req, res, reader); });
  http.Post("/api/v1/collab/overlap", [this](const httplib::Request& req, httplib::Response& res) {
    Query(req, res, collab::QueryKind::kOverlap);
  });
  http.Post("/api/v1/collab/count", [this](const httplib::Request& req, httplib::Response& res) {
    Query(req, res, collab::QueryKind::kCounts);
  });
  http.Post("/api/v1/collab/activate",
            [this](const httplib::Request& req, httplib::Response& res) { Activate(req, res); });
  http.Delete(R"(/api/v1/collab/matches/([0-9a-f]{32}))",
              [this](const httplib::Request& req, httplib::Response& res) { EndMatch(req, res); });
}

void CollabNodeApi::Node(const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader) {
  if (!node_) return SendError(res, {404, "not_found", why_not_, ""});
  collab::NodeSignature sig =
      NodeSignatureFromHeaders([&](const char* name) { return req.get_header_value(name); });
  if (sig.from.empty() || sig.signature.empty()) {
    return SendError(res, {401, "unauthorized",
                           "a node request is signed by its party: Tessera-From, Tessera-To, "
                           "Tessera-Time, Tessera-Nonce, Tessera-Signature and "
                           "Tessera-Head-Signature",
                           ""});
  }
  // Refused before a byte of the body is read: no one holds a node's memory or threads with
  // an unsigned body. The worker_* steps go to this party's worker host, the rounds to its
  // owner node.
  const std::string op = req.matches[1].str();
  const bool to_host = op.starts_with("worker_");
  // The head's signature covers the body's size: Content-Length, which a node request must have.
  if (!req.has_header("Content-Length")) {
    return SendError(res, {411, "length_required",
                           "a node request states its body's size in Content-Length", ""});
  }
  sig.body_bytes = std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10);
  if (Status admitted = to_host ? host_->Admit(op, sig) : node_->Admit(op, sig); !admitted.ok()) {
    return SendError(res, ErrorOf(admitted));
  }
  const uint64_t limit = to_host ? collab::WorkerHostNode::MaxBodyBytes(op, options_.max_body_bytes)
                                 : collab::OwnerNode::MaxBodyBytes(op, options_.max_body_bytes);
  if (req.has_header("Content-Length") &&
      std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > limit) {
    return SendError(
        res, {413, "payload_too_large", fmt::format("the body exceeds {} bytes", limit), ""});
  }
  std::string body;
  bool too_large = false;
  const bool complete = reader([&](const char* data, size_t n) {
    if (body.size() + n > limit) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_large) {
    return SendError(
        res, {413, "payload_too_large", fmt::format("the body exceeds {} bytes", limit), ""});
  }
  if (!complete) return SendError(res, BadParameter("body", "the body ended early"));
  auto reply = to_host ? host_->Handle(op, sig, body) : node_->Handle(op, sig, body);
  if (!reply.ok()) return SendError(res, ErrorOf(reply.status()));
  for (const auto& [name, value] : NodeSignatureHeaders(reply->signature)) {
    res.set_header(name, value);
  }
  res.set_content(std::move(reply->body), "application/octet-stream");
}

std::optional<HttpError> CollabNodeApi::SpecOf(const httplib::Request& req, collab::QueryKind kind,
                                               collab::QuerySpec* spec, std::string* worker_host,
                                               std::string* match) const {
  if (req.body.size() > options_.max_json_bytes) {
    return HttpError{413, "payload_too_large", "the JSON body is too large", ""};
  }
  const Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return BadParameter("body", "the body must be a JSON object");
  }
  const std::set<std::string> allowed =
      kind == collab::QueryKind::kOverlap
          ? std::set<std::string>{"partner", "identifier", "worker_host"}
      : kind == collab::QueryKind::kActivation
          ? std::set<std::string>{"partner",      "identifier", "own",
                                  "partner_side", "k_min",      "worker_host"}
          : std::set<std::string>{"partner", "identifier", "own",   "partner_side", "epsilon",
                                  "k_min",   "keep",       "match", "worker_host"};
  for (const auto& [k, v] : body.items()) {
    if (!allowed.contains(k)) return BadParameter(k, fmt::format("unknown member {}", k));
  }
  spec->kind = kind;
  if (!body.contains("partner") || !body["partner"].is_string()) {
    return BadParameter("partner", "partner (a name or id) is required");
  }
  spec->owners = {party_key_->id().ToString(), body["partner"].get<std::string>()};
  const std::string identifier = body.contains("identifier") && body["identifier"].is_string()
                                     ? body["identifier"].get<std::string>()
                                     : (body.contains("identifier") ? "" : "email");
  if (identifier != "email" && identifier != "phone") {
    return BadParameter("identifier", "identifier must be email or phone");
  }
  spec->identifier = identifier == "phone" ? collab::MatchKind::kPhone : collab::MatchKind::kEmail;
  if (auto e = ParseOwnerQuery(body, "own", &spec->queries[0])) return e;
  if (auto e = ParseOwnerQuery(body, "partner_side", &spec->queries[1])) return e;
  if (kind == collab::QueryKind::kActivation) {
    const char* kWhy = "an activation lists people: it takes no breakdown";
    if (!spec->queries[0].breakdown.empty()) return BadParameter("own", kWhy);
    if (!spec->queries[1].breakdown.empty()) return BadParameter("partner_side", kWhy);
  }
  if (body.contains("epsilon") && !body["epsilon"].is_null()) {
    auto eps = body["epsilon"].is_string()
                   ? collab::ParseEpsilon(body["epsilon"].get<std::string>())
                   : StatusOr<uint64_t>(InvalidArgumentError("not text"));
    if (!eps.ok()) {
      return BadParameter("epsilon", "epsilon must be a decimal in quotes, e.g. \"0.5\"");
    }
    spec->epsilon_micro = *eps;
  }
  if (body.contains("k_min")) {
    if (!body["k_min"].is_number_unsigned()) {
      return BadParameter("k_min", "k_min must be a whole number");
    }
    spec->k_min = body["k_min"].get<uint64_t>();
  }
  if (body.contains("worker_host")) {
    if (!body["worker_host"].is_string()) {
      return BadParameter("worker_host", "worker_host must be a party's name or id");
    }
    *worker_host = body["worker_host"].get<std::string>();
  }
  if (body.contains("keep")) {
    if (!body["keep"].is_boolean()) return BadParameter("keep", "keep must be true or false");
    spec->keep = body["keep"].get<bool>();
  }
  if (body.contains("match")) {
    if (!body["match"].is_string() || match == nullptr) {
      return BadParameter("match", "match must be the id of a kept match");
    }
    if (spec->keep || body.contains("worker_host")) {
      return BadParameter("match",
                          "a count on a kept match keeps no new one, and its worker stays where "
                          "the match put it");
    }
    *match = body["match"].get<std::string>();
  }
  return std::nullopt;
}

std::shared_ptr<CollabNodeApi::Kept> CollabNodeApi::FindMatch(const std::string& id) {
  std::vector<std::shared_ptr<Kept>> expired;
  std::shared_ptr<Kept> found;
  {
    std::lock_guard lock(matches_mu_);
    for (auto it = matches_.begin(); it != matches_.end();) {
      std::unique_lock kept_lock(it->second->mu, std::try_to_lock);
      const bool gone =
          kept_lock.owns_lock() && (!it->second->match || it->second->match->expires() <= Now());
      if (gone) {
        expired.push_back(it->second);
        it = matches_.erase(it);
      } else {
        ++it;
      }
    }
    if (auto it = matches_.find(id); it != matches_.end()) found = it->second;
  }
  // The owners and the host forget an expired match by themselves; its worker here ends now.
  for (const auto& kept : expired) {
    std::lock_guard kept_lock(kept->mu);
    kept->match.reset();
  }
  return found;
}

void CollabNodeApi::Query(const httplib::Request& req, httplib::Response& res,
                          collab::QueryKind kind) {
  if (!hooks_.authorize(req, res, Role::kAnalyst)) return;
  if (!node_) return SendError(res, {404, "not_found", why_not_, ""});
  collab::QuerySpec spec;
  collab::RequesterOptions requester = RequesterOptions();
  std::string match_id;
  if (auto e = SpecOf(req, kind, &spec, &requester.worker_host, &match_id)) {
    return SendError(res, *e);
  }
  auto store = hooks_.store();
  if (!store.ok()) return SendError(res, FromStatus(store.status()));
  auto grants = collab::GrantStore((*store)->db()).List();
  if (!grants.ok()) return SendError(res, FromStatus(grants.status()));
  HttpNodeTransport remote(*party_key_);
  collab::LocalTransport transport(*party_key_, {node_.get()}, &remote);
  StatusOr<collab::QueryResult> result = InternalError("no query ran");
  std::unique_ptr<collab::KeptMatch> kept;
  if (!match_id.empty()) {
    std::shared_ptr<Kept> entry = FindMatch(match_id);
    std::unique_lock<std::mutex> lock;  // one count at a time on a match
    if (entry) lock = std::unique_lock(entry->mu);
    if (!entry || !entry->match) {
      HttpError e{404, "not_found",
                  "no match of that id is kept here (ended, expired, or this server restarted): "
                  "count with \"keep\": true to match again",
                  ""};
      e.extra["reason"] = "unknown_match";
      return SendError(res, e);
    }
    result = entry->match->Count(spec, *grants, transport);
    // A count that failed at the worker ended the match; its refusals by grants did not.
    if (!result.ok() && result.status().TextDetail("reason").value_or("") == "unknown_match") {
      entry->match.reset();
    }
  } else {
    if (spec.keep) {
      std::lock_guard lock(matches_mu_);
      if (matches_.size() >= kMaxKeptMatches) {
        HttpError e{409, "conflict",
                    fmt::format("this server keeps {} matches already: end one "
                                "(DELETE /api/v1/collab/matches/ID) or let it expire",
                                matches_.size()),
                    ""};
        e.extra["reason"] = "too_many_matches";
        return SendError(res, e);
      }
    }
    result = collab::RunQuery(spec, requester, *grants, transport, spec.keep ? &kept : nullptr);
  }
  if (Status audited = collab::AuditQuery((*store)->db(), party_key_->id(), spec, result, Now());
      !audited.ok()) {
    return SendError(res, FromStatus(audited));
  }
  if (!result.ok()) return SendError(res, ErrorOf(result.status()));
  Json out = Json::parse(result->result_json, nullptr, false);
  out["epsilon_spent"] = result->request.epsilon_micro
                             ? Json(collab::FormatEpsilon(*result->request.epsilon_micro))
                             : Json(nullptr);
  out["grants"] = result->grant_ids;
  out["seconds"] = result->seconds_round1 + result->seconds_round2 + result->seconds_worker;
  if (kept) {
    const std::string id = collab::PsiSessionIdHex(kept->request().session);
    out["match"] = {{"id", id}, {"expires", kept->expires()}};
    auto entry = std::make_shared<Kept>();
    entry->match = std::move(kept);
    std::lock_guard lock(matches_mu_);
    matches_[id] = std::move(entry);
  } else if (!match_id.empty()) {
    out["match"] = {{"id", match_id}};
  }
  res.set_content(out.dump() + "\n", "application/json");
}

void CollabNodeApi::EndMatch(const httplib::Request& req, httplib::Response& res) {
  if (!hooks_.authorize(req, res, Role::kAnalyst)) return;
  if (!node_) return SendError(res, {404, "not_found", why_not_, ""});
  const std::string id = req.matches[1].str();
  std::shared_ptr<Kept> entry;
  {
    std::lock_guard lock(matches_mu_);
    if (auto it = matches_.find(id); it != matches_.end()) {
      entry = it->second;
      matches_.erase(it);
    }
  }
  if (!entry) return SendError(res, {404, "not_found", "no match of that id is kept here", ""});
  std::lock_guard lock(entry->mu);  // after a count running on it
  Status told = OkStatus();
  if (entry->match) {
    HttpNodeTransport remote(*party_key_);
    collab::LocalTransport transport(*party_key_, {node_.get()}, &remote);
    told = entry->match->End(transport);
    entry->match.reset();
  }
  // Ended here whatever the others answered: they forget it when it expires.
  Json out{{"ended", true}, {"everyone_told", told.ok()}};
  if (!told.ok()) out["note"] = told.message();
  res.set_content(out.dump() + "\n", "application/json");
}

void CollabNodeApi::Activate(const httplib::Request& req, httplib::Response& res) {
  if (!hooks_.authorize(req, res, Role::kAnalyst)) return;
  if (!node_) return SendError(res, {404, "not_found", why_not_, ""});
  std::string format = "json";
  if (auto e = ChoiceParam(req, "format", {"json", "csv"}, &format)) return SendError(res, *e);
  collab::QuerySpec spec;
  collab::RequesterOptions requester = RequesterOptions();
  if (auto e = SpecOf(req, collab::QueryKind::kActivation, &spec, &requester.worker_host)) {
    return SendError(res, *e);
  }
  auto store = hooks_.store();
  if (!store.ok()) return SendError(res, FromStatus(store.status()));
  // The list is an export of this party's pseudonyms: the owner's export minimum holds too.
  auto minimum = audience::MinExportSize(**store);
  if (!minimum.ok()) return SendError(res, FromStatus(minimum.status()));
  spec.k_min_floor = *minimum;
  auto grants = collab::GrantStore((*store)->db()).List();
  if (!grants.ok()) return SendError(res, FromStatus(grants.status()));
  HttpNodeTransport remote(*party_key_);
  collab::LocalTransport transport(*party_key_, {node_.get()}, &remote);
  auto result = collab::RunActivation(spec, requester, *grants, transport, *node_);
  const StatusOr<collab::QueryResult> audited_outcome =
      result.ok() ? StatusOr<collab::QueryResult>(result->query)
                  : StatusOr<collab::QueryResult>(result.status());
  if (Status audited =
          collab::AuditQuery((*store)->db(), party_key_->id(), spec, audited_outcome, Now());
      !audited.ok()) {
    return SendError(res, FromStatus(audited));
  }
  if (!result.ok()) return SendError(res, ErrorOf(result.status()));
  Json out = Json::parse(result->query.result_json, nullptr, false);
  out["grants"] = result->query.grant_ids;
  if (format == "csv") {
    if (result->withheld) {
      HttpError e{409, "below_min_cell_size",
                  fmt::format("fewer people than the minimum of {} are in the joint audience: "
                              "nothing was released",
                              result->query.request.k_min),
                  ""};
      e.extra["withheld"] = true;
      e.extra["k_min"] = result->query.request.k_min;
      return SendError(res, e);
    }
    res.set_header("X-Tessera-Activation-Count", std::to_string(result->members.size()));
    res.set_header("Cache-Control", "no-store");
    res.set_header("Content-Disposition", "attachment; filename=\"activation.csv\"");
    res.set_header("Content-Type", "text/csv; charset=utf-8");
    res.body = collab::ActivationListCsv(result->members);
    return;
  }
  out["members"] = Json::array();
  for (const privacy::Uuid& u : result->members) out["members"].push_back(u.ToString());
  res.set_header("Cache-Control", "no-store");
  res.set_content(out.dump() + "\n", "application/json");
}

}  // namespace tessera::server::internal
