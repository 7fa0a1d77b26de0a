#pragma once

// Predictive CLV on the store: purchase histories in the models' terms, fitted models, and
// per-customer predictions (P(alive), expected purchases, predicted CLV) for profiles and
// segment statistics. The models themselves are in clv.h.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/analytics/clv.h"
#include "tessera/analytics/profiles.h"
#include "tessera/common/status.h"
#include "tessera/store/store.h"

namespace tessera::analytics {

// Every purchase of the store in one currency (voided orders and returns excluded: the
// models describe buying, and Gamma-Gamma needs positive values).
struct PurchaseHistory {
  std::vector<clv::Purchase> purchases;
  std::vector<privacy::Uuid> uuids;  // by customer index
  std::string currency;
  int currency_exponent = 2;
  int32_t first_day = 0, last_day = -1;  // of the purchases; last < first when there are none
};

// Errors: kInvalidArgument when the store holds several currencies and none is chosen (the
// message lists them), or no purchases; store errors.
StatusOr<PurchaseHistory> LoadPurchaseHistory(store::Store& store, const std::string& currency);

// Fits a purchase-count model (BG/NBD or Pareto/NBD) and Gamma-Gamma on the history up to
// `as_of_day`, scores every profile of `set`, and stores the results in the profiles
// (p_alive, expected_purchases over `options.clv.horizon_months`, predicted_clv).
// Errors: those of the fits (too few repeat buyers, no convergence).
struct ProfilePredictionOptions {
  clv::Model count_model = clv::Model::kBgNbd;
  clv::TimeUnit unit = clv::TimeUnit::kWeeks;
  clv::ClvOptions clv;
};
Status PredictProfiles(store::Store& store, const ProfilePredictionOptions& options,
                       ProfileSet* set);

}  // namespace tessera::analytics
