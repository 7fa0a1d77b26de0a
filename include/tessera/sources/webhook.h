#pragma once

// Order webhooks pushed by a shop (POST /api/v1/sources/{name}/webhook in `tessera serve`):
// the signature is checked before the body is looked at, then the order is mapped as a pulled
// one (pull.h) and loaded.
//
// Privacy: the body (an order with e-mail, phone, addresses) is held in memory and, while the
// loader reads it, in an anonymous memory file; only pseudonyms and tokens reach the store.
// The webhook secret is read from its environment variable or file per request and never
// kept; messages never carry a value of the body.

#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/sources/source_store.h"
#include "tessera/store/store.h"

namespace tessera::sources {

// base64(HMAC-SHA256(secret, body)): what Shopify sends as X-Shopify-Hmac-Sha256 and
// WooCommerce as X-WC-Webhook-Signature.
std::string WebhookSignature(std::string_view secret, std::string_view body);

// Whether `signature` (the header's value, blanks around it ignored) is the body's signature
// under `secret`. Constant time in the signature's bytes.
bool VerifyWebhookSignature(std::string_view secret, std::string_view body,
                            std::string_view signature);

// The header a source kind signs its webhooks with.
std::string_view WebhookSignatureHeader(SourceKind kind);

struct WebhookResult {
  bool ping = false;           // WooCommerce's ping (a form body webhook_id=...): nothing loaded
  uint64_t orders_stored = 0;  // 0 when the store had the order already
  uint64_t rejects = 0;
};

// The first half of ReceiveWebhook, which reads nothing of the body but its signature: what a
// server checks before it waits for the store. Errors: those of ReceiveWebhook but the body's,
// the loader's and the store's writes.
struct VerifiedWebhook {
  SourceConfig config;
  bool ping = false;  // WooCommerce's ping: nothing to load
};
StatusOr<VerifiedWebhook> VerifyWebhook(store::Store& store, const std::string& name,
                                        std::string_view signature, std::string_view body);

// Handles one webhook delivery for the source `name`: reads its webhook secret, verifies
// `signature` over the raw `body`, then loads the order the body holds and records a run
// (trigger "webhook"). A WooCommerce source's ping (exactly "webhook_id=" and digits) passes
// without a signature, as WooCommerce sends it, and loads nothing.
// Errors: kNotFound (no such source), kFailedPrecondition (the source has no webhook secret, or
// its variable or file cannot be read), kPermissionDenied (missing or wrong signature: nothing
// read from the body), kInvalidArgument (the body is not an order of that kind), the loader's
// and the store's.
StatusOr<WebhookResult> ReceiveWebhook(store::Store& store, const privacy::OwnerKey& key,
                                       const std::string& name, std::string_view signature,
                                       std::string_view body, bool match_tokens);

}  // namespace tessera::sources
