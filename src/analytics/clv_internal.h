#pragma once

// Shared machinery of the CLV models (clv_*.cc): input preparation, the log-parameter
// optimiser with Hessian-based standard errors, a parallel sum, and the series the
// predictions need. Not part of the public API.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tessera/analytics/clv.h"
#include "tessera/common/status.h"

namespace tessera::analytics::clv::internal {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int ThreadCount(int requested);

// log(exp(a) + exp(b)) without overflow; either may be -inf.
inline double LogAddExp(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == -kInf) return a;
  return a + std::log1p(std::exp(b - a));
}

// log(exp(a) - exp(b)) for a >= b; -inf when they are equal.
inline double LogSubExp(double a, double b) {
  if (b >= a) return -kInf;
  return a + std::log1p(-std::exp(b - a));
}

// (1 - exp(-eps * l)) / eps with its limit l at eps = 0.
inline double OneMinusExpOver(double eps, double l) {
  return eps == 0 ? l : -std::expm1(-eps * l) / eps;
}

// Sums f(begin, end) over [0, n) split into contiguous chunks, one per thread. Small inputs
// stay on the calling thread: starting threads costs more than they would save.
template <typename F>
double ParallelSum(size_t n, int threads, F&& f) {
  constexpr size_t kMinPerThread = 16384;
  size_t t = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n / kMinPerThread);
  if (t <= 1) return f(size_t{0}, n);
  std::vector<double> partial(t, 0.0);
  std::vector<std::thread> workers;
  workers.reserve(t - 1);
  const size_t chunk = (n + t - 1) / t;
  for (size_t i = 1; i < t; ++i) {
    workers.emplace_back(
        [&, i] { partial[i] = f(std::min(n, i * chunk), std::min(n, (i + 1) * chunk)); });
  }
  partial[0] = f(size_t{0}, std::min(n, chunk));
  for (auto& w : workers) w.join();
  double sum = 0;
  for (double p : partial) sum += p;
  return sum;
}

// The sum of term(i) over 0 <= i < n (ParallelSum), each thread adding blocks of 1024 terms
// first: the rounding error of a million-term sum stays near that of a thousand-term one,
// which the finite-difference Hessian of the fits needs.
template <typename Term>
double ParallelBlockedSum(size_t n, int threads, Term&& term) {
  return ParallelSum(n, threads, [&](size_t begin, size_t end) {
    double total = 0;
    for (size_t block = begin; block < end; block += 1024) {
      double sum = 0;
      const size_t stop = std::min(end, block + 1024);
      for (size_t i = block; i < stop; ++i) sum += term(i);
      total += sum;
    }
    return total;
  });
}

// Calls f(begin, end) over [0, n) split into one chunk per thread.
void ParallelFor(size_t n, int threads, const std::function<void(size_t, size_t)>& f);

// Distinct (x, t_x, T) rows with weights, with x and the times replaced by indices into
// tables of their distinct values, so that an evaluation computes each lgamma once per
// distinct x and each log(alpha + t) once per distinct time. Pareto/NBD also needs a table
// of the distinct (x, time) pairs its hypergeometric terms depend on.
struct CountData {
  std::vector<double> x_values;  // distinct frequencies
  std::vector<double> t_values;  // distinct times (recencies and ages)
  std::vector<double> weight;    // customers per row
  std::vector<uint32_t> ix, itx, iage;
  // (x index, time index) pairs and, per row, the pairs of (x, t_x) and (x, T).
  std::vector<uint32_t> pair_x, pair_t;
  std::vector<uint32_t> pair_of_recency, pair_of_age;
  size_t customers = 0;
  size_t repeat_buyers = 0;
  double total_frequency = 0;
  double total_age = 0;
  size_t rows() const { return weight.size(); }
};

StatusOr<CountData> PrepareCounts(std::span<const CustomerSummary> customers, bool with_pairs,
                                  std::string_view model);

// Minimises a negative log-likelihood over log-parameters with Nelder-Mead (restarted until
// a restart no longer improves), then computes the Hessian by central differences for the
// standard errors. `neg_ll` may return +inf (or NaN) for parameters it cannot evaluate.
struct Optimum {
  std::vector<double> values;      // natural scale
  std::vector<double> std_errors;  // natural scale (delta method), NaN if not available
  double neg_ll = 0;
  int iterations = 0;
  bool converged = false;
};
StatusOr<Optimum> MinimizeOverLogs(const std::function<double(const double*)>& neg_ll,
                                   std::vector<double> start, const FitOptions& options,
                                   Model model);

Fit MakeFit(Model model, const Optimum& optimum, size_t customers);

// Turns GSL's abort-on-error handler off, once per process, so that GSL failures come back
// as return codes that the callers turn into Status values.
void DisableGslAbort();

// Log-likelihoods over prepared data; `params` in the order of Fit.
double BgNbdLogLikelihood(const CountData& data, const double* params, int threads);
double ParetoNbdLogLikelihood(const CountData& data, const double* params, int threads);
double GammaGammaLogLikelihood(std::span<const CustomerSummary> customers, const double* params);

// Checks that a summary is usable by the count models; names the row, never the customer.
Status ValidateSummary(const CustomerSummary& c, size_t row);

// Log of the Pareto/NBD integral I(u) = int_u^inf (alpha+t)^-(r+x) (beta+t)^-(s+1) dt.
double ParetoLogTail(double r, double alpha, double s, double beta, double x, double u);

// The factor of the BG/NBD conditional expectation that depends on (x, T, t) only:
//   [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] / (a-1).
double BgNbdHorizonFactor(double r, double alpha, double a, double b, double x, double age,
                          double t);

}  // namespace tessera::analytics::clv::internal
