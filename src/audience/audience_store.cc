#include "tessera/audience/audience_store.h"

namespace tessera::audience {
namespace {

// Released migrations are never edited (tests/server/migrations_test.cc pins each by hash).
constexpr store::Migration kMigrations[] = {
    // 1: named audiences and their history, the data owner's settings (reference tables under
    // Citus), attributes attached to customers from other sources (by pseudonym on PostgreSQL,
    // distributable like customers).
    {R"sql(
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
)sql"},
};
constexpr store::Schema kSchema{"audience", kMigrations};

}  // namespace

const store::Schema& AudienceStore::Schema() { return kSchema; }

const char* AudienceStore::ByteOrder() const {
  return db_.dialect() == store::Dialect::kPostgres ? " COLLATE \"C\"" : "";
}

Status AudienceStore::Save(const AudienceRecord& a, bool replace, uint64_t size,
                           int64_t snapshot_id) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  const std::string now = db_.NowSql();
  return db_.Transaction([&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(
        const uint64_t changed,
        db_.Execute(replace ? "UPDATE audiences SET expression = $1, updated_at = " + now +
                                  " WHERE name = $2"
                            : "INSERT INTO audiences(expression, name, created_at, updated_at) "
                              "VALUES ($1, $2, " +
                                  now + ", " + now + ") ON CONFLICT DO NOTHING",
                    {a.expression, a.name}));
    if (changed != 1) {
      if (replace) return NotFoundError("no audience named '{}'", a.name);
      return AlreadyExistsError(
          "an audience named '{}' exists (change it with `tessera audience update`)", a.name);
    }
    return AppendEvent(a.name, replace ? "updated" : "saved", a.expression, size, snapshot_id);
  });
}

StatusOr<std::vector<AudienceRecord>> AudienceStore::List() {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::vector<AudienceRecord> out;
  TESSERA_RETURN_IF_ERROR(db_.Query(
      "SELECT name, expression, " + db_.IsoTimestampSql("created_at") + ", " +
          db_.IsoTimestampSql("updated_at") + " FROM audiences ORDER BY name" + ByteOrder(),
      {}, [&](const store::SqlRow& row) {
        out.push_back({row.Text(0), row.Text(1), row.Text(2), row.Text(3)});
        return OkStatus();
      }));
  return out;
}

StatusOr<bool> AudienceStore::Delete(const std::string& name) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  bool deleted = false;
  TESSERA_RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(
        auto expression, db_.QueryText("SELECT expression FROM audiences WHERE name = $1", {name}));
    if (!expression) return OkStatus();
    TESSERA_RETURN_IF_ERROR(db_.Execute("DELETE FROM audiences WHERE name = $1", {name}).status());
    deleted = true;
    return AppendEvent(name, "deleted", *expression, 0, 0);
  }));
  return deleted;
}

Status AudienceStore::RecordEvent(const std::string& name, const std::string& event, uint64_t size,
                                  int64_t snapshot_id) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  TESSERA_ASSIGN_OR_RETURN(
      auto expression, db_.QueryText("SELECT expression FROM audiences WHERE name = $1", {name}));
  if (!expression) return NotFoundError("no audience named '{}'", name);
  return AppendEvent(name, event, *expression, size, snapshot_id);
}

StatusOr<std::vector<AudienceEvent>> AudienceStore::History(const std::string& name) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::vector<AudienceEvent> out;
  TESSERA_RETURN_IF_ERROR(db_.Query(
      "SELECT seq, " + db_.IsoTimestampSql("at") +
          ", event, expression, size, snapshot_id FROM audience_history WHERE name = $1 ORDER "
          "BY seq",
      {name}, [&](const store::SqlRow& row) {
        out.push_back({name, row.Int(0), row.Text(1), row.Text(2), row.Text(3),
                       static_cast<uint64_t>(row.Int(4)), row.Int(5)});
        return OkStatus();
      }));
  return out;
}

