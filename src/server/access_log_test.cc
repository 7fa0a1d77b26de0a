#include "server/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace tessera::server::internal {
namespace {

std::chrono::system_clock::time_point At(int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds));
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AccessLog, ALineIsCommonLogFormatWithDurationAndRole) {
  // 2026-12-07 16:42:42 UTC
  const std::string line = FormatAccessLine(
      {At(1796661762), "GET", "/api/v1/segments", 200, 1234, 812, "3f9a2c1d8e7b6a50", "viewer"});
  EXPECT_EQ(line,
            "- - 3f9a2c1d8e7b6a50 [07/Dec/2026:16:42:42 +0000] \"GET /api/v1/segments HTTP/1.1\" "
            "200 1234 "
            "812 viewer\n");
}

TEST(AccessLog, NoKeyNoRoleAndAStreamedBodyAreDashes) {
  const std::string line =
      FormatAccessLine({At(0), "POST", "/api/v1/ingest", 401, std::nullopt, 5, "", ""});
  EXPECT_EQ(line,
            "- - - [01/Jan/1970:00:00:00 +0000] \"POST /api/v1/ingest HTTP/1.1\" 401 - 5 -\n");
}

TEST(AccessLog, AnUnknownMethodIsNotCopiedIntoTheLog) {
  const std::string line =
      FormatAccessLine({At(0), "ME\"TH OD", "/api/{unknown}", 404, 10, 1, "", ""});
  EXPECT_NE(line.find("\"OTHER /api/{unknown} HTTP/1.1\""), std::string::npos) << line;
}

TEST(AccessLog, ConcurrentLinesAreWrittenWholeAndReopenFollowsARotation) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tessera_access_log_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "access.log").string();
  auto log = AccessLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status().message();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) {
        (*log)->Write({At(0), "GET", "/api/v1/health", 200, 16, 3, "k", "viewer"});
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::string expected =
      "- - k [01/Jan/1970:00:00:00 +0000] \"GET /api/v1/health HTTP/1.1\" 200 16 3 viewer\n";
  std::string all = Slurp(path);
  std::string repeated;
  for (int i = 0; i < 1000; ++i) repeated += expected;
  EXPECT_EQ(all, repeated);

  std::filesystem::rename(path, path + ".1");
  ASSERT_TRUE((*log)->Reopen().ok());
  (*log)->Write({At(0), "GET", "/api/v1/health", 200, 16, 3, "k", "viewer"});
  EXPECT_EQ(Slurp(path), expected);
  EXPECT_EQ(Slurp(path + ".1").size(), repeated.size());
  std::filesystem::remove_all(dir);
}

TEST(AccessLog, AFileThatCannotBeOpenedIsAClearError) {
  auto log = AccessLog::Open("/nonexistent-dir/access.log");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kNotFound);
  EXPECT_NE(log.status().message().find("--access-log"), std::string::npos);
}

}  // namespace
}  // namespace tessera::server::internal
