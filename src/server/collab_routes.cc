// Routes: this party, its partners and the grants between them, grant administration, and the
// audit log of the collaboration (docs/api.md "Collaboration", docs/collaboration.md).
// Privacy: grants, the budget ledger and the audit log hold party ids, grant ids, codes and
// numbers; no customer, pseudonym or identifier passes through these handlers.

#include <ctime>

#include "server/grant_json.h"
#include "server/server_impl.h"
#include "tessera/collab/audit_log.h"
#include "tessera/collab/budget_ledger.h"
#include "tessera/collab/grant.h"
#include "tessera/privacy/order_token.h"

namespace tessera::server {
namespace {

using internal::StoredGrantJson;

constexpr int64_t kDefaultAuditPage = 100;
constexpr int64_t kMaxAuditPage = 1000;

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

HttpError NoParty() {
  return {404, "no_party",
          "this store is no party of a collaboration yet: run `tessera party init --name NAME` "
          "on it (docs/collaboration.md)",
          ""};
}

HttpError NoCollaboration() {
  return {409, "no_collaboration",
          "this server has no collaboration file: start it with `tessera serve --collaboration "
          "FILE` (docs/collaboration.md)",
          ""};
}

// A library error as it maps (http_common.h), naming the member of the request it is about.
HttpError ErrorOf(const Status& s) {
  HttpError e = FromStatus(s);
  if (auto field = s.TextDetail("field")) e.parameter = *field;
  return e;
}

void SendJson(httplib::Response& res, const Json& j, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(j.dump() + "\n", "application/json");
}

// The body as JSON; an error for one too large or not JSON.
std::optional<HttpError> JsonBody(const httplib::Request& req, size_t max_bytes, Json* out) {
  if (req.body.size() > max_bytes) {
    return HttpError{413, "payload_too_large", "the JSON body is too large", ""};
  }
  *out = Json::parse(req.body, nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    return BadParameter("body", "the body must be a JSON object");
  }
  return std::nullopt;
}

// This store's party; the error response sent (404 when it is none) otherwise.
std::optional<collab::PartyProfile> Self(store::Database& db, httplib::Response& res) {
  auto profile = collab::PartyStore(db).Show();
  if (profile.ok()) return std::move(*profile);
  SendError(res, profile.status().code() == StatusCode::kNotFound ? NoParty()
                                                                  : ErrorOf(profile.status()));
  return std::nullopt;
}

Json BudgetJson(const collab::BudgetBalance& b) {
  return {{"period", b.period},
          {"budget", collab::FormatEpsilon(b.budget_micro)},
          {"spent", collab::FormatEpsilon(b.spent_micro)},
          {"reserved", collab::FormatEpsilon(b.reserved_micro)},
          {"remaining", collab::FormatEpsilon(b.remaining_micro)}};
}

Json RolesJson(const collab::CollaborationParty& p) {
  Json roles = Json::array();
  for (collab::PartyRole r : p.roles) roles.push_back(collab::PartyRoleName(r));
  return roles;
}

}  // namespace

void Server::Impl::CollabParty(const httplib::Request& req, httplib::Response& res) {
  Role role = Role::kViewer;
  if (!Authorize(req, res, Role::kViewer, &role)) return;
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  const auto self = Self((**s).db(), res);
  if (!self) return;
  Json j;
  j["name"] = self->name;
  j["party_id"] = self->id.ToString();
  j["created_at"] = self->created_at;
  // What the caller's key may do here, so that a client shows it before anything is clicked.
  j["role"] = RoleName(role);
  j["can_sign_grants"] = !options.key_path.empty();
  if (collaboration) {
    const collab::CollaborationParty* listed = collaboration->Find(self->id);
    j["collaboration"] = {{"parties", collaboration->parties.size()},
                          {"listed", listed != nullptr},
                          {"name", listed ? Json(listed->name) : Json()},
                          {"endpoint", listed ? Json(listed->endpoint) : Json()},
                          {"roles", listed ? RolesJson(*listed) : Json::array()}};
  } else {
    j["collaboration"] = nullptr;
  }
  SendJson(res, j);
}

void Server::Impl::CollabPartners(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kViewer)) return;
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  store::Database& db = (**s).db();
  const auto self = Self(db, res);
  if (!self) return;
  if (!collaboration) return SendError(res, NoCollaboration());
  auto grants = collab::GrantStore(db).List();
  if (!grants.ok()) return SendError(res, ErrorOf(grants.status()));
  const int64_t now = NowSeconds();
  collab::BudgetLedger ledger(db);
  Json parties = Json::array();
  size_t listed = 0;
  for (const collab::CollaborationParty& p : collaboration->parties) {
    Json issued = Json::array(), received = Json::array();
    for (const collab::StoredGrant& g : *grants) {
      const collab::GrantSpec& spec = g.grant.spec;
      if (g.direction == collab::GrantDirection::kIssued && spec.grantee == p.id) {
        Json gj = StoredGrantJson(g, now);
        gj["budget"] = nullptr;
        if (spec.differential_privacy) {
          // The partner's spending under this grant, as the ledger that reserves it counts it.
          auto balance = ledger.Remaining(
              spec.grantee.ToString(), g.grant.id,
              static_cast<uint64_t>(spec.differential_privacy->budget_per_period_micro), now);
          if (!balance.ok()) return SendError(res, ErrorOf(balance.status()));
          gj["budget"] = BudgetJson(*balance);
        }
        issued.push_back(std::move(gj));
      } else if (g.direction == collab::GrantDirection::kReceived && spec.grantor == p.id) {
        Json gj = StoredGrantJson(g, now);
        gj["budget"] = nullptr;  // the grantor's ledger counts it, not this one
        received.push_back(std::move(gj));
      }
    }
    listed += issued.size() + received.size();
    parties.push_back({{"name", p.name},
                       {"party_id", p.id.ToString()},
                       {"endpoint", p.endpoint},
                       {"roles", RolesJson(p)},
                       {"self", p.id == self->id},
                       {"grants_issued", std::move(issued)},
                       {"grants_received", std::move(received)}});
  }
  Json j;
  j["party"] = {{"name", self->name}, {"party_id", self->id.ToString()}};
  j["parties"] = std::move(parties);
  // Grants with parties the file no longer names: GET /api/v1/collab/grants lists them.
  j["grants_with_other_parties"] = grants->size() - listed;
  SendJson(res, j);
}

