// Routes: order webhooks pushed by a shop source (sources/webhook.h).

#include "server/server_impl.h"
#include "tessera/collab/party.h"
#include "tessera/sources/webhook.h"

namespace tessera::server {

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
  auto s = ThreadStore();
  if (!s.ok()) return SendError(res, FromStatus(s.status()));
  auto source = sources::SourceStore((**s).db()).Get(name);
  if (!source.ok()) return SendError(res, FromStatus(source.status()));
  const std::string signature =
      req.get_header_value(std::string(sources::WebhookSignatureHeader(source->kind)).c_str());
  auto key = privacy::OwnerKey::Load(options.key_path);
  if (!key.ok()) return SendError(res, FromStatus(key.status()));
  std::lock_guard lock(write_mu);
  const bool match_tokens = collab::PartyStore((**s).db()).Show().ok();
  auto result = sources::ReceiveWebhook(**s, *key, name, signature, req.body, match_tokens);
  if (!result.ok()) {
    if (result.status().code() == StatusCode::kPermissionDenied) {
      return SendError(res, {401, "bad_signature", result.status().message(), ""});
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
