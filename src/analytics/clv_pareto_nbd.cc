// Pareto/NBD (Schmittlein, Morrison & Colombo 1987) in the form of Fader & Hardie's note
// "A Note on Deriving the Pareto/NBD Model and Related Expressions" (2005):
//   L = G(r+x) alpha^r beta^s / G(r) * [ (alpha+T)^-(r+x) (beta+T)^-s
//                                        + s * (I(t_x) - I(T)) ],
//   I(u) = int_u^inf (alpha+t)^-(r+x) (beta+t)^-(s+1) dt
//        = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+u)) / ((r+s+x) (alpha+u)^(r+s+x))
// for alpha >= beta, and the same with alpha <-> beta, s+1 -> r+x otherwise (the note's A0
// equals (r+s+x) (I(t_x) - I(T))). The argument of 2F1 then lies in [0, 1).

#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_gamma.h>

#include <cmath>
#include <memory>
#include <vector>

#include "analytics/clv_internal.h"
#include "tessera/analytics/clv.h"

namespace tessera::analytics::clv {
namespace internal {
namespace {

struct TailIntegrand {
  double alpha, beta, m, n, u;
};

// The integrand of I(u) divided by its value at u, so that it lies in (0, 1] whatever the
// size of (alpha+u)^-(r+x).
double ScaledIntegrand(double t, void* arg) {
  const auto* p = static_cast<const TailIntegrand*>(arg);
  return std::exp(-p->m * std::log1p((t - p->u) / (p->alpha + p->u)) -
                  p->n * std::log1p((t - p->u) / (p->beta + p->u)));
}

struct WorkspaceDeleter {
  void operator()(gsl_integration_workspace* w) const { gsl_integration_workspace_free(w); }
};

double LogTailByQuadrature(double r, double alpha, double s, double beta, double x, double u) {
  TailIntegrand p{alpha, beta, r + x, s + 1, u};
  std::unique_ptr<gsl_integration_workspace, WorkspaceDeleter> w(
      gsl_integration_workspace_alloc(256));
  if (!w) return kNaN;
  gsl_function f{&ScaledIntegrand, &p};
  double value = 0, error = 0;
  if (gsl_integration_qagiu(&f, u, 0, 1e-12, 256, w.get(), &value, &error) != GSL_SUCCESS &&
      !(value > 0 && error < 1e-8 * value)) {
    return kNaN;
  }
  return std::log(value) - p.m * std::log(alpha + u) - p.n * std::log(beta + u);
}

}  // namespace

double ParetoLogTail(double r, double alpha, double s, double beta, double x, double u) {
  const double a = r + s + x;
  const bool alpha_larger = alpha >= beta;
  const double hi = alpha_larger ? alpha : beta;
  const double lo = alpha_larger ? beta : alpha;
  const double b = alpha_larger ? s + 1 : r + x;
  const double z = (hi - lo) / (hi + u);
  if (z > 0.999) return LogTailByQuadrature(r, alpha, s, beta, x, u);
  // Euler's transformation 2F1(a, b; a+1; z) = (1-z)^(1-b) 2F1(1, a+1-b; a+1; z): the new
  // series has positive terms whose ratios (a+1-b+n)/(a+1+n) z stay below z, so it neither
  // overflows for large x nor cancels, and the rest after a term is below term * z/(1-z).
  const double d = a + 1 - b, c = a + 1;
  double term = 1, sum = 1;
  for (int n = 0; n < 100000; ++n) {
    term *= (d + n) / (c + n) * z;
    sum += term;
    if (term * z <= 1e-17 * (1 - z) * sum) break;
  }
  const double log_hi = std::log(hi + u);
  const double log1mz = std::log(lo + u) - log_hi;
  return (1 - b) * log1mz + std::log(sum) - std::log(a) - a * log_hi;
}

double ParetoNbdLogLikelihood(const CountData& d, const double* params, int threads) {
  const double r = params[0], alpha = params[1], s = params[2], beta = params[3];
  const size_t nx = d.x_values.size(), nt = d.t_values.size();
  std::vector<double> base(nx);
  const double common = -gsl_sf_lngamma(r) + r * std::log(alpha) + s * std::log(beta);
  for (size_t k = 0; k < nx; ++k) base[k] = common + gsl_sf_lngamma(r + d.x_values[k]);
  std::vector<double> log_a(nt), log_b(nt);
  ParallelFor(nt, threads, [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) {
      log_a[j] = std::log(alpha + d.t_values[j]);
      log_b[j] = std::log(beta + d.t_values[j]);
    }
  });
  // The hypergeometric terms depend on (x, time) only; real data has far fewer such pairs
  // than customers, so they are computed once per pair.
  std::vector<double> log_tail(d.pair_x.size());
  ParallelFor(log_tail.size(), threads, [&](size_t begin, size_t end) {
    for (size_t p = begin; p < end; ++p) {
      log_tail[p] =
          ParetoLogTail(r, alpha, s, beta, d.x_values[d.pair_x[p]], d.t_values[d.pair_t[p]]);
    }
  });
  const double log_s = std::log(s);
  return ParallelBlockedSum(d.rows(), threads, [&](size_t i) {
    const uint32_t k = d.ix[i];
    const double x = d.x_values[k];
    const double alive_term = -(r + x) * log_a[d.iage[i]] - s * log_b[d.iage[i]];
    const double dead_term =
        log_s + LogSubExp(log_tail[d.pair_of_recency[i]], log_tail[d.pair_of_age[i]]);
    return d.weight[i] * (base[k] + LogAddExp(alive_term, dead_term));
  });
}

}  // namespace internal

StatusOr<Fit> FitParetoNbd(std::span<const CustomerSummary> customers, const FitOptions& options) {
  internal::DisableGslAbort();
  TESSERA_ASSIGN_OR_RETURN(internal::CountData data,
                           internal::PrepareCounts(customers, true, ModelName(Model::kParetoNbd)));
  const int threads = internal::ThreadCount(options.threads);
  std::function<double(const double*)> neg_ll = [&](const double* p) {
    return -internal::ParetoNbdLogLikelihood(data, p, threads);
  };
  const double mean_age = data.total_age / static_cast<double>(data.customers);
  const double alpha0 = std::clamp(data.total_age / std::max(data.total_frequency, 1.0), 1e-3, 1e6);
  const double beta0 = std::clamp(mean_age, 1e-3, 1e6);
  TESSERA_ASSIGN_OR_RETURN(
      internal::Optimum opt,
      internal::MinimizeOverLogs(neg_ll, {1.0, alpha0, 1.0, beta0}, options, Model::kParetoNbd));
  return internal::MakeFit(Model::kParetoNbd, opt, data.customers);
}

}  // namespace tessera::analytics::clv
