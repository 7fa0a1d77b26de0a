#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "store/backends.h"
#include "store/sqlite_database.h"
#include "tessera/common/civil_time.h"
#include "tessera/store/store.h"

namespace tessera::store {
namespace {

using Stmt = internal::SqliteStatement;

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<internal::SqliteDatabase> database)
      : database_(std::move(database)), db_(database_->handle()), path_(database_->path()) {}

  Database& db() override { return *database_; }

  Status Init(bool create) {
    // The busy timeout first: turning a store into WAL mode takes an exclusive lock, and a
    // second process opening it at that moment must wait, not fail ("database is locked").
    sqlite3_busy_timeout(db_, 10000);
    TESSERA_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    TESSERA_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
    // One statement, one read transaction: a concurrent creator is seen whole or not at all.
    bool has_meta = false, empty = true;
    {
      Stmt s(db_,
             "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'), "
             "NOT EXISTS (SELECT 1 FROM sqlite_master)");
      if (!s.ok() || s.Step() != SQLITE_ROW) return Error("open");
      has_meta = sqlite3_column_int(s.get(), 0) != 0;
      empty = sqlite3_column_int(s.get(), 1) != 0;
    }
    if (!has_meta) {
      if (!empty) return DataLossError("{} is an SQLite database but not a Tessera store", path_);
      // An empty database is a store whose creation was interrupted: finish it when allowed.
      if (!create) {
        return NotFoundError("the store at {} holds no data yet; load orders with `tessera ingest`",
                             path_);
      }
    }
    return internal::OpenStoreSchema(*database_);
  }

  StatusOr<WriterLock> LockForWriting() override { return database_->LockForWriting(); }

