// Folder sources (a watched folder run like a pull) on both stores: the configuration kept, each
// settled file loaded once and the run recorded, a refused file making the outcome "refused",
// a missing folder making it "failed".

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "store/test_stores.h"
#include "tessera/sources/pull.h"
#include "tessera/sources/source_store.h"
#include "tessera/sources/webhook.h"

namespace tessera::sources {
namespace {

namespace fs = std::filesystem;
using store::Backend;
using store::BackendName;

constexpr const char* kHeader = "order_id,customer_id,email,ordered_at,amount\n";

class FolderSourceTest : public store::StoreFixture {
 protected:
  void SetUp() override {
    OpenNewStore("folder_source.db", &SourceStore::Schema());
    if (IsSkipped() || HasFatalFailure()) return;
    std::array<uint8_t, 32> bytes;
    bytes.fill(9);
    key_ = std::make_unique<privacy::OwnerKey>(privacy::OwnerKey::FromBytes(bytes));
    std::string templ = (fs::temp_directory_path() / "tessera_folder_source_XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
    inbox_ = root_ / "inbox";
    fs::create_directories(inbox_);
    now_ = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
    options_.now_seconds = [this] { return now_; };
  }
  void TearDown() override {
    std::error_code ec;
    if (!root_.empty()) fs::remove_all(root_, ec);
  }

  void AddFolder(const std::string& name = "exports", const std::string& mapping = "") {
    SourceConfig c;
    c.name = name;
    c.kind = SourceKind::kFolder;
    c.dir = inbox_.string();
    c.mapping = mapping;
    c.settle_seconds = 10;
    const Status added = SourceStore(store_->db()).Add(c);
    ASSERT_TRUE(added.ok()) << added.ToString();
  }

  // A file in the folder, last modified `age_seconds` before now (settled beyond 10 s).
  void Drop(const std::string& name, const std::string& text, int age_seconds = 60) {
    const fs::path path = inbox_ / name;
    std::ofstream(path) << text;
    fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::seconds(age_seconds));
  }

  RunOutcome Run(const std::string& name = "exports") {
    auto out = RunSource(*store_, *key_, name, options_);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : RunOutcome{};
  }

  uint64_t OrderCount() {
    auto stats = store_->Stats();
    EXPECT_TRUE(stats.ok());
    return stats.ok() ? stats->orders : 0;
  }

