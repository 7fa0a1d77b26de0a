#include "store/sqlite_database.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

namespace tessera::store::internal {
namespace {

// PostgreSQL's placeholders ($1) as SQLite's numbered ones (?1), outside quoted text.
std::string NumberedPlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out += '?';
      continue;
    }
    out += c;
  }
  return out;
}

class Row final : public SqlRow {
 public:
  explicit Row(sqlite3_stmt* s) : s_(s) {}
  bool IsNull(int col) const override { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  int64_t Int(int col) const override { return sqlite3_column_int64(s_, col); }
  double Real(int col) const override {
    return IsNull(col) ? std::numeric_limits<double>::quiet_NaN() : sqlite3_column_double(s_, col);
  }
  std::string Text(int col) const override {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return t != nullptr ? std::string(t, static_cast<size_t>(sqlite3_column_bytes(s_, col)))
                        : std::string();
  }
  std::string Bytes(int col) const override {
    const auto* b = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return b != nullptr ? std::string(b, static_cast<size_t>(sqlite3_column_bytes(s_, col)))
                        : std::string();
  }

 private:
  sqlite3_stmt* s_;
};

// Binds the columns of one row of a bulk insert, in order.
class RowBinder final : public SqlRowWriter {
 public:
  explicit RowBinder(sqlite3_stmt* s) : s_(s) {}
  void Start() { col_ = 1; }
  void Null() override { sqlite3_bind_null(s_, col_++); }
  void Int(int64_t v) override { sqlite3_bind_int64(s_, col_++, v); }
  void Real(double v) override {
    if (std::isnan(v)) return Null();
    sqlite3_bind_double(s_, col_++, v);
  }
  void Text(std::string_view v) override {
    // Copied: a writer may pass a temporary.
    sqlite3_bind_text64(s_, col_++, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  void Bytes(std::string_view v) override {
    sqlite3_bind_blob64(s_, col_++, v.data(), v.size(), SQLITE_TRANSIENT);
  }
  void Day(int64_t day) override { Int(day); }
  void Uuid(const privacy::Uuid& u) override {
    sqlite3_bind_blob(s_, col_++, u.bytes.data(), 16, SQLITE_TRANSIENT);
  }

 private:
  sqlite3_stmt* s_;
  int col_ = 1;
};

}  // namespace

Status SqliteDatabase::Error(std::string_view what) {
  const int code = sqlite3_errcode(db_);
  if (code == SQLITE_NOTADB)
    return DataLossError("{} is not a Tessera store (not an SQLite database)", path_);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
    return UnavailableError("{} is busy ({})", path_, what);
  if (code == SQLITE_FULL)
    return ResourceExhaustedError("disk full while writing {} ({})", path_, what);
  if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY ||
      sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_UNIQUE) {
    return AlreadyExistsError("{}: cannot {}: {}", path_, what, sqlite3_errmsg(db_));
  }
  return InternalError("{}: cannot {}: {}", path_, what, sqlite3_errmsg(db_));
}

SqliteDatabase::~SqliteDatabase() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(db_);
}

