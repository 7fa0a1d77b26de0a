#include "tessera/analytics/snapshot_store.h"

#include <algorithm>

namespace tessera::analytics {
namespace {

// Released migrations are never edited (tests/server/migrations_test.cc pins each by hash).
constexpr store::Migration kMigrations[] = {
    // 1: snapshots (kept recomputations) and the read-only views for BI tools (docs/bi.md):
    // bi_* on SQLite, the schema tessera_bi on PostgreSQL. snapshot_profiles is distributed by
    // customer_uuid under Citus, so the migration view's join runs on the workers.
    {R"sql(
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
)sql"},
    // 2: money in the PostgreSQL views rounded to the currency's minor unit (two decimals for
    // EUR): minor units divided by a numeric power of ten came out with the division's scale
    // (1552515.6400000000000000), which Power BI, Tableau and Excel show as it is. Same
    // columns and types (numeric), so the views are replaced in place and keep their grants.
    // SQLite's views give REAL, which BI tools show as the number.
    {R"sql(
-- Nothing to change on SQLite.
)sql",
     R"sql(
CREATE OR REPLACE VIEW tessera_bi.segments AS
SELECT g.snapshot_id, s.as_of, s.window_length, g.position, g.segment_key,
       g.name_en AS group_en, g.name_de AS group_de, g.uuid_count, g.avg_order_count,
       g.avg_clv, g.avg_recency_days, g.share_percent,
       round(g.sum_clv_minor / power(10::numeric, s.currency_exponent), s.currency_exponent)
         AS sum_clv,
       round(g.median_clv_minor / power(10::numeric, s.currency_exponent), s.currency_exponent)
         AS median_clv,
       s.currency
FROM snapshot_segments g JOIN snapshots s USING (snapshot_id);
CREATE OR REPLACE VIEW tessera_bi.profiles AS
SELECT p.snapshot_id, p.customer_uuid, g.segment_key, g.name_en AS group_en,
       g.name_de AS group_de, p.r_score, p.f_score, p.m_score, p.order_count,
       round(p.revenue_minor / power(10::numeric, s.currency_exponent), s.currency_exponent)
         AS clv,
       p.recency_days, p.first_order, p.last_order, p.p_alive, p.expected_purchases,
       p.predicted_clv, s.currency
FROM snapshot_profiles p
JOIN snapshots s ON s.snapshot_id = p.snapshot_id
JOIN snapshot_segments g ON g.snapshot_id = p.snapshot_id AND g.position = p.position;
)sql"},
    // 3: each segment's rule as the snapshot was made with it (score ranges, inclusive), so
    // that a snapshot says how its segments are defined (GET /api/v1/segments/definitions)
    // even when it was made with a rule file of its own. NULL in snapshots kept before.
    {R"sql(
ALTER TABLE snapshot_segments ADD COLUMN recency_min INTEGER;
ALTER TABLE snapshot_segments ADD COLUMN recency_max INTEGER;
ALTER TABLE snapshot_segments ADD COLUMN frequency_min INTEGER;
ALTER TABLE snapshot_segments ADD COLUMN frequency_max INTEGER;
ALTER TABLE snapshot_segments ADD COLUMN monetary_min INTEGER;
ALTER TABLE snapshot_segments ADD COLUMN monetary_max INTEGER;
)sql",
     R"sql(
ALTER TABLE snapshot_segments ADD COLUMN IF NOT EXISTS recency_min smallint,
  ADD COLUMN IF NOT EXISTS recency_max smallint,
  ADD COLUMN IF NOT EXISTS frequency_min smallint,
  ADD COLUMN IF NOT EXISTS frequency_max smallint,
  ADD COLUMN IF NOT EXISTS monetary_min smallint,
  ADD COLUMN IF NOT EXISTS monetary_max smallint;
)sql"},
};
constexpr store::Schema kSchema{"analytics", kMigrations};

// What Save is given, checked the same on both backends.
Status Validate(const std::vector<SnapshotSegment>& segments, const std::vector<Profile>& profiles,
                uint32_t customers) {
  if (segments.empty()) return InvalidArgumentError("a snapshot needs at least one segment");
  int64_t previous = -1;
  for (const auto& p : profiles) {
    if (p.customer >= customers) {
      return InvalidArgumentError("a snapshot profile names customer {} of {}", p.customer,
                                  customers);
    }
    if (static_cast<int64_t>(p.customer) <= previous) {
      return InvalidArgumentError("snapshot profiles are not in increasing customer order at {}",
                                  p.customer);
    }
    if (p.segment >= segments.size()) {
      return InvalidArgumentError("a snapshot profile names segment {} of {}", p.segment,
                                  segments.size());
    }
    previous = p.customer;
  }
  return OkStatus();
}

}  // namespace