void Server::Impl::CollabGrants(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAnalyst)) return;
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto grants = collab::GrantStore((**s).db()).List();
  if (!grants.ok()) return SendError(res, ErrorOf(grants.status()));
  const int64_t now = NowSeconds();
  Json j = Json::array();
  for (const collab::StoredGrant& g : *grants) j.push_back(StoredGrantJson(g, now));
  SendJson(res, j);
}

void Server::Impl::CollabGrant(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAnalyst)) return;
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto g = collab::GrantStore((**s).db()).Show(req.matches[1].str());
  if (!g.ok()) return SendError(res, ErrorOf(g.status()));
  Json j = StoredGrantJson(*g, NowSeconds());
  // The signed document as the partner imports it (POST /api/v1/collab/grants/import there).
  j["document"] = collab::GrantToJson(g->grant);
  SendJson(res, j);
}

void Server::Impl::CollabCreateGrant(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  Json body;
  if (auto e = JsonBody(req, options.max_json_bytes, &body)) return SendError(res, *e);
  if (options.key_path.empty()) {
    return SendError(res, {409, "no_key",
                           "signing a grant needs the owner's key, from which the party key "
                           "derives: start the server with --with-key (and --key or "
                           "TESSERA_KEY), or use `tessera grant create`",
                           ""});
  }
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  store::Database& db = (**s).db();
  const auto self = Self(db, res);
  if (!self) return;
  auto owner_key = privacy::OwnerKey::Load(options.key_path);
  if (!owner_key.ok()) return SendError(res, FromStatus(owner_key.status()));
  auto key = collab::PartyKey::Derive(*owner_key);
  if (!key.ok()) return SendError(res, FromStatus(key.status()));
  if (key->id() != self->id) {
    return SendError(res, {409, "conflict",
                           fmt::format("the owner's key of this server is party {}, not this "
                                       "store's party {}: start the server with the store's key",
                                       key->id().ToString(), self->id.ToString()),
                           ""});
  }
  const int64_t now = NowSeconds();
  auto spec =
      internal::GrantSpecFromJson(body, collaboration ? &*collaboration : nullptr, self->id, now);
  if (!spec.ok()) return SendError(res, ErrorOf(spec.status()));
  collab::GrantStore grants(db);
  auto grant = grants.Create(*spec, *key);
  if (!grant.ok()) return SendError(res, ErrorOf(grant.status()));
  auto stored = grants.Show(grant->id);
  if (!stored.ok()) return SendError(res, ErrorOf(stored.status()));
  Json j = StoredGrantJson(*stored, now);
  j["document"] = collab::GrantToJson(stored->grant);
  res.set_header("Location", "/api/v1/collab/grants/" + grant->id);
  SendJson(res, j, 201);
}

