#include "tessera/sources/source_store.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tessera/common/text.h"

namespace tessera::sources {
namespace {

using Json = nlohmann::json;

// Released migrations are never edited; a change is a new migration.
constexpr store::Migration kMigrations[] = {
    // 1: sources (where their credentials are, never the credentials), a cursor per source,
    // and the record of every run.
    {R"sql(
CREATE TABLE sources (
  name        TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,
  url         TEXT NOT NULL,
  credentials TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE TABLE source_cursors (
  name       TEXT PRIMARY KEY,
  updated_at INTEGER NOT NULL,
  ids        TEXT NOT NULL
);
CREATE TABLE source_runs (
  id            INTEGER PRIMARY KEY,
  source        TEXT    NOT NULL,
  via           TEXT    NOT NULL,
  started_at    TEXT    NOT NULL,
  finished_at   TEXT,
  pages         INTEGER NOT NULL DEFAULT 0,
  orders_seen   INTEGER NOT NULL DEFAULT 0,
  orders_stored INTEGER NOT NULL DEFAULT 0,
  rejects       INTEGER NOT NULL DEFAULT 0,
  outcome       TEXT    NOT NULL,
  error         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX source_runs_by_source ON source_runs(source, id);
)sql",
     R"sql(
CREATE TABLE IF NOT EXISTS sources (
  name        text        PRIMARY KEY,
  kind        text        NOT NULL,
  url         text        NOT NULL,
  credentials text        NOT NULL,
  created_at  timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS source_cursors (
  name       text   PRIMARY KEY,
  updated_at bigint NOT NULL,
  ids        text   NOT NULL
);
CREATE TABLE IF NOT EXISTS source_runs (
  id            bigserial   PRIMARY KEY,
  source        text        NOT NULL,
  via           text        NOT NULL,
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz,
  pages         bigint      NOT NULL DEFAULT 0,
  orders_seen   bigint      NOT NULL DEFAULT 0,
  orders_stored bigint      NOT NULL DEFAULT 0,
  rejects       bigint      NOT NULL DEFAULT 0,
  outcome       text        NOT NULL,
  error         text        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS source_runs_by_source ON source_runs(source, id);
)sql"},
    // 2: watched folders: a source's options (a folder's mapping and settle time; its path is
    // the url column, where the source reads from) and the files of a folder's run.
    {R"sql(
ALTER TABLE sources ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
ALTER TABLE source_runs ADD COLUMN files_loaded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_runs ADD COLUMN files_refused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_runs ADD COLUMN files_waiting INTEGER NOT NULL DEFAULT 0;
)sql",
     R"sql(
ALTER TABLE sources ADD COLUMN IF NOT EXISTS options text NOT NULL DEFAULT '{}';
ALTER TABLE source_runs ADD COLUMN IF NOT EXISTS files_loaded bigint NOT NULL DEFAULT 0;
ALTER TABLE source_runs ADD COLUMN IF NOT EXISTS files_refused bigint NOT NULL DEFAULT 0;
ALTER TABLE source_runs ADD COLUMN IF NOT EXISTS files_waiting bigint NOT NULL DEFAULT 0;
)sql"},
};
constexpr store::Schema kSchema{"sources", kMigrations};

Json SecretJson(const SecretRef& s) {
  Json j = Json::object();
  if (!s.env.empty()) j["env"] = s.env;
  if (!s.file.empty()) j["file"] = s.file;
  return j;
}

SecretRef SecretOf(const Json& j, const char* name) {
  SecretRef s;
  if (!j.contains(name) || !j[name].is_object()) return s;
  const Json& o = j[name];
  if (o.contains("env") && o["env"].is_string()) s.env = o["env"].get<std::string>();
  if (o.contains("file") && o["file"].is_string()) s.file = o["file"].get<std::string>();
  return s;
}

Status CheckSecretRef(const SecretRef& s, std::string_view option) {
  if (!s.env.empty() && !s.file.empty()) {
    return InvalidArgumentError("{}: give an environment variable or a file, not both", option);
  }
  if (!s.env.empty()) {
    const bool ok = std::all_of(s.env.begin(), s.env.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (!ok || (s.env[0] >= '0' && s.env[0] <= '9')) {
      return InvalidArgumentError(
          "{}: the value given is not the name of an environment variable (give the variable's "
          "name, never the secret itself)",
          option);
    }
  }
  return OkStatus();
}

Status ValidateFolderConfig(const SourceConfig& c) {
  if (!c.url.empty() || !c.token.empty() || !c.key.empty() || !c.secret.empty() ||
      !c.webhook_secret.empty()) {
    return InvalidArgumentError(
        "source '{}': a folder source takes a folder, not a URL, credentials or a webhook secret",
        c.name);
  }
  if (c.dir.empty() || !c.dir.starts_with('/')) {
    return InvalidArgumentError("source '{}': the folder must be given by its absolute path",
                                c.name);
  }
  if (c.settle_seconds < 0) {
    return InvalidArgumentError("source '{}': the settle time must be 0 seconds or more", c.name);
  }
  return OkStatus();
}

SourceRun RunOf(const store::SqlRow& row) {
  SourceRun r;
  r.id = row.Int(0);
  r.source = row.Text(1);
  r.trigger = row.Text(2);
  r.started_at = row.Text(3);
  r.finished_at = row.Text(4);
  r.pages = static_cast<uint64_t>(row.Int(5));
  r.orders_seen = static_cast<uint64_t>(row.Int(6));
  r.orders_stored = static_cast<uint64_t>(row.Int(7));
  r.rejects = static_cast<uint64_t>(row.Int(8));
  r.outcome = row.Text(9);
  r.error = row.Text(10);
  r.files_loaded = static_cast<uint64_t>(row.Int(11));
  r.files_refused = static_cast<uint64_t>(row.Int(12));
  r.files_waiting = static_cast<uint64_t>(row.Int(13));
  return r;
}

}  // namespace

std::string_view SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kShopify:
      return "shopify";
    case SourceKind::kWooCommerce:
      return "woocommerce";
    case SourceKind::kFolder:
      return "folder";
  }
  return "unknown";
}

StatusOr<SourceKind> ParseSourceKind(std::string_view name) {
  if (name == "shopify") return SourceKind::kShopify;
  if (name == "woocommerce") return SourceKind::kWooCommerce;
  if (name == "folder") return SourceKind::kFolder;
  return InvalidArgumentError("unknown source kind '{}' (shopify, woocommerce, folder)", name);
}

std::string SecretRef::Describe() const {
  if (!env.empty()) return "$" + env;
  if (!file.empty()) return "file " + file;
  return "-";
}

Status ValidateSourceConfig(const SourceConfig& c) {
  if (c.name.empty() || c.name.size() > 64 ||
      !std::all_of(c.name.begin(), c.name.end(),
                   [](char ch) {
                     return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                            (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
                   }) ||
      c.name[0] == '.' || c.name[0] == '-' || c.name[0] == '_') {
    return InvalidArgumentError(
        "a source name is 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or "
        "digit");
  }
  if (c.kind == SourceKind::kFolder) return ValidateFolderConfig(c);
  const bool https = c.url.starts_with("https://");
  if (!https && !c.url.starts_with("http://")) {
    return InvalidArgumentError("source '{}': the URL must start with https://", c.name);
  }
  const std::string_view rest = std::string_view(c.url).substr(https ? 8 : 7);
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      rest.find_first_of("?# \t") != std::string_view::npos) {
    return InvalidArgumentError(
        "source '{}': the URL must be https://host[:port][/path], without credentials, query "
        "or fragment",
        c.name);
  }
  if (!https) {
    std::string_view host = authority;
    if (host.starts_with('[')) {
      host = host.substr(0, host.find(']') + 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    if (!IsLoopbackHost(host)) {
      return InvalidArgumentError(
          "source '{}': credentials are sent to the shop, so its URL must be https:// (http:// "
          "only for a stand-in on the loopback, 127.0.0.1 or localhost)",
          c.name);
    }
  }
  TESSERA_RETURN_IF_ERROR(CheckSecretRef(c.token, "--token-env/--token-file"));
  TESSERA_RETURN_IF_ERROR(CheckSecretRef(c.key, "--key-env/--credentials-file"));
  TESSERA_RETURN_IF_ERROR(CheckSecretRef(c.secret, "--secret-env"));
  TESSERA_RETURN_IF_ERROR(
      CheckSecretRef(c.webhook_secret, "--webhook-secret-env/--webhook-secret-file"));
  if (c.kind == SourceKind::kShopify) {
    if (c.token.empty()) {
      return InvalidArgumentError(
          "source '{}': a Shopify source needs its access token: --token-env VAR or --token-file "
          "FILE",
          c.name);
    }
    if (!c.key.empty() || !c.secret.empty()) {
      return InvalidArgumentError(
          "source '{}': a Shopify source takes a token, not a consumer key and secret", c.name);
    }
  } else {
    if (!c.token.empty()) {
      return InvalidArgumentError(
          "source '{}': a WooCommerce source takes a consumer key and secret, not a token", c.name);
    }
    const bool file = !c.key.file.empty();
    if (file ? !c.secret.empty() : (c.key.env.empty() || c.secret.env.empty())) {
      return InvalidArgumentError(
          "source '{}': a WooCommerce source needs its consumer key and secret: --key-env VAR "
          "and --secret-env VAR, or --credentials-file FILE",
          c.name);
    }
  }
  return OkStatus();
}

const store::Schema& SourceStore::Schema() { return kSchema; }

Status SourceStore::Add(const SourceConfig& c) {
  TESSERA_RETURN_IF_ERROR(ValidateSourceConfig(c));
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  Json credentials = Json::object();
  if (!c.token.empty()) credentials["token"] = SecretJson(c.token);
  if (!c.key.empty()) credentials["key"] = SecretJson(c.key);
  if (!c.secret.empty()) credentials["secret"] = SecretJson(c.secret);
  if (!c.webhook_secret.empty()) credentials["webhook_secret"] = SecretJson(c.webhook_secret);
  // A folder's path is where it reads from, as a shop's URL is.
  std::string url = c.kind == SourceKind::kFolder ? c.dir : c.url;
  while (url.size() > 1 && url.ends_with('/')) url.pop_back();
  Json options = Json::object();
  if (c.kind == SourceKind::kFolder) {
    options["mapping"] = c.mapping;
    options["settle_seconds"] = c.settle_seconds;
  }
  const std::string kind(SourceKindName(c.kind));
  const std::string text = credentials.dump();
  TESSERA_ASSIGN_OR_RETURN(
      const uint64_t added,
      db_.Execute("INSERT INTO sources(name, kind, url, credentials, options, created_at) VALUES "
                  "($1, $2, $3, $4, $5, " +
                      db_.NowSql() + ") ON CONFLICT DO NOTHING",
                  {c.name, kind, url, text, options.dump()}));
  if (added != 1) {
    return AlreadyExistsError(
        "a source named '{}' exists (remove it first with `tessera source remove {}`)", c.name,
        c.name);
  }
  return OkStatus();
}

StatusOr<std::vector<SourceConfig>> SourceStore::List() {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::vector<SourceConfig> out;
  Status bad;
  TESSERA_RETURN_IF_ERROR(
      db_.Query("SELECT name, kind, url, credentials, " + db_.IsoTimestampSql("created_at") +
                    ", options FROM sources ORDER BY name" +
                    (db_.dialect() == store::Dialect::kPostgres ? " COLLATE \"C\"" : ""),
                {}, [&](const store::SqlRow& row) -> Status {
                  SourceConfig c;
                  c.name = row.Text(0);
                  auto kind = ParseSourceKind(row.Text(1));
                  if (!kind.ok())
                    return DataLossError("source '{}': {}", c.name, kind.status().message());
                  c.kind = *kind;
                  c.url = row.Text(2);
                  const Json j = Json::parse(row.Text(3), nullptr, false);
                  if (!j.is_object())
                    return DataLossError("source '{}': its credentials entry is corrupt", c.name);
                  c.token = SecretOf(j, "token");
                  c.key = SecretOf(j, "key");
                  c.secret = SecretOf(j, "secret");
                  c.webhook_secret = SecretOf(j, "webhook_secret");
                  c.created_at = row.Text(4);
                  if (c.kind == SourceKind::kFolder) {
                    c.dir = std::move(c.url);
                    c.url.clear();
                    const Json o = Json::parse(row.Text(5), nullptr, false);
                    if (!o.is_object())
                      return DataLossError("source '{}': its options entry is corrupt", c.name);
                    if (o.contains("mapping") && o["mapping"].is_string())
                      c.mapping = o["mapping"].get<std::string>();
                    if (o.contains("settle_seconds") && o["settle_seconds"].is_number_integer())
                      c.settle_seconds = o["settle_seconds"].get<int64_t>();
                  }
                  out.push_back(std::move(c));
                  return OkStatus();
                }));
  return out;
}

StatusOr<SourceConfig> SourceStore::Get(const std::string& name) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<SourceConfig> all, List());
  for (auto& c : all) {
    if (c.name == name) return std::move(c);
  }
  return NotFoundError("no source named '{}' (see `tessera source list`)", name);
}

StatusOr<bool> SourceStore::Remove(const std::string& name) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  bool removed = false;
  TESSERA_RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(const uint64_t n,
                             db_.Execute("DELETE FROM sources WHERE name = $1", {name}));
    TESSERA_RETURN_IF_ERROR(
        db_.Execute("DELETE FROM source_cursors WHERE name = $1", {name}).status());
    removed = n > 0;
    return OkStatus();
  }));
  return removed;
}

