// Pages of shop APIs and order webhooks come from the network (a webhook's body after its
// signature, a page after the shop's TLS): any bytes must give orders and their records or an
// error, never a crash, and an error never quotes the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sources/orders/shop_orders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tessera::sources::SourceKind;
  namespace internal = tessera::sources::internal;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto timestamps = tessera::io::TimestampParser::Create("", "UTC");
  if (!timestamps.ok()) std::abort();
  for (const SourceKind kind : {SourceKind::kShopify, SourceKind::kWooCommerce}) {
    for (const bool single : {false, true}) {
      auto orders = internal::ParseOrders(kind, body, single);
      if (!orders.ok()) continue;
      size_t position = 0;
      for (const auto& order : *orders) {
        std::string jsonl;
        auto stamp = internal::AppendOrderRecords(kind, order, ++position, *timestamps, &jsonl);
        // Records end with a line end, one per line, never empty when an order maps.
        if (stamp.ok() && (jsonl.empty() || jsonl.back() != '\n')) std::abort();
      }
    }
  }
  return 0;
}
