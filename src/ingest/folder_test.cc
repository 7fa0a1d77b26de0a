#include "tessera/ingest/folder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "ingest/loader_test_support.h"

namespace tessera::ingest {
namespace {

namespace fs = std::filesystem;
using store::Backend;
using store::BackendName;

constexpr const char* kHeader = "order_id,customer_id,email,ordered_at,amount\n";

class FolderTest : public testing::LoaderTestBase {
 protected:
  FolderTest() : LoaderTestBase("tessera_folder") {}

  void SetUp() override {
    LoaderTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    inbox_ = dir_ / "inbox";
    fs::create_directories(inbox_);
    options_.dir = inbox_.string();
    now_ = Now();
    options_.now_seconds = [this] { return now_; };
  }

  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Writes a file into the watched folder, modified `age_seconds` before the test's now, so
  // that the oldest-first order is the test's.
  std::string Drop(const std::string& name, const std::string& text, int age_seconds = 60) {
    const std::string path = Write("inbox/" + name, text);
    fs::last_write_time(
        path, fs::file_time_type::clock::now() + std::chrono::seconds(now_ - Now() - age_seconds));
    return path;
  }

  uint64_t OrderCount(store::Store& s) {
    auto stats = s.Stats();
    EXPECT_TRUE(stats.ok());
    return stats.ok() ? stats->orders : 0;
  }

  fs::path inbox_;
  int64_t now_ = 0;
  FolderOptions options_;
};

INSTANTIATE_TEST_SUITE_P(Backends, FolderTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

TEST_P(FolderTest, LoadsEachSettledFileOnceOldestFirstAndMovesItAside) {
  auto store = OpenStore();
  Drop("b.csv", std::string(kHeader) + "2,C2,b@example.de,2024-01-02,20.00\n", 100);
  Drop("a.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n", 200);
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->files.size(), 2u);
  EXPECT_EQ(run->files[0].name, "a.csv");  // the older one first
  EXPECT_EQ(run->files[1].name, "b.csv");
  EXPECT_EQ(run->loaded, 2u);
  EXPECT_EQ(run->orders_stored, 2u);
  EXPECT_EQ(OrderCount(*store), 2u);
  EXPECT_FALSE(fs::exists(inbox_ / "a.csv"));
  EXPECT_TRUE(fs::exists(inbox_ / "loaded" / "a.csv"));
  EXPECT_EQ(run->files[0].moved_to, (inbox_ / "loaded" / "a.csv").string());

  auto again = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->files.empty());  // loaded/ is not looked into
  EXPECT_EQ(OrderCount(*store), 2u);
}

// A loaded file's rejected rows are reported beside it (file, line, column, reason; never the
// value), as `tessera ingest --rejects` writes them; a clean file gets no report.
TEST_P(FolderTest, ALoadedFilesRejectedRowsAreReportedBesideIt) {
  auto store = OpenStore();
  std::vector<io::Reject> seen;
  options_.load.on_reject = [&seen](const io::Reject& r) { seen.push_back(r); };
  Drop("mixed.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n" +
                        "2,C2,b@example.de,Jane Doe,20.00\n" +
                        "3,C3,c@example.de,2024-01-03,abc\n");
  Drop("clean.csv", std::string(kHeader) + "4,C4,d@example.de,2024-01-04,5.00\n", 30);
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->loaded, 2u);
  EXPECT_EQ(seen.size(), 2u);  // the caller's callback still hears of each
  const fs::path report = inbox_ / "loaded" / "mixed.csv.rejects.csv";
  ASSERT_TRUE(fs::exists(report));
  const std::string text = ReadFile(report.string());
  EXPECT_EQ(text.substr(0, text.find('\n')), io::kRejectsCsvHeader);
  EXPECT_NE(text.find("mixed.csv,3,4,ordered_at,bad_timestamp,"), std::string::npos) << text;
  EXPECT_NE(text.find("mixed.csv,4,5,amount,"), std::string::npos) << text;
  EXPECT_EQ(text.find("Jane"), std::string::npos);  // never the value
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_FALSE(fs::exists(inbox_ / "loaded" / "clean.csv.rejects.csv"));
  EXPECT_NE(run->ToText().find("mixed.csv.rejects.csv"), std::string::npos) << run->ToText();
}

