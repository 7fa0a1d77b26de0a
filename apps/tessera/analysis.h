#pragma once

// The options every analysing command shares (window, as-of date, rules, language, currency,
// predictions) and the computation behind them.

#include <CLI/CLI.hpp>
#include <string>

#include "cli_common.h"
#include "tessera/analytics/pipeline.h"
#include "tessera/analytics/profiles.h"
#include "tessera/analytics/segments.h"

namespace tessera {

struct AnalysisArgs {
  std::string window = "24m";
  std::string as_of;
  std::string rules;
  std::string lang = "en";
  std::string currency;
  bool predict = false;
  std::string predict_model = "bgnbd";
  double horizon_months = 12;
  double discount = 0.10;
};

void AddAnalysisOptions(CLI::App* cmd, AnalysisArgs* args);

struct Analysis {
  analytics::SegmentRules rules;
  analytics::Lang lang;
  analytics::ProfileSet set;
};

// Opens the store, computes scored and segmented profiles (and predictions when asked);
// notes on stderr when the window holds no purchases.
StatusOr<Analysis> RunAnalysis(const StoreArgs& sa, const AnalysisArgs& aa);

}  // namespace tessera
