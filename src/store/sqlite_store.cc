#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "store/backends.h"
#include "store/sqlite_database.h"
#include "tessera/common/civil_time.h"
#include "tessera/store/store.h"

namespace tessera::store {
namespace {

// Versioned migrations: migration i brings the schema from version i to i + 1, in one
// transaction. Append only; never edit a released migration.
constexpr const char* kMigrations[] = {
    R"sql(
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
    // 2: snapshots (kept recomputations) and the read-only views for BI tools (docs/bi.md).
    R"sql(
CREATE TABLE snapshots (
  snapshot_id               INTEGER PRIMARY KEY,
  created_at                TEXT    NOT NULL,
  as_of_day                 INTEGER NOT NULL,
  start_day                 INTEGER NOT NULL,
  window_length             TEXT    NOT NULL,
  currency                  TEXT    NOT NULL,
  currency_exponent         INTEGER NOT NULL,
  last_load_id              INTEGER NOT NULL,
  customers_in_store        INTEGER NOT NULL,
  profile_count             INTEGER NOT NULL,
  prediction_models         TEXT    NOT NULL,
  prediction_horizon_months REAL    NOT NULL
);
CREATE TABLE snapshot_segments (
  snapshot_id       INTEGER NOT NULL,
  position          INTEGER NOT NULL,
  segment_key       TEXT    NOT NULL,
  name_en           TEXT    NOT NULL,
  name_de           TEXT    NOT NULL,
  uuid_count        INTEGER NOT NULL,
  sum_order_count   INTEGER NOT NULL,
  sum_clv_minor     INTEGER NOT NULL,
  median_clv_minor  INTEGER NOT NULL,
  avg_order_count   REAL    NOT NULL,
  avg_clv           REAL    NOT NULL,
  avg_recency_days  REAL    NOT NULL,
  share_percent     REAL    NOT NULL,
  avg_p_alive       REAL    NOT NULL,
  avg_predicted_clv REAL    NOT NULL,
  PRIMARY KEY (snapshot_id, position)
) WITHOUT ROWID;
CREATE TABLE snapshot_profiles (
  snapshot_id        INTEGER NOT NULL,
  customer_idx       INTEGER NOT NULL,
  position           INTEGER NOT NULL,
  r_score            INTEGER NOT NULL,
  f_score            INTEGER NOT NULL,
  m_score            INTEGER NOT NULL,
  order_count        INTEGER NOT NULL,
  revenue_minor      INTEGER NOT NULL,
  recency_days       INTEGER NOT NULL,
  first_day          INTEGER NOT NULL,
  last_day           INTEGER NOT NULL,
  p_alive            REAL,
  expected_purchases REAL,
  predicted_clv      REAL,
  PRIMARY KEY (snapshot_id, customer_idx)
) WITHOUT ROWID;

CREATE VIEW bi_snapshots AS
SELECT snapshot_id, created_at, date(as_of_day * 86400, 'unixepoch') AS as_of,
       date(start_day * 86400, 'unixepoch') AS window_start, window_length, currency,
       customers_in_store, profile_count, NULLIF(prediction_models, '') AS prediction_models
FROM snapshots;
CREATE VIEW bi_segments AS
SELECT g.snapshot_id, date(s.as_of_day * 86400, 'unixepoch') AS as_of, s.window_length,
       g.position, g.segment_key, g.name_en AS group_en, g.name_de AS group_de, g.uuid_count,
       g.avg_order_count, g.avg_clv, g.avg_recency_days, g.share_percent,
       g.sum_clv_minor * 1.0 / (CASE s.currency_exponent WHEN 0 THEN 1 WHEN 1 THEN 10
         WHEN 2 THEN 100 WHEN 3 THEN 1000 ELSE 10000 END) AS sum_clv,
       g.median_clv_minor * 1.0 / (CASE s.currency_exponent WHEN 0 THEN 1 WHEN 1 THEN 10
         WHEN 2 THEN 100 WHEN 3 THEN 1000 ELSE 10000 END) AS median_clv,
       s.currency
FROM snapshot_segments g JOIN snapshots s USING (snapshot_id);
CREATE VIEW bi_segments_latest AS
SELECT * FROM bi_segments WHERE snapshot_id = (SELECT max(snapshot_id) FROM snapshots);
CREATE VIEW bi_profiles AS
SELECT p.snapshot_id,
       (SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' ||
                     substr(h, 17, 4) || '-' || substr(h, 21, 12))
        FROM (SELECT hex(substr(c.uuids, (p.customer_idx - c.first_index) * 16 + 1, 16)) AS h
              FROM customer_chunks c
              WHERE c.first_index <= p.customer_idx ORDER BY c.first_index DESC LIMIT 1))
         AS customer_uuid,
       g.segment_key, g.name_en AS group_en, g.name_de AS group_de,
       p.r_score, p.f_score, p.m_score, p.order_count,
       p.revenue_minor * 1.0 / (CASE s.currency_exponent WHEN 0 THEN 1 WHEN 1 THEN 10
         WHEN 2 THEN 100 WHEN 3 THEN 1000 ELSE 10000 END) AS clv,
       p.recency_days, date(p.first_day * 86400, 'unixepoch') AS first_order,
       date(p.last_day * 86400, 'unixepoch') AS last_order,
       p.p_alive, p.expected_purchases, p.predicted_clv, s.currency
FROM snapshot_profiles p
JOIN snapshots s USING (snapshot_id)
JOIN snapshot_segments g ON g.snapshot_id = p.snapshot_id AND g.position = p.position;
CREATE VIEW bi_profiles_latest AS
SELECT * FROM bi_profiles WHERE snapshot_id = (SELECT max(snapshot_id) FROM snapshots);
-- Customers moving between the segments of the two newest snapshots; a NULL from_segment is a
-- customer not in the older snapshot (new in the window), a NULL to_segment one no longer in it.
CREATE VIEW bi_segment_migration_latest AS
WITH ids AS (SELECT (SELECT max(snapshot_id) FROM snapshots) AS newer,
                    (SELECT max(snapshot_id) FROM snapshots
                     WHERE snapshot_id < (SELECT max(snapshot_id) FROM snapshots)) AS older),
     a AS (SELECT p.customer_idx, g.segment_key FROM snapshot_profiles p
           JOIN snapshot_segments g ON g.snapshot_id = p.snapshot_id AND g.position = p.position
           WHERE p.snapshot_id = (SELECT older FROM ids)),
     b AS (SELECT p.customer_idx, g.segment_key FROM snapshot_profiles p
           JOIN snapshot_segments g ON g.snapshot_id = p.snapshot_id AND g.position = p.position
           WHERE p.snapshot_id = (SELECT newer FROM ids))
SELECT (SELECT older FROM ids) AS from_snapshot, (SELECT newer FROM ids) AS to_snapshot,
       a.segment_key AS from_segment, b.segment_key AS to_segment, count(*) AS customers
FROM a FULL OUTER JOIN b ON a.customer_idx = b.customer_idx
WHERE (SELECT older FROM ids) IS NOT NULL
GROUP BY a.segment_key, b.segment_key;
)sql",
    // 3: API keys of `tessera serve` (salted hashes only); the rejected rows of each load.
    R"sql(
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
CREATE TABLE api_keys (
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
    // 4: named audiences and their history, the data owner's settings, attributes attached
    // to customers from other sources.
    R"sql(
CREATE TABLE audiences (
  name       TEXT PRIMARY KEY,
  expression TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE audience_history (
  name        TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  at          TEXT    NOT NULL,
  event       TEXT    NOT NULL,
  expression  TEXT    NOT NULL,
  size        INTEGER NOT NULL,
  snapshot_id INTEGER NOT NULL,
  PRIMARY KEY (name, seq)
) WITHOUT ROWID;
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE customer_attributes (
  customer_idx INTEGER NOT NULL,
  name         TEXT    NOT NULL,
  value        TEXT    NOT NULL,
  PRIMARY KEY (customer_idx, name)
) WITHOUT ROWID;
)sql",
};
constexpr int kSchemaVersion = internal::kSchemaVersion;
static_assert(std::size(kMigrations) == kSchemaVersion, "one migration per schema version");

std::string NowIso() {
  const auto now = std::chrono::system_clock::now();
  return FormatIsoTimestamp(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

using Stmt = internal::SqliteStatement;

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<internal::SqliteDatabase> database)
      : database_(std::move(database)), db_(database_->handle()), path_(database_->path()) {}

  Database& db() override { return *database_; }

  Status Init(bool create) {
    TESSERA_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    TESSERA_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
    sqlite3_busy_timeout(db_, 10000);
    // One statement, one read transaction: a concurrent creator is seen whole or not at all.
    bool has_meta = false, empty = true;
    {
      Stmt s(db_,
             "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'), "
             "NOT EXISTS (SELECT 1 FROM sqlite_master)");
      if (!s.ok() || s.Step() != SQLITE_ROW) return Error("open");
      has_meta = sqlite3_column_int(s.get(), 0) != 0;
      empty = sqlite3_column_int(s.get(), 1) != 0;
    }
    if (!has_meta) {
      if (!empty) return DataLossError("{} is an SQLite database but not a Tessera store", path_);
      // An empty database is a store whose creation was interrupted: finish it when allowed.
      if (!create) {
        return NotFoundError("the store at {} holds no data yet; load orders with `tessera ingest`",
                             path_);
      }
    }
    return Migrate();
  }

  // Applies the missing migrations, each in its own BEGIN IMMEDIATE transaction (which
  // serializes concurrent openers); refuses a store of a newer schema.
  Status Migrate() {
    // The common case, a current store, without taking the write lock (readers open stores
    // all the time, e.g. every thread of `tessera serve`).
    {
      Stmt s(db_, "SELECT value FROM meta WHERE key = 'schema_version'");
      if (s.ok() && s.Step() == SQLITE_ROW &&
          std::atoi(reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0))) ==
              kSchemaVersion) {
        return OkStatus();
      }
    }
    for (int v = 1; v <= kSchemaVersion; ++v) {
      TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
      Status s = MigrateTo(v);
      if (!s.ok()) {
        (void)Exec("ROLLBACK");
        return s;
      }
      TESSERA_RETURN_IF_ERROR(Exec("COMMIT"));
    }
    return OkStatus();
  }

  Status MigrateTo(int version) {
    bool has_meta = false;
    {
      Stmt s(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'");
      if (!s.ok()) return Error("open");
      has_meta = s.Step() == SQLITE_ROW;
    }
    int have = 0;
    if (has_meta) {
      TESSERA_ASSIGN_OR_RETURN(auto format, GetMeta("format"));
      TESSERA_ASSIGN_OR_RETURN(auto current, GetMeta("schema_version"));
      if (format != "tessera" || !current) {
        return DataLossError("{} is an SQLite database but not a Tessera store", path_);
      }
      have = std::atoi(current->c_str());
      if (have > kSchemaVersion) {
        return FailedPreconditionError(
            "store {} has schema version {}, newer than this tessera supports ({}); upgrade "
            "tessera",
            path_, *current, kSchemaVersion);
      }
    }
    if (have >= version) return OkStatus();
    TESSERA_RETURN_IF_ERROR(
        Exec(kMigrations[version - 1])
            .WithContext(fmt::format("migration to schema version {}", version)));
    if (version == 1) {
      TESSERA_RETURN_IF_ERROR(PutMeta("format", "tessera"));
      TESSERA_RETURN_IF_ERROR(PutMeta("created_at", NowIso()));
    }
    return PutMeta("schema_version", std::to_string(version));
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

  StatusOr<WriterLock> LockForWriting() override { return database_->LockForWriting(); }

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

  // Each chunk is read through SQLite's incremental blob I/O, so only the wanted column
  // groups' bytes are copied out of the file (the recompute needs about a fifth of them).
  Status ScanOrderFields(uint32_t fields,
                         const std::function<Status(const OrderColumns&)>& fn) override {
    Stmt s(db_, "SELECT chunk_id, length(data) FROM order_chunks ORDER BY chunk_id");
    if (!s.ok()) return Error("read orders");
    std::unique_ptr<sqlite3_blob, int (*)(sqlite3_blob*)> blob(nullptr, sqlite3_blob_close);
    OrderColumns chunk;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      const sqlite3_int64 chunk_id = sqlite3_column_int64(s.get(), 0);
      const auto size = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 1));
      int opened = SQLITE_OK;
      if (blob == nullptr) {
        sqlite3_blob* b = nullptr;
        opened = sqlite3_blob_open(db_, "main", "order_chunks", "data", chunk_id, 0, &b);
        blob.reset(b);
      } else {
        opened = sqlite3_blob_reopen(blob.get(), chunk_id);
      }
      if (opened != SQLITE_OK) return Error("read orders");
      const Status decoded = OrderColumns::DecodeFields(
          size,
          [&](uint64_t offset, uint64_t n, char* dst) {
            return n == 0 || sqlite3_blob_read(blob.get(), dst, static_cast<int>(n),
                                               static_cast<int>(offset)) == SQLITE_OK;
          },
          fields, &chunk);
      if (!decoded.ok()) return decoded.WithContext(fmt::format("{} chunk {}", path_, chunk_id));
      TESSERA_RETURN_IF_ERROR(fn(chunk));
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

  Status AddLoadRejects(int64_t load_id, const std::vector<io::Reject>& rejects) override {
    if (rejects.empty()) return OkStatus();
    TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st = [&]() -> Status {
      int64_t seq = 0;
      {
        Stmt m(db_, "SELECT COALESCE(max(seq) + 1, 0) FROM load_rejects WHERE load_id = ?");
        sqlite3_bind_int64(m.get(), 1, load_id);
        if (!m.ok() || m.Step() != SQLITE_ROW) return Error("store rejected rows");
        seq = sqlite3_column_int64(m.get(), 0);
      }
      Stmt s(db_,
             "INSERT INTO load_rejects(load_id, seq, file, line, col, column_name, reason_code, "
             "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      for (const auto& r : rejects) {
        s.Reset();
        sqlite3_bind_int64(s.get(), 1, load_id);
        sqlite3_bind_int64(s.get(), 2, seq++);
        sqlite3_bind_text(s.get(), 3, r.file.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s.get(), 4, static_cast<int64_t>(r.line));
        sqlite3_bind_int64(s.get(), 5, r.column);
        sqlite3_bind_text(s.get(), 6, r.column_name.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(s.get(), 7, r.reason_code.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(s.get(), 8, r.reason.c_str(), -1, SQLITE_STATIC);
        if (!s.ok() || s.Step() != SQLITE_DONE) return Error("store rejected rows");
      }
      return OkStatus();
    }();
    if (!st.ok()) {
      (void)Exec("ROLLBACK");
      return st;
    }
    return Exec("COMMIT");
  }

  StatusOr<std::vector<io::Reject>> LoadRejects(int64_t load_id) override {
    {
      Stmt l(db_, "SELECT 1 FROM loads WHERE load_id = ?");
      sqlite3_bind_int64(l.get(), 1, load_id);
      if (l.Step() != SQLITE_ROW) return NotFoundError("{} holds no load {}", path_, load_id);
    }
    Stmt s(db_,
           "SELECT file, line, col, column_name, reason_code, reason FROM load_rejects WHERE "
           "load_id = ? ORDER BY seq");
    if (!s.ok()) return Error("read rejected rows");
    sqlite3_bind_int64(s.get(), 1, load_id);
    std::vector<io::Reject> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      io::Reject r;
      r.file = Text(s.get(), 0);
      r.line = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 1));
      r.column = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 2));
      r.column_name = Text(s.get(), 3);
      r.reason_code = Text(s.get(), 4);
      r.reason = Text(s.get(), 5);
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return Error("read rejected rows");
    return out;
  }

  StatusOr<int64_t> SaveSnapshot(const SnapshotInfo& info,
                                 const std::vector<SnapshotSegment>& segments,
                                 const std::vector<SnapshotProfile>& profiles) override {
    TESSERA_ASSIGN_OR_RETURN(const uint32_t customers, CustomerCount());
    TESSERA_RETURN_IF_ERROR(internal::ValidateSnapshot(segments, profiles, customers));
    TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    auto id = SaveSnapshotInTransaction(info, segments, profiles);
    if (!id.ok()) {
      (void)Exec("ROLLBACK");
      return id.status();
    }
    TESSERA_RETURN_IF_ERROR(Exec("COMMIT"));
    return id;
  }

  StatusOr<std::vector<SnapshotInfo>> Snapshots() override {
    Stmt s(db_,
           "SELECT snapshot_id, created_at, as_of_day, start_day, window_length, currency, "
           "currency_exponent, last_load_id, customers_in_store, profile_count, "
           "prediction_models, prediction_horizon_months FROM snapshots ORDER BY snapshot_id");
    if (!s.ok()) return Error("read snapshots");
    std::vector<SnapshotInfo> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      SnapshotInfo i;
      i.id = sqlite3_column_int64(s.get(), 0);
      i.created_at = Text(s.get(), 1);
      i.as_of_day = sqlite3_column_int64(s.get(), 2);
      i.start_day = sqlite3_column_int64(s.get(), 3);
      i.window = Text(s.get(), 4);
      i.currency = Text(s.get(), 5);
      i.currency_exponent = sqlite3_column_int(s.get(), 6);
      i.last_load_id = sqlite3_column_int64(s.get(), 7);
      i.customers_in_store = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 8));
      i.profile_count = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 9));
      i.prediction_models = Text(s.get(), 10);
      i.prediction_horizon_months = sqlite3_column_double(s.get(), 11);
      out.push_back(std::move(i));
    }
    if (rc != SQLITE_DONE) return Error("read snapshots");
    return out;
  }

  StatusOr<std::vector<SnapshotSegment>> SnapshotSegments(int64_t id) override {
    TESSERA_RETURN_IF_ERROR(CheckSnapshot(id));
    Stmt s(db_,
           "SELECT segment_key, name_en, name_de, uuid_count, sum_order_count, sum_clv_minor, "
           "median_clv_minor, avg_order_count, avg_clv, avg_recency_days, share_percent, "
           "avg_p_alive, avg_predicted_clv FROM snapshot_segments WHERE snapshot_id = ? ORDER BY "
           "position");
    if (!s.ok()) return Error("read snapshot segments");
    sqlite3_bind_int64(s.get(), 1, id);
    std::vector<SnapshotSegment> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      SnapshotSegment g;
      g.key = Text(s.get(), 0);
      g.name_en = Text(s.get(), 1);
      g.name_de = Text(s.get(), 2);
      g.uuid_count = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 3));
      g.sum_order_count = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 4));
      g.sum_clv_minor = sqlite3_column_int64(s.get(), 5);
      g.median_clv_minor = sqlite3_column_int64(s.get(), 6);
      g.avg_order_count = sqlite3_column_double(s.get(), 7);
      g.avg_clv = sqlite3_column_double(s.get(), 8);
      g.avg_recency_days = sqlite3_column_double(s.get(), 9);
      g.share_percent = sqlite3_column_double(s.get(), 10);
      g.avg_p_alive = sqlite3_column_double(s.get(), 11);
      g.avg_predicted_clv = sqlite3_column_double(s.get(), 12);
      out.push_back(std::move(g));
    }
    if (rc != SQLITE_DONE) return Error("read snapshot segments");
    return out;
  }

  Status ScanSnapshotProfiles(int64_t id,
                              const std::function<void(const SnapshotProfile&)>& fn) override {
    TESSERA_RETURN_IF_ERROR(CheckSnapshot(id));
    Stmt s(db_,
           "SELECT customer_idx, position, r_score, f_score, m_score, order_count, revenue_minor, "
           "recency_days, first_day, last_day, p_alive, expected_purchases, predicted_clv FROM "
           "snapshot_profiles WHERE snapshot_id = ? ORDER BY customer_idx");
    if (!s.ok()) return Error("read snapshot profiles");
    sqlite3_bind_int64(s.get(), 1, id);
    int rc;
    SnapshotProfile p;
    auto real = [&](int col) {
      return sqlite3_column_type(s.get(), col) == SQLITE_NULL
                 ? std::numeric_limits<double>::quiet_NaN()
                 : sqlite3_column_double(s.get(), col);
    };
    while ((rc = s.Step()) == SQLITE_ROW) {
      p.customer = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 0));
      p.segment = static_cast<uint16_t>(sqlite3_column_int(s.get(), 1));
      p.r_score = static_cast<uint8_t>(sqlite3_column_int(s.get(), 2));
      p.f_score = static_cast<uint8_t>(sqlite3_column_int(s.get(), 3));
      p.m_score = static_cast<uint8_t>(sqlite3_column_int(s.get(), 4));
      p.order_count = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 5));
      p.revenue_minor = sqlite3_column_int64(s.get(), 6);
      p.recency_days = sqlite3_column_int(s.get(), 7);
      p.first_day = sqlite3_column_int(s.get(), 8);
      p.last_day = sqlite3_column_int(s.get(), 9);
      p.p_alive = real(10);
      p.expected_purchases = real(11);
      p.predicted_clv = real(12);
      fn(p);
    }
    return rc == SQLITE_DONE ? OkStatus() : Error("read snapshot profiles");
  }

  StatusOr<uint64_t> PruneSnapshots(uint64_t keep) override {
    TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    auto pruned = [&]() -> StatusOr<uint64_t> {
      Stmt cut(db_, "SELECT snapshot_id FROM snapshots ORDER BY snapshot_id DESC LIMIT 1 OFFSET ?");
      sqlite3_bind_int64(cut.get(), 1, static_cast<int64_t>(keep));
      const int rc = cut.Step();
      if (rc == SQLITE_DONE) return uint64_t{0};
      if (rc != SQLITE_ROW) return Error("prune snapshots");
      const int64_t newest_dropped = sqlite3_column_int64(cut.get(), 0);
      uint64_t n = 0;
      for (const char* sql : {"DELETE FROM snapshot_profiles WHERE snapshot_id <= ?",
                              "DELETE FROM snapshot_segments WHERE snapshot_id <= ?",
                              "DELETE FROM snapshots WHERE snapshot_id <= ?"}) {
        Stmt d(db_, sql);
        sqlite3_bind_int64(d.get(), 1, newest_dropped);
        if (!d.ok() || d.Step() != SQLITE_DONE) return Error("prune snapshots");
        n = static_cast<uint64_t>(sqlite3_changes(db_));
      }
      return n;
    }();
    if (!pruned.ok()) {
      (void)Exec("ROLLBACK");
      return pruned;
    }
    TESSERA_RETURN_IF_ERROR(Exec("COMMIT"));
    return pruned;
  }

  Status AddApiKey(const ApiKeyRecord& key) override {
    Stmt s(db_,
           "INSERT INTO api_keys(key_id, role, label, salt, hash, allow_query_key, created_at) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)");
    const std::string now = NowIso();
    sqlite3_bind_text(s.get(), 1, key.id.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(s.get(), 2, key.role.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(s.get(), 3, key.label.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_blob(s.get(), 4, key.salt.data(), static_cast<int>(key.salt.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(s.get(), 5, key.hash.data(), static_cast<int>(key.hash.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int(s.get(), 6, key.allow_query_key ? 1 : 0);
    sqlite3_bind_text(s.get(), 7, now.c_str(), -1, SQLITE_TRANSIENT);
    if (!s.ok()) return Error("store an API key");
    const int rc = s.Step();
    if (rc == SQLITE_CONSTRAINT) return AlreadyExistsError("an API key {} exists", key.id);
    if (rc != SQLITE_DONE) return Error("store an API key");
    return OkStatus();
  }

  StatusOr<std::vector<ApiKeyRecord>> ApiKeys() override {
    Stmt s(db_,
           "SELECT key_id, role, label, salt, hash, allow_query_key, created_at, "
           "COALESCE(revoked_at, '') FROM api_keys ORDER BY created_at, key_id");
    if (!s.ok()) return Error("read API keys");
    std::vector<ApiKeyRecord> out;
    int rc;
    auto blob = [&](int col) {
      return std::string(static_cast<const char*>(sqlite3_column_blob(s.get(), col)),
                         static_cast<size_t>(sqlite3_column_bytes(s.get(), col)));
    };
    while ((rc = s.Step()) == SQLITE_ROW) {
      ApiKeyRecord k;
      k.id = Text(s.get(), 0);
      k.role = Text(s.get(), 1);
      k.label = Text(s.get(), 2);
      k.salt = blob(3);
      k.hash = blob(4);
      k.allow_query_key = sqlite3_column_int(s.get(), 5) != 0;
      k.created_at = Text(s.get(), 6);
      k.revoked_at = Text(s.get(), 7);
      out.push_back(std::move(k));
    }
    if (rc != SQLITE_DONE) return Error("read API keys");
    return out;
  }

  StatusOr<bool> RevokeApiKey(const std::string& id) override {
    Stmt s(db_, "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL");
    const std::string now = NowIso();
    sqlite3_bind_text(s.get(), 1, now.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s.get(), 2, id.c_str(), -1, SQLITE_STATIC);
    if (!s.ok() || s.Step() != SQLITE_DONE) return Error("revoke an API key");
    return sqlite3_changes(db_) == 1;
  }

  Status SaveAudience(const AudienceRecord& a, bool replace, uint64_t size,
                      int64_t snapshot_id) override {
    TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = [&]() -> Status {
      const std::string now = NowIso();
      Stmt q(db_, replace ? "UPDATE audiences SET expression = ?, updated_at = ? WHERE name = ?"
                          : "INSERT OR IGNORE INTO audiences(expression, updated_at, name, "
                            "created_at) VALUES (?, ?, ?, ?2)");
      sqlite3_bind_text(q.get(), 1, a.expression.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(q.get(), 2, now.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(q.get(), 3, a.name.c_str(), -1, SQLITE_STATIC);
      if (!q.ok() || q.Step() != SQLITE_DONE) return Error("save an audience");
      if (sqlite3_changes(db_) != 1) {
        return internal::AudienceNameConflict(a.name, replace);
      }
      return AppendAudienceEvent(a.name, replace ? "updated" : "saved", a.expression, size,
                                 snapshot_id);
    }();
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
    return Exec("COMMIT");
  }

  StatusOr<std::vector<AudienceRecord>> Audiences() override {
    Stmt s(db_, "SELECT name, expression, created_at, updated_at FROM audiences ORDER BY name");
    if (!s.ok()) return Error("read audiences");
    std::vector<AudienceRecord> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      out.push_back({Text(s.get(), 0), Text(s.get(), 1), Text(s.get(), 2), Text(s.get(), 3)});
    }
    if (rc != SQLITE_DONE) return Error("read audiences");
    return out;
  }

  StatusOr<bool> DeleteAudience(const std::string& name) override {
    TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    StatusOr<bool> deleted = [&]() -> StatusOr<bool> {
      std::string expression;
      {
        Stmt q(db_, "SELECT expression FROM audiences WHERE name = ?");
        sqlite3_bind_text(q.get(), 1, name.c_str(), -1, SQLITE_STATIC);
        const int rc = q.ok() ? q.Step() : SQLITE_ERROR;
        if (rc == SQLITE_DONE) return false;
        if (rc != SQLITE_ROW) return Error("delete an audience");
        expression = Text(q.get(), 0);
      }
      Stmt d(db_, "DELETE FROM audiences WHERE name = ?");
      sqlite3_bind_text(d.get(), 1, name.c_str(), -1, SQLITE_STATIC);
      if (!d.ok() || d.Step() != SQLITE_DONE) return Error("delete an audience");
      TESSERA_RETURN_IF_ERROR(AppendAudienceEvent(name, "deleted", expression, 0, 0));
      return true;
    }();
    if (!deleted.ok()) {
      (void)Exec("ROLLBACK");
      return deleted;
    }
    TESSERA_RETURN_IF_ERROR(Exec("COMMIT"));
    return deleted;
  }

  Status RecordAudienceEvent(const std::string& name, const std::string& event, uint64_t size,
                             int64_t snapshot_id) override {
    Stmt q(db_, "SELECT expression FROM audiences WHERE name = ?");
    sqlite3_bind_text(q.get(), 1, name.c_str(), -1, SQLITE_STATIC);
    const int rc = q.ok() ? q.Step() : SQLITE_ERROR;
    if (rc == SQLITE_DONE) return NotFoundError("no audience named '{}'", name);
    if (rc != SQLITE_ROW) return Error("record an audience event");
    return AppendAudienceEvent(name, event, Text(q.get(), 0), size, snapshot_id);
  }

  StatusOr<std::vector<AudienceEvent>> AudienceHistory(const std::string& name) override {
    Stmt s(db_,
           "SELECT seq, at, event, expression, size, snapshot_id FROM audience_history "
           "WHERE name = ? ORDER BY seq");
    if (!s.ok()) return Error("read an audience's history");
    sqlite3_bind_text(s.get(), 1, name.c_str(), -1, SQLITE_STATIC);
    std::vector<AudienceEvent> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      AudienceEvent e;
      e.name = name;
      e.seq = sqlite3_column_int64(s.get(), 0);
      e.at = Text(s.get(), 1);
      e.event = Text(s.get(), 2);
      e.expression = Text(s.get(), 3);
      e.size = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 4));
      e.snapshot_id = sqlite3_column_int64(s.get(), 5);
      out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return Error("read an audience's history");
    return out;
  }

  Status SetSetting(const std::string& key, const std::string& value) override {
    Stmt s(db_, "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)");
    sqlite3_bind_text(s.get(), 1, key.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(s.get(), 2, value.c_str(), -1, SQLITE_STATIC);
    if (!s.ok() || s.Step() != SQLITE_DONE) return Error("write a setting");
    return OkStatus();
  }

  StatusOr<std::optional<std::string>> Setting(const std::string& key) override {
    Stmt s(db_, "SELECT value FROM settings WHERE key = ?");
    if (!s.ok()) return Error("read a setting");
    sqlite3_bind_text(s.get(), 1, key.c_str(), -1, SQLITE_STATIC);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(Text(s.get(), 0));
    if (rc != SQLITE_DONE) return Error("read a setting");
    return std::optional<std::string>();
  }

  Status PutCustomerAttributes(const std::vector<CustomerAttribute>& attributes) override {
    TESSERA_ASSIGN_OR_RETURN(const uint32_t customers, CustomerCount());
    TESSERA_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = [&]() -> Status {
      Stmt q(db_,
             "INSERT OR REPLACE INTO customer_attributes(customer_idx, name, value) "
             "VALUES (?, ?, ?)");
      if (!q.ok()) return Error("store attributes");
      for (const auto& a : attributes) {
        if (a.customer >= customers) {
          return InvalidArgumentError("attribute for unknown customer index {}", a.customer);
        }
        q.Reset();
        sqlite3_bind_int64(q.get(), 1, a.customer);
        sqlite3_bind_text(q.get(), 2, a.name.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(q.get(), 3, a.value.c_str(), -1, SQLITE_STATIC);
        if (q.Step() != SQLITE_DONE) return Error("store attributes");
      }
      TESSERA_ASSIGN_OR_RETURN(auto generation, Setting("attributes.generation"));
      return SetSetting("attributes.generation",
                        std::to_string(generation ? std::atoll(generation->c_str()) + 1 : 1));
    }();
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
    return Exec("COMMIT");
  }

  Status ScanCustomerAttributes(const std::function<void(const CustomerAttribute&)>& fn) override {
    Stmt s(db_,
           "SELECT customer_idx, name, value FROM customer_attributes ORDER BY name, value, "
           "customer_idx");
    if (!s.ok()) return Error("read attributes");
    int rc;
    CustomerAttribute a;
    while ((rc = s.Step()) == SQLITE_ROW) {
      a.customer = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 0));
      a.name = Text(s.get(), 1);
      a.value = Text(s.get(), 2);
      fn(a);
    }
    return rc == SQLITE_DONE ? OkStatus() : Error("read attributes");
  }

  Status CreateReadOnlyRole(const std::string&, const std::string&) override {
    return FailedPreconditionError(
        "roles are a PostgreSQL feature; the SQLite store {} is one file, so give BI tools a "
        "read-only copy or file permissions (docs/bi.md)",
        path_);
  }

  StatusOr<StoreStats> Stats() override {
    Stmt s(db_,
           "SELECT (SELECT COALESCE(SUM(count),0) FROM customer_chunks),"
           " (SELECT COALESCE(SUM(order_count),0) FROM order_chunks),"
           " (SELECT COUNT(*) FROM order_chunks), (SELECT COUNT(*) FROM loads),"
           " (SELECT COUNT(*) FROM snapshots)");
    if (!s.ok() || s.Step() != SQLITE_ROW) return Error("read statistics");
    StoreStats st;
    st.customers = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
    st.orders = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 1));
    st.chunks = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 2));
    st.loads = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 3));
    st.snapshots = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 4));
    return st;
  }

  std::string Describe() const override { return "SQLite store " + path_; }

 private:
  static std::string Text(sqlite3_stmt* s, int col) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return t != nullptr ? std::string(t) : std::string();
  }

  Status CheckSnapshot(int64_t id) {
    Stmt s(db_, "SELECT 1 FROM snapshots WHERE snapshot_id = ?");
    sqlite3_bind_int64(s.get(), 1, id);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return OkStatus();
    if (rc != SQLITE_DONE) return Error("read snapshots");
    return NotFoundError("{} holds no snapshot {}", path_, id);
  }

  StatusOr<int64_t> SaveSnapshotInTransaction(const SnapshotInfo& info,
                                              const std::vector<SnapshotSegment>& segments,
                                              const std::vector<SnapshotProfile>& profiles) {
    int64_t id = 0;
    {
      Stmt s(db_,
             "INSERT INTO snapshots(created_at, as_of_day, start_day, window_length, currency, "
             "currency_exponent, last_load_id, customers_in_store, profile_count, "
             "prediction_models, prediction_horizon_months) VALUES (?,?,?,?,?,?,?,?,?,?,?)");
      const std::string now = NowIso();
      sqlite3_bind_text(s.get(), 1, now.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(s.get(), 2, info.as_of_day);
      sqlite3_bind_int64(s.get(), 3, info.start_day);
      sqlite3_bind_text(s.get(), 4, info.window.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(s.get(), 5, info.currency.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int(s.get(), 6, info.currency_exponent);
      sqlite3_bind_int64(s.get(), 7, info.last_load_id);
      sqlite3_bind_int64(s.get(), 8, static_cast<int64_t>(info.customers_in_store));
      sqlite3_bind_int64(s.get(), 9, static_cast<int64_t>(profiles.size()));
      sqlite3_bind_text(s.get(), 10, info.prediction_models.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_double(s.get(), 11, info.prediction_horizon_months);
      if (!s.ok() || s.Step() != SQLITE_DONE) return Error("store snapshot");
      id = sqlite3_last_insert_rowid(db_);
    }
    {
      Stmt s(db_,
             "INSERT INTO snapshot_segments(snapshot_id, position, segment_key, name_en, name_de, "
             "uuid_count, sum_order_count, sum_clv_minor, median_clv_minor, avg_order_count, "
             "avg_clv, avg_recency_days, share_percent, avg_p_alive, avg_predicted_clv) VALUES "
             "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
      for (size_t i = 0; i < segments.size(); ++i) {
        const auto& g = segments[i];
        s.Reset();
        sqlite3_bind_int64(s.get(), 1, id);
        sqlite3_bind_int64(s.get(), 2, static_cast<int64_t>(i));
        sqlite3_bind_text(s.get(), 3, g.key.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(s.get(), 4, g.name_en.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(s.get(), 5, g.name_de.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s.get(), 6, static_cast<int64_t>(g.uuid_count));
        sqlite3_bind_int64(s.get(), 7, static_cast<int64_t>(g.sum_order_count));
        sqlite3_bind_int64(s.get(), 8, g.sum_clv_minor);
        sqlite3_bind_int64(s.get(), 9, g.median_clv_minor);
        sqlite3_bind_double(s.get(), 10, g.avg_order_count);
        sqlite3_bind_double(s.get(), 11, g.avg_clv);
        sqlite3_bind_double(s.get(), 12, g.avg_recency_days);
        sqlite3_bind_double(s.get(), 13, g.share_percent);
        sqlite3_bind_double(s.get(), 14, g.avg_p_alive);
        sqlite3_bind_double(s.get(), 15, g.avg_predicted_clv);
        if (!s.ok() || s.Step() != SQLITE_DONE) return Error("store snapshot segments");
      }
    }
    Stmt s(db_,
           "INSERT INTO snapshot_profiles(snapshot_id, customer_idx, position, r_score, f_score, "
           "m_score, order_count, revenue_minor, recency_days, first_day, last_day, p_alive, "
           "expected_purchases, predicted_clv) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    auto real = [&](int col, double v) {
      if (std::isnan(v)) {
        sqlite3_bind_null(s.get(), col);
      } else {
        sqlite3_bind_double(s.get(), col, v);
      }
    };
    for (const auto& p : profiles) {
      sqlite3_reset(s.get());
      sqlite3_bind_int64(s.get(), 1, id);
      sqlite3_bind_int64(s.get(), 2, p.customer);
      sqlite3_bind_int(s.get(), 3, p.segment);
      sqlite3_bind_int(s.get(), 4, p.r_score);
      sqlite3_bind_int(s.get(), 5, p.f_score);
      sqlite3_bind_int(s.get(), 6, p.m_score);
      sqlite3_bind_int64(s.get(), 7, p.order_count);
      sqlite3_bind_int64(s.get(), 8, p.revenue_minor);
      sqlite3_bind_int(s.get(), 9, p.recency_days);
      sqlite3_bind_int(s.get(), 10, p.first_day);
      sqlite3_bind_int(s.get(), 11, p.last_day);
      real(12, p.p_alive);
      real(13, p.expected_purchases);
      real(14, p.predicted_clv);
      if (!s.ok() || s.Step() != SQLITE_DONE) return Error("store snapshot profiles");
    }
    return id;
  }

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

  Status AppendAudienceEvent(const std::string& name, const std::string& event,
                             const std::string& expression, uint64_t size, int64_t snapshot_id) {
    Stmt s(db_,
           "INSERT INTO audience_history(name, seq, at, event, expression, size, snapshot_id) "
           "VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM audience_history WHERE name = ?1), "
           "?2, ?3, ?4, ?5, ?6)");
    const std::string now = NowIso();
    sqlite3_bind_text(s.get(), 1, name.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(s.get(), 2, now.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s.get(), 3, event.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(s.get(), 4, expression.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s.get(), 5, static_cast<int64_t>(size));
    sqlite3_bind_int64(s.get(), 6, snapshot_id);
    if (!s.ok() || s.Step() != SQLITE_DONE) return Error("record an audience event");
    return OkStatus();
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

  std::unique_ptr<internal::SqliteDatabase> database_;
  sqlite3* db_;  // database_'s connection
  std::string path_;
};

}  // namespace

namespace internal {

std::span<const char* const> SqliteMigrations() { return kMigrations; }

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
    // Created here with mode 0600, as the key is: pseudonymous data is personal data still.
    // SQLite gives its -wal and -shm files the database file's mode. (An empty file is a
    // store whose creation has not begun, which Init finishes.)
    if (create) {
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
    }
  }
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return UnavailableError("cannot open store {}: {}", path, msg);
  }
  auto store = std::make_unique<SqliteStore>(std::make_unique<internal::SqliteDatabase>(db, path));
  TESSERA_RETURN_IF_ERROR(store->Init(create));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace internal

}  // namespace tessera::store