Status AudienceStore::AppendEvent(const std::string& name, const std::string& event,
                                  const std::string& expression, uint64_t size,
                                  int64_t snapshot_id) {
  return db_
      .Execute(
          "INSERT INTO audience_history(name, seq, at, event, expression, size, "
          "snapshot_id) VALUES ($1, (SELECT COALESCE(max(seq), 0) + 1 FROM audience_history "
          "WHERE name = $1), " +
              db_.NowSql() + ", $2, $3, $4, $5)",
          {name, event, expression, size, snapshot_id})
      .status();
}

Status AudienceStore::SetSetting(const std::string& key, const std::string& value) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  return db_
      .Execute(
          "INSERT INTO settings(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET "
          "value = excluded.value",
          {key, value})
      .status();
}

StatusOr<std::optional<std::string>> AudienceStore::Setting(const std::string& key) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  return db_.QueryText("SELECT value FROM settings WHERE key = $1", {key});
}

Status AudienceStore::PutAttributes(const std::vector<CustomerAttribute>& attributes) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  const bool pg = db_.dialect() == store::Dialect::kPostgres;
  TESSERA_ASSIGN_OR_RETURN(const store::Store::CustomerRefs refs, store_.CustomersForRows());
  const uint32_t customers = refs.count;
  const std::vector<privacy::Uuid>& uuids = refs.pseudonyms;
  for (const auto& a : attributes) {
    if (a.customer >= customers) {
      return InvalidArgumentError("attribute for unknown customer index {}", a.customer);
    }
  }
  return db_.Transaction([&]() -> Status {
    if (pg) {
      // One COPY into a scratch table and one upsert, not a statement per row; where a
      // customer's attribute comes twice, the later one wins, as row by row.
      TESSERA_RETURN_IF_ERROR(db_.ExecuteScript(
          "CREATE TEMPORARY TABLE attributes_in (seq bigint, customer_uuid uuid, customer_idx "
          "integer, name text, value text) ON COMMIT DROP"));
      using store::SqlType;
      const store::SqlColumn columns[] = {{"seq", SqlType::kInt64},
                                          {"customer_uuid", SqlType::kUuid},
                                          {"customer_idx", SqlType::kInt32},
                                          {"name", SqlType::kText},
                                          {"value", SqlType::kText}};
      TESSERA_RETURN_IF_ERROR(db_.Insert("attributes_in", columns, attributes.size(),
                                         [&](size_t i, store::SqlRowWriter& w) {
                                           const CustomerAttribute& a = attributes[i];
                                           w.Int(static_cast<int64_t>(i));
                                           w.Uuid(uuids[a.customer]);
                                           w.Int(a.customer);
                                           w.Text(a.name);
                                           w.Text(a.value);
                                         }));
      TESSERA_RETURN_IF_ERROR(db_.ExecuteScript(
          "INSERT INTO customer_attributes(customer_uuid, customer_idx, name, value) SELECT "
          "DISTINCT ON (customer_uuid, name) customer_uuid, customer_idx, name, value FROM "
          "attributes_in ORDER BY customer_uuid, name, seq DESC ON CONFLICT (customer_uuid, name) "
          "DO UPDATE SET value = excluded.value"));
    } else {
      for (const auto& a : attributes) {
        TESSERA_RETURN_IF_ERROR(
            db_.Execute("INSERT INTO customer_attributes(customer_idx, name, value) VALUES ($1, "
                        "$2, $3) ON CONFLICT (customer_idx, name) DO UPDATE SET value = "
                        "excluded.value",
                        {a.customer, a.name, a.value})
                .status());
      }
    }
    return CountAttributeGeneration();
  });
}

Status AudienceStore::CountAttributeGeneration() {
  return db_
      .Execute(db_.dialect() == store::Dialect::kPostgres
                   ? "INSERT INTO settings(key, value) VALUES ('attributes.generation', '1') ON "
                     "CONFLICT (key) DO UPDATE SET value = (settings.value::bigint + 1)::text"
                   : "INSERT INTO settings(key, value) VALUES ('attributes.generation', '1') ON "
                     "CONFLICT (key) DO UPDATE SET value = CAST(CAST(settings.value AS INTEGER) "
                     "+ 1 AS TEXT)")
      .status();
}

