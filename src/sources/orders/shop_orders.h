#pragma once

// Shop API orders (Shopify Admin REST, WooCommerce REST v3) as the loader's records: JSON
// Lines with the fields of the "shopify-api" and "woocommerce-api" mappings, one line per line
// item (identical items of an order merged, since the loader takes a byte-identical repeat for
// an export glitch), each line carrying the order's fields and total so that the order's
// amount is its total net of refunds, as the CSV presets make it. Internal to the module.
//
// Privacy: the records hold the order's raw identifiers (order id, e-mail, phone, customer id);
// they go to the loader only. Errors name the order by its position in the page and the
// field, never by a value.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/io/value_parse.h"
#include "tessera/sources/source_store.h"

namespace tessera::sources::internal {

// What the cursor and the loader need of an order: the shop's order id, the order id of its
// records (what the store's order token encrypts) and when it was last updated.
struct OrderStamp {
  std::string id;        // the shop's numeric id, as text
  std::string order_id;  // the records' order_id (Shopify: the order's name, "#1001")
  int64_t updated_at = 0;
};

// The loader's mapping text for a kind's records (TOML).
std::string_view MappingToml(SourceKind kind);

// Appends the records of `order` (one object of the API) to `jsonl` and returns its stamp.
// `position` (1-based in its page) names it in errors. Errors: kInvalidArgument naming the
// field that is missing or of the wrong type.
StatusOr<OrderStamp> AppendOrderRecords(SourceKind kind, const nlohmann::json& order,
                                        size_t position, io::TimestampParser& timestamps,
                                        std::string* jsonl);

// The orders of one page's body: Shopify's {"orders": [...]} (or a webhook's bare order, with
// `single`), WooCommerce's [...] (or a bare order). Errors: kInvalidArgument with the reason:
// not JSON (with the byte where it breaks), not the expected shape.
StatusOr<std::vector<nlohmann::json>> ParseOrders(SourceKind kind, std::string_view body,
                                                  bool single);

}  // namespace tessera::sources::internal
