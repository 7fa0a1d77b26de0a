#pragma once

// Per-customer profiles over a rolling window, computed by one scan of the store's order
// columns into arrays indexed by the dense customer index.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tessera/common/duration.h"
#include "tessera/common/status.h"
#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/store.h"

namespace tessera::analytics {

// A rolling window: a duration (common/duration.h) that ends at and includes the as-of date,
// 24 months unless said otherwise. "12m" ending 2024-06-30 covers 2023-07-01 .. 2024-06-30.
struct Window : Duration {
  Window() : Duration(Duration::Months(24)) {}
  Window(Duration d) : Duration(d) {}  // NOLINT: every duration is a window
  // Errors: kInvalidArgument unless `text` is a duration ("24m", "12w", "90d").
  static StatusOr<Window> Parse(std::string_view text);
};

struct ProfileOptions {
  int64_t as_of_day = 0;
  Window window;
  std::string currency;  // empty: the one currency of the window's orders
};

struct Profile {
  uint32_t customer = 0;      // dense index into ProfileSet::uuids
  uint32_t order_count = 0;   // purchases in the window (returns and voids do not count)
  int64_t revenue_minor = 0;  // net revenue in the window: purchases minus returns (the CLV)
  int32_t recency_days = 0;   // as-of date minus the day of the last purchase
  int32_t first_day = 0, last_day = 0;            // day numbers of the first and last purchase
  uint8_t r_score = 0, f_score = 0, m_score = 0;  // 1..5, see scores.h
  uint16_t segment = 0;                           // index into the rules, see segments.h
  // Predictions (predict.h), NaN unless computed: probability that the customer is still
  // active, expected purchases and discounted CLV over the prediction horizon.
  double p_alive = std::numeric_limits<double>::quiet_NaN();
  double expected_purchases = std::numeric_limits<double>::quiet_NaN();
  double predicted_clv = std::numeric_limits<double>::quiet_NaN();
};

struct ProfileSet {
  int64_t as_of_day = 0;
  int64_t start_day = 0;
  Window window;
  std::string currency;
  int currency_exponent = 2;
  uint64_t customers_in_store = 0;
  // Day numbers of the earliest and latest purchase in the whole store (any window), so a
  // caller can say where the data lies when a window is empty; 0 and -1 without purchases.
  int64_t store_first_day = 0, store_last_day = -1;
  // Customers with at least one purchase in the window, by customer index.
  std::vector<Profile> profiles;
  std::vector<privacy::Uuid> uuids;  // every customer's pseudonym, by index
  // Set by PredictProfiles: which models, over what horizon (for output headers).
  bool has_predictions = false;
  std::string prediction_models;  // e.g. "bgnbd+gg"
  double prediction_horizon_months = 0;
};

// Errors: kInvalidArgument when the window holds orders in several currencies and none was
// chosen (the message lists them) or the chosen one has no orders; store errors.
StatusOr<ProfileSet> ComputeProfiles(store::Store& store, const ProfileOptions& options);

}  // namespace tessera::analytics