Status AudienceStore::Migrate() { return db_.Migrate(kSchema); }

StatusOr<uint64_t> AudienceStore::SetAttributesInTransaction(
    std::span<const AttributeValue> values) {
  if (values.empty()) return uint64_t{0};
  const bool pg = db_.dialect() == store::Dialect::kPostgres;
  using store::SqlType;
  // Through a scratch table, so that one statement upserts them all; a value equal to the
  // stored one is left alone, so that loading the same file again changes nothing.
  uint64_t changed = 0;
  if (pg) {
    TESSERA_RETURN_IF_ERROR(db_.ExecuteScript(
        "CREATE TEMPORARY TABLE people_attributes_in (customer_uuid uuid, customer_idx integer, "
        "name text, value text) ON COMMIT DROP"));
    const store::SqlColumn columns[] = {{"customer_uuid", SqlType::kUuid},
                                        {"customer_idx", SqlType::kInt32},
                                        {"name", SqlType::kText},
                                        {"value", SqlType::kText}};
    TESSERA_RETURN_IF_ERROR(db_.Insert("people_attributes_in", columns, values.size(),
                                       [&](size_t i, store::SqlRowWriter& w) {
                                         const AttributeValue& v = values[i];
                                         w.Uuid(v.pseudonym);
                                         w.Int(v.customer);
                                         w.Text(v.name);
                                         w.Text(v.value);
                                       }));
    TESSERA_ASSIGN_OR_RETURN(
        changed,
        db_.Execute("INSERT INTO customer_attributes(customer_uuid, customer_idx, name, value) "
                    "SELECT customer_uuid, customer_idx, name, value FROM people_attributes_in "
                    "ON CONFLICT (customer_uuid, name) DO UPDATE SET value = excluded.value "
                    "WHERE customer_attributes.value IS DISTINCT FROM excluded.value"));
  } else {
    // Emptied before and after: whatever a failed batch's rollback left of it.
    TESSERA_RETURN_IF_ERROR(db_.ExecuteScript(
        "CREATE TEMPORARY TABLE IF NOT EXISTS people_attributes_in (customer_idx INTEGER, name "
        "TEXT, value TEXT); DELETE FROM temp.people_attributes_in"));
    const store::SqlColumn columns[] = {
        {"customer_idx", SqlType::kInt32}, {"name", SqlType::kText}, {"value", SqlType::kText}};
    TESSERA_RETURN_IF_ERROR(db_.Insert("people_attributes_in", columns, values.size(),
                                       [&](size_t i, store::SqlRowWriter& w) {
                                         const AttributeValue& v = values[i];
                                         w.Int(v.customer);
                                         w.Text(v.name);
                                         w.Text(v.value);
                                       }));
    // "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.
    TESSERA_ASSIGN_OR_RETURN(
        changed,
        db_.Execute("INSERT INTO customer_attributes(customer_idx, name, value) SELECT "
                    "customer_idx, name, value FROM people_attributes_in WHERE true ON CONFLICT "
                    "(customer_idx, name) DO UPDATE SET value = excluded.value WHERE "
                    "customer_attributes.value IS NOT excluded.value"));
    TESSERA_RETURN_IF_ERROR(db_.ExecuteScript("DELETE FROM temp.people_attributes_in"));
  }
  if (changed > 0) TESSERA_RETURN_IF_ERROR(CountAttributeGeneration());
  return changed;
}

Status AudienceStore::ScanAttributes(const std::function<void(const CustomerAttribute&)>& fn) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  CustomerAttribute a;
  return db_.Query(fmt::format("SELECT customer_idx, name, value FROM customer_attributes ORDER "
                               "BY name{0}, value{0}, customer_idx",
                               ByteOrder()),
                   {}, [&](const store::SqlRow& row) {
                     a.customer = static_cast<uint32_t>(row.Int(0));
                     a.name = row.Text(1);
                     a.value = row.Text(2);
                     fn(a);
                     return OkStatus();
                   });
}

}  // namespace tessera::audience
