#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_vector.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "analytics/clv_internal.h"
#include "tessera/analytics/clv.h"

namespace tessera::analytics::clv {

double DaysPerUnit(TimeUnit unit) { return unit == TimeUnit::kWeeks ? 7.0 : 1.0; }

std::string_view ModelName(Model model) {
  switch (model) {
    case Model::kBgNbd:
      return "bg_nbd";
    case Model::kParetoNbd:
      return "pareto_nbd";
    case Model::kGammaGamma:
      return "gamma_gamma";
  }
  return "unknown";
}

double Fit::Value(std::string_view name) const {
  for (const Parameter& p : params) {
    if (p.name == name) return p.value;
  }
  return internal::kNaN;
}

namespace {

std::vector<std::string> ParameterNames(Model model) {
  switch (model) {
    case Model::kBgNbd:
      return {"r", "alpha", "a", "b"};
    case Model::kParetoNbd:
      return {"r", "alpha", "s", "beta"};
    case Model::kGammaGamma:
      return {"p", "q", "gamma"};
  }
  return {};
}

}  // namespace

StatusOr<Fit> FitFromParameters(Model model, std::span<const double> values) {
  const std::vector<std::string> names = ParameterNames(model);
  if (values.size() != names.size()) {
    return InvalidArgumentError("{} takes {} parameters, got {}", ModelName(model), names.size(),
                                values.size());
  }
  Fit fit;
  fit.model = model;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!std::isfinite(values[i]) || values[i] <= 0) {
      return InvalidArgumentError("{} parameter {} must be finite and positive", ModelName(model),
                                  names[i]);
    }
    fit.params.push_back({names[i], values[i], internal::kNaN});
  }
  fit.log_likelihood = internal::kNaN;
  fit.converged = true;
  return fit;
}

double LogLikelihood(const Fit& model, std::span<const CustomerSummary> customers) {
  std::vector<double> v;
  for (const Parameter& p : model.params) v.push_back(p.value);
  if (model.model == Model::kGammaGamma) {
    return v.size() == 3 ? internal::GammaGammaLogLikelihood(customers, v.data()) : internal::kNaN;
  }
  if (v.size() != 4) return internal::kNaN;
  auto data =
      internal::PrepareCounts(customers, model.model == Model::kParetoNbd, ModelName(model.model));
  if (!data.ok()) return internal::kNaN;
  const int threads = internal::ThreadCount(0);
  return model.model == Model::kBgNbd ? internal::BgNbdLogLikelihood(*data, v.data(), threads)
                                      : internal::ParetoNbdLogLikelihood(*data, v.data(), threads);
}

