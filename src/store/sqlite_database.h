#pragma once

// The store core on SQLite: one connection to a store file. Internal to the store module;
// the SQLite store (sqlite_store.cc) owns one and reaches the handle for its hot paths.

#include <sqlite3.h>

#include <string>
#include <unordered_map>

#include "tessera/store/database.h"

namespace tessera::store::internal {

// A prepared statement, finalized on destruction.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~SqliteStatement() { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  int Step() { return sqlite3_step(stmt_); }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

class SqliteDatabase final : public Database {
 public:
  // Takes ownership of `db`, an open connection to the store file at `path`.
  SqliteDatabase(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteDatabase() override;

  Dialect dialect() const override { return Dialect::kSqlite; }
  std::string Describe() const override { return "SQLite store " + path_; }
  Status Query(std::string_view sql, std::span<const SqlValue> params, const RowFn& fn) override;
  StatusOr<uint64_t> Execute(std::string_view sql, std::span<const SqlValue> params) override;
  Status ExecuteScript(std::string_view sql) override;
  Status Insert(std::string_view table, std::span<const SqlColumn> columns, size_t rows,
                const std::function<void(size_t, SqlRowWriter&)>& fill) override;
  StatusOr<WriterLock> LockForWriting() override;
  Status LockMigrations() override { return OkStatus(); }  // BEGIN IMMEDIATE serializes

  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }
  // The Status for the connection's last error while doing `what`: kDataLoss (not a
  // database), kUnavailable (busy, locked), kResourceExhausted (disk full), kAlreadyExists
  // (a unique constraint), else kInternal.
  Status Error(std::string_view what);

 protected:
  Status Begin() override;
  Status Commit() override;
  void Rollback() override;

 private:
  // A prepared statement lent out by Prepare: from the cache (reset and unbound when given
  // back), or of its own when the cached one is in use (a query run inside another's rows).
  class Lease {
   public:
    Lease() = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    sqlite3_stmt* get() const { return stmt_; }

   private:
    friend class SqliteDatabase;
    sqlite3_stmt* stmt_ = nullptr;
    bool* in_use_ = nullptr;  // the cache entry's flag; null for a statement of its own
  };
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  // Prepares `sql` (with $N placeholders), or takes it from the cache, and binds `params`.
  Status Prepare(std::string_view sql, std::span<const SqlValue> params, Lease* out);

  sqlite3* db_;
  std::string path_;
  // Statements by their text, so that a statement run once per row (an attribute import) is
  // prepared once. Bounded: statements beyond kMaxCached are prepared each time.
  static constexpr size_t kMaxCached = 64;
  std::unordered_map<std::string, Cached> cache_;
};

}  // namespace tessera::store::internal
