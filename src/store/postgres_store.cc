// The PostgreSQL store: the server deployment. Orders are rows here (unlike SQLite's
// columnar chunks) so that they stay queryable and can be distributed by customer pseudonym
// with Citus; bulk loads go through binary COPY, one transaction per batch.
//
// Privacy: like every store, this one receives only pseudonyms (UUIDs) and encrypted order
// tokens. Connection strings may hold a password: it is never put in a message or a
// description (see DescribePostgresLocation).

#include <endian.h>
#include <libpq-fe.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <span>
#include <thread>
#include <vector>

#include "store/backends.h"
#include "store/postgres_database.h"
#include "tessera/common/civil_time.h"
#include "tessera/store/store.h"

namespace tessera::store {
namespace internal {
namespace {

// Versioned migrations: migration i brings the schema from version i to i + 1. Each runs in
// its own transaction under an advisory lock, so two processes opening a new database at once
// apply it once. Append only; never edit a released migration.
//
// Citus: orders carry the customer pseudonym (the nil UUID for anonymous orders) as their
// distribution column; every unique constraint on them would have to include it, so they
// have none: the loader deduplicates order tokens itself. The small tables (meta,
// dictionary, loads, batches) become reference tables; customers is distributed by pseudonym
// as well. See docs/deployment.md.
constexpr const char* kMigrations[] = {
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
)sql",
    // 2: snapshots (kept recomputations) and the read-only views for BI tools in the schema
    // tessera_bi (docs/bi.md). snapshot_profiles is distributed by customer_uuid under Citus,
    // so the migration view's join runs on the workers.
    R"sql(
CREATE TABLE IF NOT EXISTS snapshots (
  snapshot_id               bigserial   PRIMARY KEY,
  created_at                timestamptz NOT NULL,
  as_of                     date        NOT NULL,
  window_start              date        NOT NULL,
  window_length             text        NOT NULL,
  currency                  text        NOT NULL,
  currency_exponent         smallint    NOT NULL,
  last_load_id              bigint      NOT NULL,
  customers_in_store        bigint      NOT NULL,
  profile_count             bigint      NOT NULL,
  prediction_models         text        NOT NULL,
  prediction_horizon_months float8      NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_segments (
  snapshot_id       bigint   NOT NULL,
  position          smallint NOT NULL,
  segment_key       text     NOT NULL,
  name_en           text     NOT NULL,
  name_de           text     NOT NULL,
  uuid_count        bigint   NOT NULL,
  sum_order_count   bigint   NOT NULL,
  sum_clv_minor     bigint   NOT NULL,
  median_clv_minor  bigint   NOT NULL,
  avg_order_count   float8   NOT NULL,
  avg_clv           float8   NOT NULL,
  avg_recency_days  float8   NOT NULL,
  share_percent     float8   NOT NULL,
  avg_p_alive       float8   NOT NULL,
  avg_predicted_clv float8   NOT NULL,
  PRIMARY KEY (snapshot_id, position)
);
CREATE TABLE IF NOT EXISTS snapshot_profiles (
  customer_uuid      uuid     NOT NULL,
  snapshot_id        bigint   NOT NULL,
  customer_idx       integer  NOT NULL,
  position           smallint NOT NULL,
  r_score            smallint NOT NULL,
  f_score            smallint NOT NULL,
  m_score            smallint NOT NULL,
  order_count        integer  NOT NULL,
  revenue_minor      bigint   NOT NULL,
  recency_days       integer  NOT NULL,
  first_order        date     NOT NULL,
  last_order         date     NOT NULL,
  p_alive            float8,
  expected_purchases float8,
  predicted_clv      float8
);
CREATE INDEX IF NOT EXISTS snapshot_profiles_by_snapshot
  ON snapshot_profiles (snapshot_id, customer_idx);

CREATE SCHEMA IF NOT EXISTS tessera_bi;
CREATE OR REPLACE VIEW tessera_bi.snapshots AS
SELECT snapshot_id, created_at, as_of, window_start, window_length, currency,
       customers_in_store, profile_count, NULLIF(prediction_models, '') AS prediction_models
FROM snapshots;
CREATE OR REPLACE VIEW tessera_bi.segments AS
SELECT g.snapshot_id, s.as_of, s.window_length, g.position, g.segment_key,
       g.name_en AS group_en, g.name_de AS group_de, g.uuid_count, g.avg_order_count,
       g.avg_clv, g.avg_recency_days, g.share_percent,
       g.sum_clv_minor / power(10::numeric, s.currency_exponent) AS sum_clv,
       g.median_clv_minor / power(10::numeric, s.currency_exponent) AS median_clv,
       s.currency
FROM snapshot_segments g JOIN snapshots s USING (snapshot_id);
CREATE OR REPLACE VIEW tessera_bi.segments_latest AS
SELECT * FROM tessera_bi.segments WHERE snapshot_id = (SELECT max(snapshot_id) FROM snapshots);
CREATE OR REPLACE VIEW tessera_bi.profiles AS
SELECT p.snapshot_id, p.customer_uuid, g.segment_key, g.name_en AS group_en,
       g.name_de AS group_de, p.r_score, p.f_score, p.m_score, p.order_count,
       p.revenue_minor / power(10::numeric, s.currency_exponent) AS clv, p.recency_days,
       p.first_order, p.last_order, p.p_alive, p.expected_purchases, p.predicted_clv, s.currency
FROM snapshot_profiles p
JOIN snapshots s ON s.snapshot_id = p.snapshot_id
JOIN snapshot_segments g ON g.snapshot_id = p.snapshot_id AND g.position = p.position;
CREATE OR REPLACE VIEW tessera_bi.profiles_latest AS
SELECT * FROM tessera_bi.profiles WHERE snapshot_id = (SELECT max(snapshot_id) FROM snapshots);
-- Customers moving between the segments of the two newest snapshots; a NULL from_segment is a
-- customer not in the older snapshot (new in the window), a NULL to_segment one no longer in it.
CREATE OR REPLACE VIEW tessera_bi.segment_migration_latest AS
WITH ids AS (
  SELECT max(snapshot_id) AS newer,
         (SELECT max(snapshot_id) FROM snapshots
          WHERE snapshot_id < (SELECT max(snapshot_id) FROM snapshots)) AS older
  FROM snapshots),
a AS (SELECT p.customer_uuid, g.segment_key FROM snapshot_profiles p
      JOIN snapshot_segments g ON g.snapshot_id = p.snapshot_id AND g.position = p.position
      WHERE p.snapshot_id = (SELECT older FROM ids)),
b AS (SELECT p.customer_uuid, g.segment_key FROM snapshot_profiles p
      JOIN snapshot_segments g ON g.snapshot_id = p.snapshot_id AND g.position = p.position
      WHERE p.snapshot_id = (SELECT newer FROM ids))
SELECT (SELECT older FROM ids) AS from_snapshot, (SELECT newer FROM ids) AS to_snapshot,
       a.segment_key AS from_segment, b.segment_key AS to_segment, count(*) AS customers
FROM a FULL OUTER JOIN b ON a.customer_uuid = b.customer_uuid
WHERE (SELECT older FROM ids) IS NOT NULL
GROUP BY a.segment_key, b.segment_key;
)sql",
    // 3: API keys of `tessera serve` (salted hashes only); the rejected rows of each load.
    // Both reference tables under Citus.
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
CREATE TABLE IF NOT EXISTS api_keys (
  key_id          text        PRIMARY KEY,
  role            text        NOT NULL,
  label           text        NOT NULL,
  salt            bytea       NOT NULL,
  hash            bytea       NOT NULL,
  allow_query_key boolean     NOT NULL,
  created_at      timestamptz NOT NULL,
  revoked_at      timestamptz
);
)sql",
    // 4: named audiences and their history, the data owner's settings (reference tables under
    // Citus), attributes attached to customers from other sources (by pseudonym, distributable
    // like customers).
    R"sql(
CREATE TABLE IF NOT EXISTS audiences (
  name       text        PRIMARY KEY,
  expression text        NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS audience_history (
  name        text        NOT NULL,
  seq         integer     NOT NULL,
  at          timestamptz NOT NULL,
  event       text        NOT NULL,
  expression  text        NOT NULL,
  size        bigint      NOT NULL,
  snapshot_id bigint      NOT NULL,
  PRIMARY KEY (name, seq)
);
CREATE TABLE IF NOT EXISTS settings (
  key   text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE IF NOT EXISTS customer_attributes (
  customer_uuid uuid    NOT NULL,
  customer_idx  integer NOT NULL,
  name          text    NOT NULL,
  value         text    NOT NULL,
  PRIMARY KEY (customer_uuid, name)
);
)sql",
};
constexpr int kSchemaVersion = internal::kSchemaVersion;
static_assert(std::size(kMigrations) == kSchemaVersion, "one migration per schema version");

// The first release's schema version 1 (commit 77befa2, before migration 1 changed: a
// released migration edited) kept orders keyed by (load_id, batch_no, seq) and line items in
// a table of their own. A store it made is brought to the layout of migration 1 as released
// since, in the transaction of migration 2 and before it: the old tables are set aside,
// migration 1 creates what it has since (its IF NOT EXISTS skips what exists), and the orders
// are copied across, numbered in load order as the store numbers them. tests/e2e/old_store.sh
// upgrades such a store (tests/fixtures/store_v1).
constexpr const char* kFirstReleaseLayoutSetAside = R"sql(
ALTER TABLE batches ADD COLUMN first_order_no bigint;
UPDATE batches b SET first_order_no = n.start
FROM (SELECT load_id, batch_no,
             COALESCE(SUM(order_count) OVER (ORDER BY load_id, batch_no
                                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                      0) AS start
      FROM batches) n
WHERE b.load_id = n.load_id AND b.batch_no = n.batch_no;
ALTER TABLE batches ALTER COLUMN first_order_no SET NOT NULL;
ALTER TABLE orders RENAME TO first_release_orders;
ALTER TABLE order_items RENAME TO first_release_order_items;
)sql";
constexpr const char* kFirstReleaseLayoutCopy = R"sql(
INSERT INTO orders (customer_uuid, order_no, ordered_at, amount_minor, customer_idx, currency_id,
                    store_id, region_id, channel_id, kind, order_token, item_category_id,
                    item_sku_id, item_quantity_milli, item_amount_micro)
SELECT o.customer_uuid, b.first_order_no + o.seq, o.ordered_at, o.amount_minor, o.customer_idx,
       o.currency_id, o.store_id, o.region_id, o.channel_id, o.kind, o.order_token,
       COALESCE(i.category_ids, '{}'), COALESCE(i.sku_ids, '{}'), COALESCE(i.quantities, '{}'),
       COALESCE(i.amounts, '{}')
FROM first_release_orders o
JOIN batches b ON b.load_id = o.load_id AND b.batch_no = o.batch_no
LEFT JOIN (SELECT load_id, batch_no, seq,
                  array_agg(category_id ORDER BY line_no) AS category_ids,
                  array_agg(sku_id ORDER BY line_no) AS sku_ids,
                  array_agg(quantity_milli ORDER BY line_no) AS quantities,
                  array_agg(amount_micro ORDER BY line_no) AS amounts
           FROM first_release_order_items GROUP BY load_id, batch_no, seq) i
  ON i.load_id = o.load_id AND i.batch_no = o.batch_no AND i.seq = o.seq;
DROP TABLE first_release_order_items;
DROP TABLE first_release_orders;
)sql";

std::string NowIso() {
  const auto now = std::chrono::system_clock::now();
  return FormatIsoTimestamp(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

// The fields of one row of a binary COPY TO, in order.
class CopyFields {
 public:
  explicit CopyFields(std::string_view row) : p_(row.data()), end_(row.data() + row.size()) {}
  std::string_view Next() {
    if (end_ - p_ < 4) return Fail();
    const int32_t len = GetInt32(p_);
    p_ += 4;
    if (len < 0 || end_ - p_ < len) return Fail();  // NULL or truncated
    const std::string_view field(p_, static_cast<size_t>(len));
    p_ += len;
    return field;
  }
  int64_t Int64() { return Fixed(8) ? GetInt64(last_) : 0; }
  int32_t Int32() { return Fixed(4) ? GetInt32(last_) : 0; }
  int16_t Int16() { return Fixed(2) ? GetInt16(last_) : 0; }
  // False once a field was missing, NULL or of the wrong size.
  bool fields_ok() const { return ok_; }
  // fields_ok(), and no bytes left over.
  bool ok() const { return ok_ && p_ == end_; }

 private:
  std::string_view Fail() {
    ok_ = false;
    p_ = end_;
    return {};
  }
  bool Fixed(size_t size) {
    const std::string_view f = Next();
    last_ = f.data();
    if (f.size() == size) return true;
    ok_ = false;
    return false;
  }
  const char* p_;
  const char* end_;
  const char* last_ = nullptr;
  bool ok_ = true;
};

// The columns COPY TO sends for each order row, in this order (OrderChunks::AddRow).
// The scan of the orders table; the column groups a scan does not ask for are replaced by
// constants of their type, so the server sends (and this process parses) only what is needed
// while every row keeps the same fields.
std::string ScanOrdersSql(uint32_t fields) {
  const auto pick = [&](uint32_t group, const char* columns, const char* constants) {
    return (fields & group) ? columns : constants;
  };
  return fmt::format(
      "COPY (SELECT order_no, {}, customer_idx, ordered_at, amount_minor, kind, currency_id, {}, "
      "{} FROM orders) TO STDOUT (FORMAT binary)",
      pick(kOrderTokens, "order_token", "''::bytea"),
      pick(kOrderAttributes, "store_id, region_id, channel_id", "0, 0, 0"),
      pick(kOrderItems, "item_category_id, item_sku_id, item_quantity_milli, item_amount_micro",
           "'{}'::integer[], '{}'::integer[], '{}'::bigint[], '{}'::bigint[]"));
}
constexpr int16_t kScanOrdersFields = 14;

// Puts the order rows of one table scan back into the chunks they were appended as, and
// hands the chunks on in ledger order. The scan has no ORDER BY (sorting 1 M rows, or keeping
// a b-tree on load order, costs the server more than the whole transfer): rows normally come
// in heap order, which is load order, so one chunk at a time is held; rows in another order
// (space reused after a rolled-back batch, a synchronized or parallel scan, a Citus
// cluster) are still put in place, at the cost of holding more chunks until they are whole.
// Not thread-safe.
class OrderChunks {
 public:
  struct LedgerBatch {
    int64_t load_id;
    int32_t batch_no;
    int64_t first_order_no;
    int32_t orders;
    int32_t items;
  };
  // `ledger`: the committed batches with orders, by first_order_no. `where` names the store
  // in messages.
  // `fields`: the column groups the scan reads (ScanOrdersSql).
  OrderChunks(std::vector<LedgerBatch> ledger, std::string where, uint32_t fields,
              const std::function<Status(const OrderColumns&)>& fn)
      : ledger_(std::move(ledger)), where_(std::move(where)), fields_(fields), fn_(fn) {}

  // One CopyData message: the file header (first message only), then one row or the
  // trailer. Errors: kDataLoss for rows that do not fit the ledger; fn's errors.
  Status AddMessage(std::string_view message) {
    if (!header_seen_) {
      static constexpr std::string_view kSignature("PGCOPY\n\377\r\n\0", 11);
      if (message.size() < 19 || message.substr(0, 11) != kSignature) return Malformed();
      const uint32_t extension = static_cast<uint32_t>(GetInt32(message.data() + 15));
      if (message.size() - 19 < extension) return Malformed();
      message.remove_prefix(19 + extension);
      header_seen_ = true;
      if (message.empty()) return OkStatus();
    }
    if (message.size() < 2) return Malformed();
    const int16_t fields = GetInt16(message.data());
    if (fields == -1) return message.size() == 2 ? OkStatus() : Malformed();
    if (fields != kScanOrdersFields) return Malformed();
    return AddRow(message.substr(2));
  }

  // After the last message: every batch of the ledger must have been handed on.
  Status Finish() {
    if (next_ == ledger_.size()) return OkStatus();
    const LedgerBatch& b = ledger_[next_];
    auto it = pending_.find(next_);
    const size_t orders = it == pending_.end() ? 0 : it->second.columns.size();
    const size_t items = it == pending_.end() ? 0 : it->second.columns.item_count();
    return DataLossError(
        "PostgreSQL {}: load {} batch {} holds {} orders and {} items, expected {} and {}", where_,
        b.load_id, b.batch_no, orders, items, b.orders, b.items);
  }

 private:
  struct Pending {
    OrderColumns columns;            // in arrival order
    std::vector<uint32_t> position;  // of each arrived order in its batch
    bool in_order = true;            // position[i] == i so far
  };

  Status Malformed() {
    return DataLossError("PostgreSQL {}: malformed COPY data while reading orders", where_);
  }

  Status AddRow(std::string_view row) {
    CopyFields f(row);
    const int64_t order_no = f.Int64();
    if (!f.fields_ok()) return Malformed();
    if (!Holds(ledger_[last_index_], order_no)) {
      // The batch whose range holds order_no: the last one starting at or before it.
      auto it =
          std::upper_bound(ledger_.begin(), ledger_.end(), order_no,
                           [](int64_t n, const LedgerBatch& b) { return n < b.first_order_no; });
      if (it == ledger_.begin() || !Holds(*std::prev(it), order_no)) {
        return DataLossError(
            "PostgreSQL {}: order number {} belongs to no batch in the batch ledger", where_,
            order_no);
      }
      last_index_ = static_cast<size_t>(std::prev(it) - ledger_.begin());
    }
    const size_t index = last_index_;
    const LedgerBatch& b = ledger_[index];
    if (index < next_) return TooMany(b);
    Pending& p = pending_[index];
    OrderColumns& c = p.columns;
    if (c.size() == static_cast<size_t>(b.orders)) return TooMany(b);
    const auto position = static_cast<uint32_t>(order_no - b.first_order_no);
    p.in_order = p.in_order && position == c.size();
    p.position.push_back(position);
    const std::string_view token = f.Next();
    c.token_bytes.append(token);
    c.token_offsets.push_back(static_cast<uint32_t>(c.token_bytes.size()));
    c.customer.push_back(static_cast<uint32_t>(f.Int32()));
    c.ordered_at.push_back(f.Int64() / 1000000 + kPostgresEpoch);
    c.amount_minor.push_back(f.Int64());
    c.kind.push_back(static_cast<uint8_t>(f.Int16()));
    c.currency.push_back(static_cast<uint32_t>(f.Int32()));
    c.store.push_back(static_cast<uint32_t>(f.Int32()));
    c.region.push_back(static_cast<uint32_t>(f.Int32()));
    c.channel.push_back(static_cast<uint32_t>(f.Int32()));
    const bool items_ok =
        ReadInt32Array(f.Next(), c.item_category) && ReadInt32Array(f.Next(), c.item_sku) &&
        ReadInt64Array(f.Next(), c.item_quantity_milli) &&
        ReadInt64Array(f.Next(), c.item_amount_micro) && c.item_sku.size() == c.item_count() &&
        c.item_quantity_milli.size() == c.item_count() &&
        c.item_amount_micro.size() == c.item_count();
    c.item_offsets.push_back(static_cast<uint32_t>(c.item_count()));
    if (!items_ok || !f.ok()) return Malformed();
    if (c.size() < static_cast<size_t>(b.orders) || index != next_) return OkStatus();
    // The next chunk is whole: hand it on, and any whole ones that waited behind it.
    for (auto it = pending_.find(next_);
         it != pending_.end() &&
         it->second.columns.size() == static_cast<size_t>(ledger_[next_].orders);
         it = pending_.find(next_)) {
      TESSERA_RETURN_IF_ERROR(Emit(ledger_[next_], it->second));
      pending_.erase(it);
      ++next_;
    }
    return OkStatus();
  }

  static bool Holds(const LedgerBatch& b, int64_t order_no) {
    return order_no >= b.first_order_no && order_no - b.first_order_no < b.orders;
  }

  Status TooMany(const LedgerBatch& b) {
    return DataLossError(
        "PostgreSQL {}: load {} batch {} holds more than the {} orders its ledger row says", where_,
        b.load_id, b.batch_no, b.orders);
  }

  Status Emit(const LedgerBatch& b, Pending& p) {
    if ((fields_ & kOrderItems) && p.columns.item_count() != static_cast<size_t>(b.items)) {
      return DataLossError(
          "PostgreSQL {}: load {} batch {} holds {} orders and {} items, expected {} and {}",
          where_, b.load_id, b.batch_no, p.columns.size(), p.columns.item_count(), b.orders,
          b.items);
    }
    if (p.in_order) return fn_(p.columns);
    // Arrival index of each position; Holds() put every position in [0, n).
    const size_t n = p.columns.size();
    std::vector<uint32_t> at(n, UINT32_MAX);
    for (size_t i = 0; i < n; ++i) {
      if (at[p.position[i]] != UINT32_MAX) {
        return DataLossError("PostgreSQL {}: load {} batch {} has a missing or repeated order",
                             where_, b.load_id, b.batch_no);
      }
      at[p.position[i]] = static_cast<uint32_t>(i);
    }
    const OrderColumns& in = p.columns;
    OrderColumns out;
    out.token_bytes.reserve(in.token_bytes.size());
    for (uint32_t i : at) {
      out.token_bytes.append(in.token(i));
      out.token_offsets.push_back(static_cast<uint32_t>(out.token_bytes.size()));
      out.customer.push_back(in.customer[i]);
      out.ordered_at.push_back(in.ordered_at[i]);
      out.amount_minor.push_back(in.amount_minor[i]);
      out.kind.push_back(in.kind[i]);
      out.currency.push_back(in.currency[i]);
      out.store.push_back(in.store[i]);
      out.region.push_back(in.region[i]);
      out.channel.push_back(in.channel[i]);
      for (uint32_t k = in.item_offsets[i]; k < in.item_offsets[i + 1]; ++k) {
        out.item_category.push_back(in.item_category[k]);
        out.item_sku.push_back(in.item_sku[k]);
        out.item_quantity_milli.push_back(in.item_quantity_milli[k]);
        out.item_amount_micro.push_back(in.item_amount_micro[k]);
      }
      out.item_offsets.push_back(static_cast<uint32_t>(out.item_count()));
    }
    return fn_(out);
  }

  const std::vector<LedgerBatch> ledger_;
  const std::string where_;
  const uint32_t fields_;
  const std::function<Status(const OrderColumns&)>& fn_;
  size_t last_index_ = 0;              // ledger index of the batch of the last row
  std::map<size_t, Pending> pending_;  // ledger index -> chunk being put together
  size_t next_ = 0;                    // ledger index of the next chunk to hand on
  bool header_seen_ = false;
};

// The connection and the state that must survive a reconnect. Shared with the writer-lock
// handle, which may outlive a failed AppendBatch but must not dangle after the store closes.
class PostgresStore final : public Store {
 public:
  PostgresStore(std::string location, SafeLocation safe, Conn conn)
      : location_(std::move(location)),
        safe_(safe),
        database_(std::make_unique<PostgresDatabase>(std::move(safe), std::move(conn))) {}

  Database& db() override { return *database_; }

  Status Init(bool create) {
    // Under the migration lock: another process creating the store at this moment must not
    // be seen half (catalog lookups see commits even within one statement).
    TESSERA_RETURN_IF_ERROR(Command("BEGIN", {}));
    auto probed = [&]() -> StatusOr<std::string> {
      TESSERA_RETURN_IF_ERROR(
          Command("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")", {}));
      return Value(
          "SELECT CASE WHEN to_regclass('tessera_meta') IS NOT NULL THEN '+' ELSE "
          "COALESCE(to_regclass('orders')::text, to_regclass('customers')::text, '') END");
    }();
    if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "COMMIT"));
    if (!probed.ok()) return probed.status();
    const std::string probe = *std::move(probed);
    if (probe != "+") {
      const std::string& foreign = probe;
      if (!foreign.empty()) {
        return DataLossError(
            "PostgreSQL {} holds a table '{}' but no Tessera store; use an empty "
            "database for Tessera",
            safe_.Describe(), foreign);
      }
      if (!create) {
        return NotFoundError(
            "PostgreSQL {} holds no Tessera store yet; load orders with `tessera ingest FILE "
            "--store URL`",
            safe_.Describe());
      }
    } else {
      TESSERA_RETURN_IF_ERROR(CheckVersion());
    }
    return Migrate();
  }

  Status BindKey(const std::string& fingerprint) override {
    TESSERA_ASSIGN_OR_RETURN(auto current, KeyFingerprint());
    if (current) {
      if (*current == fingerprint) return OkStatus();
      return FailedPreconditionError(
          "this store was written with another key (store's key fingerprint {}, this key's {}); "
          "use the data owner's key that created the store (--key or TESSERA_KEY)",
          *current, fingerprint);
    }
    // ON CONFLICT DO NOTHING and a re-read: two first loads racing bind one key, and the
    // loser is told so.
    TESSERA_RETURN_IF_ERROR(
        Command("INSERT INTO tessera_meta(key, value) VALUES ('key_fingerprint', $1) "
                "ON CONFLICT (key) DO NOTHING",
                {fingerprint}));
    TESSERA_ASSIGN_OR_RETURN(auto bound, KeyFingerprint());
    if (bound && *bound != fingerprint) return BindKey(fingerprint);
    return OkStatus();
  }

  StatusOr<std::optional<std::string>> KeyFingerprint() override {
    return GetMeta("key_fingerprint");
  }

  StatusOr<WriterLock> LockForWriting() override {
    TESSERA_ASSIGN_OR_RETURN(auto lock, database_->LockForWriting());
    // Another writer may have added customers since this store cached them.
    customers_loaded_ = false;
    return lock;
  }

  Status ScanCustomers(const std::function<void(uint32_t, const privacy::Uuid&)>& fn) override {
    // Rows are in no useful order (AppendBatch writes them in key order): each goes to its
    // index here rather than through a sort on the server.
    TESSERA_ASSIGN_OR_RETURN(auto r,
                             Query("SELECT customer_idx, customer_uuid FROM customers", {}, true));
    const int n = PQntuples(r.get());
    std::vector<privacy::Uuid> all(static_cast<size_t>(n));
    std::vector<bool> seen(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const auto idx = static_cast<uint32_t>(GetInt32(PQgetvalue(r.get(), i, 0)));
      if (idx >= static_cast<uint32_t>(n) || seen[idx] || PQgetlength(r.get(), i, 1) != 16) {
        return DataLossError("PostgreSQL {}: customer indexes are not dense (index {} of {})",
                             safe_.Describe(), idx, n);
      }
      seen[idx] = true;
      std::memcpy(all[idx].bytes.data(), PQgetvalue(r.get(), i, 1), 16);
    }
    r.reset();
    for (int i = 0; i < n; ++i) fn(static_cast<uint32_t>(i), all[i]);
    customers_ = std::move(all);
    customers_loaded_ = true;
    return OkStatus();
  }

  StatusOr<uint32_t> CustomerCount() override {
    TESSERA_ASSIGN_OR_RETURN(auto v, Value("SELECT count(*) FROM customers"));
    return static_cast<uint32_t>(std::stoull(v));
  }

  Status ScanDictionaries(
      const std::function<void(DictKind, uint32_t, const std::string&)>& fn) override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r, Query("SELECT kind, id, value FROM dictionary ORDER BY kind, id", {}, true));
    for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
      const int kind = GetInt16(PQgetvalue(r.get(), i, 0));
      if (kind < 0 || kind >= static_cast<int>(kDictKindCount)) continue;
      fn(static_cast<DictKind>(kind), static_cast<uint32_t>(GetInt32(PQgetvalue(r.get(), i, 1))),
         std::string(PQgetvalue(r.get(), i, 2), PQgetlength(r.get(), i, 2)));
    }
    return OkStatus();
  }

  // One chunk per committed batch, orders in the order they were appended: the same chunks
  // the SQLite store returns, so everything downstream sees identical input. The ledger and
  // the rows are read in one snapshot, so a load committing meanwhile is not seen half.
  // The groups not asked for come as constants (zeros, empty tokens and item lists).
  Status ScanOrderFields(uint32_t fields,
                         const std::function<Status(const OrderColumns&)>& fn) override {
    TESSERA_RETURN_IF_ERROR(Command("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", {}));
    Status s = ScanOrdersInTransaction(fields | kOrderCore, fn);
    if (s.ok()) return Command("COMMIT", {});
    if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
    return s;
  }

  StatusOr<int64_t> BeginLoad() override {
    TESSERA_ASSIGN_OR_RETURN(auto r, Query("INSERT INTO loads(started_at) VALUES ($1::timestamptz) "
                                           "RETURNING load_id",
                                           {NowIso()}, false));
    return static_cast<int64_t>(std::stoll(PQgetvalue(r.get(), 0, 0)));
  }

  // One transaction per batch. A transient failure (the connection dropped, the server
  // restarted, too many connections) is retried with backoff after reconnecting; the batch's
  // row in `batches` commits with it, so a batch whose COMMIT reached the server before the
  // connection broke is found and not written twice.
  Status AppendBatch(int64_t load_id, const Batch& batch) override {
    if (!customers_loaded_) {
      TESSERA_RETURN_IF_ERROR(ScanCustomers([](uint32_t, const privacy::Uuid&) {}));
    }
    if (!batch.new_customers.empty() && batch.first_new_customer != customers_.size()) {
      return FailedPreconditionError(
          "PostgreSQL {}: a batch's new customers start at index {} but the store holds {} "
          "(another process wrote to the store during this load?)",
          safe_.Describe(), batch.first_new_customer, customers_.size());
    }
    auto next = next_batch_.find(load_id);
    if (next == next_batch_.end()) {
      TESSERA_ASSIGN_OR_RETURN(
          auto v, Value("SELECT COALESCE(max(batch_no) + 1, 0) FROM batches WHERE load_id = " +
                        std::to_string(load_id)));
      next = next_batch_.emplace(load_id, std::stoi(v)).first;
    }
    const int32_t batch_no = next->second;
    auto backoff = kFirstBackoff;
    Status s;
    for (int attempt = 1;; ++attempt) {
      s = AppendBatchOnce(load_id, batch_no, batch);
      if (s.ok() || s.code() != StatusCode::kUnavailable || attempt == kMaxAttempts) break;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
      if (!Reconnect().ok()) continue;
      auto committed = Value(fmt::format(
          "SELECT count(*) FROM batches WHERE load_id = {} AND batch_no = {}", load_id, batch_no));
      if (committed.ok() && *committed == "1") {
        s = OkStatus();
        break;
      }
    }
    if (!s.ok()) return s;
    next->second = batch_no + 1;
    customers_.insert(customers_.end(), batch.new_customers.begin(), batch.new_customers.end());
    return OkStatus();
  }

  Status FinishLoad(int64_t load_id, const std::string& summary_json) override {
    return Command(
        "UPDATE loads SET finished_at = $1::timestamptz, summary = $2::json WHERE load_id = $3",
        {NowIso(), summary_json, std::to_string(load_id)});
  }

  StatusOr<std::vector<LoadRecord>> Loads() override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r,
        Query("SELECT load_id, to_char(started_at AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), COALESCE(to_char(finished_at AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), COALESCE(summary::text, '') FROM loads "
              "ORDER BY load_id",
              {}, false));
    std::vector<LoadRecord> out;
    for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
      LoadRecord rec;
      rec.load_id = std::stoll(PQgetvalue(r.get(), i, 0));
      rec.started_at = PQgetvalue(r.get(), i, 1);
      rec.finished_at = PQgetvalue(r.get(), i, 2);
      rec.summary_json = PQgetvalue(r.get(), i, 3);
      out.push_back(std::move(rec));
    }
    return out;
  }

  Status AddLoadRejects(int64_t load_id, const std::vector<io::Reject>& rejects) override {
    if (rejects.empty()) return OkStatus();
    TESSERA_RETURN_IF_ERROR(Command("BEGIN", {}));
    Status st = [&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(
          auto next,
          Value(fmt::format("SELECT COALESCE(max(seq) + 1, 0) FROM load_rejects WHERE load_id = {}",
                            load_id)));
      const int32_t first = std::stoi(next);
      return Copy(
          "COPY load_rejects (load_id, seq, file, line, col, column_name, reason_code, "
          "reason) FROM STDIN (FORMAT binary)",
          rejects.size(), [&](CopyRows& rows, size_t i) {
            const auto& r = rejects[i];
            rows.Row(8);
            rows.Int64(load_id);
            rows.Int32(first + static_cast<int32_t>(i));
            rows.Bytes(r.file);
            rows.Int64(static_cast<int64_t>(r.line));
            rows.Int32(static_cast<int32_t>(r.column));
            rows.Bytes(r.column_name);
            rows.Bytes(r.reason_code);
            rows.Bytes(r.reason);
          });
    }();
    if (!st.ok()) {
      if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
      return st;
    }
    return Command("COMMIT", {});
  }

  StatusOr<std::vector<io::Reject>> LoadRejects(int64_t load_id) override {
    TESSERA_ASSIGN_OR_RETURN(
        auto found, Value("SELECT count(*) FROM loads WHERE load_id = " + std::to_string(load_id)));
    if (found != "1")
      return NotFoundError("PostgreSQL {} holds no load {}", safe_.Describe(), load_id);
    TESSERA_ASSIGN_OR_RETURN(auto r,
                             Query("SELECT file, line, col, column_name, reason_code, reason FROM "
                                   "load_rejects WHERE load_id = $1 ORDER BY seq",
                                   {std::to_string(load_id)}, true));
    const PGresult* q = r.get();
    std::vector<io::Reject> out;
    for (int i = 0, n = PQntuples(q); i < n; ++i) {
      io::Reject x;
      x.file.assign(PQgetvalue(q, i, 0), PQgetlength(q, i, 0));
      x.line = static_cast<uint64_t>(GetInt64(PQgetvalue(q, i, 1)));
      x.column = static_cast<uint32_t>(GetInt32(PQgetvalue(q, i, 2)));
      x.column_name.assign(PQgetvalue(q, i, 3), PQgetlength(q, i, 3));
      x.reason_code.assign(PQgetvalue(q, i, 4), PQgetlength(q, i, 4));
      x.reason.assign(PQgetvalue(q, i, 5), PQgetlength(q, i, 5));
      out.push_back(std::move(x));
    }
    return out;
  }

  StatusOr<int64_t> SaveSnapshot(const SnapshotInfo& info,
                                 const std::vector<SnapshotSegment>& segments,
                                 const std::vector<SnapshotProfile>& profiles) override {
    if (!customers_loaded_) {
      TESSERA_RETURN_IF_ERROR(ScanCustomers([](uint32_t, const privacy::Uuid&) {}));
    }
    TESSERA_RETURN_IF_ERROR(
        internal::ValidateSnapshot(segments, profiles, static_cast<uint32_t>(customers_.size())));
    TESSERA_RETURN_IF_ERROR(Command("BEGIN", {}));
    auto id = SaveSnapshotInTransaction(info, segments, profiles);
    if (!id.ok()) {
      if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
      return id.status();
    }
    TESSERA_RETURN_IF_ERROR(Command("COMMIT", {}));
    return id;
  }

  StatusOr<std::vector<SnapshotInfo>> Snapshots() override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r,
        Query("SELECT snapshot_id, to_char(created_at AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), as_of - DATE '1970-01-01', "
              "window_start - DATE '1970-01-01', window_length, currency, currency_exponent, "
              "last_load_id, customers_in_store, profile_count, prediction_models, "
              "prediction_horizon_months FROM snapshots ORDER BY snapshot_id",
              {}, false));
    std::vector<SnapshotInfo> out;
    const PGresult* q = r.get();
    for (int i = 0, n = PQntuples(q); i < n; ++i) {
      SnapshotInfo s;
      s.id = std::stoll(PQgetvalue(q, i, 0));
      s.created_at = PQgetvalue(q, i, 1);
      s.as_of_day = std::stoll(PQgetvalue(q, i, 2));
      s.start_day = std::stoll(PQgetvalue(q, i, 3));
      s.window = PQgetvalue(q, i, 4);
      s.currency = PQgetvalue(q, i, 5);
      s.currency_exponent = std::stoi(PQgetvalue(q, i, 6));
      s.last_load_id = std::stoll(PQgetvalue(q, i, 7));
      s.customers_in_store = std::stoull(PQgetvalue(q, i, 8));
      s.profile_count = std::stoull(PQgetvalue(q, i, 9));
      s.prediction_models = PQgetvalue(q, i, 10);
      s.prediction_horizon_months = std::strtod(PQgetvalue(q, i, 11), nullptr);
      out.push_back(std::move(s));
    }
    return out;
  }

  StatusOr<std::vector<SnapshotSegment>> SnapshotSegments(int64_t id) override {
    TESSERA_RETURN_IF_ERROR(CheckSnapshot(id));
    TESSERA_ASSIGN_OR_RETURN(
        auto r, Query("SELECT segment_key, name_en, name_de, uuid_count, sum_order_count, "
                      "sum_clv_minor, median_clv_minor, avg_order_count, avg_clv, "
                      "avg_recency_days, share_percent, avg_p_alive, avg_predicted_clv FROM "
                      "snapshot_segments WHERE snapshot_id = $1 ORDER BY position",
                      {std::to_string(id)}, true));
    std::vector<SnapshotSegment> out;
    const PGresult* q = r.get();
    for (int i = 0, n = PQntuples(q); i < n; ++i) {
      SnapshotSegment g;
      g.key.assign(PQgetvalue(q, i, 0), PQgetlength(q, i, 0));
      g.name_en.assign(PQgetvalue(q, i, 1), PQgetlength(q, i, 1));
      g.name_de.assign(PQgetvalue(q, i, 2), PQgetlength(q, i, 2));
      g.uuid_count = static_cast<uint64_t>(GetInt64(PQgetvalue(q, i, 3)));
      g.sum_order_count = static_cast<uint64_t>(GetInt64(PQgetvalue(q, i, 4)));
      g.sum_clv_minor = GetInt64(PQgetvalue(q, i, 5));
      g.median_clv_minor = GetInt64(PQgetvalue(q, i, 6));
      g.avg_order_count = GetFloat64(PQgetvalue(q, i, 7));
      g.avg_clv = GetFloat64(PQgetvalue(q, i, 8));
      g.avg_recency_days = GetFloat64(PQgetvalue(q, i, 9));
      g.share_percent = GetFloat64(PQgetvalue(q, i, 10));
      g.avg_p_alive = GetFloat64(PQgetvalue(q, i, 11));
      g.avg_predicted_clv = GetFloat64(PQgetvalue(q, i, 12));
      out.push_back(std::move(g));
    }
    return out;
  }

  Status ScanSnapshotProfiles(int64_t id,
                              const std::function<void(const SnapshotProfile&)>& fn) override {
    TESSERA_RETURN_IF_ERROR(CheckSnapshot(id));
    TESSERA_ASSIGN_OR_RETURN(
        auto r,
        Query("SELECT customer_idx, position, r_score, f_score, m_score, order_count, "
              "revenue_minor, recency_days, first_order - DATE '1970-01-01', "
              "last_order - DATE '1970-01-01', p_alive, expected_purchases, predicted_clv FROM "
              "snapshot_profiles WHERE snapshot_id = $1 ORDER BY customer_idx",
              {std::to_string(id)}, true));
    const PGresult* q = r.get();
    const auto real = [&](int i, int col) {
      return PQgetisnull(q, i, col) ? std::numeric_limits<double>::quiet_NaN()
                                    : GetFloat64(PQgetvalue(q, i, col));
    };
    SnapshotProfile p;
    for (int i = 0, n = PQntuples(q); i < n; ++i) {
      p.customer = static_cast<uint32_t>(GetInt32(PQgetvalue(q, i, 0)));
      p.segment = static_cast<uint16_t>(GetInt16(PQgetvalue(q, i, 1)));
      p.r_score = static_cast<uint8_t>(GetInt16(PQgetvalue(q, i, 2)));
      p.f_score = static_cast<uint8_t>(GetInt16(PQgetvalue(q, i, 3)));
      p.m_score = static_cast<uint8_t>(GetInt16(PQgetvalue(q, i, 4)));
      p.order_count = static_cast<uint32_t>(GetInt32(PQgetvalue(q, i, 5)));
      p.revenue_minor = GetInt64(PQgetvalue(q, i, 6));
      p.recency_days = GetInt32(PQgetvalue(q, i, 7));
      p.first_day = GetInt32(PQgetvalue(q, i, 8));
      p.last_day = GetInt32(PQgetvalue(q, i, 9));
      p.p_alive = real(i, 10);
      p.expected_purchases = real(i, 11);
      p.predicted_clv = real(i, 12);
      fn(p);
    }
    return OkStatus();
  }

  StatusOr<uint64_t> PruneSnapshots(uint64_t keep) override {
    TESSERA_RETURN_IF_ERROR(Command("BEGIN", {}));
    auto pruned = [&]() -> StatusOr<uint64_t> {
      TESSERA_ASSIGN_OR_RETURN(
          auto cut, Value(fmt::format("SELECT snapshot_id FROM snapshots ORDER BY snapshot_id "
                                      "DESC LIMIT 1 OFFSET {}",
                                      keep)));
      if (cut.empty()) return uint64_t{0};
      TESSERA_RETURN_IF_ERROR(
          Command("DELETE FROM snapshot_profiles WHERE snapshot_id <= $1", {cut}));
      TESSERA_RETURN_IF_ERROR(
          Command("DELETE FROM snapshot_segments WHERE snapshot_id <= $1", {cut}));
      TESSERA_ASSIGN_OR_RETURN(
          auto r, Query("DELETE FROM snapshots WHERE snapshot_id <= $1", {cut}, false));
      return std::stoull(PQcmdTuples(r.get()));
    }();
    if (!pruned.ok()) {
      if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
      return pruned;
    }
    TESSERA_RETURN_IF_ERROR(Command("COMMIT", {}));
    return pruned;
  }

  Status AddApiKey(const ApiKeyRecord& key) override {
    const char* values[] = {key.id.c_str(),  key.role.c_str(), key.label.c_str(),
                            key.salt.data(), key.hash.data(),  key.allow_query_key ? "t" : "f"};
    const int lengths[] = {
        0, 0, 0, static_cast<int>(key.salt.size()), static_cast<int>(key.hash.size()), 0};
    const int formats[] = {0, 0, 0, 1, 1, 0};
    Result r(PQexecParams(conn(),
                          "INSERT INTO api_keys(key_id, role, label, salt, hash, allow_query_key, "
                          "created_at) VALUES ($1, $2, $3, $4, $5, $6, now())",
                          6, nullptr, values, lengths, formats, 0));
    if (PQresultStatus(r.get()) == PGRES_COMMAND_OK) return OkStatus();
    const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    if (state != nullptr && std::string_view(state) == "23505") {
      return AlreadyExistsError("an API key {} exists", key.id);
    }
    return Error(r.get(), "store an API key");
  }

  StatusOr<std::vector<ApiKeyRecord>> ApiKeys() override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r, Query("SELECT key_id, role, label, salt, hash, allow_query_key::int::text, "
                      "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                      "COALESCE(to_char(revoked_at AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') FROM api_keys ORDER BY "
                      "created_at, key_id",
                      {}, true));
    std::vector<ApiKeyRecord> out;
    const PGresult* q = r.get();
    auto text = [&](int i, int col) {
      return std::string(PQgetvalue(q, i, col), PQgetlength(q, i, col));
    };
    for (int i = 0, n = PQntuples(q); i < n; ++i) {
      ApiKeyRecord k;
      k.id = text(i, 0);
      k.role = text(i, 1);
      k.label = text(i, 2);
      k.salt = text(i, 3);
      k.hash = text(i, 4);
      k.allow_query_key = text(i, 5) == "1";
      k.created_at = text(i, 6);
      k.revoked_at = text(i, 7);
      out.push_back(std::move(k));
    }
    return out;
  }

  StatusOr<bool> RevokeApiKey(const std::string& id) override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r, Query("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at "
                      "IS NULL",
                      {id}, false));
    return std::string_view(PQcmdTuples(r.get())) == "1";
  }

  Status SaveAudience(const AudienceRecord& a, bool replace, uint64_t size,
                      int64_t snapshot_id) override {
    return InTransaction([&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(
          auto r, Query(replace ? "UPDATE audiences SET expression = $1, updated_at = now() "
                                  "WHERE name = $2"
                                : "INSERT INTO audiences(expression, name, created_at, "
                                  "updated_at) VALUES ($1, $2, now(), now()) ON CONFLICT DO "
                                  "NOTHING",
                        {a.expression, a.name}, false));
      if (std::string_view(PQcmdTuples(r.get())) != "1") {
        return internal::AudienceNameConflict(a.name, replace);
      }
      return AppendAudienceEvent(a.name, replace ? "updated" : "saved", a.expression, size,
                                 snapshot_id);
    });
  }

  StatusOr<std::vector<AudienceRecord>> Audiences() override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r, Query("SELECT name, expression, " + IsoUtc("created_at") + ", " +
                          IsoUtc("updated_at") + " FROM audiences ORDER BY name COLLATE \"C\"",
                      {}, false));
    std::vector<AudienceRecord> out;
    for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
      out.push_back({PQgetvalue(r.get(), i, 0), PQgetvalue(r.get(), i, 1),
                     PQgetvalue(r.get(), i, 2), PQgetvalue(r.get(), i, 3)});
    }
    return out;
  }

  StatusOr<bool> DeleteAudience(const std::string& name) override {
    bool deleted = false;
    TESSERA_RETURN_IF_ERROR(InTransaction([&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(
          auto r,
          Query("DELETE FROM audiences WHERE name = $1 RETURNING expression", {name}, false));
      if (PQntuples(r.get()) == 0) return OkStatus();
      deleted = true;
      return AppendAudienceEvent(name, "deleted", PQgetvalue(r.get(), 0, 0), 0, 0);
    }));
    return deleted;
  }

  Status RecordAudienceEvent(const std::string& name, const std::string& event, uint64_t size,
                             int64_t snapshot_id) override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r, Query("SELECT expression FROM audiences WHERE name = $1", {name}, false));
    if (PQntuples(r.get()) == 0) return NotFoundError("no audience named '{}'", name);
    return AppendAudienceEvent(name, event, PQgetvalue(r.get(), 0, 0), size, snapshot_id);
  }

  StatusOr<std::vector<AudienceEvent>> AudienceHistory(const std::string& name) override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r, Query("SELECT seq, " + IsoUtc("at") +
                          ", event, expression, size, snapshot_id FROM audience_history WHERE "
                          "name = $1 ORDER BY seq",
                      {name}, false));
    std::vector<AudienceEvent> out;
    for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
      AudienceEvent e;
      e.name = name;
      e.seq = std::atoll(PQgetvalue(r.get(), i, 0));
      e.at = PQgetvalue(r.get(), i, 1);
      e.event = PQgetvalue(r.get(), i, 2);
      e.expression = PQgetvalue(r.get(), i, 3);
      e.size = std::strtoull(PQgetvalue(r.get(), i, 4), nullptr, 10);
      e.snapshot_id = std::atoll(PQgetvalue(r.get(), i, 5));
      out.push_back(std::move(e));
    }
    return out;
  }

  Status SetSetting(const std::string& key, const std::string& value) override {
    return Command(
        "INSERT INTO settings(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET "
        "value = EXCLUDED.value",
        {key, value});
  }

  StatusOr<std::optional<std::string>> Setting(const std::string& key) override {
    TESSERA_ASSIGN_OR_RETURN(auto r,
                             Query("SELECT value FROM settings WHERE key = $1", {key}, false));
    if (PQntuples(r.get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(PQgetvalue(r.get(), 0, 0));
  }

  Status PutCustomerAttributes(const std::vector<CustomerAttribute>& attributes) override {
    if (!customers_loaded_) {
      TESSERA_RETURN_IF_ERROR(ScanCustomers([](uint32_t, const privacy::Uuid&) {}));
    }
    return InTransaction([&]() -> Status {
      for (const auto& a : attributes) {
        if (a.customer >= customers_.size()) {
          return InvalidArgumentError("attribute for unknown customer index {}", a.customer);
        }
        TESSERA_RETURN_IF_ERROR(Command(
            "INSERT INTO customer_attributes(customer_uuid, customer_idx, name, value) VALUES "
            "($1, $2, $3, $4) ON CONFLICT (customer_uuid, name) DO UPDATE SET value = "
            "EXCLUDED.value",
            {customers_[a.customer].ToString(), std::to_string(a.customer), a.name, a.value}));
      }
      return Command(
          "INSERT INTO settings(key, value) VALUES ('attributes.generation', '1') ON CONFLICT "
          "(key) DO UPDATE SET value = (settings.value::bigint + 1)::text",
          {});
    });
  }

  Status ScanCustomerAttributes(const std::function<void(const CustomerAttribute&)>& fn) override {
    TESSERA_ASSIGN_OR_RETURN(
        auto r, Query("SELECT customer_idx, name, value FROM customer_attributes ORDER BY name "
                      "COLLATE \"C\", value COLLATE \"C\", customer_idx",
                      {}, false));
    CustomerAttribute a;
    for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
      a.customer = static_cast<uint32_t>(std::strtoul(PQgetvalue(r.get(), i, 0), nullptr, 10));
      a.name = PQgetvalue(r.get(), i, 1);
      a.value = PQgetvalue(r.get(), i, 2);
      fn(a);
    }
    return OkStatus();
  }

  Status CreateReadOnlyRole(const std::string& role, const std::string& password) override {
    if (role.empty() || role.size() > 63) {
      return InvalidArgumentError("a role name has 1 to 63 characters");
    }
    auto quote = [&](const std::string& v, bool identifier) -> StatusOr<std::string> {
      char* q = identifier ? PQescapeIdentifier(conn(), v.data(), v.size())
                           : PQescapeLiteral(conn(), v.data(), v.size());
      if (q == nullptr) return Error(nullptr, "quote a name");
      std::string out(q);
      PQfreemem(q);
      return out;
    };
    TESSERA_ASSIGN_OR_RETURN(const std::string name, quote(role, true));
    std::string login = "NOLOGIN";
    if (!password.empty()) {
      TESSERA_ASSIGN_OR_RETURN(const std::string pw, quote(password, false));
      login = "LOGIN PASSWORD " + pw;
    }
    TESSERA_ASSIGN_OR_RETURN(auto exists,
                             Query("SELECT 1 FROM pg_roles WHERE rolname = $1", {role}, false));
    const std::string create_or_alter = PQntuples(exists.get()) > 0 ? "ALTER" : "CREATE";
    // Views run with their owner's rights: the role needs SELECT on the views only, never on
    // the tables behind them. Default privileges cover views added by later migrations.
    const std::string sql = fmt::format(
        "BEGIN; {0} ROLE {1} {2} NOSUPERUSER NOCREATEDB NOCREATEROLE; "
        "GRANT USAGE ON SCHEMA tessera_bi TO {1}; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA tessera_bi TO {1}; "
        "ALTER DEFAULT PRIVILEGES IN SCHEMA tessera_bi GRANT SELECT ON TABLES TO {1}; COMMIT;",
        create_or_alter, name, login);
    Result r(PQexec(conn(), sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      Status st = Error(r.get(), "create the read-only role");
      if (PQstatus(conn()) == CONNECTION_OK) Result rb(PQexec(conn(), "ROLLBACK"));
      return st;
    }
    return OkStatus();
  }

  StatusOr<StoreStats> Stats() override {
    TESSERA_ASSIGN_OR_RETURN(auto r, Query("SELECT (SELECT count(*) FROM customers), "
                                           "(SELECT COALESCE(sum(order_count), 0) FROM batches), "
                                           "(SELECT count(*) FROM batches WHERE order_count > 0), "
                                           "(SELECT count(*) FROM loads), "
                                           "(SELECT count(*) FROM snapshots)",
                                           {}, false));
    StoreStats st;
    st.customers = std::stoull(PQgetvalue(r.get(), 0, 0));
    st.orders = std::stoull(PQgetvalue(r.get(), 0, 1));
    st.chunks = std::stoull(PQgetvalue(r.get(), 0, 2));
    st.loads = std::stoull(PQgetvalue(r.get(), 0, 3));
    st.snapshots = std::stoull(PQgetvalue(r.get(), 0, 4));
    return st;
  }

  std::string Describe() const override { return "PostgreSQL store " + safe_.Describe(); }

 private:
  PGconn* conn() { return database_->conn(); }

  Status CheckSnapshot(int64_t id) {
    TESSERA_ASSIGN_OR_RETURN(
        auto found,
        Value("SELECT count(*) FROM snapshots WHERE snapshot_id = " + std::to_string(id)));
    if (found == "1") return OkStatus();
    return NotFoundError("PostgreSQL {} holds no snapshot {}", safe_.Describe(), id);
  }

  StatusOr<int64_t> SaveSnapshotInTransaction(const SnapshotInfo& info,
                                              const std::vector<SnapshotSegment>& segments,
                                              const std::vector<SnapshotProfile>& profiles) {
    TESSERA_ASSIGN_OR_RETURN(
        auto r,
        Query("INSERT INTO snapshots(created_at, as_of, window_start, window_length, currency, "
              "currency_exponent, last_load_id, customers_in_store, profile_count, "
              "prediction_models, prediction_horizon_months) VALUES ($1::timestamptz, DATE "
              "'1970-01-01' + $2::integer, DATE '1970-01-01' + $3::integer, $4, $5, $6, $7, $8, "
              "$9, $10, $11) RETURNING snapshot_id",
              {NowIso(), std::to_string(info.as_of_day), std::to_string(info.start_day),
               info.window, info.currency, std::to_string(info.currency_exponent),
               std::to_string(info.last_load_id), std::to_string(info.customers_in_store),
               std::to_string(profiles.size()), info.prediction_models,
               fmt::format("{}", info.prediction_horizon_months)},
              false));
    const int64_t id = std::stoll(PQgetvalue(r.get(), 0, 0));
    TESSERA_RETURN_IF_ERROR(
        Copy("COPY snapshot_segments (snapshot_id, position, segment_key, name_en, name_de, "
             "uuid_count, sum_order_count, sum_clv_minor, median_clv_minor, avg_order_count, "
             "avg_clv, avg_recency_days, share_percent, avg_p_alive, avg_predicted_clv) FROM "
             "STDIN (FORMAT binary)",
             segments.size(), [&](CopyRows& rows, size_t i) {
               const auto& g = segments[i];
               rows.Row(15);
               rows.Int64(id);
               rows.Int16(static_cast<int16_t>(i));
               rows.Bytes(g.key);
               rows.Bytes(g.name_en);
               rows.Bytes(g.name_de);
               rows.Int64(static_cast<int64_t>(g.uuid_count));
               rows.Int64(static_cast<int64_t>(g.sum_order_count));
               rows.Int64(g.sum_clv_minor);
               rows.Int64(g.median_clv_minor);
               rows.Float64(g.avg_order_count);
               rows.Float64(g.avg_clv);
               rows.Float64(g.avg_recency_days);
               rows.Float64(g.share_percent);
               rows.Float64(g.avg_p_alive);
               rows.Float64(g.avg_predicted_clv);
             }));
    TESSERA_RETURN_IF_ERROR(
        Copy("COPY snapshot_profiles (customer_uuid, snapshot_id, customer_idx, position, "
             "r_score, f_score, m_score, order_count, revenue_minor, recency_days, first_order, "
             "last_order, p_alive, expected_purchases, predicted_clv) FROM STDIN (FORMAT binary)",
             profiles.size(), [&](CopyRows& rows, size_t i) {
               const auto& p = profiles[i];
               rows.Row(15);
               rows.Uuid(customers_[p.customer]);
               rows.Int64(id);
               rows.Int32(static_cast<int32_t>(p.customer));
               rows.Int16(static_cast<int16_t>(p.segment));
               rows.Int16(p.r_score);
               rows.Int16(p.f_score);
               rows.Int16(p.m_score);
               rows.Int32(static_cast<int32_t>(p.order_count));
               rows.Int64(p.revenue_minor);
               rows.Int32(p.recency_days);
               rows.Date(p.first_day);
               rows.Date(p.last_day);
               rows.Float64(p.p_alive);
               rows.Float64(p.expected_purchases);
               rows.Float64(p.predicted_clv);
             }));
    return id;
  }

  // One stream for all orders (COPY TO, binary), put back into chunks by OrderChunks.
  Status ScanOrdersInTransaction(uint32_t fields,
                                 const std::function<Status(const OrderColumns&)>& fn) {
    TESSERA_ASSIGN_OR_RETURN(
        auto batches,
        Query("SELECT load_id, batch_no, first_order_no, order_count, item_count FROM batches "
              "WHERE order_count > 0 ORDER BY first_order_no",
              {}, true));
    std::vector<OrderChunks::LedgerBatch> ledger;
    for (int b = 0, nb = PQntuples(batches.get()); b < nb; ++b) {
      const auto value = [&](int field) { return PQgetvalue(batches.get(), b, field); };
      ledger.push_back({GetInt64(value(0)), GetInt32(value(1)), GetInt64(value(2)),
                        GetInt32(value(3)), GetInt32(value(4))});
      if (b > 0 && ledger[b - 1].first_order_no + ledger[b - 1].orders > ledger[b].first_order_no) {
        return DataLossError(
            "PostgreSQL {}: load {} batch {} and load {} batch {} share order numbers",
            safe_.Describe(), ledger[b - 1].load_id, ledger[b - 1].batch_no, ledger[b].load_id,
            ledger[b].batch_no);
      }
    }
    batches.reset();
    if (ledger.empty()) return OkStatus();
    OrderChunks chunks(std::move(ledger), safe_.Describe(), fields, fn);
    Result start(PQexec(conn(), ScanOrdersSql(fields).c_str()));
    if (PQresultStatus(start.get()) != PGRES_COPY_OUT) return Error(start.get(), "read orders");
    Status s;
    for (;;) {
      char* data = nullptr;
      const int len = PQgetCopyData(conn(), &data, 0);
      if (len < 0) break;  // -1: the end; -2: an error, in the result below
      if (s.ok()) {
        s = chunks.AddMessage(std::string_view(data, static_cast<size_t>(len)));
        // Stop the server's scan; the messages already on their way are read and dropped.
        if (!s.ok()) Cancel();
      }
      PQfreemem(data);
    }
    while (Result r{PQgetResult(conn())}) {
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && s.ok()) s = Error(r.get(), "read orders");
    }
    if (s.ok()) s = chunks.Finish();
    return s;
  }

  void Cancel() {
    PGcancel* cancel = PQgetCancel(conn());
    if (cancel == nullptr) return;
    char message[256];
    (void)PQcancel(cancel, message, sizeof(message));
    PQfreeCancel(cancel);
  }

  Status AppendBatchOnce(int64_t load_id, int32_t batch_no, const Batch& batch) {
    TESSERA_RETURN_IF_ERROR(Command("BEGIN", {}));
    Status s = AppendBatchInTransaction(load_id, batch_no, batch);
    if (s.ok()) return Command("COMMIT", {});
    if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
    return s;
  }

  Status AppendBatchInTransaction(int64_t load_id, int32_t batch_no, const Batch& batch) {
    const OrderColumns& o = batch.orders;
    // Order numbers continue where the last committed batch stopped; the lock (until COMMIT)
    // keeps two writers from taking the same numbers.
    TESSERA_RETURN_IF_ERROR(
        Command("SELECT pg_advisory_xact_lock(" + std::to_string(kOrderNumberLockKey) + ")", {}));
    TESSERA_ASSIGN_OR_RETURN(
        auto inserted,
        Query("INSERT INTO batches(load_id, batch_no, first_order_no, order_count, item_count, "
              "new_customers) SELECT $1, $2, COALESCE((SELECT first_order_no + order_count FROM "
              "batches ORDER BY first_order_no DESC, order_count DESC LIMIT 1), 0), $3, $4, $5 "
              "RETURNING first_order_no",
              {std::to_string(load_id), std::to_string(batch_no), std::to_string(o.size()),
               std::to_string(o.item_count()), std::to_string(batch.new_customers.size())},
              true));
    const int64_t first_order_no = GetInt64(PQgetvalue(inserted.get(), 0, 0));
    inserted.reset();
    if (!batch.new_customers.empty()) {
      // In key order: pseudonyms are random, and inserted in order they walk the primary key's
      // leaves once instead of landing on a random leaf each.
      std::vector<uint32_t> by_uuid(batch.new_customers.size());
      std::iota(by_uuid.begin(), by_uuid.end(), 0u);
      std::sort(by_uuid.begin(), by_uuid.end(), [&](uint32_t a, uint32_t b) {
        return batch.new_customers[a].bytes < batch.new_customers[b].bytes;
      });
      TESSERA_RETURN_IF_ERROR(
          Copy("COPY customers (customer_uuid, customer_idx) FROM STDIN (FORMAT binary)",
               by_uuid.size(), [&](CopyRows& rows, size_t i) {
                 rows.Row(2);
                 rows.Uuid(batch.new_customers[by_uuid[i]]);
                 rows.Int32(static_cast<int32_t>(batch.first_new_customer + by_uuid[i]));
               }));
    }
    if (!batch.new_dict_entries.empty()) {
      TESSERA_RETURN_IF_ERROR(Copy("COPY dictionary (kind, id, value) FROM STDIN (FORMAT binary)",
                                   batch.new_dict_entries.size(), [&](CopyRows& rows, size_t i) {
                                     const auto& e = batch.new_dict_entries[i];
                                     rows.Row(3);
                                     rows.Int16(static_cast<int16_t>(e.kind));
                                     rows.Int32(static_cast<int32_t>(e.id));
                                     rows.Bytes(e.value);
                                   }));
    }
    if (o.size() == 0) return OkStatus();
    const auto uuid_of = [&](size_t i) -> const privacy::Uuid& {
      static const privacy::Uuid kNil;
      const uint32_t c = o.customer[i];
      if (c == kAnonymousCustomer) return kNil;
      if (c < customers_.size()) return customers_[c];
      const size_t j = c - batch.first_new_customer;
      return j < batch.new_customers.size() ? batch.new_customers[j] : kNil;
    };
    for (size_t i = 0; i < o.size(); ++i) {
      const uint32_t c = o.customer[i];
      if (c != kAnonymousCustomer && c >= customers_.size() + batch.new_customers.size()) {
        return InvalidArgumentError("order {} of a batch refers to unknown customer index {}", i,
                                    c);
      }
    }
    return Copy(
        "COPY orders (customer_uuid, order_no, ordered_at, amount_minor, customer_idx, "
        "currency_id, store_id, region_id, channel_id, kind, order_token, item_category_id, "
        "item_sku_id, item_quantity_milli, item_amount_micro) FROM STDIN (FORMAT binary)",
        o.size(), [&](CopyRows& rows, size_t i) {
          const size_t first = o.item_offsets[i];
          const size_t items = o.item_offsets[i + 1] - first;
          rows.Row(15);
          rows.Uuid(uuid_of(i));
          rows.Int64(first_order_no + static_cast<int64_t>(i));
          rows.Int64((o.ordered_at[i] - kPostgresEpoch) * 1000000);
          rows.Int64(o.amount_minor[i]);
          rows.Int32(static_cast<int32_t>(o.customer[i]));
          rows.Int32(static_cast<int32_t>(o.currency[i]));
          rows.Int32(static_cast<int32_t>(o.store[i]));
          rows.Int32(static_cast<int32_t>(o.region[i]));
          rows.Int32(static_cast<int32_t>(o.channel[i]));
          rows.Int16(o.kind[i]);
          rows.Bytes(o.token(i));
          rows.Int32Array(std::span(o.item_category).subspan(first, items));
          rows.Int32Array(std::span(o.item_sku).subspan(first, items));
          rows.Int64Array(std::span(o.item_quantity_milli).subspan(first, items));
          rows.Int64Array(std::span(o.item_amount_micro).subspan(first, items));
        });
  }

  template <typename RowFn>
  Status Copy(const char* sql, size_t n, RowFn row) {
    return database_->Copy(sql, n, std::move(row));
  }

  Status Reconnect() { return database_->Reconnect(); }

  // Runs `body` in a transaction: committed when it succeeds, rolled back otherwise.
  Status InTransaction(const std::function<Status()>& body) {
    TESSERA_RETURN_IF_ERROR(Command("BEGIN", {}));
    Status s = body();
    if (!s.ok()) {
      if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
      return s;
    }
    return Command("COMMIT", {});
  }

  static std::string IsoUtc(const std::string& column) {
    return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
  }

  Status AppendAudienceEvent(const std::string& name, const std::string& event,
                             const std::string& expression, uint64_t size, int64_t snapshot_id) {
    return Command(
        "INSERT INTO audience_history(name, seq, at, event, expression, size, snapshot_id) "
        "VALUES ($1, (SELECT COALESCE(max(seq), 0) + 1 FROM audience_history WHERE name = $1), "
        "now(), $2, $3, $4, $5)",
        {name, event, expression, std::to_string(size), std::to_string(snapshot_id)});
  }

  StatusOr<Result> Query(const std::string& sql, const std::vector<std::string>& params,
                         bool binary_results) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    Result r(PQexecParams(conn(), sql.c_str(), static_cast<int>(params.size()), nullptr,
                          values.data(), nullptr, nullptr, binary_results ? 1 : 0));
    const ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return Error(r.get(), "run a query");
    return r;
  }

  Status Command(const std::string& sql, const std::vector<std::string>& params) {
    return Query(sql, params, false).status();
  }

  StatusOr<std::string> Value(const std::string& sql) {
    TESSERA_ASSIGN_OR_RETURN(auto r, Query(sql, {}, false));
    if (PQntuples(r.get()) == 0 || PQgetisnull(r.get(), 0, 0)) return std::string();
    return std::string(PQgetvalue(r.get(), 0, 0));
  }

  Status Error(const PGresult* r, const char* what) {
    Status s = database_->Error(r, what);
    // Callers here tell a duplicate themselves; their message names the object.
    if (s.code() == StatusCode::kAlreadyExists) return Status(StatusCode::kInternal, s.message());
    return s;
  }

  StatusOr<std::optional<std::string>> GetMeta(const std::string& key) {
    TESSERA_ASSIGN_OR_RETURN(auto r,
                             Query("SELECT value FROM tessera_meta WHERE key = $1", {key}, false));
    if (PQntuples(r.get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(PQgetvalue(r.get(), 0, 0));
  }

  Status CheckVersion() {
    TESSERA_ASSIGN_OR_RETURN(auto format, GetMeta("format"));
    TESSERA_ASSIGN_OR_RETURN(auto version, GetMeta("schema_version"));
    if (format && *format != "tessera") {
      return DataLossError("PostgreSQL {} holds a table tessera_meta but not a Tessera store",
                           safe_.Describe());
    }
    if (version && std::atoi(version->c_str()) > kSchemaVersion) {
      return FailedPreconditionError(
          "store PostgreSQL {} has schema version {}, newer than this tessera supports ({}); "
          "upgrade tessera",
          safe_.Describe(), *version, kSchemaVersion);
    }
    return OkStatus();
  }

  // Applies the missing migrations, each in its own transaction under an advisory lock.
  // Safe to run twice and from two processes at once.
  Status Migrate() {
    for (int v = 1; v <= kSchemaVersion; ++v) {
      TESSERA_RETURN_IF_ERROR(Command("BEGIN", {}));
      Status s = MigrateTo(v);
      if (!s.ok()) {
        if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
        return s;
      }
      TESSERA_RETURN_IF_ERROR(Command("COMMIT", {}));
    }
    return OkStatus();
  }

  // A store at version 1 whose batches lack first_order_no was made by the first release:
  // its orders move to today's layout (kFirstReleaseLayoutSetAside). In the caller's
  // transaction.
  Status UpgradeFirstReleaseLayout() {
    TESSERA_ASSIGN_OR_RETURN(
        auto has_column,
        Value("SELECT count(*) FROM information_schema.columns WHERE table_schema = "
              "current_schema() AND table_name = 'batches' AND column_name = 'first_order_no'"));
    if (has_column != "0") return OkStatus();
    for (const char* sql : {kFirstReleaseLayoutSetAside, kMigrations[0], kFirstReleaseLayoutCopy}) {
      Result r(PQexec(conn(), sql));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        return Error(r.get(), "upgrade the first release's orders")
            .WithContext("migration to schema version 2");
      }
    }
    return OkStatus();
  }

  Status MigrateTo(int version) {
    TESSERA_RETURN_IF_ERROR(
        Command("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")", {}));
    TESSERA_RETURN_IF_ERROR(
        Command("CREATE TABLE IF NOT EXISTS tessera_meta (key text PRIMARY KEY, value text NOT "
                "NULL)",
                {}));
    TESSERA_RETURN_IF_ERROR(CheckVersion());
    TESSERA_ASSIGN_OR_RETURN(auto current, GetMeta("schema_version"));
    const int have = current ? std::atoi(current->c_str()) : 0;
    if (have >= version) return OkStatus();
    if (version == 2) TESSERA_RETURN_IF_ERROR(UpgradeFirstReleaseLayout());
    {
      Result r(PQexec(conn(), kMigrations[version - 1]));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        return Error(r.get(), "create the schema")
            .WithContext(fmt::format("migration to schema version {}", version));
      }
    }
    const char* upsert =
        "INSERT INTO tessera_meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET "
        "value = EXCLUDED.value";
    if (version == 1) {
      TESSERA_RETURN_IF_ERROR(Command(upsert, {"format", "tessera"}));
      TESSERA_RETURN_IF_ERROR(Command(upsert, {"created_at", NowIso()}));
    }
    return Command(upsert, {"schema_version", std::to_string(version)});
  }

  std::string location_;
  SafeLocation safe_;
  std::unique_ptr<PostgresDatabase> database_;
  // Customer pseudonyms by dense index: orders carry their customer's pseudonym (the
  // distribution column), but batches name existing customers by index only.
  std::vector<privacy::Uuid> customers_;
  bool customers_loaded_ = false;
  std::map<int64_t, int32_t> next_batch_;  // load id -> next batch number
};

}  // namespace

