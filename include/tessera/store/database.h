#pragma once

// The store core: one connection to a Tessera store, SQLite or PostgreSQL, with what every
// module needs to keep its own tables there and nothing about what they hold: statements
// with bound parameters, transactions, bulk inserts (binary COPY on PostgreSQL), the writer
// lock, and a migration registry to which each module adds its own migrations.
//
// A module's repository is written once against this interface; where the two dialects
// differ (a date is an integer day on SQLite and a `date` on PostgreSQL), it asks dialect().
// SQL uses PostgreSQL's placeholders, $1, $2, ..., on both backends.
//
// Not thread-safe: one connection per thread. Resource type: not copyable.

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

#include "tessera/common/status.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::store {

enum class Dialect { kSqlite, kPostgres };

// A parameter of a statement: NULL, an integer, a real (NaN binds NULL), text or bytes.
// Text and bytes are borrowed: they must outlive the call that binds them.
class SqlValue {
 public:
  enum class Kind { kNull, kInt, kReal, kText, kBytes };

  SqlValue(std::nullptr_t) {}  // NOLINT: implicit, like the values it stands for
  template <std::integral T>
  SqlValue(T v) : kind_(Kind::kInt), int_(static_cast<int64_t>(v)) {}  // NOLINT
  SqlValue(double v) : kind_(Kind::kReal), real_(v) {}                 // NOLINT
  SqlValue(std::string_view v) : kind_(Kind::kText), text_(v) {}       // NOLINT
  SqlValue(const std::string& v) : kind_(Kind::kText), text_(v) {}     // NOLINT
  SqlValue(const char* v) : kind_(Kind::kText), text_(v) {}            // NOLINT
  static SqlValue Bytes(std::string_view v) {
    SqlValue b(v);
    b.kind_ = Kind::kBytes;
    return b;
  }

  Kind kind() const { return kind_; }
  int64_t integer() const { return int_; }
  double real() const { return real_; }
  std::string_view text() const { return text_; }  // text or bytes

 private:
  Kind kind_ = Kind::kNull;
  int64_t int_ = 0;
  double real_ = 0;
  std::string_view text_;
};

// One row of a query's result, valid during the callback that receives it. Columns count
// from 0. An accessor of the wrong type converts where it can (an integer read as text).
class SqlRow {
 public:
  virtual ~SqlRow() = default;
  virtual bool IsNull(int col) const = 0;
  virtual int64_t Int(int col) const = 0;        // 0 for NULL; booleans as 0 and 1
  virtual double Real(int col) const = 0;        // NaN for NULL
  virtual std::string Text(int col) const = 0;   // "" for NULL
  virtual std::string Bytes(int col) const = 0;  // "" for NULL
};

// The columns of a bulk insert, typed so that PostgreSQL's binary COPY can encode them.
enum class SqlType { kInt16, kInt32, kInt64, kReal, kText, kBytes, kBool, kDay, kUuid };
struct SqlColumn {
  std::string_view name;
  SqlType type;
};

// Fills one row of a bulk insert: exactly one call per column, in the order of the columns.
class SqlRowWriter {
 public:
  virtual ~SqlRowWriter() = default;
  virtual void Null() = 0;
  virtual void Int(int64_t v) = 0;  // kInt16, kInt32, kInt64, kBool
  virtual void Real(double v) = 0;  // NaN writes NULL
  virtual void Text(std::string_view v) = 0;
  virtual void Bytes(std::string_view v) = 0;
  virtual void Day(int64_t day) = 0;  // a day number (civil_time.h): `date` on PostgreSQL
  virtual void Uuid(const privacy::Uuid& u) = 0;
};

// The right to write to a store (one load at a time), held until destroyed. Move-only.
class WriterLock {
 public:
  WriterLock() = default;
  explicit WriterLock(std::function<void()> release) : release_(std::move(release)) {}
  WriterLock(WriterLock&& other) noexcept : release_(std::exchange(other.release_, nullptr)) {}
  WriterLock& operator=(WriterLock&& other) noexcept {
    if (this != &other) {
      Release();
      release_ = std::exchange(other.release_, nullptr);
    }
    return *this;
  }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock() { Release(); }

  bool held() const { return release_ != nullptr; }

 private:
  void Release() {
    if (release_) std::exchange(release_, nullptr)();
  }
  std::function<void()> release_;
};

// One step of a module's schema, in both dialects: it brings the module's tables from
// version N - 1 to N. Append only: a released migration is never edited (each is pinned by
// its hash in a test); a change is a new migration.
struct Migration {
  const char* sqlite;
  const char* postgres;
};

