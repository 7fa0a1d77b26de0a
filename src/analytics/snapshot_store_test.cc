// Snapshots in both stores: kept whole, read back exactly, validated, pruned, migrated into an
// older store, and readable through the documented BI views.

#include "tessera/analytics/snapshot_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <limits>

#include "store/test_stores.h"
#include "tessera/store/store.h"

namespace tessera::analytics {
namespace {

using store::AddTestCustomers;
using store::Backend;
using store::BackendName;
using store::Store;
using store::TestStores;
namespace internal = store::internal;

class SnapshotStoreTest : public store::StoreFixture {
 protected:
  void SetUp() override {
    OpenNewStore("snapshots.db", &SnapshotStore::Schema());
    if (IsSkipped() || HasFatalFailure()) return;
    // Five customers with distinct pseudonyms.
    AddTestCustomers(*store_, 5, 0xa0);
  }

  SnapshotStore Snapshots() { return SnapshotStore(*store_); }

  // One value of a query on the store's database, as text ("" for NULL or no row).
  std::string Sql(const std::string& sql) {
    if (GetParam() == Backend::kPostgres) {
      auto v = internal::PostgresQueryValue(location_, sql);
      EXPECT_TRUE(v.ok()) << v.status().ToString();
      return v.ok() ? *v : "";
    }
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(location_.c_str(), &db), SQLITE_OK);
    std::string out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
  // The BI view `name` under this backend's naming (tessera_bi.name or bi_name).
  std::string View(const std::string& name) {
    return GetParam() == Backend::kPostgres ? "tessera_bi." + name : "bi_" + name;
  }

