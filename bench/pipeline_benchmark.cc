// Micro-benchmarks of the hot parts of the pipeline, on data from the project's generator.
// Each checks its result, so the work cannot be optimized away and a broken build cannot
// report a fast number. Run: build-bench/bench/pipeline_benchmark (see bench/CMakeLists.txt).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "tessera/analytics/pipeline.h"
#include "tessera/analytics/scores.h"
#include "tessera/common/civil_time.h"
#include "tessera/ingest/loader.h"
#include "tessera/io/generator.h"
#include "tessera/io/row_source.h"
#include "tessera/privacy/order_token.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kEndDay = 20454;  // 2026-01-01

privacy::OwnerKey BenchKey() {
  std::array<uint8_t, 32> bytes;
  bytes.fill(42);
  return privacy::OwnerKey::FromBytes(bytes);
}

// A generated export of `customers` customers over 24 months, written once per size.
const std::string& ExportFile(uint64_t customers) {
  static std::map<uint64_t, std::string> files;
  auto& path = files[customers];
  if (path.empty()) {
    path = (fs::temp_directory_path() / ("tessera_bench_" + std::to_string(customers) + ".csv"))
               .string();
    io::GeneratorOptions options;
    options.customers = customers;
    options.months = 24;
    options.end_day = kEndDay;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || !io::GenerateOrders(options, f).ok()) std::abort();
    std::fclose(f);
  }
  return path;
}