SqliteDatabase::Lease::~Lease() {
  if (in_use_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

Status SqliteDatabase::Prepare(std::string_view sql, std::span<const SqlValue> params, Lease* out) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end() && !it->second.in_use) {
    out->stmt_ = it->second.stmt;
  } else {
    const std::string text = NumberedPlaceholders(sql);
    if (sqlite3_prepare_v2(db_, text.c_str(), static_cast<int>(text.size()), &out->stmt_,
                           nullptr) != SQLITE_OK) {
      return Error("prepare a statement");
    }
    if (it == cache_.end() && cache_.size() < kMaxCached) {
      it = cache_.emplace(std::string(sql), Cached{out->stmt_, false}).first;
    } else {
      it = cache_.end();  // in use, or the cache is full: a statement of its own
    }
  }
  if (it != cache_.end()) {
    it->second.in_use = true;
    out->in_use_ = &it->second.in_use;  // unordered_map nodes do not move
  }
  sqlite3_stmt** stmt = &out->stmt_;
  for (size_t i = 0; i < params.size(); ++i) {
    const SqlValue& p = params[i];
    const int at = static_cast<int>(i + 1);
    int rc = SQLITE_OK;
    switch (p.kind()) {
      case SqlValue::Kind::kNull:
        rc = sqlite3_bind_null(*stmt, at);
        break;
      case SqlValue::Kind::kInt:
        rc = sqlite3_bind_int64(*stmt, at, p.integer());
        break;
      case SqlValue::Kind::kReal:
        rc = std::isnan(p.real()) ? sqlite3_bind_null(*stmt, at)
                                  : sqlite3_bind_double(*stmt, at, p.real());
        break;
      case SqlValue::Kind::kText:
        rc = sqlite3_bind_text64(*stmt, at, p.text().data(), p.text().size(), SQLITE_STATIC,
                                 SQLITE_UTF8);
        break;
      case SqlValue::Kind::kBytes:
        rc = sqlite3_bind_blob64(*stmt, at, p.text().data(), p.text().size(), SQLITE_STATIC);
        break;
    }
    if (rc != SQLITE_OK) return Error("bind a parameter");
  }
  return OkStatus();
}

Status SqliteDatabase::Query(std::string_view sql, std::span<const SqlValue> params,
                             const RowFn& fn) {
  Lease stmt;
  TESSERA_RETURN_IF_ERROR(Prepare(sql, params, &stmt));
  const Row row(stmt.get());
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) TESSERA_RETURN_IF_ERROR(fn(row));
  return rc == SQLITE_DONE ? OkStatus() : Error("run a query");
}

StatusOr<uint64_t> SqliteDatabase::Execute(std::string_view sql, std::span<const SqlValue> params) {
  Lease stmt;
  TESSERA_RETURN_IF_ERROR(Prepare(sql, params, &stmt));
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return Error("run a statement");
  return static_cast<uint64_t>(sqlite3_changes64(db_));
}

Status SqliteDatabase::ExecuteScript(std::string_view sql) {
  const std::string text(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const int code = sqlite3_errcode(db_);
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    if (code == SQLITE_NOTADB)
      return DataLossError("{} is not a Tessera store (not an SQLite database)", path_);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
      return UnavailableError("{} is busy: {}", path_, msg);
    if (code == SQLITE_FULL) return ResourceExhaustedError("disk full while writing {}", path_);
    return InternalError("{}: {}", path_, msg);
  }
  return OkStatus();
}

Status SqliteDatabase::Insert(std::string_view table, std::span<const SqlColumn> columns,
                              size_t rows, const std::function<void(size_t, SqlRowWriter&)>& fill) {
  if (rows == 0) return OkStatus();
  std::string sql = fmt::format("INSERT INTO {} (", table);
  for (size_t c = 0; c < columns.size(); ++c)
    sql += (c > 0 ? ", " : "") + std::string(columns[c].name);
  sql += ") VALUES (";
  for (size_t c = 0; c < columns.size(); ++c) sql += c > 0 ? ", ?" : "?";
  sql += ")";
  SqliteStatement s(db_, sql.c_str());
  if (!s.ok()) return Error("prepare an insert");
  RowBinder binder(s.get());
  for (size_t i = 0; i < rows; ++i) {
    s.Reset();
    binder.Start();
    fill(i, binder);
    if (s.Step() != SQLITE_DONE) return Error(fmt::format("insert into {}", table));
  }
  return OkStatus();
}

StatusOr<WriterLock> SqliteDatabase::LockForWriting() {
  const std::string lock_path = path_ + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return UnavailableError("cannot open lock file {}: {}", lock_path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return UnavailableError("another tessera process is writing to {}; wait for it to finish",
                            path_);
  }
  return WriterLock([fd] {
    ::flock(fd, LOCK_UN);
    ::close(fd);
  });
}

Status SqliteDatabase::Begin() { return ExecuteScript("BEGIN IMMEDIATE"); }
Status SqliteDatabase::Commit() { return ExecuteScript("COMMIT"); }
void SqliteDatabase::Rollback() { (void)ExecuteScript("ROLLBACK"); }

}  // namespace tessera::store::internal