StatusOr<SourceCursor> SourceStore::Cursor(const std::string& name) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  SourceCursor cursor;
  TESSERA_RETURN_IF_ERROR(db_.Query("SELECT updated_at, ids FROM source_cursors WHERE name = $1",
                                    {name}, [&](const store::SqlRow& row) -> Status {
                                      cursor.updated_at = row.Int(0);
                                      const Json ids = Json::parse(row.Text(1), nullptr, false);
                                      if (!ids.is_array()) {
                                        return DataLossError("source '{}': its cursor is corrupt",
                                                             name);
                                      }
                                      for (const Json& id : ids) {
                                        if (id.is_string())
                                          cursor.ids.push_back(id.get<std::string>());
                                      }
                                      return OkStatus();
                                    }));
  return cursor;
}

Status SourceStore::AdvanceCursor(const std::string& name, const SourceCursor& next) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  return db_.Transaction([&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(SourceCursor current, Cursor(name));
    SourceCursor merged;
    if (next.updated_at > current.updated_at) {
      merged = next;
    } else if (next.updated_at == current.updated_at) {
      merged = std::move(current);
      for (const std::string& id : next.ids) {
        if (std::find(merged.ids.begin(), merged.ids.end(), id) == merged.ids.end()) {
          merged.ids.push_back(id);
        }
      }
    } else {
      return OkStatus();  // never back
    }
    const std::string ids = Json(merged.ids).dump();
    return db_
        .Execute(
            "INSERT INTO source_cursors(name, updated_at, ids) VALUES ($1, $2, $3) ON CONFLICT "
            "(name) DO UPDATE SET updated_at = excluded.updated_at, ids = excluded.ids",
            {name, merged.updated_at, ids})
        .status();
  });
}