std::span<const char* const> PostgresMigrations() { return kMigrations; }

bool IsPostgresLocation(std::string_view location) {
  if (location.starts_with("postgres://") || location.starts_with("postgresql://")) return true;
  // A keyword/value conninfo: "host=... dbname=..." (a file path would rarely contain both
  // '=' and a known keyword at the start).
  for (std::string_view k : {"host=", "dbname=", "service=", "user=", "port="}) {
    if (location.starts_with(k)) return true;
  }
  return false;
}

std::string DescribePostgresLocation(const std::string& location) {
  return ParseLocation(location).Describe();
}

StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& location, bool create) {
  SafeLocation safe = ParseLocation(location);
  {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(location.c_str(), &err);
    if (opts == nullptr) {
      std::string msg = err != nullptr ? Scrub(err, safe.password) : "cannot parse";
      PQfreemem(err);
      return InvalidArgumentError("invalid PostgreSQL store location: {}", msg);
    }
    PQconninfoFree(opts);
  }
  TESSERA_ASSIGN_OR_RETURN(auto conn, Connect(location, safe));
  auto store = std::make_unique<PostgresStore>(location, std::move(safe), std::move(conn));
  TESSERA_RETURN_IF_ERROR(store->Init(create));
  return std::unique_ptr<Store>(std::move(store));
}