void Server::Impl::CollabRevokeGrant(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  std::string reason;
  if (!req.body.empty()) {
    Json body;
    if (auto e = JsonBody(req, options.max_json_bytes, &body)) return SendError(res, *e);
    for (const auto& [k, v] : body.items()) {
      if (k != "reason") return SendError(res, BadParameter(k, "unknown member (known: reason)"));
      if (!v.is_string()) return SendError(res, BadParameter(k, "reason must be a string"));
      reason = v.get<std::string>();
    }
  }
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  collab::GrantStore grants((**s).db());
  const std::string id = req.matches[1].str();
  auto revoked = grants.Revoke(id, reason);
  if (!revoked.ok()) {
    HttpError e = ErrorOf(revoked.status());
    if (e.status == 400 && e.parameter.empty()) e.parameter = "reason";
    return SendError(res, e);
  }
  auto stored = grants.Show(id);
  if (!stored.ok()) return SendError(res, ErrorOf(stored.status()));
  // "changed": false when it was revoked already (the first revocation and reason stay).
  Json out = {{"changed", *revoked}, {"grant", StoredGrantJson(*stored, NowSeconds())}};
  // A grant this party issued: its grantee's node is told, so that its copy says revoked too.
  // Not reaching it changes nothing here (this node refuses the grant either way); the answer
  // says so.
  if (stored->direction == collab::GrantDirection::kIssued) {
    auto told = collab_node ? collab_node->NotifyRevocation((**s).db(), id)
                            : StatusOr<bool>(FailedPreconditionError("no collaboration"));
    out["grantee_notified"] = told.ok();
    if (!told.ok()) out["grantee_notice_error"] = std::string(told.status().message());
  }
  SendJson(res, out);
}

void Server::Impl::CollabImportGrant(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  if (req.body.size() > std::min(options.max_json_bytes, collab::kMaxGrantBytes)) {
    return SendError(
        res, {413, "payload_too_large",
              fmt::format("a grant document has at most {} bytes", collab::kMaxGrantBytes), ""});
  }
  if (!collaboration) return SendError(res, NoCollaboration());
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  store::Database& db = (**s).db();
  const auto self = Self(db, res);
  if (!self) return;
  auto parsed = collab::ParseGrant(req.body);
  if (!parsed.ok()) return SendError(res, ErrorOf(parsed.status()));
  collab::GrantStore grants(db);
  // Importing a grant again returns it as stored: 200 then, 201 the first time.
  const bool known = grants.Show(parsed->id).ok();
  auto stored = grants.Import(req.body, *collaboration, self->id);
  if (!stored.ok()) return SendError(res, ErrorOf(stored.status()));
  res.set_header("Location", "/api/v1/collab/grants/" + stored->grant.id);
  SendJson(res, StoredGrantJson(*stored, NowSeconds()), known ? 200 : 201);
}

void Server::Impl::CollabAudit(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  collab::AuditListOptions o;
  o.limit = kDefaultAuditPage;
  if (auto e = IntParam(req, "after", 0, INT64_MAX, &o.after_sequence)) return SendError(res, *e);
  if (auto e = IntParam(req, "limit", 1, kMaxAuditPage, &o.limit)) return SendError(res, *e);
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  collab::AuditLog log((**s).db());
  auto entries = log.List(o);
  if (!entries.ok()) return SendError(res, ErrorOf(entries.status()));
  auto head = log.Head();
  if (!head.ok()) return SendError(res, ErrorOf(head.status()));
  Json list = Json::array();
  for (const collab::AuditEntry& e : *entries) list.push_back(collab::AuditEntryJson(e));
  const bool more =
      static_cast<int64_t>(entries->size()) == o.limit && entries->back().sequence < head->entries;
  Json j;
  j["entries"] = std::move(list);
  j["head"] = {{"entries", head->entries}, {"hash", privacy::HexEncode(head->hash)}};
  j["next_after"] = more ? Json(entries->back().sequence) : Json();
  SendJson(res, j);
}

void Server::Impl::CollabAuditVerify(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, Role::kAdmin)) return;
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  // A damaged log is an answer (ok false, the first bad entry), not an error.
  auto v = collab::AuditLog((**s).db()).Verify();
  if (!v.ok()) return SendError(res, ErrorOf(v.status()));
  SendJson(res, collab::AuditVerificationJson(*v));
}

}  // namespace tessera::server
