#pragma once

// The two implementations behind Store::Open (store.cc dispatches on the location), and the
// few PostgreSQL helpers that tests, benchmarks and tools need beside the Store interface.
// Internal to the store module.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/store/store.h"

namespace tessera::store::internal {

// The schema version both stores write (each has its own migrations, kept in step).
inline constexpr int kSchemaVersion = 4;

// The released migrations of each store, in order: migration i brings schema version i to
// i + 1. Append only; a released one is never edited (store/migrations_test.cc pins each by
// its SHA-256).
std::span<const char* const> SqliteMigrations();
std::span<const char* const> PostgresMigrations();

// True for "postgres://..." and "postgresql://..." URLs and for libpq keyword/value
// connection strings ("host=... dbname=...").
bool IsPostgresLocation(std::string_view location);

// Same contract as Store::Open.
StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& location, bool create);
// Same contract as Store::Open; kUnavailable when the server cannot be reached (the message
// names host, port and database, never the password), kNotFound when the database does not
// exist or (without `create`) holds no store.
StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& location, bool create);

// Checks what SaveSnapshot is given, the same for both stores: every profile names an existing
// customer and segment, profiles are in strictly increasing customer order. kInvalidArgument.
Status ValidateSnapshot(const std::vector<SnapshotSegment>& segments,
                        const std::vector<SnapshotProfile>& profiles, uint32_t customers);

// Why SaveAudience changed no row: the name is taken (replace == false, kAlreadyExists) or
// unknown (replace == true, kNotFound). The same message from both stores.
inline Status AudienceNameConflict(const std::string& name, bool replace) {
  if (replace) return NotFoundError("no audience named '{}'", name);
  return AlreadyExistsError(
      "an audience named '{}' exists (change it with `tessera audience update`)", name);
}

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