StatusOr<int64_t> SourceStore::BeginRun(const std::string& name, std::string_view trigger) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  int64_t id = 0;
  TESSERA_RETURN_IF_ERROR(
      db_.Query("INSERT INTO source_runs(source, via, started_at, outcome) VALUES ($1, $2, " +
                    db_.NowSql() + ", 'running') RETURNING id",
                {name, trigger}, [&](const store::SqlRow& row) {
                  id = row.Int(0);
                  return OkStatus();
                }));
  if (id == 0) return InternalError("source '{}': the run could not be recorded", name);
  return id;
}

Status SourceStore::FinishRun(const SourceRun& r) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  TESSERA_ASSIGN_OR_RETURN(
      const uint64_t n,
      db_.Execute("UPDATE source_runs SET finished_at = " + db_.NowSql() +
                      ", pages = $1, orders_seen = $2, orders_stored = $3, rejects = $4, "
                      "outcome = $5, error = $6, files_loaded = $7, files_refused = $8, "
                      "files_waiting = $9 WHERE id = $10",
                  {r.pages, r.orders_seen, r.orders_stored, r.rejects, r.outcome, r.error,
                   r.files_loaded, r.files_refused, r.files_waiting, r.id}));
  if (n != 1) return InternalError("source '{}': run {} is not recorded", r.source, r.id);
  return OkStatus();
}

StatusOr<std::vector<SourceRun>> SourceStore::Runs(const std::string& name, size_t limit) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kSchema));
  std::vector<SourceRun> out;
  const std::string columns =
      "SELECT id, source, via, " + db_.IsoTimestampSql("started_at") + ", " +
      db_.IsoTimestampSql("finished_at") +
      ", pages, orders_seen, orders_stored, rejects, outcome, error, files_loaded, "
      "files_refused, files_waiting FROM source_runs";
  const auto collect = [&](const store::SqlRow& row) {
    out.push_back(RunOf(row));
    return OkStatus();
  };
  const int64_t n = static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX));
  if (name.empty()) {
    TESSERA_RETURN_IF_ERROR(db_.Query(columns + " ORDER BY id DESC LIMIT $1", {n}, collect));
  } else {
    TESSERA_RETURN_IF_ERROR(
        db_.Query(columns + " WHERE source = $1 ORDER BY id DESC LIMIT $2", {name, n}, collect));
  }
  return out;
}

}  // namespace tessera::sources