const store::Schema& SnapshotStore::Schema() { return kSchema; }

Status SnapshotStore::CheckExists(int64_t id) {
  TESSERA_ASSIGN_OR_RETURN(
      auto found, db_.QueryInt("SELECT count(*) FROM snapshots WHERE snapshot_id = $1", {id}));
  if (found.value_or(0) == 1) return OkStatus();
  return NotFoundError("{} holds no snapshot {}", db_.Describe(), id);
}

StatusOr<int64_t> SnapshotStore::Save(const SnapshotInfo& info,
                                      const std::vector<SnapshotSegment>& segments,
                                      const std::vector<Profile>& profiles,
                                      std::span<const privacy::Uuid> given) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  const bool pg = db_.dialect() == store::Dialect::kPostgres;
  // The pseudonyms the profiles' rows name on PostgreSQL, unless given. Customers are only
  // ever added, so the given ones are a prefix of the store's.
  store::Store::CustomerRefs refs;
  if (given.empty()) {
    TESSERA_ASSIGN_OR_RETURN(refs, store_.CustomersForRows());
    given = refs.pseudonyms;
  } else {
    refs.count = static_cast<uint32_t>(given.size());
  }
  const std::span<const privacy::Uuid> uuids = given;
  const uint32_t customers = refs.count;
  TESSERA_RETURN_IF_ERROR(Validate(segments, profiles, customers));
  int64_t id = 0;
  TESSERA_RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    const std::string insert =
        std::string("INSERT INTO snapshots(created_at, ") +
        (pg ? "as_of, window_start" : "as_of_day, start_day") +
        ", window_length, currency, currency_exponent, last_load_id, customers_in_store, "
        "profile_count, prediction_models, prediction_horizon_months) VALUES (" +
        db_.NowSql() +
        (pg ? ", DATE '1970-01-01' + $1::integer, DATE '1970-01-01' + $2::integer" : ", $1, $2") +
        ", $3, $4, $5, $6, $7, $8, $9, $10) RETURNING snapshot_id";
    TESSERA_ASSIGN_OR_RETURN(
        auto inserted,
        db_.QueryInt(insert,
                     {info.as_of_day, info.start_day, info.window, info.currency,
                      info.currency_exponent, info.last_load_id, info.customers_in_store,
                      profiles.size(), info.prediction_models, info.prediction_horizon_months}));
    if (!inserted) return InternalError("{}: a new snapshot got no id", db_.Describe());
    id = *inserted;
    using store::SqlType;
    const store::SqlColumn segment_columns[] = {
        {"snapshot_id", SqlType::kInt64},      {"position", SqlType::kInt16},
        {"segment_key", SqlType::kText},       {"name_en", SqlType::kText},
        {"name_de", SqlType::kText},           {"uuid_count", SqlType::kInt64},
        {"sum_order_count", SqlType::kInt64},  {"sum_clv_minor", SqlType::kInt64},
        {"median_clv_minor", SqlType::kInt64}, {"avg_order_count", SqlType::kReal},
        {"avg_clv", SqlType::kReal},           {"avg_recency_days", SqlType::kReal},
        {"share_percent", SqlType::kReal},     {"avg_p_alive", SqlType::kReal},
        {"avg_predicted_clv", SqlType::kReal}, {"recency_min", SqlType::kInt16},
        {"recency_max", SqlType::kInt16},      {"frequency_min", SqlType::kInt16},
        {"frequency_max", SqlType::kInt16},    {"monetary_min", SqlType::kInt16},
        {"monetary_max", SqlType::kInt16}};
    TESSERA_RETURN_IF_ERROR(
        db_.Insert("snapshot_segments", segment_columns, segments.size(),
                   [&](size_t i, store::SqlRowWriter& w) {
                     const auto& g = segments[i];
                     w.Int(id);
                     w.Int(static_cast<int64_t>(i));
                     w.Text(g.key);
                     w.Text(g.name_en);
                     w.Text(g.name_de);
                     w.Int(static_cast<int64_t>(g.uuid_count));
                     w.Int(static_cast<int64_t>(g.sum_order_count));
                     w.Int(g.sum_clv_minor);
                     w.Int(g.median_clv_minor);
                     w.Real(g.avg_order_count);
                     w.Real(g.avg_clv);
                     w.Real(g.avg_recency_days);
                     w.Real(g.share_percent);
                     w.Real(g.avg_p_alive);
                     w.Real(g.avg_predicted_clv);
                     for (const ScoreRange* range : {&g.recency, &g.frequency, &g.monetary}) {
                       if (g.rule_recorded) {
                         w.Int(range->lo);
                         w.Int(range->hi);
                       } else {
                         w.Null();
                         w.Null();
                       }
                     }
                   }));
    const store::SqlColumn profile_columns[] = {
        {"customer_uuid", SqlType::kUuid},  // PostgreSQL only: left out on SQLite below
        {"snapshot_id", SqlType::kInt64},
        {"customer_idx", SqlType::kInt32},
        {"position", SqlType::kInt16},
        {"r_score", SqlType::kInt16},
        {"f_score", SqlType::kInt16},
        {"m_score", SqlType::kInt16},
        {"order_count", SqlType::kInt32},
        {"revenue_minor", SqlType::kInt64},
        {"recency_days", SqlType::kInt32},
        {pg ? "first_order" : "first_day", SqlType::kDay},
        {pg ? "last_order" : "last_day", SqlType::kDay},
        {"p_alive", SqlType::kReal},
        {"expected_purchases", SqlType::kReal},
        {"predicted_clv", SqlType::kReal}};
    return db_.Insert("snapshot_profiles", std::span(profile_columns).subspan(pg ? 0 : 1),
                      profiles.size(), [&](size_t i, store::SqlRowWriter& w) {
                        const auto& p = profiles[i];
                        if (pg) w.Uuid(uuids[p.customer]);
                        w.Int(id);
                        w.Int(p.customer);
                        w.Int(p.segment);
                        w.Int(p.r_score);
                        w.Int(p.f_score);
                        w.Int(p.m_score);
                        w.Int(p.order_count);
                        w.Int(p.revenue_minor);
                        w.Int(p.recency_days);
                        w.Day(p.first_day);
                        w.Day(p.last_day);
                        w.Real(p.p_alive);
                        w.Real(p.expected_purchases);
                        w.Real(p.predicted_clv);
                      });
  }));
  return id;
}

