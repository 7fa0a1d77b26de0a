#pragma once

// Pulling orders from shop APIs into a store: Shopify's Admin REST API (orders.json, paged by
// its Link header) and WooCommerce's REST API v3 (wp-json/wc/v3/orders, paged by page number).
// Each page's orders are mapped onto the records the CSV presets produce and loaded through
// the loader (ingest/loader.h): pseudonymized before anything is written, idempotent. The
// source's cursor moves on only after a page's orders are committed, so a run killed at any
// point and run again loses nothing and stores nothing twice.
//
// Privacy: a page's orders (e-mails, phones, order ids) exist only in this process's memory
// and, while the loader reads them, in an anonymous memory file (memfd) that no file system
// shows; only pseudonyms and tokens reach the store. Credentials are read from their
// environment variable or file when a run starts and are sent to the source's own origin
// only (a next-page link to another host is refused). Errors name the source, the page and
// the reason, never a value of an order or a credential.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/ingest/folder.h"
#include "tessera/io/order_reader.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/sources/source_store.h"
#include "tessera/store/store.h"

namespace tessera::sources {

// How requests that may succeed later are retried: HTTP 429 (waiting its Retry-After seconds,
// else as below), 5xx and failed connections (waiting base, 2 base, 4 base, ... up to
// max_wait). 401 and 403 are never retried, nor is any other 4xx.
struct RetryPolicy {
  int max_attempts = 6;  // per request, the first one included
  double base_seconds = 1;
  double max_wait_seconds = 60;
  // Tests shrink every wait by this factor (Retry-After included).
  double time_scale = 1;
  // Called before each wait, with the wait in seconds (before time_scale) and the reason
  // ("HTTP 429", "HTTP 503", "connection failed").
  std::function<void(double seconds, const std::string& reason)> on_wait;
  // True once the run should end (the server stopping): a wait ends early and the request
  // fails with kUnavailable; the cursor stays where the last committed page left it.
  std::function<bool()> stopped;
};

struct RunOptions {
  RetryPolicy retry;
  int page_size = 0;  // 0: the API's maximum (Shopify 250, WooCommerce 100)
  int timeout_seconds = 30;
  // A party of collaborations keeps match tokens (ingest::LoadOptions::match_tokens).
  bool match_tokens = false;
  // Called for each order line the loader rejects (its file names the source and page).
  std::function<void(const io::Reject&)> on_reject;
  // Called after each page's orders are committed, before the cursor moves; a non-OK status
  // ends the run there (failed) with that error: how tests stop a run between the two.
  std::function<Status(int page)> after_page_loaded;
  // Called after each page is done (cursor moved), with the run so far.
  std::function<void(const SourceRun&)> on_page;
  // Folders: the current time in seconds since the epoch (tests set it), against which a file's
  // settle time is measured; empty: the system clock.
  std::function<int64_t()> now_seconds;
  // Folder sources: called with each file once its outcome is final (loaded, refused, waiting).
  std::function<void(const ingest::FolderFile&)> on_file;
};

// Pulls the source `name`'s orders updated since its cursor into `store` under `key`, page by
// page, and records the run. A folder source instead loads its folder's settled files
// (ingest::LoadFolder: each file once, then moved to loaded/ or, refused, to failed/ with a
// note): outcome "ok", "refused" when at least one file was refused (the rest loaded; run.error
// names each refused file and why; `status` stays OK, since the run did its work and the file
// is out of the way), or "failed" when the folder, the mapping, the store or the disk failed
// (the file at hand stays in the folder for the next run). Returns the run record: outcome "ok", or
// "failed" with its error (a page that cannot be fetched after the retries, refused credentials, a
// body that is not the expected JSON: nothing of that page is written, the cursor stays at the last
// page committed). The error of a failed run is also returned as the run's `status`. Errors (no run
// recorded, or the run could not be recorded): kNotFound (no such source), store errors.
struct RunOutcome {
  SourceRun run;
  Status status;  // OK, or why the run failed (run.error is its message)
};
StatusOr<RunOutcome> RunSource(store::Store& store, const privacy::OwnerKey& key,
                               const std::string& name, const RunOptions& options);

// Runs the sources `names` (empty: every source, by name) one after the other; a failed run
// does not stop the next. Errors: kNotFound for a name that is no source (before any run),
// store errors.
StatusOr<std::vector<RunOutcome>> RunSources(store::Store& store, const privacy::OwnerKey& key,
                                             const std::vector<std::string>& names,
                                             const RunOptions& options);

// The ingest mapping a shop's records are read with ("shopify-api", "woocommerce-api").
// Errors: kInvalidArgument for a folder (its files are read with their own mapping).
StatusOr<io::Mapping> SourceMapping(SourceKind kind);

}  // namespace tessera::sources