  Status ScanCustomers(const std::function<void(uint32_t, const privacy::Uuid&)>& fn) override {
    Stmt s(db_, "SELECT first_index, count, uuids FROM customer_chunks ORDER BY first_index");
    if (!s.ok()) return Error("read customers");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      const auto first = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 0));
      const auto count = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 1));
      const auto* blob = static_cast<const uint8_t*>(sqlite3_column_blob(s.get(), 2));
      if (static_cast<size_t>(sqlite3_column_bytes(s.get(), 2)) != count * size_t{16}) {
        return DataLossError("customer chunk at index {} in {} is damaged", first, path_);
      }
      privacy::Uuid u;
      for (uint32_t i = 0; i < count; ++i) {
        std::memcpy(u.bytes.data(), blob + 16 * size_t{i}, 16);
        fn(first + i, u);
      }
    }
    return rc == SQLITE_DONE ? OkStatus() : Error("read customers");
  }

  StatusOr<uint32_t> CustomerCount() override {
    Stmt s(db_, "SELECT COALESCE(SUM(count), 0) FROM customer_chunks");
    if (!s.ok() || s.Step() != SQLITE_ROW) return Error("count customers");
    return static_cast<uint32_t>(sqlite3_column_int64(s.get(), 0));
  }

  Status ScanDictionaries(
      const std::function<void(DictKind, uint32_t, const std::string&)>& fn) override {
    Stmt s(db_, "SELECT kind, id, value FROM dictionary ORDER BY kind, id");
    if (!s.ok()) return Error("read dictionary");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      const int kind = sqlite3_column_int(s.get(), 0);
      if (kind < 0 || kind >= static_cast<int>(kDictKindCount)) continue;
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 2));
      fn(static_cast<DictKind>(kind), static_cast<uint32_t>(sqlite3_column_int64(s.get(), 1)),
         std::string(text != nullptr ? text : ""));
    }
    return rc == SQLITE_DONE ? OkStatus() : Error("read dictionary");
  }

  // Each chunk is read through SQLite's incremental blob I/O, so only the wanted column
  // groups' bytes are copied out of the file (the recompute needs about a fifth of them).
  // `begin` runs once the statement has stepped, in its read transaction (SQLite's snapshot is
  // the connection's while a statement is active), so it sees no load committed meanwhile;
  // no explicit transaction, which `fn` could not write in.
  Status ScanOrderChunks(const std::function<StatusOr<uint32_t>()>& begin,
                         const std::function<Status(const OrderColumns&)>& fn) override {
    Stmt s(db_, "SELECT chunk_id, length(data) FROM order_chunks ORDER BY chunk_id");
    if (!s.ok()) return Error("read orders");
    std::unique_ptr<sqlite3_blob, int (*)(sqlite3_blob*)> blob(nullptr, sqlite3_blob_close);
    int rc = s.Step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error("read orders");
    TESSERA_ASSIGN_OR_RETURN(const uint32_t fields, begin());
    OrderColumns chunk;
    for (; rc == SQLITE_ROW; rc = s.Step()) {
      const sqlite3_int64 chunk_id = sqlite3_column_int64(s.get(), 0);
      const auto size = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 1));
      int opened = SQLITE_OK;
      if (blob == nullptr) {
        sqlite3_blob* b = nullptr;
        opened = sqlite3_blob_open(db_, "main", "order_chunks", "data", chunk_id, 0, &b);
        blob.reset(b);
      } else {
        opened = sqlite3_blob_reopen(blob.get(), chunk_id);
      }
      if (opened != SQLITE_OK) return Error("read orders");
      const Status decoded = OrderColumns::DecodeFields(
          size,
          [&](uint64_t offset, uint64_t n, char* dst) {
            return n == 0 || sqlite3_blob_read(blob.get(), dst, static_cast<int>(n),
                                               static_cast<int>(offset)) == SQLITE_OK;
          },
          fields, &chunk);
      if (!decoded.ok()) return decoded.WithContext(fmt::format("{} chunk {}", path_, chunk_id));
      TESSERA_RETURN_IF_ERROR(fn(chunk));
    }
    return rc == SQLITE_DONE ? OkStatus() : Error("read orders");
  }

  Status AppendBatch(int64_t load_id, const Batch& batch) override {
    TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = AppendBatchInTransaction(load_id, batch);
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
    return Exec("COMMIT");
  }

  StatusOr<StoreStats> TableStats() override {
    Stmt s(db_,
           "SELECT (SELECT COALESCE(SUM(count),0) FROM customer_chunks),"
           " (SELECT COALESCE(SUM(order_count),0) FROM order_chunks),"
           " (SELECT COUNT(*) FROM order_chunks), (SELECT COUNT(*) FROM loads)");
    if (!s.ok() || s.Step() != SQLITE_ROW) return Error("read statistics");
    StoreStats st;
    st.customers = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
    st.orders = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 1));
    st.chunks = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 2));
    st.loads = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 3));
    return st;
  }

  std::string Describe() const override { return "SQLite store " + path_; }

 private:
  static std::string Text(sqlite3_stmt* s, int col) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return t != nullptr ? std::string(t) : std::string();
  }

  Status AppendBatchInTransaction(int64_t load_id, const Batch& batch) {
    if (!batch.new_customers.empty()) {
      Stmt s(db_, "INSERT INTO customer_chunks(first_index, count, uuids) VALUES (?, ?, ?)");
      sqlite3_bind_int64(s.get(), 1, batch.first_new_customer);
      sqlite3_bind_int64(s.get(), 2, static_cast<int64_t>(batch.new_customers.size()));
      sqlite3_bind_blob64(s.get(), 3, batch.new_customers.data(), batch.new_customers.size() * 16,
                          SQLITE_STATIC);
      if (!s.ok() || s.Step() != SQLITE_DONE) return Error("store customers");
    }
    if (!batch.new_dict_entries.empty()) {
      Stmt s(db_, "INSERT INTO dictionary(kind, id, value) VALUES (?, ?, ?)");
      for (const auto& e : batch.new_dict_entries) {
        s.Reset();
        sqlite3_bind_int(s.get(), 1, static_cast<int>(e.kind));
        sqlite3_bind_int64(s.get(), 2, e.id);
        sqlite3_bind_text(s.get(), 3, e.value.data(), static_cast<int>(e.value.size()),
                          SQLITE_STATIC);
        if (!s.ok() || s.Step() != SQLITE_DONE) return Error("store dictionary");
      }
    }
    if (!batch.new_match_tokens.empty()) {
      Stmt s(db_,
             "INSERT INTO customer_match_tokens(customer_idx, kind, token) VALUES (?, ?, ?) ON "
             "CONFLICT DO NOTHING");
      for (const MatchToken& t : batch.new_match_tokens) {
        s.Reset();
        sqlite3_bind_int64(s.get(), 1, t.customer);
        sqlite3_bind_int(s.get(), 2, privacy::IdentifierKindByte(t.kind));
        sqlite3_bind_blob(s.get(), 3, t.token.data(), static_cast<int>(t.token.size()),
                          SQLITE_STATIC);
        if (!s.ok() || s.Step() != SQLITE_DONE) return Error("store match tokens");
      }
    }
    TESSERA_RETURN_IF_ERROR(internal::WriteOrderVersions(*database_, batch.order_versions));
    if (batch.commit_with) TESSERA_RETURN_IF_ERROR(batch.commit_with(*database_));
    if (batch.orders.size() > 0) {
      const std::string blob = batch.orders.Encode();
      Stmt s(db_, "INSERT INTO order_chunks(load_id, order_count, data) VALUES (?, ?, ?)");
      sqlite3_bind_int64(s.get(), 1, load_id);
      sqlite3_bind_int64(s.get(), 2, static_cast<int64_t>(batch.orders.size()));
      sqlite3_bind_blob64(s.get(), 3, blob.data(), blob.size(), SQLITE_STATIC);
      if (!s.ok() || s.Step() != SQLITE_DONE) return Error("store orders");
    }
    return OkStatus();
  }

  Status Exec(const char* sql) { return database_->ExecuteScript(sql); }

  // The core's error for the connection's last failure; a broken constraint here is a bug, not
  // a duplicate the caller could name.
  Status Error(const char* what) { return internal::UnexpectedDuplicate(database_->Error(what)); }

  std::unique_ptr<internal::SqliteDatabase> database_;
  sqlite3* db_;  // database_'s connection
  std::string path_;
};

}  // namespace

namespace internal {

StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& location, bool create) {
  std::string path = location;
  if (path.starts_with("sqlite:")) path = path.substr(7);
  if (path.find("://") != std::string::npos) {
    return InvalidArgumentError(
        "unsupported store location '{}' (expected a file path or a postgresql:// URL)", path);
  }
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (!exists && !create) {
    return NotFoundError("no store at {}; load orders first with `tessera ingest FILE --store {}`",
                         path, path);
  }
  if (!exists) {
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    // Created here with mode 0600, as the key is: pseudonymous data is personal data still.
    // SQLite gives its -wal and -shm files the database file's mode. (An empty file is a
    // store whose creation has not begun, which Init finishes.)
    if (create) {
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
    }
  }
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return UnavailableError("cannot open store {}: {}", path, msg);
  }
  auto store = std::make_unique<SqliteStore>(std::make_unique<internal::SqliteDatabase>(db, path));
  TESSERA_RETURN_IF_ERROR(store->Init(create));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace internal

}  // namespace tessera::store