StatusOr<std::vector<SnapshotInfo>> SnapshotStore::List() {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  const bool pg = db_.dialect() == store::Dialect::kPostgres;
  std::vector<SnapshotInfo> out;
  TESSERA_RETURN_IF_ERROR(db_.Query(
      "SELECT snapshot_id, " + db_.IsoTimestampSql("created_at") + ", " +
          (pg ? "as_of - DATE '1970-01-01', window_start - DATE '1970-01-01'"
              : "as_of_day, start_day") +
          ", window_length, currency, currency_exponent, last_load_id, customers_in_store, "
          "profile_count, prediction_models, prediction_horizon_months FROM snapshots ORDER BY "
          "snapshot_id",
      {}, [&](const store::SqlRow& r) {
        SnapshotInfo i;
        i.id = r.Int(0);
        i.created_at = r.Text(1);
        i.as_of_day = r.Int(2);
        i.start_day = r.Int(3);
        i.window = r.Text(4);
        i.currency = r.Text(5);
        i.currency_exponent = static_cast<int>(r.Int(6));
        i.last_load_id = r.Int(7);
        i.customers_in_store = static_cast<uint64_t>(r.Int(8));
        i.profile_count = static_cast<uint64_t>(r.Int(9));
        i.prediction_models = r.Text(10);
        i.prediction_horizon_months = r.Real(11);
        out.push_back(std::move(i));
        return OkStatus();
      }));
  return out;
}

