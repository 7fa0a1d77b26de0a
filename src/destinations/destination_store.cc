#include "tessera/destinations/destination_store.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tessera/privacy/order_token.h"

namespace tessera::destinations {
namespace {

// Released migrations are never edited (tests/server/migrations_test.cc pins them by hash).
constexpr store::Migration kMigrations[] = {
    // 1: destinations, the members last delivered to each (pseudonyms as text), the delivery
    // log and each undelivered delivery's change set.
    {R"sql(
CREATE TABLE destinations (
  name       TEXT PRIMARY KEY,
  kind       TEXT NOT NULL,
  follows    TEXT NOT NULL,
  config     TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE destination_members (
  destination TEXT NOT NULL,
  uuid        TEXT NOT NULL,
  PRIMARY KEY (destination, uuid)
) WITHOUT ROWID;
CREATE TABLE destination_deliveries (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  destination  TEXT    NOT NULL,
  delivery_key TEXT    NOT NULL,
  snapshot_id  INTEGER NOT NULL,
  entered      INTEGER NOT NULL,
  left_count   INTEGER NOT NULL,
  batches      INTEGER NOT NULL,
  batches_done INTEGER NOT NULL,
  attempts     INTEGER NOT NULL,
  status       TEXT    NOT NULL,
  last_error   TEXT    NOT NULL,
  created_at   TEXT    NOT NULL,
  updated_at   TEXT    NOT NULL,
  delivered_at TEXT
);
CREATE INDEX destination_deliveries_by_destination ON destination_deliveries(destination, id);
CREATE TABLE destination_changes (
  delivery_id INTEGER NOT NULL,
  uuid        TEXT    NOT NULL,
  entered     INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, uuid)
) WITHOUT ROWID;
)sql",
     R"sql(
CREATE TABLE IF NOT EXISTS destinations (
  name       text        PRIMARY KEY,
  kind       text        NOT NULL,
  follows    text        NOT NULL,
  config     text        NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS destination_members (
  destination text NOT NULL,
  uuid        text NOT NULL,
  PRIMARY KEY (destination, uuid)
);
CREATE TABLE IF NOT EXISTS destination_deliveries (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  destination  text        NOT NULL,
  delivery_key text        NOT NULL,
  snapshot_id  bigint      NOT NULL,
  entered      bigint      NOT NULL,
  left_count   bigint      NOT NULL,
  batches      integer     NOT NULL,
  batches_done integer     NOT NULL,
  attempts     integer     NOT NULL,
  status       text        NOT NULL,
  last_error   text        NOT NULL,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  delivered_at timestamptz
);
CREATE INDEX IF NOT EXISTS destination_deliveries_by_destination
  ON destination_deliveries(destination, id);
CREATE TABLE IF NOT EXISTS destination_changes (
  delivery_id bigint   NOT NULL,
  uuid        text     NOT NULL,
  entered     smallint NOT NULL,
  PRIMARY KEY (delivery_id, uuid)
);
)sql"},
    // 2: a run's lease on a destination (Claim): who holds it, and until when (unix
    // milliseconds by the database's clock).
    {R"sql(
ALTER TABLE destinations ADD COLUMN claimed_by TEXT;
ALTER TABLE destinations ADD COLUMN lease_until INTEGER;
)sql",
     R"sql(
ALTER TABLE destinations ADD COLUMN IF NOT EXISTS claimed_by text;
ALTER TABLE destinations ADD COLUMN IF NOT EXISTS lease_until bigint;
)sql"},
};
constexpr store::Schema kSchema{"destinations", kMigrations};

StatusOr<DeliveryStatus> ParseStatus(std::string_view text) {
  if (text == "pending") return DeliveryStatus::kPending;
  if (text == "delivered") return DeliveryStatus::kDelivered;
  if (text == "dead") return DeliveryStatus::kDead;
  return DataLossError("unknown delivery status '{}' in the store", text);
}

std::string ConfigJson(const Destination& d) {
  nlohmann::json j;
  if (d.kind == DestinationKind::kWebhook) {
    j["url"] = d.url;
    if (!d.secret_env.empty()) j["secret_env"] = d.secret_env;
    if (!d.secret_file.empty()) j["secret_file"] = d.secret_file;
    j["batch_size"] = d.batch_size;
  } else {
    j["dir"] = d.dir;
  }
  return j.dump();
}

StatusOr<Destination> DestinationOf(const store::SqlRow& row) {
  Destination d;
  d.name = row.Text(0);
  TESSERA_ASSIGN_OR_RETURN(d.kind, ParseKind(row.Text(1)));
  d.follows = row.Text(2);
  const auto j = nlohmann::json::parse(row.Text(3), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLossError("the configuration of destination '{}' is not JSON", d.name);
  }
  d.url = j.value("url", "");
  d.secret_env = j.value("secret_env", "");
  d.secret_file = j.value("secret_file", "");
  d.batch_size = j.value("batch_size", 1000u);
  d.dir = j.value("dir", "");
  d.created_at = row.Text(4);
  return d;
}

std::string RandomKey(size_t bytes_count = 16) {
  unsigned char bytes[16];
  bytes_count = std::min(bytes_count, sizeof(bytes));
  if (RAND_bytes(bytes, static_cast<int>(bytes_count)) != 1) std::abort();  // never on Linux
  return privacy::HexEncode(std::string_view(reinterpret_cast<const char*>(bytes), bytes_count));
}

// Now, in unix milliseconds by the database's clock: one clock for every process on the store
// (PostgreSQL's may serve several machines).
std::string NowMillisSql(const store::Database& db) {
  return db.dialect() == store::Dialect::kSqlite
             ? "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
             : "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)";
}

}  // namespace

