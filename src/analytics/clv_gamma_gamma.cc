// Gamma-Gamma spend model (Fader & Hardie, "The Gamma-Gamma Model of Monetary Value", 2013;
// Fader, Hardie & Lee 2005, "RFM and CLV"). A customer's x repeat transactions have values
// z_i ~ Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers; the likelihood of the mean
// m = mean(z_i) is
//   f(m | x) = G(px+q) / (G(px) G(q)) * gamma^q m^(px-1) x^(px) / (gamma + m x)^(px+q).

#include <gsl/gsl_sf_gamma.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "analytics/clv_internal.h"
#include "tessera/analytics/clv.h"

namespace tessera::analytics::clv {
namespace internal {
namespace {

// Distinct (x, m) rows with weights and a table of the distinct x.
struct SpendData {
  std::vector<double> x_values;
  std::vector<uint32_t> ix;
  std::vector<double> m, log_m, weight;
  size_t customers = 0;
  double total_m = 0;
};

bool UsableForSpend(const CustomerSummary& c) {
  return c.frequency > 0 && c.monetary > 0 && std::isfinite(c.frequency) &&
         std::isfinite(c.monetary);
}

SpendData PrepareSpend(std::span<const CustomerSummary> customers) {
  SpendData d;
  std::vector<std::pair<double, double>> rows;
  for (const CustomerSummary& c : customers) {
    if (!UsableForSpend(c)) continue;
    rows.emplace_back(c.frequency, c.monetary);
    d.x_values.push_back(c.frequency);
    d.total_m += c.monetary;
  }
  d.customers = rows.size();
  std::sort(rows.begin(), rows.end());
  std::sort(d.x_values.begin(), d.x_values.end());
  d.x_values.erase(std::unique(d.x_values.begin(), d.x_values.end()), d.x_values.end());
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[i]) ++j;
    d.ix.push_back(static_cast<uint32_t>(
        std::lower_bound(d.x_values.begin(), d.x_values.end(), rows[i].first) -
        d.x_values.begin()));
    d.m.push_back(rows[i].second);
    d.log_m.push_back(std::log(rows[i].second));
    d.weight.push_back(static_cast<double>(j - i));
    i = j;
  }
  return d;
}

double SpendLogLikelihood(const SpendData& d, const double* params, int threads) {
  const double p = params[0], q = params[1], gamma = params[2];
  const size_t nx = d.x_values.size();
  std::vector<double> base(nx);
  const double common = -gsl_sf_lngamma(q) + q * std::log(gamma);
  for (size_t k = 0; k < nx; ++k) {
    const double x = d.x_values[k];
    base[k] = common + gsl_sf_lngamma(p * x + q) - gsl_sf_lngamma(p * x) + p * x * std::log(x);
  }
  return ParallelBlockedSum(d.m.size(), threads, [&](size_t i) {
    const uint32_t k = d.ix[i];
    const double px = p * d.x_values[k];
    return d.weight[i] *
           (base[k] + (px - 1) * d.log_m[i] - (px + q) * std::log(gamma + d.m[i] * d.x_values[k]));
  });
}

}  // namespace

double GammaGammaLogLikelihood(std::span<const CustomerSummary> customers, const double* params) {
  return SpendLogLikelihood(PrepareSpend(customers), params, ThreadCount(0));
}

}  // namespace internal

StatusOr<Fit> FitGammaGamma(std::span<const CustomerSummary> customers, const FitOptions& options) {
  internal::DisableGslAbort();
  const std::string_view model = ModelName(Model::kGammaGamma);
  if (customers.empty()) return InvalidArgumentError("{}: no customers to fit", model);
  const size_t repeat_buyers =
      static_cast<size_t>(std::count_if(customers.begin(), customers.end(),
                                        [](const CustomerSummary& c) { return c.frequency > 0; }));
  if (repeat_buyers == 0) {
    return InvalidArgumentError(
        "{}: no repeat buyers among {} customers; the spend model is fitted on the values of "
        "repeat purchases",
        model, customers.size());
  }
  internal::SpendData data = internal::PrepareSpend(customers);
  if (data.customers == 0) {
    return InvalidArgumentError(
        "{}: none of the {} repeat buyers has a positive mean repeat purchase value", model,
        repeat_buyers);
  }
  if (data.customers < 2) {
    return InvalidArgumentError(
        "{}: a single repeat buyer with a positive value cannot identify the spend "
        "distribution",
        model);
  }
  const int threads = internal::ThreadCount(options.threads);
  std::function<double(const double*)> neg_ll = [&](const double* p) {
    return -internal::SpendLogLikelihood(data, p, threads);
  };
  // Start at p = 1, q = 2, where the population mean p*gamma/(q-1) is gamma: the mean of the
  // observed means.
  const double gamma0 = data.total_m / static_cast<double>(data.customers);
  TESSERA_ASSIGN_OR_RETURN(
      internal::Optimum opt,
      internal::MinimizeOverLogs(neg_ll, {1.0, 2.0, gamma0}, options, Model::kGammaGamma));
  return internal::MakeFit(Model::kGammaGamma, opt, data.customers);
}

double ExpectedAverageValue(const Fit& spend, const CustomerSummary& customer) {
  assert(spend.model == Model::kGammaGamma && spend.params.size() == 3);
  if (spend.model != Model::kGammaGamma || spend.params.size() != 3) return internal::kNaN;
  const double p = spend.params[0].value, q = spend.params[1].value, gamma = spend.params[2].value;
  const double x = customer.frequency, m = customer.monetary;
  if (!(x > 0 && m > 0)) return q > 1 ? p * gamma / (q - 1) : internal::kInf;
  return p * (gamma + m * x) / (p * x + q - 1);
}

}  // namespace tessera::analytics::clv
