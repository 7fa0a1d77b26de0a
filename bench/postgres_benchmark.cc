// Bulk load into and scan out of the PostgreSQL store: 1 M synthetic orders (1.8 line items
// each on average, like the generator's exports) appended in batches of 250 k through binary
// COPY, each batch one transaction, into a fresh database per iteration; and the scan that
// every analytics run and every load start does. Needs a server: TESSERA_TEST_POSTGRES_URL
// (eval "$(scripts/pg-test-cluster start)"); skips without one.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>

#include "store/backends.h"
#include "tessera/store/store.h"

namespace tessera::store {
namespace {

constexpr size_t kOrders = 1'000'000;
constexpr size_t kBatchOrders = 250'000;
constexpr uint32_t kCustomers = 200'000;

const char* ServerUrl() {
  const char* url = std::getenv("TESSERA_TEST_POSTGRES_URL");
  return url != nullptr && *url != '\0' ? url : nullptr;
}

// Batches as the loader hands them over: customers first seen in a batch come with it.
const std::vector<Batch>& Batches() {
  static const std::vector<Batch> batches = [] {
    std::mt19937_64 rng(7);
    std::vector<Batch> out;
    uint32_t next_customer = 0;
    for (size_t first = 0; first < kOrders; first += kBatchOrders) {
      Batch b;
      b.first_new_customer = next_customer;
      if (first == 0) b.new_dict_entries.push_back({DictKind::kCurrency, 1, "EUR"});
      OrderColumns& c = b.orders;
      for (size_t i = 0; i < kBatchOrders; ++i) {
        const uint32_t customer = static_cast<uint32_t>(rng() % kCustomers);
        while (next_customer <= customer) {
          privacy::Uuid u;
          for (auto& byte : u.bytes) byte = static_cast<uint8_t>(rng());
          b.new_customers.push_back(u);
          ++next_customer;
        }
        std::string token(32, '\0');  // 16-byte SIV + a 16-byte order id, like real tokens
        for (auto& ch : token) ch = static_cast<char>(rng());
        c.token_bytes += token;
        c.token_offsets.push_back(static_cast<uint32_t>(c.token_bytes.size()));
        c.customer.push_back(customer);
        c.ordered_at.push_back(1'700'000'000 + static_cast<int64_t>(rng() % 60'000'000));
        c.amount_minor.push_back(static_cast<int64_t>(rng() % 20'000));
        c.kind.push_back(0);
        c.currency.push_back(1);
        c.store.push_back(0);
        c.region.push_back(0);
        c.channel.push_back(0);
        const int items = 1 + static_cast<int>(rng() % 2) + (rng() % 5 == 0 ? 1 : 0);
        for (int k = 0; k < items; ++k) {
          c.item_category.push_back(static_cast<uint32_t>(rng() % 50));
          c.item_sku.push_back(0);
          c.item_quantity_milli.push_back(1000);
          c.item_amount_micro.push_back(static_cast<int64_t>(rng() % 10'000'000));
        }
        c.item_offsets.push_back(static_cast<uint32_t>(c.item_category.size()));
      }
      out.push_back(std::move(b));
    }
    return out;
  }();
  return batches;
}

std::string StoreDatabase() { return "tessera_bench_" + std::to_string(::getpid()); }

void DropStoreDatabase() {
  (void)internal::PostgresExecute(ServerUrl(),
                                  "DROP DATABASE IF EXISTS " + StoreDatabase() + " WITH (FORCE)");
}

// A fresh database on the test server; dropped by the next call and by DropStoreDatabase.
std::string FreshStoreLocation() {
  DropStoreDatabase();
  if (!internal::PostgresExecute(ServerUrl(), "CREATE DATABASE " + StoreDatabase()).ok()) {
    std::abort();
  }
  return *internal::PostgresLocationWithDatabase(ServerUrl(), StoreDatabase());
}

void BM_PostgresAppendBatch(benchmark::State& state) {
  if (ServerUrl() == nullptr) {
    state.SkipWithError("TESSERA_TEST_POSTGRES_URL is not set");
    return;
  }
  const auto& batches = Batches();
  for (auto _ : state) {
    state.PauseTiming();
    auto store = Store::Open(FreshStoreLocation(), true);
    if (!store.ok()) std::abort();
    auto load = (*store)->BeginLoad();
    state.ResumeTiming();
    for (const Batch& b : batches) {
      const Status s = (*store)->AppendBatch(*load, b);
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        return;
      }
    }
    state.PauseTiming();
    if ((*store)->Stats()->orders != kOrders) std::abort();
    state.ResumeTiming();
  }
  DropStoreDatabase();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kOrders));
  state.counters["orders/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kOrders),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PostgresAppendBatch)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_PostgresScanOrders(benchmark::State& state) {
  if (ServerUrl() == nullptr) {
    state.SkipWithError("TESSERA_TEST_POSTGRES_URL is not set");
    return;
  }
  auto store = Store::Open(FreshStoreLocation(), true);
  if (!store.ok()) std::abort();
  auto load = (*store)->BeginLoad();
  for (const Batch& b : Batches()) {
    if (!(*store)->AppendBatch(*load, b).ok()) std::abort();
  }
  for (auto _ : state) {
    int64_t sum = 0;
    size_t n = 0;
    const Status s = (*store)->ScanOrders([&](const OrderColumns& c) {
      for (int64_t a : c.amount_minor) sum += a;
      n += c.size();
      return OkStatus();
    });
    if (!s.ok() || n != kOrders) std::abort();
    benchmark::DoNotOptimize(sum);
  }
  store->reset();
  DropStoreDatabase();
  state.counters["orders/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kOrders),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PostgresScanOrders)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace tessera::store