  std::unique_ptr<privacy::OwnerKey> key_;
  fs::path root_, inbox_;
  int64_t now_ = 0;
  RunOptions options_;
};

INSTANTIATE_TEST_SUITE_P(Backends, FolderSourceTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

TEST_P(FolderSourceTest, KeepsTheFolderItsMappingAndSettleTimeWithoutAUrl) {
  AddFolder("exports", "shopify");
  auto got = SourceStore(store_->db()).Get("exports");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->kind, SourceKind::kFolder);
  EXPECT_EQ(got->dir, inbox_.string());
  EXPECT_EQ(got->Location(), inbox_.string());
  EXPECT_TRUE(got->url.empty());
  EXPECT_EQ(got->mapping, "shopify");
  EXPECT_EQ(got->settle_seconds, 10);
}

TEST_P(FolderSourceTest, RefusesARelativeFolderAUrlOrCredentials) {
  SourceConfig c;
  c.name = "exports";
  c.kind = SourceKind::kFolder;
  c.dir = "relative/inbox";
  EXPECT_EQ(ValidateSourceConfig(c).code(), StatusCode::kInvalidArgument);
  c.dir = "/srv/inbox";
  EXPECT_TRUE(ValidateSourceConfig(c).ok());
  c.url = "https://shop.example.com";
  EXPECT_EQ(ValidateSourceConfig(c).code(), StatusCode::kInvalidArgument);
  c.url.clear();
  c.token.env = "TOKEN";
  EXPECT_EQ(ValidateSourceConfig(c).code(), StatusCode::kInvalidArgument);
  c.token.env.clear();
  c.settle_seconds = -1;
  EXPECT_EQ(ValidateSourceConfig(c).code(), StatusCode::kInvalidArgument);
}

TEST_P(FolderSourceTest, LoadsEachSettledFileOnceAndRecordsTheRun) {
  AddFolder();
  Drop("a.csv", std::string(kHeader) +
                    "1,C1,a@example.de,2024-01-01,10.00\n2,C2,b@example.de,2024-01-02,"
                    "20.00\n");
  Drop("b.csv.partial", std::string(kHeader) + "3,C3,c@example.de,2024-01-03,30.00\n");
  Drop("c.csv", std::string(kHeader) + "4,C4,d@example.de,2024-01-04,40.00\n", /*age=*/0);
  RunOutcome first = Run();
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_EQ(first.run.outcome, "ok");
  EXPECT_EQ(first.run.trigger, "pull");
  EXPECT_EQ(first.run.files_loaded, 1u);
  EXPECT_EQ(first.run.files_refused, 0u);
  EXPECT_EQ(first.run.files_waiting, 1u);  // c.csv: changed just now; .partial: never looked at
  EXPECT_EQ(first.run.orders_seen, 2u);
  EXPECT_EQ(first.run.orders_stored, 2u);
  EXPECT_EQ(first.run.error, "");
  EXPECT_FALSE(first.run.finished_at.empty());
  EXPECT_EQ(OrderCount(), 2u);
  EXPECT_TRUE(fs::exists(inbox_ / "loaded" / "a.csv"));
  EXPECT_TRUE(fs::exists(inbox_ / "b.csv.partial"));
  EXPECT_TRUE(fs::exists(inbox_ / "c.csv"));

  now_ += 60;  // c.csv has settled
  RunOutcome second = Run();
  EXPECT_EQ(second.run.outcome, "ok");
  EXPECT_EQ(second.run.files_loaded, 1u);
  EXPECT_EQ(second.run.files_waiting, 0u);
  EXPECT_EQ(second.run.orders_stored, 1u);
  EXPECT_EQ(OrderCount(), 3u);

  auto runs = SourceStore(store_->db()).Runs("exports", 10);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].files_loaded, 1u);
  EXPECT_EQ((*runs)[1].files_waiting, 1u);
  EXPECT_EQ((*runs)[1].orders_stored, 2u);
}

TEST_P(FolderSourceTest, ARefusedFileMakesTheOutcomeRefusedAndNamesTheFile) {
  AddFolder();
  Drop("good.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n", 120);
  Drop("unmapped.csv", "foo,bar\n1,2\n", 60);
  RunOutcome out = Run();
  EXPECT_TRUE(out.status.ok()) << out.status.ToString();  // the run did its work
  EXPECT_EQ(out.run.outcome, "refused");
  EXPECT_EQ(out.run.files_loaded, 1u);
  EXPECT_EQ(out.run.files_refused, 1u);
  EXPECT_EQ(out.run.orders_stored, 1u);
  EXPECT_NE(out.run.error.find("unmapped.csv"), std::string::npos) << out.run.error;
  EXPECT_NE(out.run.error.find("failed/"), std::string::npos) << out.run.error;
  EXPECT_TRUE(fs::exists(inbox_ / "failed" / "unmapped.csv"));
  EXPECT_TRUE(fs::exists(inbox_ / "failed" / "unmapped.csv.error.txt"));
  auto runs = SourceStore(store_->db()).Runs("exports", 1);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().outcome, "refused");
  EXPECT_EQ(runs->front().error, out.run.error);

  RunOutcome again = Run();  // the refused file is out of the way
  EXPECT_EQ(again.run.outcome, "ok");
  EXPECT_EQ(again.run.files_refused, 0u);
}

TEST_P(FolderSourceTest, AGivenMappingReadsEveryFile) {
  AddFolder("exports", "generic");
  Drop("a.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n");
  RunOutcome out = Run();
  EXPECT_EQ(out.run.outcome, "ok") << out.run.error;
  EXPECT_EQ(out.run.orders_stored, 1u);
}

