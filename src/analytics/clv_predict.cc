// Per-customer predictions. Both purchase models give the conditional expectation in the
// form
//   E[X(T, T+t) | x, t_x, T] = P(alive | x, t_x, T) * Scale(x, T) * Horizon(x, T, t)
//   BG/NBD (FHL 2005, eq. 10):  Scale = (a+b+x-1),
//                               Horizon = [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(...)]/(a-1)
//   Pareto/NBD (Fader & Hardie's note, eq. 21 there divided by P(alive)):
//                               Scale = (r+x)(beta+T)/(alpha+T),
//                               Horizon = [1 - ((beta+T)/(beta+T+t))^(s-1)] / (s-1)
// so a CLV over many months computes P(alive) once and only the horizon factor per month;
// the horizon factors do not depend on t_x, which ScoreAll exploits with a cache.

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <vector>

#include "analytics/clv_internal.h"
#include "tessera/analytics/clv.h"

namespace tessera::analytics::clv {
namespace {

using internal::kInf;
using internal::kNaN;

constexpr double kDaysPerMonth = 365.25 / 12;

struct CountModel {
  Model kind;
  double r, alpha, c, d;  // (r, alpha, a, b) or (r, alpha, s, beta)
};

bool Unpack(const Fit& fit, CountModel* m) {
  if ((fit.model != Model::kBgNbd && fit.model != Model::kParetoNbd) || fit.params.size() != 4) {
    return false;
  }
  *m = {fit.model, fit.params[0].value, fit.params[1].value, fit.params[2].value,
        fit.params[3].value};
  return true;
}

double PAlive(const CountModel& m, const CustomerSummary& cs) {
  const double x = cs.frequency, tx = cs.recency, age = cs.age;
  if (m.kind == Model::kBgNbd) {
    if (x == 0) return 1;  // BG/NBD customers can only drop out right after a repeat purchase
    const double a = m.c, b = m.d;
    const double log_ratio = std::log(a) - std::log(b + x - 1) +
                             (m.r + x) * (std::log(m.alpha + age) - std::log(m.alpha + tx));
    return 1 / (1 + std::exp(log_ratio));
  }
  const double s = m.c, beta = m.d;
  const double log_ratio =
      std::log(s) + (m.r + x) * std::log(m.alpha + age) + s * std::log(beta + age) +
      internal::LogSubExp(internal::ParetoLogTail(m.r, m.alpha, s, beta, x, tx),
                          internal::ParetoLogTail(m.r, m.alpha, s, beta, x, age));
  return 1 / (1 + std::exp(log_ratio));
}

double Scale(const CountModel& m, double x, double age) {
  if (m.kind == Model::kBgNbd) return m.c + m.d + x - 1;
  return (m.r + x) * (m.d + age) / (m.alpha + age);
}

double Horizon(const CountModel& m, double x, double age, double t) {
  if (t <= 0) return 0;
  if (m.kind == Model::kBgNbd) {
    return internal::BgNbdHorizonFactor(m.r, m.alpha, m.c, m.d, x, age, t);
  }
  return internal::OneMinusExpOver(m.c - 1, std::log1p(t / (m.d + age)));
}

// The time-unit length of month k of a CLV horizon (the last month may be partial).
double MonthEnd(int k, double months, TimeUnit unit) {
  return std::min<double>(k, months) * kDaysPerMonth / DaysPerUnit(unit);
}

// Discount factor (1 + annual)^(-months/12), i.e. (1 + monthly)^-months.
double Discount(int k, double months, double annual_rate) {
  return std::pow(1 + annual_rate, -std::min<double>(k, months) / 12);
}

}  // namespace

double ProbabilityAlive(const Fit& counts, const CustomerSummary& customer) {
  CountModel m;
  const bool ok = Unpack(counts, &m);
  assert(ok && "ProbabilityAlive needs a BG/NBD or Pareto/NBD fit");
  if (!ok) return kNaN;
  internal::DisableGslAbort();
  return PAlive(m, customer);
}

double ExpectedPurchases(const Fit& counts, const CustomerSummary& customer, double horizon) {
  CountModel m;
  const bool ok = Unpack(counts, &m);
  assert(ok && "ExpectedPurchases needs a BG/NBD or Pareto/NBD fit");
  if (!ok) return kNaN;
  internal::DisableGslAbort();
  return PAlive(m, customer) * Scale(m, customer.frequency, customer.age) *
         Horizon(m, customer.frequency, customer.age, horizon);
}

double PredictedClv(const Fit& counts, const Fit& spend, const CustomerSummary& customer,
                    const ClvOptions& options) {
  CountModel m;
  const bool ok = Unpack(counts, &m);
  assert(ok && "PredictedClv needs a BG/NBD or Pareto/NBD fit");
  if (!ok) return kNaN;
  internal::DisableGslAbort();
  const double value = ExpectedAverageValue(spend, customer);
  const double x = customer.frequency, age = customer.age;
  const double factor = PAlive(m, customer) * Scale(m, x, age);
  const int steps = static_cast<int>(std::ceil(options.horizon_months));
  double clv = 0, previous = 0;
  for (int k = 1; k <= steps; ++k) {
    const double h = Horizon(m, x, age, MonthEnd(k, options.horizon_months, options.unit));
    clv += value * factor * (h - previous) *
           Discount(k, options.horizon_months, options.annual_discount_rate);
    previous = h;
  }
  return clv;
}

namespace {

// A direct-mapped cache of per-(key1, key2) rows of `width` doubles. Customers from daily
// data share few distinct (x, T) and (x, t_x), and the hypergeometric terms that depend on
// them are the expensive part of scoring. Each thread owns one; a miss recomputes the row.
class PairCache {
 public:
  explicit PairCache(size_t width) : width_(width) {
    slots_ = std::bit_floor(std::clamp<size_t>((size_t{1} << 21) / width_, 256, 65536));
    keys_.assign(slots_, {kNaN, kNaN});  // NaN never equals a key, so every slot starts empty
    values_.resize(slots_ * width_);
  }

