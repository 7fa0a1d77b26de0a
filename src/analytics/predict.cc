#include "tessera/analytics/predict.h"

#include <cmath>
#include <map>

#include "tessera/common/civil_time.h"
#include "tessera/common/money.h"
#include "tessera/io/order_reader.h"

namespace tessera::analytics {

StatusOr<PurchaseHistory> LoadPurchaseHistory(store::Store& store, const std::string& currency) {
  PurchaseHistory h;
  TESSERA_RETURN_IF_ERROR(store.ScanCustomers([&](uint32_t idx, const privacy::Uuid& u) {
    if (h.uuids.size() <= idx) h.uuids.resize(idx + 1);
    h.uuids[idx] = u;
  }));
  std::vector<std::string> currencies;
  TESSERA_RETURN_IF_ERROR(
      store.ScanDictionaries([&](store::DictKind kind, uint32_t id, const std::string& v) {
        if (kind != store::DictKind::kCurrency) return;
        if (currencies.size() <= id) currencies.resize(id + 1);
        currencies[id] = v;
      }));
  std::map<uint32_t, std::vector<clv::Purchase>> by_currency;
  TESSERA_RETURN_IF_ERROR(
      store.ScanOrderFields(store::kOrderCore, [&](const store::OrderColumns& c) -> Status {
        for (size_t i = 0; i < c.size(); ++i) {
          if (c.customer[i] == store::kAnonymousCustomer) continue;
          if (static_cast<io::OrderKind>(c.kind[i]) != io::OrderKind::kPurchase) continue;
          by_currency[c.currency[i]].push_back(
              clv::Purchase{c.customer[i], static_cast<int32_t>(DayOfTimestamp(c.ordered_at[i])),
                            c.amount_minor[i]});
        }
        return OkStatus();
      }));
  if (by_currency.empty()) return InvalidArgumentError("the store holds no purchases");
  uint32_t chosen = 0;
  if (!currency.empty()) {
    for (const auto& [id, list] : by_currency) {
      if (id < currencies.size() && currencies[id] == currency) chosen = id;
    }
    if (chosen == 0) return InvalidArgumentError("the store has no purchases in {}", currency);
  } else if (by_currency.size() > 1) {
    std::string list;
    for (const auto& [id, p] : by_currency) list += (list.empty() ? "" : ", ") + currencies[id];
    return InvalidArgumentError(
        "the store holds purchases in several currencies ({}); choose one with --currency", list);
  } else {
    chosen = by_currency.begin()->first;
  }
  h.purchases = std::move(by_currency[chosen]);
  h.currency = chosen < currencies.size() ? currencies[chosen] : currency;
  h.currency_exponent = CurrencyExponent(h.currency);
  h.first_day = INT32_MAX;
  h.last_day = INT32_MIN;
  for (const auto& p : h.purchases) {
    h.first_day = std::min(h.first_day, p.day);
    h.last_day = std::max(h.last_day, p.day);
  }
  return h;
}

Status PredictProfiles(store::Store& store, const ProfilePredictionOptions& options,
                       ProfileSet* set) {
  TESSERA_ASSIGN_OR_RETURN(PurchaseHistory history, LoadPurchaseHistory(store, set->currency));
  // The models see the whole history up to the as-of date, not only the segment window: a
  // customer's age and purchase rate come from all of their purchases.
  std::erase_if(history.purchases, [&](const clv::Purchase& p) { return p.day > set->as_of_day; });
  const auto summaries = clv::Summarize(history.purchases, static_cast<int32_t>(set->as_of_day),
                                        std::nullopt, options.unit, history.currency_exponent);
  StatusOr<clv::Fit> counts = options.count_model == clv::Model::kParetoNbd
                                  ? clv::FitParetoNbd(summaries)
                                  : clv::FitBgNbd(summaries);
  if (!counts.ok()) return counts.status().WithContext("fitting the purchase-count model");
  auto spend = clv::FitGammaGamma(summaries);
  if (!spend.ok()) return spend.status().WithContext("fitting the Gamma-Gamma spend model");

  clv::ScoreOptions score_options;
  score_options.clv = options.clv;
  score_options.clv.unit = options.unit;
  score_options.horizon =
      options.clv.horizon_months * 365.25 / 12.0 / clv::DaysPerUnit(options.unit);
  std::vector<clv::Score> scores(summaries.size());
  TESSERA_RETURN_IF_ERROR(clv::ScoreAll(*counts, &*spend, summaries, score_options, scores));

  std::vector<int64_t> slot(set->uuids.size(), -1);  // customer index -> summary
  for (size_t i = 0; i < summaries.size(); ++i)
    slot[summaries[i].customer] = static_cast<int64_t>(i);
  for (Profile& p : set->profiles) {
    const int64_t i = p.customer < slot.size() ? slot[p.customer] : -1;
    if (i < 0) continue;
    p.p_alive = scores[static_cast<size_t>(i)].p_alive;
    p.expected_purchases = scores[static_cast<size_t>(i)].expected_purchases;
    p.predicted_clv = scores[static_cast<size_t>(i)].clv;
  }
  set->has_predictions = true;
  set->prediction_models =
      fmt::format("{}+{}", clv::ModelName(counts->model), clv::ModelName(spend->model));
  set->prediction_horizon_months = options.clv.horizon_months;
  return OkStatus();
}

}  // namespace tessera::analytics