std::string_view KindName(DestinationKind kind) {
  return kind == DestinationKind::kWebhook ? "webhook" : "csv";
}

StatusOr<DestinationKind> ParseKind(std::string_view text) {
  if (text == "webhook") return DestinationKind::kWebhook;
  if (text == "csv") return DestinationKind::kCsv;
  return InvalidArgumentError("unknown destination kind '{}': expected webhook or csv", text);
}

std::string_view StatusName(DeliveryStatus status) {
  switch (status) {
    case DeliveryStatus::kPending:
      return "pending";
    case DeliveryStatus::kDelivered:
      return "delivered";
    case DeliveryStatus::kDead:
      return "dead";
  }
  return "?";
}

const store::Schema& DestinationStore::Schema() { return kSchema; }

std::string NewLeaseHolder() {
  char host[256] = "";
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return fmt::format("{}:{}:{}", host, ::getpid(), RandomKey(4));
}

StatusOr<std::optional<LeaseHolder>> DestinationStore::Claim(const Lease& lease) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  const std::string now = NowMillisSql(db_);
  std::optional<LeaseHolder> other;
  TESSERA_RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    // Conditional: only one of two runs claiming at once finds it free (or expired).
    TESSERA_ASSIGN_OR_RETURN(
        const uint64_t claimed,
        db_.Execute("UPDATE destinations SET claimed_by = $2, lease_until = " + now +
                        " + $3 WHERE name = $1 AND (claimed_by IS NULL OR claimed_by = $2 OR "
                        "lease_until IS NULL OR lease_until < " +
                        now + ")",
                    {lease.destination, lease.holder, lease.duration.count()}));
    if (claimed == 1) return OkStatus();
    TESSERA_RETURN_IF_ERROR(
        db_.Query("SELECT claimed_by, lease_until - " + now + " FROM destinations WHERE name = $1",
                  {lease.destination}, [&](const store::SqlRow& row) -> Status {
                    other = LeaseHolder{row.Text(0), std::max<int64_t>(row.Int(1), 0)};
                    return OkStatus();
                  }));
    if (!other) return NotFoundError("no destination named '{}'", lease.destination);
    return OkStatus();
  }));
  return other;
}

Status DestinationStore::Renew(const Lease& lease) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  return RenewHeld(lease);
}

Status DestinationStore::RenewHeld(const Lease& lease) {
  TESSERA_ASSIGN_OR_RETURN(
      const uint64_t renewed,
      db_.Execute("UPDATE destinations SET lease_until = " + NowMillisSql(db_) +
                      " + $3 WHERE name = $1 AND claimed_by = $2",
                  {lease.destination, lease.holder, lease.duration.count()}));
  if (renewed == 1) return OkStatus();
  return FailedPreconditionError(
      "destination '{}': another run took it over (this run's lease ran out, or the "
      "destination was removed); this run stopped",
      lease.destination);
}

