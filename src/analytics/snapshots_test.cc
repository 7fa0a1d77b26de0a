// Snapshots end to end on both stores: generated orders loaded, profiles computed and kept, the
// kept report identical to the computed one, and migrations counted as the profiles say.

#include "tessera/analytics/snapshots.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "store/test_stores.h"
#include "tessera/analytics/pipeline.h"
#include "tessera/common/civil_time.h"
#include "tessera/ingest/loader.h"
#include "tessera/io/generator.h"
#include "tessera/io/mapping.h"

namespace tessera::analytics {
namespace {

using store::Backend;

class SnapshotTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    const auto dir = std::filesystem::path(::testing::TempDir()) /
                     ("tessera_snapshot_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string csv = (dir / "orders.csv").string();
    io::GeneratorOptions g;
    g.customers = 600;
    g.months = 24;
    g.seed = 11;
    g.end_day = DaysFromCivil(2025, 6, 30);
    std::FILE* f = std::fopen(csv.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(io::GenerateOrders(g, f).ok());
    std::fclose(f);
    auto s = store::Store::Open(stores_.NewLocation(GetParam(), "snap.db"), true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    auto key = privacy::OwnerKey::Generate();
    ASSERT_TRUE(key.ok());
    ingest::LoadOptions options;
    options.mapping = *io::LoadMapping("generic");
    auto loaded = ingest::LoadOrders(*store_, *key, {csv}, options);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    rules_ = *SegmentRules::Default();
  }

  ProfileSet Compute(int y, int m, int d) {
    ProfileOptions o;
    o.as_of_day = DaysFromCivil(y, m, d);
    o.window = *Window::Parse("12m");
    auto set = ComputeSegmentedProfiles(*store_, o, rules_);
    EXPECT_TRUE(set.ok()) << set.status().ToString();
    return set.ok() ? std::move(*set) : ProfileSet();
  }

  store::TestStores stores_;
  std::unique_ptr<store::Store> store_;
  SegmentRules rules_ = *SegmentRules::Default();
};

INSTANTIATE_TEST_SUITE_P(Backends, SnapshotTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         store::BackendName);

TEST_P(SnapshotTest, TheKeptReportIsTheComputedReport) {
  const ProfileSet set = Compute(2025, 6, 30);
  ASSERT_GT(set.profiles.size(), 100u);
  auto id = SaveSnapshot(*store_, set, rules_);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto kept = LoadSnapshot(*store_, 0, true);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->info.id, *id);
  for (Lang lang : {Lang::kEn, Lang::kDe}) {
    SegmentReport computed = BuildReport(set, rules_, lang);
    computed.snapshot_id = *id;
    const SegmentReport read = SnapshotReport(*kept, lang);
    EXPECT_EQ(read.ToJson(), computed.ToJson());
    EXPECT_EQ(read.ToCsv(), computed.ToCsv());
    EXPECT_EQ(read.ToTable(), computed.ToTable());
  }
  ASSERT_EQ(kept->profiles.size(), set.profiles.size());
  for (size_t i = 0; i < set.profiles.size(); ++i) {
    EXPECT_EQ(kept->profiles[i].customer, set.profiles[i].customer);
    EXPECT_EQ(kept->profiles[i].segment, set.profiles[i].segment);
    EXPECT_EQ(kept->profiles[i].revenue_minor, set.profiles[i].revenue_minor);
  }
  EXPECT_EQ(kept->uuids, set.uuids);
}

TEST_P(SnapshotTest, MigrationCountsEveryCustomerOnceAsTheProfilesSay) {
  const ProfileSet older = Compute(2025, 1, 31), newer = Compute(2025, 6, 30);
  const int64_t a = *SaveSnapshot(*store_, older, rules_);
  const int64_t b = *SaveSnapshot(*store_, newer, rules_);
  auto m = ComputeMigration(*store_, 0, 0);  // the two newest: a -> b
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->from.id, a);
  EXPECT_EQ(m->to.id, b);

  // Independently: segment by customer in each set, `gone`/`new` as the extra index.
  const size_t k = rules_.rules().size();
  std::map<uint32_t, size_t> before, after;
  for (const auto& p : older.profiles) before[p.customer] = p.segment;
  for (const auto& p : newer.profiles) after[p.customer] = p.segment;
  std::vector<std::vector<uint64_t>> expected(k + 1, std::vector<uint64_t>(k + 1, 0));
  for (const auto& [c, s] : before) ++expected[s][after.count(c) ? after[c] : k];
  for (const auto& [c, s] : after) {
    if (!before.count(c)) ++expected[k][s];
  }
  EXPECT_EQ(m->counts, expected);
  EXPECT_GT(expected[k][0] + expected[k][3], 0u);  // some customers are new
  uint64_t stayed = 0;
  for (size_t i = 0; i < k; ++i) stayed += expected[i][i];
  EXPECT_GT(stayed, 0u);

  // The same, asked by id, in the other direction: rows and columns swap.
  auto back = ComputeMigration(*store_, b, a);
  ASSERT_TRUE(back.ok());
  for (size_t i = 0; i <= k; ++i) {
    for (size_t j = 0; j <= k; ++j) EXPECT_EQ(back->counts[j][i], expected[i][j]);
  }
  const std::string csv = m->ToCsv(Lang::kDe);
  EXPECT_NE(csv.find("VIPs,champions,"), std::string::npos);
}

TEST_P(SnapshotTest, WithoutSnapshotsTheErrorSaysHowToMakeOne) {
  auto none = LoadSnapshot(*store_, 0, false);
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("tessera snapshots create"), std::string::npos);
  ASSERT_TRUE(SaveSnapshot(*store_, Compute(2025, 6, 30), rules_).ok());
  auto one = ComputeMigration(*store_, 0, 0);
  EXPECT_EQ(one.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LoadSnapshot(*store_, 99, false).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::analytics
