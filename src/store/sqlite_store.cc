#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "store/backends.h"
#include "tessera/common/civil_time.h"
#include "tessera/store/store.h"

namespace tessera::store {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
-- Customer pseudonyms (16-byte UUIDs) in chunks; a customer's dense index is
-- first_index + its position in the chunk.
CREATE TABLE IF NOT EXISTS customer_chunks (
  chunk_id    INTEGER PRIMARY KEY,
  first_index INTEGER NOT NULL UNIQUE,
  count       INTEGER NOT NULL,
  uuids       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dictionary (
  kind  INTEGER NOT NULL,
  id    INTEGER NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS loads (
  load_id     INTEGER PRIMARY KEY,
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  summary     TEXT
);
-- Orders in columnar chunks (store/order_columns.h); one chunk per committed batch.
CREATE TABLE IF NOT EXISTS order_chunks (
  chunk_id    INTEGER PRIMARY KEY,
  load_id     INTEGER NOT NULL,
  order_count INTEGER NOT NULL,
  data        BLOB NOT NULL
);
)sql";

std::string NowIso() {
  const auto now = std::chrono::system_clock::now();
  return FormatIsoTimestamp(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

// A prepared statement, finalized on destruction.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
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

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  Status Init(bool create) {
    TESSERA_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    TESSERA_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
    sqlite3_busy_timeout(db_, 10000);
    bool has_meta = false;
    {
      Stmt s(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'");
      if (!s.ok()) return Error("open");
      has_meta = s.Step() == SQLITE_ROW;
    }
    if (!has_meta) {
      bool empty = true;
      {
        Stmt s(db_, "SELECT 1 FROM sqlite_master LIMIT 1");
        empty = s.Step() != SQLITE_ROW;
      }
      if (!empty) return DataLossError("{} is an SQLite database but not a Tessera store", path_);
      // An empty database is a store whose creation was interrupted: finish it when allowed.
      if (!create) {
        return NotFoundError("the store at {} holds no data yet; load orders with `tessera ingest`",
                             path_);
      }
      TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
      Status s = Exec(kSchema);
      if (s.ok()) s = PutMeta("format", "tessera");
      if (s.ok()) s = PutMeta("schema_version", std::to_string(kSchemaVersion));
      if (s.ok()) s = PutMeta("created_at", NowIso());
      if (!s.ok()) {
        (void)Exec("ROLLBACK");
        return s;
      }
      return Exec("COMMIT");
    }
    TESSERA_ASSIGN_OR_RETURN(auto format, GetMeta("format"));
    TESSERA_ASSIGN_OR_RETURN(auto version, GetMeta("schema_version"));
    if (format != "tessera" || !version) {
      return DataLossError("{} is an SQLite database but not a Tessera store", path_);
    }
    if (std::atoi(version->c_str()) > kSchemaVersion) {
      return FailedPreconditionError(
          "store {} has schema version {}, newer than this tessera supports ({}); upgrade tessera",
          path_, *version, kSchemaVersion);
    }
    return OkStatus();
  }

  Status BindKey(const std::string& fingerprint) override {
    TESSERA_ASSIGN_OR_RETURN(auto current, GetMeta("key_fingerprint"));
    if (current) {
      if (*current == fingerprint) return OkStatus();
      return FailedPreconditionError(
          "this store was written with another key (store's key fingerprint {}, this key's {}); "
          "use the data owner's key that created the store (--key or TESSERA_KEY)",
          *current, fingerprint);
    }
    return PutMeta("key_fingerprint", fingerprint);
  }

  StatusOr<std::optional<std::string>> KeyFingerprint() override {
    return GetMeta("key_fingerprint");
  }

  StatusOr<std::shared_ptr<void>> LockForWriting() override {
    const std::string lock_path = path_ + ".lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
      return UnavailableError("cannot open lock file {}: {}", lock_path, std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return UnavailableError("another tessera process is writing to {}; wait for it to finish",
                              path_);
    }
    return std::shared_ptr<void>(nullptr, [fd](void*) {
      ::flock(fd, LOCK_UN);
      ::close(fd);
    });
  }

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

  Status ScanOrders(const std::function<Status(const OrderColumns&)>& fn) override {
    Stmt s(db_, "SELECT chunk_id, data FROM order_chunks ORDER BY chunk_id");
    if (!s.ok()) return Error("read orders");
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      const auto* blob = static_cast<const char*>(sqlite3_column_blob(s.get(), 1));
      const auto size = static_cast<size_t>(sqlite3_column_bytes(s.get(), 1));
      auto chunk = OrderColumns::Decode(std::string_view(blob, size));
      if (!chunk.ok()) {
        return chunk.status().WithContext(
            fmt::format("{} chunk {}", path_, sqlite3_column_int64(s.get(), 0)));
      }
      TESSERA_RETURN_IF_ERROR(fn(*chunk));
    }
    return rc == SQLITE_DONE ? OkStatus() : Error("read orders");
  }

  StatusOr<int64_t> BeginLoad() override {
    Stmt s(db_, "INSERT INTO loads(started_at) VALUES (?)");
    const std::string now = NowIso();
    sqlite3_bind_text(s.get(), 1, now.c_str(), -1, SQLITE_TRANSIENT);
    if (!s.ok() || s.Step() != SQLITE_DONE) return Error("start load");
    return sqlite3_last_insert_rowid(db_);
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

  Status FinishLoad(int64_t load_id, const std::string& summary_json) override {
    Stmt s(db_, "UPDATE loads SET finished_at = ?, summary = ? WHERE load_id = ?");
    const std::string now = NowIso();
    sqlite3_bind_text(s.get(), 1, now.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s.get(), 2, summary_json.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s.get(), 3, load_id);
    if (!s.ok() || s.Step() != SQLITE_DONE) return Error("finish load");
    return OkStatus();
  }

  StatusOr<std::vector<LoadRecord>> Loads() override {
    Stmt s(db_,
           "SELECT load_id, started_at, COALESCE(finished_at, ''), COALESCE(summary, '') FROM "
           "loads ORDER BY load_id");
    if (!s.ok()) return Error("read loads");
    std::vector<LoadRecord> out;
    while (s.Step() == SQLITE_ROW) {
      LoadRecord r;
      r.load_id = sqlite3_column_int64(s.get(), 0);
      r.started_at = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1));
      r.finished_at = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 2));
      r.summary_json = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 3));
      out.push_back(std::move(r));
    }
    return out;
  }

  StatusOr<StoreStats> Stats() override {
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

  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const int code = sqlite3_errcode(db_);
      std::string msg = err != nullptr ? err : "unknown error";
      sqlite3_free(err);
      if (code == SQLITE_NOTADB)
        return DataLossError("{} is not a Tessera store (not an SQLite database)", path_);
      if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        return UnavailableError("{} is busy: {}", path_, msg);
      return InternalError("{}: {}", path_, msg);
    }
    return OkStatus();
  }

  Status Error(const char* what) {
    const int code = sqlite3_errcode(db_);
    if (code == SQLITE_NOTADB)
      return DataLossError("{} is not a Tessera store (not an SQLite database)", path_);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
      return UnavailableError("{} is busy ({})", path_, what);
    if (code == SQLITE_FULL)
      return ResourceExhaustedError("disk full while writing {} ({})", path_, what);
    return InternalError("{}: cannot {}: {}", path_, what, sqlite3_errmsg(db_));
  }

  Status PutMeta(const std::string& key, const std::string& value) {
    Stmt s(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
    sqlite3_bind_text(s.get(), 1, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s.get(), 2, value.c_str(), -1, SQLITE_TRANSIENT);
    if (!s.ok() || s.Step() != SQLITE_DONE) return Error("write metadata");
    return OkStatus();
  }

  StatusOr<std::optional<std::string>> GetMeta(const std::string& key) {
    Stmt s(db_, "SELECT value FROM meta WHERE key = ?");
    if (!s.ok()) return Error("read metadata");
    sqlite3_bind_text(s.get(), 1, key.c_str(), -1, SQLITE_TRANSIENT);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) {
      return std::optional<std::string>(
          reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0)));
    }
    if (rc != SQLITE_DONE) return Error("read metadata");
    return std::optional<std::string>();
  }

  sqlite3* db_;
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
  }
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return UnavailableError("cannot open store {}: {}", path, msg);
  }
  auto store = std::make_unique<SqliteStore>(db, path);
  TESSERA_RETURN_IF_ERROR(store->Init(create));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace internal

}  // namespace tessera::store