Status DestinationStore::Release(const Lease& lease) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  return db_
      .Execute(
          "UPDATE destinations SET claimed_by = NULL, lease_until = NULL WHERE name = $1 AND "
          "claimed_by = $2",
          {lease.destination, lease.holder})
      .status();
}

Status DestinationStore::Add(const Destination& d) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  const std::string config = ConfigJson(d);
  TESSERA_ASSIGN_OR_RETURN(
      const uint64_t added,
      db_.Execute("INSERT INTO destinations(name, kind, follows, config, created_at) VALUES ($1, "
                  "$2, $3, $4, " +
                      db_.NowSql() + ") ON CONFLICT DO NOTHING",
                  {d.name, KindName(d.kind), d.follows, config}));
  if (added != 1) return AlreadyExistsError("a destination named '{}' exists", d.name);
  return OkStatus();
}

StatusOr<std::vector<Destination>> DestinationStore::List() {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::vector<Destination> out;
  const char* order = db_.dialect() == store::Dialect::kPostgres ? " COLLATE \"C\"" : "";
  TESSERA_RETURN_IF_ERROR(db_.Query("SELECT name, kind, follows, config, " +
                                        db_.IsoTimestampSql("created_at") +
                                        " FROM destinations ORDER BY name" + order,
                                    {}, [&](const store::SqlRow& row) -> Status {
                                      TESSERA_ASSIGN_OR_RETURN(Destination d, DestinationOf(row));
                                      out.push_back(std::move(d));
                                      return OkStatus();
                                    }));
  return out;
}

StatusOr<Destination> DestinationStore::Get(const std::string& name) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::optional<Destination> found;
  TESSERA_RETURN_IF_ERROR(db_.Query("SELECT name, kind, follows, config, " +
                                        db_.IsoTimestampSql("created_at") +
                                        " FROM destinations WHERE name = $1",
                                    {name}, [&](const store::SqlRow& row) -> Status {
                                      TESSERA_ASSIGN_OR_RETURN(Destination d, DestinationOf(row));
                                      found = std::move(d);
                                      return OkStatus();
                                    }));
  if (!found) {
    return NotFoundError("no destination named '{}' (see `tessera destination list`)", name);
  }
  return *found;
}

StatusOr<bool> DestinationStore::Remove(const std::string& name) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  bool removed = false;
  TESSERA_RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(const uint64_t n,
                             db_.Execute("DELETE FROM destinations WHERE name = $1", {name}));
    removed = n > 0;
    TESSERA_RETURN_IF_ERROR(
        db_.Execute("DELETE FROM destination_members WHERE destination = $1", {name}).status());
    TESSERA_RETURN_IF_ERROR(
        db_.Execute("DELETE FROM destination_changes WHERE delivery_id IN (SELECT id FROM "
                    "destination_deliveries WHERE destination = $1)",
                    {name})
            .status());
    return db_.Execute("DELETE FROM destination_deliveries WHERE destination = $1", {name})
        .status();
  }));
  return removed;
}

StatusOr<std::vector<privacy::Uuid>> DestinationStore::Baseline(const std::string& name) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::vector<privacy::Uuid> out;
  TESSERA_RETURN_IF_ERROR(db_.Query("SELECT uuid FROM destination_members WHERE destination = $1",
                                    {name}, [&](const store::SqlRow& row) -> Status {
                                      auto u = privacy::Uuid::Parse(row.Text(0));
                                      if (!u.ok()) {
                                        return DataLossError(
                                            "a member of destination '{}' is not a UUID", name);
                                      }
                                      out.push_back(*u);
                                      return OkStatus();
                                    }));
  std::sort(out.begin(), out.end());
  return out;
}

