#pragma once

// Test support shared by every module's tests: what a test that cannot run here does.
//
// A test that needs something this machine lacks (../shared/data, a PostgreSQL server, time
// zone data) is reported as skipped, never as passed (ctest reads gtest's "[  SKIPPED ]",
// tests/CMakeLists.txt). Under CI=true nothing may be missing: the test fails, naming what.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace tessera::test {

inline bool UnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

// ../shared/data/<relative>, beside the source tree (TESSERA_SOURCE_DIR).
inline std::filesystem::path SharedDataPath(const std::string& relative) {
  const char* root = std::getenv("TESSERA_SOURCE_DIR");
  return std::filesystem::path(root != nullptr ? root : TESSERA_SOURCE_DIR) / ".." / "shared" /
         "data" / relative;
}

}  // namespace tessera::test

// Skips the current test with `reason`, or under CI=true fails it; returns from the caller
// (a test body or SetUp).
#define TESSERA_SKIP_OR_FAIL(reason)                                     \
  do {                                                                   \
    if (::tessera::test::UnderCi()) {                                    \
      GTEST_FAIL() << "CI=true, but this test cannot run: " << (reason); \
    } else {                                                             \
      GTEST_SKIP() << (reason);                                          \
    }                                                                    \
  } while (0)