namespace internal {

int ThreadCount(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void ParallelFor(size_t n, int threads, const std::function<void(size_t, size_t)>& f) {
  constexpr size_t kMinPerThread = 4096;
  size_t t = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n / kMinPerThread);
  if (t <= 1) {
    f(0, n);
    return;
  }
  std::vector<std::thread> workers;
  const size_t chunk = (n + t - 1) / t;
  for (size_t i = 1; i < t; ++i) {
    workers.emplace_back([&, i] { f(std::min(n, i * chunk), std::min(n, (i + 1) * chunk)); });
  }
  f(0, std::min(n, chunk));
  for (auto& w : workers) w.join();
}

void DisableGslAbort() {
  static std::once_flag once;
  std::call_once(once, [] { gsl_set_error_handler_off(); });
}

Status ValidateSummary(const CustomerSummary& c, size_t row) {
  if (!std::isfinite(c.frequency) || !std::isfinite(c.recency) || !std::isfinite(c.age)) {
    return InvalidArgumentError("customer row {}: frequency, recency and age must be finite", row);
  }
  if (c.frequency < 0 || c.frequency != std::floor(c.frequency)) {
    return InvalidArgumentError("customer row {}: frequency must be a whole number >= 0", row);
  }
  if (c.recency < 0 || c.recency > c.age) {
    return InvalidArgumentError("customer row {}: recency must lie in [0, age]", row);
  }
  if (c.frequency == 0 && c.recency != 0) {
    return InvalidArgumentError("customer row {}: recency must be 0 when frequency is 0", row);
  }
  return OkStatus();
}

StatusOr<CountData> PrepareCounts(std::span<const CustomerSummary> customers, bool with_pairs,
                                  std::string_view model) {
  if (customers.empty()) return InvalidArgumentError("{}: no customers to fit", model);
  if (customers.size() < 2) {
    return InvalidArgumentError(
        "{}: a single customer cannot identify the model's population parameters; fit on a "
        "customer base",
        model);
  }
  CountData d;
  d.customers = customers.size();
  std::vector<std::tuple<double, double, double>> triples;
  triples.reserve(customers.size());
  bool any_age = false;
  for (size_t i = 0; i < customers.size(); ++i) {
    const CustomerSummary& c = customers[i];
    TESSERA_RETURN_IF_ERROR(ValidateSummary(c, i).WithContext(model));
    triples.emplace_back(c.frequency, c.recency, c.age);
    d.repeat_buyers += c.frequency > 0;
    d.total_frequency += c.frequency;
    d.total_age += c.age;
    any_age |= c.age > 0;
  }
  if (d.repeat_buyers == 0) {
    return InvalidArgumentError(
        "{}: no repeat buyers among {} customers, so the purchase rate cannot be estimated; use "
        "a longer calibration period",
        model, customers.size());
  }
  if (!any_age) {
    return InvalidArgumentError("{}: every customer has age 0 (no time observed)", model);
  }
  std::sort(triples.begin(), triples.end());
  for (const auto& [x, tx, age] : triples) {
    d.x_values.push_back(x);
    d.t_values.push_back(tx);
    d.t_values.push_back(age);
  }
  auto unique_sorted = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  };
  unique_sorted(d.x_values);
  unique_sorted(d.t_values);
  auto index_of = [](const std::vector<double>& v, double value) {
    return static_cast<uint32_t>(std::lower_bound(v.begin(), v.end(), value) - v.begin());
  };
  for (size_t i = 0; i < triples.size();) {
    size_t j = i + 1;
    while (j < triples.size() && triples[j] == triples[i]) ++j;
    const auto& [x, tx, age] = triples[i];
    d.weight.push_back(static_cast<double>(j - i));
    d.ix.push_back(index_of(d.x_values, x));
    d.itx.push_back(index_of(d.t_values, tx));
    d.iage.push_back(index_of(d.t_values, age));
    i = j;
  }
  if (with_pairs) {
    std::vector<uint64_t> keys;
    keys.reserve(2 * d.rows());
    auto key = [](uint32_t x, uint32_t t) { return (uint64_t{x} << 32) | t; };
    for (size_t i = 0; i < d.rows(); ++i) {
      keys.push_back(key(d.ix[i], d.itx[i]));
      keys.push_back(key(d.ix[i], d.iage[i]));
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (uint64_t k : keys) {
      d.pair_x.push_back(static_cast<uint32_t>(k >> 32));
      d.pair_t.push_back(static_cast<uint32_t>(k));
    }
    auto pair_index = [&](uint32_t x, uint32_t t) {
      return static_cast<uint32_t>(std::lower_bound(keys.begin(), keys.end(), key(x, t)) -
                                   keys.begin());
    };
    for (size_t i = 0; i < d.rows(); ++i) {
      d.pair_of_recency.push_back(pair_index(d.ix[i], d.itx[i]));
      d.pair_of_age.push_back(pair_index(d.ix[i], d.iage[i]));
    }
  }
  return d;
}

namespace {

// Values the simplex treats as "infinitely bad" must be finite: GSL rejects non-finite
// function values.
constexpr double kBad = 1e300;
// A log-parameter beyond this (a parameter above 1e13 or below 1e-13) means the optimum is
// at the edge of the parameter space: the data do not identify the model.
constexpr double kLogBound = 30;
// Simplex size (mean vertex distance, in log-parameters) at which a run stops. Smaller sizes
// drown in the rounding noise of a likelihood summed over many customers; the Newton step
// after the simplex supplies the remaining digits.
constexpr double kSimplexSize = 1e-6;

struct Objective {
  const std::function<double(const double*)>* neg_ll;
  size_t n;
};

double Evaluate(const Objective& o, const double* log_params) {
  double params[8];
  for (size_t i = 0; i < o.n; ++i) {
    if (std::abs(log_params[i]) > 2 * kLogBound) return kBad;
    params[i] = std::exp(log_params[i]);
  }
  const double f = (*o.neg_ll)(params);
  return std::isfinite(f) ? f : kBad;
}

double GslObjective(const gsl_vector* v, void* arg) {
  const auto* o = static_cast<const Objective*>(arg);
  double log_params[8];
  for (size_t i = 0; i < o->n; ++i) log_params[i] = gsl_vector_get(v, i);
  return Evaluate(*o, log_params);
}

struct SimplexDeleter {
  void operator()(gsl_multimin_fminimizer* s) const { gsl_multimin_fminimizer_free(s); }
};
struct VectorDeleter {
  void operator()(gsl_vector* v) const { gsl_vector_free(v); }
};
struct MatrixDeleter {
  void operator()(gsl_matrix* m) const { gsl_matrix_free(m); }
};

}  // namespace

StatusOr<Optimum> MinimizeOverLogs(const std::function<double(const double*)>& neg_ll,
                                   std::vector<double> start, const FitOptions& options,
                                   Model kind) {
  DisableGslAbort();
  const std::string_view model = ModelName(kind);
  const size_t n = start.size();
  Objective objective{&neg_ll, n};
  std::vector<double> theta(n);
  for (size_t i = 0; i < n; ++i) theta[i] = std::log(start[i]);

  std::unique_ptr<gsl_multimin_fminimizer, SimplexDeleter> simplex(
      gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, n));
  std::unique_ptr<gsl_vector, VectorDeleter> x(gsl_vector_alloc(n));
  std::unique_ptr<gsl_vector, VectorDeleter> step(gsl_vector_alloc(n));
  if (!simplex || !x || !step) return InternalError("{}: GSL allocation failed", model);
  gsl_multimin_function fn{&GslObjective, n, &objective};

