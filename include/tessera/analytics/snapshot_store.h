#pragma once

// Kept recomputations: the analytics module's own tables (snapshots, their segments and
// profiles) and the read-only views that BI tools read them through (docs/bi.md). Written
// once against the store core (store/database.h), on both backends.
//
// Privacy: profiles name customers by dense index (and on PostgreSQL by pseudonym); no
// identifier reaches these tables.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tessera/analytics/profiles.h"
#include "tessera/analytics/segments.h"
#include "tessera/common/status.h"
#include "tessera/store/store.h"

namespace tessera::analytics {

// A kept result of one recomputation: profiles scored and segmented over a window ending at
// an as-of date, and the per-segment statistics. Snapshots are immutable once saved.
struct SnapshotInfo {
  int64_t id = 0;                        // assigned by SnapshotStore::Save, increasing
  std::string created_at;                // ISO 8601 UTC, set by SnapshotStore::Save
  int64_t as_of_day = 0, start_day = 0;  // day numbers (civil_time.h)
  std::string window;                    // "24m", "90d"
  std::string currency;
  int currency_exponent = 2;
  int64_t last_load_id = 0;         // the newest load the snapshot includes
  uint64_t customers_in_store = 0;  // all customers, with or without purchases in the window
  uint64_t profile_count = 0;       // customers with purchases in the window
  std::string prediction_models;    // empty without predictions, else e.g. "bgnbd+gg"
  double prediction_horizon_months = 0;
};

// One segment's statistics, in rule order; names in both languages; the score ranges of the
// rule that made it (SegmentRule's), when the snapshot recorded them.
struct SnapshotSegment : SegmentFigures {
  std::string key, name_en, name_de;
  // False for snapshots kept before snapshots recorded their rules (analytics migration 3).
  bool rule_recorded = false;
  ScoreRange recency, frequency, monetary;
};

// The snapshot tables of one store, brought up to date on first use. Borrows the store; not
// thread-safe (one per thread, as stores are).
class SnapshotStore {
 public:
  explicit SnapshotStore(store::Store& store) : store_(store), db_(store.db()) {}

  // Keeps a snapshot atomically (all or nothing); returns its id. `profiles` (scored and
  // segmented; `segment` indexes `segments`) in customer order. Errors: kInvalidArgument (no
  // segment; a profile names no segment or no customer, or is out of order), the store's.
  // `uuids`: every customer's pseudonym by index, as the profiles were computed with
  // (ProfileSet::uuids), so that it is not read again; empty: read from the store.
  StatusOr<int64_t> Save(const SnapshotInfo& info, const std::vector<SnapshotSegment>& segments,
                         const std::vector<Profile>& profiles,
                         std::span<const privacy::Uuid> uuids = {});
  // Every snapshot, oldest first.
  StatusOr<std::vector<SnapshotInfo>> List();
  // Errors: kNotFound for an unknown id.
  StatusOr<std::vector<SnapshotSegment>> Segments(int64_t id);
  // Calls `fn` for every profile of the snapshot, in customer order. kNotFound: unknown id.
  Status ScanProfiles(int64_t id, const std::function<void(const Profile&)>& fn);
  // Deletes all but the newest `keep` snapshots; returns how many were deleted.
  StatusOr<uint64_t> Prune(uint64_t keep);

  // PostgreSQL only: grants `role` SELECT on the documented read-only BI views (schema
  // tessera_bi, docs/bi.md) and no other rights. A missing role is created (NOLOGIN, or LOGIN
  // with `password` when it is not empty); an existing one keeps its login and password unless
  // `password` is given. Creating or changing a role needs CREATEROLE, which the store's owner
  // should not have: a superuser creates the role, the owner grants. Errors:
  // kFailedPrecondition on SQLite, for a role that may do more than read (a superuser, a member
  // of the store's owner, ...) and when the connecting user may not create or change the role
  // (the message gives the superuser's command, never a password); kInvalidArgument for a bad
  // name; kInternal for other database errors.
  Status CreateReadOnlyRole(const std::string& role, const std::string& password);

  // The tables (and views) this class owns, with their migrations.
  static const store::Schema& Schema();

 private:
  Status CheckExists(int64_t id);

  store::Store& store_;
  store::Database& db_;
};

}  // namespace tessera::analytics