StatusOr<std::string> PostgresLocationWithDatabase(const std::string& location,
                                                   const std::string& database) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(location.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return InvalidArgumentError("invalid PostgreSQL location");
  }
  const auto quote = [](std::string_view v) {
    std::string q = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') q += '\\';
      q += c;
    }
    return q + "'";
  };
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "dbname" || o->val == nullptr) continue;
    out += fmt::format("{}={} ", o->keyword, quote(o->val));
  }
  PQconninfoFree(opts);
  return out + "dbname=" + quote(database);
}

Status PostgresExecute(const std::string& location, const std::string& sql) {
  const SafeLocation safe = ParseLocation(location);
  TESSERA_ASSIGN_OR_RETURN(auto conn, Connect(location, safe));
  Result r(PQexec(conn.get(), sql.c_str()));
  const ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return InternalError("PostgreSQL {}: {}", safe.Describe(),
                         Scrub(PQerrorMessage(conn.get()), safe.password));
  }
  return OkStatus();
}

StatusOr<std::string> PostgresQueryValue(const std::string& location, const std::string& sql) {
  const SafeLocation safe = ParseLocation(location);
  TESSERA_ASSIGN_OR_RETURN(auto conn, Connect(location, safe));
  Result r(PQexec(conn.get(), sql.c_str()));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
    return InternalError("PostgreSQL {}: {}", safe.Describe(),
                         Scrub(PQerrorMessage(conn.get()), safe.password));
  }
  if (PQntuples(r.get()) == 0 || PQgetisnull(r.get(), 0, 0)) return std::string();
  return std::string(PQgetvalue(r.get(), 0, 0));
}

}  // namespace internal
}  // namespace tessera::store
