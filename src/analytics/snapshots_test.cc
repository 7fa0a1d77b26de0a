// Snapshots end to end on both stores: generated orders loaded, profiles computed and kept, the
// kept report identical to the computed one, and migrations counted as the profiles say.

#include "tessera/analytics/snapshots.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "store/test_stores.h"
#include "tessera/analytics/pipeline.h"
#include "tessera/analytics/segment_definitions.h"
#include "tessera/analytics/snapshot_store.h"
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

// The first rule (in the definitions' order) whose three ranges hold the scores.
size_t FirstMatching(const SegmentDefinitions& d, const Profile& p) {
  for (size_t i = 0; i < d.segments.size(); ++i) {
    const SegmentRule& r = d.segments[i].rule;
    if (r.recency.Contains(p.r_score) && r.frequency.Contains(p.f_score) &&
        r.monetary.Contains(p.m_score)) {
      return i;
    }
  }
  return d.segments.size();
}

// Every customer of the kept snapshot is in the segment whose recorded rule it satisfies first,
// and each score's band holds exactly the values of the customers with that score.
void ExpectDefinitionsAreWhatTheScoringDid(const Snapshot& kept, const SegmentDefinitions& d) {
  ASSERT_EQ(d.segments.size(), kept.segments.size());
  std::vector<uint64_t> customers(d.segments.size(), 0);
  for (const Profile& p : kept.profiles) {
    EXPECT_EQ(FirstMatching(d, p), p.segment) << "customer " << p.customer;
    ++customers[p.segment];
    for (size_t j : d.segments[p.segment].unless) {
      const SegmentRule& earlier = d.segments[j].rule;
      EXPECT_FALSE(earlier.recency.Contains(p.r_score) && earlier.frequency.Contains(p.f_score) &&
                   earlier.monetary.Contains(p.m_score));
    }
    const int64_t values[] = {p.recency_days, p.order_count, p.revenue_minor};
    const uint8_t scores[] = {p.r_score, p.f_score, p.m_score};
    for (int k = 0; k < 3; ++k) {
      const ScoreBand& b = d.bands[k][scores[k] - 1];
      EXPECT_GE(values[k], b.min);
      EXPECT_LE(values[k], b.max);
    }
  }
  for (size_t i = 0; i < d.segments.size(); ++i) {
    EXPECT_EQ(d.segments[i].customers, customers[i]) << d.segments[i].rule.key;
    EXPECT_EQ(d.segments[i].customers, kept.segments[i].uuid_count);
  }
  for (int k = 0; k < 3; ++k) {
    uint64_t n = 0;
    for (const ScoreBand& b : d.bands[k]) n += b.customers;
    EXPECT_EQ(n, kept.profiles.size());
    // Bands do not overlap: a better score never covers a worse value (recency: fewer days).
    for (int s = 0; s + 1 < 5; ++s) {
      const ScoreBand &lo = d.bands[k][s], &hi = d.bands[k][s + 1];
      if (lo.customers == 0 || hi.customers == 0) continue;
      if (k == 0) {
        EXPECT_GT(lo.min, hi.max);
      } else {
        EXPECT_LT(lo.max, hi.min);
      }
    }
  }
}

TEST_P(SnapshotTest, ASnapshotKeepsItsRulesAndTheDefinitionsAreWhatTheScoringDid) {
  const ProfileSet set = Compute(2025, 6, 30);
  ASSERT_GT(set.profiles.size(), 100u);
  ASSERT_TRUE(SaveSnapshot(*store_, set, rules_).ok());
  auto kept = LoadSnapshot(*store_, 0, true);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  auto d = DefineSegments(*kept);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->rules_recorded);
  // The shipped rules (config/segments.toml), as the scoring read them.
  ASSERT_EQ(d->segments.size(), rules_.rules().size());
  for (size_t i = 0; i < d->segments.size(); ++i) {
    const SegmentRule &got = d->segments[i].rule, &want = rules_.rules()[i];
    EXPECT_EQ(got.key, want.key);
    EXPECT_EQ(got.name_de, want.name_de);
    for (auto [a, b] : {std::pair{got.recency, want.recency},
                        {got.frequency, want.frequency},
                        {got.monetary, want.monetary}}) {
      EXPECT_EQ(a.lo, b.lo) << want.key;
      EXPECT_EQ(a.hi, b.hi) << want.key;
    }
  }
  ExpectDefinitionsAreWhatTheScoringDid(*kept, *d);
  // At risk yields to Can't lose them; the catch-all takes what is left, which is a box.
  const auto& at_risk = d->segments[6];
  ASSERT_EQ(at_risk.rule.key, "at_risk");
  ASSERT_EQ(at_risk.unless.size(), 1u);
  EXPECT_EQ(d->segments[at_risk.unless[0]].rule.key, "cant_lose");
  EXPECT_FALSE(at_risk.takes.has_value());
  const auto& lost = d->segments.back();
  ASSERT_TRUE(lost.takes.has_value());
  EXPECT_EQ((*lost.takes)[0].lo, 1);
  EXPECT_EQ((*lost.takes)[0].hi, 1);
  EXPECT_EQ((*lost.takes)[1].hi, 2);
  EXPECT_EQ(RuleInWords(*d, at_risk, Lang::kDe),
            "Aktualitäts-Score 1\u20132, Häufigkeits-Score 3\u20135; außer bereits in: Nicht "
            "verlieren");
  EXPECT_EQ(RuleInWords(*d, lost, Lang::kEn),
            "everyone no earlier rule takes (here: recency score 1, frequency score 1\u20132)");
  int combinations = 0;
  for (const auto& s : d->segments) combinations += s.combinations;
  EXPECT_EQ(combinations, 125);
}

