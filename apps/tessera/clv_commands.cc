// `tessera clv fit|evaluate|score`: predictive CLV models on the store, or straight on an
// order file (loaded into a throwaway store under a throwaway key).

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "tessera/analytics/clv.h"
#include "tessera/analytics/predict.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"
#include "tessera/ingest/loader.h"
#include "tessera/io/mapping.h"

namespace tessera {
namespace {

namespace clv = analytics::clv;
namespace fs = std::filesystem;

struct ClvArgs {
  StoreArgs store;
  std::string input;  // an order file instead of the store
  std::string mapping = "generic";
  std::string model = "bgnbd";
  std::string unit = "weeks";
  std::string calibration_end;  // default: the last purchase day
  std::string holdout_end;      // evaluate: default the last purchase day
  std::string currency;
  std::string format = "table";
  double horizon = 52;  // score: expected purchases over this many time units
  double horizon_months = 12;
  double discount = 0.10;
  std::string output;
};

// The purchase history of the store, or of --input loaded into a temporary store.
StatusOr<analytics::PurchaseHistory> History(const ClvArgs& a) {
  if (a.input.empty()) {
    TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
    return analytics::LoadPurchaseHistory(*store, a.currency);
  }
  // Privacy: the temporary store holds pseudonyms under a key that exists only in memory and
  // is deleted with the directory.
  std::error_code ec;
  const fs::path dir = fs::temp_directory_path() / fmt::format("tessera-clv-{}", ::getpid());
  fs::create_directories(dir, ec);
  auto cleanup = std::shared_ptr<void>(nullptr, [dir](void*) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  });
  TESSERA_ASSIGN_OR_RETURN(auto mapping, io::LoadMapping(a.mapping));
  TESSERA_ASSIGN_OR_RETURN(auto key, privacy::OwnerKey::Generate());
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore((dir / "store.db").string(), true));
  ingest::LoadOptions options;
  options.mapping = std::move(mapping);
  TESSERA_ASSIGN_OR_RETURN(auto summary, ingest::LoadOrders(*store, key, {a.input}, options));
  if (summary.rows_rejected > 0) {
    std::fprintf(stderr, "tessera: %llu rows of %s rejected (see `tessera ingest --rejects`)\n",
                 static_cast<unsigned long long>(summary.rows_rejected), a.input.c_str());
  }
  return analytics::LoadPurchaseHistory(*store, a.currency);
}

StatusOr<clv::TimeUnit> Unit(const std::string& unit) {
  if (unit == "weeks") return clv::TimeUnit::kWeeks;
  if (unit == "days") return clv::TimeUnit::kDays;
  return InvalidArgumentError("--unit must be days or weeks");
}

StatusOr<int32_t> DayOption(const std::string& text, int32_t fallback, std::string_view name) {
  if (text.empty()) return fallback;
  auto day = ParseIsoDate(text);
  if (!day.ok()) return day.status().WithContext(name);
  return static_cast<int32_t>(*day);
}

StatusOr<clv::Fit> FitModel(const std::string& model, std::span<const clv::CustomerSummary> s) {
  if (model == "bgnbd") return clv::FitBgNbd(s);
  if (model == "pnbd") return clv::FitParetoNbd(s);
  if (model == "gg") return clv::FitGammaGamma(s);
  return InvalidArgumentError("--model must be bgnbd, pnbd or gg");
}

nlohmann::ordered_json FitJson(const clv::Fit& fit) {
  nlohmann::ordered_json j;
  j["model"] = clv::ModelName(fit.model);
  j["customers"] = fit.customers;
  j["log_likelihood"] = fit.log_likelihood;
  j["converged"] = fit.converged;
  j["iterations"] = fit.iterations;
  auto& params = j["parameters"] = nlohmann::ordered_json::array();
  for (const auto& p : fit.params) {
    params.push_back({{"name", p.name},
                      {"value", p.value},
                      {"std_error", std::isfinite(p.std_error) ? nlohmann::ordered_json(p.std_error)
                                                               : nlohmann::ordered_json()}});
  }
  return j;
}

