#pragma once

// A synthetic retailer order export, for demos and benchmarks (`tessera generate`).
//
// The output is a CSV file with one row per order line and the header
//   order_id,customer_id,email,ordered_at,sku,category,quantity,unit_price,currency,store,
//   region,channel,status
// (one line in the file). Customers behave as the BG/NBD and Gamma-Gamma models assume:
// each buys at its own Poisson rate (Gamma-distributed across customers) and drops out after
// any purchase with its own probability (Beta-distributed), and spends around its own mean
// basket value (lognormal across customers). Customers are acquired over the period; some
// were acquired before it and appear only if they are still buying in it. Every customer of
// `GeneratorOptions::customers` has at least one order in the output.
//
// The export has the flaws an ingest must handle: cancelled orders, return orders (new
// order_id, a later time, status "returned", negative quantities), guest orders without a
// customer_id, and orders whose lines were written twice in a row, byte for byte.
//
// Rows are grouped by customer (all orders of customer 1, then of customer 2, ...), each
// customer's orders in time order with any return order right after the order it returns;
// rows are not sorted by time across customers. This is what lets the generator stream:
// memory is O(categories), independent of the number of customers and orders.
//
// Output is a pure function of the options: the same options give byte-identical output
// (on the same platform; prices and distributions use the C library's log/exp/pow).
//
// Privacy: every name, email address and ID is made up. Email addresses use the reserved
// example.com/.org/.net domains (RFC 2606), so the output never holds real personal data.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::io {

struct GeneratorOptions {
  uint64_t customers = 10000;  // customers in the output; each has at least one order
  int32_t months = 24;         // length of the period, 1..1200
  uint64_t seed = 42;
  // Last day of the period (days since 1970-01-01, see civil_time.h); the CLI passes
  // TodayUtc(). The period is (AddMonths(end_day, -months), end_day], whole days in UTC.
  int64_t end_day = 0;
  uint32_t categories = 2000;  // leaf categories, under 10 departments and 100 aisles; >= 1
  // Fractions of orders, each in [0, 1]: written twice, cancelled, followed by a return.
  double duplicate_rate = 0.005;
  double void_rate = 0.02;
  double return_rate = 0.01;
};

struct GeneratorStats {
  uint64_t customers = 0;  // distinct customers in the output (== options.customers)
  uint64_t orders = 0;     // distinct order_ids, return orders included, duplicates not
  uint64_t lines = 0;      // rows after the header, duplicated rows included
  uint64_t bytes = 0;      // bytes written, header included
};

// Receives the output in chunks of up to about 1 MiB. A non-OK Status stops generation and
// is returned by GenerateOrders.
using ChunkSink = std::function<Status(std::string_view chunk)>;

// Generates the export described above and passes it to `sink`.
// Errors: kInvalidArgument for options out of range (months, categories, rates, an end_day
// whose period falls outside the years 1..9999); any error `sink` returns.
// Thread-safe: calls share no state.
StatusOr<GeneratorStats> GenerateOrders(const GeneratorOptions& options, const ChunkSink& sink);

// Same, writing to `out` (not closed; flushed at the end).
// Errors: as above; kInvalidArgument if `out` is null; kUnavailable if a write fails (e.g. the
// disk is full).
StatusOr<GeneratorStats> GenerateOrders(const GeneratorOptions& options, std::FILE* out);

}  // namespace tessera::io