TEST_P(SnapshotTest, ASnapshotMadeWithItsOwnRulesIsDefinedByThem) {
  // Two rules of other ranges than the shipped ones: the definitions are the snapshot's.
  auto own = SegmentRules::Parse(R"(
[[segment]]
key = "fresh"
en = "Fresh"
de = "Frisch"
recency = "3-5"
monetary = "2-5"
[[segment]]
key = "rest"
)",
                                 "own.toml");
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  ProfileOptions o;
  o.as_of_day = DaysFromCivil(2025, 6, 30);
  o.window = *Window::Parse("12m");
  auto set = ComputeSegmentedProfiles(*store_, o, *own);
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(SaveSnapshot(*store_, *set, *own).ok());
  auto kept = LoadSnapshot(*store_, 0, true);
  ASSERT_TRUE(kept.ok());
  auto d = DefineSegments(*kept);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->segments.size(), 2u);
  EXPECT_EQ(d->segments[0].rule.recency.lo, 3);
  EXPECT_EQ(d->segments[0].rule.monetary.lo, 2);
  EXPECT_EQ(d->segments[0].rule.frequency.lo, 1);
  EXPECT_EQ(d->segments[0].combinations, 3 * 5 * 4);
  EXPECT_GT(d->segments[0].customers, 0u);
  EXPECT_GT(d->segments[1].customers, 0u);
  ExpectDefinitionsAreWhatTheScoringDid(*kept, *d);
  const std::string csv = d->ToCsv(Lang::kDe, kGermanCsv);
  EXPECT_NE(csv.find("1;fresh;Frisch;Fresh;Frisch;3;5;1;5;2;5;;"), std::string::npos) << csv;
}

TEST_P(SnapshotTest,
       ASnapshotKeptBeforeRulesWereRecordedIsDefinedByTheShippedRulesIfItsSegmentsAreThem) {
  const ProfileSet set = Compute(2025, 6, 30);
  // Saved as an older version did: segments without their rules.
  SnapshotInfo info;
  info.as_of_day = set.as_of_day;
  info.start_day = set.start_day;
  info.window = "12m";
  info.currency = set.currency;
  info.customers_in_store = set.customers_in_store;
  std::vector<SnapshotSegment> segments;
  for (const SegmentRule& r : rules_.rules()) {
    SnapshotSegment g;
    g.key = r.key;
    g.name_en = r.name_en;
    g.name_de = r.name_de;
    segments.push_back(g);
  }
  for (const Profile& p : set.profiles) ++segments[p.segment].uuid_count;
  ASSERT_TRUE(SnapshotStore(*store_).Save(info, segments, set.profiles, set.uuids).ok());
  auto kept = LoadSnapshot(*store_, 0, true);
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(kept->segments[0].rule_recorded);
  auto d = DefineSegments(*kept);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->rules_recorded);
  ExpectDefinitionsAreWhatTheScoringDid(*kept, *d);
  // Segments of its own: its rules are unknown, said so.
  segments[0].key = "vip";
  ASSERT_TRUE(SnapshotStore(*store_).Save(info, segments, set.profiles, set.uuids).ok());
  auto other = LoadSnapshot(*store_, 0, true);
  ASSERT_TRUE(other.ok());
  auto refused = DefineSegments(*other);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("keep a new snapshot"), std::string::npos);
}

}  // namespace
}  // namespace tessera::analytics
