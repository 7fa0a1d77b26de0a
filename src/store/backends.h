#pragma once

// The two implementations behind Store::Open (store.cc dispatches on the location), and the
// few PostgreSQL helpers that tests, benchmarks and tools need beside the Store interface.
// Internal to the store module.

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/store/database.h"
#include "tessera/store/store.h"

namespace tessera::store::internal {

// The store's layout version, meta "schema_version" (the same on both backends). Versions 1
// to 4 were store-wide versions of every table; since 5 each module's tables have versions of
// their own, in the table schema_versions (Database::Migrate). A store of a newer layout is
// refused ("upgrade tessera"), as older builds refuse this one.
inline constexpr int kSchemaVersion = 5;

// Which version of each module's tables a store holds.
inline constexpr const char* kCreateSchemaVersionsSql =
    "CREATE TABLE IF NOT EXISTS schema_versions (module text PRIMARY KEY, version integer NOT "
    "NULL)";

// The order system of record's own tables (module "store"; store_schema.cc).
const Schema& OrderSchema();

// Brings a store's layout up to date: the metadata table (format, creation time, layout
// version), each module's versions of a store made by an earlier release, and the order
// system's tables. Errors: kDataLoss (metadata of something else), kFailedPrecondition (a
// newer layout: upgrade tessera), a failing migration's error. `upgrade_earlier(version)`, when
// given, runs in the same transaction for a store of store-wide version 1 to 4.
// A backend's error for a statement of the order store, where a broken constraint is a bug
// rather than a duplicate the caller could name: kAlreadyExists becomes kInternal.
inline Status UnexpectedDuplicate(Status s) {
  if (s.code() == StatusCode::kAlreadyExists) return Status(StatusCode::kInternal, s.message());
  return s;
}

// Upserts a batch's order_versions rows (Batch::order_versions), in the caller's transaction.
// Errors: those of Database::Execute.
Status WriteOrderVersions(Database& db, const std::vector<OrderVersion>& versions);

Status OpenStoreSchema(Database& db, const std::function<Status(int)>& upgrade_earlier = nullptr);

// The metadata table ("meta" on SQLite, "tessera_meta" on PostgreSQL) and its values.
std::string_view MetaTable(const Database& db);
StatusOr<std::optional<std::string>> GetMeta(Database& db, std::string_view key);
Status PutMeta(Database& db, std::string_view key, std::string_view value);

// True for "postgres://..." and "postgresql://..." URLs and for libpq keyword/value
// connection strings ("host=... dbname=...").
bool IsPostgresLocation(std::string_view location);

// Same contract as Store::Open.
StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& location, bool create);
// Same contract as Store::Open; kUnavailable when the server cannot be reached (the message
// names host, port and database, never the password), kNotFound when the database does not
// exist or (without `create`) holds no store.
StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& location, bool create);

// "database D on HOST:PORT": a description of a PostgreSQL location that is safe to print
// (it never contains the password, whatever form the location has).
std::string DescribePostgresLocation(const std::string& location);

// `location` pointing at database `database` instead, as a keyword/value connection string.
// Errors: kInvalidArgument when `location` cannot be parsed.
StatusOr<std::string> PostgresLocationWithDatabase(const std::string& location,
                                                   const std::string& database);

// Runs `sql` (one or more statements, no results) on the database at `location`: for tests
// and tools that create or drop databases. Errors: kUnavailable, kInternal.
Status PostgresExecute(const std::string& location, const std::string& sql);

// Runs a one-value query and returns its result as text ("" for NULL or no rows).
StatusOr<std::string> PostgresQueryValue(const std::string& location, const std::string& sql);

}  // namespace tessera::store::internal
