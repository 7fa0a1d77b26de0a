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

// The first release's schema version 1 (commit 77befa2, before migration 1 changed: a
// released migration edited) kept orders keyed by (load_id, batch_no, seq) and line items in
// a table of their own. A store it made is brought to the layout of migration 1 as released
// since, in the transaction that opens such a store (OpenStoreSchema): the old tables are set
// aside, migration 1 creates what it has since (its IF NOT EXISTS skips what exists), and the
// orders are copied across, numbered in load order as the store numbers them.
// tests/e2e/old_store.sh upgrades such a store (tests/fixtures/store_v1).
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
            database_->safe().Describe(), foreign);
      }
      if (!create) {
        return NotFoundError(
            "PostgreSQL {} holds no Tessera store yet; load orders with `tessera ingest FILE "
            "--store URL`",
            database_->safe().Describe());
      }
    }
    return internal::OpenStoreSchema(*database_, [&](int version) {
      return version == 1 ? UpgradeFirstReleaseLayout() : OkStatus();
    });
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
                             database_->safe().Describe(), idx, n);
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
  // `begin` runs in the same snapshot.
  Status ScanOrderChunks(const std::function<StatusOr<uint32_t>()>& begin,
                         const std::function<Status(const OrderColumns&)>& fn) override {
    TESSERA_RETURN_IF_ERROR(Command("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", {}));
    StatusOr<uint32_t> fields = begin();
    Status s = fields.ok() ? ScanOrdersInTransaction(*fields | kOrderCore, fn) : fields.status();
    if (s.ok()) return Command("COMMIT", {});
    if (PQstatus(conn()) == CONNECTION_OK) Result r(PQexec(conn(), "ROLLBACK"));
    return s;
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
          database_->safe().Describe(), batch.first_new_customer, customers_.size());
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

  StatusOr<StoreStats> TableStats() override {
    TESSERA_ASSIGN_OR_RETURN(auto r, Query("SELECT (SELECT count(*) FROM customers), "
                                           "(SELECT COALESCE(sum(order_count), 0) FROM batches), "
                                           "(SELECT count(*) FROM batches WHERE order_count > 0), "
                                           "(SELECT count(*) FROM loads)",
                                           {}, false));
    StoreStats st;
    st.customers = std::stoull(PQgetvalue(r.get(), 0, 0));
    st.orders = std::stoull(PQgetvalue(r.get(), 0, 1));
    st.chunks = std::stoull(PQgetvalue(r.get(), 0, 2));
    st.loads = std::stoull(PQgetvalue(r.get(), 0, 3));
    return st;
  }

  std::string Describe() const override {
    return "PostgreSQL store " + database_->safe().Describe();
  }

 private:
  PGconn* conn() { return database_->conn(); }

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
            database_->safe().Describe(), ledger[b - 1].load_id, ledger[b - 1].batch_no,
            ledger[b].load_id, ledger[b].batch_no);
      }
    }
    batches.reset();
    if (ledger.empty()) return OkStatus();
    OrderChunks chunks(std::move(ledger), database_->safe().Describe(), fields, fn);
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
    if (!batch.new_match_tokens.empty()) {
      // COPY cannot skip a row the table has: the tokens go through a temporary table (emptied
      // at each commit, made again after a reconnect), then across with ON CONFLICT DO NOTHING.
      TESSERA_RETURN_IF_ERROR(
          Command("CREATE TEMPORARY TABLE IF NOT EXISTS incoming_match_tokens (customer_idx "
                  "integer, kind smallint, token bytea) ON COMMIT DELETE ROWS",
                  {}));
      TESSERA_RETURN_IF_ERROR(
          Copy("COPY incoming_match_tokens (customer_idx, kind, token) FROM STDIN (FORMAT binary)",
               batch.new_match_tokens.size(), [&](CopyRows& rows, size_t i) {
                 const MatchToken& t = batch.new_match_tokens[i];
                 rows.Row(3);
                 rows.Int32(static_cast<int32_t>(t.customer));
                 rows.Int16(privacy::IdentifierKindByte(t.kind));
                 rows.Bytes(std::string_view(reinterpret_cast<const char*>(t.token.data()),
                                             t.token.size()));
               }));
      TESSERA_RETURN_IF_ERROR(
          Command("INSERT INTO customer_match_tokens (customer_idx, kind, token) SELECT "
                  "customer_idx, kind, token FROM incoming_match_tokens ON CONFLICT DO NOTHING",
                  {}));
    }
    TESSERA_RETURN_IF_ERROR(internal::WriteOrderVersions(*database_, batch.order_versions));
    if (batch.commit_with) TESSERA_RETURN_IF_ERROR(batch.commit_with(*database_));
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
    return internal::UnexpectedDuplicate(database_->Error(r, what));
  }

  // A store at version 1 whose batches lack first_order_no was made by the first release:
  // its orders move to today's layout (kFirstReleaseLayoutSetAside). In the caller's
  // transaction, under the migration lock.
  Status UpgradeFirstReleaseLayout() {
    TESSERA_ASSIGN_OR_RETURN(
        auto has_column,
        Value("SELECT count(*) FROM information_schema.columns WHERE table_schema = "
              "current_schema() AND table_name = 'batches' AND column_name = 'first_order_no'"));
    if (has_column != "0") return OkStatus();
    for (const char* sql : {kFirstReleaseLayoutSetAside, OrderSchema().migrations[0].postgres,
                            kFirstReleaseLayoutCopy}) {
      Result r(PQexec(conn(), sql));
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        return Error(r.get(), "upgrade the first release's orders");
      }
    }
    return OkStatus();
  }

  std::string location_;
  std::unique_ptr<PostgresDatabase> database_;
  // Customer pseudonyms by dense index: orders carry their customer's pseudonym (the
  // distribution column), but batches name existing customers by index only.
  std::vector<privacy::Uuid> customers_;
  bool customers_loaded_ = false;
  std::map<int64_t, int32_t> next_batch_;  // load id -> next batch number
};

}  // namespace

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