std::string FitTable(const clv::Fit& fit, const std::string& unit, int32_t calibration_end) {
  std::string out = fmt::format(
      "{} fitted on {} customers, time in {}, calibration ending {}\n\n  {:<10}{:>14}{:>14}\n",
      clv::ModelName(fit.model), WithThousands(fit.customers), unit, FormatIsoDate(calibration_end),
      "parameter", "estimate", "std. error");
  for (const auto& p : fit.params) {
    out += fmt::format("  {:<10}{:>14.4f}{:>14}\n", p.name, p.value,
                       std::isfinite(p.std_error) ? fmt::format("{:.4f}", p.std_error) : "-");
  }
  out += fmt::format("\n  log-likelihood {:.2f}{}\n", fit.log_likelihood,
                     fit.converged ? "" : "  (NOT converged: treat with care)");
  return out;
}

Status Write(const std::string& path, const std::string& text) {
  TESSERA_ASSIGN_OR_RETURN(auto out, Output::Open(path));
  std::fwrite(text.data(), 1, text.size(), out->file());
  return out->Commit();
}

Status RunFit(const ClvArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto history, History(a));
  TESSERA_ASSIGN_OR_RETURN(auto unit, Unit(a.unit));
  TESSERA_ASSIGN_OR_RETURN(int32_t end,
                           DayOption(a.calibration_end, history.last_day, "--calibration-end"));
  const auto summaries =
      clv::Summarize(history.purchases, end, std::nullopt, unit, history.currency_exponent);
  TESSERA_ASSIGN_OR_RETURN(auto fit, FitModel(a.model, summaries));
  if (a.format == "json") {
    auto j = FitJson(fit);
    j["unit"] = a.unit;
    j["calibration_end"] = FormatIsoDate(end);
    j["currency"] = history.currency;
    return Write(a.output, j.dump(2) + "\n");
  }
  return Write(a.output, FitTable(fit, a.unit, end));
}

Status RunEvaluate(const ClvArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto history, History(a));
  TESSERA_ASSIGN_OR_RETURN(auto unit, Unit(a.unit));
  if (a.model == "gg")
    return InvalidArgumentError("evaluate compares purchase counts: use --model bgnbd or pnbd");
  // Default split: the first half of the history calibrates, the second is the holdout.
  const int32_t middle = history.first_day + (history.last_day - history.first_day) / 2;
  TESSERA_ASSIGN_OR_RETURN(int32_t end, DayOption(a.calibration_end, middle, "--calibration-end"));
  TESSERA_ASSIGN_OR_RETURN(int32_t holdout_end,
                           DayOption(a.holdout_end, history.last_day, "--holdout-end"));
  if (holdout_end <= end)
    return InvalidArgumentError("--holdout-end must come after --calibration-end");
  const auto summaries =
      clv::Summarize(history.purchases, end, holdout_end, unit, history.currency_exponent);
  TESSERA_ASSIGN_OR_RETURN(auto fit, FitModel(a.model, summaries));
  const double holdout_length = (holdout_end - end) / clv::DaysPerUnit(unit);
  TESSERA_ASSIGN_OR_RETURN(auto eval, clv::Evaluate(fit, summaries, holdout_length));
  if (a.format == "json") {
    nlohmann::ordered_json j;
    j["fit"] = FitJson(fit);
    j["unit"] = a.unit;
    j["calibration_end"] = FormatIsoDate(end);
    j["holdout_end"] = FormatIsoDate(holdout_end);
    j["customers"] = eval.customers;
    j["actual_purchases"] = eval.actual_total;
    j["predicted_purchases"] = eval.predicted_total;
    j["mean_absolute_error"] = eval.mean_absolute_error;
    j["root_mean_squared_error"] = eval.root_mean_squared_error;
    auto& groups = j["by_calibration_frequency"] = nlohmann::ordered_json::array();
    for (const auto& g : eval.groups) {
      groups.push_back({{"frequency", g.frequency},
                        {"last_group_and_above", g.frequency == clv::kLastFrequencyGroup},
                        {"customers", g.customers},
                        {"actual", g.actual},
                        {"predicted", g.predicted}});
    }
    return Write(a.output, j.dump(2) + "\n");
  }
  std::string out = FitTable(fit, a.unit, end);
  out += fmt::format(
      "\nHoldout {} .. {} ({:.1f} {}): {} customers\n\n  {:<24}{:>12}{:>12}\n  "
      "{:<24}{:>12.1f}{:>12.1f}\n",
      FormatIsoDate(end + 1), FormatIsoDate(holdout_end), holdout_length, a.unit,
      WithThousands(eval.customers), "repeat purchases", "actual", "predicted", "all customers",
      eval.actual_total, eval.predicted_total);
  for (const auto& g : eval.groups) {
    out += fmt::format("  {:<24}{:>12.1f}{:>12.1f}   ({} customers)\n",
                       fmt::format("calibration x = {}{}", g.frequency,
                                   g.frequency == clv::kLastFrequencyGroup ? "+" : ""),
                       g.actual, g.predicted, WithThousands(g.customers));
  }
  out += fmt::format("\n  per customer: mean absolute error {:.3f}, RMSE {:.3f} purchases\n",
                     eval.mean_absolute_error, eval.root_mean_squared_error);
  return Write(a.output, out);
}

