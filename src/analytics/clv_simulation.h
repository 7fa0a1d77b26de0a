#pragma once

// Customers simulated from the purchase models, for the tests that recover known parameters
// (clv_test.cc) and the benchmarks that fit and score them (bench/clv_benchmark.cc). Internal
// to the analytics module.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tessera/analytics/clv.h"

namespace tessera::analytics::clv {

// Portable sampling: std::mt19937_64's output sequence is fixed by the standard, the
// distributions below are ours (std's distributions differ between library vendors).
class Sampler {
 public:
  explicit Sampler(uint64_t seed) : bits_(seed) {}
  double Uniform() { return (static_cast<double>(bits_() >> 11) + 0.5) * 0x1.0p-53; }
  double Exponential(double rate) { return -std::log(Uniform()) / rate; }
  double Normal() { return std::sqrt(-2 * std::log(Uniform())) * std::cos(2 * M_PI * Uniform()); }
  // Marsaglia & Tsang (2000); shape < 1 via the boost G(k) = G(k+1) U^(1/k).
  double Gamma(double shape, double rate) {
    if (shape < 1) return Gamma(shape + 1, rate) * std::pow(Uniform(), 1 / shape);
    const double d = shape - 1.0 / 3, c = 1 / std::sqrt(9 * d);
    while (true) {
      const double z = Normal(), v = std::pow(1 + c * z, 3);
      if (v <= 0) continue;
      if (std::log(Uniform()) < 0.5 * z * z + d - d * v + d * std::log(v)) return d * v / rate;
    }
  }
  double Beta(double a, double b) {
    const double g = Gamma(a, 1);
    return g / (g + Gamma(b, 1));
  }

 private:
  std::mt19937_64 bits_;
};

// Ages spread over a quarter, as for a cohort acquired over three months and observed to
// the end of week 39. Times are rounded to whole days, as a summary of daily data has them:
// the fits then see few distinct (x, t_x, T) (which keeps the test fast, notably under the
// sanitizers), and half a day of rounding is far below what 20,000 customers can resolve.
inline double OnDayGrid(double weeks) { return std::round(weeks * 7) / 7; }
inline double SimulatedAge(Sampler& rng) { return OnDayGrid(26 + 13 * rng.Uniform()); }

inline std::vector<CustomerSummary> SimulateBgNbd(size_t n, double r, double alpha, double a,
                                                  double b, uint64_t seed) {
  Sampler rng(seed);
  std::vector<CustomerSummary> out;
  for (size_t i = 0; i < n; ++i) {
    const double lambda = rng.Gamma(r, alpha), p = rng.Beta(a, b);
    CustomerSummary c;
    c.age = SimulatedAge(rng);
    double t = 0;
    while (true) {
      t += rng.Exponential(lambda);
      if (t > c.age) break;
      c.frequency += 1;
      c.recency = std::min(OnDayGrid(t), c.age);
      if (rng.Uniform() < p) break;  // drops out right after a repeat purchase
    }
    out.push_back(c);
  }
  return out;
}

inline std::vector<CustomerSummary> SimulateParetoNbd(size_t n, double r, double alpha, double s,
                                                      double beta, uint64_t seed) {
  Sampler rng(seed);
  std::vector<CustomerSummary> out;
  for (size_t i = 0; i < n; ++i) {
    const double lambda = rng.Gamma(r, alpha), mu = rng.Gamma(s, beta);
    CustomerSummary c;
    c.age = SimulatedAge(rng);
    const double end = std::min(c.age, rng.Exponential(mu));
    for (double t = rng.Exponential(lambda); t <= end; t += rng.Exponential(lambda)) {
      c.frequency += 1;
      c.recency = std::min(OnDayGrid(t), c.age);
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace tessera::analytics::clv
