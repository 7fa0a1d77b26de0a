#pragma once

// Test support: fresh, empty store locations for either implementation, so one test suite
// runs against both (TEST_P over Backend). PostgreSQL locations are new databases on the
// server named by $TESSERA_TEST_POSTGRES_URL (scripts/pg-test-cluster starts one; scripts/test
// sets it), dropped again when the TestStores object goes away.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "store/backends.h"

namespace tessera::store {

enum class Backend { kSqlite, kPostgres };

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
}
// So that test listings (and ctest's names) read "GetParam() = PostgreSQL".
inline void PrintTo(Backend backend, std::ostream* os) {
  *os << (backend == Backend::kSqlite ? "SQLite" : "PostgreSQL");
}

// The test server's URL, or nullptr when none is configured (PostgreSQL tests then skip).
inline const char* TestPostgresUrl() {
  const char* url = std::getenv("TESSERA_TEST_POSTGRES_URL");
  return url != nullptr && *url != '\0' ? url : nullptr;
}

#define TESSERA_SKIP_WITHOUT_POSTGRES(backend)                                    \
  do {                                                                            \
    if ((backend) == ::tessera::store::Backend::kPostgres &&                      \
        ::tessera::store::TestPostgresUrl() == nullptr) {                         \
      TESSERA_SKIP_OR_FAIL(                                                       \
          "TESSERA_TEST_POSTGRES_URL is not set; start a server with "            \
          "`eval \"$(scripts/pg-test-cluster start)\"` to run PostgreSQL tests"); \
    }                                                                             \
  } while (0)

// Commits one load of `n` new customers with distinct pseudonyms (first byte `tag` + i).
inline void AddTestCustomers(Store& store, uint8_t n, uint8_t tag) {
  auto load = store.BeginLoad();
  ASSERT_TRUE(load.ok()) << load.status().ToString();
  Batch batch;
  for (uint8_t i = 0; i < n; ++i) {
    privacy::Uuid u;
    u.bytes[0] = static_cast<uint8_t>(tag + i);
    u.bytes[15] = i;
    batch.new_customers.push_back(u);
  }
  ASSERT_TRUE(store.AppendBatch(*load, batch).ok());
  ASSERT_TRUE(store.FinishLoad(*load, "{}").ok());
}

class TestStores {
 public:
  TestStores() = default;
  TestStores(const TestStores&) = delete;
  TestStores& operator=(const TestStores&) = delete;
  ~TestStores() {
    for (const auto& db : databases_) {
      (void)internal::PostgresExecute(TestPostgresUrl(),
                                      "DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    }
  }

  // A location where no store exists yet: a file path under the test's temp dir, or a new
  // empty database.
  std::string NewLocation(Backend backend, const std::string& name) {
    if (backend == Backend::kSqlite) {
      const auto dir = std::filesystem::path(::testing::TempDir()) /
                       ("tessera_stores_" + std::to_string(::getpid()));
      std::filesystem::create_directories(dir);
      const auto path = dir / name;
      for (const char* suffix : {"", "-wal", "-shm", ".lock"})
        std::filesystem::remove(path.string() + suffix);
      return path.string();
    }
    static std::atomic<int> counter{0};
    const std::string db =
        "tessera_t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    const Status s = internal::PostgresExecute(TestPostgresUrl(), "CREATE DATABASE " + db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    databases_.push_back(db);
    auto location = internal::PostgresLocationWithDatabase(TestPostgresUrl(), db);
    EXPECT_TRUE(location.ok());
    return location.ok() ? *location : "";
  }

 private:
  std::vector<std::string> databases_;
};

// A test run against each backend (TEST_P) with a new store in store_, at location_.
class StoreFixture : public ::testing::TestWithParam<Backend> {
 protected:
  // Skips without a PostgreSQL server; creates the store `name` and migrates `schema`'s
  // tables (a module's test binary links no other module's tables).
  void OpenNewStore(const std::string& name, const Schema* schema = nullptr) {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    location_ = stores_.NewLocation(GetParam(), name);
    auto s = Store::Open(location_, true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    if (schema != nullptr) {
      const Status migrated = store_->db().Migrate(*schema);
      ASSERT_TRUE(migrated.ok()) << migrated.ToString();
    }
  }

  TestStores stores_;
  std::string location_;
  std::unique_ptr<Store> store_;
};

}  // namespace tessera::store