TEST_P(FolderTest, LeavesFilesThatAreStillBeingWritten) {
  auto store = OpenStore();
  Drop("fresh.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n", 3);
  Drop("orders.csv.part", std::string(kHeader) + "2,C2,b@example.de,2024-01-02,20.00\n");
  Drop(".orders.csv.x7Gq2", std::string(kHeader) + "3,C3,c@example.de,2024-01-03,30.00\n");
  Drop("Orders.CSV.CRDOWNLOAD", std::string(kHeader) + "4,C4,d@example.de,2024-01-04,40.00\n");
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->files.size(), 1u);  // the temporary names are not even listed
  EXPECT_EQ(run->files[0].outcome, FolderFile::Outcome::kWaiting);
  EXPECT_EQ(run->waiting, 1u);
  EXPECT_EQ(OrderCount(*store), 0u);
  EXPECT_TRUE(fs::exists(inbox_ / "fresh.csv"));

  now_ += 30;  // settled now
  auto later = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->loaded, 1u);
  EXPECT_EQ(OrderCount(*store), 1u);
  EXPECT_TRUE(fs::exists(inbox_ / "orders.csv.part"));
}

TEST_P(FolderTest, AFileDatedInTheFutureWaitsForItsTime) {
  // A writer on a share whose clock is ahead: its file may still be being written.
  auto store = OpenStore();
  Drop("ahead.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n", -3600);
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->waiting, 1u);
  EXPECT_EQ(OrderCount(*store), 0u);
  now_ += 3600 + 60;
  auto later = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->loaded, 1u);
}

TEST_P(FolderTest, RefusesABadFileWithItsReasonAndStillLoadsTheGoodOnes) {
  auto store = OpenStore();
  Drop("good.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n", 300);
  // No column that a preset knows: "Jane Doe" must not reach the error note.
  Drop("unmapped.csv", "foo,bar\nJane Doe,7\n", 200);
  // A gzip cut off in the middle: damaged, nothing of it may land.
  std::string lines = kHeader;
  for (int i = 0; i < 2000; ++i) {
    lines += fmt::format("T{},C{},t{}@example.de,2024-02-01,{}.00\n", i, i % 50, i, i + 1);
  }
  const std::string gz = WriteGzip("full.csv.gz", lines);
  const std::string bytes = ReadFile(gz);
  Drop("cut.csv.gz", bytes.substr(0, bytes.size() / 2), 100);
  // Damaged in its first block: the header cannot even be read to pick a preset.
  Drop("head.csv.gz", std::string("\x1f\x8b\x08\x00garbage", 11), 80);
  Drop("later.csv", std::string(kHeader) + "2,C2,b@example.de,2024-01-02,20.00\n", 50);

  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->loaded, 2u);
  EXPECT_EQ(run->refused, 3u);
  EXPECT_EQ(OrderCount(*store), 2u);
  for (const char* name : {"unmapped.csv", "cut.csv.gz", "head.csv.gz"}) {
    const fs::path moved = inbox_ / "failed" / name;
    EXPECT_TRUE(fs::exists(moved)) << name;
    const std::string note = ReadFile(moved.string() + ".error.txt");
    EXPECT_FALSE(note.empty()) << name;
    EXPECT_EQ(note.find("Jane"), std::string::npos) << note;
    EXPECT_EQ(note.find("example.de"), std::string::npos) << note;
  }
  EXPECT_NE(ReadFile((inbox_ / "failed" / "cut.csv.gz.error.txt").string()).find("damaged"),
            std::string::npos);
  EXPECT_EQ(run->files[1].outcome, FolderFile::Outcome::kRefused);
  EXPECT_NE(run->files[1].error.find("unmapped.csv"), std::string::npos) << run->files[1].error;
}

