#pragma once

// Predictive customer lifetime value: the BG/NBD (Fader, Hardie & Lee 2005) and Pareto/NBD
// (Schmittlein, Morrison & Colombo 1987) models of repeat-purchase counts, and the
// Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader &
// Hardie's note "The Gamma-Gamma Model of Monetary Value").
//
// The pipeline is:
//   Summarize(purchases)          -> one CustomerSummary per customer, in the models' terms
//   FitBgNbd / FitParetoNbd       -> maximum-likelihood parameters of the purchase-count model
//   FitGammaGamma                 -> parameters of the spend model (repeat buyers only)
//   ProbabilityAlive, ExpectedPurchases, ExpectedAverageValue, PredictedClv, ScoreAll
//   Evaluate                      -> predicted vs actual holdout purchases
//
// Time is measured in a unit the caller picks (days or weeks); every time-like quantity
// (recency, age, horizons, the alpha and beta parameters) is in that unit. Purchases are
// counted per day: several purchases on one day are one transaction whose amount is the sum.
//
// Fits are computed in log-space (log-likelihoods built from lgamma and log-sum-exp), so
// customers with hundreds of purchases neither overflow nor lose the likelihood. Parameters
// are optimised over their logarithms with GSL's Nelder-Mead simplex; standard errors come
// from the finite-difference Hessian of the negative log-likelihood at the optimum.
//
// Privacy: the inputs are pseudonymous customer numbers, days and amounts; the outputs are
// per-customer numbers keyed by the same pseudonyms. Error messages name row positions and
// counts, never customer numbers or amounts.
//
// GSL's default error handler aborts the process; the first fit or prediction switches it off
// (gsl_set_error_handler_off, once per process) and checks GSL's return codes instead.
//
// Every function here is thread-safe: none keeps state between calls (ScoreAll and the fits
// start their own worker threads and join them before returning).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"

namespace tessera::analytics::clv {

enum class TimeUnit { kDays, kWeeks };

// 1 for days, 7 for weeks.
double DaysPerUnit(TimeUnit unit);

// One order: `day` counts days since 1970-01-01, `amount_minor` is in minor currency units
// (cents for a currency with exponent 2).
struct Purchase {
  uint32_t customer = 0;
  int32_t day = 0;
  int64_t amount_minor = 0;
};

// A customer in the models' own terms. Times are in the summary's TimeUnit.
struct CustomerSummary {
  uint32_t customer = 0;
  double frequency = 0;  // x: purchase days in the calibration period after the first one
  double recency = 0;    // t_x: time from the first purchase to the last repeat purchase
                         // (0 when frequency is 0)
  double age = 0;        // T: time from the first purchase to the end of calibration
  double monetary = 0;   // mean value of the repeat purchase days, in major units (0 if x=0)
  double holdout_purchases = 0;  // purchase days in the holdout period
  double holdout_value = 0;      // their total value, in major units
};

// Builds one summary per customer whose first purchase is on or before
// `calibration_end_day`, sorted by customer number. The calibration period runs from each
// customer's first purchase to `calibration_end_day` (inclusive); the holdout period, when
// `holdout_end_day` is given, from the day after `calibration_end_day` to `holdout_end_day`
// (inclusive). Purchases after the holdout end are ignored. `currency_exponent` (e.g. 2)
// turns minor units into major ones. Age and recency are (day - first day) / DaysPerUnit, as
// in Fader/Hardie's CDNOW data and lifetimes' summary_data_from_transaction_data.
// Purchases may come in any order.
std::vector<CustomerSummary> Summarize(std::span<const Purchase> purchases,
                                       int32_t calibration_end_day,
                                       std::optional<int32_t> holdout_end_day, TimeUnit unit,
                                       int currency_exponent);

enum class Model { kBgNbd, kParetoNbd, kGammaGamma };

// "bg_nbd", "pareto_nbd", "gamma_gamma".
std::string_view ModelName(Model model);

struct Parameter {
  std::string name;
  double value = 0;
  // Asymptotic standard error (inverse Hessian of the negative log-likelihood, delta method
  // from the log-parameters the fit works in); NaN when the Hessian is not positive definite
  // or the fit was built from given parameters.
  double std_error = std::numeric_limits<double>::quiet_NaN();
};

// A fitted (or given) model. Parameter order and names:
//   kBgNbd:      r, alpha, a, b
//   kParetoNbd:  r, alpha, s, beta
//   kGammaGamma: p, q, gamma
struct Fit {
  Model model = Model::kBgNbd;
  std::vector<Parameter> params;
  double log_likelihood = 0;  // at the parameters, summed over the fitted customers
  size_t customers = 0;       // customers the fit used
  int iterations = 0;         // simplex iterations, over all restarts
  bool converged = false;

