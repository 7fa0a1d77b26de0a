// Fitting the purchase models on a million customers and scoring ten million.
//
// Customers are simulated from the models with CDNOW-like parameters, acquired over a
// quarter and observed to week 39, with times on a grid of whole days as Summarize produces
// them from daily data. Run:
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_BUILD_BENCH=ON
//   ninja -C build-bench clv_benchmark && build-bench/bench/clv_benchmark

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "analytics/clv_simulation.h"
#include "tessera/analytics/clv.h"

namespace tessera::analytics::clv {
namespace {

// BG/NBD customers with the published CDNOW estimates, and a Gamma-Gamma mean value.
std::vector<CustomerSummary> Simulate(size_t n, uint64_t seed) {
  std::vector<CustomerSummary> out = SimulateBgNbd(n, 0.243, 4.414, 0.793, 2.426, seed);
  Sampler rng(seed + 1);
  for (CustomerSummary& c : out) {
    if (c.frequency > 0) {
      const double nu = rng.Gamma(3.74, 15.44);
      c.monetary = rng.Gamma(6.25 * c.frequency, nu) / c.frequency;
    }
  }
  return out;
}

const std::vector<CustomerSummary>& Million() {
  static const auto* data = new std::vector<CustomerSummary>(Simulate(1'000'000, 1));
  return *data;
}

const std::vector<CustomerSummary>& TenMillion() {
  static const auto* data = new std::vector<CustomerSummary>(Simulate(10'000'000, 2));
  return *data;
}

void BM_FitBgNbd(benchmark::State& state) {
  const auto& data = Million();
  for (auto _ : state) {
    auto fit = FitBgNbd(data);
    if (!fit.ok()) {
      state.SkipWithError(fit.status().ToString().c_str());
      return;
    }
    state.counters["r"] = fit->Value("r");
    state.counters["alpha"] = fit->Value("alpha");
    state.counters["a"] = fit->Value("a");
    state.counters["b"] = fit->Value("b");
    state.counters["iterations"] = fit->iterations;
  }
  state.SetItemsProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_FitBgNbd)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_FitParetoNbd(benchmark::State& state) {
  const auto& data = Million();
  for (auto _ : state) {
    auto fit = FitParetoNbd(data);
    if (!fit.ok()) {
      state.SkipWithError(fit.status().ToString().c_str());
      return;
    }
    state.counters["r"] = fit->Value("r");
    state.counters["alpha"] = fit->Value("alpha");
    state.counters["s"] = fit->Value("s");
    state.counters["beta"] = fit->Value("beta");
    state.counters["iterations"] = fit->iterations;
  }
  state.SetItemsProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_FitParetoNbd)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_FitGammaGamma(benchmark::State& state) {
  const auto& data = Million();
  for (auto _ : state) {
    auto fit = FitGammaGamma(data);
    if (!fit.ok()) {
      state.SkipWithError(fit.status().ToString().c_str());
      return;
    }
    state.counters["p"] = fit->Value("p");
    state.counters["q"] = fit->Value("q");
    state.counters["gamma"] = fit->Value("gamma");
  }
  state.SetItemsProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_FitGammaGamma)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// P(alive), expected purchases over 52 weeks and a 12-month CLV for ten million customers.
void Score10M(benchmark::State& state, Model model, std::vector<double> params) {
  const auto& data = TenMillion();
  const Fit counts = *FitFromParameters(model, params);
  const Fit spend = *FitFromParameters(Model::kGammaGamma, std::vector<double>{6.25, 3.74, 15.44});
  std::vector<Score> scores(data.size());
  ScoreOptions options;
  options.horizon = 52;
  options.clv.horizon_months = 12;
  for (auto _ : state) {
    const Status status = ScoreAll(counts, &spend, data, options, scores);
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(scores.data());
  }
  double alive = 0, clv = 0;
  for (const Score& s : scores) {
    alive += s.p_alive;
    clv += s.clv;
  }
  if (!std::isfinite(clv) || alive <= 0) state.SkipWithError("non-finite scores");
  state.counters["mean_p_alive"] = alive / data.size();
  state.counters["mean_clv"] = clv / data.size();
  state.SetItemsProcessed(state.iterations() * data.size());
}

void BM_ScoreBgNbd(benchmark::State& state) {
  Score10M(state, Model::kBgNbd, {0.243, 4.414, 0.793, 2.426});
}
BENCHMARK(BM_ScoreBgNbd)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_ScoreParetoNbd(benchmark::State& state) {
  Score10M(state, Model::kParetoNbd, {0.553, 10.578, 0.606, 11.669});
}
BENCHMARK(BM_ScoreParetoNbd)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace tessera::analytics::clv