  static SnapshotInfo Info(int64_t as_of) {
    SnapshotInfo i;
    i.as_of_day = as_of;
    i.start_day = as_of - 364;
    i.window = "12m";
    i.currency = "EUR";
    i.currency_exponent = 2;
    i.last_load_id = 1;
    i.customers_in_store = 5;
    return i;
  }
  static std::vector<SnapshotSegment> TwoSegments() {
    std::vector<SnapshotSegment> g(2);
    g[0].key = "champions";
    g[0].name_en = "Champions";
    g[0].name_de = "VIPs";
    g[0].uuid_count = 2;
    g[0].sum_order_count = 7;
    g[0].sum_clv_minor = 123456;
    g[0].median_clv_minor = 61728;
    g[0].avg_order_count = 3.5;
    g[0].avg_clv = 617.28;
    g[0].avg_recency_days = 12.5;
    g[0].share_percent = 66.67;
    g[1].key = "lost";
    g[1].name_en = "Lost";
    g[1].name_de = "Verlorene";
    g[1].uuid_count = 1;
    g[1].sum_order_count = 1;
    g[1].sum_clv_minor = -99;
    g[1].median_clv_minor = -99;
    g[1].avg_order_count = 1;
    g[1].avg_clv = -0.99;
    g[1].avg_recency_days = 300;
    g[1].share_percent = 33.33;
    return g;
  }
  // Profiles of `customers`, segment i % 2.
  static std::vector<Profile> Profiles(std::vector<uint32_t> customers) {
    std::vector<Profile> out;
    for (uint32_t c : customers) {
      Profile p;
      p.customer = c;
      p.segment = static_cast<uint16_t>(c % 2);
      p.r_score = static_cast<uint8_t>(1 + c);
      p.f_score = 5;
      p.m_score = static_cast<uint8_t>(5 - c);
      p.order_count = 3 + c;
      p.revenue_minor = 10'000 * c - 1;
      p.recency_days = static_cast<int32_t>(10 * c);
      p.first_day = 19'000 + static_cast<int32_t>(c);
      p.last_day = 19'500 - static_cast<int32_t>(c);
      p.p_alive = c == 2 ? std::numeric_limits<double>::quiet_NaN() : 0.125 * c;
      p.expected_purchases = 1.0 / 3.0;
      p.predicted_clv = c == 2 ? std::numeric_limits<double>::quiet_NaN() : 1e6 / 7.0;
      out.push_back(p);
    }
    return out;
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, SnapshotStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

TEST_P(SnapshotStoreTest, ASavedSnapshotReadsBackExactly) {
  const auto profiles = Profiles({0, 2, 3});
  auto id = Snapshots().Save(Info(20'000), TwoSegments(), profiles);
  ASSERT_TRUE(id.ok()) << id.status().ToString();

  auto all = Snapshots().List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  const SnapshotInfo& info = (*all)[0];
  EXPECT_EQ(info.id, *id);
  EXPECT_EQ(info.as_of_day, 20'000);
  EXPECT_EQ(info.start_day, 20'000 - 364);
  EXPECT_EQ(info.window, "12m");
  EXPECT_EQ(info.currency, "EUR");
  EXPECT_EQ(info.profile_count, 3u);
  EXPECT_EQ(info.customers_in_store, 5u);
  EXPECT_EQ(info.created_at.size(), 20u);  // 2026-11-23T12:00:00Z

  auto segments = Snapshots().Segments(*id);
  ASSERT_TRUE(segments.ok());
  ASSERT_EQ(segments->size(), 2u);
  const auto expected = TwoSegments();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*segments)[i].key, expected[i].key);
    EXPECT_EQ((*segments)[i].name_de, expected[i].name_de);
    EXPECT_EQ((*segments)[i].sum_clv_minor, expected[i].sum_clv_minor);
    EXPECT_EQ((*segments)[i].avg_clv, expected[i].avg_clv);  // exact: doubles round-trip
    EXPECT_EQ((*segments)[i].share_percent, expected[i].share_percent);
  }

  std::vector<Profile> back;
  ASSERT_TRUE(Snapshots().ScanProfiles(*id, [&](const Profile& p) { back.push_back(p); }).ok());
  ASSERT_EQ(back.size(), profiles.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].customer, profiles[i].customer);
    EXPECT_EQ(back[i].segment, profiles[i].segment);
    EXPECT_EQ(back[i].r_score, profiles[i].r_score);
    EXPECT_EQ(back[i].m_score, profiles[i].m_score);
    EXPECT_EQ(back[i].order_count, profiles[i].order_count);
    EXPECT_EQ(back[i].revenue_minor, profiles[i].revenue_minor);
    EXPECT_EQ(back[i].recency_days, profiles[i].recency_days);
    EXPECT_EQ(back[i].first_day, profiles[i].first_day);
    EXPECT_EQ(back[i].last_day, profiles[i].last_day);
    EXPECT_EQ(std::isnan(back[i].p_alive), std::isnan(profiles[i].p_alive));
    if (!std::isnan(profiles[i].p_alive)) {
      EXPECT_EQ(back[i].p_alive, profiles[i].p_alive);
    }
    EXPECT_EQ(back[i].expected_purchases, profiles[i].expected_purchases);
  }
  EXPECT_EQ(Snapshots().List()->size(), 1u);
}

TEST_P(SnapshotStoreTest, SnapshotIdsIncreaseAndUnknownIdsAreNotFound) {
  auto a = Snapshots().Save(Info(20'000), TwoSegments(), Profiles({0}));
  auto b = Snapshots().Save(Info(19'000), TwoSegments(), Profiles({1}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(*b, *a);
  auto all = Snapshots().List();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, *a);  // oldest first, by id, whatever the as-of dates
  EXPECT_EQ(Snapshots().Segments(*b + 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Snapshots().ScanProfiles(*b + 1, [](const Profile&) {}).code(), StatusCode::kNotFound);
}

TEST_P(SnapshotStoreTest, ABadSnapshotIsRefusedAndNothingIsWritten) {
  EXPECT_EQ(Snapshots().Save(Info(20'000), TwoSegments(), Profiles({0, 9})).status().code(),
            StatusCode::kInvalidArgument);  // customer 9 of 5
  EXPECT_EQ(Snapshots().Save(Info(20'000), TwoSegments(), Profiles({3, 1})).status().code(),
            StatusCode::kInvalidArgument);  // not in customer order
  auto bad_segment = Profiles({0});
  bad_segment[0].segment = 2;
  EXPECT_EQ(Snapshots().Save(Info(20'000), TwoSegments(), bad_segment).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Snapshots().List()->size(), 0u);
  EXPECT_EQ(Sql("SELECT count(*) FROM snapshot_profiles"), "0");
}

TEST_P(SnapshotStoreTest, PruneKeepsTheNewest) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(*Snapshots().Save(Info(20'000 + i), TwoSegments(), Profiles({0, 1})));
  }
  auto pruned = Snapshots().Prune(3);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 1u);
  EXPECT_EQ(*Snapshots().Prune(3), 0u);
  auto all = Snapshots().List();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, ids[1]);
  EXPECT_EQ(Sql("SELECT count(*) FROM snapshot_profiles"), "6");
  EXPECT_EQ(Sql("SELECT count(*) FROM snapshot_segments"), "6");
  EXPECT_EQ(*Snapshots().Prune(0), 3u);
  EXPECT_EQ(Sql("SELECT count(*) FROM snapshot_profiles"), "0");
}

TEST_P(SnapshotStoreTest, BiViewsShowTheNewestSnapshotWithPseudonymsAndMajorUnits) {
  ASSERT_TRUE(Snapshots().Save(Info(20'000), TwoSegments(), Profiles({0, 1, 3})).ok());
  ASSERT_TRUE(Snapshots().Save(Info(20'030), TwoSegments(), Profiles({1, 2, 3, 4})).ok());
  std::vector<privacy::Uuid> uuids;
  ASSERT_TRUE(
      store_->ScanCustomers([&](uint32_t, const privacy::Uuid& u) { uuids.push_back(u); }).ok());

  EXPECT_EQ(Sql("SELECT count(*) FROM " + View("profiles_latest")), "4");
  EXPECT_EQ(Sql("SELECT group_de FROM " + View("profiles_latest") + " WHERE customer_uuid = '" +
                uuids[3].ToString() + "'"),
            "Verlorene");
  EXPECT_EQ(Sql("SELECT order_count FROM " + View("profiles_latest") + " WHERE customer_uuid = '" +
                uuids[4].ToString() + "'"),
            "7");
  // 39999 minor units = 399.99 EUR
  EXPECT_EQ(Sql("SELECT round(clv * 100) FROM " + View("profiles_latest") +
                " WHERE customer_uuid = '" + uuids[4].ToString() + "'"),
            GetParam() == Backend::kPostgres ? "39999" : "39999.0");
  EXPECT_EQ(Sql("SELECT CAST(last_order AS text) FROM " + View("profiles_latest") +
                " WHERE customer_uuid = '" + uuids[1].ToString() + "'"),
            "2023-05-22");  // day 19499
  EXPECT_EQ(Sql("SELECT count(*) FROM " + View("segments_latest")), "2");
  EXPECT_EQ(Sql("SELECT CAST(as_of AS text) FROM " + View("segments_latest") + " LIMIT 1"),
            "2024-11-03");  // day 20030
  EXPECT_EQ(Sql("SELECT count(*) FROM " + View("segments")), "4");
  // Migration between the two: 1 and 3 stayed (segments 1 and 1), 0 left, 2 and 4 are new.
  EXPECT_EQ(Sql("SELECT sum(customers) FROM " + View("segment_migration_latest")), "5");
  EXPECT_EQ(Sql("SELECT customers FROM " + View("segment_migration_latest") +
                " WHERE from_segment = 'lost' AND to_segment = 'lost'"),
            "2");
  EXPECT_EQ(Sql("SELECT customers FROM " + View("segment_migration_latest") +
                " WHERE from_segment IS NULL AND to_segment = 'champions'"),
            "2");
  EXPECT_EQ(Sql("SELECT customers FROM " + View("segment_migration_latest") +
                " WHERE from_segment = 'champions' AND to_segment IS NULL"),
            "1");
}

TEST_P(SnapshotStoreTest, BiViewsGiveMoneyWithTheCurrencysTwoDecimals) {
  ASSERT_TRUE(Snapshots().Save(Info(20'000), TwoSegments(), Profiles({0, 1, 3})).ok());
  // As a BI tool reads the value: its text, not a numeric with the division's scale.
  EXPECT_EQ(Sql("SELECT CAST(sum_clv AS text) FROM " + View("segments_latest") +
                " WHERE segment_key = 'champions'"),
            "1234.56");
  EXPECT_EQ(Sql("SELECT CAST(median_clv AS text) FROM " + View("segments_latest") +
                " WHERE segment_key = 'lost'"),
            "-0.99");
  EXPECT_EQ(Sql("SELECT CAST(min(clv) AS text) FROM " + View("profiles_latest")), "99.99");
}

TEST_P(SnapshotStoreTest, AStoreOfTheFirstSchemaIsMigratedWhenOpened) {
  // Take the store back to schema version 1, as the first release wrote it.
  if (GetParam() == Backend::kPostgres) {
    ASSERT_TRUE(internal::PostgresExecute(
                    location_,
                    "DROP SCHEMA tessera_bi CASCADE; DROP TABLE snapshots, snapshot_segments, "
                    "snapshot_profiles, load_rejects; UPDATE tessera_meta SET value = "
                    "'1' WHERE key = "
                    "'schema_version'")
                    .ok());
  } else {
    store_.reset();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(location_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP VIEW bi_snapshots; DROP VIEW bi_segments_latest; DROP VIEW "
                           "bi_segments; DROP VIEW bi_profiles_latest; DROP VIEW bi_profiles; "
                           "DROP VIEW bi_segment_migration_latest; DROP TABLE snapshots; DROP "
                           "TABLE snapshot_segments; DROP TABLE snapshot_profiles; DROP TABLE "
                           "load_rejects; UPDATE meta SET value = '1' WHERE key = "
                           "'schema_version'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  store_.reset();
  auto reopened = Store::Open(location_, false);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(Sql(GetParam() == Backend::kPostgres
                    ? "SELECT value FROM tessera_meta WHERE key = 'schema_version'"
                    : "SELECT value FROM meta WHERE key = 'schema_version'"),
            std::to_string(internal::kSchemaVersion));
  EXPECT_EQ(*(*reopened)->CustomerCount(), 5u);  // the data survived
  EXPECT_TRUE(
      analytics::SnapshotStore(**reopened).Save(Info(20'000), TwoSegments(), Profiles({0})).ok());
  EXPECT_EQ(Sql("SELECT count(*) FROM " + View("profiles_latest")), "1");
}

TEST_P(SnapshotStoreTest, RejectedRowsAreKeptWithTheirLoad) {
  auto load = store_->BeginLoad();
  ASSERT_TRUE(load.ok());
  std::vector<io::Reject> rejects(3);
  for (size_t i = 0; i < rejects.size(); ++i) {
    rejects[i].file = "export, part " + std::to_string(i) + ".csv";
    rejects[i].line = 1'000'000'000'000ull + i;
    rejects[i].column = static_cast<uint32_t>(i);
    rejects[i].column_name = i == 0 ? "" : "ordered_at";
    rejects[i].reason_code = "bad_timestamp";
    rejects[i].reason = "expected an ISO 8601 date";
  }
  ASSERT_TRUE(store_->AddLoadRejects(*load, {rejects[0], rejects[1]}).ok());
  ASSERT_TRUE(store_->AddLoadRejects(*load, {rejects[2]}).ok());  // appended after
  ASSERT_TRUE(store_->AddLoadRejects(*load, {}).ok());
  auto back = store_->LoadRejects(*load);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*back)[i].file, rejects[i].file);
    EXPECT_EQ((*back)[i].line, rejects[i].line);
    EXPECT_EQ((*back)[i].column, rejects[i].column);
    EXPECT_EQ((*back)[i].column_name, rejects[i].column_name);
    EXPECT_EQ((*back)[i].reason, rejects[i].reason);
  }
  EXPECT_TRUE(store_->LoadRejects(1)->empty());  // the fixture's load had none
  EXPECT_EQ(store_->LoadRejects(*load + 1).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::analytics
