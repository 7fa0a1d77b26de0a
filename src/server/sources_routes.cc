// Routes: the sources and their last runs (sources/source_store.h), and order webhooks pushed by
// a shop source (sources/webhook.h).

#include "server/server_impl.h"
#include "tessera/collab/party.h"
#include "tessera/sources/webhook.h"

namespace tessera::server {
namespace {

constexpr size_t kRunsShown = 5;

Json RunJson(const sources::SourceRun& r) {
  Json j = {{"id", r.id},
            {"started", r.started_at},
            {"trigger", r.trigger},
            {"outcome", r.outcome},
            {"orders_seen", r.orders_seen},
            {"orders_stored", r.orders_stored},
            {"rejects", r.rejects},
            {"pages", r.pages},
            {"files_loaded", r.files_loaded},
            {"files_refused", r.files_refused},
            {"files_waiting", r.files_waiting}};
  j["finished"] = r.finished_at.empty() ? Json(nullptr) : Json(r.finished_at);
  j["error"] = r.error.empty() ? Json(nullptr) : Json(r.error);
  return j;
}

}  // namespace

// Every source with where it reads from and its last runs. Credentials are never shown; where
// they are kept (a variable's name, a file's path) only to admins, who configured them.
void Server::Impl::Sources(const httplib::Request& req, httplib::Response& res) {
  Role role = Role::kViewer;
  if (!Authorize(req, res, Role::kAnalyst, &role)) return;
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  sources::SourceStore store((**s).db());
  auto all = store.List();
  if (!all.ok()) return SendError(res, FromStatus(all.status()));
  Json list = Json::array();
  for (const sources::SourceConfig& c : *all) {
    auto runs = store.Runs(c.name, kRunsShown);
    if (!runs.ok()) return SendError(res, FromStatus(runs.status()));
    Json j = {{"name", c.name},
              {"kind", sources::SourceKindName(c.kind)},
              {"location", c.Location()},
              {"created", c.created_at},
              {"webhook", !c.webhook_secret.empty()}};
    if (c.kind == sources::SourceKind::kFolder) {
      j["mapping"] = c.mapping.empty() ? Json(nullptr) : Json(c.mapping);
      j["settle_seconds"] = c.settle_seconds;
    }
    if (role == Role::kAdmin && c.kind != sources::SourceKind::kFolder) {
      Json where = Json::object();
      if (!c.token.empty()) where["token"] = c.token.Describe();
      if (!c.key.empty()) where["key"] = c.key.Describe();
      if (!c.secret.empty()) where["secret"] = c.secret.Describe();
      if (!c.webhook_secret.empty()) where["webhook_secret"] = c.webhook_secret.Describe();
      j["credentials_from"] = std::move(where);
    }
    Json rs = Json::array();
    for (const auto& r : *runs) rs.push_back(RunJson(r));
    j["runs"] = std::move(rs);
    list.push_back(std::move(j));
  }
  Json out = {{"sources", std::move(list)}};
  res.set_content(out.dump() + "\n", "application/json");
}

// No API key: a shop cannot send one. The delivery is signed instead (HMAC-SHA256 of the raw
// body under the source's webhook secret), and the signature is checked before the body is
// read; a delivery without a valid one loads nothing.
void Server::Impl::SourceWebhook(const httplib::Request& req, httplib::Response& res) {
  const std::string name = req.matches[1].str();
  if (options.key_path.empty()) {
    return SendError(res, {409, "conflict",
                           "this server has no owner's key; start it with --key (or "
                           "TESSERA_KEY) to accept order webhooks",
                           ""});
  }
  if (req.body.size() > options.max_json_bytes) {
    return SendError(res, {413, "payload_too_large", "the webhook body is too large", ""});
  }
  // Anyone can call this route: its answers say no more than "not verified" (no source names,
  // no paths of secret files or stores); the reason goes to the server's log.
  const HttpError unverified{401, "bad_signature", "the webhook's signature could not be verified",
                             ""};
  const HttpError busy{503, "busy", "the store is busy; deliver the webhook again later", ""};
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, busy);
  auto source = sources::SourceStore((**s).db()).Get(name);
  if (!source.ok()) {
    return SendError(res, source.status().code() == StatusCode::kNotFound ? unverified : busy);
  }
  const std::string signature =
      req.get_header_value(std::string(sources::WebhookSignatureHeader(source->kind)).c_str());
  // Verified before anything waits: a forged delivery is refused at once, whatever runs.
  auto verified = sources::VerifyWebhook(**s, name, signature, req.body);
  if (!verified.ok()) {
    if (verified.status().code() != StatusCode::kPermissionDenied) {
      std::fprintf(stderr, "tessera serve: an order webhook was refused: %s\n",
                   verified.status().message().c_str());
    }
    return SendError(res, unverified);
  }
  auto key = privacy::OwnerKey::Load(options.key_path);
  if (!key.ok()) return SendError(res, FromStatus(key.status()));
  // Shops wait a few seconds for an answer (Shopify 5 s) and deliver again later: a load in
  // progress (an upload, a scheduled pull) is answered 503 rather than waited for.
  std::unique_lock lock(write_mu, std::defer_lock);
  for (int i = 0; i < 40 && !lock.try_lock(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!lock.owns_lock()) {
    res.set_header("Retry-After", "60");
    return SendError(res, busy);
  }
  const bool match_tokens = collab::PartyStore((**s).db()).Show().ok();
  auto result = sources::ReceiveWebhook(**s, *key, name, signature, req.body, match_tokens);
  if (!result.ok()) {
    if (result.status().code() == StatusCode::kPermissionDenied) {
      return SendError(res, unverified);
    }
    if (result.status().code() == StatusCode::kUnavailable) {
      res.set_header("Retry-After", "60");
      return SendError(res, busy);
    }
    return SendError(res, FromStatus(result.status()));
  }
  if (result->orders_stored > 0) {
    orders_ingested += result->orders_stored;
    audiences->StoreChanged();
  }
  Json j;
  j["source"] = name;
  j["ping"] = result->ping;
  j["orders_stored"] = result->orders_stored;
  j["rejects"] = result->rejects;
  res.set_content(j.dump() + "\n", "application/json");
}

}  // namespace tessera::server