void BM_CsvRows(benchmark::State& state) {
  const std::string& path = ExportFile(static_cast<uint64_t>(state.range(0)));
  const auto bytes = fs::file_size(path);
  uint64_t rows = 0;
  for (auto _ : state) {
    auto source = io::RowSource::Open(path, io::SourceOptions{});
    if (!source.ok() ||
        !(*source)
             ->Select({"order_id", "customer_id", "ordered_at", "quantity", "unit_price"})
             .ok()) {
      state.SkipWithError("cannot open the export");
      return;
    }
    io::Row row;
    io::RowError error;
    bool ok = true;
    rows = 0;
    while ((*source)->Next(&row, &error, &ok)) rows += ok ? 1 : 0;
    benchmark::DoNotOptimize(rows);
  }
  if (rows == 0) state.SkipWithError("no rows read");
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
  state.SetItemsProcessed(static_cast<int64_t>(rows * state.iterations()));
}
BENCHMARK(BM_CsvRows)->Arg(100'000)->Unit(benchmark::kMillisecond);

void BM_Pseudonym(benchmark::State& state) {
  auto p = privacy::Pseudonymizer::Create(BenchKey());
  uint64_t i = 0;
  privacy::Uuid last;
  for (auto _ : state) {
    const std::string id = "K" + std::to_string(10000000 + (i++ % 1000000));
    last = p->Pseudonym(privacy::IdentifierKind::kCustomerNumber, id);
    benchmark::DoNotOptimize(last);
  }
  if ((last.bytes[6] >> 4) != 8) state.SkipWithError("not a version-8 UUID");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Pseudonym);

void BM_OrderToken(benchmark::State& state) {
  auto t = privacy::OrderTokenizer::Create(BenchKey());
  uint64_t i = 0;
  std::string token;
  for (auto _ : state) {
    token = *t->Encrypt("O" + std::to_string(1000000000 + i++));
    benchmark::DoNotOptimize(token);
  }
  if (token.size() != 16 + 11) state.SkipWithError("unexpected token size");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_OrderToken);

// Load into a fresh store: parse, validate, pseudonymize, deduplicate, encrypt, write.
void BM_Load(benchmark::State& state) {
  const std::string& path = ExportFile(static_cast<uint64_t>(state.range(0)));
  const std::string store_path = (fs::temp_directory_path() / "tessera_bench_load.db").string();
  ingest::LoadOptions options;
  options.mapping = *io::LoadMapping("generic");
  uint64_t orders = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(store_path + suffix);
    auto store = store::Store::Open(store_path, true);
    state.ResumeTiming();
    auto summary = ingest::LoadOrders(**store, BenchKey(), {path}, options);
    if (!summary.ok()) {
      state.SkipWithError(summary.status().message().c_str());
      return;
    }
    orders = summary->orders_stored;
  }
  state.counters["orders"] = static_cast<double>(orders);
  state.SetItemsProcessed(static_cast<int64_t>(orders * state.iterations()));
}
BENCHMARK(BM_Load)->Arg(100'000)->Unit(benchmark::kMillisecond)->Iterations(3);

// A store holding the export of `customers` customers, loaded once per size and shared by
// the benchmarks that read it; null after reporting the error on `state`.
store::Store* LoadedStore(benchmark::State& state, uint64_t customers, uint64_t* orders) {
  struct Loaded {
    std::unique_ptr<store::Store> store;
    uint64_t orders = 0;
    std::string error;
  };
  static std::map<uint64_t, Loaded> stores;
  Loaded& l = stores[customers];
  if (l.store == nullptr && l.error.empty()) {
    const std::string store_path =
        (fs::temp_directory_path() / ("tessera_bench_store_" + std::to_string(customers) + ".db"))
            .string();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(store_path + suffix);
    auto store = store::Store::Open(store_path, true);
    ingest::LoadOptions options;
    options.mapping = *io::LoadMapping("generic");
    auto loaded = store.ok()
                      ? ingest::LoadOrders(**store, BenchKey(), {ExportFile(customers)}, options)
                      : StatusOr<ingest::LoadSummary>(store.status());
    if (loaded.ok()) {
      l.store = std::move(*store);
      l.orders = loaded->orders_stored;
    } else {
      l.error = loaded.status().message();
    }
  }
  if (l.store == nullptr) state.SkipWithError(l.error.c_str());
  *orders = l.orders;
  return l.store.get();
}

// The daily refresh: profiles, scores and segments from an existing store.
void BM_Recompute(benchmark::State& state) {
  uint64_t orders = 0;
  store::Store* store = LoadedStore(state, static_cast<uint64_t>(state.range(0)), &orders);
  if (store == nullptr) return;
  auto rules = analytics::SegmentRules::Default();
  analytics::ProfileOptions po;
  po.as_of_day = kEndDay;
  size_t profiles = 0;
  for (auto _ : state) {
    auto set = analytics::ComputeSegmentedProfiles(*store, po, *rules);
    if (!set.ok()) {
      state.SkipWithError(set.status().message().c_str());
      return;
    }
    profiles = set->profiles.size();
    benchmark::DoNotOptimize(set->profiles.data());
  }
  if (profiles == 0) state.SkipWithError("no profiles");
  state.counters["profiles"] = static_cast<double>(profiles);
  state.SetItemsProcessed(static_cast<int64_t>(orders * state.iterations()));
}
BENCHMARK(BM_Recompute)->Arg(100'000)->Unit(benchmark::kMillisecond);

// Profile aggregation alone (scan the store's orders, sum per customer), without scoring
// and segments: with BM_QuantileScores it splits BM_Recompute.
void BM_ProfileAggregation(benchmark::State& state) {
  uint64_t orders = 0;
  store::Store* store = LoadedStore(state, static_cast<uint64_t>(state.range(0)), &orders);
  if (store == nullptr) return;
  analytics::ProfileOptions po;
  po.as_of_day = kEndDay;
  int64_t revenue = 0;
  for (auto _ : state) {
    auto set = analytics::ComputeProfiles(*store, po);
    if (!set.ok()) {
      state.SkipWithError(set.status().message().c_str());
      return;
    }
    revenue = 0;
    for (const auto& p : set->profiles) revenue += p.revenue_minor;
    benchmark::DoNotOptimize(revenue);
  }
  if (revenue <= 0) state.SkipWithError("no revenue");
  state.SetItemsProcessed(static_cast<int64_t>(orders * state.iterations()));
}
BENCHMARK(BM_ProfileAggregation)->Arg(100'000)->Unit(benchmark::kMillisecond);

void BM_QuantileScores(benchmark::State& state) {
  std::vector<int64_t> values(static_cast<size_t>(state.range(0)));
  uint64_t x = 88172645463325252ull;
  for (auto& v : values) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v = static_cast<int64_t>(x % 100000);
  }
  for (auto _ : state) {
    auto scores = analytics::QuantileScores(values);
    if (scores.empty() || scores[0] < 1 || scores[0] > 5) state.SkipWithError("bad score");
    benchmark::DoNotOptimize(scores.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(values.size() * state.iterations()));
}
BENCHMARK(BM_QuantileScores)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tessera