StatusOr<Delivery> DestinationStore::CreateDelivery(const Lease& lease, int64_t snapshot_id,
                                                    const ChangeSet& change, uint32_t batches) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  const std::string& name = lease.destination;
  const std::string key = RandomKey();
  int64_t id = 0;
  const std::string now = db_.NowSql();
  TESSERA_RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    TESSERA_RETURN_IF_ERROR(RenewHeld(lease));
    // One undelivered delivery per destination: two runs at once must not both compute one.
    TESSERA_ASSIGN_OR_RETURN(
        auto open, db_.QueryInt("SELECT count(*) FROM destination_deliveries WHERE destination = "
                                "$1 AND status <> 'delivered'",
                                {name}));
    if (open.value_or(0) > 0) {
      return FailedPreconditionError(
          "destination '{}' has an undelivered delivery (another run is delivering?)", name);
    }
    TESSERA_RETURN_IF_ERROR(db_.Query(
        "INSERT INTO destination_deliveries(destination, delivery_key, snapshot_id, entered, "
        "left_count, batches, batches_done, attempts, status, last_error, created_at, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 'pending', '', " +
            now + ", " + now + ") RETURNING id",
        {name, key, snapshot_id, change.entered.size(), change.left.size(), batches},
        [&](const store::SqlRow& row) {
          id = row.Int(0);
          return OkStatus();
        }));
    const size_t n = change.entered.size() + change.left.size();
    std::vector<std::string> texts;
    texts.reserve(n);
    for (const auto& u : change.entered) texts.push_back(u.ToString());
    for (const auto& u : change.left) texts.push_back(u.ToString());
    using store::SqlType;
    const store::SqlColumn columns[] = {
        {"delivery_id", SqlType::kInt64}, {"uuid", SqlType::kText}, {"entered", SqlType::kInt16}};
    return db_.Insert("destination_changes", columns, n, [&](size_t i, store::SqlRowWriter& w) {
      w.Int(id);
      w.Text(texts[i]);
      w.Int(i < change.entered.size() ? 1 : 0);
    });
  }));
  TESSERA_ASSIGN_OR_RETURN(auto d, OneDelivery("id = $1", {id}));
  if (!d) return InternalError("delivery {} vanished", id);
  return *d;
}

StatusOr<ChangeSet> DestinationStore::Change(int64_t delivery_id) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  TESSERA_ASSIGN_OR_RETURN(auto d, OneDelivery("id = $1", {delivery_id}));
  if (!d || d->status == DeliveryStatus::kDelivered) {
    return NotFoundError("delivery {} has no change set to send", delivery_id);
  }
  ChangeSet change;
  TESSERA_RETURN_IF_ERROR(db_.Query(
      "SELECT uuid, entered FROM destination_changes WHERE delivery_id = $1", {delivery_id},
      [&](const store::SqlRow& row) -> Status {
        auto u = privacy::Uuid::Parse(row.Text(0));
        if (!u.ok())
          return DataLossError("delivery {} holds a member that is not a UUID", delivery_id);
        (row.Int(1) != 0 ? change.entered : change.left).push_back(*u);
        return OkStatus();
      }));
  std::sort(change.entered.begin(), change.entered.end());
  std::sort(change.left.begin(), change.left.end());
  if (change.entered.size() != d->entered || change.left.size() != d->left) {
    return DataLossError("the change set of delivery {} is incomplete", delivery_id);
  }
  return change;
}

StatusOr<std::optional<Delivery>> DestinationStore::OneDelivery(
    std::string_view where, std::initializer_list<store::SqlValue> params) {
  std::optional<Delivery> out;
  Status bad;
  TESSERA_RETURN_IF_ERROR(db_.Query(
      "SELECT id, destination, delivery_key, snapshot_id, entered, left_count, batches, "
      "batches_done, attempts, status, last_error, " +
          db_.IsoTimestampSql("created_at") + ", " + db_.IsoTimestampSql("updated_at") + ", " +
          db_.IsoTimestampSql("delivered_at") + " FROM destination_deliveries WHERE " +
          std::string(where) + " ORDER BY id DESC LIMIT 1",
      params, [&](const store::SqlRow& row) -> Status {
        Delivery d;
        d.id = row.Int(0);
        d.destination = row.Text(1);
        d.key = row.Text(2);
        d.snapshot_id = row.Int(3);
        d.entered = static_cast<uint64_t>(row.Int(4));
        d.left = static_cast<uint64_t>(row.Int(5));
        d.batches = static_cast<uint32_t>(row.Int(6));
        d.batches_done = static_cast<uint32_t>(row.Int(7));
        d.attempts = static_cast<uint32_t>(row.Int(8));
        TESSERA_ASSIGN_OR_RETURN(d.status, ParseStatus(row.Text(9)));
        d.last_error = row.Text(10);
        d.created_at = row.Text(11);
        d.updated_at = row.Text(12);
        d.delivered_at = row.IsNull(13) ? "" : row.Text(13);
        out = std::move(d);
        return OkStatus();
      }));
  return out;
}