  template <typename Fill>
  const double* Get(double k1, double k2, Fill&& fill) {
    // murmur3's finaliser: the bits that distinguish small whole numbers stored as doubles
    // sit in the middle of the word and must reach the low bits used as the slot.
    uint64_t h = std::bit_cast<uint64_t>(k1) ^ std::rotl(std::bit_cast<uint64_t>(k2), 29);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    const size_t slot = h & (slots_ - 1);
    double* v = &values_[slot * width_];
    if (keys_[slot].first != k1 || keys_[slot].second != k2) {
      keys_[slot] = {k1, k2};
      fill(v);
    }
    return v;
  }

 private:
  size_t width_;
  size_t slots_;
  std::vector<std::pair<double, double>> keys_;
  std::vector<double> values_;
};

}  // namespace

Status ScoreAll(const Fit& counts, const Fit* spend, std::span<const CustomerSummary> customers,
                const ScoreOptions& options, std::span<Score> out) {
  CountModel m;
  if (!Unpack(counts, &m)) {
    return InvalidArgumentError("scoring needs a BG/NBD or Pareto/NBD fit, got {}",
                                ModelName(counts.model));
  }
  if (spend != nullptr && (spend->model != Model::kGammaGamma || spend->params.size() != 3)) {
    return InvalidArgumentError("the spend model must be gamma_gamma, got {}",
                                ModelName(spend->model));
  }
  if (out.size() != customers.size()) {
    return InvalidArgumentError("{} customers but room for {} scores", customers.size(),
                                out.size());
  }
  internal::DisableGslAbort();
  const int steps = static_cast<int>(std::ceil(options.clv.horizon_months));
  std::vector<double> discount(steps + 1, 0.0);
  for (int k = 1; k <= steps; ++k) {
    discount[k] = Discount(k, options.clv.horizon_months, options.clv.annual_discount_rate);
  }
  const size_t width = 1 + (spend != nullptr ? steps : 0);
  const bool bg = m.kind == Model::kBgNbd;
  internal::ParallelFor(
      customers.size(), internal::ThreadCount(options.threads), [&](size_t begin, size_t end) {
        // Horizon factors: [expected-purchase horizon, month 1, ..., month `steps`], keyed
        // by (x, T) for BG/NBD and by T alone for Pareto/NBD.
        PairCache horizons(width);
        // Pareto/NBD's log I(x, u) for u = t_x and u = T.
        PairCache tails(1);
        for (size_t i = begin; i < end; ++i) {
          const CustomerSummary& c = customers[i];
          Score& s = out[i];
          const double x = c.frequency, age = c.age;
          const double* h = horizons.Get(bg ? x : 0.0, age, [&](double* v) {
            v[0] = Horizon(m, x, age, options.horizon);
            for (size_t k = 1; k < width; ++k) {
              v[k] = Horizon(
                  m, x, age,
                  MonthEnd(static_cast<int>(k), options.clv.horizon_months, options.clv.unit));
            }
          });
          if (bg) {
            s.p_alive = PAlive(m, c);
          } else {
            auto tail = [&](double u) {
              return *tails.Get(x, u, [&](double* v) {
                *v = internal::ParetoLogTail(m.r, m.alpha, m.c, m.d, x, u);
              });
            };
            const double log_ratio = std::log(m.c) + (m.r + x) * std::log(m.alpha + age) +
                                     m.c * std::log(m.d + age) +
                                     internal::LogSubExp(tail(c.recency), tail(age));
            s.p_alive = 1 / (1 + std::exp(log_ratio));
          }
          const double factor = s.p_alive * Scale(m, x, age);
          s.expected_purchases = factor * h[0];
          if (spend == nullptr) {
            s.expected_value = s.clv = kNaN;
            continue;
          }
          s.expected_value = ExpectedAverageValue(*spend, c);
          double clv = 0, previous = 0;
          for (int k = 1; k <= steps; ++k) {
            clv += (h[k] - previous) * discount[k];
            previous = h[k];
          }
          s.clv = s.expected_value * factor * clv;
        }
      });
  return OkStatus();
}

StatusOr<Evaluation> Evaluate(const Fit& counts, std::span<const CustomerSummary> customers,
                              double holdout_length) {
  CountModel m;
  if (!Unpack(counts, &m)) {
    return InvalidArgumentError("evaluation needs a BG/NBD or Pareto/NBD fit, got {}",
                                ModelName(counts.model));
  }
  if (customers.empty()) return InvalidArgumentError("no customers to evaluate");
  if (!(holdout_length > 0) || !std::isfinite(holdout_length)) {
    return InvalidArgumentError("the holdout length must be positive");
  }
  internal::DisableGslAbort();
  Evaluation e;
  e.customers = customers.size();
  e.holdout_length = holdout_length;
  e.groups.resize(kLastFrequencyGroup + 1);
  for (int k = 0; k <= kLastFrequencyGroup; ++k) e.groups[k].frequency = k;
  double abs_error = 0, sq_error = 0;
  for (size_t i = 0; i < customers.size(); ++i) {
    const CustomerSummary& c = customers[i];
    TESSERA_RETURN_IF_ERROR(internal::ValidateSummary(c, i));
    const double predicted = PAlive(m, c) * Scale(m, c.frequency, c.age) *
                             Horizon(m, c.frequency, c.age, holdout_length);
    const double actual = c.holdout_purchases;
    FrequencyGroup& g =
        e.groups[static_cast<int>(std::min<double>(c.frequency, kLastFrequencyGroup))];
    ++g.customers;
    g.actual += actual;
    g.predicted += predicted;
    e.actual_total += actual;
    e.predicted_total += predicted;
    abs_error += std::abs(predicted - actual);
    sq_error += (predicted - actual) * (predicted - actual);
  }
  const double n = static_cast<double>(customers.size());
  e.mean_absolute_error = abs_error / n;
  e.root_mean_squared_error = std::sqrt(sq_error / n);
  return e;
}

}  // namespace tessera::analytics::clv
