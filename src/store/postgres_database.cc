#include "store/postgres_database.h"

#include <limits>

namespace tessera::store::internal {
namespace {

// A row of a text-format result.
class Row final : public SqlRow {
 public:
  Row(const PGresult* r, int row) : r_(r), row_(row) {}
  bool IsNull(int col) const override { return PQgetisnull(r_, row_, col) != 0; }
  int64_t Int(int col) const override {
    if (IsNull(col)) return 0;
    const char* v = PQgetvalue(r_, row_, col);
    if (*v == 't') return 1;  // boolean
    if (*v == 'f') return 0;
    return std::strtoll(v, nullptr, 10);
  }
  double Real(int col) const override {
    if (IsNull(col)) return std::numeric_limits<double>::quiet_NaN();
    return std::strtod(PQgetvalue(r_, row_, col), nullptr);
  }
  std::string Text(int col) const override {
    return std::string(PQgetvalue(r_, row_, col), static_cast<size_t>(PQgetlength(r_, row_, col)));
  }
  std::string Bytes(int col) const override {
    if (IsNull(col)) return {};
    size_t n = 0;
    unsigned char* raw =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row_, col)), &n);
    if (raw == nullptr) return {};
    std::string out(reinterpret_cast<const char*>(raw), n);
    PQfreemem(raw);
    return out;
  }

 private:
  const PGresult* r_;
  int row_;
};

// Encodes one row of a bulk insert for binary COPY, each value as its column's type.
class CopyRowWriter final : public SqlRowWriter {
 public:
  CopyRowWriter(CopyRows& rows, std::span<const SqlColumn> columns)
      : rows_(rows), columns_(columns) {}
  void Start() {
    rows_.Row(static_cast<int16_t>(columns_.size()));
    col_ = 0;
  }
  void Null() override {
    rows_.Null();
    ++col_;
  }
  void Int(int64_t v) override {
    switch (type()) {
      case SqlType::kInt16:
        rows_.Int16(static_cast<int16_t>(v));
        break;
      case SqlType::kInt32:
        rows_.Int32(static_cast<int32_t>(v));
        break;
      case SqlType::kBool: {
        const char b = v != 0 ? 1 : 0;
        rows_.Bytes(std::string_view(&b, 1));
        break;
      }
      case SqlType::kReal:
        rows_.Float64(static_cast<double>(v));
        break;
      default:
        rows_.Int64(v);
    }
    ++col_;
  }
  void Real(double v) override {
    rows_.Float64(v);
    ++col_;
  }
  void Text(std::string_view v) override {
    rows_.Bytes(v);
    ++col_;
  }
  void Bytes(std::string_view v) override {
    rows_.Bytes(v);
    ++col_;
  }
  void Day(int64_t day) override {
    rows_.Date(day);
    ++col_;
  }
  void Uuid(const privacy::Uuid& u) override {
    rows_.Uuid(u);
    ++col_;
  }

 private:
  SqlType type() const { return col_ < columns_.size() ? columns_[col_].type : SqlType::kInt64; }
  CopyRows& rows_;
  std::span<const SqlColumn> columns_;
  size_t col_ = 0;
};

}  // namespace

PostgresDatabase::~PostgresDatabase() = default;

Status PostgresDatabase::Error(const PGresult* r, std::string_view what) {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string code = state != nullptr ? state : "";
  const char* primary = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string msg =
      Scrub(primary != nullptr ? primary : PQerrorMessage(conn()), safe_.password);
  const bool lost = PQstatus(conn()) != CONNECTION_OK || code.starts_with("08");
  if (lost || code == "40001" || code == "40P01" || code == "53300" || code.starts_with("57P")) {
    return UnavailableError("PostgreSQL {}: cannot {}: {}", safe_.Describe(), what, msg);
  }
  if (code == "53100") {
    return ResourceExhaustedError("PostgreSQL {}: disk full ({}): {}", safe_.Describe(), what, msg);
  }
  if (code == "23505") {
    return AlreadyExistsError("PostgreSQL {}: cannot {}: {}", safe_.Describe(), what, msg);
  }
  return InternalError("PostgreSQL {}: cannot {}: {}{}", safe_.Describe(), what, msg,
                       code.empty() ? "" : " (SQLSTATE " + code + ")");
}

