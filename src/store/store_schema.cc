// The tables of the order system of record (customers, dictionaries, order chunks, loads,
// rejects, match tokens), the store's metadata, and the bridge from the store-wide schema
// versions of before to the versions each module keeps of its own tables.

#include <chrono>
#include <functional>
#include <string>

#include "store/backends.h"
#include "tessera/common/civil_time.h"

namespace tessera::store::internal {
namespace {

// The order system's migrations. SQLite keeps orders in columnar chunks; PostgreSQL keeps
// them as rows so that they stay queryable and can be distributed by customer pseudonym with
// Citus: orders carry the customer pseudonym (the nil UUID for anonymous orders) as their
// distribution column; every unique constraint on them would have to include it, so they
// have none: the loader deduplicates order tokens itself. The small tables (meta,
// dictionary, loads, batches, load_rejects) become reference tables; customers is
// distributed by pseudonym as well. See docs/deployment.md.
//
// Released migrations are never edited (tests/server/migrations_test.cc pins each by hash;
// PostgreSQL's first one was edited once, after the first release, and its stores are
// upgraded by postgres_store.cc's kFirstReleaseLayoutSetAside).
constexpr Migration kOrderMigrations[] = {
    // 1: meta, customers, dictionaries, loads, orders.
    {R"sql(
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
)sql",
     R"sql(
CREATE TABLE IF NOT EXISTS customers (
  customer_uuid uuid    PRIMARY KEY,
  customer_idx  integer NOT NULL
);
CREATE TABLE IF NOT EXISTS dictionary (
  kind  smallint NOT NULL,
  id    integer  NOT NULL,
  value text     NOT NULL,
  PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS loads (
  load_id     bigserial   PRIMARY KEY,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz,
  summary     json
);
-- One row per committed batch, written in the batch's own transaction: after a lost
-- connection it tells whether the batch's COMMIT landed. The batch's orders are numbered
-- first_order_no, first_order_no + 1, ... (orders.order_no): batches number on where the
-- previous one stopped, in commit order.
CREATE TABLE IF NOT EXISTS batches (
  load_id        bigint  NOT NULL,
  batch_no       integer NOT NULL,
  first_order_no bigint  NOT NULL,
  order_count    integer NOT NULL,
  item_count     integer NOT NULL,
  new_customers  integer NOT NULL,
  PRIMARY KEY (load_id, batch_no)
);
CREATE INDEX IF NOT EXISTS batches_by_order_no ON batches (first_order_no, order_count);
-- One row per order, its line items as parallel arrays (item k of the order is element k of
-- each item_* array): one heap tuple per order instead of one per order and one per line
-- item, which is what bulk loads pay for. The view order_items unnests them. order_no is the
-- order's place in load order over the whole store (see batches); no index: the store reads
-- the table whole, and an index on load order cost loads more than it saved anywhere.
CREATE TABLE IF NOT EXISTS orders (
  customer_uuid       uuid        NOT NULL,
  order_no            bigint      NOT NULL,
  ordered_at          timestamptz NOT NULL,
  amount_minor        bigint      NOT NULL,
  customer_idx        integer     NOT NULL,
  currency_id         integer     NOT NULL,
  store_id            integer     NOT NULL,
  region_id           integer     NOT NULL,
  channel_id          integer     NOT NULL,
  kind                smallint    NOT NULL,
  order_token         bytea       NOT NULL,
  item_category_id    integer[]   NOT NULL,
  item_sku_id         integer[]   NOT NULL,
  item_quantity_milli bigint[]    NOT NULL,
  item_amount_micro   bigint[]    NOT NULL
);
-- Line items one per row, for BI tools and ad-hoc SQL; line_no counts from 0 within an order.
CREATE OR REPLACE VIEW order_items AS
SELECT o.customer_uuid, o.order_no, i.line_no - 1 AS line_no,
       i.category_id, i.sku_id, i.quantity_milli, i.amount_micro
FROM orders o
CROSS JOIN LATERAL unnest(o.item_category_id, o.item_sku_id, o.item_quantity_milli,
                          o.item_amount_micro)
  WITH ORDINALITY AS i(category_id, sku_id, quantity_milli, amount_micro, line_no);
)sql"},
    // 2: the rejected rows of each load (file, line, column, reason; never a value).
    {R"sql(
CREATE TABLE load_rejects (
  load_id     INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  file        TEXT    NOT NULL,
  line        INTEGER NOT NULL,
  col         INTEGER NOT NULL,
  column_name TEXT    NOT NULL,
  reason_code TEXT    NOT NULL,
  reason      TEXT    NOT NULL,
  PRIMARY KEY (load_id, seq)
) WITHOUT ROWID;
)sql",
     R"sql(
CREATE TABLE IF NOT EXISTS load_rejects (
  load_id     bigint  NOT NULL,
  seq         integer NOT NULL,
  file        text    NOT NULL,
  line        bigint  NOT NULL,
  col         integer NOT NULL,
  column_name text    NOT NULL,
  reason_code text    NOT NULL,
  reason      text    NOT NULL,
  PRIMARY KEY (load_id, seq)
);
)sql"},
    // 3: the match tokens of customers' e-mails and phones (Store::ScanMatchTokens): kind is the
    // identifier kind's byte (privacy::IdentifierKindByte: 101 'e', 112 'p'), token the 32-byte
    // ristretto255 element. A token stored once is not stored again (ON CONFLICT DO NOTHING).
    {R"sql(
CREATE TABLE IF NOT EXISTS customer_match_tokens (
  customer_idx INTEGER NOT NULL,
  kind         INTEGER NOT NULL,
  token        BLOB    NOT NULL,
  PRIMARY KEY (customer_idx, kind, token)
) WITHOUT ROWID;
)sql",
     R"sql(
CREATE TABLE IF NOT EXISTS customer_match_tokens (
  customer_idx integer  NOT NULL,
  kind         smallint NOT NULL,
  token        bytea    NOT NULL,
  PRIMARY KEY (customer_idx, kind, token)
);
)sql"},
    // 4: the versions of orders that shops change after they are stored (store::OrderVersion):
    // by order token, how many versions are stored and the shop's update time of the newest.
    // Scans read the tokens with more than one (the partial index) and show the newest only;
    // on PostgreSQL the view current_orders does the same for SQL, and order_items reads it.
    {R"sql(
CREATE TABLE IF NOT EXISTS order_versions (
  order_token BLOB    PRIMARY KEY,
  versions    INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS order_versions_superseded ON order_versions (order_token)
  WHERE versions > 1;
)sql",
     R"sql(
CREATE TABLE IF NOT EXISTS order_versions (
  order_token bytea   PRIMARY KEY,
  versions    integer NOT NULL,
  updated_at  bigint  NOT NULL
);
CREATE INDEX IF NOT EXISTS order_versions_superseded ON order_versions (order_token)
  WHERE versions > 1;
-- Each order once, in its newest version: of a token stored in several versions, the row
-- with the highest order_no (the last loaded).
CREATE OR REPLACE VIEW current_orders AS
SELECT o.*
FROM orders o
LEFT JOIN (SELECT s.order_token, max(s.order_no) AS newest
           FROM orders s
           WHERE s.order_token IN (SELECT order_token FROM order_versions WHERE versions > 1)
           GROUP BY s.order_token) n ON n.order_token = o.order_token
WHERE n.order_token IS NULL OR o.order_no = n.newest;
CREATE OR REPLACE VIEW order_items AS
SELECT o.customer_uuid, o.order_no, i.line_no - 1 AS line_no,
       i.category_id, i.sku_id, i.quantity_milli, i.amount_micro
FROM current_orders o
CROSS JOIN LATERAL unnest(o.item_category_id, o.item_sku_id, o.item_quantity_milli,
                          o.item_amount_micro)
  WITH ORDINALITY AS i(category_id, sku_id, quantity_milli, amount_micro, line_no);
)sql"},
};
constexpr Schema kOrderSchema{"store", kOrderMigrations};