  Optimum out;
  double best = Evaluate(objective, theta.data());
  if (best >= kBad) {
    return InternalError("{}: the log-likelihood cannot be evaluated at the starting values",
                         model);
  }
  // Nelder-Mead can stall on a degenerate simplex; restarting from the best point with a
  // fresh simplex until a restart gains nothing is the usual remedy. The first simplex is
  // wide (a factor e^0.7 per parameter) so that it also finds optima far from the start.
  bool converged = false;
  double initial_step = 0.7;
  for (int restart = 0; restart < 8; ++restart) {
    for (size_t i = 0; i < n; ++i) {
      gsl_vector_set(x.get(), i, theta[i]);
      gsl_vector_set(step.get(), i, initial_step);
    }
    if (gsl_multimin_fminimizer_set(simplex.get(), &fn, x.get(), step.get()) != GSL_SUCCESS) {
      return InternalError("{}: GSL could not start the simplex", model);
    }
    bool run_converged = false;
    for (int it = 0; it < options.max_iterations; ++it) {
      ++out.iterations;
      if (gsl_multimin_fminimizer_iterate(simplex.get()) != GSL_SUCCESS) break;
      if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(simplex.get()), kSimplexSize) ==
          GSL_SUCCESS) {
        run_converged = true;
        break;
      }
    }
    const double f = gsl_multimin_fminimizer_minimum(simplex.get());
    const double gain = best - f;
    if (f <= best) {
      best = f;
      for (size_t i = 0; i < n; ++i) theta[i] = gsl_vector_get(simplex->x, i);
    }
    if (run_converged && restart > 0 && gain <= 1e-10 * std::max(1.0, std::abs(best))) {
      converged = true;
      break;
    }
    initial_step = 0.1;
  }
  const std::vector<std::string> names = ParameterNames(kind);
  for (size_t i = 0; i < n; ++i) {
    if (std::abs(theta[i]) > kLogBound) {
      return FailedPreconditionError(
          "{}: after {} iterations parameter {} ran to {} (the likelihood keeps improving "
          "towards the edge of the parameter space); the data do not identify the model: "
          "check for too few customers, no one-time or no repeat buyers, or try the other "
          "purchase model or a longer calibration period",
          model, out.iterations, names[i], theta[i] > 0 ? "infinity" : "zero");
    }
  }
  if (!converged) {
    return FailedPreconditionError(
        "{}: the simplex did not converge in {} iterations (log-likelihood {:.6f}); raise "
        "FitOptions::max_iterations or check the data (extreme or duplicated customers)",
        model, out.iterations, -best);
  }

  // Hessian of the negative log-likelihood in log-parameters by central differences. The
  // step balances truncation (h^2) against rounding in a sum over many customers.
  const double h = 1e-3;
  auto f_at = [&](int i, double di, int j, double dj) {
    std::vector<double> t = theta;
    if (i >= 0) t[i] += di;
    if (j >= 0) t[j] += dj;
    return Evaluate(objective, t.data());
  };
  std::unique_ptr<gsl_matrix, MatrixDeleter> hess(gsl_matrix_alloc(n, n));
  std::unique_ptr<gsl_vector, VectorDeleter> grad(gsl_vector_alloc(n));
  bool hessian_ok = true;
  for (size_t i = 0; i < n; ++i) {
    const double fp = f_at(i, h, -1, 0), fm = f_at(i, -h, -1, 0);
    gsl_vector_set(grad.get(), i, (fp - fm) / (2 * h));
    gsl_matrix_set(hess.get(), i, i, (fp - 2 * best + fm) / (h * h));
    hessian_ok &= fp < kBad && fm < kBad;
    for (size_t j = 0; j < i; ++j) {
      const double v =
          (f_at(i, h, j, h) - f_at(i, h, j, -h) - f_at(i, -h, j, h) + f_at(i, -h, j, -h)) /
          (4 * h * h);
      gsl_matrix_set(hess.get(), i, j, v);
      gsl_matrix_set(hess.get(), j, i, v);
    }
  }
  out.std_errors.assign(n, kNaN);
  if (hessian_ok && gsl_linalg_cholesky_decomp1(hess.get()) == GSL_SUCCESS) {
    // One Newton step from the simplex's optimum: the simplex stops on the size of its
    // vertices, the Newton step then gains the digits the published estimates quote. Kept
    // only if it improves the likelihood.
    std::unique_ptr<gsl_vector, VectorDeleter> delta(gsl_vector_alloc(n));
    if (gsl_linalg_cholesky_solve(hess.get(), grad.get(), delta.get()) == GSL_SUCCESS &&
        gsl_blas_dnrm2(delta.get()) < 0.05) {
      std::vector<double> t = theta;
      for (size_t i = 0; i < n; ++i) t[i] -= gsl_vector_get(delta.get(), i);
      const double f = Evaluate(objective, t.data());
      if (f < best) {
        best = f;
        theta = t;
      }
    }
    if (gsl_linalg_cholesky_invert(hess.get()) == GSL_SUCCESS) {
      for (size_t i = 0; i < n; ++i) {
        const double var = gsl_matrix_get(hess.get(), i, i);
        if (var > 0) out.std_errors[i] = std::exp(theta[i]) * std::sqrt(var);
      }
    }
  }
  out.values.resize(n);
  for (size_t i = 0; i < n; ++i) out.values[i] = std::exp(theta[i]);
  out.neg_ll = best;
  out.converged = converged;
  return out;
}

Fit MakeFit(Model model, const Optimum& optimum, size_t customers) {
  Fit fit;
  fit.model = model;
  const std::vector<std::string> names = ParameterNames(model);
  for (size_t i = 0; i < names.size(); ++i) {
    fit.params.push_back({names[i], optimum.values[i], optimum.std_errors[i]});
  }
  fit.log_likelihood = -optimum.neg_ll;
  fit.customers = customers;
  fit.iterations = optimum.iterations;
  fit.converged = optimum.converged;
  return fit;
}

}  // namespace internal
}  // namespace tessera::analytics::clv