TEST_P(FolderTest, TellsEachFilesOutcomeAsItIsFinal) {
  auto store = OpenStore();
  Drop("good.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n", 300);
  Drop("unmapped.csv", "foo,bar\n1,2\n", 200);
  Drop("fresh.csv", std::string(kHeader) + "2,C2,b@example.de,2024-01-02,20.00\n", 0);
  std::vector<std::pair<std::string, FolderFile::Outcome>> told;
  options_.on_file = [&](const FolderFile& f) {
    // Final: a loaded or refused file has been moved when it is told.
    if (f.outcome != FolderFile::Outcome::kWaiting) {
      EXPECT_TRUE(fs::exists(f.moved_to));
    }
    told.emplace_back(f.name, f.outcome);
  };
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  const std::vector<std::pair<std::string, FolderFile::Outcome>> want = {
      {"good.csv", FolderFile::Outcome::kLoaded},
      {"unmapped.csv", FolderFile::Outcome::kRefused},
      {"fresh.csv", FolderFile::Outcome::kWaiting}};
  EXPECT_EQ(told, want);
}

TEST_P(FolderTest, AFileLoadedButNotMovedIsLoadedAgainWithoutDuplicates) {
  // A run killed between the commit and the move: the next run loads the file again.
  auto store = OpenStore();
  const std::string path = Drop("a.csv", std::string(kHeader) +
                                             "1,C1,a@example.de,2024-01-01,10.00\n"
                                             "2,C2,b@example.de,2024-01-02,20.00\n");
  auto mapping = io::LoadMapping("generic");
  ASSERT_TRUE(mapping.ok());
  LoadOptions load;
  load.mapping = *mapping;
  ASSERT_TRUE(LoadOrders(*store, *key_, {path}, load).ok());
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->loaded, 1u);
  EXPECT_EQ(run->orders_stored, 0u);
  EXPECT_EQ(run->files[0].summary.orders_already_stored, 2u);
  EXPECT_EQ(OrderCount(*store), 2u);
  EXPECT_TRUE(fs::exists(inbox_ / "loaded" / "a.csv"));
}

TEST_P(FolderTest, ASecondFileOfTheSameNameIsKeptBesideTheFirst) {
  auto store = OpenStore();
  Drop("daily.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n");
  ASSERT_TRUE(LoadFolder(*store, *key_, options_).ok());
  Drop("daily.csv", std::string(kHeader) + "2,C2,b@example.de,2024-01-02,20.00\n");
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->files[0].moved_to, (inbox_ / "loaded" / "daily-1.csv").string());
  EXPECT_TRUE(fs::exists(inbox_ / "loaded" / "daily.csv"));
  EXPECT_EQ(OrderCount(*store), 2u);
}

TEST_P(FolderTest, AStoreOfAnotherKeyStopsTheRunAndLeavesTheFile) {
  auto store = OpenStore();
  ASSERT_TRUE(store->BindKey("another key's fingerprint").ok());
  Drop("a.csv", std::string(kHeader) + "1,C1,a@example.de,2024-01-01,10.00\n");
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), StatusCode::kFailedPrecondition) << run.status().ToString();
  EXPECT_TRUE(fs::exists(inbox_ / "a.csv"));
  EXPECT_FALSE(fs::exists(inbox_ / "failed"));
}

TEST_P(FolderTest, AMissingFolderIsNotFound) {
  auto store = OpenStore();
  options_.dir = (dir_ / "nowhere").string();
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), StatusCode::kNotFound);
  options_.dir = Write("plain-file", "x");
  EXPECT_EQ(LoadFolder(*store, *key_, options_).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(FolderTest, AnEmptyFolderIsAnEmptyRun) {
  auto store = OpenStore();
  auto run = LoadFolder(*store, *key_, options_);
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run->files.empty());
  EXPECT_NE(run->ToText().find("0 loaded, 0 refused, 0 waiting"), std::string::npos);
  EXPECT_FALSE(fs::exists(inbox_ / "loaded"));  // made only when a file goes there
}

}  // namespace
}  // namespace tessera::ingest