// Before each module kept its own versions, one store-wide schema version (meta
// "schema_version", 1 to 4) said which of the released migrations a store had. Their tables
// now belong to modules, and this is what each of those versions held, module by module.
// Frozen: it describes stores made by earlier releases.
struct ModuleVersion {
  const char* module;
  int version;
};
constexpr ModuleVersion kBefore2[] = {{"store", 1}};
constexpr ModuleVersion kBefore3[] = {{"store", 1}, {"analytics", 1}};
constexpr ModuleVersion kBefore4[] = {{"store", 2}, {"analytics", 1}, {"server", 1}};
constexpr ModuleVersion kAt4[] = {{"store", 2}, {"analytics", 1}, {"server", 1}, {"audience", 1}};
constexpr std::span<const ModuleVersion> kStoreWideVersions[] = {kBefore2, kBefore3, kBefore4,
                                                                 kAt4};

std::string NowIso() {
  const auto now = std::chrono::system_clock::now();
  return FormatIsoTimestamp(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

}  // namespace

const Schema& OrderSchema() { return kOrderSchema; }

std::string_view MetaTable(const Database& db) {
  return db.dialect() == Dialect::kSqlite ? "meta" : "tessera_meta";
}

StatusOr<std::optional<std::string>> GetMeta(Database& db, std::string_view key) {
  return db.QueryText(fmt::format("SELECT value FROM {} WHERE key = $1", MetaTable(db)), {key});
}

Status PutMeta(Database& db, std::string_view key, std::string_view value) {
  return db
      .Execute(fmt::format("INSERT INTO {}(key, value) VALUES ($1, $2) ON CONFLICT (key) DO "
                           "UPDATE SET value = excluded.value",
                           MetaTable(db)),
               {key, value})
      .status();
}

Status OpenStoreSchema(Database& db, const std::function<Status(int)>& upgrade_earlier) {
  // The common case, a current store, without taking the write lock: readers open stores all
  // the time (every thread of `tessera serve`).
  auto current =
      db.QueryText(fmt::format("SELECT value FROM {} WHERE key = 'schema_version'", MetaTable(db)));
  const bool settled =
      current.ok() && current->has_value() && std::atoi((*current)->c_str()) == kSchemaVersion;
  if (!settled) {
    TESSERA_RETURN_IF_ERROR(db.Transaction([&]() -> Status {
      TESSERA_RETURN_IF_ERROR(db.LockMigrations());
      TESSERA_RETURN_IF_ERROR(db.ExecuteScript(
          fmt::format("CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, value text NOT NULL)",
                      MetaTable(db))));
      TESSERA_ASSIGN_OR_RETURN(auto format, GetMeta(db, "format"));
      if (format && *format != "tessera") {
        return DataLossError("{} holds metadata but is not a Tessera store", db.Describe());
      }
      TESSERA_ASSIGN_OR_RETURN(auto version, GetMeta(db, "schema_version"));
      const int have = version ? std::atoi(version->c_str()) : 0;
      if (have > kSchemaVersion) {
        return FailedPreconditionError(
            "store {} has schema version {}, newer than this tessera supports ({}); upgrade "
            "tessera",
            db.Describe(), have, kSchemaVersion);
      }
      if (have == kSchemaVersion) return OkStatus();  // another process was first
      TESSERA_RETURN_IF_ERROR(db.ExecuteScript(kCreateSchemaVersionsSql));
      if (have >= 1) {
        // A store of an earlier release: its modules' versions from the store-wide one (the
        // rows of a test that set the version back are replaced as well).
        TESSERA_RETURN_IF_ERROR(db.Execute("DELETE FROM schema_versions").status());
        for (const auto& [module, v] : kStoreWideVersions[have - 1]) {
          TESSERA_RETURN_IF_ERROR(
              db.Execute("INSERT INTO schema_versions(module, version) VALUES ($1, $2)",
                         {module, v})
                  .status());
        }
        if (upgrade_earlier) TESSERA_RETURN_IF_ERROR(upgrade_earlier(have));
      }
      if (!format) TESSERA_RETURN_IF_ERROR(PutMeta(db, "format", "tessera"));
      TESSERA_ASSIGN_OR_RETURN(auto created, GetMeta(db, "created_at"));
      if (!created) TESSERA_RETURN_IF_ERROR(PutMeta(db, "created_at", NowIso()));
      return PutMeta(db, "schema_version", std::to_string(kSchemaVersion));
    }));
  }
  return db.Migrate(kOrderSchema);
}

}  // namespace tessera::store::internal
