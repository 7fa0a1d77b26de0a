#include "tessera/server/api_keys.h"

namespace tessera::server {
namespace {

// Released migrations are never edited (tests/server/migrations_test.cc pins each by hash).
constexpr store::Migration kMigrations[] = {
    // 1: API keys of `tessera serve` (salted hashes only); a reference table under Citus.
    {R"sql(CREATE TABLE api_keys (
  key_id          TEXT PRIMARY KEY,
  role            TEXT NOT NULL,
  label           TEXT NOT NULL,
  salt            BLOB NOT NULL,
  hash            BLOB NOT NULL,
  allow_query_key INTEGER NOT NULL,
  created_at      TEXT NOT NULL,
  revoked_at      TEXT
);
)sql",
     R"sql(CREATE TABLE IF NOT EXISTS api_keys (
  key_id          text        PRIMARY KEY,
  role            text        NOT NULL,
  label           text        NOT NULL,
  salt            bytea       NOT NULL,
  hash            bytea       NOT NULL,
  allow_query_key boolean     NOT NULL,
  created_at      timestamptz NOT NULL,
  revoked_at      timestamptz
);
)sql"},
};
constexpr store::Schema kSchema{"server", kMigrations};

}  // namespace

const store::Schema& ApiKeyStore::Schema() { return kSchema; }

Status ApiKeyStore::Add(const ApiKeyRecord& key) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  const auto added = db_.Execute(
      "INSERT INTO api_keys(key_id, role, label, salt, hash, allow_query_key, created_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, " +
          db_.NowSql() + ")",
      {key.id, key.role, key.label, store::SqlValue::Bytes(key.salt),
       store::SqlValue::Bytes(key.hash), key.allow_query_key});
  if (added.status().code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("an API key {} exists", key.id);
  }
  return added.status();
}

StatusOr<std::vector<ApiKeyRecord>> ApiKeyStore::List() {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::vector<ApiKeyRecord> out;
  TESSERA_RETURN_IF_ERROR(
      db_.Query("SELECT key_id, role, label, salt, hash, allow_query_key, " +
                    db_.IsoTimestampSql("created_at") + ", " + db_.IsoTimestampSql("revoked_at") +
                    " FROM api_keys ORDER BY created_at, key_id",
                {}, [&](const store::SqlRow& row) {
                  out.push_back({row.Text(0), row.Text(1), row.Text(2), row.Bytes(3), row.Bytes(4),
                                 row.Int(5) != 0, row.Text(6), row.Text(7)});
                  return OkStatus();
                }));
  return out;
}

StatusOr<bool> ApiKeyStore::Revoke(const std::string& id) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  TESSERA_ASSIGN_OR_RETURN(const uint64_t changed,
                           db_.Execute("UPDATE api_keys SET revoked_at = " + db_.NowSql() +
                                           " WHERE key_id = $1 AND revoked_at IS NULL",
                                       {id}));
  return changed == 1;
}

}  // namespace tessera::server