StatusOr<std::optional<Delivery>> DestinationStore::Outstanding(const std::string& name) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  return OneDelivery("destination = $1 AND status <> 'delivered'", {name});
}

Status DestinationStore::RecordAttempt(const Lease& lease, int64_t delivery_id, uint32_t attempts,
                                       uint32_t batches_done, DeliveryStatus status,
                                       const std::string& error) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  return db_.Transaction([&]() -> Status {
    TESSERA_RETURN_IF_ERROR(RenewHeld(lease));
    return db_
        .Execute(
            "UPDATE destination_deliveries SET attempts = $1, batches_done = $2, status = $3, "
            "last_error = $4, updated_at = " +
                db_.NowSql() + " WHERE id = $5 AND status <> 'delivered'",
            {attempts, batches_done, StatusName(status), error, delivery_id})
        .status();
  });
}

Status DestinationStore::MarkDelivered(const Lease& lease, int64_t delivery_id, uint32_t attempts) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  return db_.Transaction([&]() -> Status {
    TESSERA_RETURN_IF_ERROR(RenewHeld(lease));
    TESSERA_ASSIGN_OR_RETURN(
        auto name, db_.QueryText("SELECT destination FROM destination_deliveries WHERE id = $1 "
                                 "AND status <> 'delivered'",
                                 {delivery_id}));
    if (!name) return NotFoundError("no undelivered delivery {}", delivery_id);
    TESSERA_RETURN_IF_ERROR(
        db_.Execute("INSERT INTO destination_members(destination, uuid) SELECT $1, uuid FROM "
                    "destination_changes WHERE delivery_id = $2 AND entered = 1 ON CONFLICT DO "
                    "NOTHING",
                    {*name, delivery_id})
            .status());
    TESSERA_RETURN_IF_ERROR(
        db_.Execute("DELETE FROM destination_members WHERE destination = $1 AND uuid IN (SELECT "
                    "uuid FROM destination_changes WHERE delivery_id = $2 AND entered = 0)",
                    {*name, delivery_id})
            .status());
    TESSERA_RETURN_IF_ERROR(
        db_.Execute("DELETE FROM destination_changes WHERE delivery_id = $1", {delivery_id})
            .status());
    const std::string now = db_.NowSql();
    return db_
        .Execute(
            "UPDATE destination_deliveries SET status = 'delivered', attempts = $1, "
            "batches_done = batches, last_error = '', updated_at = " +
                now + ", delivered_at = " + now + " WHERE id = $2",
            {attempts, delivery_id})
        .status();
  });
}

StatusOr<std::vector<Delivery>> DestinationStore::Log(const std::string& name, uint64_t limit) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  // Ids, then each entry: the log is short (a page), and OneDelivery reads one row the same way.
  std::vector<int64_t> ids;
  TESSERA_RETURN_IF_ERROR(db_.Query(
      name.empty() ? "SELECT id FROM destination_deliveries ORDER BY id DESC LIMIT $1"
                   : "SELECT id FROM destination_deliveries WHERE destination = $2 ORDER BY id "
                     "DESC LIMIT $1",
      name.empty() ? std::initializer_list<store::SqlValue>{limit}
                   : std::initializer_list<store::SqlValue>{limit, name},
      [&](const store::SqlRow& row) {
        ids.push_back(row.Int(0));
        return OkStatus();
      }));
  std::vector<Delivery> out;
  for (int64_t id : ids) {
    TESSERA_ASSIGN_OR_RETURN(auto d, OneDelivery("id = $1", {id}));
    if (d) out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace tessera::destinations
