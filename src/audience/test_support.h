#pragma once

// Test support: a store of either backend filled with generated orders (line items over a
// category hierarchy, stores, regions, channels) and one snapshot over them.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "store/test_stores.h"
#include "tessera/analytics/pipeline.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/common/civil_time.h"
#include "tessera/ingest/loader.h"
#include "tessera/io/generator.h"
#include "tessera/io/mapping.h"
#include "tessera/privacy/owner_key.h"

namespace tessera::audience::testing {

inline const int64_t kEndDay = DaysFromCivil(2024, 6, 30);

inline privacy::OwnerKey TestKey() {
  std::array<uint8_t, 32> bytes;
  bytes.fill(7);
  return privacy::OwnerKey::FromBytes(bytes);
}

// A per-process, per-test directory (named `suite` outside a test, e.g. in SetUpTestSuite).
inline std::filesystem::path TestDir(const std::string& suite = "") {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info != nullptr ? info->name() : suite;
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("tessera_audience_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Generates `customers` customers over 14 months ending 2024-06-30 into `dir`/orders.csv.
inline std::string GenerateCsv(const std::filesystem::path& dir, uint64_t customers,
                               uint32_t categories, uint64_t seed) {
  io::GeneratorOptions g;
  g.customers = customers;
  g.months = 14;
  g.seed = seed;
  g.end_day = kEndDay;
  g.categories = categories;
  const std::string path = (dir / "orders.csv").string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  auto stats = io::GenerateOrders(g, f);
  std::fclose(f);
  EXPECT_TRUE(stats.ok()) << stats.status().ToString();
  return path;
}

// Loads `csv` into a new store at `location` and keeps a 12-month snapshot ending
// 2024-06-30.
inline std::unique_ptr<store::Store> LoadAndSnapshot(const std::string& location,
                                                     const std::string& csv) {
  auto store = store::Store::Open(location, true);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  ingest::LoadOptions options;
  auto mapping = io::LoadMapping("generic");
  EXPECT_TRUE(mapping.ok());
  options.mapping = *mapping;
  auto summary = ingest::LoadOrders(**store, TestKey(), {csv}, options);
  EXPECT_TRUE(summary.ok()) << summary.status().ToString();
  analytics::ProfileOptions po;
  po.as_of_day = kEndDay;
  po.window = Duration::Months(12);
  auto rules = analytics::SegmentRules::Default();
  EXPECT_TRUE(rules.ok());
  auto set = analytics::ComputeSegmentedProfiles(**store, po, *rules);
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  auto id = analytics::SaveSnapshot(**store, *set, *rules);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return std::move(*store);
}

}  // namespace tessera::audience::testing