StatusOr<std::vector<SnapshotSegment>> SnapshotStore::Segments(int64_t id) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  TESSERA_RETURN_IF_ERROR(CheckExists(id));
  std::vector<SnapshotSegment> out;
  TESSERA_RETURN_IF_ERROR(
      db_.Query("SELECT segment_key, name_en, name_de, uuid_count, sum_order_count, "
                "sum_clv_minor, median_clv_minor, avg_order_count, avg_clv, avg_recency_days, "
                "share_percent, avg_p_alive, avg_predicted_clv, recency_min, recency_max, "
                "frequency_min, frequency_max, monetary_min, monetary_max FROM "
                "snapshot_segments WHERE snapshot_id = $1 ORDER BY position",
                {id}, [&](const store::SqlRow& r) {
                  SnapshotSegment g;
                  g.key = r.Text(0);
                  g.name_en = r.Text(1);
                  g.name_de = r.Text(2);
                  g.uuid_count = static_cast<uint64_t>(r.Int(3));
                  g.sum_order_count = static_cast<uint64_t>(r.Int(4));
                  g.sum_clv_minor = r.Int(5);
                  g.median_clv_minor = r.Int(6);
                  g.avg_order_count = r.Real(7);
                  g.avg_clv = r.Real(8);
                  g.avg_recency_days = r.Real(9);
                  g.share_percent = r.Real(10);
                  g.avg_p_alive = r.Real(11);
                  g.avg_predicted_clv = r.Real(12);
                  g.rule_recorded = true;
                  for (int c = 13; c < 19; ++c) g.rule_recorded = g.rule_recorded && !r.IsNull(c);
                  if (g.rule_recorded) {
                    ScoreRange* ranges[] = {&g.recency, &g.frequency, &g.monetary};
                    for (int k = 0; k < 3; ++k) {
                      ranges[k]->lo = static_cast<uint8_t>(r.Int(13 + 2 * k));
                      ranges[k]->hi = static_cast<uint8_t>(r.Int(14 + 2 * k));
                    }
                  }
                  out.push_back(std::move(g));
                  return OkStatus();
                }));
  return out;
}

Status SnapshotStore::ScanProfiles(int64_t id, const std::function<void(const Profile&)>& fn) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  TESSERA_RETURN_IF_ERROR(CheckExists(id));
  const bool pg = db_.dialect() == store::Dialect::kPostgres;
  Profile p;
  return db_.Query(
      std::string("SELECT customer_idx, position, r_score, f_score, m_score, order_count, "
                  "revenue_minor, recency_days, ") +
          (pg ? "first_order - DATE '1970-01-01', last_order - DATE '1970-01-01'"
              : "first_day, last_day") +
          ", p_alive, expected_purchases, predicted_clv FROM snapshot_profiles WHERE "
          "snapshot_id = $1 ORDER BY customer_idx",
      {id}, [&](const store::SqlRow& r) {
        p.customer = static_cast<uint32_t>(r.Int(0));
        p.segment = static_cast<uint16_t>(r.Int(1));
        p.r_score = static_cast<uint8_t>(r.Int(2));
        p.f_score = static_cast<uint8_t>(r.Int(3));
        p.m_score = static_cast<uint8_t>(r.Int(4));
        p.order_count = static_cast<uint32_t>(r.Int(5));
        p.revenue_minor = r.Int(6);
        p.recency_days = static_cast<int32_t>(r.Int(7));
        p.first_day = static_cast<int32_t>(r.Int(8));
        p.last_day = static_cast<int32_t>(r.Int(9));
        p.p_alive = r.Real(10);
        p.expected_purchases = r.Real(11);
        p.predicted_clv = r.Real(12);
        fn(p);
        return OkStatus();
      });
}

StatusOr<uint64_t> SnapshotStore::Prune(uint64_t keep) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  uint64_t pruned = 0;
  TESSERA_RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(
        auto cut, db_.QueryInt("SELECT snapshot_id FROM snapshots ORDER BY snapshot_id DESC "
                               "LIMIT 1 OFFSET $1",
                               {keep}));
    if (!cut) return OkStatus();
    for (const char* sql : {"DELETE FROM snapshot_profiles WHERE snapshot_id <= $1",
                            "DELETE FROM snapshot_segments WHERE snapshot_id <= $1",
                            "DELETE FROM snapshots WHERE snapshot_id <= $1"}) {
      TESSERA_ASSIGN_OR_RETURN(pruned, db_.Execute(sql, {*cut}));
    }
    return OkStatus();
  }));
  return pruned;
}