// The tables one module owns: its name (unique in the store) and its migrations, oldest first.
struct Schema {
  std::string_view module;
  std::span<const Migration> migrations;
};

class Database {
 public:
  virtual ~Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  virtual Dialect dialect() const = 0;
  // "SQLite store /path/store.db" or "PostgreSQL store database D on HOST:PORT": safe to
  // print (never a password).
  virtual std::string Describe() const = 0;

  using RowFn = std::function<Status(const SqlRow&)>;
  // Runs one statement with parameters $1, $2, ... and calls `fn` for each row of its result;
  // stops at fn's first error and returns it. Errors: kUnavailable (busy, locked, connection
  // lost), kResourceExhausted (disk full), kDataLoss (not a database), kInternal.
  virtual Status Query(std::string_view sql, std::span<const SqlValue> params, const RowFn& fn) = 0;
  Status Query(std::string_view sql, std::initializer_list<SqlValue> params, const RowFn& fn) {
    return Query(sql, std::span<const SqlValue>(params.begin(), params.size()), fn);
  }
  // Runs one statement and returns how many rows it inserted, changed or deleted. Errors as
  // Query's, and kAlreadyExists when it breaks a unique constraint.
  virtual StatusOr<uint64_t> Execute(std::string_view sql, std::span<const SqlValue> params) = 0;
  StatusOr<uint64_t> Execute(std::string_view sql, std::initializer_list<SqlValue> params = {}) {
    return Execute(sql, std::span<const SqlValue>(params.begin(), params.size()));
  }
  // Runs a script of statements without parameters (a migration).
  virtual Status ExecuteScript(std::string_view sql) = 0;

  // SQL for the current time, to be stored in a timestamp column (ISO 8601 text on SQLite,
  // timestamptz on PostgreSQL), and for reading such a column back as ISO 8601 UTC text
  // ("2026-12-06T23:00:00Z") on both.
  std::string NowSql() const;
  std::string IsoTimestampSql(std::string_view column) const;

  // The first column of the first row as an integer or text; nullopt without a row (or for
  // NULL).
  StatusOr<std::optional<int64_t>> QueryInt(std::string_view sql,
                                            std::initializer_list<SqlValue> params = {});
  StatusOr<std::optional<std::string>> QueryText(std::string_view sql,
                                                 std::initializer_list<SqlValue> params = {});

  // Runs `body` in a transaction that holds the store's write lock from its start (SQLite's
  // BEGIN IMMEDIATE): committed when `body` returns OK, rolled back otherwise (and then
  // body's error is returned). Transactions do not nest: kInternal.
  Status Transaction(const std::function<Status()>& body);
  bool in_transaction() const { return in_transaction_; }

  // Inserts `rows` rows into `table`, `fill(i, writer)` writing row i: a prepared statement
  // on SQLite, binary COPY on PostgreSQL. Inside the caller's transaction, if any.
  virtual Status Insert(std::string_view table, std::span<const SqlColumn> columns, size_t rows,
                        const std::function<void(size_t, SqlRowWriter&)>& fill) = 0;

  // Takes the store's writer lock (one writer at a time, across processes) for the life of the
  // returned handle, which must not outlive this connection. Errors: kUnavailable when
  // another process holds it.
  virtual StatusOr<WriterLock> LockForWriting() = 0;

  // Brings `schema`'s tables up to date: applies the missing migrations, each in its own
  // transaction under the store's migration lock, so that two processes migrating at once
  // apply each one once. Cheap once current (remembered per connection). Not inside a
  // transaction. Errors: kFailedPrecondition when the store holds a newer version of the
  // module's tables than this build knows (upgrade tessera); a failing migration's error,
  // naming module and version, with nothing of it applied.
  Status Migrate(const Schema& schema);
  // The version of `module`'s tables in the store (0 when it has none).
  StatusOr<int> SchemaVersion(std::string_view module);
  // Inside a transaction: waits for the store's migration lock, held until the transaction
  // ends (on SQLite, BEGIN IMMEDIATE serializes already).
  virtual Status LockMigrations() = 0;

 protected:
  Database() = default;

  virtual Status Begin() = 0;  // BEGIN IMMEDIATE / BEGIN
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;  // best effort: a lost connection has rolled back already
 private:
  Status MigrateOnce(const Schema& schema, int version);

  bool in_transaction_ = false;
  std::unordered_set<std::string> current_schemas_;  // modules found up to date
};

}  // namespace tessera::store