TEST_P(FolderSourceTest, AMissingFolderFailsTheRunNamingTheSource) {
  AddFolder();
  fs::remove_all(inbox_);
  RunOutcome out = Run();
  EXPECT_EQ(out.status.code(), StatusCode::kNotFound) << out.status.ToString();
  EXPECT_EQ(out.run.outcome, "failed");
  EXPECT_NE(out.run.error.find("source 'exports'"), std::string::npos) << out.run.error;
  auto runs = SourceStore(store_->db()).Runs("exports", 1);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().outcome, "failed");
}

// A run that fails half-way (here: failed/ cannot be made, since a file has its name) records
// the files it loaded before.
TEST_P(FolderSourceTest, AFailedRunRecordsWhatItLoadedBefore) {
  AddFolder();
  Drop("good.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n", 120);
  Drop("unmapped.csv", "foo,bar\n1,2\n", 60);
  Drop("failed", "in the way\n", /*age=*/0);
  RunOutcome out = Run();
  EXPECT_FALSE(out.status.ok());
  EXPECT_EQ(out.run.outcome, "failed");
  EXPECT_NE(out.run.error.find("source 'exports'"), std::string::npos) << out.run.error;
  EXPECT_EQ(out.run.files_loaded, 1u);
  EXPECT_EQ(out.run.orders_stored, 1u);
  EXPECT_EQ(OrderCount(), 1u);
  EXPECT_TRUE(fs::exists(inbox_ / "loaded" / "good.csv"));
  EXPECT_TRUE(fs::exists(inbox_ / "unmapped.csv"));  // left for the next run
  auto runs = SourceStore(store_->db()).Runs("exports", 1);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().files_loaded, 1u);
  EXPECT_EQ(runs->front().orders_stored, 1u);
}

// A store whose sources tables are at version 1 (shops only, before folders) keeps its shops and
// their runs when it is brought to today's version.
TEST_P(FolderSourceTest, AStoreOfShopsOnlyMigratesAndKeepsThem) {
  const std::string location = stores_.NewLocation(GetParam(), "sources_v1.db");
  {
    auto old = store::Store::Open(location, true);
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    const store::Schema v1{"sources", SourceStore::Schema().migrations.first(1)};
    ASSERT_TRUE((*old)->db().Migrate(v1).ok());
  }
  // Opened again, as the release with folders would (a connection migrates a module once).
  auto opened = store::Store::Open(location, false);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store::Database& db = (*opened)->db();
  ASSERT_TRUE(db.Execute("INSERT INTO sources(name, kind, url, credentials, created_at) VALUES "
                         "('shop', 'shopify', 'https://old.myshopify.com', "
                         "'{\"token\":{\"env\":\"OLD_TOKEN\"}}', " +
                         db.NowSql() + ")")
                  .ok());
  ASSERT_TRUE(db.Execute("INSERT INTO source_runs(source, via, started_at, finished_at, pages, "
                         "orders_stored, outcome) VALUES ('shop', 'pull', " +
                         db.NowSql() + ", " + db.NowSql() + ", 2, 7, 'ok')")
                  .ok());
  SourceStore sources(db);
  auto all = sources.List();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().url, "https://old.myshopify.com");
  EXPECT_EQ(all->front().token.env, "OLD_TOKEN");
  EXPECT_EQ(*db.SchemaVersion("sources"),
            static_cast<int>(SourceStore::Schema().migrations.size()));
  auto runs = sources.Runs("shop", 5);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().orders_stored, 7u);
  EXPECT_EQ(runs->front().files_loaded, 0u);
  SourceConfig folder;
  folder.name = "exports";
  folder.kind = SourceKind::kFolder;
  folder.dir = inbox_.string();
  EXPECT_TRUE(sources.Add(folder).ok());
}

TEST_P(FolderSourceTest, TakesNoWebhooks) {
  AddFolder();
  auto got = ReceiveWebhook(*store_, *key_, "exports", "sig", "{}", false);
  EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tessera::sources