namespace {

// The command a superuser runs to make or change a BI role that the connecting user may not:
// `createuser` or psql's \password, which prompt for the password, so it never appears in a
// message, a shell history or the process list.
std::string RoleSetupForSuperuser(const std::string& role, bool exists, bool login) {
  const bool plain = std::all_of(role.begin(), role.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  const std::string shell = plain ? role : "'" + role + "'";
  if (exists) return fmt::format("sudo -u postgres psql -c '\\password {}'", role);
  return login ? fmt::format("sudo -u postgres createuser --pwprompt {}", shell)
               : fmt::format("sudo -u postgres createuser --no-login {}", shell);
}

}  // namespace

Status SnapshotStore::CreateReadOnlyRole(const std::string& role, const std::string& password) {
  if (db_.dialect() != store::Dialect::kPostgres) {
    return FailedPreconditionError(
        "roles are a PostgreSQL feature; the {} is one file, so give BI tools a read-only copy "
        "or file permissions (docs/bi.md)",
        db_.Describe());
  }
  if (role.empty() || role.size() > 63) {
    return InvalidArgumentError("a role name has 1 to 63 characters");
  }
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  TESSERA_ASSIGN_OR_RETURN(auto name, db_.QueryText("SELECT quote_ident($1)", {role}));
  TESSERA_ASSIGN_OR_RETURN(auto me, db_.QueryText("SELECT current_user::text"));
  TESSERA_ASSIGN_OR_RETURN(auto may_create_roles,
                           db_.QueryInt("SELECT (rolsuper OR rolcreaterole)::int FROM pg_roles "
                                        "WHERE rolname = current_user"));
  // The views belong to the role that ran the migrations (the store's owner): default
  // privileges are set for it, also when a superuser runs this.
  TESSERA_ASSIGN_OR_RETURN(
      auto views_owner,
      db_.QueryText("SELECT quote_ident(pg_get_userbyid(nspowner)) FROM pg_namespace "
                    "WHERE nspname = 'tessera_bi'"));
  TESSERA_ASSIGN_OR_RETURN(
      auto exists, db_.QueryInt("SELECT count(*) FROM pg_roles WHERE rolname = $1", {role}));
  const bool existed = exists.value_or(0) > 0;
  if (existed) {
    // A role that may do more than read would make the promise of this command false.
    TESSERA_ASSIGN_OR_RETURN(
        auto more,
        db_.QueryText("SELECT CASE WHEN r.rolname = current_user THEN 'is the role running this "
                      "command' WHEN r.rolsuper THEN 'is a superuser' WHEN r.rolcreaterole OR "
                      "r.rolcreatedb OR r.rolbypassrls THEN 'may create roles or databases or "
                      "bypass row security' WHEN pg_has_role(r.oid, n.nspowner, 'MEMBER') THEN "
                      "'is a member of the store''s owner, which may write' END FROM pg_roles r, "
                      "pg_namespace n WHERE r.rolname = $1 AND n.nspname = 'tessera_bi'",
                      {role}));
    if (more.has_value()) {
      return FailedPreconditionError(
          "role {} {}, so it would not be read-only; give each BI tool a login role of its own "
          "(docs/deployment.md, \"Roles\")",
          role, *more);
    }
  }
  // An existing role keeps its login and password unless a new password is given: whoever
  // made it (a superuser) decided them.
  std::string role_sql;
  if (!existed || !password.empty()) {
    std::string login = "NOLOGIN";
    if (!password.empty()) {
      TESSERA_ASSIGN_OR_RETURN(auto pw, db_.QueryText("SELECT quote_literal($1)", {password}));
      login = "LOGIN PASSWORD " + pw.value_or("''");
    }
    role_sql = fmt::format("{} ROLE {} {} NOSUPERUSER NOCREATEDB NOCREATEROLE; ",
                           existed ? "ALTER" : "CREATE", name.value_or(""), login);
  }
  const auto superuser_needed = [&] {
    return FailedPreconditionError(
        "{} may not {} roles (it has no CREATEROLE, and the store's owner should not: "
        "docs/deployment.md, \"Roles\"). As a PostgreSQL superuser, run\n  {}\nthen run `tessera "
        "bi-role {}` again, without --password-env",
        me.value_or("this user"), existed ? "change" : "create",
        RoleSetupForSuperuser(role, existed, existed || !password.empty()), role);
  };
  if (!role_sql.empty() && may_create_roles.value_or(0) == 0) return superuser_needed();
  // Views run with their owner's rights: the role needs SELECT on the views only, never on
  // the tables behind them. Default privileges cover views added by later migrations.
  const std::string sql = fmt::format(
      "{0}GRANT USAGE ON SCHEMA tessera_bi TO {1}; "
      "GRANT SELECT ON ALL TABLES IN SCHEMA tessera_bi TO {1}; "
      "ALTER DEFAULT PRIVILEGES FOR ROLE {2} IN SCHEMA tessera_bi GRANT SELECT ON TABLES TO {1};",
      role_sql, name.value_or(""), views_owner.value_or(me.value_or("")));
  const Status created = db_.Transaction([&] { return db_.ExecuteScript(sql); });
  // PostgreSQL 16 and later: CREATEROLE changes only roles its holder administers.
  if (!created.ok() && created.message().find("SQLSTATE 42501") != std::string::npos &&
      !role_sql.empty()) {
    return superuser_needed();
  }
  if (!created.ok() && created.code() != StatusCode::kUnavailable) {
    return Status(StatusCode::kInternal, created.message());
  }
  return created;
}

}  // namespace tessera::analytics