Status RunScore(const ClvArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto history, History(a));
  TESSERA_ASSIGN_OR_RETURN(auto unit, Unit(a.unit));
  if (a.model == "gg")
    return InvalidArgumentError("score needs a purchase-count model: --model bgnbd or pnbd");
  TESSERA_ASSIGN_OR_RETURN(int32_t end,
                           DayOption(a.calibration_end, history.last_day, "--calibration-end"));
  const auto summaries =
      clv::Summarize(history.purchases, end, std::nullopt, unit, history.currency_exponent);
  TESSERA_ASSIGN_OR_RETURN(auto counts, FitModel(a.model, summaries));
  auto spend = clv::FitGammaGamma(summaries);
  if (!spend.ok()) {
    std::fprintf(stderr, "tessera: no spend model (%s); writing purchase predictions only\n",
                 spend.status().message().c_str());
  }
  clv::ScoreOptions options;
  options.horizon = a.horizon;
  options.clv.horizon_months = a.horizon_months;
  options.clv.annual_discount_rate = a.discount;
  options.clv.unit = unit;
  std::vector<clv::Score> scores(summaries.size());
  TESSERA_RETURN_IF_ERROR(
      clv::ScoreAll(counts, spend.ok() ? &*spend : nullptr, summaries, options, scores));
  TESSERA_ASSIGN_OR_RETURN(auto out, Output::Open(a.output));
  const bool csv = a.format != "jsonl";
  std::string buffer;
  auto num = [](double v, int d) {
    return std::isfinite(v) ? fmt::format("{:.{}f}", v, d) : std::string();
  };
  if (csv) {
    buffer +=
        "uuid,frequency,recency,age,monetary,p_alive,expected_purchases,"
        "expected_average_value,predicted_clv\r\n";
  }
  for (size_t i = 0; i < summaries.size(); ++i) {
    const auto& s = summaries[i];
    const auto& sc = scores[i];
    const std::string uuid = history.uuids[s.customer].ToString();
    if (csv) {
      buffer +=
          fmt::format("{},{},{},{},{},{},{},{},{}\r\n", uuid, s.frequency, num(s.recency, 4),
                      num(s.age, 4), num(s.monetary, 2), num(sc.p_alive, 4),
                      num(sc.expected_purchases, 4), num(sc.expected_value, 2), num(sc.clv, 2));
    } else {
      auto value = [&](double v, int d) {
        return std::isfinite(v) ? nlohmann::ordered_json(std::stod(num(v, d)))
                                : nlohmann::ordered_json();
      };
      nlohmann::ordered_json j;
      j["uuid"] = uuid;
      j["frequency"] = s.frequency;
      j["recency"] = value(s.recency, 4);
      j["age"] = value(s.age, 4);
      j["monetary"] = value(s.monetary, 2);
      j["p_alive"] = value(sc.p_alive, 4);
      j["expected_purchases"] = value(sc.expected_purchases, 4);
      j["expected_average_value"] = value(sc.expected_value, 2);
      j["predicted_clv"] = value(sc.clv, 2);
      buffer += j.dump() + "\n";
    }
    if (buffer.size() > (1 << 20)) {
      std::fwrite(buffer.data(), 1, buffer.size(), out->file());
      buffer.clear();
    }
  }
  std::fwrite(buffer.data(), 1, buffer.size(), out->file());
  return out->Commit();
}

