// BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"). Individual
// likelihood, eq. (6) of the paper, in logs:
//   ln L = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x) - ln B(a, b)
//          + ln[ (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) ]
// where the last bracket is a log-sum-exp of its two terms.

#include <gsl/gsl_errno.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_sf_hyperg.h>

#include <cmath>
#include <vector>

#include "analytics/clv_internal.h"
#include "tessera/analytics/clv.h"

namespace tessera::analytics::clv {
namespace internal {

double BgNbdLogLikelihood(const CountData& d, const double* params, int threads) {
  const double r = params[0], alpha = params[1], a = params[2], b = params[3];
  const size_t nx = d.x_values.size();
  // Everything that depends on x alone: ln G and ln B terms, and the second term's weight.
  std::vector<double> base(nx), second(nx), exponent(nx);
  const double common = -gsl_sf_lngamma(r) + r * std::log(alpha) - gsl_sf_lnbeta(a, b);
  for (size_t k = 0; k < nx; ++k) {
    const double x = d.x_values[k];
    base[k] = common + gsl_sf_lngamma(r + x) + gsl_sf_lnbeta(a, b + x);
    second[k] = x > 0 ? std::log(a) - std::log(b + x - 1) : -kInf;
    exponent[k] = r + x;
  }
  // Summaries of daily data have a few hundred distinct times; data with continuous times
  // has one or two per customer, so the table is filled in parallel too.
  std::vector<double> log_t(d.t_values.size());
  ParallelFor(log_t.size(), threads, [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) log_t[j] = std::log(alpha + d.t_values[j]);
  });

  return ParallelBlockedSum(d.rows(), threads, [&](size_t i) {
    const uint32_t k = d.ix[i];
    const double e = exponent[k];
    const double t1 = -e * log_t[d.iage[i]];
    const double t2 = second[k] - e * log_t[d.itx[i]];
    return d.weight[i] * (base[k] + LogAddExp(t1, t2));
  });
}

double BgNbdHorizonFactor(double r, double alpha, double a, double b, double x, double age,
                          double t) {
  if (t <= 0) return 0;
  // Euler's transformation turns (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) into
  // (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): no parameter grows with x, so customers with
  // hundreds of purchases neither overflow nor need many terms. Writing
  // 2F1(A, eps; C; z) = 1 + eps * S with eps = a-1 gives
  //   [1 - (1-z)^eps (1 + eps S)] / eps = (1 - (1-z)^eps) / eps - (1-z)^eps S,
  // which stays exact as a -> 1, where the paper's form divides 0 by 0.
  const double z = t / (alpha + age + t);
  const double eps = a - 1;
  const double big_a = a + b - 1 - r;
  const double c = a + b + x - 1;
  const double log1mz = std::log1p(-z);
  double term = big_a * z / c;  // n = 1 term of S
  double s = term;
  bool done = false;
  for (int n = 1; n < 200000; ++n) {
    const double ratio = (big_a + n) * (eps + n) / ((c + n) * (n + 1)) * z;
    term *= ratio;
    s += term;
    // Successive ratios tend to z monotonically, so max(|ratio|, z) bounds the rest of them
    // and the tail by a geometric series.
    const double q = std::max(std::abs(ratio), z);
    if (q < 1 && std::abs(term) * q <= 1e-16 * (1 - q) * std::abs(s)) {
      done = true;
      break;
    }
  }
  if (!done) {
    // Only for z within ~1e-4 of 1 (horizons thousands of times alpha + T): let GSL try.
    gsl_sf_result res;
    if (gsl_sf_hyperg_2F1_e(big_a, eps, c, z, &res) != GSL_SUCCESS) return kNaN;
    if (eps == 0) return -log1mz;
    return (1 - std::exp(eps * log1mz) * res.val) / eps;
  }
  const double pow1mz = std::exp(eps * log1mz);
  return OneMinusExpOver(eps, -log1mz) - pow1mz * s;
}

}  // namespace internal

StatusOr<Fit> FitBgNbd(std::span<const CustomerSummary> customers, const FitOptions& options) {
  internal::DisableGslAbort();
  TESSERA_ASSIGN_OR_RETURN(internal::CountData data,
                           internal::PrepareCounts(customers, false, ModelName(Model::kBgNbd)));
  const int threads = internal::ThreadCount(options.threads);
  std::function<double(const double*)> neg_ll = [&](const double* p) {
    return -internal::BgNbdLogLikelihood(data, p, threads);
  };
  // Start where the purchase rate r/alpha matches the observed repeat rate, with a flat
  // Beta(1, 1) for the dropout probability.
  const double alpha0 = std::clamp(data.total_age / std::max(data.total_frequency, 1.0), 1e-3, 1e6);
  TESSERA_ASSIGN_OR_RETURN(
      internal::Optimum opt,
      internal::MinimizeOverLogs(neg_ll, {1.0, alpha0, 1.0, 1.0}, options, Model::kBgNbd));
  return internal::MakeFit(Model::kBgNbd, opt, data.customers);
}

}  // namespace tessera::analytics::clv
