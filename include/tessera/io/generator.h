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
// With GeneratorOptions::phone_share above 0, a last column `phone` gives that share of the
// customers a mobile number (+49 17x, written "+49 17x xxxxxxxx"); with 0 (the default) the
// output is exactly as without the option.
//
// GenerateSubscribers writes the other party of a data collaboration: a mobile operator's
// subscriber file (see SubscriberOptions) in which a known subset of the retailer's customers
// appear with the same e-mail address or phone number, and its truth: how many people the two
// files share, by identifier kind and attribute value, computed here and never by Tessera.
//
// Privacy: every name, email address, phone number and ID is made up. Email addresses use the
// reserved example.com/.org/.net domains (RFC 2606), so the output never holds real personal
// data; the phone numbers are random numbers of German mobile ranges, which may exist.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
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
  // Share of customers with a phone number, in [0, 1]; above 0 adds the column `phone`. Which
  // customers have one, and their numbers, depend on the seed and the customer only (distinct
  // numbers for up to 10^9 customers).
  double phone_share = 0.0;
  // The other shapes of export that shop systems give: one row per order (`amount`, the
  // order's total, instead of sku, category, quantity and unit_price; a return's total is
  // negative), and without the customer number column (customers known by e-mail only). The
  // same customers, orders and amounts as the line items of the same seed.
  bool order_level = false;
  bool email_only = false;
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

// A mobile operator's subscriber file, CSV with the header
//   customer_id,phone,email,age_band,region,device,tariff
// one row per subscriber: a contract number ("M000000001"), a mobile number in E.164
// ("+4915..." or "+4917..."), an e-mail address for a share of them, and four attributes:
// age_band (18-24 ... 65+), region (Nord, Süd, West, Ost), device (iPhone, Samsung, ...; feature
// phones mostly with the old) and tariff (Prepaid, Basic, Plus, Max, Unlimited; by age).
//
// `shared` of the subscribers are customers of the retailer's export that GenerateOrders writes
// with the same seed, `retailer_customers` customers and `retailer_phone_share`: which ones is
// a seeded permutation, the same for the same options. A shared person has the retailer's
// phone number where the retailer has one, and the retailer's e-mail address (its first letter
// capitalized now and then: the same address once normalized) with probability `email_share`,
// always when the retailer has no phone for them, so that every shared person is matchable by
// one identifier at least. The operator's own subscribers have numbers (+4915) and addresses
// ("...+t<n>@...") that no customer of the retailer has. Rows come in a shuffled order.
struct SubscriberOptions {
  uint64_t subscribers = 10000;     // rows; at most 10^9
  uint64_t retailer_customers = 0;  // GeneratorOptions::customers of the retailer's export
  uint64_t shared = 0;              // at most both of the above
  double retailer_phone_share = 0;  // GeneratorOptions::phone_share of the retailer's export
  double email_share = 0.6;         // subscribers who gave an e-mail address, in [0, 1]
  uint64_t seed = 42;               // the retailer's seed
};

// People of the subscriber file that are customers of the retailer's export, counted as the
// generator made them.
struct SharedPeople {
  uint64_t people = 0;
  uint64_t by_email = 0;  // the same e-mail address (once normalized) in both files
  uint64_t by_phone = 0;  // the same phone number (once normalized) in both files
  uint64_t by_email_and_phone = 0;
};

struct SubscriberTruth {
  SubscriberOptions options;
  uint64_t subscribers = 0, with_email = 0;  // every subscriber has a phone
  SharedPeople shared;
  // By column (age_band, region, device, tariff) and value: subscribers, and shared people.
  std::map<std::string, std::map<std::string, uint64_t>> subscribers_by_attribute;
  std::map<std::string, std::map<std::string, SharedPeople>> shared_by_attribute;
  uint64_t bytes = 0;

  // {"seed", "subscribers", "retailer_customers", "retailer_phone_share", "email_share",
  //  "subscribers_with_email", "shared": {"people", "by_email", "by_phone",
  //  "by_email_and_phone"}, "attributes": {column: {value: {"subscribers", "shared",
  //  "shared_by_email", "shared_by_phone", "shared_by_email_and_phone"}}}}
  std::string ToJson() const;
};

// Generates the subscriber file described above and passes it to `sink`; returns its truth.
// Errors: kInvalidArgument for options out of range; any error `sink` returns. Thread-safe.
StatusOr<SubscriberTruth> GenerateSubscribers(const SubscriberOptions& options,
                                              const ChunkSink& sink);
// Same, writing to `out`. Errors: as above; kUnavailable if a write fails.
StatusOr<SubscriberTruth> GenerateSubscribers(const SubscriberOptions& options, std::FILE* out);

}  // namespace tessera::io
