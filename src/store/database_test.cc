#include "tessera/store/database.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "store/test_stores.h"
#include "tessera/store/store.h"

namespace tessera::store {
namespace {

// The store core's contract, the same on both backends.
class DatabaseTest : public StoreFixture {
 protected:
  void SetUp() override {
    OpenNewStore("core.db");
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(db().ExecuteScript(std::string("CREATE TABLE t (k ") +
                                   (GetParam() == Backend::kSqlite ? "INTEGER" : "bigint") +
                                   " PRIMARY KEY, r " + Real() + ", s text, b " + Blob() + ")")
                    .ok());
  }
  Database& db() { return store_->db(); }
  const char* Real() const { return GetParam() == Backend::kSqlite ? "REAL" : "float8"; }
  const char* Blob() const { return GetParam() == Backend::kSqlite ? "BLOB" : "bytea"; }

  struct Row {
    int64_t k;
    double r;
    bool r_null;
    std::string s, b;
  };
  std::vector<Row> All() {
    std::vector<Row> out;
    const Status st = db().Query("SELECT k, r, s, b FROM t ORDER BY k", {}, [&](const SqlRow& row) {
      out.push_back({row.Int(0), row.Real(1), row.IsNull(1), row.Text(2), row.Bytes(3)});
      return OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
};

TEST_P(DatabaseTest, ParametersOfEveryKindReadBackAsWritten) {
  const std::string bytes("\0\x01\xff'\\x", 6);
  const auto inserted =
      db().Execute("INSERT INTO t (k, r, s, b) VALUES ($1, $2, $3, $4)",
                   {int64_t{-9'000'000'000}, 0.1, "it's $1 'x'", SqlValue::Bytes(bytes)});
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  EXPECT_EQ(*inserted, 1u);
  ASSERT_TRUE(db().Execute("INSERT INTO t (k, r, s, b) VALUES ($1, $2, $3, $4)",
                           {7, std::nan(""), nullptr, nullptr})
                  .ok());
  // Placeholders out of order, and a '$2' inside a literal that is not one.
  ASSERT_TRUE(
      db().Execute("INSERT INTO t (s, k) VALUES ($2 || '$2', $1)", {uint32_t{8}, "a"}).ok());
  const auto rows = All();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].k, -9'000'000'000);
  EXPECT_EQ(rows[0].r, 0.1);  // exactly: reals travel as their shortest exact text
  EXPECT_EQ(rows[0].s, "it's $1 'x'");
  EXPECT_EQ(rows[0].b, bytes);
  EXPECT_EQ(rows[1].k, 7);
  EXPECT_TRUE(rows[1].r_null);  // NaN binds NULL
  EXPECT_TRUE(std::isnan(rows[1].r));
  EXPECT_EQ(rows[1].s, "");
  EXPECT_EQ(rows[2].s, "a$2");
}

TEST_P(DatabaseTest, ExecuteCountsTheRowsItChanged) {
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(db().Execute("INSERT INTO t (k) VALUES ($1)", {k}).ok());
  EXPECT_EQ(*db().Execute("UPDATE t SET s = 'x' WHERE k >= $1", {2}), 3u);
  EXPECT_EQ(*db().Execute("DELETE FROM t WHERE k = $1", {99}), 0u);
  EXPECT_EQ(db().QueryInt("SELECT count(*) FROM t WHERE s = $1", {"x"})->value_or(-1), 3);
  EXPECT_FALSE(db().QueryInt("SELECT k FROM t WHERE k = 99")->has_value());
}

// Statements are kept prepared between calls (SQLite): the same text run inside its own rows,
// and again after a failure, still gives the right answers.
TEST_P(DatabaseTest, AStatementRunInsideItsOwnRowsAndAfterAFailureAnswersRight) {
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(db().Execute("INSERT INTO t (k) VALUES ($1)", {k}).ok());
  const std::string sql = "SELECT k FROM t WHERE k >= $1 ORDER BY k";
  std::vector<std::pair<int64_t, int64_t>> pairs;
  ASSERT_TRUE(db().Query(sql, {1},
                         [&](const SqlRow& outer) {
                           const int64_t o = outer.Int(0);
                           return db().Query(sql, {o}, [&](const SqlRow& inner) {
                             pairs.emplace_back(o, inner.Int(0));
                             return OkStatus();
                           });
                         })
                  .ok());
  EXPECT_EQ(pairs, (std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {1, 2}, {2, 2}}));
  // A callback's error stops the query; the statement is given back and runs again.
  EXPECT_EQ(db().Query(sql, {0}, [](const SqlRow&) { return InvalidArgumentError("stop"); }).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(db().Execute("INSERT INTO t (k) VALUES ($1)", {0}).status().code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(db().Execute("INSERT INTO t (k) VALUES ($1)", {9}).ok());
  EXPECT_EQ(db().QueryInt("SELECT count(*) FROM t WHERE k >= $1", {0})->value_or(-1), 4);
}

TEST_P(DatabaseTest, ADuplicateKeyIsAlreadyExists) {
  ASSERT_TRUE(db().Execute("INSERT INTO t (k) VALUES (1)").ok());
  EXPECT_EQ(db().Execute("INSERT INTO t (k) VALUES (1)").status().code(),
            StatusCode::kAlreadyExists);
}

TEST_P(DatabaseTest, AFailingTransactionLeavesNothingAndReturnsItsError) {
  const Status s = db().Transaction([&]() -> Status {
    TESSERA_RETURN_IF_ERROR(db().Execute("INSERT INTO t (k) VALUES (1)").status());
    return InvalidArgumentError("changed my mind");
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(All().empty());
  ASSERT_TRUE(
      db().Transaction([&] { return db().Execute("INSERT INTO t (k) VALUES (2)").status(); }).ok());
  EXPECT_EQ(All().size(), 1u);
  // A statement that fails inside rolls back what came before it in the transaction.
  EXPECT_FALSE(db().Transaction([&]() -> Status {
                     TESSERA_RETURN_IF_ERROR(db().Execute("INSERT INTO t (k) VALUES (3)").status());
                     return db().Execute("INSERT INTO t (k) VALUES (2)").status();
                   })
                   .ok());
  EXPECT_EQ(All().size(), 1u);
  EXPECT_FALSE(db().in_transaction());
}

TEST_P(DatabaseTest, TransactionsDoNotNest) {
  const Status s = db().Transaction([&] { return db().Transaction([] { return OkStatus(); }); });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
}

TEST_P(DatabaseTest, BulkInsertWritesEveryTypeOnBothBackends) {
  ASSERT_TRUE(db().ExecuteScript(
                      GetParam() == Backend::kSqlite
                          ? "CREATE TABLE bulk (a INTEGER, b INTEGER, c INTEGER, d REAL, e TEXT, "
                            "f BLOB, g INTEGER, h INTEGER, u BLOB)"
                          : "CREATE TABLE bulk (a smallint, b integer, c bigint, d float8, e "
                            "text, f bytea, g boolean, h date, u uuid)")
                  .ok());
  const SqlColumn columns[] = {
      {"a", SqlType::kInt16}, {"b", SqlType::kInt32}, {"c", SqlType::kInt64},
      {"d", SqlType::kReal},  {"e", SqlType::kText},  {"f", SqlType::kBytes},
      {"g", SqlType::kBool},  {"h", SqlType::kDay},   {"u", SqlType::kUuid}};
  privacy::Uuid u;
  for (int i = 0; i < 16; ++i) u.bytes[i] = static_cast<uint8_t>(i * 17);
  const size_t n = 10000;  // several pieces of COPY data on PostgreSQL
  ASSERT_TRUE(db().Insert("bulk", columns, n,
                          [&](size_t i, SqlRowWriter& w) {
                            w.Int(-static_cast<int64_t>(i % 300));
                            w.Int(static_cast<int64_t>(i) * 1000);
                            w.Int(static_cast<int64_t>(i) << 33);
                            if (i % 2 == 0) {
                              w.Real(i / 3.0);
                            } else {
                              w.Real(std::nan(""));
                            }
                            w.Text("ü " + std::to_string(i));
                            w.Bytes(std::string(i % 5, '\0'));
                            w.Int(i % 3 == 0);
                            w.Day(19'000 + static_cast<int64_t>(i));
                            if (i == 7) {
                              w.Null();
                            } else {
                              w.Uuid(u);
                            }
                          })
                  .ok());
  const bool pg = GetParam() == Backend::kPostgres;
  size_t seen = 0;
  const std::string select =
      pg ? "SELECT a, b, c, d, e, f, g, h - DATE '1970-01-01', u::text FROM bulk ORDER BY b"
         : "SELECT a, b, c, d, e, f, g, h, nullif(lower(hex(u)), '') FROM bulk ORDER BY b";
  const Status read = db().Query(select, {}, [&](const SqlRow& r) {
    const size_t i = seen++;
    EXPECT_EQ(r.Int(0), -static_cast<int64_t>(i % 300));
    EXPECT_EQ(r.Int(2), static_cast<int64_t>(i) << 33);
    if (i % 2 == 0) {
      EXPECT_EQ(r.Real(3), i / 3.0);
    } else {
      EXPECT_TRUE(r.IsNull(3));
    }
    EXPECT_EQ(r.Text(4), "ü " + std::to_string(i));
    EXPECT_EQ(r.Bytes(5), std::string(i % 5, '\0'));
    EXPECT_EQ(r.Int(6), i % 3 == 0 ? 1 : 0);
    EXPECT_EQ(r.Int(7), 19'000 + static_cast<int64_t>(i));
    if (i == 7) {
      EXPECT_TRUE(r.IsNull(8));
    } else {
      std::string hex = r.Text(8);
      std::erase(hex, '-');
      EXPECT_EQ(hex, "00112233445566778899aabbccddeeff");
    }
    return OkStatus();
  });
  ASSERT_TRUE(read.ok()) << read.ToString();
  EXPECT_EQ(seen, n);
}

TEST_P(DatabaseTest, TheWriterLockIsExclusiveUntilReleased) {
  auto other = Store::Open(location_, false);
  ASSERT_TRUE(other.ok());
  auto lock = db().LockForWriting();
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_TRUE(lock->held());
  EXPECT_EQ((*other)->db().LockForWriting().status().code(), StatusCode::kUnavailable);
  WriterLock moved = std::move(*lock);
  EXPECT_EQ((*other)->db().LockForWriting().status().code(), StatusCode::kUnavailable);
  moved = WriterLock();
  auto taken = (*other)->db().LockForWriting();
  EXPECT_TRUE(taken.ok()) << taken.status().ToString();
}

constexpr Migration kWidgetMigrations[] = {
    {"CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
     "CREATE TABLE widgets (id integer PRIMARY KEY, name text NOT NULL);"},
    {"ALTER TABLE widgets ADD COLUMN colour TEXT; INSERT INTO widgets VALUES (1, 'a', 'red');",
     "ALTER TABLE widgets ADD COLUMN colour text; INSERT INTO widgets VALUES (1, 'a', 'red');"},
};
constexpr Schema kWidgets{"widgets_test", kWidgetMigrations};

TEST_P(DatabaseTest, AModuleMigratesItsOwnTablesOnce) {
  EXPECT_EQ(*db().SchemaVersion("widgets_test"), 0);
  ASSERT_TRUE(db().Migrate(kWidgets).ok());
  EXPECT_EQ(*db().SchemaVersion("widgets_test"), 2);
  EXPECT_EQ(db().QueryText("SELECT colour FROM widgets WHERE id = 1")->value_or(""), "red");
  // Again, and from another connection: nothing runs twice (the INSERT would fail).
  ASSERT_TRUE(db().Migrate(kWidgets).ok());
  auto other = Store::Open(location_, false);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->db().Migrate(kWidgets).ok());
  EXPECT_EQ(db().QueryInt("SELECT count(*) FROM widgets")->value_or(-1), 1);
  // An older build knows only the first migration: refused, naming the module.
  const Schema older{"widgets_test", std::span(kWidgetMigrations).first(1)};
  auto third = Store::Open(location_, false);
  ASSERT_TRUE(third.ok());
  const Status refused = (*third)->db().Migrate(older);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("widgets_test"), std::string::npos) << refused.message();
}

TEST_P(DatabaseTest, ConnectionsMigratingAtOnceApplyEachMigrationOnce) {
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < 4; ++i) {
    auto s = Store::Open(location_, false);
    ASSERT_TRUE(s.ok());
    stores.push_back(std::move(*s));
  }
  std::vector<std::string> errors(stores.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < stores.size(); ++i) {
    threads.emplace_back([&, i] {
      const Status s = stores[i]->db().Migrate(kWidgets);
      if (!s.ok()) errors[i] = s.ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(db().QueryInt("SELECT count(*) FROM widgets")->value_or(-1), 1);
}

TEST_P(DatabaseTest, AMigrationThatFailsHalfWayLeavesNothingOfIt) {
  constexpr Migration kBroken[] = {
      {"CREATE TABLE first_half (x INTEGER); CREATE TABLE t (x INTEGER);",
       "CREATE TABLE first_half (x integer); CREATE TABLE t (x integer);"},
  };
  const Status s = db().Migrate(Schema{"broken_test", kBroken});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("migration 1 of the broken_test tables"), std::string::npos)
      << s.message();
  EXPECT_EQ(*db().SchemaVersion("broken_test"), 0);
  const char* probe = GetParam() == Backend::kSqlite
                          ? "SELECT count(*) FROM sqlite_master WHERE name = 'first_half'"
                          : "SELECT count(*) FROM pg_class WHERE relname = 'first_half'";
  EXPECT_EQ(db().QueryInt(probe)->value_or(-1), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, DatabaseTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

}  // namespace
}  // namespace tessera::store
