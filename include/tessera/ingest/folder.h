#pragma once

// A watched folder: the exports a shop system (or a person) drops into a directory, each loaded
// once and then moved aside, so that the folder holds only what is still to be loaded.
//
//   DIR/orders-2026-12-06.csv      waiting
//   DIR/loaded/orders-2026-12-05.csv   loaded (its orders are in the store)
//   DIR/loaded/orders-2026-12-05.csv.rejects.csv   its rejected rows, when it had any
//   DIR/failed/orders-broken.csv       refused, beside orders-broken.csv.error.txt saying why
//
// Each file is one load (LoadOrders), so a bad file never holds back a good one. A file is
// moved to loaded/ only after its load is committed; a run killed in between loads the file
// again next time and stores nothing twice (a load skips the orders a store holds). A file that
// is still being written is left alone: names starting with "." or ending in .tmp, .part,
// .partial, .crdownload or .filepart, any file changed within the last `settle` seconds or
// dated in the future, and a file that changed while it was loaded (it loads again next run).
// A failure of the machine rather than of the file (the store unreachable or busy, a full disk)
// leaves the file where it is and ends the run with that error, to be retried.
//
// A loaded file that had rejected rows gets a report beside it, <name>.rejects.csv: the CSV of
// `tessera ingest --rejects` (file, line, column, reason), the first 100,000 rows.
//
// Privacy: the files hold raw identifiers and stay in the owner's folder; moving them aside
// copies nothing. The error file holds the load's error message, which never carries a value
// of the input (rows are named by file, line and column).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/ingest/loader.h"

namespace tessera::ingest {

struct FolderFile;

struct FolderOptions {
  std::string dir;
  // Where loaded and refused files go; empty: DIR/loaded and DIR/failed (created when needed).
  std::string loaded_dir;
  std::string failed_dir;
  // A file modified less than this many seconds ago may still be being written: left for the
  // next run.
  int64_t settle_seconds = 10;
  // The mapping for every file; with `detect_mapping`, each file's header picks its preset
  // (io::DetectPreset; "generic" when none fits), as `tessera ingest` does without --mapping.
  LoadOptions load;
  bool detect_mapping = true;
  // The current time in seconds since the epoch (tests set it); empty: the system clock.
  std::function<int64_t()> now_seconds;
  // Called with each file once its outcome is final (loaded and moved, refused and moved, or
  // waiting), before the next file is looked at: what was done survives a run that stops later
  // with an error.
  std::function<void(const FolderFile&)> on_file;
};

struct FolderFile {
  enum class Outcome {
    kLoaded,   // committed, moved to loaded_dir
    kRefused,  // the file is bad (cannot be mapped, damaged, over max_rejects): moved to
               // failed_dir with <name>.error.txt; nothing of it was stored
    kWaiting,  // still being written (settle_seconds): left for the next run
  };
  std::string name;      // the file's name in the folder
  std::string moved_to;  // its path after the run (loaded or refused)
  Outcome outcome = Outcome::kWaiting;
  LoadSummary summary;  // kLoaded
  std::string error;    // kRefused: the load's error message
  // One line for people: "loaded   orders.csv: 1204 rows, 300 new orders, 2 rejected -> ...".
  std::string ToText() const;
};
std::string_view FolderOutcomeName(FolderFile::Outcome outcome);  // "loaded", "refused", "waiting"

struct FolderRun {
  std::vector<FolderFile> files;  // in the order they were looked at (oldest first)
  uint64_t loaded = 0, refused = 0, waiting = 0;
  uint64_t orders_stored = 0, rows_read = 0, rows_rejected = 0;
  std::string ToJson() const;
  std::string ToText() const;
};

// Loads every settled file of options.dir, oldest first (by modification time, then name).
// Errors: kNotFound (no such folder), kInvalidArgument (options.dir is no directory; the
// loaded or failed folder lies outside options.dir's file system, so a file could not be moved
// atomically), kPermissionDenied (a folder cannot be read or written), and any error of
// LoadOrders that is not the file's fault (kUnavailable, kFailedPrecondition for another key,
// kResourceExhausted for a full disk, store errors): then the run stops, that file stays where
// it was, and the files loaded before it have been moved.
StatusOr<FolderRun> LoadFolder(store::Store& store, const privacy::OwnerKey& key,
                               const FolderOptions& options);

}  // namespace tessera::ingest
