// Named audiences, their history, settings and attached attributes in both stores, and the
// migration that adds them to a store of schema version 3.

#include "tessera/audience/audience_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <string>
#include <vector>

#include "store/test_stores.h"
#include "tessera/store/store.h"

namespace tessera::audience {
namespace {

using store::AddTestCustomers;
using store::Backend;
using store::BackendName;
using store::Store;
using store::TestStores;
namespace internal = store::internal;

class AudienceStoreTest : public store::StoreFixture {
 protected:
  void SetUp() override {
    OpenNewStore("audiences.db", &AudienceStore::Schema());
    if (IsSkipped() || HasFatalFailure()) return;
    AddTestCustomers(*store_, 4, 0xb0);
  }

  AudienceStore Audiences() { return AudienceStore(*store_); }
};

INSTANTIATE_TEST_SUITE_P(Backends, AudienceStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

TEST_P(AudienceStoreTest, SavesUpdatesAndDeletesWithHistory) {
  ASSERT_TRUE(
      Audiences().Save({"cheese lovers", "bought(\"Cheese\")", "", ""}, false, 120, 3).ok());
  EXPECT_EQ(Audiences().Save({"cheese lovers", "clv > 1", "", ""}, false, 1, 3).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(Audiences().Save({"nobody", "clv > 1", "", ""}, true, 1, 3).code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(Audiences().Save({"vips", "segment = \"VIPs\"", "", ""}, false, 40, 3).ok());
  ASSERT_TRUE(Audiences()
                  .Save({"cheese lovers", "bought(\"Cheese\", within=90d)", "", ""}, true, 80, 4)
                  .ok());
  ASSERT_TRUE(Audiences().RecordEvent("cheese lovers", "exported", 80, 4).ok());
  EXPECT_EQ(Audiences().RecordEvent("nobody", "exported", 1, 4).code(), StatusCode::kNotFound);

  auto all = Audiences().List();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "cheese lovers");
  EXPECT_EQ((*all)[0].expression, "bought(\"Cheese\", within=90d)");
  EXPECT_EQ((*all)[0].created_at.size(), 20u);  // 2024-06-30T12:00:00Z
  EXPECT_EQ((*all)[1].name, "vips");

  EXPECT_TRUE(*Audiences().Delete("vips"));
  EXPECT_FALSE(*Audiences().Delete("vips"));
  EXPECT_EQ(Audiences().List()->size(), 1u);

  auto history = Audiences().History("cheese lovers");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].event, "saved");
  EXPECT_EQ((*history)[0].expression, "bought(\"Cheese\")");
  EXPECT_EQ((*history)[0].size, 120u);
  EXPECT_EQ((*history)[0].snapshot_id, 3);
  EXPECT_EQ((*history)[1].event, "updated");
  EXPECT_EQ((*history)[1].size, 80u);
  EXPECT_EQ((*history)[2].event, "exported");
  EXPECT_EQ((*history)[2].expression, "bought(\"Cheese\", within=90d)");
  EXPECT_EQ((*history)[2].seq, 3);
  auto gone = Audiences().History("vips");
  ASSERT_TRUE(gone.ok());
  ASSERT_EQ(gone->size(), 2u);
  EXPECT_EQ((*gone)[1].event, "deleted");
  EXPECT_TRUE(Audiences().History("never")->empty());
}

TEST_P(AudienceStoreTest, KeepsSettings) {
  EXPECT_FALSE(Audiences().Setting("audience.min_export_size")->has_value());
  ASSERT_TRUE(Audiences().SetSetting("audience.min_export_size", "250").ok());
  ASSERT_TRUE(Audiences().SetSetting("audience.min_export_size", "500").ok());
  EXPECT_EQ(Audiences().Setting("audience.min_export_size")->value_or(""), "500");
}

TEST_P(AudienceStoreTest, AttachesAttributesToCustomersReplacingEarlierValues) {
  ASSERT_TRUE(Audiences()
                  .PutAttributes({{0, "tier", "gold"}, {1, "tier", "silver"}, {1, "city", "Köln"}})
                  .ok());
  // Twice in one import: the later one wins.
  ASSERT_TRUE(Audiences().PutAttributes({{0, "tier", "bronze"}, {0, "tier", "platinum"}}).ok());
  EXPECT_EQ(Audiences().PutAttributes({{4, "tier", "gold"}}).code(), StatusCode::kInvalidArgument);
  std::vector<std::tuple<uint32_t, std::string, std::string>> seen;
  ASSERT_TRUE(Audiences()
                  .ScanAttributes([&](const CustomerAttribute& a) {
                    seen.emplace_back(a.customer, a.name, a.value);
                  })
                  .ok());
  const std::vector<std::tuple<uint32_t, std::string, std::string>> expected{
      {1, "city", "Köln"}, {0, "tier", "platinum"}, {1, "tier", "silver"}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(Audiences().Setting("attributes.generation")->value_or(""), "2");
}

TEST_P(AudienceStoreTest, AStoreOfSchemaVersion3GetsTheAudienceTables) {
  const char* downgrade =
      "DROP TABLE audiences; DROP TABLE audience_history; DROP TABLE settings; DROP TABLE "
      "customer_attributes; ";
  store_.reset();
  if (GetParam() == Backend::kPostgres) {
    ASSERT_TRUE(
        internal::PostgresExecute(location_, std::string(downgrade) +
                                                 "UPDATE tessera_meta SET value = '3' WHERE key = "
                                                 "'schema_version'")
            .ok());
  } else {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(location_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           (std::string(downgrade) +
                            "UPDATE meta SET value = '3' WHERE key = 'schema_version'")
                               .c_str(),
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  auto reopened = Store::Open(location_, false);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(*(*reopened)->CustomerCount(), 4u);
  ASSERT_TRUE(audience::AudienceStore(**reopened).Save({"a", "clv > 1", "", ""}, false, 1, 1).ok());
  EXPECT_EQ(audience::AudienceStore(**reopened).List()->size(), 1u);
}

}  // namespace
}  // namespace tessera::audience
