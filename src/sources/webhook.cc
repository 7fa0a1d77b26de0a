#include "tessera/sources/webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "sources/orders/shop_orders.h"
#include "sources/secrets.h"
#include "tessera/ingest/loader.h"
#include "tessera/privacy/order_token.h"
#include "tessera/sources/pull.h"

namespace tessera::sources {
namespace {

// "webhook_id=" and 1 to 20 digits, nothing else.
bool IsWooCommercePing(std::string_view body) {
  constexpr std::string_view kPrefix = "webhook_id=";
  if (!body.starts_with(kPrefix)) return false;
  const std::string_view id = body.substr(kPrefix.size());
  return !id.empty() && id.size() <= 20 &&
         std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string WebhookSignature(std::string_view secret, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  ::HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &mac_size);
  std::string out(4 * ((mac_size + 2) / 3), '\0');
  const int n = ::EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac,
                                  static_cast<int>(mac_size));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

bool VerifyWebhookSignature(std::string_view secret, std::string_view body,
                            std::string_view signature) {
  while (!signature.empty() && (signature.front() == ' ' || signature.front() == '\t')) {
    signature.remove_prefix(1);
  }
  while (!signature.empty() && (signature.back() == ' ' || signature.back() == '\t')) {
    signature.remove_suffix(1);
  }
  const std::string expected = WebhookSignature(secret, body);
  // The length of a signature is no secret (always 44 for SHA-256); its bytes are.
  return !expected.empty() && signature.size() == expected.size() &&
         ::CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) == 0;
}

std::string_view WebhookSignatureHeader(SourceKind kind) {
  return kind == SourceKind::kShopify ? "X-Shopify-Hmac-Sha256" : "X-WC-Webhook-Signature";
}

StatusOr<VerifiedWebhook> VerifyWebhook(store::Store& store, const std::string& name,
                                        std::string_view signature, std::string_view body) {
  SourceStore sources(store.db());
  TESSERA_ASSIGN_OR_RETURN(SourceConfig config, sources.Get(name));
  if (config.kind == SourceKind::kFolder) {
    return FailedPreconditionError("source '{}' is a watched folder; it takes no webhooks", name);
  }
  if (config.webhook_secret.empty()) {
    return FailedPreconditionError(
        "source '{}' has no webhook secret (add it again with --webhook-secret-env or "
        "--webhook-secret-file)",
        name);
  }
  TESSERA_ASSIGN_OR_RETURN(const std::string secret,
                           internal::ReadSecret(name, config.webhook_secret, "its webhook secret"));
  // WooCommerce's ping when a webhook is saved is a form body "webhook_id=N" that it sends
  // unsigned (WC_Webhook::deliver_ping) and that must be answered 200, or the webhook is not
  // saved. Only that exact shape passes without a signature, and it loads nothing.
  if (config.kind == SourceKind::kWooCommerce && IsWooCommercePing(body)) {
    if (signature.empty() || VerifyWebhookSignature(secret, body, signature)) {
      return VerifiedWebhook{std::move(config), true};
    }
  }
  if (signature.empty()) {
    return PermissionDeniedError("source '{}': the webhook has no {} header", name,
                                 WebhookSignatureHeader(config.kind));
  }
  if (!VerifyWebhookSignature(secret, body, signature)) {
    return PermissionDeniedError("source '{}': the webhook's {} does not match its body", name,
                                 WebhookSignatureHeader(config.kind));
  }
  return VerifiedWebhook{std::move(config), false};
}

StatusOr<WebhookResult> ReceiveWebhook(store::Store& store, const privacy::OwnerKey& key,
                                       const std::string& name, std::string_view signature,
                                       std::string_view body, bool match_tokens) {
  TESSERA_ASSIGN_OR_RETURN(const VerifiedWebhook verified,
                           VerifyWebhook(store, name, signature, body));
  if (verified.ping) return WebhookResult{.ping = true};
  const SourceConfig& config = verified.config;
  SourceStore sources(store.db());
  WebhookResult result;
  TESSERA_ASSIGN_OR_RETURN(io::Mapping mapping, SourceMapping(config.kind));
  auto orders = internal::ParseOrders(config.kind, body, /*single=*/true);
  if (!orders.ok()) return orders.status().WithContext("source '" + name + "' webhook");
  auto timestamps = io::TimestampParser::Create("", "UTC");
  if (!timestamps.ok()) return timestamps.status();
  std::string jsonl;
  auto stamp = internal::AppendOrderRecords(config.kind, orders->front(), 1, *timestamps, &jsonl);
  if (!stamp.ok()) {
    // "order 1 of the page" means nothing for a webhook.
    std::string message = stamp.status().message();
    if (message.starts_with("order 1 of the page: ")) message.erase(0, 21);
    return InvalidArgumentError("source '{}' webhook: {}", name, message);
  }
  // An "order updated" webhook is the order's newer version: it replaces the one stored when
  // the shop updated it later (a late delivery of an older version changes nothing).
  TESSERA_ASSIGN_OR_RETURN(auto tokenizer, privacy::OrderTokenizer::Create(key));
  auto order_token = tokenizer.Encrypt(stamp->order_id);  // failing: the loader rejects the row
  TESSERA_ASSIGN_OR_RETURN(const int64_t run_id, sources.BeginRun(name, "webhook"));
  SourceRun run;
  run.id = run_id;
  run.source = name;
  run.trigger = "webhook";
  run.orders_seen = 1;
  const std::string label = fmt::format("source {} webhook", name);
  Status status;
  auto file = internal::MemoryFile::Create(jsonl);
  if (!file.ok()) {
    status = file.status();
  } else {
    ingest::LoadOptions lo;
    lo.mapping = std::move(mapping);
    lo.match_tokens = match_tokens;
    lo.file_labels = {label};
    lo.replace_stored_orders = true;
    if (order_token.ok()) lo.order_versions.emplace(std::move(*order_token), stamp->updated_at);
    const std::string path = file->path();
    auto summary = ingest::LoadOrders(store, key, {path}, lo);
    if (summary.ok()) {
      run.orders_stored = result.orders_stored = summary->orders_stored;
      run.rejects = result.rejects = summary->rows_rejected;
    } else {
      std::string message = summary.status().message();
      for (size_t at; (at = message.find(path)) != std::string::npos;) {
        message.replace(at, path.size(), label);
      }
      status = Status(summary.status().code(), message);
    }
  }
  run.outcome = status.ok() ? "ok" : "failed";
  run.error = status.ok() ? "" : status.message();
  TESSERA_RETURN_IF_ERROR(sources.FinishRun(run));
  if (!status.ok()) return status;
  return result;
}

}  // namespace tessera::sources
