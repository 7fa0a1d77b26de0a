#include "analysis.h"

#include <cstdio>

#include "tessera/analytics/predict.h"
#include "tessera/common/civil_time.h"

namespace tessera {

void AddAnalysisOptions(CLI::App* cmd, AnalysisArgs* args) {
  cmd->add_option("--window", args->window,
                  "Rolling window ending at --as-of: 12m, 24m, 36m (months) or <N>d (days)")
      ->capture_default_str();
  cmd->add_option("--as-of", args->as_of,
                  "Last day of the window, YYYY-MM-DD (default: today, UTC)");
  cmd->add_option(
      "--rules", args->rules,
      "Segment rule file (TOML; default: the shipped nine segments, config/segments.toml)");
  cmd->add_option("--lang", args->lang, "Segment names in en or de")->capture_default_str();
  cmd->add_option("--currency", args->currency,
                  "Currency to analyse when the store holds several (ISO code, e.g. EUR)");
  cmd->add_flag("--predict", args->predict,
                "Add predictive CLV: fit BG/NBD (or --predict-model pnbd) and Gamma-Gamma on the "
                "purchase history up to --as-of; adds P(alive) and predicted CLV");
  cmd->add_option("--predict-model", args->predict_model, "bgnbd or pnbd")
      ->check(CLI::IsMember({"bgnbd", "pnbd"}))
      ->capture_default_str();
  cmd->add_option("--horizon-months", args->horizon_months, "Prediction horizon in months")
      ->check(CLI::Range(0.0, 1200.0))
      ->capture_default_str();
  cmd->add_option("--discount", args->discount, "Annual discount rate of predicted CLV")
      ->check(CLI::Range(0.0, 10.0))
      ->capture_default_str();
}

StatusOr<Analysis> RunAnalysis(const StoreArgs& sa, const AnalysisArgs& aa) {
  TESSERA_ASSIGN_OR_RETURN(analytics::Window window, analytics::Window::Parse(aa.window));
  TESSERA_ASSIGN_OR_RETURN(analytics::Lang lang, analytics::ParseLang(aa.lang));
  int64_t as_of = TodayUtc();
  if (!aa.as_of.empty()) {
    auto parsed = ParseIsoDate(aa.as_of);
    if (!parsed.ok()) return parsed.status().WithContext("--as-of");
    as_of = *parsed;
  }
  auto rules = aa.rules.empty() ? analytics::SegmentRules::Default()
                                : analytics::SegmentRules::LoadFile(aa.rules);
  if (!rules.ok()) return rules.status();
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(sa.store, /*create=*/false));
  analytics::AnalysisOptions options;
  options.profiles.as_of_day = as_of;
  options.profiles.window = window;
  options.profiles.currency = aa.currency;
  if (aa.predict) {
    analytics::ProfilePredictionOptions po;
    po.count_model = aa.predict_model == "pnbd" ? analytics::clv::Model::kParetoNbd
                                                : analytics::clv::Model::kBgNbd;
    po.clv.horizon_months = aa.horizon_months;
    po.clv.annual_discount_rate = aa.discount;
    options.predict = po;
  }
  TESSERA_ASSIGN_OR_RETURN(auto set, analytics::Analyze(*store, options, *rules));
  if (set.profiles.empty()) {
    if (set.store_last_day < set.store_first_day) {
      std::fprintf(stderr, "tessera: note: the store holds no purchases yet\n");
    } else {
      std::fprintf(stderr,
                   "tessera: note: no purchases between %s and %s; the store's purchases run from "
                   "%s to %s (try --as-of %s)\n",
                   FormatIsoDate(set.start_day).c_str(), FormatIsoDate(set.as_of_day).c_str(),
                   FormatIsoDate(set.store_first_day).c_str(),
                   FormatIsoDate(set.store_last_day).c_str(),
                   FormatIsoDate(set.store_last_day).c_str());
    }
  }
  return Analysis{std::move(*rules), lang, std::move(set)};
}

}  // namespace tessera