  // The value of the parameter called `name`; NaN if there is none.
  double Value(std::string_view name) const;
};

struct FitOptions {
  int max_iterations = 4000;  // simplex iterations per restart
  int threads = 0;            // 0: one per hardware thread
};

// Maximum-likelihood fits. Errors:
//   kInvalidArgument    no customers, a single customer, no repeat buyers, a summary that
//                       is not finite or has recency outside [0, age] or negative frequency;
//                       for FitGammaGamma also no repeat buyer with a positive mean value.
//   kFailedPrecondition the optimiser did not converge or ran to a parameter boundary (the
//                       message says after how many iterations and what to try).
//   kInternal           a GSL failure.
StatusOr<Fit> FitBgNbd(std::span<const CustomerSummary> customers, const FitOptions& options = {});
StatusOr<Fit> FitParetoNbd(std::span<const CustomerSummary> customers,
                           const FitOptions& options = {});
// Uses only customers with frequency > 0 and monetary > 0 (Fit::customers says how many).
StatusOr<Fit> FitGammaGamma(std::span<const CustomerSummary> customers,
                            const FitOptions& options = {});

// A model with given parameters, in the order listed at Fit (e.g. published estimates).
// kInvalidArgument if the count is wrong or a value is not finite and positive.
StatusOr<Fit> FitFromParameters(Model model, std::span<const double> values);

// The log-likelihood of `customers` under `model` (for Gamma-Gamma, over the customers with
// frequency > 0 and monetary > 0).
double LogLikelihood(const Fit& model, std::span<const CustomerSummary> customers);

// Per-customer predictions. `counts` is a BG/NBD or Pareto/NBD fit, `spend` a Gamma-Gamma
// fit; passing another kind is a programmer error (asserts; NaN in release builds).

// P(the customer is still active at the end of calibration | x, t_x, T).
double ProbabilityAlive(const Fit& counts, const CustomerSummary& customer);

// E[purchases in (T, T + horizon] | x, t_x, T]; `horizon` in the summary's time unit.
double ExpectedPurchases(const Fit& counts, const CustomerSummary& customer, double horizon);

// E[mean transaction value | x, mean value] in major units: a weighted average of the
// population mean and the customer's own mean. For x = 0 (or a mean value <= 0, which the
// fit leaves out) it is the population mean p * gamma / (q - 1) (infinite when q <= 1).
double ExpectedAverageValue(const Fit& spend, const CustomerSummary& customer);

struct ClvOptions {
  double horizon_months = 12;
  double annual_discount_rate = 0.10;
  TimeUnit unit = TimeUnit::kWeeks;  // the unit of the summaries and of the fit
};

// Discounted value of the purchases expected over the next `horizon_months` months:
//   sum_{m=1..M} E[value] * (E[X(m months)] - E[X(m-1 months)]) / (1 + d)^m,
// with monthly rate d = (1 + annual rate)^(1/12) - 1 and a month of 365.25/12 days. This is
// lifetimes' customer_lifetime_value with an annual rather than a monthly rate and an exact
// month length. A fractional last month is counted as a partial step.
double PredictedClv(const Fit& counts, const Fit& spend, const CustomerSummary& customer,
                    const ClvOptions& options);

struct Score {
  double p_alive = 0;
  double expected_purchases = 0;  // over ScoreOptions::horizon
  double expected_value = 0;      // ExpectedAverageValue; NaN without a spend model
  double clv = 0;                 // PredictedClv; NaN without a spend model
};

struct ScoreOptions {
  double horizon = 52;  // for expected_purchases, in the summaries' time unit
  ClvOptions clv;
  int threads = 0;  // 0: one per hardware thread
};

// Scores every customer into `out` (same size as `customers`), splitting the work over
// threads; `spend` may be null, then expected_value and clv are NaN. Gives the same numbers
// as the per-customer functions. Errors: kInvalidArgument if the sizes differ or a model is
// of the wrong kind.
Status ScoreAll(const Fit& counts, const Fit* spend, std::span<const CustomerSummary> customers,
                const ScoreOptions& options, std::span<Score> out);

// Holdout purchases grouped by the number of calibration repeat purchases, as in Figure 4
// of Fader, Hardie & Lee (2005). Group k holds customers with x = k; the last group holds
// x >= kLastFrequencyGroup.
inline constexpr int kLastFrequencyGroup = 7;
struct FrequencyGroup {
  int frequency = 0;
  size_t customers = 0;
  double actual = 0;     // total holdout purchases of the group
  double predicted = 0;  // total conditional expectation of the group
};

struct Evaluation {
  size_t customers = 0;
  double holdout_length = 0;
  double actual_total = 0;
  double predicted_total = 0;
  std::vector<FrequencyGroup> groups;  // kLastFrequencyGroup + 1 entries, by frequency
  double mean_absolute_error = 0;      // per customer, purchases
  double root_mean_squared_error = 0;  // per customer, purchases
};

// Predicts each customer's holdout purchases from the calibration summary and compares them
// with holdout_purchases. Errors: kInvalidArgument for no customers, a non-positive holdout
// length or a model that does not predict purchase counts.
StatusOr<Evaluation> Evaluate(const Fit& counts, std::span<const CustomerSummary> customers,
                              double holdout_length);

}  // namespace tessera::analytics::clv
