#include "tessera/store/database.h"

#include <string>

#include "store/backends.h"

namespace tessera::store {

std::string Database::NowSql() const {
  return dialect() == Dialect::kSqlite ? "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')" : "now()";
}

std::string Database::IsoTimestampSql(std::string_view column) const {
  if (dialect() == Dialect::kSqlite) return std::string(column);
  return fmt::format("to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", column);
}

StatusOr<std::optional<int64_t>> Database::QueryInt(std::string_view sql,
                                                    std::initializer_list<SqlValue> params) {
  std::optional<int64_t> out;
  TESSERA_RETURN_IF_ERROR(Query(sql, params, [&](const SqlRow& row) {
    if (!out && !row.IsNull(0)) out = row.Int(0);
    return OkStatus();
  }));
  return out;
}

StatusOr<std::optional<std::string>> Database::QueryText(std::string_view sql,
                                                         std::initializer_list<SqlValue> params) {
  std::optional<std::string> out;
  TESSERA_RETURN_IF_ERROR(Query(sql, params, [&](const SqlRow& row) {
    if (!out && !row.IsNull(0)) out = row.Text(0);
    return OkStatus();
  }));
  return out;
}

Status Database::Transaction(const std::function<Status()>& body) {
  if (in_transaction_) return InternalError("{}: a transaction inside a transaction", Describe());
  TESSERA_RETURN_IF_ERROR(Begin());
  in_transaction_ = true;
  Status s = body();
  if (s.ok()) s = Commit();
  if (!s.ok()) Rollback();
  in_transaction_ = false;
  return s;
}

StatusOr<int> Database::SchemaVersion(std::string_view module) {
  const char* exists = dialect() == Dialect::kSqlite
                           ? "SELECT count(*) FROM sqlite_master WHERE name = 'schema_versions'"
                           : "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = "
                             "current_schema() AND tablename = 'schema_versions'";
  TESSERA_ASSIGN_OR_RETURN(auto has_table, QueryInt(exists));
  if (!has_table || *has_table == 0) return 0;
  TESSERA_ASSIGN_OR_RETURN(
      auto version,
      QueryInt("SELECT version FROM schema_versions WHERE module = $1", {std::string(module)}));
  return version ? static_cast<int>(*version) : 0;
}

Status Database::Migrate(const Schema& schema) {
  const std::string module(schema.module);
  if (current_schemas_.contains(module)) return OkStatus();
  if (in_transaction_) {
    return InternalError("{}: the tables of {} migrated inside a transaction", Describe(), module);
  }
  const int known = static_cast<int>(schema.migrations.size());
  // The common case, current tables, without taking any lock (every thread of `tessera serve`
  // opens the store).
  TESSERA_ASSIGN_OR_RETURN(int have, SchemaVersion(module));
  if (have < known) {
    for (int version = have + 1; version <= known; ++version) {
      TESSERA_RETURN_IF_ERROR(MigrateOnce(schema, version));
    }
    // Another process may have gone further meanwhile.
    TESSERA_ASSIGN_OR_RETURN(have, SchemaVersion(module));
  }
  if (have > known) {
    return FailedPreconditionError(
        "{} holds version {} of the {} tables, newer than this tessera supports ({}); upgrade "
        "tessera",
        Describe(), have, module, known);
  }
  current_schemas_.insert(module);
  return OkStatus();
}

// One migration in its own transaction, under the migration lock; another process may have
// applied it meanwhile, which is looked at again under the lock.
Status Database::MigrateOnce(const Schema& schema, int version) {
  const std::string module(schema.module);
  return Transaction([&]() -> Status {
    TESSERA_RETURN_IF_ERROR(LockMigrations());
    TESSERA_RETURN_IF_ERROR(ExecuteScript(internal::kCreateSchemaVersionsSql));
    TESSERA_ASSIGN_OR_RETURN(const int have, SchemaVersion(module));
    if (have >= version) return OkStatus();
    const Migration& m = schema.migrations[static_cast<size_t>(version - 1)];
    TESSERA_RETURN_IF_ERROR(
        ExecuteScript(dialect() == Dialect::kSqlite ? m.sqlite : m.postgres)
            .WithContext(fmt::format("migration {} of the {} tables", version, module)));
    return Execute(
               "INSERT INTO schema_versions(module, version) VALUES ($1, $2) ON CONFLICT (module) "
               "DO UPDATE SET version = excluded.version",
               {module, version})
        .status();
  });
}

}  // namespace tessera::store