StatusOr<Result> PostgresDatabase::Run(std::string_view sql, std::span<const SqlValue> params) {
  std::vector<std::string> text(params.size());
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const SqlValue& p = params[i];
    switch (p.kind()) {
      case SqlValue::Kind::kNull:
        values[i] = nullptr;
        continue;
      case SqlValue::Kind::kInt:
        text[i] = std::to_string(p.integer());
        break;
      case SqlValue::Kind::kReal:
        if (std::isnan(p.real())) {
          values[i] = nullptr;
          continue;
        }
        text[i] = fmt::format("{}", p.real());  // shortest text that reads back exactly
        break;
      case SqlValue::Kind::kText:
        text[i] = std::string(p.text());
        break;
      case SqlValue::Kind::kBytes:
        values[i] = p.text().data();
        lengths[i] = static_cast<int>(p.text().size());
        formats[i] = 1;
        continue;
    }
    values[i] = text[i].c_str();
  }
  const std::string statement(sql);
  Result r(PQexecParams(conn(), statement.c_str(), static_cast<int>(params.size()), nullptr,
                        values.data(), lengths.data(), formats.data(), 0));
  const ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return Error(r.get(), "run a query");
  return r;
}

Status PostgresDatabase::Query(std::string_view sql, std::span<const SqlValue> params,
                               const RowFn& fn) {
  TESSERA_ASSIGN_OR_RETURN(auto r, Run(sql, params));
  for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
    TESSERA_RETURN_IF_ERROR(fn(Row(r.get(), i)));
  }
  return OkStatus();
}

StatusOr<uint64_t> PostgresDatabase::Execute(std::string_view sql,
                                             std::span<const SqlValue> params) {
  TESSERA_ASSIGN_OR_RETURN(auto r, Run(sql, params));
  const char* changed = PQcmdTuples(r.get());
  return static_cast<uint64_t>(*changed != '\0' ? std::strtoull(changed, nullptr, 10) : 0);
}

Status PostgresDatabase::ExecuteScript(std::string_view sql) {
  const std::string script(sql);
  Result r(PQexec(conn(), script.c_str()));
  const ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error(r.get(), "run SQL");
  return OkStatus();
}

Status PostgresDatabase::Insert(std::string_view table, std::span<const SqlColumn> columns,
                                size_t rows,
                                const std::function<void(size_t, SqlRowWriter&)>& fill) {
  if (rows == 0) return OkStatus();
  std::string sql = fmt::format("COPY {} (", table);
  for (size_t c = 0; c < columns.size(); ++c) {
    sql += (c > 0 ? ", " : "") + std::string(columns[c].name);
  }
  sql += ") FROM STDIN (FORMAT binary)";
  return Copy(sql.c_str(), rows, [&](CopyRows& out, size_t i) {
    CopyRowWriter writer(out, columns);
    writer.Start();
    fill(i, writer);
  });
}

StatusOr<WriterLock> PostgresDatabase::LockForWriting() {
  TESSERA_ASSIGN_OR_RETURN(
      auto got, QueryText("SELECT pg_try_advisory_lock(" + std::to_string(kWriterLockKey) + ")"));
  if (got.value_or("") != "t") {
    return UnavailableError(
        "another tessera process is writing to PostgreSQL {}; wait for it to finish",
        safe_.Describe());
  }
  *writer_lock_held_ = true;
  std::weak_ptr<bool> held = writer_lock_held_;
  PGconn* c = conn();
  return WriterLock([held, c] {
    // The connection outlives the lock (WriterLock's contract); after a reconnect that could
    // not take the lock again, there is nothing to release.
    if (auto h = held.lock(); h && *h) {
      *h = false;
      if (PQstatus(c) == CONNECTION_OK) {
        Result r(PQexec(
            c, ("SELECT pg_advisory_unlock(" + std::to_string(kWriterLockKey) + ")").c_str()));
      }
    }
  });
}

Status PostgresDatabase::Reconnect() {
  PQreset(conn());
  if (PQstatus(conn()) != CONNECTION_OK) return Error(nullptr, "reconnect");
  SetUpConnection(conn());
  if (*writer_lock_held_) {
    // The old session's lock died with it; take it again before writing anything.
    TESSERA_ASSIGN_OR_RETURN(
        auto got, QueryText("SELECT pg_try_advisory_lock(" + std::to_string(kWriterLockKey) + ")"));
    if (got.value_or("") != "t") {
      *writer_lock_held_ = false;
      return FailedPreconditionError(
          "lost the connection to PostgreSQL {} and another tessera process started writing "
          "meanwhile; run the load again when it has finished",
          safe_.Describe());
    }
  }
  return OkStatus();
}

Status PostgresDatabase::Begin() { return ExecuteScript("BEGIN"); }
Status PostgresDatabase::Commit() { return ExecuteScript("COMMIT"); }
void PostgresDatabase::Rollback() {
  if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
}
Status PostgresDatabase::LockMigrations() {
  return ExecuteScript("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
}

}  // namespace tessera::store::internal
