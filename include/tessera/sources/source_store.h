#pragma once

// The sources module's own tables: the shops Tessera pulls orders from (Shopify, WooCommerce)
// and the watched folders it loads export files from, a cursor per shop (how far its orders
// have been committed) and the record of every run.
// Written once against the store core (store/database.h), on both backends.
//
// Privacy: no credential and no personal data reaches these tables. A source keeps only where
// its credentials are (the name of an environment variable, the path of a file); a cursor
// keeps a time and the order tokens (AES-SIV, as the orders table) of the shop's orders at that
// instant; a run
// keeps counts and an error message, which never carries a value of an order. A folder source
// keeps the folder's path, its mapping (a preset's name or a mapping file's path) and how long
// a file must rest before it is loaded.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/store/database.h"

namespace tessera::sources {

enum class SourceKind { kShopify, kWooCommerce, kFolder };
std::string_view SourceKindName(SourceKind kind);  // "shopify", "woocommerce", "folder"
// Errors: kInvalidArgument for any other name.
StatusOr<SourceKind> ParseSourceKind(std::string_view name);

// Where a secret is: an environment variable's name or a file's path (exactly one), never the
// secret itself.
struct SecretRef {
  std::string env;
  std::string file;
  bool empty() const { return env.empty() && file.empty(); }
  // "$VAR" or "file PATH", for listings and messages.
  std::string Describe() const;
};

struct SourceConfig {
  std::string name;  // 1 to 64 of [A-Za-z0-9_.-], starting with a letter or digit
  SourceKind kind = SourceKind::kShopify;
  // The shop: https://shop.myshopify.com (Shopify), the site https://example.com[/path]
  // (WooCommerce). http:// only for a host on the loopback (a local stand-in).
  std::string url;
  // Shopify: the Admin API access token. WooCommerce: the consumer key and secret, each in
  // an environment variable (key.env, secret.env), or both in one file (key.file: "KEY:SECRET"
  // or the key and the secret on two lines).
  SecretRef token, key, secret;
  SecretRef webhook_secret;  // optional: order webhooks (`tessera serve`) need it
  // A folder (kFolder; no URL, no credentials, no webhooks): the watched folder's absolute
  // path (ingest/folder.h), the mapping every file is read with (a preset's name or a mapping
  // file's absolute path; empty: each file's header picks its preset) and the seconds a file
  // must rest unchanged before it is loaded.
  std::string dir;
  std::string mapping;
  int64_t settle_seconds = 10;
  std::string created_at;  // ISO 8601 UTC, set by the store

  // Where the source reads from: the shop's URL, or the folder's path.
  const std::string& Location() const { return kind == SourceKind::kFolder ? dir : url; }
};

// Checks a configuration before it is added: the name, the URL (scheme, loopback for
// http://), that each credential the kind needs is named once; for a folder, that the path is
// absolute and the settle time not negative, and that no URL or credential is given. Reads no
// secret and touches no file (the folder may be mounted later; a run says when it is missing).
// Errors: kInvalidArgument naming what is wrong.
Status ValidateSourceConfig(const SourceConfig& config);

// How far a source's orders are committed: the last update time seen (Unix seconds) and the
// order tokens (hex) of the shop.s orders updated at that very second, so that a pull that starts
// again at that second skips them.
struct SourceCursor {
  int64_t updated_at = 0;  // 0: nothing pulled yet
  std::vector<std::string> ids;
};

// One run of a source: a pull, an order webhook, or a pass over a watched folder.
//
// Outcomes: "ok"; "refused" when a folder's run loaded what it could but refused at least one
// file (moved to failed/ with its note; `error` names each such file and why) — the run did its
// work and the next run will not see those files again, but a person has to look at them;
// "failed" when the run could not do its work (the shop or the store unreachable, refused
// credentials, the folder missing or unwritable, a full disk): `error` says why, and what was
// not done is done by the next run.
struct SourceRun {
  int64_t id = 0;
  std::string source;
  std::string trigger;                  // "pull" (a run; a folder's too) or "webhook"
  std::string started_at, finished_at;  // ISO 8601 UTC; finished_at empty while running
  uint64_t pages = 0;                   // pages fetched and committed
  uint64_t orders_seen = 0;    // orders in those pages (those skipped by the cursor excluded)
  uint64_t orders_stored = 0;  // newly written (an order the store has already is not)
  uint64_t rejects = 0;        // order lines rejected by the loader (reported, not stored)
  // A folder's files: loaded (and moved to loaded/), refused (moved to failed/), and left
  // waiting because they may still be being written. 0 for shops.
  uint64_t files_loaded = 0, files_refused = 0, files_waiting = 0;
  std::string outcome;  // "running", "ok", "refused", "failed" (a killed run stays "running")
  std::string error;    // the failure's message (no personal value), else empty
};

// The sources tables of one store, brought up to date on first use. Borrows the connection;
// not thread-safe (one per thread, as connections are).
class SourceStore {
 public:
  explicit SourceStore(store::Database& db) : db_(db) {}
  static const store::Schema& Schema();

  // Errors: kInvalidArgument (ValidateSourceConfig), kAlreadyExists (the name is taken),
  // store errors.
  Status Add(const SourceConfig& config);
  StatusOr<std::vector<SourceConfig>> List();  // by name
  // Errors: kNotFound naming the source and how to list them.
  StatusOr<SourceConfig> Get(const std::string& name);
  // Removes a source with its cursor; its runs stay as history. False when none had the name.
  StatusOr<bool> Remove(const std::string& name);

  StatusOr<SourceCursor> Cursor(const std::string& name);
  // Moves the cursor forward (never back): to `next` when it is later than the stored one, or
  // adds next.ids when both are at the same second. In one transaction.
  Status AdvanceCursor(const std::string& name, const SourceCursor& next);

  // A new run, outcome "running"; returns its id.
  StatusOr<int64_t> BeginRun(const std::string& name, std::string_view trigger);
  // Records the run's counts, outcome and error, and its end time.
  Status FinishRun(const SourceRun& run);
  // The latest `limit` runs of `name` (empty: of every source), newest first.
  StatusOr<std::vector<SourceRun>> Runs(const std::string& name, size_t limit);

 private:
  store::Database& db_;
};

}  // namespace tessera::sources