void AddCommon(CLI::App* cmd, ClvArgs* a, bool with_output_format, const char* formats) {
  AddStoreOptions(cmd, &a->store, false);
  cmd->add_option("--input", a->input,
                  "Read this order file instead of the store (loaded into a throwaway store)");
  cmd->add_option("--mapping", a->mapping, "Column mapping of --input (preset or TOML file)")
      ->capture_default_str();
  cmd->add_option("--unit", a->unit, "Time unit of the model: days or weeks")
      ->check(CLI::IsMember({"days", "weeks"}))
      ->capture_default_str();
  cmd->add_option("--calibration-end", a->calibration_end,
                  "Last day of the calibration period, YYYY-MM-DD");
  cmd->add_option("--currency", a->currency, "Currency when the data holds several");
  if (with_output_format) {
    cmd->add_option("--format", a->format, formats)->capture_default_str();
  }
  cmd->add_option("--output,-o", a->output, "Write to this file instead of stdout");
}

}  // namespace

void AddClvCommands(CLI::App& app, int* rc) {
  auto* clv_cmd = app.add_subcommand(
      "clv", "Predictive CLV: BG/NBD, Pareto/NBD and Gamma-Gamma models (fit, evaluate, score)");
  clv_cmd->require_subcommand(1);
  clv_cmd->footer(
      "Examples:\n"
      "  tessera clv fit --model bgnbd --calibration-end 1997-09-30 --input CDNOW_sample.txt "
      "--mapping cdnow\n"
      "  tessera clv evaluate --model bgnbd --calibration-end 1997-09-30 --holdout-end 1998-06-30\n"
      "  tessera clv score --model bgnbd --horizon-months 12 --format csv > predictions.csv\n"
      "Purchases are counted per day; time is in weeks unless --unit days.");
  static ClvArgs fit_args, eval_args, score_args;  // one per subcommand (see main.cc)

  auto* fit = clv_cmd->add_subcommand(
      "fit", "Fit a model; print its parameters, standard errors and log-likelihood");
  AddCommon(fit, &fit_args, true, "table or json");
  fit->add_option("--model", fit_args.model, "bgnbd, pnbd or gg")
      ->check(CLI::IsMember({"bgnbd", "pnbd", "gg"}))
      ->capture_default_str();
  fit->callback([rc] {
    const Status s = RunFit(fit_args);
    *rc = s.ok() ? 0 : Fail(s);
  });

  auto* eval = clv_cmd->add_subcommand(
      "evaluate",
      "Fit on the calibration period and compare predicted with actual holdout purchases");
  AddCommon(eval, &eval_args, true, "table or json");
  eval->add_option("--model", eval_args.model, "bgnbd or pnbd")
      ->check(CLI::IsMember({"bgnbd", "pnbd"}))
      ->capture_default_str();
  eval->add_option("--holdout-end", eval_args.holdout_end,
                   "Last day of the holdout period (default: the last purchase)");
  eval->callback([rc] {
    const Status s = RunEvaluate(eval_args);
    *rc = s.ok() ? 0 : Fail(s);
  });

  auto* score = clv_cmd->add_subcommand(
      "score", "Per-customer P(alive), expected purchases and predicted CLV (CSV or JSON Lines)");
  score_args.format = "csv";
  AddCommon(score, &score_args, true, "csv or jsonl");
  score->add_option("--model", score_args.model, "bgnbd or pnbd")
      ->check(CLI::IsMember({"bgnbd", "pnbd"}))
      ->capture_default_str();
  score->add_option("--horizon", score_args.horizon, "Expected purchases over this many time units")
      ->capture_default_str();
  score->add_option("--horizon-months", score_args.horizon_months, "CLV horizon in months")
      ->capture_default_str();
  score->add_option("--discount", score_args.discount, "Annual discount rate of the CLV")
      ->capture_default_str();
  score->callback([rc] {
    const Status s = RunScore(score_args);
    *rc = s.ok() ? 0 : Fail(s);
  });
}

}  // namespace tessera
